"""Every ```python block of README.md runs as shown (or, if marked, compiles).

A block runs in a subprocess, in a fresh folder with the README's named files beside it
(a block whose first line is ``# NAME.py`` or ``// NAME.js`` is that file) and
``examples/``: a block that defines ``test_*`` functions runs under pytest (warnings are
errors), any other as a script. Sockets stay on loopback (``TARO_UDP_BIND_ADDRESS`` is
127.0.0.1) or on the simulated network. A snippet that is not a whole program, or that
would reach a real network (a broadcast), is marked ``<!-- readme-test: compile-only -->``
on the line before its fence: it is only compiled, so its syntax is still checked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
COMPILE_ONLY = "<!-- readme-test: compile-only -->"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)
NAMED = re.compile(r"^(?:#|//) ([\w-]+\.(?:py|js))$")
TIMEOUT = 60.0


class Block(NamedTuple):
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    compile_only: bool

    @property
    def name(self) -> str:
        first = self.code.splitlines()[0] if self.code else ""
        match = NAMED.match(first)
        return match.group(1) if match else ""


def _blocks() -> List[Block]:
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        blocks.append(Block(line, match.group(1), match.group(2), before.strip() == COMPILE_ONLY))
    return blocks


BLOCKS = _blocks()
PYTHON = [block for block in BLOCKS if block.language == "python"]


def _named_files() -> Dict[str, str]:
    files: Dict[str, str] = {}
    for block in BLOCKS:
        if block.name:
            assert block.name not in files, f"README names {block.name} twice"
            files[block.name] = block.code
    return files


def test_the_readme_has_python_blocks_and_every_marker_precedes_a_block() -> None:
    assert len(PYTHON) >= 10
    text = README.read_text(encoding="utf-8")
    assert text.count(COMPILE_ONLY) == sum(block.compile_only for block in BLOCKS)


def _is_test_module(block: Block) -> bool:
    return re.search(r"^def test_", block.code, flags=re.MULTILINE) is not None


SCRIPTS = [block for block in PYTHON if not _is_test_module(block)]
TEST_MODULES = [block for block in PYTHON if _is_test_module(block)]


def _folder(tmp_path: Path) -> Path:
    """A folder with the README's named files and examples/, as a reader would have."""
    for name, code in _named_files().items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    return tmp_path


def _run(command: List[str], folder: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TARO_UDP_BIND_ADDRESS="127.0.0.1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, *command],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize("block", SCRIPTS, ids=[f"line{block.line}" for block in SCRIPTS])
def test_readme_block_runs_as_shown(block: Block, tmp_path: Path) -> None:
    compiled = compile(block.code, f"README.md:{block.line}", "exec")
    assert compiled is not None
    if block.compile_only:
        return
    folder = _folder(tmp_path)
    script = folder / (block.name or f"readme_block_{block.line}.py")
    script.write_text(block.code, encoding="utf-8")
    done = _run(["-W", "error", script.name], folder)
    assert done.returncode == 0, (
        f"README.md:{block.line} failed (exit {done.returncode}):\n"
        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )


@pytest.mark.timeout(TIMEOUT + 30)
def test_readme_test_modules_pass_under_pytest(tmp_path: Path) -> None:
    # One pytest run for all of them: its start-up is most of the time.
    assert len(TEST_MODULES) >= 4
    folder = _folder(tmp_path)
    files = []
    for block in TEST_MODULES:
        compile(block.code, f"README.md:{block.line}", "exec")
        assert not block.compile_only, f"README.md:{block.line}: a test module is run"
        name = block.name or f"test_readme_block_{block.line}.py"
        (folder / name).write_text(block.code, encoding="utf-8")
        files.append(name)
    done = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", *files], folder)
    assert done.returncode == 0, f"{done.stdout[-5000:]}\n{done.stderr[-3000:]}"
    assert re.search(r"\b\d+ passed\b", done.stdout), done.stdout[-3000:]
