"""SPEC §2 close: idempotent, immediate, ordered, exactly one close event."""

from __future__ import annotations

import threading
from typing import Any, Callable, List, Optional, cast

import pytest

import taro_udp
from taro_udp import UDPSocket, UDPSocketError
from taro_udp import _socket as _socket_module
from taro_udp._types import ResultCallback

from ._helpers import EventThreadGate, Recorder
from .transports import transport  # noqa: F401 - every test on both transports


def test_close_fires_onclose_exactly_once(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    closes = recorder("close events")
    sock.onClose(closes)
    sock.bind()
    threads = [threading.Thread(target=sock.close) for _ in range(4)]
    for thread in threads:
        thread.start()
    sock.close()
    for thread in threads:
        thread.join()
    sock.close()
    # A later event proves the close event had every chance to be delivered twice.
    after = recorder("after")
    sock.send({"message": "x", "complete": after})
    after.wait_for(1)
    assert closes.items == [{"errMsg": "close:ok"}]


def test_close_of_a_never_bound_socket_fires_onclose(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    closes = recorder("close events")
    sock.onClose(closes)
    sock.close()
    assert closes.wait_for(1) == [{"errMsg": "close:ok"}]


def test_close_releases_the_port_at_once(make_socket: Callable[..., UDPSocket]) -> None:
    sock = make_socket()
    port = sock.bind(address="127.0.0.1")
    sock.close()
    assert make_socket().bind(port, address="127.0.0.1") == port


def test_close_comes_after_queued_send_results(
    make_socket: Callable[..., UDPSocket],
    recorder: Callable[[str], Recorder],
    gate: Callable[[], EventThreadGate],
) -> None:
    target = make_socket()
    port = target.bind()
    sock = make_socket()
    events = recorder("events")
    sock.onClose(lambda r: events(("close", r["errMsg"])))
    with gate():
        for i in range(3):
            sock.send(
                {"address": "127.0.0.1", "port": port, "message": str(i)},
                # cast: mypy cannot infer a lambda with a default argument from the overloads
                complete=cast(
                    ResultCallback, lambda r, i=i: events((f"complete {i}", r["errMsg"]))
                ),
            )
        sock.close()
        sock.send({"address": "127.0.0.1", "port": port, "message": "late"}, complete=events)
    got = events.wait_for(5)
    assert got == [
        ("complete 0", "send:ok"),
        ("complete 1", "send:ok"),
        ("complete 2", "send:ok"),
        ("close", "close:ok"),
        {"errMsg": "send:fail socket is closed", "errCode": -1},
    ]


def test_close_inside_onmessage_stops_delivery_without_deadlock(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    port = sock.bind()
    seen = recorder("messages")
    closes = recorder("close events")

    def on_message(res: Any) -> None:
        seen(res["message"])
        sock.close()

    second: List[Any] = []
    sock.onMessage(on_message)
    sock.onMessage(second.append)  # registered after: must not run once closed
    sock.onClose(closes)
    sender = make_socket()
    for i in range(5):
        sender.send({"address": "127.0.0.1", "port": port, "message": str(i)})
    closes.wait_for(1)
    # Every datagram was sent before the close event was delivered.
    assert seen.items == [b"0"]
    assert second == []


def test_no_message_listener_runs_after_close_returns(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    port = sock.bind()
    messages = recorder("messages")
    sock.onMessage(messages)
    closes = recorder("close")
    sock.onClose(closes)
    sender = make_socket()
    sender.send({"address": "127.0.0.1", "port": port, "message": "before"})
    messages.wait_for(1)
    closed = threading.Event()
    late: List[Any] = []
    sock.onMessage(lambda res: late.append(res) if closed.is_set() else None)
    # Close while datagrams are still arriving and being delivered.
    for i in range(200):
        sender.send({"address": "127.0.0.1", "port": port, "message": str(i)})
        if i == 100:
            sock.close()
            closed.set()
    closes.wait_for(1)
    assert late == []


class _WaitWatchingEvent(threading.Event):
    """An Event that says when someone starts waiting on it."""

    waiting = threading.Event()

    def wait(self, timeout: Optional[float] = None) -> bool:
        _WaitWatchingEvent.waiting.set()
        return super().wait(timeout)


class _ThreadingShim:
    """The threading module as ``taro_udp._socket`` sees it, with a watched Event."""

    Event = _WaitWatchingEvent

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


def test_close_from_another_thread_waits_for_the_running_listener(
    make_socket: Callable[..., UDPSocket],
    recorder: Callable[[str], Recorder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_socket_module, "threading", _ThreadingShim())
    _WaitWatchingEvent.waiting.clear()
    sock = make_socket()
    port = sock.bind()
    inside = threading.Event()
    release = threading.Event()
    order: List[str] = []

    def slow(res: Any) -> None:
        inside.set()
        assert release.wait(10)
        order.append("listener returned")

    sock.onMessage(slow)
    make_socket().send({"address": "127.0.0.1", "port": port, "message": "x"})
    assert inside.wait(10), "listener never ran"

    def close() -> None:
        sock.close()
        order.append("close returned")

    closer = threading.Thread(target=close)
    closer.start()
    assert _WaitWatchingEvent.waiting.wait(10), "close() did not wait for the listener"
    assert order == []
    release.set()
    closer.join(10)
    assert order == ["listener returned", "close returned"]


def test_close_inside_a_listener_returns_at_once(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    port = sock.bind()
    done = recorder("closed inside")

    def on_message(res: Any) -> None:
        sock.close()
        done("returned")

    sock.onMessage(on_message)
    make_socket().send({"address": "127.0.0.1", "port": port, "message": "x"})
    assert done.wait_for(1) == ["returned"]


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda s: s.send({"address": "127.0.0.1", "port": 9, "message": "x"}),
            {"errMsg": "send:fail socket is closed", "errCode": -1},
        ),
        (
            lambda s: s.write({"address": "127.0.0.1", "port": 9, "message": "x"}),
            {"errMsg": "write:fail socket is closed", "errCode": -1},
        ),
        (
            lambda s: s.connect({"address": "127.0.0.1", "port": 9}),
            {"errMsg": "connect:fail socket is closed", "errCode": -1},
        ),
        (lambda s: s.setTTL(64), {"errMsg": "setTTL:fail socket is closed", "errCode": -1}),
    ],
)
def test_methods_after_close_report_socket_is_closed(
    make_socket: Callable[..., UDPSocket],
    recorder: Callable[[str], Recorder],
    call: Callable[[UDPSocket], None],
    expected: Any,
) -> None:
    sock = make_socket()
    errors = recorder("errors")
    sock.onError(errors)
    sock.close()
    call(sock)
    assert errors.wait_for(1) == [expected]


def test_send_after_close_calls_fail_and_complete(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    sock.close()
    calls = recorder("callbacks")
    sock.send(
        {"address": "127.0.0.1", "port": 9, "message": "x"},
        fail=lambda r: calls(("fail", r)),
        complete=lambda r: calls(("complete", r)),
    )
    expected = {"errMsg": "send:fail socket is closed", "errCode": -1}
    assert calls.wait_for(2) == [("fail", expected), ("complete", expected)]


def test_context_manager_closes_on_exit(recorder: Callable[[str], Recorder]) -> None:
    closes = recorder("close")
    with taro_udp.create_udp_socket() as sock:
        sock.onClose(closes)
        sock.bind()
    assert closes.wait_for(1) == [{"errMsg": "close:ok"}]
    with pytest.raises(UDPSocketError, match="closed"):
        sock.bind()


def test_context_manager_closes_when_the_body_raises(recorder: Callable[[str], Recorder]) -> None:
    closes = recorder("close")
    sock = taro_udp.create_udp_socket()
    sock.onClose(closes)

    def body() -> None:
        with sock:
            raise RuntimeError("body failed")

    with pytest.raises(RuntimeError):
        body()
    closes.wait_for(1)
