"""Hostile values (issue 11 §1, SPEC §6): every bad value gets its documented answer.

The values here are subclasses of ``int``/``str``/``bytes``/``dict``/``float`` and plain
objects whose dunders raise (comparison, conversion, hashing, ``__index__``, ``__bool__``,
``__repr__``, ``encode``, a ``__class__`` that raises, ...). Whatever they override, the
library reads them with base-class calls, so (see ``taro_udp._validators``):

- an ``int`` subclass is its int value, a ``str`` subclass its text, a ``bytes`` subclass
  its bytes, a ``dict`` subclass its stored items: none of their methods ever runs;
- ``bool`` and floats are not integers; another object is an integer when
  ``operator.index`` gives one, and any exception it raises makes it a bad value;
- a bad value gets the errCode of its argument (``fail``/``complete``/``onError`` for
  send/write/connect/setTTL, ``UDPSocketError`` for bind), a programming error
  ``TypeError``/``ValueError``, and ``off*`` of a stranger is a no-op.

The object's own exception (``BoomError``) never escapes and never becomes the reported
reason. Specs are drawn as plain data and the hostile object is built inside the test,
so hypothesis and pytest never have to repr one.
"""

from __future__ import annotations

import math
import socket
import sys
import threading
from typing import Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import taro_udp
from taro_udp import UDPSocket, UDPSocketError

from ._helpers import WAIT
from ._reliability_util import barrier

HOSTILE = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)


class BoomError(Exception):
    """What every hostile dunder raises: it must never escape the library."""


def _raiser(name: str) -> Callable[..., Any]:
    def method(self: object, *args: object, **kwargs: object) -> Any:
        raise BoomError(name)

    method.__name__ = name
    return method


# Dunders that might be consulted on an argument. ``__del__`` and ``__release_buffer__``
# are left out: their exceptions are "unraisable" by design, whoever releases the object.
COMMON_DUNDERS = (
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__hash__",
    "__bool__",
    "__len__",
    "__repr__",
    "__str__",
    "__format__",
    "__class__",
    "__getattribute__",
    "__reduce__",
    "__copy__",
)
NUMBER_DUNDERS = (
    *COMMON_DUNDERS,
    "__index__",
    "__int__",
    "__float__",
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__neg__",
    "__abs__",
    "__and__",
    "__rshift__",
)
TEXT_DUNDERS = (
    *COMMON_DUNDERS,
    "encode",
    "__contains__",
    "__getitem__",
    "__iter__",
    "__add__",
    "__mod__",
    "split",
    "strip",
    "startswith",
    "__buffer__",
)
MAPPING_DUNDERS = (
    *COMMON_DUNDERS,
    "__getitem__",
    "__iter__",
    "__contains__",
    "get",
    "keys",
    "items",
    "values",
    "copy",
    "__or__",
    "__ror__",
)
BASES: Dict[str, type] = {
    "int": int,
    "str": str,
    "bytes": bytes,
    "bytearray": bytearray,
    "float": float,
    "dict": dict,
    "object": object,
}

# (base, value, dunders that raise, what __index__ does: None, "raise" or an int).
Spec = Tuple[str, Any, FrozenSet[str], Any]


def build(spec: Spec, call: Optional[Callable[..., Any]] = None) -> Any:
    """The hostile object a spec describes."""
    base_name, value, dunders, index = spec
    base = BASES[base_name]
    namespace: Dict[str, Any] = {}
    for name in dunders:
        namespace[name] = _raiser(name)
    if "__class__" in dunders:
        namespace["__class__"] = property(_raiser("__class__"))
    if "__eq__" in dunders and "__hash__" not in dunders:
        namespace["__hash__"] = base.__hash__  # defining __eq__ alone unsets it
    if index == "raise":
        namespace["__index__"] = _raiser("__index__")
    elif index is not None:
        namespace["__index__"] = lambda self: index
    if call is not None:
        namespace["__call__"] = lambda self, *args: call(*args)
    cls = type(f"Hostile{base_name.title()}", (base,), namespace)
    return cls() if base is object else cls(value)


