"""What every command shares: exit codes, the main thread's inbox, output, socket set-up.

The main thread of a command never touches a socket's events directly: listeners and
callbacks (on the library's event thread) and Ctrl-C (a signal handler) all post to one
``Inbox``, and the main thread blocks on it. Nothing polls.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import selectors
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from types import FrameType
from typing import IO, Any, Deque, Dict, Iterator, Optional, Tuple

from .. import (
    OnErrorCallbackResult,
    OnMessageCallbackResult,
    UDPSocket,
    UDPSocketError,
    create_udp_socket,
)

# Not public names, but documented values: errCode 1 (SPEC section 4) and the variable
# that ``bind()`` reads (its docstring).
from .._errors import ERR_INVALID_ADDRESS
from .._socket import BIND_ADDRESS_ENV

__all__ = [
    "EXIT_BIND",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_MISSING_DEPENDENCY",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "Console",
    "Inbox",
    "OutputClosedError",
    "bind_address",
    "bind_socket",
    "close_and_wait",
    "describe_peer",
    "json_line",
    "message_record",
    "open_socket",
    "plural",
    "socket_kind",
]

# Exit codes: the one table is ``EXIT_CODES`` in _args.py (``taro-udp --help``), which
# the README copies.
EXIT_OK = 0  # done, including a run stopped with Ctrl-C
EXIT_FAILURE = 1  # a network failure: a send failed, no echo came back
EXIT_USAGE = 2  # bad arguments, an address that is not an IP or does not resolve
EXIT_BIND = 3  # the port is in use or may not be bound (permission)
EXIT_MISSING_DEPENDENCY = 4  # an optional extra is not installed (run: the js extra)
EXIT_INTERRUPTED = 130  # a second Ctrl-C (stopped without waiting); run: Ctrl-C

# How long a command waits for the library to deliver a socket's ``close`` event. It
# comes at once; the bound only keeps a wedged process from hanging on exit.
CLOSE_WAIT = 5.0

Item = Tuple[str, Any]


class CliError(Exception):
    """A failure to report as one line on stderr, exiting with ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Inbox:
    """The one place a command's main thread waits: listeners and Ctrl-C post here.

    Items go into a deque; each post also writes a wake-up byte to a socket pair, and
    the main thread waits on its other end with a selector (any fd number works).
    Ctrl-C wakes it the same way: ``stop_on_sigint`` makes that socket the signal
    module's wake-up fd, which the interpreter writes to from its C-level handler, in
    whichever thread the signal lands and at whatever point. (A plain blocking
    ``queue.get`` can miss a signal that arrives just before it blocks, or on another
    thread, until its timeout ends.)
    """

    def __init__(self) -> None:
        self._items: Deque[Item] = collections.deque()
        try:
            self._wake_r, self._wake_w = socket.socketpair()
            try:
                self._selector = selectors.DefaultSelector()
            except OSError:
                self._wake_r.close()
                self._wake_w.close()
                raise
        except OSError as exc:  # no fd left
            raise CliError(f"cannot start: {exc.strerror or exc}") from None
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self.interrupted = False

    def __enter__(self) -> Inbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the wake-up sockets; items posted afterwards wait without waking anyone."""
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def put(self, kind: str, payload: Any = None) -> None:
        """Post an item; safe from any thread and from a signal handler."""
        self._items.append((kind, payload))
        try:
            self._wake_w.send(b"\0")
        except OSError:  # full: a wake-up is pending already; closed: nobody waits
            pass

    def get(self, timeout: Optional[float] = None) -> Optional[Item]:
        """The next item, or ``None`` once ``timeout`` seconds passed without one."""
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        while True:
            # Each item is appended before its wake-up byte is sent, so once the bytes
            # are read, every item they announced is in the deque.
            try:
                return self._items.popleft()
            except IndexError:
                pass
            remaining = None
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
            self._selector.select(remaining)
            try:
                while self._wake_r.recv(4096):
                    pass
            except OSError:  # nothing more to read (BlockingIOError)
                pass

    @contextmanager
    def stop_on_sigint(self) -> Iterator[None]:
        """Turn the first Ctrl-C into a ``("stop", None)`` item; a second one interrupts.

        The first Ctrl-C lets the command close its sockets and print its summary; a
        second raises ``KeyboardInterrupt`` for a user who does not want to wait.
        """
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be installed by the main thread
            return

        def on_sigint(signum: int, frame: Optional[FrameType]) -> None:
            if self.interrupted:
                raise KeyboardInterrupt
            self.interrupted = True
            self.put("stop")

        previous = signal.signal(signal.SIGINT, on_sigint)
        previous_fd = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        try:
            yield
        finally:
            signal.set_wakeup_fd(previous_fd)
            # None: a handler installed from C, which Python cannot reinstall.
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


class OutputClosedError(Exception):
    """The reader of stdout went away (``taro-udp listen 0 | head -1``)."""


class Console:
    """Where a command writes: its results to stdout, status and errors to stderr."""

    def __init__(
        self, prog: str, stdout: Optional[IO[str]] = None, stderr: Optional[IO[str]] = None
    ) -> None:
        self.prog = prog
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr

    def data(self, line: str) -> None:
        """Write one result line to stdout, flushed so a pipe sees it at once."""
        try:
            self.stdout.write(line + "\n")
            self.stdout.flush()
        except BrokenPipeError:
            # Python would complain again when it flushes stdout at exit: point the fd
            # at /dev/null, as the signal module's documentation recommends.
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self.stdout.fileno())
            finally:
                os.close(devnull)
            raise OutputClosedError from None

    def status(self, text: str) -> None:
        """Write ``<prog>: <text>`` to stderr."""
        self._err(f"{self.prog}: {text}")

    def error(self, text: str) -> None:
        """Write ``<prog>: error: <text>`` to stderr: one line, never a traceback."""
        self._err(f"{self.prog}: error: {text}")

    def _err(self, line: str) -> None:
        try:
            self.stderr.write(line + "\n")
            self.stderr.flush()
        except (BrokenPipeError, ValueError):  # nobody reads stderr any more
            pass


def socket_kind(udp6: bool, *addresses: Optional[str]) -> str:
    """``udp6`` when asked for, or when an address is an IPv6 literal; else ``udp4``."""
    if udp6 or any(address is not None and ":" in address for address in addresses):
        return "udp6"
    return "udp4"


def open_socket(kind: str, inbox: Inbox, *, post_errors: bool = True) -> UDPSocket:
    """Create a socket whose ``error`` and ``close`` events are posted to ``inbox``.

    An ``onError`` listener is always registered, so the library never logs a warning
    of its own on stderr: the command reports errors in its one-line format.
    """
    try:
        sock = create_udp_socket(kind)
    except UDPSocketError as exc:
        raise CliError(f"cannot create a {kind} socket: {_reason(exc.errMsg)}") from None

    def on_error(res: OnErrorCallbackResult) -> None:
        if post_errors:
            inbox.put("error", res)

    sock.onError(on_error)
    sock.onClose(lambda res: inbox.put("close", res))
    return sock


def bind_socket(sock: UDPSocket, port: int, address: Optional[str], kind: str) -> int:
    """Bind and return the port, turning a failure into a ``CliError`` with its exit code."""
    try:
        return sock.bind(port, address=address)
    except UDPSocketError as exc:
        where = describe_peer(bind_address(address, kind), port)
        if exc.errCode == ERR_INVALID_ADDRESS:
            raise CliError(
                f"invalid address {address!r} for a {kind} socket "
                "(not an IP address of that family, or a host name that does not resolve)",
                EXIT_USAGE,
            ) from None
        raise CliError(f"cannot bind {where}: {_reason(exc.errMsg)}", EXIT_BIND) from None


def bind_address(address: Optional[str], kind: str) -> str:
    """The address ``bind`` uses: the one given, the environment's, or all interfaces."""
    if address:
        return address
    return os.environ.get(BIND_ADDRESS_ENV) or ("::" if kind == "udp6" else "0.0.0.0")


