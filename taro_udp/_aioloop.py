"""asyncio's ``SelectorEventLoop``, made the event thread's loop.

Imported with the first event thread (``_eventloop``), never with ``taro_udp``.

- ``LoopTimer``: the library's own timers (``_loop.call_at``). The loop's heap holds
  ``(deadline, creation seq, timer)`` tuples, for these, for JS timers and for asyncio's
  handles alike, compared in C, so same-instant timers of every kind run in creation
  order. A timer is anything with ``_cancelled``, ``_scheduled`` and ``_run()``;
  cancelling marks it dead and the heap drops it lazily, as asyncio does.
- ``_Selector``: says when the thread sleeps (posters wake it only then), hands it the
  posted work, and lets a virtual clock run the loop in lockstep.
- ``_Loop``: the runtime's clock, the one timer heap and asyncio's ``_run_once`` on it,
  tasks whose unretrieved exceptions are reported, and the check after every round
  whether anything is left to do.

Both work for a ``LoopOwner``: the ``EventThread`` of ``_eventloop``.
"""

from __future__ import annotations

import asyncio
import selectors
from heapq import heapify, heappop, heappush
from typing import Any, Callable, Deque, Dict, List, Optional, Protocol, Set, Tuple

from . import _clock, _log

__all__ = ["LoopOwner", "LoopTimer"]


class LoopOwner(Protocol):
    """What the loop and its selector need of the thread that runs them."""

    hub: Any  # _eventloop.Hub: the state shared by every life of the thread
    inbox: Deque[Any]
    owners: Set[Any]
    sleeping: bool
    blocked: bool
    drain_scheduled: bool

    def schedule_drain(self) -> None: ...  # pragma: no cover

    def is_idle(self) -> bool: ...  # pragma: no cover


class LoopTimer:
    """A timer of the library's own (``_loop.call_at``): no context, no asyncio handle.

    It sits in the loop's heap as ``(when, seq, timer)``, like every timer there; see
    ``_Loop``. ``cancel()`` on the event thread only (it counts the dead entries).
    """

    __slots__ = ("_args", "_callback", "_cancelled", "_loop", "_scheduled", "_when")

    def __init__(
        self, when: float, callback: Callable[..., object], args: Tuple[Any, ...], loop: _Loop
    ) -> None:
        self._when = when
        self._callback: Optional[Callable[..., object]] = callback
        self._args = args
        self._loop = loop
        self._cancelled = False
        self._scheduled = True

    def when(self) -> float:
        """The loop time it is due at."""
        return self._when

    def cancelled(self) -> bool:
        """Whether ``cancel()`` was called."""
        return self._cancelled

    def cancel(self) -> None:
        """Never run it; its heap entry is dropped lazily (event thread)."""
        if not self._cancelled:
            self._cancelled = True
            if self._scheduled:
                self._loop._timer_cancelled_count += 1
            self._callback = None
            self._args = ()

    def _run(self) -> None:
        callback = self._callback
        assert callback is not None
        try:
            callback(*self._args)
        except (SystemExit, KeyboardInterrupt):
            raise  # as asyncio's Handle: they end run_forever (EventThread logs them)
        except BaseException as exc:  # noqa: BLE001 - reported like asyncio's own
            self._loop.call_exception_handler(
                {"message": f"Exception in callback {_name_of(callback)}", "exception": exc}
            )


def _name_of(callback: object) -> str:
    name = getattr(callback, "__qualname__", None)
    return name if type(name) is str else type(callback).__name__


class _Selector(selectors.DefaultSelector):
    """The loop's selector: says when the thread sleeps, and hands it the posted work.

    A poster writes a wake-up byte only when ``sleeping`` is set; the thread sets it
    *before* its last look at the inbox, so a post is either seen or woken for.
    """

    def __init__(self, owner: LoopOwner) -> None:
        super().__init__()
        self._owner = owner

    def select(self, timeout: Optional[float] = None) -> List[Tuple[Any, int]]:
        owner = self._owner
        while True:
            clock = _clock.current
            if clock.virtual:
                # Lockstep: the virtual clock decides when an iteration may run at all,
                # and moves time itself (taro_udp.testing.VirtualClock).
                return clock.lockstep(owner, self._poll_and_take, timeout)
            events = self._poll(timeout)
            if not _clock.current.virtual:
                self._take_posted()
                return events
            # The clock turned virtual while we slept: from now on it decides. (What was
            # ready stays ready: the sockets are level-triggered, the inbox keeps its work.)

    def _poll_and_take(self, timeout: Optional[float] = None) -> List[Tuple[Any, int]]:
        events = self._poll(timeout)
        self._take_posted()
        return events

    def _take_posted(self) -> None:
        owner = self._owner
        if owner.inbox and not owner.drain_scheduled:
            owner.schedule_drain()

    def _poll(self, timeout: Optional[float] = None) -> List[Tuple[Any, int]]:
        owner = self._owner
        # While the call at the head of the inbox is not ready, a timer looks again
        # (EventThread.drain): the inbox is not a reason to spin.
        inbox = owner.inbox
        if inbox and not owner.blocked:
            timeout = 0
        elif timeout != 0:
            owner.sleeping = True
            if inbox and not owner.blocked:
                timeout = 0
        try:
            return super().select(timeout)
        finally:
            owner.sleeping = False


