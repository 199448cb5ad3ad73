"""In-process benchmarks, one scenario per process so memory and threads are its own.

    python bench/scenarios.py send --count N --rounds R
    python bench/scenarios.py close --sockets K
    python bench/scenarios.py sockets --impl taro_udp|shim --n N
    python bench/scenarios.py idle --impl taro_udp|shim --n N --seconds S

Each prints ``RESULT <json>``. Peers are bench/peer.py processes; every wait is bounded.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from shims import SelectorShim, pktinfo_socket

HERE = os.path.dirname(os.path.abspath(__file__))
WAIT = 10.0


def report(result: Dict[str, Any]) -> None:
    print("RESULT " + json.dumps(result), flush=True)


def start_peer(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, os.path.join(HERE, "peer.py"), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def stop_peer(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def os_threads() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return threading.active_count()  # pragma: no cover - not Linux


def raise_nofile(needed: int) -> int:
    """Raise RLIMIT_NOFILE (soft, and hard as root) to at least ``needed``; return soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return needed
        except (ValueError, OSError):
            needed = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed


# -- send() ------------------------------------------------------------------------


def bench_send(count: int, rounds: int) -> Dict[str, Any]:
    """CPU per call: ``send()`` without callbacks vs ``sendto`` on a raw socket."""
    import taro_udp

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))  # never read: full after a few hundred, as for both
    port = sink.getsockname()[1]
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.bind(("127.0.0.1", 0))
    sock = taro_udp.create_udp_socket()
    sock.bind(0, address="127.0.0.1")
    data = b"x" * 64
    sendto = raw.sendto
    send = sock.send
    raw_us: List[float] = []
    taro_us: List[float] = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(count):
            sendto(data, ("127.0.0.1", port))
        raw_us.append((time.process_time() - start) / count * 1e6)
        start = time.process_time()
        for _ in range(count):
            send({"address": "127.0.0.1", "port": port, "message": data})
        taro_us.append((time.process_time() - start) / count * 1e6)
    sock.close()
    raw.close()
    sink.close()
    return {"raw_us": statistics.median(raw_us), "taro_us": statistics.median(taro_us)}


# -- close() -------------------------------------------------------------------------


