"""VirtualClock: test a mini-program's 10-second timeouts in milliseconds, the same every run.

While a ``VirtualClock`` is installed, the event loop's clock (``loop.time()``, timers,
``Date.now()``, ``performance.now()``, the simulated network's delays) is virtual, and
the event loop runs in **lockstep**: nothing runs and time stands still except inside a
*drive*, a call from the test's thread that lets the loop work:

- ``advance(seconds=)``: run everything due in the next ``seconds`` virtual seconds;
- ``run_until(predicate, timeout=)``: run until ``predicate()`` holds;
- ``run_until_idle(timeout=)``: run until no socket, timer or task is left;
- and every waiting helper of ``taro_udp.testing`` (``Recorder.wait_for``,
  ``SimulatedNetwork.wait_idle``, the socket factory's teardown, ``taro_udp.run()``),
  whose timeouts then count virtual seconds.

**Units.** Every duration of the testing API is in seconds, as in Python's own APIs
(``threading``, ``asyncio``, pytest-timeout): each ``timeout=`` and ``advance(seconds=)``.
Milliseconds belong to the mini-program's API (``setTimeout``, ``setInterval``,
``Date.now()``, ``performance.now()``) and to names that say so (``now_ms()``).
0.2.0's ``advance(ms)`` still works and warns (``DeprecationWarning``).

Inside a drive, the loop runs whole iterations; whenever nothing is ready (no datagram
readable, no posted work, no timer due), the clock jumps to the next timer's deadline.
So a test that waits 10 virtual seconds takes as long as its callbacks take, and what
happens depends only on the program, the seed and the order of events: a real sleep
inside a callback changes nothing. Time is integer nanoseconds inside; ``Date.now()``
starts at a fixed epoch (2026-01-01T00:00:00Z by default). ``time.time()`` and
``time.monotonic()`` are never patched: code that reads them directly sees real time.

It fails loudly instead of hanging; every error is a ``VirtualTimeError`` (an
``AssertionError``: a test failure), and the two that ran out of time are also
``TimeoutError``:

- a ``timeout=`` that passes first raises ``VirtualTimeoutError`` (a ``TimeoutError``);
- waiting for something with nothing scheduled raises ``NeverTrueError`` at once,
  naming what is still alive (each open socket with where it was made, each timer with
  where it was set);
- a loop that never lets time move (a 0 ms timer re-arming itself) raises
  ``LivelockError`` naming where the busiest timer was set;
- a drive whose callbacks block in real time for longer than ``wall_cap`` seconds raises
  ``WallClockCapError`` (a ``TimeoutError``; the stuck callback cannot be interrupted).

OS sockets are refused while the clock is installed: real I/O would make the run depend
on real time. ``allow_os_sockets=True`` is the explicitly non-deterministic escape hatch
(a datagram from the OS is seen whenever a drive happens to poll for it).
"""

from __future__ import annotations

import math
import threading
import warnings
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

from .. import _clock, _loop, _runtime, _timers

__all__ = [
    "DEFAULT_EPOCH_MS",
    "LivelockError",
    "NeverTrueError",
    "VirtualClock",
    "VirtualTimeError",
    "VirtualTimeoutError",
    "WallClockCapError",
    "current_virtual_clock",
]

# Date.now() when a virtual clock starts: 2026-01-01T00:00:00Z.
DEFAULT_EPOCH_MS = 1_767_225_600_000
# Rounds of the loop at one virtual instant before it is called a livelock.
LIVELOCK_ROUNDS = 50_000
# How long, in real seconds, one drive may take before it is given up.
DEFAULT_WALL_CAP = 30.0
# How often the test's thread checks that the event thread it waits for still exists.
_POLL = 0.05


class VirtualTimeError(AssertionError):
    """A drive of the virtual clock failed (an ``AssertionError``: a test failure)."""


