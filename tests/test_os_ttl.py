"""setTTL on the wire: a raw receiver reads the TTL / hop limit of each datagram."""

from __future__ import annotations

import socket
import struct
from typing import Any, Callable, Iterator, Optional

import pytest

from taro_udp import UDPSocket

from ._helpers import WAIT, Recorder

IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
IP_TTL = socket.IP_TTL
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)


@pytest.fixture
def ttl_reader() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(WAIT)
    yield sock
    sock.close()


@pytest.fixture
def hop_reader() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
    sock.bind(("::1", 0))
    sock.settimeout(WAIT)
    yield sock
    sock.close()


def _received_ttl(reader: socket.socket, level: int, kind: int) -> Optional[int]:
    _data, ancdata, _flags, _addr = reader.recvmsg(2048, socket.CMSG_SPACE(4))
    for cmsg_level, cmsg_type, value in ancdata:
        if cmsg_level == level and cmsg_type == kind:
            ttl: int = struct.unpack("i", value[:4])[0]
            return ttl
    return None


@pytest.mark.parametrize("ttl", [1, 64, 255])
def test_set_ttl_sets_the_ip_ttl_of_sent_datagrams(
    make_socket: Callable[..., UDPSocket], ttl_reader: socket.socket, ttl: int
) -> None:
    sock = make_socket()
    sock.setTTL(ttl)
    sock.send({"address": "127.0.0.1", "port": ttl_reader.getsockname()[1], "message": "t"})
    assert _received_ttl(ttl_reader, socket.IPPROTO_IP, IP_TTL) == ttl


def test_set_ttl_in_on_listening_like_the_wechat_sample(
    make_socket: Callable[..., UDPSocket], ttl_reader: socket.socket
) -> None:
    sock = make_socket()
    sock.onListening(lambda res: sock.setTTL(7))
    sock.onListening(
        lambda res: sock.send(
            {"address": "127.0.0.1", "port": ttl_reader.getsockname()[1], "message": "t"}
        )
    )
    sock.bind()
    assert _received_ttl(ttl_reader, socket.IPPROTO_IP, IP_TTL) == 7


def test_set_ttl_on_udp6_sets_the_hop_limit(
    make_socket: Callable[..., UDPSocket], hop_reader: socket.socket
) -> None:
    sock = make_socket("udp6")
    sock.setTTL(9)
    sock.send({"address": "::1", "port": hop_reader.getsockname()[1], "message": "h"})
    assert _received_ttl(hop_reader, socket.IPPROTO_IPV6, IPV6_HOPLIMIT) == 9


@pytest.mark.parametrize("ttl", [-1, 256, "64", 64.0, True, None])
def test_invalid_ttl_is_reported_not_raised(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder], ttl: Any
) -> None:
    sock = make_socket()
    errors = recorder("errors")
    sock.onError(errors)
    sock.setTTL(ttl)
    assert errors.wait_for(1) == [{"errMsg": "setTTL:fail invalid ttl", "errCode": -1}]


def test_ttl_zero_refused_by_the_os_is_errcode_minus_2(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    errors = recorder("errors")
    sock.onError(errors)
    sock.setTTL(0)  # Linux refuses IP_TTL 0
    assert errors.wait_for(1) == [{"errMsg": "setTTL:fail Invalid argument", "errCode": -2}]
