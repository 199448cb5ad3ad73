"""A typing test: ``mypy --strict`` (CI's type check covers tests/) checks this file.

It is never run or collected (not named ``test_*``). Each line that must be a type
error carries ``# type: ignore[...]`` with its error code: mypy's strict mode includes
``warn_unused_ignores``, so if one of them stops being an error (``send({"adress":
...})`` accepted again), the ignore is unused and the type check fails. ``assert_type``
pins the inferred types. tests/test_typing.py also runs mypy on this file alone.
"""

from __future__ import annotations

import concurrent.futures  # noqa: F401 - named in an assert_type string
from typing import Any, Dict

from typing_extensions import assert_type

import taro_udp
from taro_udp import CallbackResult, SendOption, UDPSocket
from taro_udp.testing import (
    EchoPeerFixture,
    Recorder,
    RecorderFactory,
    SimulatedNetwork,
    SocketFactory,
    VirtualClock,
)


def option_dicts_are_checked(sock: UDPSocket) -> None:
    sock.send({"address": "127.0.0.1", "port": 9, "message": "hi"})
    sock.send({"address": "127.0.0.1", "port": 9, "message": b"\x00", "setBroadcast": True})
    sock.send({"adress": "127.0.0.1", "port": 9, "message": "hi"})  # type: ignore[dict-item]
    sock.send({"address": "127.0.0.1", "port": "80", "message": "hi"})  # type: ignore[dict-item]
    sock.send({"address": "127.0.0.1", "port": 9, "message": 42})  # type: ignore[dict-item]
    sock.send({"address": "127.0.0.1", "port": 9, "success": "yes"})  # type: ignore[dict-item]
    sock.send(address="127.0.0.1", port=9, message="hi")
    sock.send(adress="127.0.0.1", port=9, message="hi")  # type: ignore[call-overload]
    sock.send({"address": "127.0.0.1", "port": 9}, message="hi", complete=lambda res: None)
    sock.write({"message": "to the connected peer"})
    sock.write({"mesage": "typo"})  # type: ignore[dict-item]
    sock.connect({"address": "127.0.0.1", "port": 9})
    sock.connect({"address": "127.0.0.1", "port": None})  # type: ignore[dict-item]
    sock.connect("127.0.0.1:9")  # type: ignore[call-overload]


def dict_of_any_callers_still_type_check(sock: UDPSocket, base: Dict[str, Any]) -> None:
    # Built as Dict[str, Any] (0.2.0 code): not checked against SendOption, accepted.
    option: Dict[str, Any] = {"address": "127.0.0.1", "port": 9, "message": "hi"}
    sock.send(option)
    sock.send(option, complete=lambda res: None)
    sock.write({**base, **option})
    sock.connect(base)
    typed: SendOption = {"address": "127.0.0.1", "port": 9, "message": "hi"}
    sock.send(typed)


def callbacks_get_the_result_type(sock: UDPSocket) -> None:
    def done(res: CallbackResult) -> None:
        assert_type(res["errMsg"], str)

    sock.send({"address": "127.0.0.1", "port": 9, "message": "hi", "complete": done})


async def _answer() -> str:
    return "42"


def run_is_generic_over_the_result() -> None:
    assert_type(taro_udp.run(), None)
    assert_type(taro_udp.run(lambda: 42), int)
    assert_type(taro_udp.run(_answer), str)
    assert_type(taro_udp.run(_answer()), str)
    future = taro_udp.run_coroutine_threadsafe(_answer())
    assert_type(future, "concurrent.futures.Future[str]")
    assert_type(future.result(1.0), str)
    taro_udp.run(42)  # type: ignore[call-overload]
    taro_udp.run_coroutine_threadsafe(lambda: None)  # type: ignore[arg-type]


def test_fixture_types(
    udp_socket_factory: SocketFactory,
    udp_echo_peer: EchoPeerFixture,
    udp_recorder: RecorderFactory,
    virtual_network: SimulatedNetwork,
    virtual_clock: VirtualClock,
) -> None:
    sock = udp_socket_factory()
    assert_type(sock, UDPSocket)
    assert_type(udp_echo_peer.port, int)
    messages = udp_recorder("messages")
    assert_type(messages, Recorder)
    sock.onMessage(messages)
    virtual_network.advance(seconds=2)
    virtual_network.advance(2000)  # deprecated, still typed: ms
    virtual_clock.run_until(lambda: True, timeout=5)
    virtual_clock.advance(seconds="2")  # type: ignore[arg-type]