class VirtualTimeoutError(VirtualTimeError, TimeoutError):
    """A drive's ``timeout`` (virtual seconds) passed before its condition held.

    Both a ``VirtualTimeError`` (a test failure) and a ``TimeoutError``, like every
    "ran out of time" of taro_udp (``run(timeout=)`` raises ``TimeoutError`` too).
    """


class NeverTrueError(VirtualTimeError):
    """Waited for a condition that can never become true: nothing is scheduled.

    The message names what is still alive: open sockets (where each was made) and
    pending timers (where each was set).
    """


class LivelockError(VirtualTimeError):
    """The loop kept running without ever letting virtual time move."""


class WallClockCapError(VirtualTimeError, TimeoutError):
    """A drive took longer than its real-time cap (``wall_cap`` seconds) to finish.

    A callback blocks in real time. Also a ``TimeoutError``: it ran out of (real) time.
    """


class _Drive:
    """One call from the test's thread that lets the loop run."""

    def __init__(
        self, kind: str, limit_ns: float, predicate: Optional[Callable[[], bool]], what: str
    ) -> None:
        self.kind = kind  # "advance", "until" or "idle"
        self.limit_ns = limit_ns
        self.predicate = predicate
        self.what = what
        self.done = threading.Event()
        self.error: Optional[BaseException] = None
        self.rounds_at_instant = 0
        self.fires: Dict[int, Tuple[int, str, str]] = {}  # timer id -> (count, what, where)

    def satisfied(self) -> bool:
        return self.predicate is not None and bool(self.predicate())