def _percentile(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _close_under_traffic(
    open_one: Callable[[Callable[[Any], None]], Any],
    close_one: Callable[[Any], None],
    port_of: Callable[[Any], int],
    sockets: int,
) -> Dict[str, Any]:
    closed = set()
    late = [0]
    received = [0]
    handles = []
    for index in range(sockets):

        def listener(_payload: Any, index: int = index) -> None:
            received[0] += 1
            if index in closed:
                late[0] += 1

        handles.append(open_one(listener))
    ports = [port_of(handle) for handle in handles]
    peer = start_peer("spray", "60")
    assert peer.stdin is not None
    assert peer.stdout is not None
    peer.stdin.write(",".join(map(str, ports)) + "\n")
    peer.stdin.flush()
    peer.stdout.readline()  # SPRAYING
    time.sleep(0.05)
    times: List[float] = []
    for index, handle in enumerate(handles):
        start = time.perf_counter()
        close_one(handle)
        times.append(time.perf_counter() - start)
        closed.add(index)
        time.sleep(0.0005)  # let traffic reach the next socket's listener
    stop_peer(peer)
    released = 0
    for port in ports:  # the OS socket is gone: its port can be bound again at once
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.bind(("127.0.0.1", port))
            released += 1
        except OSError:
            pass
        probe.close()
    return {
        "median_us": statistics.median(times) * 1e6,
        "p99_us": _percentile(times, 0.99) * 1e6,
        "late_callbacks": late[0],
        "received": received[0],
        "released": released,
        "sockets": sockets,
    }


def bench_close(sockets: int) -> Dict[str, Any]:
    """``close()`` of sockets being sprayed with datagrams, listeners running."""
    import taro_udp

    shim = SelectorShim()

    def open_shim(listener: Callable[[Any], None]) -> socket.socket:
        sock = pktinfo_socket()
        shim.add(sock, listener)
        return sock

    baseline = _close_under_traffic(
        open_shim, shim.remove, lambda sock: int(sock.getsockname()[1]), sockets
    )
    shim.stop()

    def open_taro(listener: Callable[[Any], None]) -> Any:
        sock = taro_udp.create_udp_socket()
        sock.onMessage(listener)
        return (sock, sock.bind(0, address="127.0.0.1"))

    taro = _close_under_traffic(
        open_taro, lambda handle: handle[0].close(), lambda handle: handle[1], sockets
    )
    return {"shim": baseline, "taro_udp": taro}


# -- many sockets --------------------------------------------------------------------


def bench_sockets(impl: str, n: int, rounds: int) -> Dict[str, Any]:
    """Threads, memory, setup, one datagram to each, teardown, for ``n`` open sockets.

    Round 1 runs in a fresh process: the kernel grows the fd table as sockets are
    created, which in a process with threads waits for an RCU grace period per doubling
    (tens of ms for the first 1,000 fds, whatever the library). Later rounds reuse the
    grown table and show what the library itself costs.
    """
    limit = raise_nofile(n + 256)
    peer = start_peer("fanout")
    assert peer.stdin is not None
    assert peer.stdout is not None
    peer.stdout.readline()  # READY: its start-up is not measured
    delivered = threading.Event()
    count = [0]

    def listener(_payload: Any) -> None:
        count[0] += 1
        if count[0] == n:
            delivered.set()

    shim: Optional[SelectorShim] = None
    if impl == "taro_udp":
        import taro_udp

        def open_one() -> Any:
            sock = taro_udp.create_udp_socket()
            sock.onMessage(listener)
            return (sock, sock.bind(0, address="127.0.0.1"))

        def close_one(handle: Any) -> None:
            handle[0].close()

        def port_of(handle: Any) -> int:
            return int(handle[1])

    else:

        def open_one() -> Any:
            sock = pktinfo_socket()
            shim.add(sock, listener)  # type: ignore[union-attr]
            return sock

        def close_one(handle: Any) -> None:
            shim.remove(handle)  # type: ignore[union-attr]

        def port_of(handle: Any) -> int:
            return int(handle.getsockname()[1])

    runs: List[Dict[str, Any]] = []
    for _ in range(rounds):
        count[0] = 0
        delivered.clear()
        gc.collect()
        rss0 = rss_bytes()
        start = time.perf_counter()
        if impl != "taro_udp":
            shim = SelectorShim()  # as taro_udp starts its thread with the first socket
        handles: List[Any] = []
        try:
            while len(handles) < n:
                handles.append(open_one())
        except OSError as exc:  # e.g. RLIMIT_NOFILE could not be raised (not root)
            for handle in handles:
                close_one(handle)
            if shim is not None:
                shim.stop()
            stop_peer(peer)
            return {"n": n, "nofile": limit, "error": f"{len(handles)} sockets opened: {exc}"}
        setup = time.perf_counter() - start
        ports = ",".join(str(port_of(handle)) for handle in handles)
        time.sleep(0.05)  # let listening events drain
        start = time.perf_counter()
        peer.stdin.write(ports + "\n")
        peer.stdin.flush()
        ok = delivered.wait(WAIT)
        delivery = time.perf_counter() - start
        peer.stdout.readline()  # SENT
        gc.collect()
        rss1 = rss_bytes()
        threads = os_threads()
        start = time.perf_counter()
        for handle in handles:
            close_one(handle)
        teardown = time.perf_counter() - start
        if shim is not None:
            shim.stop()
        for thread in threading.enumerate():
            if thread is not threading.current_thread():
                thread.join(WAIT)
        runs.append(
            {
                "threads": threads,
                "rss_growth": rss1 - rss0,
                "setup_s": setup,
                "delivery_s": delivery if ok else None,
                "delivered": count[0],
                "teardown_s": teardown,
                "thread_gone_s": time.perf_counter() - start,
            }
        )
    stop_peer(peer)
    warm = runs[1:] or runs

    def med(key: str) -> Optional[float]:
        values = [run[key] for run in warm if run[key] is not None]
        return statistics.median(values) if values else None

    return {
        "n": n,
        "nofile": limit,
        "threads": max(run["threads"] for run in runs),
        "rss_growth": runs[0]["rss_growth"],
        "setup_cold_s": runs[0]["setup_s"],
        "setup_s": med("setup_s"),
        "delivery_s": med("delivery_s"),
        "delivered": min(run["delivered"] for run in runs),
        "teardown_s": med("teardown_s"),
        "thread_gone_s": med("thread_gone_s"),
    }


# -- idle ----------------------------------------------------------------------------


def bench_idle(impl: str, n: int, seconds: float) -> Dict[str, Any]:
    """Process CPU while ``n`` sockets sit open and nothing arrives."""
    handles: List[Any] = []
    shim: Optional[SelectorShim] = None
    if impl == "taro_udp":
        import taro_udp

        for _ in range(n):
            sock = taro_udp.create_udp_socket()
            sock.onMessage(lambda _payload: None)
            sock.bind(0, address="127.0.0.1")
            handles.append(sock)
    else:
        shim = SelectorShim()
        for _ in range(n):
            raw = pktinfo_socket()
            shim.add(raw, lambda _payload: None)
            handles.append(raw)
    time.sleep(0.2)  # the listening events are delivered
    start = time.process_time()
    time.sleep(seconds)
    cpu = time.process_time() - start
    for handle in handles:
        if shim is None:
            handle.close()
        else:
            shim.remove(handle)
    if shim is not None:
        shim.stop()
    return {"cpu_s": cpu, "seconds": seconds, "n": n}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="scenario", required=True)
    p = sub.add_parser("send")
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=5)
    p = sub.add_parser("close")
    p.add_argument("--sockets", type=int, default=300)
    for name in ("sockets", "idle"):
        p = sub.add_parser(name)
        p.add_argument("--impl", choices=["taro_udp", "shim"], default="taro_udp")
        p.add_argument("--n", type=int, default=1000)
        p.add_argument("--seconds", type=float, default=2.0)
        p.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.scenario == "send":
        report(bench_send(args.count, args.rounds))
    elif args.scenario == "close":
        report(bench_close(args.sockets))
    elif args.scenario == "sockets":
        report(bench_sockets(args.impl, args.n, args.rounds))
    else:
        report(bench_idle(args.impl, args.n, args.seconds))


if __name__ == "__main__":
    main()