def dunder_sets(names: Tuple[str, ...]) -> st.SearchStrategy[FrozenSet[str]]:
    return st.frozensets(st.sampled_from(names), min_size=1, max_size=6)


def int_specs(values: List[Any]) -> st.SearchStrategy[Spec]:
    """Integer-like hostile values: int subclasses, floats, objects with an __index__."""
    return st.one_of(
        st.tuples(st.just("int"), st.sampled_from(values), dunder_sets(NUMBER_DUNDERS), st.none()),
        st.tuples(
            st.just("float"),
            st.sampled_from([1.0, 0.0, 2.5, math.nan]),
            dunder_sets(NUMBER_DUNDERS),
            st.none(),
        ),
        st.tuples(
            st.just("object"),
            st.none(),
            dunder_sets(COMMON_DUNDERS),
            st.one_of(st.just("raise"), st.sampled_from(values)),
        ),
        st.tuples(
            st.sampled_from(["str", "bytes"]), st.just("1"), dunder_sets(TEXT_DUNDERS), st.none()
        ).map(lambda s: (s[0], s[1] if s[0] == "str" else b"1", s[2], s[3])),
    )


def text_specs(values: List[str]) -> st.SearchStrategy[Spec]:
    """String-like hostile values: str subclasses, and things that are not strings."""
    return st.one_of(
        st.tuples(st.just("str"), st.sampled_from(values), dunder_sets(TEXT_DUNDERS), st.none()),
        st.tuples(
            st.sampled_from(["bytes", "bytearray"]),
            st.sampled_from([v.encode() for v in values]),
            dunder_sets(TEXT_DUNDERS),
            st.none(),
        ),
        st.tuples(st.just("int"), st.just(1), dunder_sets(NUMBER_DUNDERS), st.none()),
        st.tuples(st.just("object"), st.none(), dunder_sets(COMMON_DUNDERS), st.none()),
    )


# -- the model ---------------------------------------------------------------------------


def as_int(spec: Spec, sink_port: int) -> Optional[int]:
    """The integer the library must read from a spec, or None (a bad value)."""
    base, value, _, index = spec
    if base == "int":
        found = value
    elif base == "object" and index not in (None, "raise"):
        found = index
    else:
        return None
    return sink_port if found == "sink" else int(found)


def as_text(spec: Spec) -> Optional[str]:
    base, value, _, _ = spec
    return str(value) if base == "str" else None


def as_message(spec: Spec) -> Optional[bytes]:
    base, value, dunders, _ = spec
    if base == "str":
        return str(value).encode("utf-8")
    if base in ("bytes", "bytearray"):
        if "__buffer__" in dunders and sys.version_info >= (3, 12):
            return None  # a raising __buffer__ makes it unreadable: a bad message
        return bytes(value)
    return None


def as_flag(spec: Spec) -> Optional[bool]:
    """setBroadcast's JS truthiness, or None (a bad value)."""
    base, value, _, _ = spec
    if base == "str":
        return bool(value != "")
    if base == "float":
        return bool(value != 0.0 and not math.isnan(value))
    number = as_int(spec, 1)
    return None if number is None else number != 0


# -- fixtures ----------------------------------------------------------------------------


