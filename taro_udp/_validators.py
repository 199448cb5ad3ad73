"""Argument validators: small pure functions, one per kind of argument.

Each returns the normalised value or raises. A value that WeChat reports through
``fail``/``onError`` raises ``ArgumentError`` with WeChat's reason and errCode; a
programming error (a listener that is not callable, an option that is not a dict)
raises ``TypeError``/``ValueError`` naming the parameter and the bad value, as Node's
``lib/internal/validators.js`` does.
"""

from __future__ import annotations

from collections import abc
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Tuple, Union

if TYPE_CHECKING:  # annotation only: typing_extensions costs ~6 ms of import time
    from typing_extensions import TypeGuard

from ._errors import ERR_INVALID_PORT, ERR_SYSTEM, ArgumentError
from ._types import SocketType

__all__ = [
    "CONNECT_KEYS",
    "SEND_KEYS",
    "bind_port",
    "callback",
    "callbacks",
    "listener",
    "message",
    "option",
    "peer_port",
    "socket_options",
    "socket_type",
    "ttl",
]

# The keys of WeChat's SendOption plus Taro's legacy ``data``: the only keyword
# arguments ``send``/``write`` accept (keys inside an option dict are not checked).
SEND_KEYS = frozenset(
    {
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
)
CONNECT_KEYS = frozenset({"address", "port"})

_MAX_PORT = 65535
_MAX_TTL = 255
_MAX_BUFFER_SIZE = 2**31 - 1  # setsockopt takes a C int


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} (type {type(value).__name__})"


def socket_type(value: object) -> SocketType:
    """``createUDPSocket(type)``: ``"udp4"`` or ``"udp6"``; ``None`` (JS ``undefined``) is udp4."""
    if value is None or value == "udp4":
        return "udp4"
    if value == "udp6":
        return "udp6"
    if not isinstance(value, str):
        raise TypeError(f'type must be "udp4" or "udp6", got {_describe(value)}')
    raise ValueError(f'type must be "udp4" or "udp6", got {value!r}')


_BOOL_OPTIONS = ("reuseAddr", "ipv6Only")
_SIZE_OPTIONS = ("recvBufferSize", "sendBufferSize")


