"""SPEC §2 bind: returns the port, emits listening, raises *and* reports failures."""

from __future__ import annotations

import errno
import socket
import threading
from typing import Any, Callable, Optional

import pytest

from taro_udp import UDPSocket, UDPSocketError
from taro_udp._socket import BIND_ADDRESS_ENV
from taro_udp.testing import SimulatedNetwork

from ._helpers import Recorder
from .transports import transport  # noqa: F401 - every test on both transports


def test_bind_without_port_returns_an_os_chosen_port(
    make_socket: Callable[..., UDPSocket],
) -> None:
    port = make_socket().bind()
    assert isinstance(port, int)
    assert 1 <= port <= 65535


@pytest.mark.parametrize("port", [None, 0])
def test_bind_none_or_zero_lets_the_os_pick(
    make_socket: Callable[..., UDPSocket], port: Any
) -> None:
    assert make_socket().bind(port) > 0


def test_bind_a_given_port_returns_it(make_socket: Callable[..., UDPSocket]) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    free = probe.getsockname()[1]
    probe.close()
    assert make_socket().bind(free) == free


def test_bind_emits_listening_on_the_event_thread(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    listening = recorder("listening")
    sock.onListening(listening)
    sock.bind()
    assert listening.wait_for(1) == [{"errMsg": "bind:ok"}]
    assert listening.threads[0] != threading.get_ident()


def test_bind_binds_all_interfaces_by_default(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    messages = recorder("messages")
    sock.onMessage(messages)
    port = sock.bind()
    sender = make_socket()
    for address in ("127.0.0.1", "127.0.0.3"):
        sender.send({"address": address, "port": port, "message": address})
    got = messages.wait_for(2)
    assert sorted(p["localInfo"]["address"] for p in got) == ["127.0.0.1", "127.0.0.3"]


def test_bind_address_keyword_binds_one_interface(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    port = sock.bind(address="127.0.0.1")
    # Another socket can take the same port on another loopback address: ours is not wildcard.
    other = make_socket()
    assert other.bind(port, address="127.0.0.2") == port
    assert "127.0.0.1" in repr(sock)


def test_bind_address_environment_variable_sets_the_default(
    make_socket: Callable[..., UDPSocket],
    monkeypatch: pytest.MonkeyPatch,
    transport: Optional[SimulatedNetwork],  # noqa: F811 - the autouse fixture
) -> None:
    monkeypatch.setenv(BIND_ADDRESS_ENV, "127.0.0.1")
    sock = make_socket()
    port = sock.bind()
    # The variable keeps a harness's OS sockets on one interface; on the simulated
    # network it does not apply (wildcard-bound devices would not hear broadcasts).
    expected = "127.0.0.1" if transport is None else "0.0.0.0"
    assert f"{expected}:{port}" in repr(sock)
    monkeypatch.delenv(BIND_ADDRESS_ENV)
    wildcard = make_socket()
    assert "0.0.0.0" in repr(wildcard) or wildcard.bind() > 0


@pytest.mark.parametrize("port", [-1, 65536, "80", 1.5, True, [80]])
def test_invalid_port_raises_and_reports_errcode_2(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder], port: Any
) -> None:
    sock = make_socket()
    errors = recorder("errors")
    sock.onError(errors)
    with pytest.raises(UDPSocketError) as info:
        sock.bind(port)
    assert (info.value.errMsg, info.value.errCode) == ("bind:fail invalid port", 2)
    assert errors.wait_for(1) == [{"errMsg": "bind:fail invalid port", "errCode": 2}]
    assert sock.bind() > 0, "a failed bind leaves the socket usable"


@pytest.mark.parametrize("address", ["", "nonsense..", "::1", "300.1.1.1", "127.0.0.1\x00"])
def test_invalid_address_raises_and_reports_errcode_1(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder], address: str
) -> None:
    sock = make_socket()
    errors = recorder("errors")
    sock.onError(errors)
    with pytest.raises(UDPSocketError) as info:
        sock.bind(address=address)
    assert (info.value.errMsg, info.value.errCode) == ("bind:fail invalid address", 1)
    assert errors.wait_for(1) == [{"errMsg": "bind:fail invalid address", "errCode": 1}]


def test_port_in_use_raises_os_error_text_and_errcode_minus_2(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    port = make_socket().bind()
    sock = make_socket()
    errors = recorder("errors")
    sock.onError(errors)
    with pytest.raises(UDPSocketError) as info:
        sock.bind(port)
    assert info.value.errMsg == "bind:fail Address already in use"
    assert info.value.errCode == -2
    assert info.value.errno == errno.EADDRINUSE
    assert errors.wait_for(1) == [{"errMsg": "bind:fail Address already in use", "errCode": -2}]


def test_binding_twice_raises_already_bound(
    make_socket: Callable[..., UDPSocket], recorder: Callable[[str], Recorder]
) -> None:
    sock = make_socket()
    errors = recorder("errors")
    sock.onError(errors)
    sock.bind()
    with pytest.raises(UDPSocketError) as info:
        sock.bind()
    assert (info.value.errMsg, info.value.errCode) == ("bind:fail socket is already bound", -1)
    assert errors.wait_for(1) == [{"errMsg": "bind:fail socket is already bound", "errCode": -1}]


def test_bind_after_close_raises_socket_is_closed(
    make_socket: Callable[..., UDPSocket],
) -> None:
    sock = make_socket()
    sock.close()
    with pytest.raises(UDPSocketError, match="bind:fail socket is closed"):
        sock.bind()
