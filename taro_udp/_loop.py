"""The event thread: one thread, shared by every socket, runs every callback.

This is the mini-program's single JS thread. It waits in ``selector.select()`` for
sockets to become readable and for work posted by other threads, which wake it through
a socketpair: nothing here polls, and an idle process burns no CPU.

- Datagrams are read *and* delivered on this thread, with no hand-off between threads
  on the receive path (a queue hand-off measured 0.43x the throughput of a direct call).
- Work posted with ``call_soon`` (listening, close, send results, errors) runs here in
  the order it was posted, before the sockets that became readable in the same wake-up,
  so ``onListening`` comes before the first ``onMessage`` and ``send``'s ``success``
  before the echo it caused.
- The thread exists only while a socket is open or work is pending: it starts with the
  first socket and ends, releasing its selector and wake-up sockets, once the last
  socket's ``close`` event has been delivered. A process that closes its sockets is left
  with no thread and no file descriptor of ours.

This module knows nothing of UDPSocket: owners are anything with ``close()`` and
``_after_fork()``, readers are plain callables.
"""

from __future__ import annotations

import atexit
import collections
import os
import selectors
import socket
import threading
from typing import Any, Callable, Deque, Optional, Protocol, Set, Tuple

from . import _log

__all__ = [
    "EXIT_JOIN_TIMEOUT",
    "MAX_PENDING",
    "THREAD_NAME",
    "add_reader",
    "attach",
    "call_soon",
    "call_soon_if_heard",
    "current",
    "detach_and_call_soon",
    "in_event_thread",
    "remove_reader",
    "wait_for_room",
    "wake_if_pending",
]


THREAD_NAME = "taro_udp-events"
# At interpreter exit, how long to wait for the thread to deliver the ``close`` events.
# A listener that blocks must not hang the user's process; the thread is a daemon.
EXIT_JOIN_TIMEOUT = 2.0

# Bound of the queue of posted work (send results, errors, listening, close). A thread
# other than the event thread that sends while this many results wait is held in
# ``wait_for_room`` until the event thread has taken them: backpressure instead of
# unbounded memory. The event thread itself never waits (it would wait for itself).
MAX_PENDING = 10_000
# Events posted without a wake-up (nobody listens yet) that may wait for the next one.
QUIET_MAX = 256

_Work = Tuple[Callable[..., object], Tuple[Any, ...]]


class Owner(Protocol):
    """What the loop needs of a socket: to close it at exit, and to drop it after fork."""

    def close(self) -> None: ...  # pragma: no cover

    def _after_fork(self) -> None: ...  # pragma: no cover


class EventLoop:
    """One life of the event thread: its selector, its wake-up pair, its work queue."""

    def __init__(self) -> None:
        # Load the logging package now, with the first socket, not at import: reporting
        # a problem later must not need to open a file (no descriptor may be left).
        _log.logger()
        self.selector = selectors.DefaultSelector()
        try:
            self.wake_r, self.wake_w = socket.socketpair()
        except OSError:
            self.selector.close()
            raise
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)
        # epoll and kqueue watch an fd from the moment it is registered, even during a
        # select() already in progress; select() and poll() only see it on their next call.
        self.live_registration = type(self.selector).__name__ in (
            "EpollSelector",
            "KqueueSelector",
        )
        self.ready: Deque[_Work] = collections.deque()
        self.wake_pending = False
        self.owners: Set[Owner] = set()  # strong references: WeChat keeps open sockets alive
        self.ident: Optional[int] = None
        self.thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)

    # The loop's state below is guarded by the module's ``_lock``.

    def wake(self) -> None:
        """Make ``select()`` return; called with ``_lock`` held (see ``call_soon``)."""
        if self.wake_pending or threading.get_ident() == self.ident:
            return  # a byte is already on its way, or the thread will look before it sleeps
        self.wake_pending = True
        try:
            self.wake_w.send(b"\0")
        except OSError:  # pragma: no cover - the pair is ours and holds at most one byte
            _log.logger().exception("taro_udp: could not wake the event thread")

    def _take_ready(self) -> Deque[_Work]:
        with _lock:
            if self.wake_pending:
                self.wake_pending = False
                try:
                    self.wake_r.recv(64)
                except (BlockingIOError, InterruptedError):  # pragma: no cover
                    pass
            batch = self.ready
            self.ready = collections.deque()
            if len(batch) >= MAX_PENDING:
                _room.notify_all()
            return batch

    def run_ready(self) -> None:
        """Run the work posted so far, in order; on the event thread only.

        Readers call it too, before delivering a datagram read after work was posted.
        """
        for work, args in self._take_ready():
            try:
                work(*args)
            except Exception:  # noqa: BLE001 - user code is guarded by the socket: ours
                _log.logger().exception("taro_udp: internal error in the event thread")

    def _run_once(self) -> None:
        # One wake-up. A method of its own so that its locals (the ready keys, the work
        # just run) are released before the next select(): a closed socket must not be
        # kept alive by the loop while it sleeps.
        # Work posted by this thread itself wrote no wake-up byte: don't sleep on it.
        events = self.selector.select(0 if self.ready else None)
        if self.wake_pending or self.ready:
            self.run_ready()
        for key, _mask in events:
            reader = key.data
            if reader is None:
                continue  # the wake-up pair: its byte was read in _take_ready
            try:
                reader()
            except Exception:  # noqa: BLE001 - logged; the thread must go on
                _log.logger().exception("taro_udp: internal error in the event thread")

    def _retire_if_idle(self) -> bool:
        global _current
        with _lock:
            if self.owners or self.ready:
                return False
            if _current is self:
                _current = None
            return True

    def _run(self) -> None:
        self.ident = threading.get_ident()
        try:
            while True:
                self._run_once()
                if not self.owners and self._retire_if_idle():
                    break
        finally:
            self.selector.close()
            self.wake_r.close()
            self.wake_w.close()


