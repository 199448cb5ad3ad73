"""The event thread: one thread, shared by every socket, timer and task, runs every callback.

This is the mini-program's single JS thread. It runs an asyncio event loop (a
``SelectorEventLoop`` subclass), so timers are ``call_at`` handles, Promises are
futures, ported ``async`` code runs as tasks, and ``loop.time()`` is the one clock
(``_clock``). Sockets do not use asyncio's transports, which cost twice the round trip:
each socket's fd is a plain reader that reads *and* delivers its datagrams on this
thread, with no hand-off.

Work posted by any thread (listening, close, send results, errors, timers armed from
another thread) goes into one FIFO, ``_inbox``. Posting takes no lock: a deque append,
then a wake-up byte only if the thread is asleep. So a finalizer run by the garbage
collector, or a signal handler, may post from any point of any thread, even one that
is itself in the middle of posting.

- Posted work runs in the order it was posted, before the sockets that became
  readable in the same wake-up and before timers due then.
- The event thread never waits for another thread: nothing it runs blocks on a lock
  that user code can hold for long, and it never waits for a result slot.
- The thread exists only while something is left to do: an open socket, a pending
  timer or task, posted work. It starts with the first of them and retires once none
  is left, releasing its epoll fd and wake-up sockets. A process that closes its
  sockets and lets its timers fire is left with no thread and no fd of ours.

Retiring races with posting from other threads. Both sides publish first and check
second (a deque append, then a look at ``retired``; ``retired = True``, then a look at
the inbox and the owners), so under the GIL's sequential consistency at least one side
sees the other: either the thread sees the new work and stays, or the poster sees the
thread retired and starts a new one. ``_start_lock`` (re-entrant, so a finalizer that
runs while its thread holds it cannot deadlock) serialises only starting and retiring.

This module knows nothing of UDPSocket: owners are anything with ``close()`` and
``_after_fork()``, readers are plain callables.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import errno
import heapq
import itertools
import os
import selectors
import threading
from typing import Any, Callable, Deque, Dict, List, Optional, Protocol, Set, Tuple

from . import _clock, _log

__all__ = [
    "EXIT_JOIN_TIMEOUT",
    "MAX_PENDING",
    "QUIET_MAX",
    "STUCK_AFTER",
    "THREAD_NAME",
    "add_reader",
    "attach",
    "call_at",
    "call_later",
    "call_soon",
    "call_soon_if_heard",
    "call_soon_when_ready",
    "current",
    "detach",
    "in_event_thread",
    "pending",
    "remove_reader",
    "run_posted",
    "run_reader",
    "wait_for_room",
    "wake_if_pending",
]

THREAD_NAME = "taro_udp-events"
# At interpreter exit, how long to wait for the thread to deliver the ``close`` events.
# A listener that blocks must not hang the user's process; the thread is a daemon.
EXIT_JOIN_TIMEOUT = 2.0

# Bound of the posted work (send results, errors, listening, close). A thread other than
# the event thread that posts a result while this many wait is held in ``wait_for_room``
# while the event thread makes progress: backpressure instead of unbounded memory.
MAX_PENDING = 10_000
# ...but a sender never waits for an event thread that has taken nothing for this long
# (seconds): it may be inside a callback that waits for a lock the sender holds. The
# sender goes on, past the bound, rather than deadlock (see ``wait_for_room``).
STUCK_AFTER = 0.1
# Events posted without a wake-up (nobody listens yet) that may wait for the next one.
QUIET_MAX = 256
# How often the event thread looks again at a posted call that is not ready (seconds).
BLOCKED_RETRY = 0.0002


class Owner(Protocol):
    """What the loop needs of a socket: to close it at exit, and to drop it after fork."""

    def close(self) -> None: ...  # pragma: no cover

    def _after_fork(self) -> None: ...  # pragma: no cover


class _Work:
    """One posted call. Compared by identity only (no user ``__eq__`` ever runs)."""

    __slots__ = ("args", "ready", "work")

    def __init__(
        self,
        work: Callable[..., object],
        args: Tuple[Any, ...],
        ready: Optional[Callable[[], bool]] = None,
    ) -> None:
        self.work = work
        self.args = args
        self.ready = ready  # None: always; else the call keeps its place until ready()


_inbox: Deque[_Work] = collections.deque()
_start_lock = threading.RLock()
_room = threading.Event()  # set by the event thread when it takes from a full inbox
_room.set()
_current: Optional[EventThread] = None
# Owners and readers of an event thread that ended without retiring (a bug of ours, or
# something that should not be possible): the next thread adopts them.
_orphans: Set[Owner] = set()
_orphan_readers: Dict[int, Callable[[], object]] = {}
_timer_seq = itertools.count()
exiting = False  # set at interpreter exit: timers are dropped, close() never waits

# Set by _runtime: called with a task's exception that nobody retrieved, and when the
# loop is idle (no socket, timer, task or posted work left).
unhandled_hook: Optional[Callable[[BaseException], None]] = None
idle_hook: Optional[Callable[[], None]] = None


class _Timer(asyncio.TimerHandle):
    """A timer ordered by (deadline, creation): same-deadline timers run in creation order.

    asyncio compares timers by deadline only, and ``heapq`` is not stable.
    """

    __slots__ = ("_seq",)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, _Timer):
            return NotImplemented
        mine: Any = self
        theirs: Any = other
        if mine._when != theirs._when:
            return bool(mine._when < theirs._when)
        return bool(mine._seq < theirs._seq)


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
        if _inbox and not owner.drain_scheduled:
            owner.schedule_drain()

    def _poll(self, timeout: Optional[float] = None) -> List[Tuple[Any, int]]:
        owner = self._owner
        # While the call at the head of the inbox is not ready, a timer looks again
        # (EventThread.drain): the inbox is not a reason to spin.
        if _inbox and not owner.blocked:
            timeout = 0
        elif timeout != 0:
            owner.sleeping = True
            if _inbox and not owner.blocked:
                timeout = 0
        try:
            return super().select(timeout)
        finally:
            owner.sleeping = False


class _Loop(asyncio.SelectorEventLoop):
    """asyncio's loop with the runtime's clock, ordered timers and an idle check."""

    def __init__(self, owner: EventThread) -> None:
        selector = _Selector(owner)  # may raise OSError: no fd left
        try:
            super().__init__(selector)  # the wake-up socketpair: may raise OSError
        except BaseException:
            selector.close()
            self._closed = True  # half made: its finalizer must not close it again
            raise
        self._owner = owner
        self.set_exception_handler(_exception_handler)

    def time(self) -> float:
        return _clock.current.time()

    def call_at(  # type: ignore[override]
        self, when: float, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.TimerHandle:
        # asyncio's own call_at, with a timer that remembers its creation order.
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()  # type: ignore[attr-defined]
        timer: Any = _Timer(when, callback, args, self, context)
        timer._seq = next(_timer_seq)
        heapq.heappush(self._scheduled, timer)  # type: ignore[attr-defined]
        timer._scheduled = True
        handle: asyncio.TimerHandle = timer
        return handle

    def create_task(self, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = super().create_task(coro, **kwargs)
        task.add_done_callback(_task_done)
        return task

    def _run_once(self) -> None:
        super()._run_once()  # type: ignore[misc]
        owner = self._owner
        if not owner.owners and owner.is_idle():
            if idle_hook is not None:
                idle_hook()
            _clock.current.on_idle()
            self.stop()


class EventThread:
    """One life of the event thread: its asyncio loop, its sockets and readers."""

    def __init__(self) -> None:
        # Load the logging package now, with the first socket, not at import: reporting
        # a problem later must not need to open a file (no descriptor may be left).
        _log.logger()
        self.sleeping = False
        self.drain_scheduled = False
        self.retired = False
        self.taken = 0  # posted calls run so far: the progress wait_for_room watches
        self.blocked = False  # the call at the head of the inbox is not ready yet
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
        self._drain_handle = asyncio.Handle(self.drain, (), self.loop, None)
        self.thread = threading.Thread(target=self._main, name=THREAD_NAME, daemon=True)

    def __repr__(self) -> str:
        return f"<taro_udp event thread owners={len(self.owners)} retired={self.retired}>"

    # -- posted work (on the event thread) -------------------------------------------

    def schedule_drain(self) -> None:
        """Run the posted work at the head of the loop's next round (event thread)."""
        self.drain_scheduled = True
        self.loop._ready.append(self._drain_handle)  # type: ignore[attr-defined]

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
        if not _room.is_set() and len(_inbox) < MAX_PENDING:
            _room.set()
        if _inbox and not self.drain_scheduled and not self.blocked:
            self.schedule_drain()

    def _drain(self) -> None:
        popleft = _inbox.popleft
        for _ in range(len(_inbox)):
            try:
                item = popleft()
            except IndexError:  # pragma: no cover - only this thread takes
                break
            if item.ready is not None and not item.ready():
                # It keeps its place at the head, and what was posted after it waits
                # too; a timer looks again shortly (see call_soon_when_ready).
                _inbox.appendleft(item)
                self.blocked = True
                self.drain_scheduled = True
                self.loop.call_later(BLOCKED_RETRY, self.drain)
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
        return bool(self.loop._ready) or (bool(_inbox) and not self.blocked)  # type: ignore[attr-defined]

    def next_deadline(self) -> Optional[float]:
        """The loop time of the earliest pending timer, or None (event thread)."""
        scheduled = self.loop._scheduled  # type: ignore[attr-defined]
        if not scheduled:
            return None
        head = scheduled[0]
        if not head._cancelled:
            return float(head._when)
        live = [timer._when for timer in scheduled if not timer._cancelled]
        return float(min(live)) if live else None

    # -- life and death ----------------------------------------------------------------

    def is_idle(self) -> bool:
        """Whether nothing is left: no socket, posted work, timer or task (event thread)."""
        loop = self.loop
        if self.owners or _inbox or loop._ready:  # type: ignore[attr-defined]
            return False
        if exiting:  # at exit, timers and tasks are dropped
            return True
        scheduled = loop._scheduled  # type: ignore[attr-defined]
        if len(scheduled) > loop._timer_cancelled_count:  # type: ignore[attr-defined]
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
                    # asyncio lets SystemExit and KeyboardInterrupt out of run_forever();
                    # the thread is every socket's, so it reports them and goes on.
                    _log.error(
                        "taro_udp: %s escaped into the event loop; it goes on",
                        type(exc).__name__,
                        exc=exc,
                    )
                    continue
                if self._retire():
                    break
        except BaseException as exc:  # noqa: BLE001 - pragma: no cover - a bug of ours
            _log.error("taro_udp: the event thread failed: %s", type(exc).__name__, exc=exc)
        finally:
            if not self.retired:  # only a bug of ours gets here
                self._died()
            self.release()

    def _retire(self) -> bool:
        # Publish first, check second (see the module docstring).
        global _current
        with _start_lock:
            self.retired = True
            if self.is_idle():
                if _current is self:
                    _current = None
                # Checked again last: is_idle() allocates, and a finalizer the garbage
                # collector ran meanwhile may have posted or attached something.
                if not _inbox and not self.owners:
                    return True
                _current = self
            self.retired = False
            return False

    def _died(self) -> None:
        global _current
        with _start_lock:
            self.retired = True
            if _current is self:
                _current = None
            _orphans.update(self.owners)
            _orphan_readers.update(self.readers)
            if not (_orphans or _inbox):
                return
            _log.error("taro_udp: the event thread ended unexpectedly; a new one takes over")
            try:  # its sockets and posted work must not wait for the next call
                _live()
            except OSError as exc:
                _log.error("taro_udp: cannot start the event thread (%s)", exc)

    def adopt_orphans(self) -> None:
        """Take over the sockets of a thread that died (called under ``_start_lock``)."""
        self.owners.update(_orphans)
        _orphans.clear()
        for fd, reader in _orphan_readers.items():
            try:
                self.loop.add_reader(fd, reader)
                self.readers[fd] = reader
            except (OSError, ValueError):  # pragma: no cover - closed meanwhile
                pass
        _orphan_readers.clear()

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
    if unhandled_hook is not None:
        unhandled_hook(exc)


