"""Soak (issue 6.4): long runs leave no threads, fds or memory behind.

Memory is traced with ``tracemalloc`` and compared between two points with the same
sockets open (after a warm-up, and at the end), after ``gc.collect()``; the bound is a
small constant, not a ratio, so a per-cycle leak of even a few bytes over 10,000 cycles
shows. Sizes: ``TARO_UDP_FULL=1`` runs 10,000 cycles and a 60 s mixed workload; the
default (CI) run 2,000 cycles and 5 s.
"""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
import tracemalloc
from typing import Any, Callable, Dict, Iterator, List

import pytest

import taro_udp
from taro_udp import UDPSocket

from ._reliability_util import FULL, fd_count, record, scale, wait_thread_gone

pytestmark = pytest.mark.slow

MEMORY_BOUND = 256 * 1024  # bytes of traced growth allowed between the two points


@pytest.fixture
def quiet_library_log() -> Iterator[List[logging.LogRecord]]:
    """Keep the library's log records (raising listeners log) out of pytest's capture,
    which would otherwise grow with the run and read as a leak; count them instead."""
    records: List[logging.LogRecord] = []

    class Counter(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if len(records) < 100:
                records.append(record)

    log = logging.getLogger("taro_udp")
    handler = Counter()
    saved = log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield records
    finally:
        log.propagate = saved
        log.removeHandler(handler)


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.cond = threading.Condition()

    def __call__(self, payload: Any) -> None:
        with self.cond:
            self.count += 1
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: self.count >= count, timeout)
        assert ok, f"expected {count} datagrams, got {self.count}"


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


@pytest.mark.timeout(600)
def test_create_bind_send_close_cycles_leak_nothing() -> None:
    cycles = scale(2_000, 10_000)
    received = Counter()
    errors: List[Any] = []
    tracemalloc.start()
    try:
        with taro_udp.create_udp_socket() as sink:
            sink.onMessage(received)
            sink.onError(errors.append)
            port = sink.bind(0, address="127.0.0.1")

            def cycle(n: int) -> None:
                sock = taro_udp.create_udp_socket("udp6" if n % 4 == 0 else "udp4")
                sock.onError(errors.append)
                sock.bind(0, address="::ffff:127.0.0.1" if n % 4 == 0 else "127.0.0.1")
                sock.send({"address": "127.0.0.1", "port": port, "message": b"%d" % n})
                sock.close()
                if n % 64 == 63:  # a window, so the sink's buffer never overflows
                    received.wait_for(n + 1 - 32)

            for n in range(200):  # warm-up: caches, the literal cache, free lists
                cycle(n)
            received.wait_for(200)
            memory = traced()  # collects first: sockets of earlier tests the GC still owed
            threads, fds = threading.active_count(), fd_count()
            started = time.monotonic()
            for n in range(200, 200 + cycles):
                cycle(n)
            received.wait_for(200 + cycles)
            elapsed = time.monotonic() - started
            grown = traced() - memory
            thread_delta = threading.active_count() - threads
            fd_delta = fd_count() - fds
    finally:
        tracemalloc.stop()
    wait_thread_gone()
    record(
        "soak-cycles",
        cycles=cycles,
        datagrams=200 + cycles,
        lost=200 + cycles - received.count,
        seconds=round(elapsed, 2),
        thread_delta=thread_delta,
        fd_delta=fd_delta,
        traced_memory_delta_bytes=grown,
    )
    assert errors == []
    assert (thread_delta, fd_delta) == (0, 0)
    assert grown < MEMORY_BOUND, f"traced memory grew by {grown} bytes over {cycles} cycles"


@pytest.mark.timeout(600)
def test_cycles_that_start_and_stop_the_event_thread_leak_nothing() -> None:
    # No other socket open: every cycle starts the event thread and lets it end.
    cycles = scale(200, 1_000)
    gc.collect()
    threads, fds = threading.active_count(), fd_count()
    got: List[bytes] = []
    for n in range(cycles):
        done = threading.Event()

        def on_message(payload: Any, done: threading.Event = done) -> None:
            got.append(payload["message"])
            done.set()

        with taro_udp.create_udp_socket() as sock:
            sock.onMessage(on_message)
            port = sock.bind(0, address="127.0.0.1")
            sock.send({"address": "127.0.0.1", "port": port, "message": b"%d" % n})
            assert done.wait(10), f"cycle {n}: datagram to itself never arrived"
        wait_thread_gone()
    assert (threading.active_count() - threads, fd_count() - fds) == (0, 0)
    assert got == [b"%d" % n for n in range(cycles)]
    record("soak-thread-lifecycles", cycles=cycles, thread_delta=0, fd_delta=0)