class Sink:
    """A plain OS socket on loopback that the tests' datagrams go to, and nowhere else."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(WAIT)
        self.port: int = self.sock.getsockname()[1]

    def receive(self) -> bytes:
        return self.sock.recv(70000)

    def assert_empty(self) -> None:
        self.sock.setblocking(False)
        try:
            with pytest.raises(BlockingIOError):
                self.sock.recv(70000)
        finally:
            self.sock.settimeout(WAIT)


@pytest.fixture
def sink() -> Iterator[Sink]:
    peer = Sink()
    yield peer
    peer.sock.close()


@pytest.fixture
def sock() -> Iterator[UDPSocket]:
    with taro_udp.create_udp_socket() as udp:
        yield udp


class Outcome:
    """Records the callbacks and errors of one call; waits instead of sleeping."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, Any]] = []
        self.errors: List[Any] = []
        self.done = threading.Event()

    def callbacks(self) -> Dict[str, Any]:
        def make(name: str) -> Callable[[Any], None]:
            def record(result: Any) -> None:
                self.calls.append((name, result))
                if name == "complete":
                    self.done.set()

            return record

        return {name: make(name) for name in ("success", "fail", "complete")}

    def wait(self) -> None:
        assert self.done.wait(WAIT), f"complete never ran; calls so far: {self.calls}"
        barrier()  # the error event, if any, follows complete


def send_outcome(
    option: Dict[str, Any], spec_of: Dict[str, Optional[Spec]], sink_port: int
) -> Tuple[Optional[Tuple[str, int]], bytes]:
    """``(reason, errCode)`` or ``None`` (sent), and the bytes sent: SPEC order."""
    address = spec_of.get("address")
    if address is not None and as_text(address) != "127.0.0.1":
        return ("invalid address", 1), b""
    port = spec_of.get("port")
    number = sink_port if port is None else as_int(port, sink_port)
    if number is None or not 1 <= number <= 65535:
        return ("invalid port", 2), b""
    message = spec_of.get("message")
    data = b"payload" if message is None else as_message(message)
    if data is None:
        return ("invalid message", -1), b""
    binary = message is None or message[0] != "str"
    start = 0
    if binary and "offset" in option:
        found = as_int(spec_of["offset"], sink_port)  # type: ignore[arg-type]
        if found is None or not 0 <= found <= len(data):
            return ("invalid offset", -1), b""
        start = found
    count = len(data) - start
    if binary and "length" in option:
        found = as_int(spec_of["length"], sink_port)  # type: ignore[arg-type]
        if found is None or not 0 <= found <= len(data) - start:
            return ("invalid length", -1), b""
        count = found
    flag = spec_of.get("setBroadcast")
    if flag is not None and as_flag(flag) is None:
        return ("invalid setBroadcast", -1), b""
    return None, data[start : start + count]


PORTS = ["sink", 0, 65536, -1]
OFFSETS = [0, 2, 7, 8, -1]


def maybe(specs: st.SearchStrategy[Spec]) -> st.SearchStrategy[Optional[Spec]]:
    """A hostile spec, or None for a plain valid value (so later checks are reached)."""
    return st.one_of(st.none(), specs)


# -- send / write ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["send", "write"])
def test_send_and_write_answer_hostile_values_as_documented(
    sock: UDPSocket, sink: Sink, method: str
) -> None:
    errors: List[Any] = []
    sock.onError(errors.append)
    sock.bind(address="127.0.0.1")

    @HOSTILE
    @given(
        address=maybe(text_specs(["127.0.0.1", "", "::1", "127.0.0.1\x00"])),
        port=maybe(int_specs(PORTS)),
        message=maybe(text_specs(["hi", "payload"])),
        offset=maybe(int_specs(OFFSETS)),
        length=maybe(int_specs(OFFSETS)),
        flag=maybe(
            st.one_of(
                int_specs([0, 1, 5]),
                st.tuples(
                    st.just("str"),
                    st.sampled_from(["", "false"]),
                    dunder_sets(TEXT_DUNDERS),
                    st.none(),
                ),
            )
        ),
    )
    def run(
        address: Optional[Spec],
        port: Optional[Spec],
        message: Optional[Spec],
        offset: Optional[Spec],
        length: Optional[Spec],
        flag: Optional[Spec],
    ) -> None:
        errors.clear()
        outcome = Outcome()
        spec_of = {
            "address": address,
            "port": port,
            "message": message,
            "offset": offset,
            "length": length,
            "setBroadcast": flag,
        }
        option: Dict[str, Any] = {"address": "127.0.0.1", "port": sink.port, "message": b"payload"}
        for key, spec in spec_of.items():
            if spec is not None:
                value = spec
                if key == "port" and spec[1] == "sink":
                    value = (spec[0], sink.port, spec[2], spec[3])
                if key == "port" and spec[3] == "sink":
                    value = (spec[0], spec[1], spec[2], sink.port)
                option[key] = build(value)
        expected, sent = send_outcome(option, spec_of, sink.port)
        getattr(sock, method)({**option, **outcome.callbacks()})
        outcome.wait()
        if expected is None:
            ok = {"errMsg": f"{method}:ok"}
            assert outcome.calls == [("success", ok), ("complete", ok)]
            assert errors == []
            assert sink.receive() == sent
        else:
            reason, code = expected
            failed = {"errMsg": f"{method}:fail {reason}", "errCode": code}
            assert outcome.calls == [("fail", failed), ("complete", failed)]
            assert errors == [failed]
        sink.assert_empty()

    run()


