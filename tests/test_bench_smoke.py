"""Smoke test of the benchmark suite: ``bench/run.py --quick`` runs and prints every row.

Never a timed pass/fail: the figures depend on the machine and its load. This only checks
that the command from bench/README.md works from a clean checkout and reports each metric
of issues 5 and 9 and of virtual time (with its ratio column), so a refactor cannot
silently break the bench.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "bench" / "run.py"

# Every metric the bench must report (prefixes of the table's first column).
METRICS = [
    "receive CPU/datagram, 64 B, windowed",
    "receive CPU/datagram, 1024 B, windowed",
    "receive CPU/datagram, 64 B, open-loop blast",
    "round trip, pinned to CPU",
    "send() CPU/call, no callbacks",
    "close() under traffic, median",
    "close() under traffic, p99",
    "1,000 sockets: OS threads in process",
    "1,000 sockets: RSS growth",
    "1,000 sockets: setup (create+bind)",
    "1,000 sockets: one datagram to each, delivered",
    "1,000 sockets: teardown (close all)",
    "10,000 sockets: OS threads in process",
    "10,000 sockets: RSS growth",
    "10,000 sockets: setup (create+bind)",
    "10,000 sockets: one datagram to each, delivered",
    "10,000 sockets: teardown (close all)",
    "idle: 100 sockets for",
    "idle: 100 sockets + a 1-hour timer for",
    "import taro_udp (over a bare interpreter)",
    "setTimeout(fn, 0) chain: CPU/timer",
    "setTimeout(fn, 0) batch: CPU/timer",
    "set + clear 20,000 pending timers: CPU/timer",
    "set + clear 20,000 timers from the main thread",
    "virtual time: retry 5 x 200 ms at 30% loss, wall/run",
    "virtual time: heartbeats every 100 ms, 2 sockets, 30% loss",
    "virtual time: heartbeats, memory growth",
    "virtual time: heartbeats, timers in the loop's heap at the end",
    "virtual time: LAN of 100 devices, 5 broadcast rounds",
    "virtual time: LAN of 100 devices: CPU/delivered datagram",
]
BASELINES = ["ideal shim", "raw recvfrom", "raw blocking", "raw sendto", "asyncio", "node dgram"]


@pytest.mark.bench
@pytest.mark.timeout(150)
def test_quick_bench_prints_every_metric_with_a_ratio() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick"],
        cwd=str(ROOT),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"bench failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert table, f"no table printed:\n{done.stdout[-3000:]}"
    missing = [m for m in METRICS if not any(row.startswith(f"| {m}") for row in table)]
    assert not missing, f"metrics missing from the table: {missing}\n{done.stdout[-3000:]}"
    for baseline in BASELINES:
        assert any(baseline in row for row in table), f"no {baseline} baseline row"
    # Every metric row has a ratio column: "<x.xx>x" or "—" where no baseline applies.
    for row in table[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[3] == "—" or cells[3].endswith("x"), f"row without a ratio: {row}"
