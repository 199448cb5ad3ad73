"""Virtual-time benchmarks: ported routines run on a SimulatedNetwork under a VirtualClock.

    python bench/virtual.py retry --runs 20
    python bench/virtual.py heartbeat --minutes 60 --mark 10 [--budget 25]
    python bench/virtual.py lan --devices 1000 --rounds 5 [--hosts] [--profile FILE]
    python bench/virtual.py lan-compare --baseline-lib ../main [--repeats 3]

Each prints ``RESULT <json>``. Only the simulated network is used (OS sockets are refused
under virtual time). Wall time is ``time.perf_counter()``, CPU is ``time.process_time()``
of the whole process (the test's thread and the event thread). Every run is bounded: a
drive is capped by the clock's ``wall_cap``, the heartbeat by ``--budget`` real seconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import taro_udp
from taro_udp.testing import SimulatedNetwork

# The retry routine: 5 attempts, 200 ms apart (the "5 x 200 ms").
ATTEMPTS = 5
INTERVAL_MS = 200
DEVICE_PORT = 5000
HEARTBEAT_PORT = 7000
HEARTBEAT_MS = 100
HEARTBEAT_TIMEOUT_MS = 1000  # the peer counts as lost after 10 missed heartbeats
DISCOVERY_PORT = 37020


def report(result: Dict[str, Any]) -> None:
    print("RESULT " + json.dumps(result), flush=True)


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def now() -> Dict[str, float]:
    return {"wall": time.perf_counter(), "cpu": time.process_time()}


def since(start: Dict[str, float]) -> Dict[str, float]:
    end = now()
    return {"wall_s": end["wall"] - start["wall"], "cpu_s": end["cpu"] - start["cpu"]}


def virtual_ms(network: SimulatedNetwork) -> float:
    assert network.clock is not None
    return network.clock.now_ms()


def scheduled_timers() -> Optional[int]:
    """Entries in the event loop's timer heap (cancelled ones included), if readable."""
    from taro_udp import _loop

    thread = getattr(_loop, "_current", None)
    scheduled = getattr(getattr(thread, "loop", None), "_scheduled", None)
    return None if scheduled is None else len(scheduled)


class EventThreadProfile:
    """cProfile of the event thread (where the callbacks run), for ``--profile``."""

    def __init__(self, network: SimulatedNetwork, path: Optional[str]) -> None:
        self.network = network
        self.path = path
        self.profiler: Any = None
        if path:
            import cProfile

            self.profiler = cProfile.Profile()

    def start(self) -> None:
        if self.profiler is not None:  # cProfile profiles the thread that enables it
            taro_udp.call_soon(self.profiler.enable)

    def stop(self) -> None:
        if self.profiler is not None:
            taro_udp.call_soon(self.profiler.disable)
            self.network.advance(0)
            self.profiler.dump_stats(self.path)


# -- 1. a retry routine ------------------------------------------------------------------


class RetryClient:
    """A ported request/retry routine: send, retry every 200 ms up to 5 attempts, give up."""

    def __init__(self, address: str, port: int) -> None:
        self.sock = taro_udp.create_udp_socket()
        self.sock.onMessage(self._on_message)
        self.address = address
        self.port = port
        self.attempts = 0
        self.outcome: Optional[str] = None
        self._timer = 0

    def start(self) -> None:
        self._attempt()

    def _attempt(self) -> None:
        self.attempts += 1
        self.sock.send({"address": self.address, "port": self.port, "message": b"req"})
        last = self.attempts >= ATTEMPTS
        self._timer = taro_udp.setTimeout(self._give_up if last else self._attempt, INTERVAL_MS)

    def _give_up(self) -> None:
        self._end("gave up")

    def _on_message(self, _res: Any) -> None:
        if self.outcome is None:
            taro_udp.clearTimeout(self._timer)
            self._end("answered")

    def _end(self, outcome: str) -> None:
        self.outcome = outcome
        self.sock.close()


