"""Unit tests of the pure pieces: validators, addresses, results, errors, registry."""

from __future__ import annotations

import errno
import socket
from typing import Any, Dict, List

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


# -- hostile values (issue 11 §1, SPEC §6): normalised to exact built-ins, no caller code --


class _BoomError(Exception):
    pass


def _boom(*args: object) -> Any:
    raise _BoomError()


class _HostileInt(int):
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __int__ = __index__ = __repr__ = _boom
    __hash__ = _boom


class _HostileStr(str):
    __eq__ = __hash__ = __contains__ = __getitem__ = __str__ = __repr__ = _boom
    encode = _boom  # type: ignore[assignment]


class _KeyStr(str):
    """A str subclass usable as a dict key (str's hash) whose other methods raise."""

    __eq__ = __ne__ = __contains__ = __getitem__ = __str__ = __repr__ = _boom
    encode = _boom  # type: ignore[assignment]
    __hash__ = str.__hash__


class _Index:
    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


class _RaisingIndex:
    __index__ = __repr__ = _boom
    __class__ = property(_boom)


def _type_id(value: object) -> str:
    # pytest would repr/encode a parameter for its id: hostile ones must not be touched.
    return type(value).__name__


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, 7),
        (_HostileInt(7), 7),
        (_Index(7), 7),
        (True, None),
        (7.0, None),
        ("7", None),
        (_RaisingIndex, None),
        (None, None),
    ],
    ids=_type_id,
)
def test_integer_normalises_without_running_overrides(value: Any, expected: Any) -> None:
    if value is _RaisingIndex:  # made here: pytest's isinstance() would meet its __class__
        value = _RaisingIndex()
    result = _validators.integer(value)
    assert result == expected
    assert result is None or type(result) is int


def test_text_copies_str_subclasses_to_exact_str() -> None:
    result = _validators.text(_HostileStr("127.0.0.1"))
    assert type(result) is str
    assert str.__eq__(str(result), "127.0.0.1") is True
    assert _validators.text(b"127.0.0.1") is None
    assert _validators.text(_RaisingIndex()) is None


def test_number_validators_accept_int_subclasses_by_value_and_reject_floats() -> None:
    assert _validators.bind_port(_HostileInt(80)) == 80
    assert _validators.peer_port(_Index(80)) == 80
    assert _validators.ttl(_HostileInt(64)) == 64
    for bad in (80.0, _RaisingIndex(), _HostileStr("80")):
        with pytest.raises(ArgumentError, match="invalid port"):
            _validators.peer_port(bad)
        with pytest.raises(ArgumentError, match="invalid ttl"):
            _validators.ttl(bad)


def test_message_reads_subclasses_through_the_base_class() -> None:
    class HostileBytes(bytes):
        __len__ = __getitem__ = __iter__ = __eq__ = __hash__ = _boom

    assert _validators.message(_HostileStr("hi"), _RaisingIndex(), 1) == b"hi"
    sliced = _validators.message(HostileBytes(b"0123"), _HostileInt(1), _Index(2))
    assert bytes(sliced) == b"12"
    with pytest.raises(ArgumentError, match="invalid offset"):
        _validators.message(b"0123", _RaisingIndex())
    with pytest.raises(ArgumentError, match="invalid length"):
        _validators.message(b"0123", 0, 4.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (False, False),
        (True, True),
        (0, False),
        (2, True),
        (_HostileInt(0), False),
        (_Index(1), True),
        (0.0, False),
        (float("nan"), False),
        (0.5, True),
        ("", False),
        ("false", True),  # JS truthiness
        (_HostileStr(""), False),
    ],
    ids=_type_id,
)
def test_broadcast_flag_is_js_truthiness_of_json_like_values(value: Any, expected: bool) -> None:
    assert _validators.broadcast_flag(value) is expected


@pytest.mark.parametrize("value", [[1], {}, b"1", object(), _RaisingIndex], ids=_type_id)
def test_broadcast_flag_rejects_other_values_with_errcode_minus_1(value: Any) -> None:
    if value is _RaisingIndex:
        value = _RaisingIndex()
    with pytest.raises(ArgumentError) as info:
        _validators.broadcast_flag(value)
    assert (info.value.reason, info.value.code) == ("invalid setBroadcast", -1)


def test_describe_never_runs_the_value_s_code() -> None:
    assert _validators.describe(_RaisingIndex()) == "an object of type _RaisingIndex"
    assert _validators.describe(_HostileStr("x")) == "an object of type _HostileStr"
    assert _validators.describe("udp5") == "'udp5' (type str)"
    assert "bits" in _validators.describe(10**5000)
    assert len(_validators.describe(b"x" * 10**6)) < 100


