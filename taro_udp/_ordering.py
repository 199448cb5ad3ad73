"""Send results in order across threads: ``send()`` with callbacks from another thread.

What is guaranteed (SPEC §5, §7), for a ``send()``/``write()`` with ``success``/``fail``/
``complete`` called from a thread other than the event thread:

1. Its result runs only after ``send()`` has returned on the caller's thread.
2. Its ``success`` runs before the ``onMessage`` of any datagram that socket reads while
   the send is under way, so the answer to a request never overtakes the request's
   ``success``.
3. Neither waits for ever: the event thread never blocks on the sender. A sender that is
   stuck inside ``send()`` (a signal handler that blocks) is waited for
   ``GIVE_UP_AFTER`` at most, and a send cut short by an exception from a signal
   handler, before even its cleanup ran, holds nothing back once ``STALE_CHECK`` finds
   it gone from its thread's stack.

How: each such send gets a ``SendToken`` in its socket's ``SendOrder``, made with the
first one (sends from the event thread, and sends without callbacks, never make one:
their results are posted in order by the one thread, or they have none). The result is
posted with ``call_soon_when_ready(token.has_returned, ...)``: (1). While tokens are
out, the socket's reader runs the posted results first, and if a send that was under way
when a datagram was read is still unfinished, keeps the datagram, stops reading and
resumes once that send's result has run: (2). Only the sends under way at the read count,
so a sender that never stops cannot hold the socket's datagrams for ever.

Why this shape and not another: the alternative weighed (issue 19) hands a send with
callbacks, validated on the caller's thread, to the event thread, which makes the system
call and runs the result, so that (2) falls out of the one thread. Measured on the
shared 2-vCPU machine (20,000 sends from the main thread, process CPU per send, medians
of 5 interleaved rounds): this shape 19.5 µs, a minimal hand-off 8.9 µs. Cheaper, but:
(1) still needs the same look at the sender's stack (the event thread may take the
work before ``send()`` has returned), so the token stays; the event thread would make
the system call, which on a full send buffer either blocks every socket (repro 15) or
needs a non-blocking send, a writability wait and a queue per socket (a change of the
``Transport`` seam the simulated network implements, and ``send()`` returning before its
datagram left, so the OS no longer pushes back on a fast sender); and one thread's
datagrams with and without callbacks would leave in a different order than sent unless
sends without callbacks queued behind the pending hand-offs too. This shape costs the
hot paths one attribute check per datagram read and nothing per send without callbacks,
and only code that sends with callbacks from another thread pays for it; code ported
from JS runs on the event thread and never does.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from typing import Any, Callable, Optional, Protocol, Set, Tuple

from . import _loop

__all__ = ["GIVE_UP_AFTER", "STALE_CHECK", "SendOrder", "SendToken"]

# How long a result waits for a sender stuck inside send() (seconds).
GIVE_UP_AFTER = 0.5
# How often a paused socket looks for the tokens of interrupted sends (seconds).
STALE_CHECK = 0.05
# Before Python 3.10 the interpreter may switch threads between ``send()``'s last
# statement and its return, so there the stack is checked even when ``returned`` is set.
_CHECK_STACK = sys.version_info < (3, 10)

# (message, remote host, remote port, local host): the transport's Received.
_Received = Tuple[bytes, str, int, Optional[str]]


class _Socket(Protocol):
    """What a ``SendOrder`` needs of its socket."""

    _fd: int
    _lock: threading.RLock

    def _is_closed(self) -> bool: ...  # pragma: no cover

    def _on_readable(self, stashed: Optional[_Received] = None) -> None: ...  # pragma: no cover


class SendToken:
    """A ``send()`` with callbacks from a thread other than the event thread.

    While it is in its socket's ``SendOrder``, the socket's datagrams may wait. Its
    result runs only once ``send()`` has returned, so that ``success`` never runs while
    ``send()`` is still on the caller's stack: ``returned`` is ``send()``'s very last
    statement, and where it is not set (the interpreter switched threads just before
    it, or an exception from a signal handler left ``send()`` early) the sender's stack
    says whether ``send()``'s frame is still on it. A sender stuck inside ``send()``
    (a signal handler that blocks) is waited for ``GIVE_UP_AFTER`` at most.
    """

    __slots__ = ("first_look", "frame", "posted", "returned", "seq")

    def __init__(self, frame: Any, seq: int) -> None:
        self.seq = seq  # in the order the socket's sends began
        self.returned = False
        self.posted = False
        self.first_look = 0.0
        # The frame of send()/write(); holding it also keeps CPython from reusing the
        # frame object for another call.
        self.frame = frame

    def has_returned(self) -> bool:
        """Whether the result may run: ``send()`` has returned (or we gave up waiting)."""
        if self.returned and not _CHECK_STACK:
            return True
        if not self.on_stack():
            return True
        # Still inside send(): never wait for the sender for long (real time: the
        # sender is a real thread).
        now = time.monotonic()
        if not self.first_look:
            self.first_look = now
        return now - self.first_look > GIVE_UP_AFTER

    def on_stack(self) -> bool:
        """Whether the sender is still inside this ``send()`` call.

        ``frame.clear()`` refuses an executing frame, in one step under the GIL; walking
        another thread's stack instead would race with that thread.
        """
        frame = self.frame
        if frame is None:
            return False
        try:
            frame.clear()  # done: its locals are of no more use
        except RuntimeError:  # "cannot clear an executing frame"
            return True
        self.frame = None
        return False


class SendOrder:
    """The sends with callbacks of one socket under way on other threads, and what they hold.

    ``sending`` is read by the socket's reader for every datagram (empty: nothing to
    do). Everything else runs on the event thread, except ``begin`` (the sender's).
    """

    __slots__ = ("_ids", "_paused", "_sock", "_stale_check", "_waiting_for", "sending", "stash")

    def __init__(self, sock: _Socket) -> None:
        self._sock = sock
        self.sending: Set[SendToken] = set()
        self._ids = itertools.count()
        self._paused = False
        self._waiting_for = -1  # the newest send under way when the kept datagram came
        self._stale_check: Optional[_loop.Timer] = None
        self.stash: Optional[_Received] = None  # the datagram kept meanwhile

    def begin(self, frame: Any) -> SendToken:
        """A token for the send whose frame is ``frame``; datagrams wait for it from now."""
        token = SendToken(frame, next(self._ids))
        self.sending.add(token)
        return token

    def hold_back(self, received: _Received) -> bool:
        """Keep ``received`` and stop reading if a send under way may have caused it.

        Another thread is inside send() with callbacks: the datagram may be the answer
        to that send and must not overtake its success. Results already posted run now;
        if a send that was under way when it was read is still unfinished, the datagram
        is kept and reading stops until that send's result has run (``release``).
        """
        newest = max(token.seq for token in list(self.sending))
        if _loop.inbox:
            _loop.run_posted()
        if self._sock._is_closed():
            return True  # closed by that work: undelivered, as after close()
        self._waiting_for = newest
        if not self._held_back():
            return False
        self.stash = received
        self._pause()
        return True

    def release(self, token: SendToken) -> None:
        """The send's result has run (or the send was interrupted): datagrams may flow."""
        self.sending.discard(token)
        if self._paused and not self._held_back():
            self._resume()

    def _pause(self) -> None:
        self._paused = True
        _loop.remove_reader(self._sock._fd)
        if self._stale_check is None:
            self._stale_check = _loop.call_later(STALE_CHECK, self._drop_stale_tokens)

    def _drop_stale_tokens(self) -> None:
        # Still paused after a while: a send interrupted by an exception from a signal
        # handler, at a point where even its cleanup was cut short, left a token that
        # nothing will release. A token whose thread is no longer inside this socket's
        # send() and whose result was never posted is such a one.
        self._stale_check = None
        if not self._paused or self._sock._is_closed():
            return
        for token in list(self.sending):
            if not token.posted and not token.on_stack():
                self.sending.discard(token)
        if self._held_back():
            self._stale_check = _loop.call_later(STALE_CHECK, self._drop_stale_tokens)
        else:
            self._resume()

    def _held_back(self) -> bool:
        # Whether a send that was under way when the kept datagram was read is still so.
        waiting_for = self._waiting_for
        return any(token.seq <= waiting_for for token in list(self.sending))

    def _resume(self) -> None:
        check, self._stale_check = self._stale_check, None
        if check is not None:
            check.cancel()
        sock = self._sock
        with sock._lock:  # held by other threads only around quick system calls
            self._paused = False
            if sock._is_closed():
                return
            stash, self.stash = self.stash, None
            _loop.add_reader(sock._fd, sock._on_readable)
        if stash is not None:
            sock._on_readable(stash)


def post_result(token: Optional[SendToken], work: Callable[..., object], *args: Any) -> None:
    """Post a send's result: at once without a token, else once ``send()`` has returned."""
    if token is None:
        _loop.call_soon(work, *args)
    else:
        _loop.call_soon_when_ready(token.has_returned, work, *args)
