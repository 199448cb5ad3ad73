"""SPEC §7: setTimeout/setInterval/clear*, Date.now(), performance.now() on the event thread."""

from __future__ import annotations

import math
import statistics
import threading
import time
from typing import Any, Callable, Iterator, List

import pytest

import taro_udp
from taro_udp import _clock, _loop, _timers

from ._helpers import WAIT, EventThreadGate, Recorder


def on_event_thread(work: Callable[[], Any]) -> Any:
    """Run ``work()`` on the event thread and return its result (or raise its exception)."""
    done = threading.Event()
    box: List[Any] = []

    def call() -> None:
        try:
            box.append((True, work()))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            box.append((False, exc))
        done.set()

    taro_udp.call_soon(call)
    assert done.wait(WAIT), "the event thread never ran the work"
    ok, value = box[0]
    if not ok:
        raise value
    return value


@pytest.fixture
def quiet_end() -> Iterator[None]:
    """Clear every timer a failing test left behind, so the event thread can retire."""
    yield
    for timer_id in list(_timers._active):
        taro_udp.clearTimeout(timer_id)


pytestmark = pytest.mark.usefixtures("quiet_end")


def test_set_timeout_runs_the_callback_with_its_args_on_the_event_thread() -> None:
    fired = Recorder("fired")
    with taro_udp.create_udp_socket() as sock:  # the socket's listeners' thread
        listener_threads = Recorder("threads")
        sock.onListening(lambda res: listener_threads(threading.current_thread()))
        sock.bind(address="127.0.0.1")
        taro_udp.setTimeout(lambda a, b: fired((a, b, threading.current_thread())), 5, 1, "x")
        ((a, b, thread),) = fired.wait_for(1)
        assert (a, b) == (1, "x")
        assert thread is listener_threads.wait_for(1)[0]
        assert thread.name == _loop.THREAD_NAME


