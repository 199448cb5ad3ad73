"""Test helpers: waiting without sleeping, and holding the event thread."""

from __future__ import annotations

import threading
from typing import Any, Callable, List

from taro_udp import _loop

# How long a test may wait for an event that should come at once. Generous, because CI
# machines are loaded; a test that passes never waits this long.
WAIT = 10.0


class Recorder:
    """Collects payloads from any listener and waits for N of them, never sleeping blind."""

    def __init__(self, name: str = "events") -> None:
        self.name = name
        self.items: List[Any] = []
        self.threads: List[int] = []
        self._cond = threading.Condition()

    def __call__(self, payload: Any) -> None:
        with self._cond:
            self.items.append(payload)
            self.threads.append(threading.get_ident())
            self._cond.notify_all()

    def wait_for(self, count: int = 1, timeout: float = WAIT) -> List[Any]:
        """Wait until at least ``count`` payloads arrived; fail clearly otherwise."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.items) >= count, timeout)
            assert ok, (
                f"expected {count} {self.name} within {timeout}s, "
                f"got {len(self.items)}: {self.items!r:.500}"
            )
            return list(self.items)

    def wait_until(
        self, predicate: Callable[[List[Any]], bool], what: str, timeout: float = WAIT
    ) -> List[Any]:
        """Wait until ``predicate(items)`` holds; fail with ``what`` otherwise."""
        with self._cond:
            ok = self._cond.wait_for(lambda: predicate(self.items), timeout)
            assert ok, (
                f"timed out after {timeout}s waiting for {what}; {self.name}: {self.items!r:.500}"
            )
            return list(self.items)


class EventThreadGate:
    """Holds the event thread inside a callback until ``release()``.

    Lets a test make a deterministic statement about what has *not* run yet.
    """

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._released = threading.Event()

    def __enter__(self) -> EventThreadGate:
        _loop.call_soon(self._hold)
        assert self.entered.wait(WAIT), "the event thread never reached the gate"
        return self

    def _hold(self) -> None:
        self.entered.set()
        assert self._released.wait(WAIT), "gate never released"

    def release(self) -> None:
        self._released.set()

    def __exit__(self, *exc_info: object) -> None:
        self.release()
