"""The one clock of the event loop: ``loop.time()``, timers, ``Date.now()``, ``performance.now()``.

Everything that reads time for the mini-program runtime reads it here, so that a
virtual clock (``taro_udp.testing``) can stand in for the real one in one place. The
real clock is ``time.monotonic()``; ``Date.now()`` adds the offset to the epoch taken
once, so it never goes backwards when the system clock is set back.
"""

from __future__ import annotations

import time
from typing import Any, Callable, List, Optional

__all__ = ["Clock", "RealClock", "current", "date_now", "install", "now", "performance_now"]


class Clock:
    """A source of time in seconds, with the epoch offset ``Date.now()`` adds.

    A virtual clock (``virtual = True``) also runs the event loop in lockstep: the loop
    asks it, at every iteration, whether it may run and what time it is
    (``lockstep``), and tells it when nothing is left (``on_idle``).
    """

    epoch: float = 0.0  # seconds since 1970 at time() == 0
    start: float = 0.0  # time() when the clock started: performance.now()'s origin
    virtual = False

    def time(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def lockstep(
        self, thread: Any, poll: Callable[[Optional[float]], List[Any]], timeout: Optional[float]
    ) -> List[Any]:
        """One iteration's wait for I/O; a virtual clock decides it (event thread)."""
        return poll(timeout)

    def on_idle(self) -> None:
        """The loop has nothing left to do (event thread)."""

    def on_exit(self) -> None:
        """The interpreter exits: let the loop deliver the last events (any thread)."""

    def observe(self, kind: str, *details: object) -> None:
        """Something happened that a trace may want (a timer fired); event thread."""


class RealClock(Clock):
    """``time.monotonic()``; the epoch is read once, when the clock is made."""

    def __init__(self) -> None:
        self.time: Callable[[], float] = time.monotonic
        self.start = time.monotonic()
        self.epoch = time.time() - self.start


_REAL = RealClock()
current: Clock = _REAL


def now() -> float:
    """The loop's time, in seconds (``loop.time()``)."""
    return current.time()


def date_now() -> int:
    """``Date.now()``: whole milliseconds since the epoch."""
    clock = current
    return int((clock.epoch + clock.time()) * 1000)


def performance_now() -> float:
    """``performance.now()``: milliseconds since the clock started."""
    clock = current
    return (clock.time() - clock.start) * 1000.0


def install(clock: Clock | None) -> Clock:
    """Make ``clock`` the loop's clock (``None``: the real one); return the previous one."""
    global current
    previous = current
    current = clock if clock is not None else _REAL
    return previous