class _Loop(asyncio.SelectorEventLoop):
    """asyncio's loop with the runtime's clock, ordered timers and an idle check."""

    # asyncio's private state, used by the _run_once below (its types for mypy).
    _scheduled: List[Tuple[float, int, Any]]
    _ready: Any
    _timer_cancelled_count: int
    _stopping: bool
    _clock_resolution: float
    _debug: bool
    _current_handle: Any

    def __init__(self, owner: LoopOwner) -> None:
        # Closed until made: the finalizer of a loop whose making failed (no fd left)
        # must find nothing to close, and no missing attribute to complain about.
        self._closed = True
        selector = _Selector(owner)  # may raise OSError: no fd left
        try:
            super().__init__(selector)  # the wake-up socketpair: may raise OSError
        except BaseException:
            selector.close()
            self._closed = True  # asyncio's __init__ had set it to False
            raise
        self._owner = owner
        self._seq = owner.hub._timer_seq  # creation order, shared with the JS timers
        self.set_exception_handler(_exception_handler)

    def time(self) -> float:
        return _clock.current.time()

    def call_at(  # type: ignore[override]
        self, when: float, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.TimerHandle:
        # asyncio code's timers (asyncio.sleep, wait_for): asyncio's own handle, with the
        # context asyncio code expects, in the one heap with every other timer.
        if when is None:
            raise TypeError("when cannot be None")
        if self._closed:
            raise RuntimeError("Event loop is closed")
        timer = asyncio.TimerHandle(when, callback, args, self, context)
        heappush(self._scheduled, (when, next(self._seq), timer))
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    def create_task(self, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = super().create_task(coro, **kwargs)
        task.add_done_callback(_task_done)
        return task

    def _run_once(self) -> None:
        # asyncio's BaseEventLoop._run_once (3.8-3.13 alike), on the heap of tuples.
        heap: List[Tuple[float, int, Any]] = self._scheduled
        count = len(heap)
        if count > _PRUNE_ABOVE and self._timer_cancelled_count * 2 > count:
            live = []
            for entry in heap:
                if entry[2]._cancelled:
                    entry[2]._scheduled = False
                else:
                    live.append(entry)
            heapify(live)
            self._scheduled = heap = live
            self._timer_cancelled_count = 0
        else:
            while heap and heap[0][2]._cancelled:
                self._timer_cancelled_count -= 1
                heappop(heap)[2]._scheduled = False
        ready: Any = self._ready
        timeout = None
        if ready or self._stopping:
            timeout = 0.0
        elif heap:
            timeout = min(max(0.0, heap[0][0] - self.time()), _MAX_SELECT_TIMEOUT)
        events = self._selector.select(timeout)  # type: ignore[attr-defined]
        self._process_events(events)  # type: ignore[attr-defined]
        events = None  # breaks a cycle when an exception occurs
        end_time = self.time() + self._clock_resolution
        # Due timers join the ready queue in (deadline, creation) order, whatever kind
        # they are (a JS timer, a simulated arrival, asyncio's own).
        while heap and heap[0][0] < end_time:
            timer = heappop(heap)[2]
            timer._scheduled = False
            if timer._cancelled:
                self._timer_cancelled_count -= 1
            else:
                ready.append(timer)
        popleft = ready.popleft
        if self._debug:
            for _ in range(len(ready)):
                handle = popleft()
                if not handle._cancelled:
                    self._current_handle = handle
                    try:
                        handle._run()
                    finally:
                        self._current_handle = None
        else:
            for _ in range(len(ready)):
                handle = popleft()
                if not handle._cancelled:
                    handle._run()
        handle = None  # breaks a cycle when an exception occurs
        owner = self._owner
        if not owner.owners and owner.is_idle():
            hook = owner.hub.idle_hook
            if hook is not None:
                hook()
            _clock.current.on_idle()
            self.stop()

    def schedule(
        self, when: float, callback: Callable[..., object], args: Tuple[Any, ...]
    ) -> LoopTimer:
        """A ``LoopTimer`` calling ``callback(*args)`` at ``when`` (event thread)."""
        timer = LoopTimer(when, callback, args, self)
        heappush(self._scheduled, (when, next(self._seq), timer))
        return timer


# asyncio's pruning rule: rebuild the heap when most of more than 100 entries are dead.
_PRUNE_ABOVE = 100
_MAX_SELECT_TIMEOUT = 24 * 3600.0


def _exception_handler(loop: asyncio.AbstractEventLoop, context: Dict[str, Any]) -> None:
    # What asyncio itself reports (a raw callback that raised, say): to our logger.
    exc = context.get("exception")
    message = context.get("message") or "unhandled exception in the event loop"
    _log.error("taro_udp: %s", message, exc=exc if isinstance(exc, BaseException) else None)


def _task_done(task: asyncio.Task[Any]) -> None:
    # A task's exception nobody retrieves is the unhandled rejection of the runtime.
    # Whoever awaits the task is woken by a callback scheduled with this one, so look
    # one round later: if still unretrieved, nobody was waiting for it.
    if task.cancelled() or task._exception is None:
        return
    task.get_loop().call_soon(_check_retrieved, task)


def _check_retrieved(task: asyncio.Task[Any]) -> None:
    if not task._log_traceback:
        return  # retrieved (awaited, gathered, .exception() called)
    exc = task.exception()  # marks it retrieved: asyncio will not log it again
    assert exc is not None
    _log.error("taro_udp: unhandled exception in task %s", _task_name(task), exc=exc)
    loop: Any = task.get_loop()
    hook = loop._owner.hub.unhandled_hook
    if hook is not None:
        hook(exc)


def _task_name(task: asyncio.Task[Any]) -> str:
    try:
        return str(task.get_name())
    except BaseException:  # noqa: BLE001 - pragma: no cover
        return "?"
