"""Swarm testing benchmark: swarm runs per second, and shrinking a long failing schedule.

    python bench/swarm_bench.py              # 3 interleaved repeats, medians
    python bench/swarm_bench.py --repeats 5
    python bench/swarm_bench.py --quick      # 1 repeat, 50 runs (smoke)

Rows (medians of interleaved repeats; absolute times are context, ratios compare with
a baseline measured in the same run):

- 200 swarm runs of the 5-retry routine (three requests, each sent up to 6 times 100 ms
  apart, replies checked) under 200 seeded mixes, vs the same 200 runs on a plain
  ``SimulatedNetwork`` with the same seeds and mixes and no ``Swarm`` around it: the
  cost of the swarm's bookkeeping (results, records kept per run). Target: <= 5 s wall.
- Shrinking a failing schedule of about 50 decisions (the last-sent bug over ten
  requests) with ``Swarm.shrink`` (ddmin, then delays), vs Hypothesis's shrinker driven
  through its public API (``hypothesis.find`` over keep-flags and delays): wall time,
  test runs and the decisions left. Target: <= 5 s.

Only the simulated network is used (OS sockets are refused under virtual time); every
run is bounded by its virtual-time drive.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import taro_udp
from taro_udp import OnMessageCallbackResult
from taro_udp.testing import SimulatedNetwork, Swarm, draw_mix
from taro_udp.testing._swarm import RunResult

RETRIES = 5
INTERVAL_MS = 100
PORT = 5566


def exchange(network: SimulatedNetwork, requests: int, match: bool) -> None:
    """``requests`` requests in turn, retried; fails if a reply answers the wrong one."""
    answers: List[Tuple[int, bytes]] = []
    state = {"current": 0, "tries": 0, "timer": 0, "done": False}
    with taro_udp.create_udp_socket() as server, taro_udp.create_udp_socket() as client:

        def serve(res: OnMessageCallbackResult) -> None:
            info = res["remoteInfo"]
            number = bytes(res["message"]).split()[-1]
            server.send(
                {"address": info["address"], "port": info["port"], "message": b"ACK " + number}
            )

        def ask(n: int) -> None:
            if n > requests:
                state["done"] = True
                return
            state["current"], state["tries"] = n, 0
            attempt()

        def attempt() -> None:
            if state["tries"] > RETRIES:
                ask(state["current"] + 1)
                return
            state["tries"] += 1
            message = b"REQ %d" % state["current"]
            client.send({"address": "127.0.0.1", "port": PORT, "message": message})
            state["timer"] = taro_udp.setTimeout(attempt, INTERVAL_MS)

        def on_reply(res: OnMessageCallbackResult) -> None:
            reply = bytes(res["message"])
            if state["done"] or (match and reply != b"ACK %d" % state["current"]):
                return
            taro_udp.clearTimeout(state["timer"])
            answers.append((state["current"], reply))
            ask(state["current"] + 1)

        server.onMessage(serve)
        server.bind(PORT, address="127.0.0.1")
        client.onMessage(on_reply)
        client.bind()
        taro_udp.call_soon(ask, 1)
        network.run_until(lambda: bool(state["done"]), 120.0, "the requests to end")
    for request, reply in answers:
        assert reply == b"ACK %d" % request, f"request {request} got {reply!r}"


def five_retry(network: SimulatedNetwork) -> None:
    exchange(network, 3, match=True)


def ten_requests_buggy(network: SimulatedNetwork) -> None:
    exchange(network, 10, match=False)


def swarm_runs(runs: int) -> float:
    start = time.perf_counter()
    report = Swarm(five_retry).run(runs)
    elapsed = time.perf_counter() - start
    assert not report.failures, report.summary()
    return elapsed


def plain_runs(runs: int) -> float:
    # The same seeds and mixes on a bare network: what the swarm's bookkeeping costs.
    start = time.perf_counter()
    for seed in range(1, runs + 1):
        options = draw_mix(seed).network_options()
        with SimulatedNetwork(seed, virtual_time=True, **options) as network:
            five_retry(network)
    return time.perf_counter() - start


LONG = {"delay": (0.0, 300.0), "duplicate": (0.0, 0.3), "loss": (0.0, 0.2)}


def long_failure(swarm: Swarm) -> RunResult:
    """The first failing run whose schedule has 40 to 60 decisions."""
    for seed in range(1, 2001):
        run = swarm.run_one(seed)
        if run.failed and 40 <= len(run.schedule) <= 60:
            return run
    raise RuntimeError("no failing run of 40-60 decisions in 2000 seeds")


def shrink_ddmin(swarm: Swarm, failing: RunResult) -> Tuple[float, int, int]:
    start = time.perf_counter()
    shrunk, _ = swarm.shrink(failing)
    return time.perf_counter() - start, shrunk.runs, len(shrunk.schedule)


def shrink_hypothesis(swarm: Swarm, failing: RunResult) -> Tuple[float, int, int]:
    start = time.perf_counter()
    shrunk, _ = swarm.shrink(failing, engine="hypothesis")
    return time.perf_counter() - start, shrunk.runs, len(shrunk.schedule)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    runs = 50 if args.quick else 200
    swarm_times: List[float] = []
    plain_times: List[float] = []
    for _ in range(repeats):  # interleaved: each repeat measures both
        swarm_times.append(swarm_runs(runs))
        plain_times.append(plain_runs(runs))
    swarm = Swarm(ten_requests_buggy, ranges=LONG, kinds=tuple(LONG))
    failing = long_failure(swarm)
    ddmin: List[Tuple[float, int, int]] = []
    hypo: List[Tuple[float, int, int]] = []
    for _ in range(repeats):
        ddmin.append(shrink_ddmin(swarm, failing))
        hypo.append(shrink_hypothesis(swarm, failing))

    def median(values: List[Tuple[float, int, int]]) -> Tuple[float, int, int]:
        return sorted(values)[(len(values) - 1) // 2]

    swarm_s, plain_s = statistics.median(swarm_times), statistics.median(plain_times)
    (dd_s, dd_runs, dd_left), (hy_s, hy_runs, hy_left) = median(ddmin), median(hypo)
    rows = [
        (
            f"{runs} swarm runs, 5-retry routine, wall",
            f"{swarm_s:.2f} s",
            f"{plain_s:.2f} s (same mixes, bare)",
            f"{swarm_s / plain_s:.2f}x",
            "<= 5 s" if runs == 200 else "(quick)",
            "yes" if swarm_s <= 5 else "no",
        ),
        (
            f"shrink {len(failing.schedule)} decisions (seed {failing.seed}), wall",
            f"{dd_s:.2f} s, {dd_runs} runs, {dd_left} left",
            f"{hy_s:.2f} s, {hy_runs} runs, {hy_left} left (Hypothesis)",
            f"{dd_s / hy_s:.2f}x",
            "<= 5 s",
            "yes" if dd_s <= 5 else "no",
        ),
    ]
    header = ("metric", "taro_udp", "baseline", "ratio", "target", "met")
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