def test_send_reads_a_dict_subclass_by_its_stored_items(sock: UDPSocket, sink: Sink) -> None:
    @HOSTILE
    @given(dunders=dunder_sets(MAPPING_DUNDERS))
    def run(dunders: FrozenSet[str]) -> None:
        outcome = Outcome()
        stored = {"address": "127.0.0.1", "port": sink.port, "message": b"x", **outcome.callbacks()}
        sock.send(build(("dict", stored, dunders, None)))
        outcome.wait()
        assert [name for name, _ in outcome.calls] == ["success", "complete"]
        assert sink.receive() == b"x"

    run()


def test_send_keyword_names_that_are_str_subclasses_count_by_their_text(
    sock: UDPSocket, sink: Sink
) -> None:
    outcome = Outcome()
    named = {
        build(("str", key, frozenset({"__eq__", "__ne__", "__repr__"}), None)): value
        for key, value in (("address", "127.0.0.1"), ("port", sink.port), ("message", b"kw"))
    }
    sock.send(**named, **outcome.callbacks())  # type: ignore[call-overload]
    outcome.wait()
    assert [name for name, _ in outcome.calls] == ["success", "complete"]
    assert sink.receive() == b"kw"
    bogus = build(("str", "bogus", frozenset({"__eq__", "__hash__", "__repr__"}), None))
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        sock.send({}, **{str(bogus): 1})


def test_send_rejects_unreadable_mappings_and_callbacks_with_typeerror(sock: UDPSocket) -> None:
    import collections.abc

    class Unreadable(collections.abc.Mapping):  # type: ignore[type-arg]
        def __getitem__(self, key: object) -> Any:
            raise BoomError("__getitem__")

        def __iter__(self) -> Iterator[Any]:
            return iter(["port"])

        def __len__(self) -> int:
            raise BoomError("__len__")

    @HOSTILE
    @given(spec=text_specs(["x"]), key=st.sampled_from(["success", "fail", "complete"]))
    def run(spec: Spec, key: str) -> None:
        option: Dict[str, Any] = {"address": "127.0.0.1", "port": 9, "message": b"x"}
        with pytest.raises(TypeError, match="must be callable"):
            sock.send({**option, key: build(spec)})
        with pytest.raises(TypeError, match="option must be a dict"):
            sock.send(build(spec))

    run()
    with pytest.raises(TypeError, match="could not be read"):
        sock.send(Unreadable())


# -- connect / setTTL / bind -------------------------------------------------------------