def test_timer_ids_are_positive_increasing_and_shared_by_timeouts_and_intervals() -> None:
    ids = [
        taro_udp.setTimeout(lambda: None, 60_000),
        taro_udp.setInterval(lambda: None, 60_000),
        taro_udp.setTimeout(lambda: None, 60_000),
    ]
    for timer_id in ids:
        taro_udp.clearTimeout(timer_id)  # clearTimeout clears an interval too
    assert all(type(i) is int and i > 0 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    assert taro_udp.setTimeout(lambda: None, 0) > ids[-1]  # never reused


def test_a_timeout_waits_for_its_delay() -> None:
    fired = Recorder("fired")
    started = taro_udp.performance.now()
    taro_udp.setTimeout(lambda: fired(taro_udp.performance.now()), 30)
    (when,) = fired.wait_for(1)
    assert when - started >= 30


@pytest.mark.parametrize("delay", [None, float("nan"), -5, -1.5, 0])
def test_none_nan_and_negative_delays_become_zero(delay: Any) -> None:
    fired = Recorder("fired")
    taro_udp.setTimeout(fired, delay, "now")
    assert fired.wait_for(1) == ["now"]


def test_a_delay_beyond_the_32_bit_limit_fires_at_once_as_in_js() -> None:
    fired = Recorder("fired")
    taro_udp.setTimeout(fired, 2**31, "overflowed")
    assert fired.wait_for(1, timeout=WAIT) == ["overflowed"]


@pytest.mark.parametrize("delay", ["100", b"1", [1], True, object()])
def test_a_delay_that_is_not_a_number_raises_type_error(delay: Any) -> None:
    with pytest.raises(TypeError, match="delay"):
        taro_udp.setTimeout(lambda: None, delay)
    with pytest.raises(TypeError, match="delay"):
        taro_udp.setInterval(lambda: None, delay)


def test_a_callback_that_is_not_callable_raises_type_error() -> None:
    with pytest.raises(TypeError, match="callable"):
        taro_udp.setTimeout("alert(1)", 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [None, 0, -1, 10**30, "1", 1.5, float("nan"), object(), True])
def test_clearing_an_unknown_or_non_int_id_is_a_silent_no_op(bad: Any) -> None:
    fired = Recorder("fired")
    timer_id = taro_udp.setTimeout(fired, 10, "still")
    taro_udp.clearTimeout(bad)
    taro_udp.clearInterval(bad)
    assert fired.wait_for(1) == ["still"]
    taro_udp.clearTimeout(timer_id)  # fired already: a no-op too


def test_clear_timeout_accepts_an_integral_float_id_as_js_numbers_are() -> None:
    fired: List[str] = []
    timer_id = taro_udp.setTimeout(fired.append, 20, "cleared")
    taro_udp.clearTimeout(float(timer_id))
    assert on_event_thread(lambda: _timers._active.get(timer_id)) is None
    assert fired == []


def test_a_cleared_timer_never_runs_even_when_it_was_already_due() -> None:
    fired: List[str] = []
    done = Recorder("done")
    with EventThreadGate() as gate:  # the event thread is busy: the timers come due
        due = taro_udp.setTimeout(fired.append, 0, "due, then cleared")
        taro_udp.setTimeout(done, 1, "later")
        blocked = threading.Event()
        blocked.wait(0.02)  # both are due before the thread is free again
        taro_udp.clearTimeout(due)
        gate.release()
    assert done.wait_for(1) == ["later"]
    assert fired == []


def test_clear_timeout_of_a_due_timer_from_a_listener_prevents_it() -> None:
    fired: List[str] = []
    cleared = Recorder("cleared")
    with taro_udp.create_udp_socket() as rx, taro_udp.create_udp_socket() as tx:
        port = rx.bind(address="127.0.0.1")
        timer = [0]

        def on_message(res: Any) -> None:
            taro_udp.clearTimeout(timer[0])
            cleared("cleared")

        rx.onMessage(on_message)

        def arm_then_block() -> None:  # on the event thread: the timer and the datagram
            timer[0] = taro_udp.setTimeout(fired.append, 1, "ran")  # come due together
            tx.send({"address": "127.0.0.1", "port": port, "message": "x"})
            threading.Event().wait(0.02)

        taro_udp.call_soon(arm_then_block)
        assert cleared.wait_for(1) == ["cleared"]
        on_event_thread(lambda: None)  # one more round: the timer would have run by now
    assert fired == []


class _FrozenClock(_clock.Clock):
    """Real time, except that it stands still while ``frozen`` is set."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.frozen_at: Any = None
        self.epoch = _clock.current.epoch
        self.start = _clock.current.start

    def time(self) -> float:
        if self.frozen_at is not None:
            return float(self.frozen_at)
        return time.monotonic() - self.offset


def test_timers_due_at_the_same_instant_run_in_the_order_they_were_set() -> None:
    clock = _FrozenClock()
    order = Recorder("order")
    count = 200
    previous = _clock.install(clock)
    try:

        def set_all() -> None:
            clock.frozen_at = clock.time()
            for n in range(count):  # one deadline for all of them
                taro_udp.setTimeout(order, 5, n)
            then = clock.frozen_at
            clock.offset = time.monotonic() - then  # time goes on from where it stood
            clock.frozen_at = None

        on_event_thread(set_all)
        assert order.wait_for(count) == list(range(count))
    finally:
        _clock.install(previous)


def test_posted_work_runs_before_a_timer_due_at_the_same_time() -> None:
    order = Recorder("order")
    with EventThreadGate() as gate:
        taro_udp.setTimeout(order, 0, "timer")  # posted first: armed when the gate opens
        taro_udp.call_soon(order, "posted")
        gate.release()
    # The timer is armed by the first posted call and comes due in the same round as
    # the second posted call; posted work goes first.
    assert order.wait_for(2) == ["posted", "timer"]


def test_an_interval_repeats_from_its_previous_deadline_without_drift() -> None:
    periods, period_ms = 1000, 3
    ticks: List[float] = []
    deadlines: List[float] = []
    done = threading.Event()
    box: List[int] = []

    def tick() -> None:
        ticks.append(taro_udp.performance.now())
        deadlines.append(_timers._active[box[0]].deadline)
        if len(ticks) == periods:
            taro_udp.clearInterval(box[0])
            done.set()

    def start() -> float:
        box.append(taro_udp.setInterval(tick, period_ms))
        return taro_udp.performance.now()

    started = on_event_thread(start)
    assert done.wait(periods * period_ms / 1000 * 10 + WAIT), f"{len(ticks)} ticks only"
    first = _timers_deadline_origin(deadlines, period_ms)
    # Each deadline is the previous one plus the period, exactly (no callback time added).
    for n, deadline in enumerate(deadlines, start=2):
        assert math.isclose(deadline, first + n * period_ms / 1000, abs_tol=1e-9)
    lags = [when - (started + n * period_ms) for n, when in enumerate(ticks, start=1)]
    assert min(lags) >= -0.5, "a tick came early"
    # Drift would grow the lag tick after tick; without it the late ticks are no later
    # than the early ones, give or take the machine's scheduling noise.
    drift = statistics.median(lags[-100:]) - statistics.median(lags[:100])
    assert drift < 50, f"the interval drifted by {drift:.1f} ms over {periods} periods"


def _timers_deadline_origin(deadlines: List[float], period_ms: int) -> float:
    # deadlines[0] is the deadline armed after the first tick: origin + 2 periods.
    return deadlines[0] - 2 * period_ms / 1000


def test_clear_interval_inside_its_callback_stops_it() -> None:
    ticks = Recorder("ticks")
    box: List[int] = []

    def tick() -> None:
        ticks("tick")
        if len(ticks.items) == 3:
            taro_udp.clearInterval(box[0])

    on_event_thread(lambda: box.append(taro_udp.setInterval(tick, 1)))
    assert ticks.wait_for(3) == ["tick"] * 3
    on_event_thread(lambda: None)
    assert box[0] not in _timers._active


def test_a_raising_timer_callback_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    after = Recorder("after")

    def boom() -> None:
        raise ValueError("timer failed")

    taro_udp.setTimeout(boom, 0)
    taro_udp.setTimeout(after, 5, "next")
    assert after.wait_for(1) == ["next"]
    assert any(
        "setTimeout" in r.getMessage() and r.exc_info and r.exc_info[0] is ValueError
        for r in caplog.records
    )


def test_a_timer_and_a_listener_never_interleave() -> None:
    # repro_port_timer_thread_race: this.counter++ in a timer and in a listener gives 2.
    state = {"counter": 0}
    listener_ran = threading.Event()
    finished = Recorder("finished")
    with taro_udp.create_udp_socket() as rx, taro_udp.create_udp_socket() as tx:
        port = rx.bind(address="127.0.0.1")

        def on_message(res: Any) -> None:
            state["counter"] += 1
            listener_ran.set()
            finished("listener")

        rx.onMessage(on_message)

        def timer_callback() -> None:
            value = state["counter"]
            tx.send({"address": "127.0.0.1", "port": port, "message": "x"})
            # The listener cannot run while this callback does: it shares the thread.
            interleaved = listener_ran.wait(0.2)
            state["counter"] = value + 1
            finished(("timer", interleaved))

        taro_udp.setTimeout(timer_callback, 5)
        assert finished.wait_for(2) == [("timer", False), "listener"]
    assert state["counter"] == 2


def test_a_timer_may_close_a_socket_whose_listener_would_run_next() -> None:
    # repro_port_close_waits_for_listener: with the timer on the event thread the port
    # needs no lock, and close() inside it never waits.
    events = Recorder("events")
    with taro_udp.create_udp_socket() as tx:
        rx = taro_udp.create_udp_socket()
        port = rx.bind(address="127.0.0.1")
        rx.onMessage(lambda res: events("message"))
        rx.onClose(lambda res: events("close"))

        def reconnect() -> None:
            tx.send({"address": "127.0.0.1", "port": port, "message": "x"})
            threading.Event().wait(0.02)  # the datagram is in rx's buffer now
            rx.close()
            events("closed")

        taro_udp.setTimeout(reconnect, 1)
        assert events.wait_for(2) == ["closed", "close"]
        on_event_thread(lambda: None)
    assert events.items == ["closed", "close"]  # no message after close()


def test_date_now_is_whole_milliseconds_since_the_epoch() -> None:
    before = int(time.time() * 1000)
    now = taro_udp.Date.now()
    after = int(time.time() * 1000)
    assert type(now) is int
    # Read from the monotonic clock plus an epoch offset taken once: within a second.
    assert before - 1000 <= now <= after + 1000
    assert taro_udp.Date.now() >= now


def test_performance_now_is_float_milliseconds_from_the_loop_clock() -> None:
    first = taro_udp.performance.now()
    mark = time.monotonic()
    threading.Event().wait(0.02)
    second = taro_udp.performance.now()
    assert type(first) is float
    assert second - first >= 20 - 1
    assert second - first <= (time.monotonic() - mark) * 1000 + 1
    assert abs(taro_udp.performance.now() / 1000 - (_loop_time() - _clock.current.start)) < 0.1


def _loop_time() -> float:
    return float(on_event_thread(lambda: __import__("asyncio").get_running_loop().time()))


def test_a_pending_timer_keeps_the_event_thread_alive_and_it_retires_after() -> None:
    fired = Recorder("fired")
    taro_udp.setTimeout(fired, 50, "late")
    threads = [t for t in threading.enumerate() if t.name == _loop.THREAD_NAME]
    assert len(threads) == 1
    assert threads[0].is_alive()
    assert fired.wait_for(1) == ["late"]
    threads[0].join(WAIT)
    assert not threads[0].is_alive(), "the event thread did not retire after the last timer"


def test_timers_set_from_many_threads_all_fire_once() -> None:
    fired = Recorder("fired")

    def setter(base: int) -> None:
        for n in range(100):
            taro_udp.setTimeout(fired, n % 7, base + n)

    workers = [threading.Thread(target=setter, args=(k * 1000,)) for k in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(WAIT)
    got = fired.wait_for(400)
    assert sorted(got) == sorted(k * 1000 + n for k in range(4) for n in range(100))