def retry_once(seed: int) -> Dict[str, Any]:
    """One run: network, device, client, the routine to its end, teardown."""
    start = now()
    with SimulatedNetwork(seed=seed, loss=0.3, delay=(5, 50), virtual_time=True) as network:
        device = taro_udp.create_udp_socket()

        def answer(res: Any) -> None:
            remote = res["remoteInfo"]
            device.send({"address": remote["address"], "port": remote["port"], "message": b"ok"})

        device.onMessage(answer)
        device.bind(DEVICE_PORT, address="127.0.0.2")
        client = RetryClient("127.0.0.2", DEVICE_PORT)
        begin_ms = virtual_ms(network)
        routine = now()
        taro_udp.call_soon(client.start)
        network.run_until(lambda: client.outcome is not None, timeout=60, what="the routine")
        routine_cost = since(routine)
        duration_ms = virtual_ms(network) - begin_ms
        device.close()
        network.settle(timeout=60)
    total = since(start)
    return {
        "seed": seed,
        "outcome": client.outcome,
        "attempts": client.attempts,
        "virtual_ms": duration_ms,
        "routine_wall_s": routine_cost["wall_s"],
        "routine_cpu_s": routine_cost["cpu_s"],
        "wall_s": total["wall_s"],
        "cpu_s": total["cpu_s"],
    }


def bench_retry(runs: int) -> Dict[str, Any]:
    retry_once(10_000)  # warm-up: imports, the event thread's first start
    results = [retry_once(seed) for seed in range(runs)]

    def med(key: str) -> float:
        return float(statistics.median(r[key] for r in results))

    return {
        "runs": runs,
        "answered": sum(r["outcome"] == "answered" for r in results),
        "attempts": sum(r["attempts"] for r in results),
        "virtual_ms": med("virtual_ms"),
        "wall_s": med("wall_s"),
        "cpu_s": med("cpu_s"),
        "routine_wall_s": med("routine_wall_s"),
        "routine_cpu_s": med("routine_cpu_s"),
        "max_wall_s": max(r["wall_s"] for r in results),
    }


# -- 2. an hour of heartbeats ------------------------------------------------------------


class HeartbeatPeer:
    """One side: ``setInterval`` sends a heartbeat; each one heard resets a timeout."""

    def __init__(self, address: str, peer: str) -> None:
        self.sock = taro_udp.create_udp_socket()
        self.sock.onMessage(self._on_message)
        self.sock.bind(HEARTBEAT_PORT, address=address)
        self.peer = peer
        self.sent = 0
        self.heard = 0
        self.lost = 0  # times the peer was silent for HEARTBEAT_TIMEOUT_MS
        self._interval = 0
        self._timeout = 0

    def start(self) -> None:
        self._interval = taro_udp.setInterval(self._beat, HEARTBEAT_MS)
        self._timeout = taro_udp.setTimeout(self._on_lost, HEARTBEAT_TIMEOUT_MS)

    def stop(self) -> None:
        taro_udp.clearInterval(self._interval)
        taro_udp.clearTimeout(self._timeout)
        self.sock.close()

    def _beat(self) -> None:
        self.sent += 1
        self.sock.send({"address": self.peer, "port": HEARTBEAT_PORT, "message": b"beat"})

    def _on_message(self, _res: Any) -> None:
        self.heard += 1
        taro_udp.clearTimeout(self._timeout)
        self._timeout = taro_udp.setTimeout(self._on_lost, HEARTBEAT_TIMEOUT_MS)

    def _on_lost(self) -> None:
        self.lost += 1
        self._timeout = taro_udp.setTimeout(self._on_lost, HEARTBEAT_TIMEOUT_MS)


def _memory() -> Dict[str, Any]:
    gc.collect()
    return {"rss": rss_bytes(), "blocks": sys.getallocatedblocks()}


