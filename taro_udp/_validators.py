"""Argument validators: small pure functions, one per kind of argument.

Each returns the normalised value or raises. A value that WeChat reports through
``fail``/``onError`` raises ``ArgumentError`` with WeChat's reason and errCode; a
programming error (a listener that is not callable, an option that is not a dict)
raises ``TypeError``/``ValueError`` naming the parameter and the bad value, as Node's
``lib/internal/validators.js`` does.

Every value is normalised here, once, to an exact built-in type (SPEC §6), and the rest
of the library only ever sees the normalised value. The caller's object is read with
base-class calls (``int.__index__(x)``, ``str.__str__(x)``, ``dict.items(x)``) that
bypass whatever a subclass overrides, so a hostile ``__eq__``, ``__hash__``, ``__int__``,
``__lt__``, ``encode`` or ``__repr__`` never runs, and anything that has to call the
caller's code (``operator.index``, a non-dict mapping) is guarded so that its exception
becomes the documented outcome, never escapes. ``isinstance`` is not used on caller
values either: it consults a ``__class__`` attribute, which an object may fake or make
raise; ``type(x)`` and ``issubclass(type(x), ...)`` cannot be fooled.

Numbers (ports, TTL, offset, length, buffer sizes), as JS numbers arrive in Python:

- an exact ``int``: itself;
- an ``int`` subclass (``IntEnum`` members, or hostile ones): its int value, read with
  ``int.__index__`` so that no override runs;
- ``bool`` and every ``float`` (even ``8080.0``): rejected, as SPEC §4 says ("not an
  int") and as Python's own ``socket`` module does;
- any other object: ``operator.index(value)`` (NumPy integers pass); if that raises,
  the value is rejected with the documented error of its argument.
"""

from __future__ import annotations

import operator
from collections import abc
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union, cast

from ._errors import ERR_INVALID_ADDRESS, ERR_INVALID_PORT, ERR_SYSTEM, ArgumentError
from ._types import SocketType

