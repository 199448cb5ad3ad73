"""SPEC §2 send/write and §3 message payloads, between two library sockets."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Tuple

import pytest

from taro_udp import UDPSocket

from ._helpers import EventThreadGate, Recorder
from .transports import transport  # noqa: F401 - every test on both transports

Pair = Tuple[UDPSocket, int, Recorder]


@pytest.fixture
def receiver(make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]) -> Pair:
    """A bound socket on all interfaces, its port, and a recorder of its messages."""
    sock = make_socket()
    messages = recorder("messages")
    sock.onMessage(messages)
    return sock, sock.bind(), messages


@pytest.fixture
def sender(make_socket: Callable[..., UDPSocket]) -> UDPSocket:
    return make_socket()


def test_message_payload_has_wechat_shape(receiver: Pair, sender: UDPSocket) -> None:
    _sock, port, messages = receiver
    sender_port = sender.bind()
    sender.send({"address": "127.0.0.1", "port": port, "message": "hello, how are you"})
    (payload,) = messages.wait_for(1)
    assert payload == {
        "message": b"hello, how are you",
        "remoteInfo": {"address": "127.0.0.1", "family": "IPv4", "port": sender_port, "size": 18},
        "localInfo": {"address": "127.0.0.1", "family": "IPv4", "port": port},
    }
    assert type(payload["message"]) is bytes


def test_local_info_is_the_address_the_datagram_arrived_on(
    receiver: Pair, sender: UDPSocket
) -> None:
    # Bound to 0.0.0.0; sent to 127.0.0.2: localInfo names 127.0.0.2, not the wildcard.
    _sock, port, messages = receiver
    sender.send({"address": "127.0.0.2", "port": port, "message": b"x"})
    (payload,) = messages.wait_for(1)
    assert payload["localInfo"]["address"] == "127.0.0.2"


def test_str_message_is_sent_as_utf8(receiver: Pair, sender: UDPSocket) -> None:
    _sock, port, messages = receiver
    sender.send({"address": "127.0.0.1", "port": port, "message": "你好, UDP ✓"})
    (payload,) = messages.wait_for(1)
    assert payload["message"] == "你好, UDP ✓".encode()
    assert payload["remoteInfo"]["size"] == len("你好, UDP ✓".encode())


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (b"\x00\x01binary\xff", b"\x00\x01binary\xff"),
        (bytearray(b"bytearray"), b"bytearray"),
        (memoryview(b"memoryview"), b"memoryview"),
        (b"", b""),
    ],
)
def test_binary_messages_arrive_byte_exact(
    receiver: Pair, sender: UDPSocket, message: Any, expected: bytes
) -> None:
    _sock, port, messages = receiver
    sender.send({"address": "127.0.0.1", "port": port, "message": message})
    (payload,) = messages.wait_for(1)
    assert payload["message"] == expected
    assert payload["remoteInfo"]["size"] == len(expected)


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [(2, None, b"234567"), (0, 3, b"012"), (3, 2, b"34"), (8, 0, b""), (None, 4, b"0123")],
)
def test_offset_and_length_slice_binary_messages(
    receiver: Pair, sender: UDPSocket, offset: Any, length: Any, expected: bytes
) -> None:
    _sock, port, messages = receiver
    option: Dict[str, Any] = {"address": "127.0.0.1", "port": port, "message": b"01234567"}
    if offset is not None:
        option["offset"] = offset
    if length is not None:
        option["length"] = length
    sender.send(option)
    assert messages.wait_for(1)[0]["message"] == expected


def test_offset_and_length_are_ignored_for_str(receiver: Pair, sender: UDPSocket) -> None:
    _sock, port, messages = receiver
    sender.send(
        {"address": "127.0.0.1", "port": port, "message": "abcdef", "offset": 99, "length": "x"}  # type: ignore[dict-item]
    )
    assert messages.wait_for(1)[0]["message"] == b"abcdef"


def test_taro_legacy_data_key_is_the_message(receiver: Pair, sender: UDPSocket) -> None:
    _sock, port, messages = receiver
    sender.send({"address": "127.0.0.1", "port": port, "data": b"legacy"})
    assert messages.wait_for(1)[0]["message"] == b"legacy"


def test_message_wins_over_data(receiver: Pair, sender: UDPSocket) -> None:
    _sock, port, messages = receiver
    sender.send({"address": "127.0.0.1", "port": port, "message": "m", "data": "d"})
    assert messages.wait_for(1)[0]["message"] == b"m"


def test_keyword_arguments_work_like_the_option_dict(receiver: Pair, sender: UDPSocket) -> None:
    _sock, port, messages = receiver
    sender.send(address="127.0.0.1", port=port, message="kw")
    sender.send({"address": "127.0.0.1", "port": port, "message": "dict"}, message="override")
    got = messages.wait_for(2)
    assert [p["message"] for p in got] == [b"kw", b"override"]


def test_extra_keys_in_the_option_dict_are_ignored(receiver: Pair, sender: UDPSocket) -> None:
    _sock, port, messages = receiver
    sender.send({"address": "127.0.0.1", "port": port, "message": "x", "timeout": 5, "foo": {}})  # type: ignore[dict-item]
    assert messages.wait_for(1)[0]["message"] == b"x"


def test_host_name_localhost_is_resolved(receiver: Pair, sender: UDPSocket) -> None:
    _sock, port, messages = receiver
    sender.send({"address": "localhost", "port": port, "message": "named"})
    assert messages.wait_for(1)[0]["message"] == b"named"


def test_largest_ipv4_datagram_arrives_whole(receiver: Pair, sender: UDPSocket) -> None:
    _sock, port, messages = receiver
    big = bytes(range(256)) * 255 + b"\x07" * 227  # 65,507 bytes: the IPv4 maximum
    assert len(big) == 65507
    sender.send({"address": "127.0.0.1", "port": port, "message": big})
    (payload,) = messages.wait_for(1)
    assert payload["message"] == big
    assert payload["remoteInfo"]["size"] == 65507


def test_success_then_complete_get_the_same_dict(
    receiver: Pair, sender: UDPSocket, recorder: Callable[[str], Recorder]
) -> None:
    _sock, port, _messages = receiver
    calls = recorder("callbacks")
    sender.send(
        {
            "address": "127.0.0.1",
            "port": port,
            "message": "x",
            "success": lambda r: calls(("success", r)),
            "fail": lambda r: calls(("fail", r)),
            "complete": lambda r: calls(("complete", r)),
        }
    )
    (first, second) = calls.wait_for(2)
    assert first == ("success", {"errMsg": "send:ok"})
    assert second[0] == "complete"
    assert second[1] is first[1]


def test_write_reports_write_ok(
    receiver: Pair, sender: UDPSocket, recorder: Callable[[str], Recorder]
) -> None:
    _sock, port, messages = receiver
    done = recorder("complete")
    sender.write({"address": "127.0.0.1", "port": port, "message": "w", "complete": done})
    assert done.wait_for(1) == [{"errMsg": "write:ok"}]
    assert messages.wait_for(1)[0]["message"] == b"w"


def test_success_runs_on_the_event_thread_after_send_returns(
    receiver: Pair, sender: UDPSocket, gate: Callable[[], EventThreadGate]
) -> None:
    _sock, port, _messages = receiver
    calls: List[int] = []
    done = threading.Event()

    def success(result: Any) -> None:
        calls.append(threading.get_ident())
        done.set()

    with gate() as held:
        sender.send({"address": "127.0.0.1", "port": port, "message": "x", "success": success})
        # The event thread is held: the callback cannot have run, though the send is done.
        assert calls == []
        held.release()
        assert done.wait(10), "success never ran"
    assert calls[0] != threading.get_ident()


def test_success_of_a_send_inside_a_listener_waits_for_the_listener(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    port = sock.bind()
    successes: List[Any] = []
    seen_during_listener = recorder("listener runs")

    def on_message(res: Any) -> None:
        if res["message"] == b"ping":
            sock.send(
                {
                    "address": "127.0.0.1",
                    "port": port,
                    "message": "pong",
                    "success": successes.append,
                }
            )
            seen_during_listener(list(successes))

    sock.onMessage(on_message)
    sock.send({"address": "127.0.0.1", "port": port, "message": "ping"})
    assert seen_during_listener.wait_for(1) == [[]]


def test_unbound_send_binds_first_and_emits_listening(
    receiver: Pair, sender: UDPSocket, recorder: Callable[[str], Recorder]
) -> None:
    sock, port, messages = receiver
    listening = recorder("listening")
    sender.onListening(listening)
    replies = recorder("replies")
    sender.onMessage(replies)
    sender.send({"address": "127.0.0.1", "port": port, "message": "hi"})
    assert listening.wait_for(1) == [{"errMsg": "bind:ok"}]
    remote = messages.wait_for(1)[0]["remoteInfo"]
    sock.send({"address": remote["address"], "port": remote["port"], "message": "reply"})
    assert replies.wait_for(1)[0]["message"] == b"reply"


def _to9(**fields: Any) -> Dict[str, Any]:
    """An option aimed at 127.0.0.1:9 with ``fields`` changed."""
    return {"address": "127.0.0.1", "port": 9, **fields}


BAD_SENDS = [
    ({"port": 9, "message": "x"}, "send:fail invalid address", 1),
    (_to9(address="", message="x"), "send:fail invalid address", 1),
    (_to9(address="not an ip..", message="x"), "send:fail invalid address", 1),
    (_to9(address=127001, message="x"), "send:fail invalid address", 1),
    (_to9(address="::1", message="x"), "send:fail invalid address", 1),
    ({"address": "127.0.0.1", "message": "x"}, "send:fail invalid port", 2),
    (_to9(port=0, message="x"), "send:fail invalid port", 2),
    (_to9(port=65536, message="x"), "send:fail invalid port", 2),
    (_to9(port="80", message="x"), "send:fail invalid port", 2),
    (_to9(port=True, message="x"), "send:fail invalid port", 2),
    (_to9(), "send:fail invalid message", -1),
    (_to9(message=42), "send:fail invalid message", -1),
    (_to9(message="\ud800"), "send:fail invalid message", -1),
    (_to9(message=b"ab", offset=3), "send:fail invalid offset", -1),
    (_to9(message=b"ab", offset=-1), "send:fail invalid offset", -1),
    (_to9(message=b"ab", offset=1.0), "send:fail invalid offset", -1),
    (_to9(message=b"ab", length=3), "send:fail invalid length", -1),
    (_to9(message=b"ab", offset=1, length=2), "send:fail invalid length", -1),
    (_to9(message=b"x" * 70000), "send:fail Message too long", -2),
]


@pytest.mark.parametrize(("option", "err_msg", "err_code"), BAD_SENDS)
def test_bad_send_calls_fail_complete_and_onerror(
    sender: UDPSocket,
    recorder: Callable[[str], Recorder],
    option: Dict[str, Any],
    err_msg: str,
    err_code: int,
) -> None:
    calls = recorder("callbacks")
    errors = recorder("errors")
    sender.onError(errors)
    merged: Dict[str, Any] = {
        **option,
        "success": lambda r: calls(("success", r)),
        "fail": lambda r: calls(("fail", r)),
        "complete": lambda r: calls(("complete", r)),
    }
    sender.send(merged)
    expected = {"errMsg": err_msg, "errCode": err_code}
    assert calls.wait_for(2) == [("fail", expected), ("complete", expected)]
    assert errors.wait_for(1) == [expected]


def test_write_failures_say_write(sender: UDPSocket, recorder: Callable[[str], Recorder]) -> None:
    errors = recorder("errors")
    sender.onError(errors)
    sender.write({"address": "127.0.0.1", "port": 70000, "message": "x"})
    assert errors.wait_for(1) == [{"errMsg": "write:fail invalid port", "errCode": 2}]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: s.send("127.0.0.1"), "option must be a dict"),
        (lambda s: s.send(["address"]), "option must be a dict"),
        (lambda s: s.send({}, adress="127.0.0.1"), "adress"),
        (lambda s: s.send({"message": "x", "success": "yes"}), "'success' must be callable"),
        (lambda s: s.write({"message": "x", "fail": 1}), "'fail' must be callable"),
        (lambda s: s.send(complete=object()), "'complete' must be callable"),
    ],
)
def test_programming_errors_raise_type_error(
    sender: UDPSocket, call: Callable[[UDPSocket], None], match: str
) -> None:
    with pytest.raises(TypeError, match=match):
        call(sender)


def test_error_without_onerror_listener_is_logged(
    sender: UDPSocket, caplog: pytest.LogCaptureFixture, recorder: Callable[[str], Recorder]
) -> None:
    done = recorder("complete")
    with caplog.at_level(logging.WARNING, logger="taro_udp"):
        sender.send({"address": "127.0.0.1", "port": 0, "message": "x", "complete": done})
        done.wait_for(1)
        # complete runs before the error event; wait for the log record too.
        closed = recorder("close")
        sender.onClose(closed)
        sender.close()
        closed.wait_for(1)
    assert any(
        "send:fail invalid port" in rec.getMessage() and rec.levelno == logging.WARNING
        for rec in caplog.records
    ), caplog.text


def test_broadcast_needs_set_broadcast(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    # 127.255.255.255 is the broadcast address of the loopback network: it never leaves lo.
    receiver = make_socket()
    port = receiver.bind()
    messages = recorder("messages")
    receiver.onMessage(messages)
    sender = make_socket()
    results = recorder("results")
    option: Dict[str, Any] = {
        "address": "127.255.255.255",
        "port": port,
        "message": "all",
        "complete": results,
    }
    sender.send(option)
    assert results.wait_for(1)[0] == {"errMsg": "send:fail Permission denied", "errCode": -3}
    sender.send({**option, "setBroadcast": True})  # type: ignore[dict-item]
    assert results.wait_for(2)[1] == {"errMsg": "send:ok"}
    assert messages.wait_for(1)[0]["message"] == b"all"
    assert messages.items[0]["localInfo"]["address"] == "127.255.255.255"