def bench_heartbeat(
    minutes: int, mark: int, budget: float, profile: Optional[str] = None, seed: int = 1
) -> Dict[str, Any]:
    """``minutes`` virtual minutes of heartbeats at 30 % loss, memory sampled every ``mark``.

    Without records (``records=False``): an hour of records alone is about 100 MiB.
    """
    from taro_udp import _timers

    marks: List[Dict[str, Any]] = []
    with SimulatedNetwork(seed=seed, loss=0.3, virtual_time=True, records=False) as network:
        sides = [HeartbeatPeer("127.0.0.2", "127.0.0.3"), HeartbeatPeer("127.0.0.3", "127.0.0.2")]
        for side in sides:
            taro_udp.call_soon(side.start)
        network.advance(0)
        profiler = EventThreadProfile(network, profile)
        profiler.start()
        start = now()
        reached = 0
        stopped_early = False
        while reached < minutes:
            network.advance(60_000)  # one virtual minute per drive: the budget is checked
            reached += 1
            if reached % mark == 0:
                cost = since(start)
                sample = _memory()  # a full gc.collect(): not counted in the figures
                sample.update(minute=reached, wall_s=cost["wall_s"], cpu_s=cost["cpu_s"])
                sample.update(records=len(network._datagrams) + len(network._deliveries))
                marks.append(sample)
                cost = since(start)
                start["wall"] += cost["wall_s"] - sample["wall_s"]
                start["cpu"] += cost["cpu_s"] - sample["cpu_s"]
            if reached < minutes and since(start)["wall_s"] > budget:
                stopped_early = True
                break
        cost = since(start)
        profiler.stop()
        if not marks:  # stopped before the first mark: one sample, no growth to show
            sample = _memory()
            sample.update(minute=reached, wall_s=cost["wall_s"], cpu_s=cost["cpu_s"], records=0)
            marks.append(sample)
        heap = scheduled_timers()
        active = len(_timers._active)
        sent = sum(side.sent for side in sides)
        heard = sum(side.heard for side in sides)
        lost = sum(side.lost for side in sides)
        virtual_s = virtual_ms(network) / 1e3
        for side in sides:
            taro_udp.call_soon(side.stop)
        network.settle(timeout=60)
    first, last = marks[0], marks[-1]
    return {
        "minutes": reached,
        "target_minutes": minutes,
        "stopped_early": stopped_early,
        "virtual_s": virtual_s,
        "wall_s": cost["wall_s"],
        "cpu_s": cost["cpu_s"],
        "sent": sent,
        "heard": heard,
        "lost_events": lost,
        "scheduled_timers": heap,
        "active_timers": active,
        "first_mark": first["minute"],
        "last_mark": last["minute"],
        "rss_growth": last["rss"] - first["rss"],
        "blocks_growth": last["blocks"] - first["blocks"],
        "records_growth": last["records"] - first["records"],
        "marks": marks,
    }


# -- 3. a LAN of devices answering broadcast discovery --------------------------------------