def _task_name(task: asyncio.Task[Any]) -> str:
    try:
        return str(task.get_name())
    except BaseException:  # noqa: BLE001 - pragma: no cover
        return "?"


# -- the thread that runs now ----------------------------------------------------------


def _live() -> EventThread:
    """The running event thread, started if there is none. Raises ``OSError``."""
    global _current
    thread = _current
    if thread is not None:
        return thread
    with _start_lock:
        thread = _current
        if thread is None:
            thread = EventThread()
            thread.adopt_orphans()
            # Current before it starts: a finalizer that posts while we start it (on
            # this thread, re-entering the lock) finds it and its post is drained.
            _current = thread
            try:
                thread.start()
            except BaseException:
                _current = None
                raise
        return thread


def _post(item: _Work, wake: bool) -> None:
    thread = _current
    if thread is None:
        try:
            thread = _live()
        except OSError as exc:
            # With no fd or thread left to start the event thread, the event (a result or
            # an error) can go nowhere but the log.
            _log.error("taro_udp: cannot start the event thread (%s); an event was dropped", exc)
            return
    _inbox.append(item)
    if thread.ident == threading.get_ident():
        if not thread.drain_scheduled:
            thread.schedule_drain()
        return
    if wake and thread.sleeping:
        thread.wake()
    if thread.retired:
        _rescue(thread)


