"""Shared test fixtures: leak checks and a recorder that waits instead of sleeping."""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Iterator, List, Set

import pytest

# How long a test may wait for an event that should come at once. Generous, because CI
# machines are loaded; a test that passes never waits this long.
WAIT = 10.0


def _open_fds() -> Set[int]:
    try:
        return {int(name) for name in os.listdir("/proc/self/fd")}
    except FileNotFoundError:  # pragma: no cover - not Linux
        return set()


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread or a file descriptor behind.

    The library's event thread ends by itself once the last socket's close event has
    been delivered; it is joined (bounded) before the threads are compared.
    """
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    yield
    leftover = [t for t in threading.enumerate() if t not in threads_before]
    for thread in leftover:
        thread.join(WAIT)
    alive = [t.name for t in leftover if t.is_alive()]
    assert not alive, f"test left threads running: {alive}"
    # listdir's own fd is gone by the time the set is built; anything new is a leak.
    leaked = _open_fds() - fds_before
    described = {fd: _describe_fd(fd) for fd in sorted(leaked)}
    assert not leaked, f"test leaked file descriptors: {described}"


def _describe_fd(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"


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
            assert ok, f"expected {count} {self.name} within {timeout}s, got {len(self.items)}: {self.items!r:.500}"
            return list(self.items)

    def wait_until(self, predicate: Callable[[List[Any]], bool], what: str, timeout: float = WAIT) -> List[Any]:
        """Wait until ``predicate(items)`` holds; fail with ``what`` otherwise."""
        with self._cond:
            ok = self._cond.wait_for(lambda: predicate(self.items), timeout)
            assert ok, f"timed out after {timeout}s waiting for {what}; {self.name}: {self.items!r:.500}"
            return list(self.items)


@pytest.fixture
def recorder() -> Callable[[str], Recorder]:
    """A factory of recorders: ``messages = recorder("messages")``."""
    return Recorder