def test_connect_answers_hostile_values_as_documented(sink: Sink) -> None:
    @HOSTILE
    @given(
        address=maybe(text_specs(["127.0.0.1", "", "::1"])),
        port=maybe(int_specs(PORTS)),
    )
    def run(address: Optional[Spec], port: Optional[Spec]) -> None:
        option: Dict[str, Any] = {"address": "127.0.0.1", "port": sink.port}
        expected: Optional[Tuple[str, int]] = None
        if address is not None:
            option["address"] = build(address)
            if as_text(address) != "127.0.0.1":
                expected = ("invalid address", 1)
        if port is not None:
            value = (port[0], sink.port if port[1] == "sink" else port[1], port[2], port[3])
            if port[3] == "sink":
                value = (port[0], port[1], port[2], sink.port)
            option["port"] = build(value)
            number = as_int(port, sink.port)
            if expected is None and (number is None or not 1 <= number <= 65535):
                expected = ("invalid port", 2)
        with taro_udp.create_udp_socket() as udp:
            errors: List[Any] = []
            udp.onError(errors.append)
            udp.connect(option)
            barrier()
            if expected is None:
                assert errors == []
                udp.write(message=b"connected")
                assert sink.receive() == b"connected"
            else:
                assert errors == [{"errMsg": f"connect:fail {expected[0]}", "errCode": expected[1]}]

    run()


def test_setttl_answers_hostile_values_as_documented(sock: UDPSocket) -> None:
    errors: List[Any] = []
    sock.onError(errors.append)

    @HOSTILE
    @given(spec=int_specs([1, 64, 255, 256, -1]))
    def run(spec: Spec) -> None:
        errors.clear()
        sock.setTTL(build(spec))
        barrier()
        number = as_int(spec, 1)
        if number is not None and 0 < number <= 255:
            assert errors == []
        else:
            assert errors == [{"errMsg": "setTTL:fail invalid ttl", "errCode": -1}]

    run()


def test_bind_answers_hostile_values_as_documented() -> None:
    @HOSTILE
    @given(
        port=maybe(int_specs([0, 65536, -1])),
        address=maybe(text_specs(["127.0.0.1", "", "::1"])),
    )
    def run(port: Optional[Spec], address: Optional[Spec]) -> None:
        expected: Optional[Tuple[str, int]] = None
        if port is not None:
            number = as_int(port, 0)
            if number is None or not 0 <= number <= 65535:
                expected = ("invalid port", 2)
        if expected is None and address is not None and as_text(address) != "127.0.0.1":
            expected = ("invalid address", 1)
        with taro_udp.create_udp_socket() as udp:
            errors: List[Any] = []
            udp.onError(errors.append)
            args = () if port is None else (build(port),)
            where = "127.0.0.1" if address is None else build(address)
            if expected is None:
                bound = udp.bind(*args, address=where)
                assert type(bound) is int
                assert bound > 0
                barrier()
                assert errors == []
            else:
                with pytest.raises(UDPSocketError) as info:
                    udp.bind(*args, address=where)
                assert (info.value.errMsg, info.value.errCode) == (
                    f"bind:fail {expected[0]}",
                    expected[1],
                )
                barrier()
                assert errors == [{"errMsg": f"bind:fail {expected[0]}", "errCode": expected[1]}]

    run()


# -- create_udp_socket -------------------------------------------------------------------


def test_create_udp_socket_answers_hostile_types_and_options_as_documented() -> None:
    @HOSTILE
    @given(
        kind=maybe(text_specs(["udp4", "udp5", ""])),
        size=maybe(int_specs([4096, 0, -1])),
        flag=maybe(text_specs(["reuseAddr", "reuseadr"]).filter(lambda s: s[0] != "bytearray")),
        dunders=dunder_sets(MAPPING_DUNDERS),
    )
    def run(
        kind: Optional[Spec], size: Optional[Spec], flag: Optional[Spec], dunders: FrozenSet[str]
    ) -> None:
        expected: Optional[type] = None
        if kind is not None and as_text(kind) is None:
            expected = TypeError
        elif kind is not None and as_text(kind) != "udp4":
            expected = ValueError
        stored: Dict[Any, Any] = {}
        if flag is not None:
            # The test's own dict hashes the key: a raising __hash__ would stop it here.
            flag = (flag[0], flag[1], flag[2] - {"__hash__"}, flag[3])
            stored[build(flag)] = True
            if expected is None and as_text(flag) != "reuseAddr":
                expected = TypeError  # unknown option, or a key that is no string
        if size is not None:
            stored["recvBufferSize"] = build(size)
            number = as_int(size, 0)
            if expected is None and (number is None or number <= 0):
                expected = ValueError
        options = build(("dict", stored, dunders, None))
        given_kind = "udp4" if kind is None else build(kind)
        if expected is None:
            taro_udp.create_udp_socket(given_kind, options).close()
        else:
            with pytest.raises(expected):
                taro_udp.create_udp_socket(given_kind, options)

    run()