def _rescue(thread: EventThread) -> None:
    # We posted to a thread that was retiring: if it retired for good, our work is in
    # the inbox with no thread to run it, so start one.
    with _start_lock:
        if not thread.retired:
            return  # it saw our work and stayed
        try:
            fresh = _live()
        except OSError as exc:
            _log.error("taro_udp: cannot start the event thread (%s); events wait", exc)
            return
        if fresh.sleeping:
            fresh.wake()


def call_soon(work: Callable[..., object], *args: Any) -> None:
    """Run ``work(*args)`` on the event thread, after everything posted before it.

    Safe from any thread, from a finalizer and from a signal handler. ``work`` must
    guard user code itself: an exception it lets out is logged as an internal error.
    """
    _post(_Work(work, args), True)


def call_soon_if_heard(heard: Callable[[], bool], work: Callable[..., object], *args: Any) -> None:
    """Like ``call_soon``, but wake the thread only if ``heard()``: someone listens.

    An event nobody listens to yet (``listening`` of a socket without ``onListening``
    listeners) runs in its place in the queue at the thread's next wake-up, which a
    listener added meanwhile brings about (``wake_if_pending``). Creating or closing many
    sockets then costs no thread switch each; QUIET_MAX bounds what may wait.
    """
    _post(_Work(work, args), heard() or len(_inbox) >= QUIET_MAX)


