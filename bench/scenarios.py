"""In-process benchmarks, one scenario per process so memory and threads are its own.

    python bench/scenarios.py send --count N --rounds R
    python bench/scenarios.py close --sockets K
    python bench/scenarios.py sockets --impl taro_udp|shim --n N
    python bench/scenarios.py idle --impl taro_udp|shim --n N --seconds S [--timer]
    python bench/scenarios.py timers --mode chain|batch|clear|clear-main --count N

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
from typing import Any, Callable, Dict, List, Optional, Tuple

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


def bench_idle(impl: str, n: int, seconds: float, timer: bool = False) -> Dict[str, Any]:
    """Process CPU while ``n`` sockets sit open and nothing arrives.

    With ``timer``, taro_udp also has one 1-hour ``setTimeout`` pending: the loop must
    sleep until that deadline, not poll.
    """
    handles: List[Any] = []
    shim: Optional[SelectorShim] = None
    timer_id: Optional[int] = None
    if impl == "taro_udp":
        import taro_udp

        if timer:
            if not hasattr(taro_udp, "setTimeout"):
                return {"error": "this taro_udp has no setTimeout"}
            timer_id = taro_udp.setTimeout(lambda: None, 3_600_000)
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
    if timer_id is not None:
        taro_udp.clearTimeout(timer_id)
    for handle in handles:
        if shim is None:
            handle.close()
        else:
            shim.remove(handle)
    if shim is not None:
        shim.stop()
    return {"cpu_s": cpu, "seconds": seconds, "n": n}


# -- timers ----------------------------------------------------------------------------


def bench_timers(mode: str, count: int) -> Dict[str, Any]:
    """``setTimeout`` costs, as node_timers.js measures Node's (same modes, same figures).

    ``chain``: each ``setTimeout(fn, 0)`` callback sets the next (set + fire, CPU and
    wall per timer after a 10 % warm-up). ``batch``: ``count`` timers of 0 ms set from
    one callback, all fire. ``clear``: ``count`` timeouts of 1 hour + i ms set, then all
    cleared. These three run inside ``taro_udp.run(main)``, on the event thread, as
    ported code does. ``clear-main``: the same from the main thread (each call is posted
    to the event thread); ``cpu_s`` is then the process's CPU until the loop is idle.
    """
    import taro_udp

    if not hasattr(taro_udp, "setTimeout"):
        return {"error": "this taro_udp has no setTimeout"}
    set_timeout = taro_udp.setTimeout
    clear_timeout = taro_udp.clearTimeout
    warm = max(1, count // 10)
    result: Dict[str, Any] = {}

    def now() -> Tuple[float, float]:
        return time.process_time(), time.perf_counter()

    def span(start: Tuple[float, float], end: Tuple[float, float], n: int) -> None:
        result.update(span=n, cpu_s=end[0] - start[0], wall_s=end[1] - start[1])

    def noop() -> None:
        pass

    def clear_all() -> None:
        start = now()
        ids = [set_timeout(noop, 3_600_000 + i) for i in range(count)]
        middle = now()
        for timer_id in ids:
            clear_timeout(timer_id)
        end = now()
        span(start, end, count)
        result.update(set_cpu_s=middle[0] - start[0], clear_cpu_s=end[0] - middle[0])

    def chain() -> None:
        fired = [0]
        start: List[Tuple[float, float]] = []

        def step() -> None:
            fired[0] += 1
            if fired[0] == warm:
                start.append(now())
            if fired[0] < count:
                set_timeout(step, 0)
            else:
                span(start[0], now(), count - warm)

        set_timeout(step, 0)

    def batch() -> None:
        def run_batch(n: int, done: Callable[[], None]) -> None:
            fired = [0]

            def fire() -> None:
                fired[0] += 1
                if fired[0] == n:
                    done()

            for _ in range(n):
                set_timeout(fire, 0)

        def measured() -> None:
            start = now()
            run_batch(count, lambda: span(start, now(), count))

        run_batch(warm, measured)

    if mode == "clear-main":
        taro_udp.run(lambda: None, timeout=60)  # the event thread is warm, as in the others
        start = now()
        thread_start = time.thread_time()
        ids = [set_timeout(noop, 3_600_000 + i) for i in range(count)]
        thread_middle = time.thread_time()
        for timer_id in ids:
            clear_timeout(timer_id)
        thread_end = time.thread_time()
        taro_udp.run(timeout=60)  # until the event thread has armed and cancelled them all
        span(start, now(), count)
        result.update(
            set_cpu_s=thread_middle - thread_start, clear_cpu_s=thread_end - thread_middle
        )
        return result
    mains = {"chain": chain, "batch": batch, "clear": clear_all}
    taro_udp.run(mains[mode], timeout=60)
    return result


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
        p.add_argument("--timer", action="store_true", help="idle: one 1-hour timer too")
    p = sub.add_parser("timers")
    p.add_argument("--mode", choices=["chain", "batch", "clear", "clear-main"], required=True)
    p.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.scenario == "send":
        report(bench_send(args.count, args.rounds))
    elif args.scenario == "close":
        report(bench_close(args.sockets))
    elif args.scenario == "sockets":
        report(bench_sockets(args.impl, args.n, args.rounds))
    elif args.scenario == "timers":
        report(bench_timers(args.mode, args.count))
    else:
        report(bench_idle(args.impl, args.n, args.seconds, args.timer))


if __name__ == "__main__":
    main()
