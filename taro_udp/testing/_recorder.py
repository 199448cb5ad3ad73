"""Recorder: a listener that collects payloads and lets a test wait for them.

Tests of callback APIs should wait, not sleep: ``recorder.wait_for(3)`` returns as soon
as three payloads arrived and fails with a message naming what was expected and what
came, after a timeout, otherwise.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, List

from ._virtual import VirtualClock, VirtualTimeError, current_virtual_clock

__all__ = ["DEFAULT_TIMEOUT", "Recorder"]

# Long enough for a loaded CI machine; a passing test never waits this long.
DEFAULT_TIMEOUT = 10.0


class Recorder:
    """Pass it as any listener or callback: ``sock.onMessage(recorder)``.

    Thread-safe: listeners run on the event thread, the test waits on its own.
    """

    def __init__(self, name: str = "payloads") -> None:
        self.name = name
        self._items: List[Any] = []
        self._threads: List[int] = []
        self._cond = threading.Condition()

    def __repr__(self) -> str:
        return f"<Recorder {self.name!r}: {len(self)} received>"

    def __call__(self, payload: Any) -> None:
        with self._cond:
            self._items.append(payload)
            self._threads.append(threading.get_ident())
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def items(self) -> List[Any]:
        """The payloads received so far, in order (a copy)."""
        with self._cond:
            return list(self._items)

    @property
    def threads(self) -> List[int]:
        """The ident of the thread that delivered each payload (a copy)."""
        with self._cond:
            return list(self._threads)

    def wait_for(self, count: int = 1, timeout: float = DEFAULT_TIMEOUT) -> List[Any]:
        """Wait until at least ``count`` payloads arrived and return them all.

        Raises ``AssertionError`` after ``timeout`` seconds, saying how many came.
        """
        return self.wait_until(lambda items: len(items) >= count, f"{count} {self.name}", timeout)

    def wait_until(
        self, predicate: Callable[[List[Any]], bool], what: str, timeout: float = DEFAULT_TIMEOUT
    ) -> List[Any]:
        """Wait until ``predicate(payloads)`` holds; ``what`` names it in the failure.

        Under a ``VirtualClock`` this is a drive: the loop runs, virtual time moves, and
        ``timeout`` counts virtual seconds.
        """
        clock = current_virtual_clock()
        if clock is not None:
            return self._drive(clock, predicate, what, timeout)
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self._items), timeout):
                got = repr(self._items)
                if len(got) > 500:
                    got = got[:497] + "..."
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; "
                    f"{len(self._items)} {self.name} received: {got}"
                )
            return list(self._items)

    def _drive(
        self,
        clock: VirtualClock,
        predicate: Callable[[List[Any]], bool],
        what: str,
        timeout: float,
    ) -> List[Any]:
        def holds() -> bool:
            with self._cond:
                return bool(predicate(self._items))

        try:
            clock.run_until(holds, timeout, what)
        except VirtualTimeError as exc:
            got = repr(self.items)
            if len(got) > 500:
                got = got[:497] + "..."
            raise type(exc)(f"{exc}; {len(self)} {self.name} received: {got}") from None
        return self.items
