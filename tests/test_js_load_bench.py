"""Smoke test of ``bench/js_load_bench.py``: it runs and prints every row (never timed).

The figures depend on the machine; this only checks that the documented command works
and reports each metric, with small sizes (the real run: ``python bench/js_load_bench.py``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info < (3, 10):  # pragma: no cover
    pytest.skip("taro_udp.js needs Python 3.10+ (quickjs-ng)", allow_module_level=True)
pytest.importorskip("quickjs", reason="taro_udp.js needs the quickjs-ng package")

BENCH = Path(__file__).resolve().parent.parent / "bench" / "js_load_bench.py"
METRICS = [
    "200-line .ts, cold (first load in a process), ms",
    "200-line .ts, transform only, ms",
    "200-line .ts, new process, disk cache warm, ms",
    "200-line .ts, cached (a new runtime), ms",
    "200-line .ts, the cache hit itself (hash, look-up), ms",
    "sucrase set-up, once per process, ms",
    "suite of 3 runtimes x 13 .ts modules: wall, s",
    "suite of 3 runtimes x 13 .ts modules: share spent transforming, %",
    "suite of 3 runtimes x 13 .ts modules, disk cache warm: wall, s",
    "suite of 3 runtimes x 13 .ts modules, disk cache warm: share transforming, %",
    "sucrase set-up per runtime (none is made), ms",
]


def test_js_load_bench_prints_every_row() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--repeats", "1", "--runtimes", "3", "--lines", "200"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    names = [line.split(" | ")[0].lstrip("| ") for line in done.stdout.splitlines()[2:]]
    assert names == METRICS