def wake_if_pending() -> None:
    """Wake the thread if work waits in the queue (a listener was just added for it)."""
    thread = _current
    if thread is not None and _inbox and thread.sleeping:
        thread.wake()


def call_soon_when_ready(
    ready: Callable[[], bool], work: Callable[..., object], *args: Any
) -> None:
    """Like ``call_soon``, for a call that may only run once ``ready()`` says so.

    It keeps its place in the queue: until it is ready, nothing posted after it runs
    either, while sockets and timers are served as usual. The event thread never waits
    for it: it looks again in the loop's next round, then every ``BLOCKED_RETRY``
    seconds. ``ready()`` must become true soon by itself (a send about to return).
    """
    _post(_Work(work, args, ready), True)


def call_later(delay: float, work: Callable[..., object], *args: Any) -> asyncio.TimerHandle:
    """Call ``work(*args)`` after ``delay`` seconds of loop time (event thread only)."""
    return current().loop.call_later(delay, work, *args)


def run_reader(fd: int) -> None:
    """Run the reader of ``fd`` now, if it has one (event thread; posted by a transport).

    A simulated transport posts this when a datagram lands, so that the datagram is
    delivered in its place among the posted work and timers of that instant.
    """
    thread = _current
    if thread is not None:
        reader = thread.readers.get(fd)
        if reader is not None:
            reader()


