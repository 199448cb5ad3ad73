"""The event thread's loop: asyncio's ``SelectorEventLoop``, made the mini-program's JS thread.

Imported by ``_loop`` when the first event thread starts, so that ``import taro_udp``
does not pay for importing asyncio (it roughly doubles the import time). ``_loop`` owns
the shared state (the inbox of posted work, the current thread, the locks) and hands it
to each thread as its ``Hub``; this module never imports ``_loop``. It is one life of
the thread: its loop, its selector, its sockets and readers.

- ``LoopTimer``: the library's own timers (``_loop.call_at``); the loop's heap holds
  ``(deadline, creation seq, timer)`` tuples for them, for JS timers and for asyncio's
  handles alike, compared in C, so same-instant timers of every kind run in creation
  order. A timer is anything with ``_cancelled``, ``_scheduled`` and ``_run()``;
  cancelling marks it dead and the heap drops it lazily, as asyncio does.
- ``_Selector``: says when the thread sleeps (posters wake it only then), hands it the
  posted work, and lets a virtual clock run the loop in lockstep.
- ``_Loop``: the runtime's clock, ordered timers, tasks whose unretrieved exceptions are
  reported, and the check after every round whether anything is left to do.
- ``EventThread``: the thread, its retirement and its death.
"""

from __future__ import annotations

import asyncio
import errno
import select
import selectors
import threading
from heapq import heapify, heappop, heappush
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Protocol, Set, Tuple

from . import _clock, _log

__all__ = ["EventThread", "Hub", "LoopTimer", "Owner"]


class Owner(Protocol):
    """What the loop needs of a socket: to close it at exit, and to drop it after fork."""

    def close(self) -> None: ...  # pragma: no cover

    def _after_fork(self) -> None: ...  # pragma: no cover


class Hub(Protocol):
    """What outlives one life of the thread, kept by ``_loop`` (the module passes itself).

    This module does not import ``_loop``: ``_loop`` imports it, with the first thread,
    and hands each thread the state they share (the inbox, the current thread, the lock
    that serialises starting and retiring, the hooks of the runtime).
    """

    THREAD_NAME: str
    MAX_PENDING: int
    BLOCKED_RETRY: float
    exiting: bool
    idle_hook: Optional[Callable[[], None]]
    unhandled_hook: Optional[Callable[[BaseException], None]]
    _inbox: Deque[Any]
    _room: threading.Event
    _start_lock: Any
    _current: Optional[EventThread]
    _orphans: Set[Owner]
    _orphan_readers: Dict[int, Callable[[], object]]
    _timer_seq: Iterator[int]

    def _live(self) -> EventThread: ...  # pragma: no cover


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

    def __init__(self, owner: EventThread) -> None:
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

    def __init__(self, owner: EventThread) -> None:
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


_EPOLLIN: Any = getattr(select, "EPOLLIN", None)
# asyncio's pruning rule: rebuild the heap when most of more than 100 entries are dead.
_PRUNE_ABOVE = 100
_MAX_SELECT_TIMEOUT = 24 * 3600.0


