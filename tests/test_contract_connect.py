"""SPEC §2 connect and write: one peer, Taro's legacy send shape, errors via onError."""

from __future__ import annotations

from typing import Any, Callable, Dict

import pytest

from taro_udp import UDPSocket

from ._helpers import Recorder
from .transports import transport  # noqa: F401 - every test on both transports


def test_connected_send_without_address_goes_to_the_peer(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    peer = make_socket()
    messages = recorder("messages")
    peer.onMessage(messages)
    port = peer.bind()
    sock = make_socket()
    sock.connect({"address": "127.0.0.1", "port": port})
    results = recorder("results")
    # Taro's legacy SendOption shape: {data, success} on a connected socket.
    sock.send({"data": "legacy", "success": results})
    sock.write({"message": b"written", "complete": results})
    assert results.wait_for(2) == [{"errMsg": "send:ok"}, {"errMsg": "write:ok"}]
    assert [m["message"] for m in messages.wait_for(2)] == [b"legacy", b"written"]


def test_connect_binds_first_and_emits_listening(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    listening = recorder("listening")
    sock.onListening(listening)
    sock.connect(address="127.0.0.1", port=9)
    assert listening.wait_for(1) == [{"errMsg": "bind:ok"}]


def test_connected_socket_receives_only_from_its_peer(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    messages = recorder("messages")
    sock.onMessage(messages)
    port = sock.bind()
    peer, stranger = make_socket(), make_socket()
    peer_port = peer.bind()
    sock.connect({"address": "127.0.0.1", "port": peer_port})
    # The stranger's datagram is sent first: were it accepted, it would arrive first.
    stranger.send({"address": "127.0.0.1", "port": port, "message": "stranger"})
    peer.send({"address": "127.0.0.1", "port": port, "message": "peer"})
    peer.send({"address": "127.0.0.1", "port": port, "message": "peer again"})
    got = messages.wait_for(2)
    assert [m["message"] for m in got] == [b"peer", b"peer again"]
    assert got[0]["remoteInfo"]["port"] == peer_port


def test_write_on_unconnected_socket_without_address_fails(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    results = recorder("results")
    sock.write({"message": "x", "fail": results})
    assert results.wait_for(1) == [{"errMsg": "write:fail invalid address", "errCode": 1}]


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (
            {"address": "127.0.0.1", "port": 0},
            {"errMsg": "connect:fail invalid port", "errCode": 2},
        ),
        ({"address": "127.0.0.1"}, {"errMsg": "connect:fail invalid port", "errCode": 2}),
        ({"address": "", "port": 9}, {"errMsg": "connect:fail invalid address", "errCode": 1}),
        ({"port": 9}, {"errMsg": "connect:fail invalid address", "errCode": 1}),
        ({"address": "::1", "port": 9}, {"errMsg": "connect:fail invalid address", "errCode": 1}),
    ],
)
def test_connect_errors_go_to_onerror_not_raised(
    make_socket: Callable[..., UDPSocket],
    recorder: Callable[[str], Recorder],
    option: Dict[str, Any],
    expected: Dict[str, Any],
) -> None:
    sock = make_socket()
    errors = recorder("errors")
    sock.onError(errors)
    sock.connect(option)  # must not raise
    assert errors.wait_for(1) == [expected]


def test_connect_with_non_mapping_option_is_a_type_error(
    make_socket: Callable[..., UDPSocket],
) -> None:
    with pytest.raises(TypeError, match="option must be a dict"):
        make_socket().connect("127.0.0.1:9")  # type: ignore[call-overload]


def test_peer_gone_reports_receive_error_and_receiving_goes_on(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    gone = make_socket()
    gone_port = gone.bind(address="127.0.0.1")
    gone.close()
    sock = make_socket()
    errors = recorder("errors")
    messages = recorder("messages")
    sock.onError(errors)
    sock.onMessage(messages)
    sock.connect({"address": "127.0.0.1", "port": gone_port})
    sock.send({"message": "anyone?"})  # ICMP port unreachable comes back
    assert errors.wait_for(1) == [{"errMsg": "receive:fail Connection refused", "errCode": -2}]
    # Receiving goes on: the peer comes back on the same port and is heard.
    back = make_socket()
    back.bind(gone_port, address="127.0.0.1")
    back.send({"address": "127.0.0.1", "port": _port_of(sock, back, recorder), "message": "back"})
    assert messages.wait_for(1)[0]["message"] == b"back"


def _port_of(sock: UDPSocket, helper: UDPSocket, recorder: Callable[[str], Recorder]) -> int:
    # Learn sock's port the WeChat way: it sends to the helper, the helper sees remoteInfo.
    seen = recorder("probe")
    helper.onMessage(seen)
    sock.send({"message": "probe"})
    port: int = seen.wait_for(1)[0]["remoteInfo"]["port"]
    return port
