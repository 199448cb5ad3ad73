"""1,000 sockets open at once share one event thread, and each gets its datagram."""

from __future__ import annotations

import resource
import threading
from functools import partial
from typing import Any, Callable, Iterator, List

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


def test_a_sender_holding_a_lock_its_callbacks_take_never_deadlocks_on_a_full_queue(
    monkeypatch: pytest.MonkeyPatch, make_socket: Callable[..., UDPSocket]
) -> None:
    # repro_03: the sender holds the app's lock; the first success callback waits for it
    # on the event thread, which then takes nothing more. With a bounded queue that the
    # sender waits on, neither could go on. The sender must stop waiting instead.
    monkeypatch.setattr(_loop, "MAX_PENDING", 8)
    sock = make_socket()
    sink = make_socket()
    port = sink.bind(address="127.0.0.1")
    state_lock = threading.Lock()
    acked: List[Any] = []
    all_acked = threading.Event()
    total = 3 * 8

    def on_success(res: Any) -> None:
        with state_lock:  # the app's bookkeeping, under its lock
            acked.append(res)
            if len(acked) == total:
                all_acked.set()

    done = threading.Event()

    def sender() -> None:
        with state_lock:
            for _ in range(total):
                sock.send(
                    {"address": "127.0.0.1", "port": port, "message": b"x"}, success=on_success
                )
        done.set()

    worker = threading.Thread(target=sender)
    worker.start()
    assert done.wait(10), "the sender deadlocked on the full queue"
    worker.join(10)
    assert all_acked.wait(10), f"only {len(acked)} of {total} success callbacks ran"
    plain = threading.Event()

    def plain_send() -> None:  # a send without callbacks never waits on the queue
        sock.send({"address": "127.0.0.1", "port": port, "message": b"no callbacks"})
        plain.set()

    with EventThreadGate():
        for _ in range(20):
            sock.send({"address": "127.0.0.1", "port": 0, "fail": lambda r: None})
        thread = threading.Thread(target=plain_send)
        thread.start()
        assert plain.wait(10), "a send without callbacks waited for the held event thread"
        thread.join(10)
