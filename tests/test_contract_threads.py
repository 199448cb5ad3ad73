"""SPEC §5: one event thread for every socket, ordering, lifetime, exit."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading
import weakref
from typing import Any, Callable, List, Optional

import pytest

import taro_udp
from taro_udp import UDPSocket, _loop

from ._helpers import WAIT, EventThreadGate, Recorder
from .transports import transport  # noqa: F401 - every test on both transports


def _library_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == _loop.THREAD_NAME]


def test_callbacks_of_two_sockets_share_one_thread_and_never_overlap(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    a, b = make_socket(), make_socket()
    port_a, port_b = a.bind(), b.bind()
    active: List[int] = []
    overlaps: List[int] = []
    threads = set()
    done = recorder("deliveries")

    def listener(res: Any) -> None:
        active.append(1)
        if len(active) > 1:
            overlaps.append(len(active))
        threads.add(threading.get_ident())
        # A little work, so that overlapping deliveries would be caught.
        sum(range(2000))
        active.pop()
        done(res["message"])

    a.onMessage(listener)
    b.onMessage(listener)
    senders = [make_socket() for _ in range(4)]

    def blast(sender: UDPSocket) -> None:
        for i in range(50):
            sender.send({"address": "127.0.0.1", "port": port_a, "message": str(i)})
            sender.send({"address": "127.0.0.1", "port": port_b, "message": str(i)})

    workers = [threading.Thread(target=blast, args=(s,)) for s in senders]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.wait_for(400)
    assert overlaps == []
    assert len(threads) == 1
    assert threading.get_ident() not in threads
    assert [t.ident for t in _library_threads()] == list(threads)


def test_listening_comes_before_the_first_message(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sender = make_socket()
    target = make_socket()
    target_port = target.bind()
    events = recorder("events")
    sender.onListening(lambda res: events("listening"))
    sender.onMessage(lambda res: events("message"))
    target.onMessage(
        lambda res: target.send(
            {"address": "127.0.0.1", "port": res["remoteInfo"]["port"], "message": "echo"}
        )
    )
    # send() binds the sender and the echo may come back at once: listening stays first.
    sender.send({"address": "127.0.0.1", "port": target_port, "message": "ping"})
    assert events.wait_for(2) == ["listening", "message"]


def test_send_success_comes_before_the_echo_it_caused(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    port = sock.bind()
    events = recorder("events")
    sock.onMessage(lambda res: events("message"))
    sock.send({"address": "127.0.0.1", "port": port, "message": "self", "success": events})
    assert events.wait_for(2) == [{"errMsg": "send:ok"}, "message"]


def test_the_thread_ends_when_the_last_socket_is_closed(
    recorder: Callable[[str], Recorder],
) -> None:
    sock = taro_udp.create_udp_socket()
    sock.bind()
    (thread,) = _library_threads()
    closes = recorder("close")
    sock.onClose(closes)
    sock.close()
    closes.wait_for(1)
    thread.join(WAIT)
    assert not thread.is_alive()
    # ...and a new socket starts a new one.
    with taro_udp.create_udp_socket() as again:
        again.bind()
        assert len(_library_threads()) == 1


def test_a_socket_without_user_references_keeps_receiving_until_closed(
    make_socket: Callable[..., UDPSocket],
    recorder: Callable[[str], Recorder],
    gate: Callable[[], EventThreadGate],
) -> None:
    messages = recorder("messages")
    closes = recorder("close")
    sock = taro_udp.create_udp_socket()
    port = sock.bind()

    def on_message(res: Any) -> None:
        messages(res["message"])
        if res["message"] == b"stop":
            sock_ref = ref()
            assert sock_ref is not None
            sock_ref.close()

    sock.onMessage(on_message)
    sock.onClose(closes)
    ref = weakref.ref(sock)
    del sock
    gc.collect()
    assert ref() is not None, "the library must keep an open socket alive"
    sender = make_socket()
    for text in ("one", "two", "stop"):
        sender.send({"address": "127.0.0.1", "port": port, "message": text})
    assert messages.wait_for(3) == [b"one", b"two", b"stop"]
    closes.wait_for(1)
    # After close the library lets go; the listener closure is the only cycle left.
    del on_message
    with gate():  # the event thread has finished the wake-up that delivered the close
        pass
    gc.collect()
    assert ref() is None, "a closed socket must be collectable"


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_interpreter_exit_closes_open_sockets() -> None:
    result = _run_python(
        """
        import taro_udp
        socks = [taro_udp.create_udp_socket() for _ in range(3)]
        for i, sock in enumerate(socks):
            sock.bind(address="127.0.0.1")
            sock.onClose(lambda res, i=i: print("closed", i, res["errMsg"], flush=True))
        print("exiting", flush=True)
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "exiting"
    assert sorted(lines[1:]) == [f"closed {i} close:ok" for i in range(3)]


def test_interpreter_exit_does_not_hang_on_a_blocked_listener() -> None:
    result = _run_python(
        """
        import threading, taro_udp
        entered = threading.Event()
        sock = taro_udp.create_udp_socket()
        port = sock.bind(address="127.0.0.1")
        sock.onMessage(lambda res: (entered.set(), threading.Event().wait()))
        sock.send({"address": "127.0.0.1", "port": port, "message": "block"})
        assert entered.wait(10)
        print("exiting with a blocked listener", flush=True)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "exiting with a blocked listener\n"


def test_a_listener_send_result_comes_before_the_echo_it_caused(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    port = sock.bind()
    events = recorder("events")

    def on_message(res: Any) -> None:
        events(res["message"])
        if res["message"] == b"kick":
            sock.send({"address": "127.0.0.1", "port": port, "message": "self"}, success=events)

    sock.onMessage(on_message)
    make_socket().send({"address": "127.0.0.1", "port": port, "message": "kick"})
    assert events.wait_for(3) == [b"kick", {"errMsg": "send:ok"}, b"self"]


def test_an_idle_event_thread_sleeps_without_a_timeout(
    make_socket: Callable[..., UDPSocket],
    monkeypatch: pytest.MonkeyPatch,
    gate: Callable[[], EventThreadGate],
) -> None:
    sock = make_socket()
    sock.bind()
    loop = _loop._current
    assert loop is not None
    timeouts: List[Optional[float]] = []
    asleep = threading.Event()
    selector = loop.loop._selector  # type: ignore[attr-defined]
    real_select = selector.select

    def select(timeout: Optional[float] = None) -> Any:
        timeouts.append(timeout)
        if timeout is None:
            asleep.set()
        return real_select(timeout)

    monkeypatch.setattr(selector, "select", select)
    with gate():  # one wake-up, after which the thread has nothing left to do
        pass
    assert asleep.wait(WAIT), "the event thread never went back to sleep"
    # No polling: it sleeps until woken, never with a timeout that would make it spin.
    assert timeouts[-1] is None
    assert all(t in (None, 0) for t in timeouts)
