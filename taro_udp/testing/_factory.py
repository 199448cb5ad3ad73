"""SocketFactory: creates sockets for a test, watches their errors, closes them after it.

Every socket it makes gets an ``onError`` listener of the factory's. At the end of the
test ``close_all()`` closes every socket, waits (bounded) for each ``onClose`` — so every
event posted before the close has been delivered — and returns the errors the test did
not say it expected, which the pytest plugin turns into a failure.
"""

from __future__ import annotations

import threading
import time
from typing import Any, List, Mapping, Optional, Tuple

from .. import _api, _socket
from .._socket import UDPSocket
from .._types import CallbackResult, OnErrorCallbackResult
from ._recorder import DEFAULT_TIMEOUT
from ._virtual import VirtualTimeError, current_virtual_clock

__all__ = ["SocketFactory"]


class _Watch:
    """What the factory knows of one socket."""

    def __init__(self, sock: UDPSocket, expect_errors: bool) -> None:
        self.sock = sock
        self.expect_errors = expect_errors
        self.closed = threading.Event()


class SocketFactory:
    """Call it like ``create_udp_socket``: ``sock = udp_socket_factory("udp6")``.

    Errors: pass ``expect_errors=True`` for a socket whose errors are the point of the
    test, or ``expect_error("send:fail invalid port")`` to allow errors whose ``errMsg``
    starts with that text on any socket. Every error seen is in ``errors``. The factory's
    own ``onError``/``onClose`` listeners are removed by a bare ``offError()``/``offClose()``:
    errors are then not watched, and the close is not awaited but reported.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: List[_Watch] = []
        self._allowed: List[str] = []
        self._errors: List[Tuple[UDPSocket, OnErrorCallbackResult, bool]] = []
        self._adopting = False

    def adopt_new_sockets(self) -> None:
        """From now on, watch every socket made anywhere, as if this factory had made it.

        For sockets the code under test creates itself (``wx.createUDPSocket()`` inside
        a ported routine): their unexpected errors fail the test, and they are closed
        after it.
        """
        with self._lock:
            if self._adopting:
                return
            self._adopting = True
        _socket.creation_hooks.append(self._adopt)

    def _adopt(self, sock: UDPSocket) -> None:
        with self._lock:
            if any(watch.sock is sock for watch in self._watches):
                return
        self._watch(sock, False)

    def __call__(
        self,
        type: Optional[str] = "udp4",  # noqa: A002 - create_udp_socket's parameter name
        options: Optional[Mapping[str, Any]] = None,
        *,
        expect_errors: bool = False,
    ) -> UDPSocket:
        """A new socket (``taro_udp.create_udp_socket(type, options)``), closed after the test."""
        sock = _api.create_udp_socket(type, options)
        with self._lock:
            adopted = next((w for w in self._watches if w.sock is sock), None)
        if adopted is not None:  # the creation hook was first
            adopted.expect_errors = expect_errors
            return sock
        return self._watch(sock, expect_errors)

    def _watch(self, sock: UDPSocket, expect_errors: bool) -> UDPSocket:
        watch = _Watch(sock, expect_errors)
        with self._lock:
            self._watches.append(watch)

        def on_error(payload: OnErrorCallbackResult) -> None:
            with self._lock:
                expected = watch.expect_errors or any(
                    payload["errMsg"].startswith(prefix) for prefix in self._allowed
                )
                self._errors.append((sock, payload, expected))

        def on_close(_payload: CallbackResult) -> None:
            watch.closed.set()

        sock.onError(on_error)
        sock.onClose(on_close)
        return sock

    def expect_error(self, prefix: str) -> None:
        """Allow errors whose ``errMsg`` starts with ``prefix``, from any socket."""
        with self._lock:
            self._allowed.append(prefix)

    @property
    def sockets(self) -> List[UDPSocket]:
        """The sockets made so far."""
        with self._lock:
            return [watch.sock for watch in self._watches]

    @property
    def errors(self) -> List[Tuple[UDPSocket, OnErrorCallbackResult]]:
        """Every error delivered so far, expected or not, with its socket."""
        with self._lock:
            return [(sock, payload) for sock, payload, _ in self._errors]

    def close_all(self, timeout: float = DEFAULT_TIMEOUT) -> List[str]:
        """Close every socket, wait for their ``close`` events; return the problems.

        A problem is an unexpected error (described with its socket) or a socket whose
        ``close`` event did not arrive within ``timeout`` seconds.
        """
        with self._lock:
            watches = list(self._watches)
            adopting, self._adopting = self._adopting, False
        if adopting:
            _socket.creation_hooks.remove(self._adopt)
        for watch in watches:
            watch.sock.close()
        problems = []
        clock = current_virtual_clock()
        if clock is not None:  # a drive: the close events are delivered in virtual time
            try:
                clock.run_until(
                    lambda: all(watch.closed.is_set() for watch in watches), timeout, "close events"
                )
            except VirtualTimeError:
                pass  # reported below, per socket
            timeout_left = 0.0
        deadline = time.monotonic() + timeout  # one budget for all: a stuck thread is stuck
        for watch in watches:
            wait = timeout_left if clock is not None else max(0.0, deadline - time.monotonic())
            if not watch.closed.wait(wait):
                problems.append(f"{watch.sock!r}: no close event within {timeout}s")
        with self._lock:
            problems[:0] = [
                f"{sock!r}: unexpected error {payload!r}"
                for sock, payload, expected in self._errors
                if not expected
            ]
        return problems