# -- listeners ---------------------------------------------------------------------------


def test_hostile_listeners_never_break_on_and_off_for_the_others(sink: Sink) -> None:
    @HOSTILE
    @given(dunders=dunder_sets(COMMON_DUNDERS), stranger=text_specs(["x"]))
    def run(dunders: FrozenSet[str], stranger: Spec) -> None:
        heard: List[str] = []
        arrived = threading.Event()

        def plain(result: Any) -> None:
            heard.append("plain")
            arrived.set()

        hostile = build(("object", None, dunders, None), call=lambda r: heard.append("hostile"))
        quiet = build(("object", None, dunders, None), call=lambda r: None)
        with taro_udp.create_udp_socket() as udp:
            for on, off, added in (
                (udp.onMessage, udp.offMessage, hostile),
                (udp.onError, udp.offError, quiet),
                (udp.onListening, udp.offListening, quiet),
                (udp.onClose, udp.offClose, quiet),
            ):
                on(added)
                on(added)  # the same listener again: no further effect
                with pytest.raises(TypeError, match="must be callable"):
                    on(build(stranger))
                off(build(stranger))  # not callable: a no-op
                off(lambda r: None)  # never added: a no-op
            udp.onMessage(plain)
            port = udp.bind(address="127.0.0.1")
            sink.sock.sendto(b"ping", ("127.0.0.1", port))
            assert arrived.wait(WAIT), "the message never arrived"
            assert heard == ["hostile", "plain"]
            udp.offMessage(hostile)
            udp.offMessage(plain)
            udp.onMessage(plain)  # the registry still works after all that
            arrived.clear()
            sink.sock.sendto(b"ping", ("127.0.0.1", port))
            assert arrived.wait(WAIT), "the second message never arrived"
            assert heard == ["hostile", "plain", "plain"]

    run()


def test_bound_methods_of_an_object_with_a_raising_eq_are_removed_by_equality(
    sock: UDPSocket,
) -> None:
    class Handler:
        def on_message(self, result: Any) -> None:
            pass

        __eq__ = _raiser("__eq__")
        __hash__ = _raiser("__hash__")

    handler = Handler()
    sock.onMessage(handler.on_message)
    sock.onMessage(handler.on_message)  # a new but equal bound method: no effect
    sock.onMessage(print)
    sock.offMessage(handler.on_message)
    sock.offMessage(print)
    assert sock._on_message.listeners == ()


# -- regressions of the reproductions ------------------------------------------------------


class CmpInt(int):
    __lt__ = __le__ = __gt__ = __ge__ = _raiser("__lt__")


class IntInt(int):
    __int__ = _raiser("__int__")


class SubInt(int):
    __rsub__ = __radd__ = __add__ = _raiser("__rsub__")


class HashStr(str):
    __hash__ = _raiser("__hash__")


class EncStr(str):
    encode = _raiser("encode")


class BadBool:
    __bool__ = _raiser("__bool__")


class BadRepr:
    __repr__ = _raiser("__repr__")


class EqCallable:
    def __call__(self, *args: object) -> None:
        pass

    __eq__ = _raiser("__eq__")
    __hash__ = object.__hash__


class KeyLikePort:
    """A dict key whose hash collides with "port" and whose comparison raises."""

    def __hash__(self) -> int:
        return hash("port")

    __eq__ = _raiser("__eq__")


