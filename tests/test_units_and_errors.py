"""One unit (seconds) for the testing API, TimeoutError for every "ran out of time",
errors that name what keeps a run alive, and ``run_coroutine_threadsafe``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import os
import threading
from typing import Any, List

import pytest

import taro_udp
from taro_udp import _loop, _runtime, _timers
from taro_udp.testing import (
    LivelockError,
    NeverTrueError,
    SimulatedNetwork,
    SocketFactory,
    VirtualClock,
    VirtualTimeError,
    VirtualTimeoutError,
    WallClockCapError,
)

from ._helpers import WAIT

HERE = os.path.relpath(__file__)


@pytest.fixture(autouse=True)
def quiet_end() -> Any:
    yield
    for timer_id in list(_timers._active):
        taro_udp.clearTimeout(timer_id)


def _line() -> int:
    frame = inspect.currentframe()
    assert frame is not None
    assert frame.f_back is not None
    return frame.f_back.f_lineno


# -- units --------------------------------------------------------------------------------


def test_advance_counts_seconds(virtual_clock: VirtualClock) -> None:
    fired: List[float] = []
    taro_udp.setTimeout(lambda: fired.append(virtual_clock.now_ms()), 2000)
    virtual_clock.advance(seconds=1.999)
    assert fired == []
    virtual_clock.advance(seconds=0.001)
    assert fired == [2000.0]
    assert virtual_clock.now_ms() == 2000.0


def test_advance_in_ms_is_deprecated_and_still_works(virtual_clock: VirtualClock) -> None:
    with pytest.warns(DeprecationWarning, match=r"advance\(ms\) is deprecated.*seconds=") as seen:
        virtual_clock.advance(250)
    assert virtual_clock.now_ms() == 250.0
    # The warning points at the caller, not at taro_udp.
    assert seen[0].filename == __file__
    with pytest.warns(DeprecationWarning, match="seconds=50 / 1000"):
        virtual_clock.advance(ms=50)
    assert virtual_clock.now_ms() == 300.0


def test_network_advance_in_ms_is_deprecated_and_still_works(
    virtual_network: SimulatedNetwork,
) -> None:
    with pytest.warns(DeprecationWarning, match="SimulatedNetwork.advance") as seen:
        virtual_network.advance(100)
    assert seen[0].filename == __file__
    virtual_network.advance(seconds=0.1)
    assert virtual_network.clock is not None
    assert virtual_network.clock.now_ms() == 200.0


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((), {}, TypeError),
        ((1,), {"seconds": 1}, TypeError),
        ((), {"seconds": -1}, ValueError),
        ((), {"seconds": float("nan")}, ValueError),
        ((), {"seconds": "1"}, TypeError),
    ],
)
def test_advance_rejects_a_bad_duration(
    virtual_clock: VirtualClock, args: Any, kwargs: Any, error: type
) -> None:
    with pytest.raises(error):
        virtual_clock.advance(*args, **kwargs)
    assert virtual_clock.now_ms() == 0.0


# -- ran out of time: TimeoutError --------------------------------------------------------


def test_every_out_of_time_error_is_a_timeout_error_and_a_test_failure() -> None:
    for timed_out in (VirtualTimeoutError, WallClockCapError):
        assert issubclass(timed_out, TimeoutError)
        assert issubclass(timed_out, VirtualTimeError)
        assert issubclass(timed_out, AssertionError)
    for other in (NeverTrueError, LivelockError):  # these did not run out of time
        assert not issubclass(other, TimeoutError)


def test_run_until_timeout_raises_a_timeout_error_naming_the_timer(
    virtual_clock: VirtualClock,
) -> None:
    def tick() -> None:
        pass

    taro_udp.setInterval(tick, 1000)
    line = _line() - 1
    with pytest.raises(TimeoutError, match="timed out waiting for the answer") as info:
        virtual_clock.run_until(lambda: False, timeout=5, what="the answer")
    assert isinstance(info.value, VirtualTimeoutError)
    assert virtual_clock.now_ms() == 5000.0
    assert "setInterval" in str(info.value)
    assert f"set at {HERE}:{line}" in str(info.value)


# -- what keeps a run alive ---------------------------------------------------------------


def test_run_that_can_never_end_names_the_open_fixture_socket_and_its_line(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory
) -> None:
    sock = udp_socket_factory()
    line = _line() - 1
    sock.bind()
    with pytest.raises(NeverTrueError) as info:
        taro_udp.run(lambda: None)
    message = str(info.value)
    assert "1 socket(s) open" in message, message
    assert f"made at {HERE}:{line}" in message, message


def test_run_timeout_names_the_pending_timer_and_where_it_was_set() -> None:
    def retry() -> None:
        pass

    def main() -> None:
        taro_udp.setTimeout(retry, 60_000)

    line = _line() - 2
    with pytest.raises(TimeoutError) as info:
        taro_udp.run(main, timeout=0.2)
    message = str(info.value)
    assert "setTimeout" in message, message
    assert "retry" in message, message
    assert f"set at {HERE}:{line}" in message, message


# -- run_coroutine_threadsafe -------------------------------------------------------------


def test_run_coroutine_threadsafe_runs_on_the_event_thread_and_returns_a_future() -> None:
    async def work(value: int) -> str:
        await asyncio.sleep(0)
        return f"{value} on {threading.current_thread().name}"

    future = taro_udp.run_coroutine_threadsafe(work(7))
    assert isinstance(future, concurrent.futures.Future)
    assert future.result(WAIT) == f"7 on {_loop.THREAD_NAME}"


def test_run_coroutine_threadsafe_awaits_a_future_a_callback_settles() -> None:
    async def round_trip() -> bytes:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[bytes] = loop.create_future()
        udp = taro_udp.create_udp_socket()
        udp.onMessage(lambda res: None if got.done() else got.set_result(res["message"]))
        port = udp.bind(address="127.0.0.1")
        udp.send({"address": "127.0.0.1", "port": port, "message": b"ping"})
        try:
            return await asyncio.wait_for(got, WAIT)
        finally:
            udp.close()

    assert taro_udp.run_coroutine_threadsafe(round_trip()).result(WAIT) == b"ping"


def test_run_coroutine_threadsafe_hands_over_the_exception() -> None:
    async def fails() -> None:
        raise KeyError("no device")

    future = taro_udp.run_coroutine_threadsafe(fails())
    with pytest.raises(KeyError, match="no device"):
        future.result(WAIT)


def test_cancelling_the_future_cancels_the_task() -> None:
    cancelled = threading.Event()
    started = threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    future = taro_udp.run_coroutine_threadsafe(forever())
    assert started.wait(WAIT), "the coroutine never started"
    assert future.cancel()
    assert cancelled.wait(WAIT), "the task was not cancelled"
    assert future.cancelled()


def test_run_coroutine_threadsafe_under_virtual_time(virtual_clock: VirtualClock) -> None:
    async def later() -> float:
        await asyncio.sleep(2)  # virtual seconds
        return taro_udp.performance.now()

    future = taro_udp.run_coroutine_threadsafe(later())
    virtual_clock.run_until(future.done, timeout=10, what="the coroutine")
    assert future.result() == 2000.0


def test_run_coroutine_threadsafe_needs_a_coroutine() -> None:
    with pytest.raises(TypeError, match="coroutine"):
        taro_udp.run_coroutine_threadsafe(lambda: None)  # type: ignore[arg-type]


def test_a_socket_made_on_the_event_thread_is_named_by_the_callback_that_made_it() -> None:
    made: List[taro_udp.UDPSocket] = []

    def make() -> None:
        made.append(taro_udp.create_udp_socket())

    line = _line() - 2
    taro_udp.call_soon(make)
    try:
        with pytest.raises(TimeoutError) as info:
            taro_udp.run(timeout=0.2)
        assert f"made at {HERE}:{line}" in str(info.value)
        # The event loop's own frames (asyncio, threading) are never named as the site.
        assert "asyncio" not in str(info.value)
    finally:
        for sock in made:
            sock.close()


def test_a_socket_no_python_line_made_gets_no_misleading_site() -> None:
    # Made by the standard library calling taro_udp directly (as the JS bridge does on
    # the event thread): no line outside taro_udp and the standard library made it.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        sock = pool.submit(taro_udp.create_udp_socket).result(WAIT)
    try:
        alive = _runtime.describe_alive()
    finally:
        sock.close()
    assert "1 socket(s) open" in alive, alive
    assert " made at " not in alive, alive
