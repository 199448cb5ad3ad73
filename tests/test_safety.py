"""Safety (issue 6.5): bounded memory everywhere, and logs that never echo payloads.

Where the library keeps things:

- received datagrams: nowhere. They are read and delivered on the event thread with no
  queue, so while a listener blocks they wait in the kernel's receive buffer, whose
  size is the bound; what overflows it is counted by the kernel (/proc/net/udp drops).
- posted work (listening, close, send results, errors): ``_loop.call_soon``'s queue,
  bounded by ``_loop.MAX_PENDING`` while the event thread makes progress. A thread other
  than the event thread that posts into a full queue waits until the event thread has
  taken from it; the event thread never waits (it would wait for itself), and a poster
  does not wait for an event thread stuck in one callback (it may be waiting for the
  poster), so the bound may be exceeded then.
- parsed address literals: a cache bounded by ``_addresses._LITERAL_CACHE_MAX``.
- listeners: one entry per distinct listener, however often it is added.
"""

from __future__ import annotations

import logging
import socket
import threading
import tracemalloc
from typing import Any, Callable, Dict, Iterator, List

import pytest

import taro_udp
from taro_udp import UDPSocket, _addresses, _loop

from ._helpers import Recorder
from ._reliability_util import record, socket_drops, wait_thread_gone

pytestmark = pytest.mark.slow


