"""Strategies and the expected-outcome model of the hostile-input tests (SPEC §2, §4).

Addresses are generated so that no test ever reaches DNS or another host: IP literals
(loopback, wildcard, documentation and link-local ones, IPv6 with zones), malformed and
IDNA-invalid names, huge names, NUL bytes, the empty string and non-strings. On top of
that the tests run under ``NumericOnlyResolver``, which refuses every non-numeric lookup
except ``localhost``. A datagram is only ever sent to one of the test's own sinks: when
the model says a call will reach the wire, the address is a loopback literal and the
port is replaced by the sink's port (the value of a valid port does not change the
outcome).
"""

from __future__ import annotations

import array
import ipaddress
import socket
from typing import Any, Dict, List, Optional, Tuple, Union

from hypothesis import strategies as st

ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT"})()

# The largest UDP payload: 65,535 - 8 (UDP) - 20 (IPv4) / - 0 (IPv6 has a separate header).
MAX_V4 = 65507
MAX_V6 = 65527

Expected = Union[Tuple[str], Tuple[str, str, int]]


class Opaque:
    """An object of a type no API accepts."""

    def __repr__(self) -> str:
        return "<Opaque>"


def _released_view() -> memoryview:
    view = memoryview(b"released")
    view.release()
    return view


# Values of every type, for arguments that take one type only.
anything: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.binary(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.tuples(st.integers()),
    st.builds(Opaque),
    st.builds(object),
    st.just(float("inf")),
    st.complex_numbers(allow_nan=False, max_magnitude=10),
    st.frozensets(st.integers(), max_size=2),
)

# -- ports -----------------------------------------------------------------------------

ports: st.SearchStrategy[Any] = st.one_of(
    st.integers(min_value=-70000, max_value=140000),
    st.sampled_from([0, 1, 65535, 65536, -1, 2**31, 2**64, True, False, 80.0, "80", b"80"]),
    anything,
)


def valid_peer_port(value: object) -> bool:
    return type(value) is int and 1 <= value <= 65535


def valid_bind_port(value: object) -> bool:
    return value is None or (type(value) is int and 0 <= value <= 65535)


# -- addresses ---------------------------------------------------------------------------

LOOPBACK_LITERALS = [
    "127.0.0.1",
    "127.1",
    "0x7f.1",
    "0177.0.0.1",
    "::1",
    "0:0:0:0:0:0:0:1",
    "::ffff:127.0.0.1",
    "localhost",
]
OTHER_LITERALS = [
    "0.0.0.0",
    "::",
    "192.0.2.1",
    "2001:db8::1",
    "fe80::1%lo",
    "fe80::1%1",
    "255.255.255.255",
    "224.0.0.1",
    "::ffff:192.0.2.1",
    "127.0.0.2",
]
MALFORMED = [
    "",
    "\x00",
    "127.0.0.1\x00",
    "\x00127.0.0.1",
    "::1\x00",
    "a..b",
    ".",
    "..",
    "a" * 64 + ".invalid",
    "a" * 64,
    "a." * 130,
    "x" * 10_000,
    "256.256.256.256",
    "1.2.3.4.5",
    "127.0.0.1 ",
    " 127.0.0.1",
    "127.0.0.1\n",
    "::1::1",
    ":::",
    "[::1]",
    "::1%",
    "::1%lo",
    "fe80::1%",
    "fe80::1%no-such-zone-0",
    "fe80::1%" + "z" * 300,
    "fe80::1%\x00",
    "-a.b",
    "a_b..",
    "\u2603..invalid",
    "xn--.invalid",
    "\ud800",
    "127.0.0.1:80",
]
zones = st.one_of(
    st.sampled_from(["lo", "1", "0", "", "%", "eth0", "x" * 64, "\x00", "\u00e9", "-1"]),
    st.text(max_size=8),
)
zoned = st.builds(
    lambda ip, zone: f"{ip}%{zone}", st.sampled_from(["fe80::1", "::1", "fe80::", "ff02::1"]), zones
)

addresses: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(LOOPBACK_LITERALS),
    st.sampled_from(OTHER_LITERALS),
    st.sampled_from(MALFORMED),
    zoned,
    st.text(max_size=40),
    st.text(alphabet="0123456789abcdefx.:%", max_size=45),
    st.none(),
    st.binary(max_size=16),
    st.just(b"127.0.0.1"),
    st.integers(),
    st.builds(Opaque),
    st.lists(st.text(max_size=3), max_size=2),
)


