"""Timers of the mini-program runtime: ``setTimeout``, ``setInterval`` and their ``clear*``.

Every timer callback runs on the event thread, like the socket listeners, so a timer
and a listener never interleave and ported code needs no lock. Timers are asyncio
timer handles on the event loop, ordered by (deadline, creation): timers due at the
same instant run in the order they were set. Work already posted when a timer is due
(a send's result, an error, a datagram being delivered) runs before it.

Ids are positive ints from one counter, never reused in the process and shared by
timeouts and intervals, so ``clearTimeout`` clears an interval too, as in browsers. A
cleared timer never runs afterwards, even if it was due: the id is forgotten at once,
on any thread, and the firing checks it. An interval re-arms from its previous deadline
(no drift); one that fell behind by more than a period fires back to back until it
has caught up.
"""

# The JS names are the API being mirrored.
# ruff: noqa: N802

from __future__ import annotations

import itertools
import math
import sys
import threading
from threading import get_ident
from typing import Any, Callable, Dict, Optional

from . import _clock, _log, _loop

__all__ = [
    "Date",
    "clearInterval",
    "clearTimeout",
    "pending_timers",
    "performance",
    "setInterval",
    "setTimeout",
]

# Browsers and Node store the delay in a signed 32-bit int; a longer one fires at once.
MAX_DELAY = 2**31 - 1

_ids = itertools.count(1)
# The id of the timer whose callback runs now (None: none), and the threads in
# clearTimeout() waiting for it to end (see _fire and clearTimeout).
_firing: Optional[int] = None
_clear_waiters = 0
_fired = threading.Condition()
# Every timer not yet fired or cleared, by id. Written from any thread: single dict
# operations, atomic under the GIL.
_active: Dict[int, _JSTimer] = {}


class _JSTimer:
    __slots__ = ("args", "callback", "created_at", "deadline", "handle", "id", "interval")

    def __init__(
        self,
        timer_id: int,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
        deadline: float,
        interval: Optional[float],
    ) -> None:
        self.id = timer_id
        self.callback = callback
        self.args = args
        self.deadline = deadline  # loop time, seconds
        self.interval = interval  # seconds, or None for a timeout
        self.handle: Any = None
        self.created_at = ""  # "file:line" of the setTimeout call, under a virtual clock

    def describe(self) -> str:
        kind = "setInterval" if self.interval is not None else "setTimeout"
        return f"{kind} #{self.id} ({_name_of(self.callback)})"


def _name_of(callback: object) -> str:
    try:
        name = getattr(callback, "__qualname__", None) or type(callback).__name__
        return str(name) if type(name) is str else type(callback).__name__
    except BaseException:  # noqa: BLE001 - a hostile __getattr__
        return type(callback).__name__


def _delay_seconds(delay: object) -> float:
    """JS's delay coercion: ``None``, NaN and negative are 0; beyond 2**31-1 is 1 ms."""
    if delay is None:
        return 0.0
    if isinstance(delay, bool) or not isinstance(delay, (int, float)):
        raise TypeError(f"delay must be a number of milliseconds, got {type(delay).__name__}")
    # Base-class calls: a subclass's own __int__/__float__ never runs.
    if isinstance(delay, int):
        ms = float(min(max(int.__index__(delay), -1), MAX_DELAY + 1))
    else:
        ms = float.__float__(delay)
    if math.isnan(ms) or ms < 0:
        return 0.0
    if ms > MAX_DELAY:
        return 0.001
    return ms / 1000.0


def _schedule(callback: object, delay: object, args: tuple[Any, ...], repeat: bool) -> int:
    if not callable(callback):
        kind = "setInterval" if repeat else "setTimeout"
        raise TypeError(f"{kind}() callback must be callable, got {type(callback).__name__}")
    if type(delay) is int and 0 <= delay <= MAX_DELAY:  # the common case: whole ms
        seconds = delay / 1000.0
    else:
        seconds = _delay_seconds(delay)
    timer = _JSTimer(
        next(_ids), callback, args, _clock.now() + seconds, seconds if repeat else None
    )
    if _clock.current.virtual:  # for the livelock report: where the looping timer came from
        caller = sys._getframe(2)
        timer.created_at = f"{caller.f_code.co_filename}:{caller.f_lineno}"
    _active[timer.id] = timer
    thread = _loop._current
    if thread is not None and thread.ident == get_ident():  # on the event thread: arm now
        timer.handle = thread.loop.call_at(timer.deadline, _fire, timer)
    else:
        try:
            _loop.call_soon_or_raise(_arm, timer)
        except OSError:
            del _active[timer.id]  # never armed: it must not stay "pending" forever
            raise
    return timer.id


def _arm(timer: _JSTimer) -> None:
    if _active.get(timer.id) is timer:  # not cleared while the arming was posted
        timer.handle = _loop.call_at(timer.deadline, _fire, timer)