def raise_nofile(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def device_address(index: int) -> str:
    """The LAN address of device ``index`` on 10.0.0.0/16 (the phone is 10.0.0.1)."""
    return f"10.0.{index // 250 + 1}.{index % 250 + 2}/16"


def bench_lan(
    devices: int, rounds: int, profile: Optional[str] = None, hosts: bool = False
) -> Dict[str, Any]:
    """``devices`` devices (wildcard + reuseAddr, one port) answer ``rounds`` broadcasts.

    ``hosts``: every device on its own host of one /16 LAN with the phone (0.3.0's
    simulated LAN), so every device draws its own fate for every probe; otherwise all on
    the loopback host, one fate per probe (0.2.0's only way).
    """
    raise_nofile(2 * devices + 256)  # each simulated socket has a pipe (two fds)
    answers: Dict[str, int] = {}
    heard = [0]  # probes the devices heard: counted here, the network's records may be off
    lan: Dict[str, Any] = {"local_address": "10.0.0.1/16"} if hosts else {}
    with SimulatedNetwork(seed=3, loss=0.1, delay=(5, 50), virtual_time=True, **lan) as network:
        setup = now()
        socks: List[taro_udp.UDPSocket] = []
        for index in range(devices):
            if hosts:
                with network.add_host(device_address(index)):
                    sock = taro_udp.create_udp_socket(options={"reuseAddr": True})
            else:
                sock = taro_udp.create_udp_socket(options={"reuseAddr": True})
            reply = json.dumps({"type": "announce", "id": index}).encode()

            def on_probe(res: Any, sock: taro_udp.UDPSocket = sock, reply: bytes = reply) -> None:
                heard[0] += 1
                remote = res["remoteInfo"]
                sock.send({"address": remote["address"], "port": remote["port"], "message": reply})

            sock.onMessage(on_probe)
            sock.bind(DISCOVERY_PORT, address="0.0.0.0")
            socks.append(sock)
        client = taro_udp.create_udp_socket()

        def on_answer(res: Any) -> None:
            key = json.loads(res["message"])["id"]
            answers[key] = answers.get(key, 0) + 1

        client.onMessage(on_answer)
        client.bind(0)
        network.settle(timeout=60)
        setup_cost = since(setup)
        state = {"round": 0, "done": False}

        def probe() -> None:
            message = json.dumps({"type": "discover", "round": state["round"]})
            client.send(
                {
                    "address": "255.255.255.255",
                    "port": DISCOVERY_PORT,
                    "setBroadcast": True,
                    "message": message,
                }
            )
            state["round"] += 1
            if state["round"] < rounds:
                taro_udp.setTimeout(probe, 200)
            else:
                taro_udp.setTimeout(lambda: state.update(done=True), 200)

        heard[0] = 0
        profiler = EventThreadProfile(network, profile)
        profiler.start()
        start = now()
        begin_ms = virtual_ms(network)
        taro_udp.call_soon(probe)
        network.run_until(lambda: bool(state["done"]), timeout=60, what="the rounds")
        network.settle(timeout=60)
        cost = since(start)
        profiler.stop()
        duration_ms = virtual_ms(network) - begin_ms
        count = heard[0] + sum(answers.values())
        teardown = now()
        for sock in [*socks, client]:
            sock.close()
        network.settle(timeout=60)
        teardown_cost = since(teardown)
    return {
        "devices": devices,
        "hosts": hosts,
        "rounds": rounds,
        "virtual_ms": duration_ms,
        "wall_s": cost["wall_s"],
        "cpu_s": cost["cpu_s"],
        "delivered": count,
        "probes_heard": heard[0],
        "answered": len(answers),
        "answers": sum(answers.values()),
        "setup_s": setup_cost["wall_s"],
        "teardown_s": teardown_cost["wall_s"],
    }


def bench_lan_compare(devices: int, rounds: int, repeats: int, baseline: str) -> Dict[str, Any]:
    """The LAN on hosts (this checkout) against 0.2.0's loopback LAN, in one session.

    Each repeat runs, in its own process, 0.2.0's ``lan`` (``PYTHONPATH=baseline``) and
    then this checkout's ``lan --hosts``: interleaved, so that the machine's load hits
    both alike. Medians of the repeats; the ratio is CPU per delivered datagram.
    """
    import os
    import subprocess
    from pathlib import Path

    here = str(Path(__file__).resolve().parent.parent)
    runs: Dict[str, List[Dict[str, Any]]] = {"baseline": [], "hosts": []}
    for _ in range(repeats):
        for kind, lib, extra in (("baseline", baseline, []), ("hosts", here, ["--hosts"])):
            env = dict(os.environ, PYTHONPATH=lib)
            command = [sys.executable, __file__, "lan", f"--devices={devices}"]
            done = subprocess.run(
                [*command, f"--rounds={rounds}", *extra],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
                check=True,
                cwd=lib,
            )
            line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
            runs[kind].append(json.loads(line[len("RESULT ") :]))

    def per_datagram_us(run: Dict[str, Any]) -> float:
        return float(run["cpu_s"]) / max(1, int(run["delivered"])) * 1e6

    summary: Dict[str, Any] = {"devices": devices, "rounds": rounds, "repeats": repeats}
    for kind, results in runs.items():
        summary[kind] = {
            "wall_s": statistics.median(r["wall_s"] for r in results),
            "cpu_us_per_delivered": statistics.median(per_datagram_us(r) for r in results),
            "delivered": statistics.median(r["delivered"] for r in results),
            "answered": min(r["answered"] for r in results),
            "setup_s": statistics.median(r["setup_s"] for r in results),
        }
    summary["cpu_ratio"] = (
        summary["hosts"]["cpu_us_per_delivered"] / summary["baseline"]["cpu_us_per_delivered"]
    )
    return summary


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="scenario", required=True)
    p = sub.add_parser("retry")
    p.add_argument("--runs", type=int, default=20)
    p = sub.add_parser("heartbeat")
    p.add_argument("--minutes", type=int, default=60)
    p.add_argument("--mark", type=int, default=10, help="memory sample every N virtual min")
    p.add_argument("--budget", type=float, default=25.0, help="stop after N real seconds")
    p.add_argument("--profile", help="write a cProfile of the event thread to this file")
    p = sub.add_parser("lan")
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--profile", help="write a cProfile of the event thread to this file")
    p.add_argument("--hosts", action="store_true", help="every device on its own LAN host")
    p = sub.add_parser("lan-compare")
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--baseline-lib", required=True, help="directory holding taro_udp 0.2.0")
    args = parser.parse_args(argv)
    scenarios: Dict[str, Callable[[], Dict[str, Any]]] = {
        "retry": lambda: bench_retry(args.runs),
        "heartbeat": lambda: bench_heartbeat(args.minutes, args.mark, args.budget, args.profile),
        "lan": lambda: bench_lan(
            args.devices, args.rounds, args.profile, getattr(args, "hosts", False)
        ),
        "lan-compare": lambda: bench_lan_compare(
            args.devices, args.rounds, args.repeats, args.baseline_lib
        ),
    }
    report(scenarios[args.scenario]())


if __name__ == "__main__":
    main()