def classify(host: object, family: int) -> Tuple[str, Optional[str]]:
    """``("invalid", None)`` or ``(kind, address)``: what the host resolves to.

    ``kind`` is ``"loop4"`` (127.0.0.1, plain or IPv4-mapped), ``"loop6"`` (::1) or
    ``"other"`` (anything else: the tests never send there). Uses the numeric resolver
    only (plus ``localhost``): names are "unresolvable" in these tests, which is
    errCode 1 per SPEC §4.
    """
    if not isinstance(host, str) or not host or "\x00" in host:
        return ("invalid", None)
    flags = socket.AI_V4MAPPED if family == socket.AF_INET6 else 0
    if host != "localhost":
        flags |= socket.AI_NUMERICHOST
    try:
        infos = socket.getaddrinfo(host, None, family, socket.SOCK_DGRAM, 0, flags)
    except (OSError, UnicodeError, ValueError):
        return ("invalid", None)
    found = [info[4] for info in infos if info[0] == family]
    if not found:
        return ("invalid", None)
    text = str(found[0][0])
    address = ipaddress.ip_address(text.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address == ipaddress.ip_address("127.0.0.1"):
        return ("loop4", text)
    if address == ipaddress.ip_address("::1"):
        return ("loop6", text)
    return ("other", text)


# -- messages ------------------------------------------------------------------------------


def _pattern(size: int, seed: int) -> bytes:
    block = bytes((seed + i) % 251 for i in range(251))
    return (block * (size // 251 + 1))[:size]


MessageCase = Tuple[Any, Optional[bytes]]  # (value, its bytes when binary/str, else None)


def _sized(size: int, seed: int, kind: str) -> MessageCase:
    data = _pattern(size, seed)
    if kind == "bytes":
        return (data, data)
    if kind == "bytearray":
        return (bytearray(data), data)
    return (memoryview(data), data)


def _view_case(kind: str) -> MessageCase:
    if kind == "released":
        return (_released_view(), None)
    if kind == "strided":
        return (memoryview(b"abcdefgh")[::2], None)
    if kind == "ints":
        ints = array.array("i", [1, -2, 3])
        return (memoryview(ints), ints.tobytes())
    if kind == "2d":
        return (memoryview(b"abcdef").cast("B", (2, 3)), b"abcdef")
    if kind == "slice":
        return (memoryview(b"0123456789")[2:7], b"23456")
    return (memoryview(b""), b"")


def _text_case(text: str) -> MessageCase:
    try:
        return (text, text.encode("utf-8"))
    except UnicodeEncodeError:
        return (text, None)


messages: st.SearchStrategy[MessageCase] = st.one_of(
    st.binary(max_size=64).map(lambda b: (b, b)),
    st.builds(
        _sized,
        st.one_of(
            st.integers(min_value=0, max_value=70_000),
            st.sampled_from([0, 1, MAX_V4, MAX_V4 + 1, MAX_V6, MAX_V6 + 1, 65535, 70_000]),
        ),
        st.integers(min_value=0, max_value=250),
        st.sampled_from(["bytes", "bytearray", "memoryview"]),
    ),
    st.sampled_from(["released", "strided", "ints", "2d", "slice", "empty"]).map(_view_case),
    st.text(max_size=30).map(_text_case),
    st.sampled_from(["\ud800", "a\udfffb", "\x00\x1b[31m", "\u2603" * 20_000]).map(_text_case),
    anything.filter(lambda v: not isinstance(v, (str, bytes))).map(lambda v: (v, None)),
)

offsets: st.SearchStrategy[Any] = st.one_of(
    st.just(ABSENT),
    st.none(),
    st.integers(min_value=-3, max_value=70_005),
    st.sampled_from([True, False, 1.0, "1", 2**70, -(2**70)]),
    anything,
)


def expected_payload(
    value: Any, raw: Optional[bytes], offset: Any, length: Any
) -> Union[bytes, Tuple[str, int]]:
    """The bytes ``send`` puts on the wire, or the ``(reason, errCode)`` it reports."""
    if value is None or raw is None:
        return ("invalid message", -1)
    if isinstance(value, str):
        return raw  # offset/length apply to binary messages only
    off = None if offset is ABSENT else offset
    count = None if length is ABSENT else length
    start = 0 if off is None else off
    if type(start) is not int or not 0 <= start <= len(raw):
        return ("invalid offset", -1)
    rest = len(raw) - start
    size = rest if count is None else count
    if type(size) is not int or not 0 <= size <= rest:
        return ("invalid length", -1)
    return raw[start : start + size]


def flags_of(value: Any) -> bool:
    """``setBroadcast`` as the library reads it (JS truthiness)."""
    return bool(value)


def drop_absent(option: Dict[str, Any]) -> Dict[str, Any]:
    return {key: value for key, value in option.items() if value is not ABSENT}


class CallLog:
    """Records the callbacks and events of one call, in order."""

    def __init__(self) -> None:
        self.events: List[Tuple[str, Any]] = []

    def callback(self, name: str, raises: bool) -> Any:
        def record(result: Any) -> None:
            self.events.append((name, result))
            if raises:
                raise RuntimeError(f"{name} raised on purpose")

        return record
