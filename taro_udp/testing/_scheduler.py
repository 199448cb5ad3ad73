"""Scheduler: one timer thread that runs delayed deliveries at their deadlines.

The thread sleeps on a Condition until the earliest deadline (or until woken by a new,
earlier one): it never polls. It starts with the first scheduled call and is stopped and
joined by ``close()``, so a network that delays nothing never has a thread at all.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from typing import Callable, List, Optional, Tuple

__all__ = ["THREAD_NAME", "Scheduler"]

logger = logging.getLogger("taro_udp.testing")

THREAD_NAME = "taro_udp-simulated-network"
# How long close() waits for a call in progress to return.
JOIN_TIMEOUT = 5.0

_Entry = Tuple[float, int, Callable[[], object]]


class Scheduler:
    """Run callables at monotonic deadlines, in (deadline, order of scheduling) order."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: List[_Entry] = []
        self._counter = 0
        self._closed = False
        self._thread: Optional[threading.Thread] = None

    def call_at(self, deadline: float, work: Callable[[], object]) -> bool:
        """Run ``work()`` on the timer thread at ``deadline`` (``time.monotonic()``).

        Returns False, without scheduling, once the scheduler is closed.
        """
        with self._cond:
            if self._closed:
                return False
            self._counter += 1
            heapq.heappush(self._heap, (deadline, self._counter, work))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self._thread.start()
            elif self._heap[0][1] == self._counter:
                self._cond.notify()  # the new entry is the earliest: sleep less
            return True

    def pending(self) -> int:
        """How many calls are waiting for their deadline."""
        with self._cond:
            return len(self._heap)

    def close(self) -> List[Callable[[], object]]:
        """Stop the thread (joined, unless called from it); return the calls never run."""
        with self._cond:
            self._closed = True
            left = [entry[2] for entry in sorted(self._heap)]
            self._heap.clear()
            thread = self._thread
            self._cond.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(JOIN_TIMEOUT)
        return left

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    if self._heap:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            work = heapq.heappop(self._heap)[2]
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
            try:
                work()
            except Exception:  # the thread must outlive a bug in one delivery
                logger.exception("taro_udp.testing: error in a delayed delivery")