def close_and_wait(sock: UDPSocket, inbox: Inbox) -> None:
    """Close ``sock`` and wait (bounded) for its ``close`` event.

    After that event the event thread is done with the socket, so counters its listeners
    kept may be read from the main thread. Items posted before it are dropped.
    """
    sock.close()
    while True:
        item = inbox.get(CLOSE_WAIT)
        if item is None or item[0] == "close":
            return


def describe_peer(address: str, port: int) -> str:
    """``127.0.0.1 port 9000``: the form every status and error line uses."""
    return f"{address} port {port}"


def message_record(res: OnMessageCallbackResult) -> Dict[str, Any]:
    """The JSON object ``listen`` prints for one ``onMessage`` payload.

    ``message`` is the datagram as text when it is valid UTF-8, else its base64; the
    ``encoding`` field says which (``"utf-8"`` or ``"base64"``).
    """
    data = res["message"]
    try:
        text = data.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        text = base64.b64encode(data).decode("ascii")
        encoding = "base64"
    return {
        "remoteInfo": dict(res["remoteInfo"]),
        "localInfo": dict(res["localInfo"]),
        "size": len(data),
        "encoding": encoding,
        "message": text,
    }


def _reason(err_msg: str) -> str:
    # "bind:fail Address already in use" -> "Address already in use"
    return err_msg.split(":fail ", 1)[-1]


def json_line(summary: Dict[str, Any]) -> str:
    """A ``--json`` summary: one JSON object on one line, keys in the order given."""
    return json.dumps(summary, ensure_ascii=False)


def plural(count: int, noun: str) -> str:
    """``1 datagram``, ``2 datagrams``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