class VirtualClock(_clock.Clock):
    """A lockstep virtual clock for the event loop; a context manager that installs it.

    ``with VirtualClock() as clock: ...``; ``SimulatedNetwork(virtual_time=True)``
    installs one for you (``network.clock``), and so do the ``virtual_clock`` and
    ``virtual_network`` fixtures. Install it while the event loop has no timer pending
    (at the start of a test). Timers still pending when it is removed are dropped, and
    so is work that never got a drive.

    ``epoch_ms`` is ``Date.now()`` at the start (ms since the Unix epoch); ``wall_cap``
    the real seconds one drive may take (``WallClockCapError``); ``allow_os_sockets``
    lets real OS sockets be made (non-deterministic); ``livelock_rounds`` how many loop
    rounds at one virtual instant make a ``LivelockError``.
    """

    virtual = True

    def __init__(
        self,
        *,
        epoch_ms: int = DEFAULT_EPOCH_MS,
        wall_cap: float = DEFAULT_WALL_CAP,
        allow_os_sockets: bool = False,
        livelock_rounds: int = LIVELOCK_ROUNDS,
    ) -> None:
        self._ns = 0
        self.start = 0.0
        self.epoch = epoch_ms / 1000.0
        self.wall_cap = wall_cap
        self.allow_os_sockets = allow_os_sockets
        self.livelock_rounds = livelock_rounds
        self._cond = threading.Condition()
        self._drive: Optional[_Drive] = None
        self._installed = False
        self._previous: Optional[_clock.Clock] = None
        self.observers: List[Callable[..., None]] = []
        # Called between two loop rounds of a drive, on the event thread; a hook may raise
        # a VirtualTimeError to end the drive with it.
        self.round_hooks: List[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"<VirtualClock at {self.now_ms():.3f} ms>"

    # -- time ----------------------------------------------------------------------------

    def time(self) -> float:
        """Virtual seconds since the clock started (the event loop's ``loop.time()``)."""
        return self._ns / 1e9

    def now_ms(self) -> float:
        """Virtual milliseconds since the clock started (``performance.now()``)."""
        return self._ns / 1e6

    @property
    def now_ns(self) -> int:
        """Virtual nanoseconds since the clock started: the trace's timestamps."""
        return self._ns

    # -- installing ----------------------------------------------------------------------

    def __enter__(self) -> VirtualClock:
        self.install()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def install(self) -> None:
        """Make this the event loop's clock (``Date.now()``, timers, the network)."""
        if self._installed:
            raise RuntimeError("this VirtualClock is installed already")
        if _clock.current.virtual:
            raise RuntimeError("another VirtualClock is installed")
        if _timers.pending_timers():
            raise RuntimeError(
                "a VirtualClock must be installed while no timer is pending, "
                f"found: {', '.join(_timers.pending_timers()[:5])}"
            )
        self._installed = True
        self._previous = _clock.install(self)

    def close(self) -> None:
        """Give the loop its real clock back; pending timers are dropped. Idempotent."""
        with self._cond:
            if not self._installed:
                return
            self._installed = False
            drive, self._drive = self._drive, None
            self._cond.notify_all()
        if drive is not None:
            self._finish(drive, VirtualTimeError("the clock was closed during a drive"))
        for timer_id in list(_timers._active):
            _timers.clearTimeout(timer_id)
        _clock.install(self._previous)
        # The loop's own timers and tasks set under virtual time (asyncio.sleep, raw
        # call_later) have virtual deadlines: dropped too, as the docstring says.
        _loop.call_soon(_drop_loop_work)
        thread = _loop._current
        if thread is not None:
            thread.wake()

    # -- drives (the test's thread) ------------------------------------------------------

    def advance(self, ms: Optional[float] = None, *, seconds: Optional[float] = None) -> None:
        """Run everything due within the next ``seconds`` virtual seconds; end at +seconds.

        ``advance(seconds=2)`` runs a mini-program's ``setTimeout(retry, 2000)``.
        ``advance(ms)``, 0.2.0's spelling in milliseconds, still works but is deprecated
        (``DeprecationWarning``): the testing API counts seconds.
        """
        self._advance_ns(_advance_ns(ms, seconds, "VirtualClock.advance", 3))

    def _advance_ns(self, ns: int) -> None:
        what = f"advance(seconds={ns / 1e9:g})"
        self._run(_Drive("advance", self._ns + ns, None, what))

    def run_until(
        self,
        predicate: Callable[[], bool],
        timeout: Optional[float] = None,
        what: str = "the condition",
    ) -> None:
        """Run until ``predicate()`` holds (checked between loop rounds).

        ``timeout`` is in virtual seconds (None: no limit); ``what`` names the condition
        in error messages. Raises ``NeverTrueError`` when nothing is scheduled and the
        predicate is false (naming what is still alive), and ``VirtualTimeoutError`` (a
        ``TimeoutError``) when the timeout passes first.
        """
        self._run(_Drive("until", self._limit(timeout), predicate, what))

    def run_until_idle(self, timeout: Optional[float] = None) -> None:
        """Run until no socket is open, no timer is pending and no work is left.

        ``timeout`` in virtual seconds (None: no limit; then sockets that stay open with
        nothing scheduled raise ``NeverTrueError`` naming them, instead of waiting forever).
        """
        self._run(_Drive("idle", self._limit(timeout), None, "the loop to go idle"))

    def _limit(self, timeout: Optional[float]) -> float:
        return math.inf if timeout is None else self._ns + round(timeout * 1e9)

    def _run(self, drive: _Drive) -> None:
        if _loop.in_event_thread():
            raise RuntimeError(
                "a virtual-time drive (advance, run_until, wait_for, ...) cannot run on the "
                "event thread: a callback would wait for itself"
            )
        if not self._installed:
            raise RuntimeError("this VirtualClock is not installed")
        with self._cond:
            if self._drive is not None:
                raise RuntimeError("another drive of this clock is running")
            thread = _loop._current
            if thread is None:  # nothing can happen: judge the predicate here and now
                self._finish_idle(drive)
            else:
                self._drive = drive
                self._cond.notify_all()
        if thread is not None:
            thread.wake()
            self._wait(drive, thread)
        if drive.error is not None:
            raise drive.error

    def _wait(self, drive: _Drive, thread: Any) -> None:
        cap = self.wall_cap
        waited = 0.0
        while not drive.done.wait(_POLL):
            waited += _POLL
            if thread.retired and _loop._current is None:
                with self._cond:  # it went idle and retired before it saw the drive
                    if self._drive is drive:
                        self._drive = None
                        self._finish_idle(drive)
                continue
            if waited >= cap:
                self._finish(
                    drive,
                    WallClockCapError(
                        f"{drive.what}: the event thread was busy for more than {cap} s of "
                        f"real time at virtual {self.now_ms():.3f} ms (a callback that blocks "
                        "in real time?)"
                    ),
                )

    # -- the event thread's side ---------------------------------------------------------

    def lockstep(
        self,
        thread: Any,
        poll: Callable[[Optional[float]], List[Any]],
        timeout: Optional[float],
    ) -> List[Any]:
        while True:
            with self._cond:
                while self._installed and self._drive is None and not _loop.exiting:
                    self._cond.wait()  # nothing runs outside a drive
                drive = self._drive
            if drive is None:  # removed (or exiting): real time again
                return poll(timeout)
            try:
                events = self._step(drive, thread, poll)
            except VirtualTimeError as exc:
                self._finish(drive, exc)
                continue
            if events is not None:
                return events

    def _step(
        self, drive: _Drive, thread: Any, poll: Callable[[Optional[float]], List[Any]]
    ) -> Optional[List[Any]]:
        # A drive runs whole loop rounds; whether it is over is judged between them.
        for hook in self.round_hooks:  # e.g. a network's always() properties
            hook()
        if drive.satisfied():
            self._finish(drive)
            return None
        events = poll(0)
        deadline = thread.next_deadline()
        target = None if deadline is None else _deadline_ns(deadline)
        due = target is not None and target <= self._ns
        if events or due or thread.has_ready_work():
            drive.rounds_at_instant += 1
            if drive.rounds_at_instant > self.livelock_rounds:
                raise LivelockError(self._livelock_report(drive))
            return events
        if target is None:
            self._nothing_scheduled(drive)
            return None
        if target > _NS_MAX:  # inf, nan or past 2**62 ns: the clock cannot get there
            if drive.limit_ns <= _NS_MAX:
                self._ns = max(self._ns, int(drive.limit_ns))
                self._limit_reached(drive)
                return None
            raise VirtualTimeError(
                f"waiting for {drive.what} at virtual {self.now_ms():.3f} ms: the next timer "
                f"is due at loop time {deadline!r} s, which virtual time can never reach "
                "(a delay that is not finite?)"
            )
        if target > drive.limit_ns:
            self._ns = max(self._ns, int(min(drive.limit_ns, _NS_MAX)))
            self._limit_reached(drive)
            return None
        self._ns = max(self._ns, int(target))  # the jump: no work until the next deadline
        drive.rounds_at_instant = 0
        drive.fires.clear()
        return events

    def on_exit(self) -> None:
        with self._cond:
            self._cond.notify_all()  # lockstep() sees _loop.exiting and runs freely

    def on_idle(self) -> None:
        with self._cond:
            drive = self._drive
            if drive is None:
                return
            self._drive = None
        self._finish_idle(drive)

    def observe(self, kind: str, *details: object) -> None:
        if kind == "timer":
            timer: Any = details[0]
            drive = self._drive
            if drive is not None:
                count = drive.fires.get(timer.id, (0, "", ""))[0]
                drive.fires[timer.id] = (count + 1, timer.describe(), timer.created_at)
            for observer in self.observers:
                observer("timer", timer.id, timer.describe())

    # -- ending drives -------------------------------------------------------------------

    def _finish(self, drive: _Drive, error: Optional[BaseException] = None) -> None:
        with self._cond:
            if self._drive is drive:
                self._drive = None
        if not drive.done.is_set():
            drive.error = error
            drive.done.set()

    def _finish_idle(self, drive: _Drive) -> None:
        # Nothing is left at all: no socket, timer, task or posted work.
        if drive.satisfied() or drive.kind == "idle":
            self._finish(drive)
        elif drive.kind == "advance":
            self._ns = max(self._ns, int(drive.limit_ns))
            self._finish(drive)
        else:
            self._finish(drive, self._never(drive, "nothing is left: no socket, timer or task"))

    def _nothing_scheduled(self, drive: _Drive) -> None:
        # Sockets may be open, but no timer is pending and nothing is in flight.
        if drive.kind == "advance":
            self._ns = max(self._ns, int(drive.limit_ns))
            self._finish(drive)
        elif drive.kind == "idle" and drive.limit_ns == math.inf:
            self._finish(
                drive,
                self._never(drive, "sockets are open and will stay open: nothing will close them"),
            )
        else:
            self._finish(drive, self._never(drive, "no timer, no datagram in flight"))

    def _never(self, drive: _Drive, why: str) -> NeverTrueError:
        alive = _runtime.describe_alive()
        return NeverTrueError(
            f"waiting for {drive.what} at virtual {self.now_ms():.3f} ms: it can never become "
            f"true, {why}; still alive: {alive}"
        )

    def _limit_reached(self, drive: _Drive) -> None:
        if drive.kind == "advance":
            self._finish(drive)
            return
        self._finish(
            drive,
            VirtualTimeoutError(
                f"timed out waiting for {drive.what}: virtual time reached "
                f"{self.now_ms():.3f} ms (the timeout) first; still alive: "
                f"{_runtime.describe_alive()}"
            ),
        )

    def _livelock_report(self, drive: _Drive) -> str:
        text = (
            f"virtual time stood still at {self.now_ms():.3f} ms for {self.livelock_rounds} "
            "rounds of the loop: something keeps scheduling work for now (raise "
            "VirtualClock(livelock_rounds=...) if that is a long but finite burst)"
        )
        if drive.fires:
            count, what, where = max(drive.fires.values())
            text += f"; busiest: {what}, fired {count} times, set at {where or '?'}"
        return text


# The furthest virtual instant in ns (the clock is an int; drives' limits stay below it).
_NS_MAX = 2**62


def _deadline_ns(deadline: float) -> float:
    """A timer's deadline in ns (the nearest: asyncio counts a timer due within its
    clock resolution); inf when it is not finite or past ``_NS_MAX``."""
    if not deadline * 1e9 < _NS_MAX:  # (nan too)
        return math.inf
    return round(deadline * 1e9)


def _advance_ns(ms: Optional[float], seconds: Optional[float], name: str, stacklevel: int) -> int:
    """The duration ``advance()`` was given, in ns; warns for 0.2.0's ``ms``."""
    if (ms is None) == (seconds is None):
        raise TypeError(f"{name}() takes seconds=N (or, deprecated, ms)")
    if ms is not None:
        warnings.warn(
            f"{name}(ms) is deprecated: the testing API counts seconds, as every "
            f"timeout= does; use {name.rsplit('.', 1)[-1]}(seconds={ms!r} / 1000)",
            DeprecationWarning,
            stacklevel=stacklevel,
        )
        value, unit, scale = ms, "ms", 1e6
    else:
        assert seconds is not None
        value, unit, scale = seconds, "s", 1e9
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}() needs a number, got {type(value).__name__}")
    if value < 0 or math.isnan(value):
        raise ValueError(f"{name}() needs a duration >= 0 {unit}, got {value!r}")
    return round(value * scale)


def _drop_loop_work() -> None:
    thread = _loop._current
    if thread is None:
        return
    loop: Any = thread.loop
    thread.cancel_timers()
    import asyncio

    for task in asyncio.all_tasks(loop):
        task.cancel()


def current_virtual_clock() -> Optional[VirtualClock]:
    """The installed ``VirtualClock``, or None under real time."""
    clock = _clock.current
    return clock if isinstance(clock, VirtualClock) else None
