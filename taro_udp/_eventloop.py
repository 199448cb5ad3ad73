"""The event thread: one life of it, its asyncio loop, its sockets and readers.

Imported by ``_loop`` when the first event thread starts, so that ``import taro_udp``
does not pay for importing asyncio (it roughly doubles the import time). ``_loop`` owns
the shared state (the inbox of posted work, the current thread, the locks) and hands it
to each thread as its ``Hub``; this module never imports ``_loop``. The loop itself is
``_aioloop``'s (asyncio's loop with one heap of C-comparable timers); this module is the
thread: the posted work it drains, its readers (registered with epoll directly), its
retirement and its death.
"""

from __future__ import annotations

import asyncio
import errno
import select
import selectors
import threading
from typing import Any, Callable, Deque, Dict, Iterator, Optional, Protocol, Set

from . import _log
from ._aioloop import LoopTimer
from ._aioloop import _Loop as _Loop  # re-exported: tests reach the loop's making
from ._aioloop import _Selector as _Selector

__all__ = ["EventThread", "Hub", "LoopTimer", "Owner"]

_EPOLLIN: Any = getattr(select, "EPOLLIN", None)


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