def test_repro08_hostile_send_values_get_the_documented_outcome(
    sock: UDPSocket, sink: Sink
) -> None:
    sent = [
        {"port": CmpInt(sink.port)},
        {"port": IntInt(sink.port)},
        {"address": HashStr("127.0.0.1")},
        {"message": EncStr("payload")},
        {"offset": CmpInt(0)},
        {"offset": SubInt(0)},
        {"length": CmpInt(7)},
        {"offset": 0, "length": SubInt(7)},
    ]
    for change in sent:
        outcome = Outcome()
        base = {"address": "127.0.0.1", "port": sink.port, "message": b"payload"}
        sock.send({**base, **change, **outcome.callbacks()})  # type: ignore[dict-item]
        outcome.wait()
        assert [name for name, _ in outcome.calls] == ["success", "complete"], change
        assert sink.receive() == b"payload"
    failing: List[Tuple[Dict[Any, Any], str]] = [
        ({"port": sink.port, "setBroadcast": BadBool()}, "send:fail invalid setBroadcast"),
        ({KeyLikePort(): 1}, "send:fail invalid port"),  # the key is no "port": none given
    ]
    for change, errmsg in failing:
        outcome = Outcome()
        option: Dict[Any, Any] = dict(change)  # KeyLikePort first: "port" is never compared
        option.update({"address": "127.0.0.1", "message": b"x", **outcome.callbacks()})
        sock.send(option)
        outcome.wait()
        assert [name for name, _ in outcome.calls] == ["fail", "complete"]
        assert outcome.calls[0][1]["errMsg"] == errmsg
    with pytest.raises(TypeError):
        sock.send({"address": "127.0.0.1", "port": sink.port, "success": BadRepr()})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        sock.send(BadRepr())  # type: ignore[call-overload]
    sink.assert_empty()


def test_repro08_hostile_values_of_the_other_calls(sock: UDPSocket, sink: Sink) -> None:
    errors: List[Any] = []
    sock.onError(errors.append)
    sock.setTTL(CmpInt(5))
    sock.setTTL(IntInt(5))
    barrier()
    assert errors == []
    with pytest.raises(TypeError):
        sock.onMessage(BadRepr())  # type: ignore[arg-type]
    sock.offMessage(BadRepr())  # type: ignore[arg-type]
    with taro_udp.create_udp_socket() as other:
        other.onMessage(EqCallable())
        other.onMessage(print)
        other.offMessage(print)
        other.offMessage(EqCallable())  # a different instance, never added: a no-op
        assert len(other._on_message.listeners) == 1
        assert type(other.bind(CmpInt(0), address=HashStr("127.0.0.1"))) is int
        other.connect({"address": "127.0.0.1", "port": CmpInt(sink.port)})
        other.write(message=b"connected")
        assert sink.receive() == b"connected"
    for bad in (object(), BadRepr()):
        with pytest.raises(TypeError):
            taro_udp.create_udp_socket(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        taro_udp.create_udp_socket("udp4", {BadRepr(): 1})  # type: ignore[dict-item]
    taro_udp.create_udp_socket("udp4", {"recvBufferSize": CmpInt(4096)}).close()


def test_repro11_an_int_subclass_port_does_not_poison_the_peer_cache(sock: UDPSocket) -> None:
    first, second = Sink(), Sink()
    try:

        class TwoFacedPort(int):  # == and hash of the first port, int() of the second
            def __int__(self) -> int:
                return second.port

        done = threading.Event()
        sock.send(address="127.0.0.1", port=TwoFacedPort(first.port), message=b"hostile port")
        sock.send(
            address="127.0.0.1",
            port=first.port,
            message=b"plain int port",
            complete=lambda r: done.set(),
        )
        assert done.wait(WAIT)
        assert first.receive() == b"hostile port"
        assert first.receive() == b"plain int port"
        second.assert_empty()
    finally:
        first.sock.close()
        second.sock.close()