__all__ = [
    "CONNECT_KEYS",
    "SEND_KEYS",
    "address",
    "bind_port",
    "broadcast_flag",
    "callback",
    "callbacks",
    "describe",
    "integer",
    "listener",
    "message",
    "option",
    "peer_port",
    "socket_options",
    "socket_type",
    "text",
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

# -- describing a bad value (for TypeError/ValueError texts) ------------------------------

# ``type.__name__`` read through type's own descriptor: a metaclass cannot override it.
_type_name_of: Callable[[type], object] = type.__dict__["__name__"].__get__
# Built-in types whose repr runs no caller code (checked by identity: ``in`` would call
# a metaclass's ``__eq__``/``__hash__``).
_REPR_SAFE: Tuple[type, ...] = (type(None), bool, int, float, complex, str, bytes, bytearray)
_MAX_DESCRIBED = 60


def _type_name(kind: type) -> str:
    name = _type_name_of(kind)
    return name if type(name) is str else str.__str__(cast(str, name))


def describe(value: object) -> str:
    """A short description of ``value`` for an error text; never runs the value's code.

    Built-in scalars show their (shortened) repr, e.g. ``'udp5' (type str)``; anything
    else only its type, e.g. ``an object of type Opaque``: a ``__repr__`` that raises,
    hangs or lies has no say in an error message.
    """
    kind = type(value)
    name = _type_name(kind)
    if not any(kind is safe for safe in _REPR_SAFE):
        return f"an object of type {name}"
    if kind is int and cast(int, value).bit_length() > 200:
        # repr of a huge int is slow (quadratic) or refused (Python 3.11+ digit limit).
        return f"an int of {cast(int, value).bit_length()} bits (type int)"
    if kind is str or kind is bytes or kind is bytearray:
        value = cast(Union[str, bytes], value)[: _MAX_DESCRIBED + 1]  # repr of a prefix only
    text = repr(value)
    if len(text) > _MAX_DESCRIBED:
        text = text[: _MAX_DESCRIBED - 3] + "..."
    return f"{text} (type {name})"


# -- exact built-in types ---------------------------------------------------------------


def text(value: object) -> Optional[str]:
    """``value`` as an exact ``str``, or ``None`` when it is not a string.

    A ``str`` subclass is copied to a plain ``str`` by ``str.__str__``, which runs none of
    the subclass's methods.
    """
    if type(value) is str:
        return value
    if issubclass(type(value), str):
        return str.__str__(cast(str, value))
    return None


def integer(value: object) -> Optional[int]:
    """``value`` as an exact ``int``, or ``None`` when it is not an integer.

    See the module docstring: ``int`` subclasses give their int value (no override
    runs), ``bool`` and floats are not integers, other objects go through
    ``operator.index`` and any exception it raises means "not an integer".
    """
    if type(value) is int:
        return value
    kind = type(value)
    if kind is bool or issubclass(kind, float):
        return None
    if issubclass(kind, int):
        return int.__index__(cast(int, value))
    try:
        # Catches DeprecationWarning too (an __index__ returning an int subclass, with
        # warnings as errors), and whatever a hostile __index__ raises.
        result = operator.index(value)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - the caller's code: any failure means "not an int"
        return None
    # Python 3.8/3.9 may hand back an int subclass (from __index__) unchanged.
    return result if type(result) is int else int.__index__(result)


# -- createUDPSocket ----------------------------------------------------------------------


def socket_type(value: object) -> SocketType:
    """``createUDPSocket(type)``: ``"udp4"`` or ``"udp6"``; ``None`` (JS ``undefined``) is udp4.

    A ``str`` subclass counts by its text; a non-string raises ``TypeError``, any other
    string ``ValueError``.
    """
    if value is None:
        return "udp4"
    name = text(value)
    if name is None:
        raise TypeError(f'type must be "udp4" or "udp6", got {describe(value)}')
    if name == "udp4":
        return "udp4"
    if name == "udp6":
        return "udp6"
    raise ValueError(f'type must be "udp4" or "udp6", got {describe(name)}')


_BOOL_OPTIONS = ("reuseAddr", "ipv6Only")
_SIZE_OPTIONS = ("recvBufferSize", "sendBufferSize")
_SOCKET_OPTIONS = _BOOL_OPTIONS + _SIZE_OPTIONS


def socket_options(value: object, kind: SocketType) -> Dict[str, Any]:
    """``create_udp_socket(type, options)``: the options of Node's ``dgram.createSocket``.

    ``reuseAddr`` (SO_REUSEADDR), ``ipv6Only`` (udp6 only: turn dual stack off),
    ``recvBufferSize``/``sendBufferSize`` (bytes, integers as for ports). This mapping is
    a Python extra, not ported JS, so an unknown key (or a key that is not a string) is
    a typo and raises ``TypeError``, as does a mapping that cannot be read. Returns a
    plain dict of the options given, with exact ``bool``/``int`` values.
    """
    if value is None:
        return {}
    given = _plain_dict(value, "create_udp_socket() options", skip_non_str=False)
    unknown = sorted(key for key in given if key not in _SOCKET_OPTIONS)
    if unknown:
        raise TypeError(f"unknown socket option(s): {', '.join(unknown)}")
    for key in _BOOL_OPTIONS:
        if key in given and type(given[key]) is not bool:
            raise TypeError(f"option {key} must be a bool, got {describe(given[key])}")
    if given.get("ipv6Only") is True and kind != "udp6":
        raise ValueError("option ipv6Only applies to udp6 sockets only")
    for key in _SIZE_OPTIONS:
        size = given.get(key)
        if size is None:
            continue
        number = integer(size)
        if number is None or not 0 < number <= _MAX_BUFFER_SIZE:
            raise ValueError(
                f"option {key} must be an int from 1 to {_MAX_BUFFER_SIZE}, got {describe(size)}"
            )
        given[key] = number
    return given


# -- ports, ttl, addresses ----------------------------------------------------------------


def bind_port(value: object) -> int:
    """``bind(port)``: an integer 0–65535, where 0 or ``None`` lets the OS pick."""
    if value is None:
        return 0
    number = integer(value)
    if number is None or not 0 <= number <= _MAX_PORT:
        raise ArgumentError("invalid port", ERR_INVALID_PORT)
    return number


def peer_port(value: object) -> int:
    """The port of a peer (``send``/``write``/``connect``): an integer 1–65535."""
    if type(value) is int and 0 < value <= _MAX_PORT:  # the common case, first
        return value
    number = integer(value)
    if number is None or not 1 <= number <= _MAX_PORT:
        raise ArgumentError("invalid port", ERR_INVALID_PORT)
    return number


def ttl(value: object) -> int:
    """``setTTL(ttl)``: an integer 0–255 (whether the OS accepts 0 is the OS's business)."""
    number = integer(value)
    if number is None or not 0 <= number <= _MAX_TTL:
        raise ArgumentError("invalid ttl", ERR_SYSTEM)
    return number


def address(value: object) -> str:
    """The ``address`` of a call as an exact ``str`` (resolving it is ``_addresses``' job).

    A non-string is ``ArgumentError("invalid address", 1)``.
    """
    host = text(value)
    if host is None:
        raise ArgumentError("invalid address", ERR_INVALID_ADDRESS)
    return host


# -- send / write ----------------------------------------------------------------------


def message(
    value: object, offset: object = None, length: object = None
) -> Union[bytes, memoryview]:
    """The datagram of ``send``/``write``: the bytes to put on the wire.

    ``str`` (or a subclass, by its text) is encoded as UTF-8 and ``offset``/``length``
    are ignored, as WeChat documents them for ArrayBuffer messages only. Binary messages
    (``bytes``, ``bytearray``, ``memoryview``) are sliced without copying; a subclass of
    ``bytes``/``bytearray`` is copied first, so none of its methods runs later.
    ``offset``/``length`` are integers as for ports.
    """
    kind = type(value)
    if kind is bytes and offset is None and length is None:
        return cast(bytes, value)  # the common case, kept free of memoryview overhead
    if kind is str:
        return _utf8(cast(str, value))
    if kind is not bytes and kind is not bytearray and kind is not memoryview:
        if issubclass(kind, str):
            return _utf8(str.__str__(cast(str, value)))
        if not issubclass(kind, (bytes, bytearray)):
            raise ArgumentError("invalid message", ERR_SYSTEM)
        value = _copy_bytes(value)
    try:
        view = memoryview(cast(bytes, value)).cast("B")
    except (TypeError, ValueError):  # non-contiguous or released views
        raise ArgumentError("invalid message", ERR_SYSTEM) from None
    size = len(view)
    start = 0 if offset is None else integer(offset)
    if start is None or not 0 <= start <= size:
        raise ArgumentError("invalid offset", ERR_SYSTEM)
    rest = size - start
    count = rest if length is None else integer(length)
    if count is None or not 0 <= count <= rest:
        raise ArgumentError("invalid length", ERR_SYSTEM)
    return view[start : start + count]


def _utf8(value: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates have no UTF-8 form
        raise ArgumentError("invalid message", ERR_SYSTEM) from None


def _copy_bytes(value: object) -> bytes:
    # A bytes/bytearray subclass may define __buffer__/__release_buffer__ (Python 3.12+),
    # which run the caller's code: take one guarded copy and never touch it again.
    try:
        with memoryview(cast(bytes, value)) as view:
            return view.tobytes()
    except Exception:  # noqa: BLE001 - the caller's code: any failure is a bad message
        raise ArgumentError("invalid message", ERR_SYSTEM) from None


def broadcast_flag(value: object) -> bool:
    """``setBroadcast``: JS truthiness of a JSON-like value, computed without its code.

    ``None`` (absent) is ``False``; a ``bool`` is itself; an integer (as for ports,
    subclasses and NumPy integers included) is true unless 0; a float (or subclass) is
    true unless 0 or NaN; a string (or subclass) is true unless empty — the JS rules,
    so ``"false"`` is true, as in JS. Any other value (a list, an object, an object
    whose ``__bool__`` raises) is ``ArgumentError("invalid setBroadcast", -1)``.
    """
    if value is None or value is False:
        return False
    if value is True:
        return True
    kind = type(value)
    if issubclass(kind, str):
        return str.__len__(cast(str, value)) != 0
    if issubclass(kind, float):
        number = float.__float__(cast(float, value))
        return number != 0.0 and number == number  # NaN is falsy in JS
    found = integer(value)
    if found is None:
        raise ArgumentError("invalid setBroadcast", ERR_SYSTEM)
    return found != 0


# -- listeners and callbacks --------------------------------------------------------------


def listener(value: object, method: str) -> None:
    """``on*(listener)``: must be callable (``callable()`` runs none of its code)."""
    if not callable(value):
        raise TypeError(f"{method}() listener must be callable, got {describe(value)}")


def callback(options: Mapping[str, Any], name: str, method: str) -> Optional[Callable[[Any], Any]]:
    """``success``/``fail``/``complete`` of an option: absent/``None`` or a callable.

    Only ``is None`` and ``callable()`` look at the value: a callable with a ``__len__``
    or a ``__bool__`` is never truth-tested.
    """
    value = options.get(name)
    if value is None or callable(value):
        return cast(Optional[Callable[[Any], Any]], value)
    raise TypeError(f"{method}() option {name!r} must be callable, got {describe(value)}")


def callbacks(options: Mapping[str, Any], method: str) -> Tuple[Any, Any, Any]:
    """``success``, ``fail`` and ``complete`` of an option, checked as ``callback`` does.

    ``options`` is what ``option()`` returned.
    """
    get = options.get
    found = (get("success"), get("fail"), get("complete"))
    if found[0] is not None or found[1] is not None or found[2] is not None:
        for name in ("success", "fail", "complete"):
            callback(options, name, method)
    return found


# -- the option of send / write / connect ---------------------------------------------------


def option(
    value: object, fields: Mapping[str, Any], method: str, allowed: frozenset[str]
) -> Dict[str, Any]:
    """Merge ``method(option, **fields)`` into one plain dict; keyword arguments win.

    The result is a ``dict`` whose keys are all exact ``str``, so looking a key up in it
    runs no caller code. A plain ``dict`` with string keys (the common case) is returned
    as it is; a ``dict`` subclass is read with ``dict.items`` (its overrides never run)
    and any other ``Mapping`` through its own methods, guarded: a mapping that cannot be
    read raises ``TypeError``, like a non-mapping. Keys that are not strings are ignored
    without being hashed or compared (JS object keys are strings), as are unknown keys
    (JS ignores extra object fields); ``str`` subclass keys count by their text. An
    unknown keyword argument is a typo in Python code and raises ``TypeError``.
    """
    if type(value) is dict and not fields:  # the common case, first: send() is hot
        try:
            for key in value:
                if type(key) is not str:
                    break
            else:
                return value
        except RuntimeError:  # changed size during iteration (another thread)
            pass
    where = f"{method}() option"
    plain = {} if value is None else _plain_dict(value, where, skip_non_str=True)
    if not fields:
        return plain
    named = _plain_dict(fields, f"{method}() keyword arguments", skip_non_str=True)
    unknown = sorted(key for key in named if key not in allowed)
    if unknown:
        raise TypeError(f"{method}() got unexpected keyword argument(s): {', '.join(unknown)}")
    plain.update(named)
    return plain


def _plain_dict(value: object, where: str, *, skip_non_str: bool) -> Dict[str, Any]:
    """A plain dict with exact ``str`` keys holding the items of the mapping ``value``.

    ``skip_non_str``: drop keys that are not strings (else: ``TypeError`` naming them).
    """
    pairs: Iterable[Tuple[object, Any]]
    if issubclass(type(value), dict):
        # dict.items iterates the storage itself: no __iter__/__getitem__ override runs,
        # and no key is hashed or compared.
        try:
            pairs = list(dict.items(cast(Dict[object, Any], value)))
        except RuntimeError:  # changed size during iteration (another thread)
            raise TypeError(f"{where} changed while being read") from None
    else:
        pairs = _mapping_items(value, where)
    result: Dict[str, Any] = {}
    for key, item in pairs:
        name = text(key)
        if name is None:
            if skip_non_str:
                continue
            raise TypeError(f"{where}: keys must be strings, got {describe(key)}")
        result[name] = item
    return result


def _mapping_items(value: object, where: str) -> List[Tuple[object, Any]]:
    # A Mapping that is not a dict: its own methods are the only way to read it.
    # isinstance() may run the caller's code too (a __class__ property, an ABC hook).
    try:
        is_mapping = isinstance(value, abc.Mapping)
    except Exception:  # noqa: BLE001 - the caller's code
        is_mapping = False
    if not is_mapping:
        raise TypeError(f"{where} must be a dict, got {describe(value)}")
    mapping = cast(Mapping[object, Any], value)
    try:
        # Only string keys are looked up; other keys are passed on without touching them.
        return [(key, mapping[key] if issubclass(type(key), str) else None) for key in mapping]
    except Exception:  # noqa: BLE001 - the caller's code: a mapping that cannot be read
        raise TypeError(f"{where} could not be read as a dict: {describe(value)}") from None
