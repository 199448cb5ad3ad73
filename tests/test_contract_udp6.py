"""udp6 sockets: IPv6 payloads and the dual stack (IPv4 peers as IPv4-mapped addresses)."""

from __future__ import annotations

from typing import Callable

from taro_udp import UDPSocket

from ._helpers import Recorder
from .transports import transport  # noqa: F401 - every test on both transports


def test_udp6_round_trip_on_ipv6_loopback(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    receiver = make_socket("udp6")
    messages = recorder("messages")
    receiver.onMessage(messages)
    port = receiver.bind()
    sender = make_socket("udp6")
    sender_port = sender.bind()
    sender.send({"address": "::1", "port": port, "message": "v6"})
    (payload,) = messages.wait_for(1)
    assert payload == {
        "message": b"v6",
        "remoteInfo": {"address": "::1", "family": "IPv6", "port": sender_port, "size": 2},
        "localInfo": {"address": "::1", "family": "IPv6", "port": port},
    }


def test_udp6_is_dual_stack_and_shows_ipv4_peers_mapped(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    receiver = make_socket("udp6")
    messages = recorder("messages")
    receiver.onMessage(messages)
    port = receiver.bind()
    sender = make_socket("udp4")
    replies = recorder("replies")
    sender.onMessage(replies)
    sender.send({"address": "127.0.0.1", "port": port, "message": "from v4"})
    (payload,) = messages.wait_for(1)
    assert payload["remoteInfo"]["address"] == "::ffff:127.0.0.1"
    assert payload["remoteInfo"]["family"] == "IPv6"
    assert payload["localInfo"]["address"] == "::ffff:127.0.0.1"
    # Replying to remoteInfo as given reaches the IPv4 peer.
    remote = payload["remoteInfo"]
    receiver.send({"address": remote["address"], "port": remote["port"], "message": "back"})
    assert replies.wait_for(1)[0]["remoteInfo"]["address"] == "127.0.0.1"


def test_udp6_accepts_ipv4_addresses(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    receiver = make_socket("udp4")
    messages = recorder("messages")
    receiver.onMessage(messages)
    port = receiver.bind()
    make_socket("udp6").send({"address": "127.0.0.1", "port": port, "message": "to v4"})
    assert messages.wait_for(1)[0]["message"] == b"to v4"


def test_udp6_bind_to_ipv6_loopback_only(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket("udp6")
    port = sock.bind(address="::1")
    assert f"::1:{port}" in repr(sock)


def test_ipv6_only_option_turns_the_dual_stack_off(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket("udp6", {"ipv6Only": True})
    errors = recorder("errors")
    sock.onError(errors)
    sock.send({"address": "127.0.0.1", "port": 9, "message": "x"})
    (error,) = errors.wait_for(1)
    assert error["errCode"] == -2  # the OS refuses IPv4 on an IPv6-only socket


def test_udp4_rejects_ipv6_addresses(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket("udp4")
    errors = recorder("errors")
    sock.onError(errors)
    sock.send({"address": "::1", "port": 9, "message": "x"})
    assert errors.wait_for(1) == [{"errMsg": "send:fail invalid address", "errCode": 1}]