def run_posted() -> None:
    """Run the work posted so far, now (event thread): before a datagram or a timer."""
    if _inbox:
        thread = current()
        if not thread.blocked:
            thread.drain()


def pending() -> int:
    """How many posted calls wait for the event thread."""
    return len(_inbox)


def call_at(when: float, work: Callable[..., object], *args: Any) -> asyncio.TimerHandle:
    """Call ``work(*args)`` at loop time ``when`` (event thread only)."""
    return current().loop.call_at(when, work, *args)


def attach(owner: Owner) -> None:
    """Keep ``owner`` alive (and the thread running) until ``detach``. Raises ``OSError``."""
    while True:
        thread = _live()
        thread.owners.add(owner)
        if thread.running():
            return
        with _start_lock:
            if thread.running():
                return
            thread.owners.discard(owner)  # it retired for good: attach to the next one


def detach(owner: Owner) -> None:
    """Release ``owner``; post its last event *before* this, so the thread delivers it."""
    thread = _current
    if thread is None:  # pragma: no cover - an attached owner keeps the thread
        return
    thread.owners.discard(owner)
    _orphans.discard(owner)
    # The last owner gone: wake the thread to deliver what waits and retire.
    if not thread.owners and thread.sleeping:
        thread.wake()


def add_reader(fd: int, reader: Callable[[], object]) -> None:
    """Call ``reader()`` on the event thread whenever ``fd`` is readable (owner attached)."""
    thread = current()
    thread.readers[fd] = reader
    thread.loop.add_reader(fd, reader)
    if not thread.live_registration and thread.sleeping:  # pragma: no cover - not epoll
        thread.wake()


def remove_reader(fd: int) -> None:
    """Stop watching ``fd``; must be called *before* the fd is closed (the number is reused)."""
    thread = _current
    if thread is None:  # pragma: no cover
        return
    thread.readers.pop(fd, None)
    try:
        thread.loop.remove_reader(fd)
    except (KeyError, ValueError):  # removed meanwhile by the other side (pause vs close)
        pass


def current() -> EventThread:
    """The running event thread; called where there always is one (an owner attached)."""
    thread = _current
    assert thread is not None
    return thread


def in_event_thread() -> bool:
    """Whether the caller is the event thread (which must never wait for itself)."""
    thread = _current
    return thread is not None and thread.ident == threading.get_ident()


def wait_for_room() -> None:
    """Hold the calling thread while ``MAX_PENDING`` calls wait for the event thread.

    Call it with no lock held. It waits only while the event thread makes progress: if
    the thread takes nothing for ``STUCK_AFTER`` seconds, it may be inside a callback
    that waits for a lock this caller holds, so the caller goes on instead of
    deadlocking, and does not wait again until the thread has moved.
    """
    if len(_inbox) < MAX_PENDING:  # the fast path: one length check
        return
    thread = _current
    if thread is None or thread.ident == threading.get_ident():
        return
    while len(_inbox) >= MAX_PENDING:
        taken = thread.taken
        if thread.stuck_at == taken or thread.retired:
            return
        _room.clear()
        if len(_inbox) < MAX_PENDING:
            return
        if not _room.wait(STUCK_AFTER) and thread.taken == taken:
            thread.stuck_at = taken
            return


def _close_all_at_exit() -> None:
    global exiting
    exiting = True
    thread = _current
    if thread is None:
        return
    for owner in list(thread.owners):
        owner.close()
    if thread.thread.is_alive():
        thread.wake()  # timers are dropped now: let it see that it is idle
        # Delivers the ``close`` events; bounded, since a listener may be blocked forever.
        thread.thread.join(EXIT_JOIN_TIMEOUT)


def _after_fork_in_child() -> None:
    # The child has no event thread. Its copies of the parent's sockets are dropped
    # without events, and so is the parent's posted work.
    global _start_lock, _room, _current
    _start_lock = threading.RLock()
    _room = threading.Event()
    _room.set()
    _inbox.clear()
    thread, _current = _current, None
    if thread is None:
        return
    for owner in list(thread.owners):
        owner._after_fork()
    thread.abandon()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