def socket_options(value: object, kind: SocketType) -> Dict[str, Any]:
    """``create_udp_socket(type, options)``: the options of Node's ``dgram.createSocket``.

    ``reuseAddr`` (SO_REUSEADDR), ``ipv6Only`` (udp6 only: turn dual stack off),
    ``recvBufferSize``/``sendBufferSize`` (bytes). This mapping is a Python extra, not
    ported JS, so an unknown key is a typo and raises ``TypeError``.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"options must be a dict, got {_describe(value)}")
    unknown = sorted(str(key) for key in value if key not in _BOOL_OPTIONS + _SIZE_OPTIONS)
    if unknown:
        raise TypeError(f"unknown socket option(s): {', '.join(unknown)}")
    for key in _BOOL_OPTIONS:
        if key in value and not isinstance(value[key], bool):
            raise TypeError(f"option {key} must be a bool, got {_describe(value[key])}")
    if value.get("ipv6Only") and kind != "udp6":
        raise ValueError("option ipv6Only applies to udp6 sockets only")
    for key in _SIZE_OPTIONS:
        size = value.get(key)
        if size is not None and (not _is_int(size) or not 0 < size <= _MAX_BUFFER_SIZE):
            raise ValueError(
                f"option {key} must be an int from 1 to {_MAX_BUFFER_SIZE}, got {_describe(size)}"
            )
    return {str(key): item for key, item in value.items()}


def _is_int(value: object) -> TypeGuard[int]:
    # JS code passes numbers; Python's bool is an int but never a meaningful port or TTL.
    return isinstance(value, int) and not isinstance(value, bool)


def bind_port(value: object) -> int:
    """``bind(port)``: 0–65535, where 0 or ``None`` lets the OS pick."""
    if value is None:
        return 0
    if not _is_int(value) or not 0 <= value <= _MAX_PORT:
        raise ArgumentError("invalid port", ERR_INVALID_PORT)
    return int(value)


def peer_port(value: object) -> int:
    """The port of a peer (``send``/``write``/``connect``): 1–65535."""
    if type(value) is int and 0 < value <= _MAX_PORT:  # type(), not isinstance: no bool
        return value
    if not _is_int(value) or not 1 <= value <= _MAX_PORT:
        raise ArgumentError("invalid port", ERR_INVALID_PORT)
    return int(value)


def ttl(value: object) -> int:
    """``setTTL(ttl)``: 0–255 (whether the OS accepts 0 is the OS's business)."""
    if not _is_int(value) or not 0 <= value <= _MAX_TTL:
        raise ArgumentError("invalid ttl", ERR_SYSTEM)
    return int(value)


def message(
    value: object, offset: object = None, length: object = None
) -> Union[bytes, memoryview]:
    """The datagram of ``send``/``write``: the bytes to put on the wire.

    ``str`` is encoded as UTF-8 and ``offset``/``length`` are ignored, as WeChat documents
    them for ArrayBuffer messages only. Binary messages are sliced without copying.
    """
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates have no UTF-8 form
            raise ArgumentError("invalid message", ERR_SYSTEM) from None
    if isinstance(value, bytes) and offset is None and length is None:
        return value  # the common case, kept free of memoryview overhead
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ArgumentError("invalid message", ERR_SYSTEM)
    try:
        view = memoryview(value).cast("B")
    except (TypeError, ValueError):  # non-contiguous or released views
        raise ArgumentError("invalid message", ERR_SYSTEM) from None
    size = len(view)
    start = 0 if offset is None else offset
    if not _is_int(start) or not 0 <= start <= size:
        raise ArgumentError("invalid offset", ERR_SYSTEM)
    rest = size - start
    count = rest if length is None else length
    if not _is_int(count) or not 0 <= count <= rest:
        raise ArgumentError("invalid length", ERR_SYSTEM)
    return view[start : start + count]


def listener(value: object, method: str) -> None:
    """``on*(listener)``: must be callable."""
    if not callable(value):
        raise TypeError(f"{method}() listener must be callable, got {_describe(value)}")


def callback(options: Mapping[str, Any], name: str, method: str) -> Optional[Callable[[Any], Any]]:
    """``success``/``fail``/``complete`` of an option: absent/``None`` or a callable."""
    value = options.get(name)
    if value is None or callable(value):
        return value
    raise TypeError(f"{method}() option {name!r} must be callable, got {_describe(value)}")


def callbacks(options: Mapping[str, Any], method: str) -> Tuple[Any, Any, Any]:
    """``success``, ``fail`` and ``complete`` of an option, checked as ``callback`` does."""
    get = options.get
    found = (get("success"), get("fail"), get("complete"))
    if found[0] is not None or found[1] is not None or found[2] is not None:
        for name in ("success", "fail", "complete"):
            callback(options, name, method)
    return found


def option(
    value: object, fields: Mapping[str, Any], method: str, allowed: frozenset[str]
) -> Mapping[str, Any]:
    """Merge ``method(option, **fields)`` into one mapping; keyword arguments win.

    Unknown keys inside the dict are ignored (JS ignores extra object fields), but an
    unknown keyword argument is a typo in Python code and raises ``TypeError``.
    """
    if type(value) is dict and not fields:  # the common case, first: send() is hot
        return value
    if value is None:
        value = {}
    # collections.abc, not typing: typing.Mapping's isinstance is several times slower.
    elif not isinstance(value, abc.Mapping):
        raise TypeError(f"{method}() option must be a dict, got {_describe(value)}")
    if not fields:
        return value
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise TypeError(f"{method}() got unexpected keyword argument(s): {', '.join(unknown)}")
    return {**value, **fields}
