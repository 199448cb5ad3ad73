"""SPEC §1: entry points, aliases, exported types and UDPSocketError."""

from __future__ import annotations

import errno
import pickle
from typing import Any, Callable, Iterator, Mapping

import pytest

import taro_udp
from taro_udp import UDPSocket, UDPSocketError, _transport

from .transports import transport  # noqa: F401 - every test on both transports


def test_create_udp_socket_defaults_to_udp4(make_socket: Callable[..., UDPSocket]) -> None:
    sock = make_socket()
    assert isinstance(sock, UDPSocket)
    assert "udp4" in repr(sock)


@pytest.mark.parametrize("kind", [None, "udp4"])
def test_none_and_udp4_make_an_ipv4_socket(kind: Any) -> None:
    with taro_udp.create_udp_socket(kind) as sock:
        assert "udp4" in repr(sock)


def test_udp6_makes_an_ipv6_socket() -> None:
    with taro_udp.create_udp_socket("udp6") as sock:
        assert "udp6" in repr(sock)


@pytest.mark.parametrize("kind", ["udp", "UDP4", "tcp", ""])
def test_unknown_type_string_raises_value_error(kind: str) -> None:
    with pytest.raises(ValueError, match="udp4"):
        taro_udp.create_udp_socket(kind)


@pytest.mark.parametrize("kind", [4, b"udp4", ["udp4"], True])
def test_non_string_type_raises_type_error(kind: Any) -> None:
    with pytest.raises(TypeError, match="udp4"):
        taro_udp.create_udp_socket(kind)


@pytest.mark.parametrize(
    "factory",
    [
        taro_udp.create_udp_socket,
        taro_udp.createUDPSocket,
        taro_udp.wx.createUDPSocket,
        taro_udp.Taro.createUDPSocket,
    ],
    ids=["create_udp_socket", "createUDPSocket", "wx", "Taro"],
)
def test_every_entry_point_returns_a_udpsocket(factory: Callable[..., UDPSocket]) -> None:
    with factory("udp6") as sock:
        assert isinstance(sock, UDPSocket)
        assert "udp6" in repr(sock)


@pytest.fixture
def refusing_os() -> Iterator[None]:
    def refuse(family: int, options: Mapping[str, Any]) -> _transport.Transport:
        raise OSError(errno.EMFILE, "Too many open files")

    previous = _transport.set_transport_factory(refuse)
    yield
    _transport.set_transport_factory(previous)


@pytest.mark.usefixtures("refusing_os")
def test_os_refusing_a_socket_raises_udpsocketerror() -> None:
    with pytest.raises(UDPSocketError) as info:
        taro_udp.create_udp_socket()
    assert isinstance(info.value, OSError)
    assert info.value.errMsg == "createUDPSocket:fail Too many open files"
    assert info.value.errCode == -2
    assert info.value.errno == errno.EMFILE


def test_udpsocketerror_carries_wechat_fields_and_pickles() -> None:
    err = UDPSocketError("bind:fail Address already in use", -2, errno.EADDRINUSE)
    assert isinstance(err, OSError)
    assert (err.errMsg, err.errCode, err.errno) == ("bind:fail Address already in use", -2, 98)
    assert "errCode -2" in str(err)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.errMsg, copy.errCode, copy.errno) == (err.errMsg, err.errCode, err.errno)


def test_typeddicts_have_wechat_keys() -> None:
    def keys(cls: Any) -> set[str]:
        return set(cls.__annotations__)

    assert keys(taro_udp.RemoteInfo) == {"address", "family", "port", "size"}
    assert keys(taro_udp.LocalInfo) == {"address", "family", "port"}
    assert keys(taro_udp.OnMessageCallbackResult) == {"message", "remoteInfo", "localInfo"}
    assert keys(taro_udp.OnErrorCallbackResult) == {"errMsg", "errCode"}
    assert keys(taro_udp.CallbackResult) == {"errMsg", "errCode"}
    assert keys(taro_udp.ConnectOption) == {"address", "port"}
    assert keys(taro_udp.SendOption) == {
        "address",
        "port",
        "message",
        "data",
        "offset",
        "length",
        "setBroadcast",
        "success",
        "fail",
        "complete",
    }


def test_options_reuse_addr_lets_two_sockets_share_a_port(
    make_socket: Callable[..., UDPSocket],
) -> None:
    first = make_socket("udp4", {"reuseAddr": True})
    port = first.bind(address="127.0.0.1")
    second = make_socket("udp4", {"reuseAddr": True})
    assert second.bind(port, address="127.0.0.1") == port


def test_without_reuse_addr_a_shared_port_is_in_use(make_socket: Callable[..., UDPSocket]) -> None:
    first = make_socket()
    port = first.bind(address="127.0.0.1")
    with pytest.raises(UDPSocketError) as info:
        make_socket().bind(port, address="127.0.0.1")
    assert info.value.errCode == -2
    assert info.value.errno == errno.EADDRINUSE


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"reuseaddr": True}, TypeError),
        ({"reuseAddr": 1}, TypeError),
        ({"ipv6Only": True}, ValueError),  # on a udp4 socket
        ({"recvBufferSize": 0}, ValueError),
        ({"sendBufferSize": "big"}, ValueError),
        (["reuseAddr"], TypeError),
    ],
)
def test_bad_options_raise(options: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        taro_udp.create_udp_socket("udp4", options)


def test_buffer_size_options_are_accepted(make_socket: Callable[..., UDPSocket]) -> None:
    sock = make_socket("udp6", {"recvBufferSize": 1 << 20, "sendBufferSize": 1 << 16})
    assert sock.bind(address="::1") > 0