def _fire(timer: _JSTimer) -> None:
    global _firing
    if _active.get(timer.id) is not timer:
        return  # cleared from another thread after it became due
    _loop.run_posted()  # work posted before the timer came due runs first
    # Published before the last look: a clearTimeout() from another thread that finds
    # the id gone then sees it firing and waits for the callback to end (see there).
    _firing = timer.id
    try:
        if _active.get(timer.id) is not timer:
            return  # cleared meanwhile, by that work or by another thread
        _run(timer)
    finally:
        _firing = None
        if _clear_waiters:
            with _fired:
                _fired.notify_all()


def _run(timer: _JSTimer) -> None:
    _clock.current.observe("timer", timer)
    if timer.interval is None:
        del _active[timer.id]
        timer.handle = None
    else:  # re-armed before the callback, so that clearInterval inside it cancels
        timer.deadline += timer.interval
        timer.handle = _loop.call_at(timer.deadline, _fire, timer)
    try:
        timer.callback(*timer.args)
    except BaseException as exc:  # noqa: BLE001 - the loop goes on
        _log.error("taro_udp: %s raised %s", timer.describe(), type(exc).__name__, exc=exc)


def setTimeout(callback: Callable[..., Any], delay: Optional[float] = 0, *args: Any) -> int:
    """Run ``callback(*args)`` on the event thread after ``delay`` ms (``setTimeout``).

    Returns a positive id for ``clearTimeout``, never reused in the process. A delay of
    ``None``, NaN or below 0 is 0; beyond 2**31-1 ms it is 1 ms, as in JS; a delay that
    is not a number raises ``TypeError``. Callable from any thread; a callback that
    raises is logged on the ``taro_udp`` logger and the loop goes on. ``OSError`` if
    the event thread cannot start (no file descriptor left): no timer is made.
    """
    return _schedule(callback, delay, args, False)


def setInterval(callback: Callable[..., Any], delay: Optional[float] = 0, *args: Any) -> int:
    """Run ``callback(*args)`` on the event thread every ``delay`` ms (``setInterval``).

    Each period is counted from the previous deadline, not from when the callback ran,
    so the interval does not drift. Delays, and ``OSError``, as ``setTimeout``.
    """
    return _schedule(callback, delay, args, True)


def clearTimeout(timer_id: object = None) -> None:
    """Cancel a timeout or an interval (``clearTimeout``); from any thread.

    An unknown, fired or cleared id, ``None``, or a value that is not an id is a silent
    no-op. A cleared callback never runs afterwards, even if it was already due: called
    from another thread while the callback is running, it returns when it has ended.
    """
    # Only exact ints are looked up (an int subclass by its value, an integral float as
    # JS ids are numbers), so a hostile __hash__/__eq__ never runs.
    kind = type(timer_id)
    if kind is float:
        if not float.is_integer(timer_id):  # type: ignore[arg-type]
            return
        timer_id = int(float.__float__(timer_id))  # type: ignore[arg-type]
    elif kind is not int:
        if kind is bool or not issubclass(kind, int):
            return
        timer_id = int.__index__(timer_id)  # type: ignore[arg-type]
    assert type(timer_id) is int
    timer = _active.pop(timer_id, None)
    on_event_thread = _loop.in_event_thread()
    if timer is not None:
        if on_event_thread:
            _cancel(timer)
        else:
            _loop.call_soon(_cancel, timer)
    if not on_event_thread and _firing == timer_id:
        _wait_for_firing(timer_id)


def _wait_for_firing(timer_id: int) -> None:
    # Its callback is running (or about to) on the event thread: "a cleared callback
    # never runs afterwards" means waiting until it has returned, as close() waits for a
    # running listener. So a timer callback must not wait for a thread that clears it.
    global _clear_waiters
    with _fired:
        _clear_waiters += 1
        try:
            while _firing == timer_id:
                _fired.wait()
        finally:
            _clear_waiters -= 1


clearInterval = clearTimeout  # noqa: N816 - the JS name


def _cancel(timer: _JSTimer) -> None:
    # asyncio's cancel() must run on the loop's thread: it updates the loop's count of
    # cancelled timers, which lets the loop prune them (cleared timers do not pile up).
    handle, timer.handle = timer.handle, None
    if handle is not None:
        handle.cancel()


def pending_timers() -> list[str]:
    """What each timer still pending is: ``"setTimeout #3 (retry)"``, for diagnostics."""
    for _ in range(10):  # another thread may add or clear one while we copy
        try:
            return [timer.describe() for timer in list(_active.values())]
        except RuntimeError:  # pragma: no cover - dictionary changed size
            continue
    return []  # pragma: no cover


class _Date:
    """``Date``: only ``Date.now()``, the part of it timing code uses."""

    __slots__ = ()

    @staticmethod
    def now() -> int:
        """Milliseconds since the epoch, from the event loop's clock (``Date.now()``).

        Monotonic in real time (the epoch offset is read once); virtual under a
        virtual clock.
        """
        return _clock.date_now()

    def __repr__(self) -> str:
        return "<taro_udp.Date>"


class _Performance:
    """``performance``: only ``performance.now()``."""

    __slots__ = ()

    @staticmethod
    def now() -> float:
        """Milliseconds (a float) since the loop's clock started (``performance.now()``)."""
        return _clock.performance_now()

    def __repr__(self) -> str:
        return "<taro_udp.performance>"


Date = _Date()
performance = _Performance()
