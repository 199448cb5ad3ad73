"""Test helpers: waiting without sleeping, and holding the event thread."""

from __future__ import annotations

import threading

from taro_udp import _loop
from taro_udp.testing._recorder import DEFAULT_TIMEOUT as WAIT
from taro_udp.testing._recorder import Recorder

__all__ = ["WAIT", "EventThreadGate", "Recorder"]


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