class Gate:
    """Holds the event thread inside a posted callback until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()

    def hold(self, *_: Any) -> None:
        self.entered.set()
        assert self.released.wait(60), "gate never released"

    def close(self) -> None:
        self.released.set()


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait for a state no event announces, re-checking on a short timer (bounded)."""
    tick = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        tick.wait(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# -- the posted-work queue: MAX_PENDING -------------------------------------------------

# ``taro_udp._loop.MAX_PENDING`` bounds the queue while the event thread makes progress:
# a non-event thread posting into a full queue waits until the event thread has taken
# from it. (A thread that has taken nothing for STUCK_AFTER seconds may be waiting for a
# lock the poster holds: then the poster goes on instead, see test_scale.)
SMALL_BOUND = 50

Poster = Callable[[UDPSocket, int, Callable[[Any], None]], None]
POSTERS: Dict[str, Poster] = {
    "send success": lambda s, port, cb: s.send(
        {"address": "127.0.0.1", "port": port, "message": b"q", "success": cb}
    ),
    "send failure": lambda s, port, cb: s.send({"address": "127.0.0.1", "port": 0, "fail": cb}),
    "write failure": lambda s, port, cb: s.write({"address": "a..b", "port": 1, "fail": cb}),
    "setTTL error": lambda s, port, cb: s.setTTL(-1),
    "connect error": lambda s, port, cb: s.connect({"address": "", "port": 1}),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("poster", sorted(POSTERS))
def test_a_thread_posting_into_a_full_queue_waits_for_room(
    poster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_loop, "MAX_PENDING", SMALL_BOUND)
    total = 20 * SMALL_BOUND
    delivered = Recorder("results")
    slowly = threading.Event()  # never set: wait() is a short, bounded pause

    def slow(result: Any) -> None:  # the event thread progresses, slower than the poster
        slowly.wait(0.0005)
        delivered(result)

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    peak = [0]
    with sink, taro_udp.create_udp_socket() as sock:
        sock.bind(0, address="127.0.0.1")
        sock.onError(slow)
        post = POSTERS[poster]
        port = sink.getsockname()[1]
        callback = slow if "success" in poster else (lambda result: None)

        def worker() -> None:
            for _ in range(total):
                post(sock, port, callback)
                peak[0] = max(peak[0], _loop.pending())

        thread = threading.Thread(target=worker, name="poster")
        thread.start()
        thread.join(60)
        assert not thread.is_alive(), "the posting thread never got room"
        delivered.wait_for(total, timeout=60)
    assert peak[0] >= SMALL_BOUND // 2, f"{poster}: the queue never filled (peak {peak[0]})"
    assert peak[0] <= SMALL_BOUND + 1, f"queue held {peak[0]} > MAX_PENDING={SMALL_BOUND}"
    record("safety-max-pending", poster=poster, bound=SMALL_BOUND, posted=total, peak=peak[0])


@pytest.mark.timeout(120)
def test_the_event_thread_never_waits_for_room_in_a_full_queue() -> None:
    bound: int = _loop.MAX_PENDING
    total = 2 * bound + 10
    results = Recorder("results")
    finished = threading.Event()
    with taro_udp.create_udp_socket() as sock:
        sock.bind(0, address="127.0.0.1")

        def flood(payload: Any) -> None:  # runs on the event thread
            for _ in range(total):
                sock.send({"address": "127.0.0.1", "port": 0, "fail": results})
            finished.set()

        _loop.call_soon(flood, None)
        assert finished.wait(30), "the event thread waited for itself"
        results.wait_for(total, timeout=60)


# -- the receive path: the kernel buffer is the bound ------------------------------------


@pytest.mark.timeout(120)
def test_a_blocked_listener_keeps_datagrams_in_the_kernel_not_in_the_library() -> None:
    count, size = 5_000, 200
    entered, release = threading.Event(), threading.Event()
    received: List[int] = []

    def listener(payload: Any) -> None:
        received.append(len(payload["message"]))
        if len(received) == 1:
            entered.set()
            assert release.wait(60)

    tracemalloc.start()
    try:
        with taro_udp.create_udp_socket(options={"recvBufferSize": 1 << 16}) as sock:
            sock.onMessage(listener)
            port = sock.bind(0, address="127.0.0.1")
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with sender:
                sender.sendto(b"first", ("127.0.0.1", port))
                assert entered.wait(10)
                before = tracemalloc.get_traced_memory()[0]
                for _ in range(count):
                    sender.sendto(b"d" * size, ("127.0.0.1", port))
                grown = tracemalloc.get_traced_memory()[0] - before
                drops = socket_drops(sock) or 0
            release.set()
            wait_until(lambda: len(received) + drops == count + 1, "the buffered datagrams")
    finally:
        release.set()
        tracemalloc.stop()
    wait_thread_gone()
    record(
        "safety-blocked-listener",
        sent=count + 1,
        delivered=len(received),
        kernel_drops=drops,
        library_memory_growth_bytes=grown,
    )
    assert drops > 0, "the flood should have overflowed a 64 KiB receive buffer"
    assert grown < 64 * 1024, f"the library buffered {grown} bytes while the listener blocked"


# -- other structures ------------------------------------------------------------------


def test_the_literal_cache_stays_bounded() -> None:
    bound = _addresses._LITERAL_CACHE_MAX
    errors: List[Any] = []
    with taro_udp.create_udp_socket() as sock:
        sock.onError(errors.append)
        sock.bind(0, address="127.0.0.1")
        for n in range(bound + 500):  # connect() sends nothing
            sock.connect({"address": f"127.0.{n // 250}.{n % 250 + 1}", "port": 9})
            assert len(_addresses._literals) <= bound
    assert errors == []


def test_adding_the_same_listener_again_does_not_grow_the_registry() -> None:
    def listener(payload: Any) -> None:
        pass

    with taro_udp.create_udp_socket() as sock:
        for _ in range(10_000):
            sock.onMessage(listener)
            sock.onError(listener)
        assert len(sock._on_message.listeners) == 1
        assert len(sock._on_error.listeners) == 1


# -- logs ------------------------------------------------------------------------------

PAYLOAD = b"SECRET\x1b[2J\x00\r\n2038-01-19 FAKE LOG LINE\x07"


@pytest.fixture
def library_log() -> Iterator[List[logging.LogRecord]]:
    records: List[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("taro_udp")
    handler, level = Keep(logging.DEBUG), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def test_log_lines_about_received_data_never_carry_payload_bytes_or_control_characters(
    library_log: List[logging.LogRecord],
) -> None:
    seen = Recorder("messages")
    with taro_udp.create_udp_socket() as sock, taro_udp.create_udp_socket() as peer:
        # No onError listener: every error is logged as a warning (SPEC §4).
        sock.onMessage(lambda p: (_ for _ in ()).throw(ValueError(p["message"].decode("latin-1"))))
        sock.onMessage(lambda p: (_ for _ in ()).throw(KeyError(p["message"])))
        sock.onMessage(seen)
        port = sock.bind(0, address="127.0.0.1")
        peer.onError(lambda e: 1 / 0)  # a raising onError listener is logged too
        peer.bind(0, address="127.0.0.1")
        sock.connect({"address": "127.0.0.1", "port": peer._local_port})
        for _ in range(3):
            peer.send({"address": "127.0.0.1", "port": port, "message": PAYLOAD})
            peer.send({"address": "127.0.0.1", "port": 0, "message": PAYLOAD})
        seen.wait_for(3)
        # A receive error on the connected socket (the peer vanished), logged, no listener.
        peer.close()
        sock.write({"message": PAYLOAD})
        wait_until(lambda: any("refused" in r.getMessage() for r in library_log), "ICMP error")
    wait_thread_gone()
    assert library_log, "nothing was logged: the test did not exercise the log paths"
    text = PAYLOAD.decode("latin-1")
    for entry in library_log:
        line = entry.getMessage()
        assert "SECRET" not in line, line
        assert "FAKE LOG LINE" not in line, line
        assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in line), repr(line)
        assert text not in line
    record("safety-logs", records_checked=len(library_log))
