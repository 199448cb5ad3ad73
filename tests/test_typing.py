"""The typing test: tests/typing_checks.py passes ``mypy --strict``, and every line there
marked ``# type: ignore[code]`` is that error once the mark is removed.

So ``send({"adress": ...})`` accepted by the type checker again fails this test (and
CI's ``mypy --strict``, through ``warn_unused_ignores``). Needs mypy (the dev extra);
skipped without it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

pytest.importorskip("mypy", reason="the typing test needs mypy (pip install -e '.[dev]')")

ROOT = Path(__file__).resolve().parent.parent
CHECKS = Path(__file__).resolve().parent / "typing_checks.py"
IGNORE = re.compile(r"\s*# type: ignore\[([a-z-]+)\]")
ERROR = re.compile(r"^.*?:(\d+): error: .*\[([a-z-]+)\]$")
TIMEOUT = 120.0


def _mypy(path: Path, cache: Path) -> Tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), str(path)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _expected(text: str) -> Dict[int, str]:
    return {
        number: match.group(1)
        for number, line in enumerate(text.splitlines(), 1)
        if (match := IGNORE.search(line))
    }


@pytest.mark.timeout(2 * TIMEOUT + 30)
def test_the_expected_type_errors_are_errors_and_nothing_else_is(tmp_path: Path) -> None:
    code, output = _mypy(CHECKS, tmp_path / "cache")
    assert code == 0, output
    text = CHECKS.read_text(encoding="utf-8")
    expected = _expected(text)
    assert len(expected) >= 10, expected
    assert any('"adress"' in line for line in text.splitlines() if IGNORE.search(line))
    bare = tmp_path / "typing_checks_bare.py"
    bare.write_text(IGNORE.sub("", text), encoding="utf-8")
    code, output = _mypy(bare, tmp_path / "cache")
    assert code == 1, output
    found: Dict[int, Set[str]] = {}
    for line in output.splitlines():
        match = ERROR.match(line)
        if match:
            found.setdefault(int(match.group(1)), set()).add(match.group(2))
    missing: List[str] = [
        f"line {number}: no [{code}] error"
        for number, code in expected.items()
        if code not in found.get(number, set())
    ]
    assert not missing, "\n".join(missing) + "\n" + output
    unexpected = sorted(set(found) - set(expected))
    assert not unexpected, f"errors on lines without a mark: {unexpected}\n{output}"
