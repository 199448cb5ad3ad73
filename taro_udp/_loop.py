"""The event thread: one thread, shared by every socket, timer and task, runs every callback.

This is the mini-program's single JS thread. It runs an asyncio event loop (a
``SelectorEventLoop`` subclass, in ``_eventloop``, imported when the first thread
starts), so timers are ``call_at`` handles, Promises are futures, ported ``async`` code
runs as tasks, and ``loop.time()`` is the one clock (``_clock``). This module holds
what outlives one life of the thread: the inbox, the current thread, the locks.
Sockets do not use asyncio's transports, which cost twice the round trip: each
socket's fd is a plain reader that reads *and* delivers its datagrams on this thread,
with no hand-off.

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

import atexit
import collections
import itertools
import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Optional, Protocol, Set, Tuple

from . import _clock, _log

if TYPE_CHECKING:  # asyncio is imported with the first event thread, not with taro_udp
    import asyncio

    from ._eventloop import EventThread

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
    "call_soon_or_raise",
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
inbox = _inbox  # read-only for others: truthy while posted work waits
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
            from ._eventloop import EventThread

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


def _post(item: _Work, wake: bool, strict: bool = False) -> None:
    thread = _current
    if thread is None:
        try:
            thread = _live()
        except OSError as exc:
            if strict:
                raise OSError(
                    exc.errno, f"cannot start the event thread: {exc.strerror or exc}"
                ) from exc
            # With no fd or thread left to start the event thread, the event (a result or
            # an error) can go nowhere but the log.
            _log.error("taro_udp: cannot start the event thread (%s); an event was dropped", exc)
            return
    if thread.ident == threading.get_ident():
        _inbox.append(item)
        if not thread.drain_scheduled:
            thread.schedule_drain()
        return
    try:
        _inbox.append(item)
        if wake and thread.sleeping:
            thread.wake()
    except BaseException:
        # An exception from a signal handler, anywhere from the append to the wake-up
        # byte's send: the work may be queued already and must not wait for the next
        # wake-up. Wake it again (a spare wake-up costs nothing).
        thread.wake()
        raise
    finally:
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


def call_soon_or_raise(work: Callable[..., object], *args: Any) -> None:
    """Like ``call_soon``, for a caller that can be told: raise ``OSError`` (nothing is
    posted) when the event thread cannot start (no fd or thread left), instead of
    logging and dropping the work. ``run()`` and timers armed from another thread use
    it, so that they fail at once rather than wait for work that was lost."""
    _post(_Work(work, args), True, True)


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
    thread.register_reader(fd, reader)
    if not thread.live_registration and thread.sleeping:  # pragma: no cover - not epoll
        thread.wake()


def remove_reader(fd: int) -> None:
    """Stop watching ``fd``; must be called *before* the fd is closed (the number is reused)."""
    thread = _current
    if thread is None:  # pragma: no cover
        return
    thread.readers.pop(fd, None)
    selector: Any = thread.loop._selector  # type: ignore[attr-defined]
    try:
        key = selector.unregister(fd)
    except (KeyError, ValueError):  # removed meanwhile by the other side (pause vs close)
        return
    key.data[0].cancel()


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
    _clock.current.on_exit()  # a virtual clock lets the loop run freely now
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