def test_option_copies_dicts_with_foreign_keys_without_comparing_them() -> None:
    class KeyLikePort:
        def __hash__(self) -> int:
            return hash("port")

        __eq__ = _boom

    option: Dict[Any, Any] = {KeyLikePort(): 1}
    option[_KeyStr("address")] = "127.0.0.1"
    result = _validators.option(option, {}, "send", _validators.SEND_KEYS)
    assert type(result) is dict
    assert [type(key) for key in result] == [str]
    assert result.get("port") is None
    assert result["address"] == "127.0.0.1"


def test_option_reads_dict_subclasses_by_their_storage() -> None:
    class Hostile(dict):  # type: ignore[type-arg]
        get = __getitem__ = __iter__ = keys = items = __contains__ = __len__ = _boom

    result = _validators.option(Hostile(port=5), {"message": b"x"}, "send", _validators.SEND_KEYS)
    assert result == {"port": 5, "message": b"x"}
    assert type(result) is dict


def test_option_keyword_names_count_by_their_text() -> None:
    fields: Dict[str, Any] = {_KeyStr("port"): 5}
    assert _validators.option(None, fields, "send", _validators.SEND_KEYS) == {"port": 5}
    with pytest.raises(TypeError, match="bogus"):
        _validators.option(None, {_KeyStr("bogus"): 1}, "send", _validators.SEND_KEYS)


def test_option_rejects_unreadable_mappings_and_fake_dicts_with_typeerror() -> None:
    import collections.abc

    class Unreadable(collections.abc.Mapping):  # type: ignore[type-arg]
        __getitem__ = __len__ = _boom

        def __iter__(self) -> Any:
            return iter(["port"])

    class FakeDict:
        __class__ = property(lambda self: dict)

    for value in (Unreadable(), FakeDict(), _RaisingIndex()):
        with pytest.raises(TypeError):
            _validators.option(value, {}, "send", _validators.SEND_KEYS)


def test_callbacks_never_truth_test_a_callback() -> None:
    class Falsy:
        __bool__ = __len__ = __eq__ = __repr__ = _boom

        def __call__(self, result: Any) -> None:
            pass

    falsy = Falsy()
    assert _validators.callbacks({"success": falsy}, "send") == (falsy, None, None)


def test_socket_options_normalise_keys_and_sizes() -> None:
    options = {_KeyStr("recvBufferSize"): _HostileInt(4096), "reuseAddr": True}
    result = _validators.socket_options(options, "udp4")
    assert result == {"recvBufferSize": 4096, "reuseAddr": True}
    assert {type(key) for key in result} == {str}
    assert type(result["recvBufferSize"]) is int
    with pytest.raises(TypeError, match="keys must be strings"):
        _validators.socket_options({_RaisingIndex(): 1}, "udp4")


def test_registry_survives_listeners_whose_eq_raises() -> None:
    class EqCallable:
        __eq__ = _boom
        __hash__ = _boom

        def __call__(self, result: Any) -> None:
            pass

    registry: ListenerRegistry[Any] = ListenerRegistry()
    hostile = EqCallable()
    registry.add(hostile)
    registry.add(print)
    registry.add(hostile)
    assert registry.listeners == (hostile, print)
    registry.remove(EqCallable())  # never added: a no-op
    registry.remove(_RaisingIndex())  # not callable: a no-op
    registry.remove(print)
    registry.remove(hostile)
    assert not registry.has_listeners()


def test_registry_compares_outside_its_lock() -> None:
    registry: ListenerRegistry[Any] = ListenerRegistry()

    class Reentrant:
        def __eq__(self, other: object) -> bool:
            registry.add(len)  # would deadlock if compared under the lock
            return False

        __hash__ = object.__hash__

        def __call__(self, result: Any) -> None:
            pass

    registry.add(Reentrant())
    registry.add(print)
    assert registry.listeners[1:] == (len, print)


def test_peer_cache_is_keyed_by_normalised_values(monkeypatch: pytest.MonkeyPatch) -> None:
    class TwoFacedPort(int):
        def __int__(self) -> int:
            return 2

    monkeypatch.setattr(_addresses, "_peers", {})
    host = _HostileStr("127.0.0.1")
    assert _addresses.peer(host, TwoFacedPort(1), socket.AF_INET) == ("127.0.0.1", 1)
    assert _addresses.peer("127.0.0.1", 1, socket.AF_INET) == ("127.0.0.1", 1)
    assert [(type(key[0]), type(key[1])) for key in _addresses._peers] == [(str, int)]