_lock = threading.Lock()
_room = threading.Condition(_lock)  # notified when a full queue has been taken
_current: Optional[EventLoop] = None


def _live() -> EventLoop:
    """The running loop, started if there is none; called with ``_lock`` held."""
    global _current
    loop = _current
    if loop is None:
        loop = EventLoop()
        loop.thread.start()
        _current = loop
    return loop


def attach(owner: Owner) -> None:
    """Keep ``owner`` alive (and the thread running) until ``detach_and_call_soon``."""
    with _lock:
        _live().owners.add(owner)


def add_reader(fd: int, reader: Callable[[], object]) -> None:
    """Call ``reader()`` on the event thread whenever ``fd`` is readable (owner attached)."""
    with _lock:
        loop = _live()
        loop.selector.register(fd, selectors.EVENT_READ, reader)
        if not loop.live_registration:
            loop.wake()


def remove_reader(fd: int) -> None:
    """Stop watching ``fd``; must be called *before* the fd is closed (the number is reused)."""
    with _lock:
        loop = _current
        if loop is not None:
            try:
                loop.selector.unregister(fd)
            except (KeyError, ValueError):
                pass


def call_soon(work: Callable[..., object], *args: Any) -> None:
    """Run ``work(*args)`` on the event thread, after everything posted before it."""
    with _lock:
        try:
            loop = _live()
        except OSError as exc:
            # Only after every socket is closed (an open one keeps the thread running),
            # with no file descriptor left to start a thread again: the event (a result
            # or error of a call on a closed socket) can go nowhere but the log.
            _log.logger().error(
                "taro_udp: cannot start the event thread (%s); dropped %r", exc, work
            )
            return
        loop.ready.append((work, args))
        loop.wake()


def call_soon_if_heard(heard: Callable[[], bool], work: Callable[..., object], *args: Any) -> None:
    """Like ``call_soon``, but wake the thread only if ``heard()``: someone listens.

    An event nobody listens to yet (``listening`` of a socket without ``onListening``
    listeners) runs in its place in the queue at the thread's next wake-up, which a
    listener added meanwhile brings about (``wake_if_pending``). Creating or closing many
    sockets then costs no thread switch each; QUIET_MAX bounds what may wait. ``heard``
    is asked under the lock that ``wake_if_pending`` takes, so a listener added at the
    same moment from another thread is never missed.
    """
    with _lock:
        loop = _live()
        loop.ready.append((work, args))
        if heard() or len(loop.ready) >= QUIET_MAX:
            loop.wake()


def wake_if_pending() -> None:
    """Wake the thread if work waits in the queue (a listener was just added for it)."""
    with _lock:
        loop = _current
        if loop is not None and loop.ready:
            loop.wake()


def current() -> EventLoop:
    """The running loop; called on the event thread, where there always is one."""
    loop = _current
    assert loop is not None
    return loop


def in_event_thread() -> bool:
    """Whether the caller is the event thread (which must never wait for itself)."""
    loop = _current
    return loop is not None and loop.ident == threading.get_ident()


def wait_for_room() -> None:
    """Hold the calling thread while ``MAX_PENDING`` results wait for the event thread.

    Call it with no lock held (the event thread may need that lock to drain the queue).
    """
    loop = _current
    if loop is None or len(loop.ready) < MAX_PENDING:  # the fast path takes no lock
        return
    with _room:
        while True:
            loop = _current
            if loop is None or loop.ident == threading.get_ident():
                return
            if len(loop.ready) < MAX_PENDING:
                return
            _room.wait()


def detach_and_call_soon(
    owner: Owner, heard: Callable[[], bool], work: Callable[..., object], *args: Any
) -> None:
    """Release ``owner`` and post its last event in one step (``call_soon_if_heard``).

    One step, so the thread cannot go idle between the two and miss the event. The
    thread is woken for the last owner whether heard or not: it must deliver what waits
    and retire.
    """
    with _lock:
        loop = _live()
        loop.owners.discard(owner)
        loop.ready.append((work, args))
        if heard() or not loop.owners or len(loop.ready) >= QUIET_MAX:
            loop.wake()


exiting = False  # set at interpreter exit: close() then never waits for a listener


def _close_all_at_exit() -> None:
    global exiting
    exiting = True
    with _lock:
        loop = _current
        owners = list(loop.owners) if loop is not None else []
    for owner in owners:
        owner.close()
    if loop is not None and loop.thread.is_alive():
        # Delivers the ``close`` events; bounded, since a listener may be blocked forever.
        loop.thread.join(EXIT_JOIN_TIMEOUT)


def _after_fork_in_child() -> None:
    # The child has no event thread. Its copies of the parent's sockets are dropped
    # without events; the epoll fd is closed without epoll_ctl, which would change the
    # parent's interest list (the child's copy refers to the same epoll instance).
    global _lock, _room, _current
    _lock = threading.Lock()
    _room = threading.Condition(_lock)
    loop, _current = _current, None
    if loop is None:
        return
    for owner in list(loop.owners):
        owner._after_fork()
    loop.selector.close()
    loop.wake_r.close()
    loop.wake_w.close()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