class Mixed:
    """The mixed workload: a pool of long-lived sockets and a thread that churns."""

    def __init__(self, pool: int) -> None:
        self.received = Counter()
        self.errors = 0
        self.ops: Dict[str, int] = {}
        self.pool: List[UDPSocket] = []
        self.ports: List[int] = []
        for n in range(pool):
            sock = taro_udp.create_udp_socket("udp6" if n % 2 else "udp4")
            sock.onMessage(self.received)
            sock.onError(self.on_error)
            self.ports.append(sock.bind(0, address="::1" if n % 2 else "127.0.0.1"))
            self.pool.append(sock)
        self.sent = 0
        self.stop = threading.Event()
        self.failures: List[BaseException] = []

    def on_error(self, payload: Any) -> None:
        self.errors += 1

    def count(self, name: str) -> None:
        self.ops[name] = self.ops.get(name, 0) + 1

    def traffic(self, rounds: int) -> None:
        for _ in range(rounds):
            for n, sock in enumerate(self.pool):
                to = (n + 2) % len(self.pool)  # same family: 2 apart
                address = "::1" if to % 2 else "127.0.0.1"
                sock.send({"address": address, "port": self.ports[to], "message": b"m" * (n * 97)})
                self.sent += 1
            self.received.wait_for(self.sent - 4 * len(self.pool))
        self.count("datagram")

    def churn_once(self, rng: random.Random) -> None:
        sock = taro_udp.create_udp_socket(rng.choice(["udp4", "udp6"]))
        sock.onError(self.on_error)
        listener: Callable[[Any], None] = lambda p: None  # noqa: E731
        sock.onMessage(listener)
        sock.onMessage(lambda p: 1 / 0)  # a raising listener, logged and reported
        step = rng.randrange(6)
        if step == 0:
            sock.send({"address": "127.0.0.1", "port": self.ports[0], "message": b"churn"})
            self.sent += 1
        elif step == 1:
            sock.connect({"address": "127.0.0.1", "port": self.ports[0]})
            sock.write({"message": b"connected"})
            self.sent += 1
        elif step == 2:
            sock.setTTL(rng.choice([1, 64, 255, -1, 0]))
        elif step == 3:
            sock.send({"address": "a..b", "port": 1, "message": b"x"})  # invalid address
        elif step == 4:
            sock.send({"address": "127.0.0.1", "port": 0, "message": b"x", "fail": listener})
        else:
            sock.offMessage(listener)
            sock.offMessage()
        sock.close()
        self.count(f"churn-{step}")

    def churn(self, seed: int) -> None:
        rng = random.Random(seed)
        try:
            while not self.stop.is_set():
                self.churn_once(rng)
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            self.failures.append(exc)

    def close(self) -> None:
        for sock in self.pool:
            sock.close()


@pytest.mark.timeout(600)
def test_mixed_workload_for_a_while_leaks_nothing(
    quiet_library_log: List[logging.LogRecord],
) -> None:
    duration = 60.0 if FULL else 5.0
    gc.collect()
    threads, fds = threading.active_count(), fd_count()
    tracemalloc.start()
    mixed = Mixed(pool=8)
    # With the pool open and nothing churning; compared with the same state at the end.
    fds_at_start, threads_at_start = fd_count(), threading.active_count()
    try:
        churner = threading.Thread(target=mixed.churn, args=(6,), name="soak-churn")
        churner.start()
        try:
            mixed.traffic(50)  # warm-up
            memory_at_warm = traced()
            deadline = time.monotonic() + duration
            while time.monotonic() < deadline:
                mixed.traffic(20)
        finally:
            mixed.stop.set()
            churner.join(30)
        assert not churner.is_alive(), "the churning thread hung"
        assert mixed.failures == [], mixed.failures
        mixed.received.wait_for(mixed.sent)
        grown = traced() - memory_at_warm
        fd_delta = fd_count() - fds_at_start
        thread_delta = threading.active_count() - threads_at_start
    finally:
        mixed.close()
        tracemalloc.stop()
    wait_thread_gone()
    record(
        "soak-mixed",
        seconds=duration,
        datagrams=mixed.sent,
        lost=mixed.sent - mixed.received.count,
        errors_reported=mixed.errors,
        operations=mixed.ops,
        thread_delta=thread_delta,
        fd_delta=fd_delta,
        traced_memory_delta_bytes=grown,
    )
    assert mixed.received.count == mixed.sent
    assert (thread_delta, fd_delta) == (0, 0)
    assert grown < MEMORY_BOUND, f"traced memory grew by {grown} bytes in {duration}s"
    assert (threading.active_count(), fd_count()) == (threads, fds)
