"""Timers of the mini-program runtime: ``setTimeout``, ``setInterval`` and their ``clear*``.

Every timer callback runs on the event thread, like the socket listeners, so a timer
and a listener never interleave and ported code needs no lock. A timer is its own
entry in the event loop's heap, ``(deadline, creation seq, timer)``, next to the
loop's other timers (simulated arrivals, asyncio's own): timers due at the same
instant run in the order they were set, whatever their kind. ``clearTimeout`` marks
the entry dead; the loop drops it lazily. Work already posted when a timer is due
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
from contextvars import Context, copy_context
from heapq import heappush
from threading import get_ident
from typing import Any, Callable, Dict, Optional

from . import _clock, _log, _loop, _sites

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
_seq = _loop._timer_seq  # creation order, shared with every other timer of the loop
# The id of the timer whose callback runs now (None: none), and the threads in
# clearTimeout() waiting for it to end (see _fire and clearTimeout).
_firing: Optional[int] = None
_clear_waiters = 0
_fired = threading.Condition()
# Every timer not yet fired or cleared, by id. Written from any thread: single dict
# operations, atomic under the GIL.
_active: Dict[int, _JSTimer] = {}


class _JSTimer:
    """One timer: its own entry in the loop's heap (see ``_eventloop``), no asyncio handle.

    ``_scheduled``: in the heap now; ``_cancelled``: cleared (the heap drops it lazily).
    """

    __slots__ = (
        "_cancelled",
        "_scheduled",
        "_seq",
        "_site",
        "args",
        "callback",
        "context",
        "deadline",
        "id",
        "interval",
    )

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
        # The callback runs in a copy of the context it was set in, as asyncio's
        # call_later does (a ContextVar set inside one callback stays in that timer).
        # An empty one is not kept (None: a fresh empty context when it fires): 100,000
        # pending timers would otherwise hold 100,000 objects for the garbage collector.
        context = copy_context()
        self.context: Optional[Context] = context if len(context) else None
        # Its creation number, taken where it is set (any thread): timers due at one
        # instant run in the order they were set, whichever thread armed them first.
        self._seq = next(_seq)
        # Where it was set: "file:line", or (code, line) of the direct caller on the hot
        # path (resolved only when a diagnostic asks: see created_at).
        self._site: Any = ""
        self._cancelled = False
        self._scheduled = False

    @property
    def created_at(self) -> str:
        """Where it was set, "file:line" (outside taro_udp and the stdlib); "" if unknown."""
        site = self._site
        if type(site) is tuple:
            return _sites.code_site(*site)
        return str(site)

    @created_at.setter
    def created_at(self, site: str) -> None:
        self._site = site

    def describe(self) -> str:
        kind = "setInterval" if self.interval is not None else "setTimeout"
        return f"{kind} #{self.id} ({_name_of(self.callback)})"

    def _run(self) -> None:
        # The loop calls this when the timer is due: one frame, the hot path of firing.
        global _firing
        timer_id = self.id
        if _active.get(timer_id) is not self:
            return  # cleared from another thread after it became due
        if _loop.inbox:
            _loop.run_posted()  # work posted before the timer came due runs first
        # Published before the last look: a clearTimeout() from another thread that finds
        # the id gone then sees it firing and waits for the callback to end (see there).
        _firing = timer_id
        try:
            if _active.get(timer_id) is not self:
                return  # cleared meanwhile, by that work or by another thread
            clock = _clock.current
            if clock.virtual:
                clock.observe("timer", self)
            if self.interval is None:
                del _active[timer_id]
            else:  # re-armed before the callback, so that clearInterval inside it cancels
                self.deadline += self.interval
                heappush(_loop.current().loop._scheduled, (self.deadline, next(_seq), self))
                self._scheduled = True
            try:
                (self.context or Context()).run(self.callback, *self.args)
            except BaseException as exc:  # noqa: BLE001 - the loop goes on
                _log.error("taro_udp: %s raised %s", self.describe(), type(exc).__name__, exc=exc)
        finally:
            _firing = None
            if _clear_waiters:
                with _fired:
                    _fired.notify_all()

    def cancel(self) -> None:
        """Mark the heap entry dead (event thread); the id is forgotten by the caller."""
        if not self._cancelled:
            self._cancelled = True
            thread = _loop._current
            if self._scheduled and thread is not None:
                thread.loop._timer_cancelled_count += 1


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
    clock = _clock.current
    timer_id = next(_ids)
    timer = _JSTimer(timer_id, callback, args, clock.time() + seconds, seconds if repeat else None)
    # For diagnostics (what keeps run() alive, the livelock report): where it was set.
    timer._site = _sites.caller_outside(3)
    _active[timer_id] = timer
    thread = _loop._current
    if thread is not None and thread.ident == get_ident():  # on the event thread: arm now
        heappush(thread.loop._scheduled, (timer.deadline, timer._seq, timer))
        timer._scheduled = True
    else:
        try:
            _loop.call_soon_or_raise(_arm, timer)
        except OSError:
            del _active[timer_id]  # never armed: it must not stay "pending" forever
            raise
    return timer_id


def _arm(timer: _JSTimer) -> None:
    if _active.get(timer.id) is timer:  # not cleared while the arming was posted
        heappush(_loop.current().loop._scheduled, (timer.deadline, timer._seq, timer))
        timer._scheduled = True


def setTimeout(callback: Callable[..., Any], delay: Optional[float] = 0, *args: Any) -> int:
    """Run ``callback(*args)`` on the event thread after ``delay`` ms (``setTimeout``).

    Returns a positive id for ``clearTimeout``, never reused in the process. A delay of
    ``None``, NaN or below 0 is 0; beyond 2**31-1 ms it is 1 ms, as in JS; a delay that
    is not a number raises ``TypeError``. Callable from any thread; a callback that
    raises is logged on the ``taro_udp`` logger and the loop goes on. ``OSError`` if
    the event thread cannot start (no file descriptor left): no timer is made.
    """
    # The hot path, inline: whole ms, on the event thread, real time (else _schedule).
    clock = _clock.current
    thread = _loop._current
    ms: object = delay  # typed as JS numbers arrive: anything
    if (
        type(ms) is int
        and 0 <= ms <= MAX_DELAY
        and not clock.virtual
        and thread is not None
        and thread.ident == get_ident()
        and callable(callback)
    ):
        timer_id = next(_ids)
        timer = _JSTimer(timer_id, callback, args, clock.time() + ms / 1000.0, None)
        caller = sys._getframe(1)  # for diagnostics; formatted only if one asks
        timer._site = (caller.f_code, caller.f_lineno)
        _active[timer_id] = timer
        heappush(thread.loop._scheduled, (timer.deadline, timer._seq, timer))
        timer._scheduled = True
        return timer_id
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
    thread = _loop._current
    on_event_thread = thread is not None and thread.ident == get_ident()
    if timer is not None:
        if on_event_thread:
            timer.cancel()
        else:  # the heap's count of dead entries is the event thread's
            _loop.call_soon(timer.cancel)
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
