"""Unit tests of the pure pieces: validators, addresses, results, errors, registry."""

from __future__ import annotations

import errno
import socket
from typing import Any, List

import pytest

from taro_udp import _addresses, _errors, _results, _validators
from taro_udp._errors import ArgumentError
from taro_udp._registry import ListenerRegistry


@pytest.mark.parametrize(("value", "expected"), [(None, 0), (0, 0), (1, 1), (65535, 65535)])
def test_bind_port_accepts_0_to_65535(value: Any, expected: int) -> None:
    assert _validators.bind_port(value) == expected


@pytest.mark.parametrize("value", [-1, 65536, 1.0, "1", True, False, b"1"])
def test_bind_port_rejects_with_errcode_2(value: Any) -> None:
    with pytest.raises(ArgumentError) as info:
        _validators.bind_port(value)
    assert (info.value.reason, info.value.code) == ("invalid port", 2)


@pytest.mark.parametrize("value", [None, 0, 65536, True, "80"])
def test_peer_port_needs_1_to_65535(value: Any) -> None:
    with pytest.raises(ArgumentError, match="invalid port"):
        _validators.peer_port(value)


@pytest.mark.parametrize("value", [-1, 256, 1.5, "1", True])
def test_ttl_rejects_with_errcode_minus_1(value: Any) -> None:
    with pytest.raises(ArgumentError) as info:
        _validators.ttl(value)
    assert (info.value.reason, info.value.code) == ("invalid ttl", -1)


def test_message_returns_bytes_without_copying_views() -> None:
    buf = bytearray(b"0123456789")
    view = _validators.message(buf, 2, 3)
    assert bytes(view) == b"234"
    buf[2] = ord("X")
    assert bytes(view) == b"X34", "binary messages are sliced, not copied"


def test_message_accepts_multibyte_memoryviews_as_bytes() -> None:
    import array

    ints = array.array("H", [1, 2])
    assert bytes(_validators.message(memoryview(ints))) == ints.tobytes()


def test_socket_type_rules() -> None:
    assert _validators.socket_type(None) == "udp4"
    assert _validators.socket_type("udp6") == "udp6"
    with pytest.raises(ValueError, match="'udp5'"):
        _validators.socket_type("udp5")
    with pytest.raises(TypeError, match="type int"):
        _validators.socket_type(6)


def test_long_bad_values_are_shortened_in_messages() -> None:
    with pytest.raises(TypeError) as info:
        _validators.listener("x" * 500, "onMessage")
    assert len(str(info.value)) < 140


@pytest.mark.parametrize(
    ("host", "family", "expected"),
    [
        ("127.0.0.1", socket.AF_INET, ("127.0.0.1", 5)),
        ("127.0.0.1", socket.AF_INET6, ("::ffff:127.0.0.1", 5, 0, 0)),
        ("::1", socket.AF_INET6, ("::1", 5, 0, 0)),
        ("localhost", socket.AF_INET, ("127.0.0.1", 5)),
    ],
)
def test_resolve(host: str, family: int, expected: Any) -> None:
    assert _addresses.resolve(host, 5, family) == expected


def test_resolve_keeps_the_zone_of_link_local_literals() -> None:
    sockaddr = _addresses.resolve("fe80::1%lo", 5, socket.AF_INET6)
    assert sockaddr[:2] == ("fe80::1", 5)
    assert sockaddr[3] == socket.if_nametoindex("lo")


@pytest.mark.parametrize(
    ("host", "family"),
    [
        ("", socket.AF_INET),
        ("1.2.3.4\x00", socket.AF_INET),
        ("::1", socket.AF_INET),
        ("a..b", socket.AF_INET),  # IDNA: empty label, rejected before any lookup
        ("x" * 64 + ".test", socket.AF_INET),  # label too long
        ("fe80::1%no-such-if", socket.AF_INET6),
        ("\ud800", socket.AF_INET),  # a lone surrogate has no UTF-8 form
        (None, socket.AF_INET),
        (b"127.0.0.1", socket.AF_INET),
    ],
)
def test_resolve_rejects_with_errcode_1(host: Any, family: int) -> None:
    with pytest.raises(ArgumentError) as info:
        _addresses.resolve(host, 5, family)
    assert (info.value.reason, info.value.code) == ("invalid address", 1)


def test_literal_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_addresses, "_LITERAL_CACHE_MAX", 4)
    monkeypatch.setattr(_addresses, "_literals", {})
    for i in range(10):
        _addresses.resolve(f"127.0.0.{i}", 1, socket.AF_INET)
    assert len(_addresses._literals) <= 4


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (OSError(errno.EADDRINUSE, "Address already in use"), ("Address already in use", -2)),
        (OSError(errno.EACCES, "Permission denied"), ("Permission denied", -3)),
        (OSError(errno.EPERM, "Operation not permitted"), ("Operation not permitted", -3)),
        (OSError(errno.EMSGSIZE, ""), ("Message too long", -2)),
        (OSError("no errno"), ("no errno", -2)),
    ],
)
def test_from_os_error(exc: OSError, expected: Any) -> None:
    assert _errors.from_os_error(exc) == expected


def test_results() -> None:
    assert _results.success("send") == {"errMsg": "send:ok"}
    assert _results.failure("bind", "invalid port", 2) == {
        "errMsg": "bind:fail invalid port",
        "errCode": 2,
    }
    assert _results.listener_failure("onMessage", ValueError("x")) == {
        "errMsg": "onMessage:fail ValueError: x",
        "errCode": -1,
    }


def test_registry_keeps_order_and_ignores_duplicates() -> None:
    registry: ListenerRegistry[Any] = ListenerRegistry()
    calls: List[int] = []
    first: Any = calls.append
    second: Any = calls.extend
    registry.add(first)
    registry.add(second)
    registry.add(first)
    assert list(registry.listeners) == [first, second]
    registry.remove(calls.append)  # an equal bound method
    assert list(registry.listeners) == [second]
    registry.remove(print)
    assert list(registry.listeners) == [second]
    registry.remove()
    assert list(registry.listeners) == []


def test_peer_checks_address_before_port_and_caches_literals_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_addresses, "_peers", {})
    assert _addresses.peer("127.0.0.1", 1, socket.AF_INET) == ("127.0.0.1", 1)
    with pytest.raises(ArgumentError, match="invalid port"):
        _addresses.peer("127.0.0.1", True, socket.AF_INET)  # equal to 1, still not a port
    with pytest.raises(ArgumentError, match="invalid address"):
        _addresses.peer("", 0, socket.AF_INET)  # both bad: the address is reported
    assert _addresses.peer("localhost", 2, socket.AF_INET) == ("127.0.0.1", 2)
    assert set(_addresses._peers) == {("127.0.0.1", 1, socket.AF_INET)}