class EventThread:
    """One life of the event thread: its asyncio loop, its sockets and readers."""

    def __init__(self, hub: Hub) -> None:
        # Load the logging package now, with the first socket, not at import: reporting
        # a problem later must not need to open a file (no descriptor may be left).
        _log.logger()
        self.hub = hub
        self.inbox = hub._inbox  # never replaced (cleared after fork)
        self.sleeping = False
        self.drain_scheduled = False
        self.retired = False
        self.taken = 0  # posted calls run so far: the progress wait_for_room watches
        self.blocked = False  # the call at the head of the inbox is not ready yet
        self.abandoned = False  # in a forked child: this life of the thread is over
        self.draining = False
        self.stuck_at = -1
        self.ident: Optional[int] = None
        self.owners: Set[Owner] = set()  # strong references: WeChat keeps open sockets alive
        self.readers: Dict[int, Callable[[], object]] = {}
        self.loop = _Loop(self)  # may raise OSError: no fd left
        selector_name = type(self.loop._selector).__mro__[1].__name__  # type: ignore[attr-defined]
        # epoll and kqueue watch an fd from the moment it is registered, even during a
        # select() already in progress; select() and poll() only see it on their next call.
        self.live_registration = selector_name in ("EpollSelector", "KqueueSelector")
        # Registration goes to epoll directly where the selector is selectors' own epoll.
        self.owns_epoll = selector_name == "EpollSelector" and _EPOLLIN is not None
        self._drain_handle = asyncio.Handle(self.drain, (), self.loop, None)
        self.thread = threading.Thread(target=self._main, name=hub.THREAD_NAME, daemon=True)

    def __repr__(self) -> str:
        return f"<taro_udp event thread owners={len(self.owners)} retired={self.retired}>"

    # -- posted work (on the event thread) -------------------------------------------

    def schedule_drain(self) -> None:
        """Run the posted work at the head of the loop's next round (event thread)."""
        self.drain_scheduled = True
        self.loop._ready.append(self._drain_handle)

    def drain(self) -> None:
        """Run the work posted so far, in order (event thread).

        Work posted while this runs waits for the next round, after the sockets and
        timers already due, so a callback that posts a callback cannot starve them.
        """
        self.drain_scheduled = False
        if self.draining:  # run_posted() from inside posted work: it is running already
            return
        self.draining = True
        try:
            self._drain()
        finally:
            self.draining = False
        hub = self.hub
        room = hub._room
        if not room.is_set() and len(self.inbox) < hub.MAX_PENDING:
            room.set()
        if self.inbox and not self.drain_scheduled and not self.blocked:
            self.schedule_drain()

    def _drain(self) -> None:
        inbox = self.inbox
        popleft = inbox.popleft
        for _ in range(len(inbox)):
            try:
                item = popleft()
            except IndexError:  # pragma: no cover - only this thread takes
                break
            if item.ready is not None and not item.ready():
                # It keeps its place at the head, and what was posted after it waits
                # too; a timer looks again shortly (see call_soon_when_ready).
                inbox.appendleft(item)
                self.blocked = True
                self.drain_scheduled = True
                loop = self.loop
                loop.schedule(loop.time() + self.hub.BLOCKED_RETRY, self.drain, ())
                return
            self.blocked = False
            self.taken += 1
            try:
                item.work(*item.args)
            except BaseException as exc:  # noqa: BLE001 - user code is guarded inside: ours
                _log.error("taro_udp: internal error in the event thread", exc=exc)

    def running(self) -> bool:
        """Not retired: posts to it and owners attached to it are served."""
        return not self.retired

    def wake(self) -> None:
        """Make the thread's ``select()`` return (any thread)."""
        self.loop._write_to_self()  # type: ignore[attr-defined]

    def has_ready_work(self) -> bool:
        """Whether anything can run now, without time passing (event thread)."""
        return bool(self.loop._ready) or (bool(self.inbox) and not self.blocked)

    def next_deadline(self) -> Optional[float]:
        """The loop time of the earliest pending timer, or None (event thread)."""
        scheduled = self.loop._scheduled
        if not scheduled:
            return None
        head = scheduled[0]
        if not head[2]._cancelled:
            return float(head[0])
        live = [entry[0] for entry in scheduled if not entry[2]._cancelled]
        return float(min(live)) if live else None

    def cancel_timers(self) -> None:
        """Cancel every pending timer of the loop, of every kind (event thread)."""
        for entry in list(self.loop._scheduled):
            entry[2].cancel()

    # -- life and death ----------------------------------------------------------------

    def is_idle(self) -> bool:
        """Whether nothing is left: no socket, posted work, timer or task (event thread)."""
        loop = self.loop
        if self.owners or self.inbox or loop._ready:
            return False
        if self.hub.exiting:  # at exit, timers and tasks are dropped
            return True
        # Entries are looked at, not counted: one live timer keeps the loop (pruning
        # keeps the dead ones at most half of the heap).
        if any(not entry[2]._cancelled for entry in loop._scheduled):
            return False
        return not asyncio.all_tasks(loop)

    def start(self) -> None:
        try:
            self.thread.start()
        except RuntimeError as exc:  # the process may start no more threads
            self.release()
            raise OSError(errno.EAGAIN, f"cannot start the event thread: {exc}") from exc

    def _main(self) -> None:
        self.ident = threading.get_ident()
        try:
            while True:
                try:
                    self.loop.run_forever()
                except BaseException as exc:  # noqa: BLE001 - SystemExit from a raw task
                    if self.abandoned:
                        return  # forked from inside a callback: this copy has no loop
                    # asyncio lets SystemExit and KeyboardInterrupt out of run_forever();
                    # the thread is every socket's, so it reports them and goes on.
                    _log.error(
                        "taro_udp: %s escaped into the event loop; it goes on",
                        type(exc).__name__,
                        exc=exc,
                    )
                    continue
                if self.abandoned or self._retire():
                    break
        except BaseException as exc:  # noqa: BLE001 - pragma: no cover - a bug of ours
            _log.error("taro_udp: the event thread failed: %s", type(exc).__name__, exc=exc)
        finally:
            if not self.retired and not self.abandoned:  # only a bug of ours gets here
                self._died()
            self.release()

    def _retire(self) -> bool:
        # Publish first, check second (see the module docstring).
        hub = self.hub
        with hub._start_lock:
            self.retired = True
            if self.is_idle():
                if hub._current is self:
                    hub._current = None
                # Checked again last: is_idle() allocates, and a finalizer the garbage
                # collector ran meanwhile may have posted or attached something.
                if not self.inbox and not self.owners:
                    return True
                hub._current = self
            self.retired = False
            return False

    def _died(self) -> None:
        hub = self.hub
        with hub._start_lock:
            self.retired = True
            if hub._current is self:
                hub._current = None
            hub._orphans.update(self.owners)
            hub._orphan_readers.update(self.readers)
            if not (hub._orphans or self.inbox):
                return
            _log.error("taro_udp: the event thread ended unexpectedly; a new one takes over")
            try:  # its sockets and posted work must not wait for the next call
                hub._live()
            except OSError as exc:
                _log.error("taro_udp: cannot start the event thread (%s)", exc)

    def register_reader(self, fd: int, reader: Callable[[], object]) -> None:
        """asyncio's ``add_reader``, minus its checks for transports (we use none): the
        selector key carries the (reader, writer) handles asyncio's event processing
        expects. Registering from another thread is what epoll allows; the event thread
        sees the fd at once, even inside ``select()``."""
        loop: Any = self.loop
        selector = loop._selector
        data = (asyncio.Handle(reader, (), loop), None)
        if not self.owns_epoll:
            selector.register(fd, selectors.EVENT_READ, data)
            return
        # The selectors module's register() without its chain of wrappers: the key
        # first (an event for the fd finds it), then epoll.
        keys = selector._fd_to_key
        if fd in keys:
            raise KeyError(f"{fd!r} is already registered")
        keys[fd] = selectors.SelectorKey(fd, fd, selectors.EVENT_READ, data)
        try:
            selector._selector.register(fd, _EPOLLIN)
        except BaseException:
            del keys[fd]
            raise

    def unregister_reader(self, fd: int) -> None:
        """Stop watching ``fd`` (before it is closed: the number is reused); any thread."""
        selector: Any = self.loop._selector  # type: ignore[attr-defined]
        if not self.owns_epoll:
            try:
                key = selector.unregister(fd)
            except (KeyError, ValueError):  # removed meanwhile by the other side
                return
        else:
            key = selector._fd_to_key.pop(fd, None)
            if key is None:  # removed meanwhile by the other side (pause vs close)
                return
            try:
                selector._selector.unregister(fd)
            except OSError:  # pragma: no cover - closed already: epoll forgot it
                pass
        key.data[0].cancel()

    def adopt_orphans(self) -> None:
        """Take over the sockets of a thread that died (called under the hub's start lock)."""
        hub = self.hub
        self.owners.update(hub._orphans)
        hub._orphans.clear()
        for fd, reader in hub._orphan_readers.items():
            try:
                self.register_reader(fd, reader)
                self.readers[fd] = reader
            except (OSError, ValueError):  # pragma: no cover - closed meanwhile
                pass
        hub._orphan_readers.clear()

    def release(self) -> None:
        """Close the loop: its selector and wake-up sockets (no user code runs here)."""
        try:
            self.loop.close()
        except BaseException:  # noqa: BLE001 - nothing left to do about it
            pass

    def abandon(self) -> None:
        """In a forked child: close our copies of the fds without touching the epoll set.

        The child's epoll fd refers to the parent's epoll instance: ``loop.close()``
        would unregister fds from it with ``epoll_ctl``, changing the parent's loop.
        """
        self.abandoned = True  # a copy of this thread forked from a callback ends
        loop: Any = self.loop
        for closable in (loop._selector, loop._ssock, loop._csock):
            try:
                if isinstance(closable, selectors.BaseSelector):
                    closable._selector.close()  # type: ignore[attr-defined]
                elif closable is not None:
                    closable.close()
            except (OSError, AttributeError):  # pragma: no cover
                pass
        loop._selector = loop._ssock = loop._csock = None
        loop._closed = True  # so that the loop's finalizer does not try again
        loop._ready.clear()
        loop._scheduled.clear()


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
