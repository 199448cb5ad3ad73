"""SPEC §2 on*/off* and §4/§5 listener failures: the registry and the user-code guard."""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List

import pytest

from taro_udp import UDPSocket

from ._helpers import Recorder
from .transports import transport  # noqa: F401 - every test on both transports


def _send_to(sock: UDPSocket, port: int, message: str) -> None:
    sock.send({"address": "127.0.0.1", "port": port, "message": message})


def test_adding_the_same_listener_twice_delivers_once(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    messages = recorder("messages")
    sock.onMessage(messages)
    sock.onMessage(messages)
    port = sock.bind()
    marker = recorder("marker")
    sock.onMessage(marker)
    _send_to(make_socket(), port, "once")
    marker.wait_for(1)
    assert len(messages.items) == 1


class Handler:
    def __init__(self) -> None:
        self.calls: List[Any] = []

    def on_message(self, res: Any) -> None:
        self.calls.append(res["message"])


def test_off_message_removes_a_bound_method(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    handler = Handler()
    sock.onMessage(handler.on_message)
    marker = recorder("marker")
    sock.onMessage(marker)
    port = sock.bind()
    sender = make_socket()
    _send_to(sender, port, "first")
    marker.wait_for(1)
    sock.offMessage(handler.on_message)  # a new bound-method object, equal to the first
    _send_to(sender, port, "second")
    marker.wait_for(2)
    assert handler.calls == [b"first"]


@pytest.mark.parametrize(
    ("on", "off", "trigger"),
    [
        ("onMessage", "offMessage", "message"),
        ("onError", "offError", "error"),
        ("onListening", "offListening", "listening"),
        ("onClose", "offClose", "close"),
    ],
)
def test_off_without_argument_removes_every_listener(
    make_socket: Callable[..., UDPSocket],
    recorder: Callable[[str], Recorder],
    on: str,
    off: str,
    trigger: str,
) -> None:
    sock = make_socket()
    removed: List[Any] = []
    getattr(sock, on)(removed.append)
    getattr(sock, on)(lambda res: removed.append(res))
    getattr(sock, off)()
    kept = recorder("kept")
    getattr(sock, on)(kept)
    if trigger == "message":
        _send_to(make_socket(), sock.bind(), "x")
    elif trigger == "error":
        sock.setTTL(-1)
    elif trigger == "listening":
        sock.bind()
    else:
        sock.close()
    kept.wait_for(1)
    assert removed == []


@pytest.mark.parametrize("off", ["offMessage", "offError", "offListening", "offClose"])
def test_removing_unknown_or_non_callable_is_a_no_op(
    make_socket: Callable[..., UDPSocket], off: str
) -> None:
    sock = make_socket()
    getattr(sock, off)(lambda res: None)
    getattr(sock, off)(42)
    getattr(sock, off)("listener")


@pytest.mark.parametrize("on", ["onMessage", "onError", "onListening", "onClose"])
@pytest.mark.parametrize("value", [None, 42, "print", b"x"])
def test_non_callable_listener_raises_type_error(
    make_socket: Callable[..., UDPSocket], on: str, value: Any
) -> None:
    with pytest.raises(TypeError, match=f"{on}\\(\\) listener must be callable"):
        getattr(make_socket(), on)(value)


def test_off_message_inside_on_message_applies_to_the_next_datagram(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    once: List[Any] = []
    later: List[Any] = []

    def only_once(res: Any) -> None:
        once.append(res["message"])
        sock.offMessage(only_once)
        sock.offMessage(second)  # removed during delivery: still gets this datagram

    def second(res: Any) -> None:
        later.append(res["message"])

    sock.onMessage(only_once)
    sock.onMessage(second)
    marker = recorder("marker")
    sock.onMessage(marker)
    port = sock.bind()
    sender = make_socket()
    _send_to(sender, port, "1")
    _send_to(sender, port, "2")
    marker.wait_for(2)
    assert once == [b"1"]
    assert later == [b"1"]


def test_a_raising_listener_is_reported_and_delivery_goes_on(
    make_socket: Callable[..., UDPSocket],
    recorder: Callable[[str], Recorder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sock = make_socket()
    errors = recorder("errors")
    messages = recorder("messages")

    def broken(res: Any) -> None:
        raise ValueError("boom")

    sock.onError(errors)
    sock.onMessage(broken)
    sock.onMessage(messages)
    port = sock.bind()
    sender = make_socket()
    with caplog.at_level(logging.ERROR, logger="taro_udp"):
        _send_to(sender, port, "1")
        _send_to(sender, port, "2")
        assert [m["message"] for m in messages.wait_for(2)] == [b"1", b"2"]
    assert errors.wait_for(2) == [{"errMsg": "onMessage:fail ValueError: boom", "errCode": -1}] * 2
    assert "boom" in caplog.text


@pytest.mark.parametrize("name", ["success", "fail", "complete"])
def test_a_raising_result_callback_is_reported_under_its_name(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder], name: str
) -> None:
    sock = make_socket()
    errors = recorder("errors")
    sock.onError(lambda res: errors(res) if res["errMsg"].startswith(name) else None)

    def broken(res: Any) -> None:
        raise KeyError("oops")

    port = 9 if name != "fail" else 0  # port 0 makes the send fail
    option: Dict[str, Any] = {"address": "127.0.0.1", "port": port, "message": "x", name: broken}
    sock.send(option)
    assert errors.wait_for(1) == [{"errMsg": f"{name}:fail KeyError: 'oops'", "errCode": -1}]


@pytest.mark.parametrize("event", ["onListening", "onClose"])
def test_raising_listening_and_close_listeners_are_reported(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder], event: str
) -> None:
    sock = make_socket()
    errors = recorder("errors")
    sock.onError(errors)
    after = recorder("after")

    def broken(res: Any) -> None:
        raise RuntimeError("listener bug")

    getattr(sock, event)(broken)
    getattr(sock, event)(after)
    sock.bind()
    if event == "onClose":
        sock.close()
    assert after.wait_for(1)
    assert errors.wait_for(1) == [
        {"errMsg": f"{event}:fail RuntimeError: listener bug", "errCode": -1}
    ]


def test_a_raising_onerror_listener_is_only_logged(
    make_socket: Callable[..., UDPSocket],
    recorder: Callable[[str], Recorder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sock = make_socket()
    calls: List[Any] = []

    def broken(res: Any) -> None:
        calls.append(res)
        raise RuntimeError("error listener bug")

    sock.onError(broken)
    after = recorder("other listener")
    sock.onError(after)
    with caplog.at_level(logging.ERROR, logger="taro_udp"):
        sock.setTTL(300)
        after.wait_for(1)
        sock.setTTL(301)
        after.wait_for(2)
    # Once per error: the failure of an onError listener is not fed back to onError.
    assert len(calls) == 2
    logged = [
        r for r in caplog.records if r.exc_info and "error listener bug" in str(r.exc_info[1])
    ]
    assert len(logged) == 2


def test_system_exit_in_a_listener_does_not_kill_the_event_thread(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    errors = recorder("errors")
    sock.onError(errors)
    messages = recorder("messages")

    def exits(res: Any) -> None:
        if res["message"] == b"exit":
            raise SystemExit(3)
        messages(res)

    sock.onMessage(exits)
    port = sock.bind()
    sender = make_socket()
    _send_to(sender, port, "exit")
    _send_to(sender, port, "still here")
    assert messages.wait_for(1)[0]["message"] == b"still here"
    assert errors.wait_for(1) == [{"errMsg": "onMessage:fail SystemExit: 3", "errCode": -1}]
