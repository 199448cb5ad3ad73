"""1,000 sockets open at once share one event thread, and each gets its datagram."""

from __future__ import annotations

import resource
import threading
from functools import partial
from typing import Any, Callable, Iterator, List, Optional

import pytest

import taro_udp
from taro_udp import UDPSocket, _loop

from ._helpers import EventThreadGate, Recorder

SOCKETS = 1000
# The library runs one event thread; the contract allows at most four.
MAX_LIBRARY_THREADS = 4


@pytest.fixture
def enough_fds() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = SOCKETS + 200
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {needed}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _record(messages: Recorder, index: int, res: Any) -> None:
    messages((index, res["message"]))


@pytest.mark.usefixtures("enough_fds")
def test_a_thousand_sockets_receive_on_at_most_four_threads() -> None:
    threads_before = threading.active_count()
    messages = Recorder("datagrams")
    sockets: List[UDPSocket] = []
    try:
        ports = []
        for i in range(SOCKETS):
            sock = taro_udp.create_udp_socket()
            sockets.append(sock)
            sock.onMessage(partial(_record, messages, i))
            ports.append(sock.bind(address="127.0.0.1"))
        sender = taro_udp.create_udp_socket()
        sockets.append(sender)
        for i, port in enumerate(ports):
            sender.send({"address": "127.0.0.1", "port": port, "message": str(i)})
        got = messages.wait_for(SOCKETS)
        library = [t for t in threading.enumerate() if t.name == _loop.THREAD_NAME]
        assert len(library) == 1
        assert threading.active_count() - threads_before <= MAX_LIBRARY_THREADS
        assert sorted(got) == [(i, str(i).encode()) for i in range(SOCKETS)]
        assert len({thread for thread in messages.threads}) == 1
    finally:
        for sock in sockets:
            sock.close()


class _WatchedCondition(threading.Condition):
    """A Condition that says when a thread starts waiting on it."""

    waiting = threading.Event()

    def wait(self, timeout: Optional[float] = None) -> bool:
        _WatchedCondition.waiting.set()
        return super().wait(timeout)


def test_send_results_beyond_the_queue_bound_wait_for_room(
    monkeypatch: pytest.MonkeyPatch, make_socket: Callable[..., UDPSocket]
) -> None:
    # A small bound, so that the sender outruns the held event thread.
    monkeypatch.setattr(_loop, "MAX_PENDING", 8)
    monkeypatch.setattr(_loop, "_room", _WatchedCondition(_loop._lock))
    _WatchedCondition.waiting.clear()
    sock = make_socket()
    results = Recorder("results")
    sent: List[int] = []
    with EventThreadGate() as gate:

        def sender() -> None:
            for i in range(20):
                sock.send({"address": "127.0.0.1", "port": 9, "message": str(i)}, complete=results)
                sent.append(i)

        worker = threading.Thread(target=sender)
        worker.start()
        assert _WatchedCondition.waiting.wait(10), "the sender never waited for room"
        # Held at the bound: eight results queued (the bind's listening is one of them).
        assert len(_loop.current().ready) == 8
        assert len(sent) < 20
        gate.release()
        worker.join(10)
    assert len(sent) == 20
    assert len(results.wait_for(20)) == 20
