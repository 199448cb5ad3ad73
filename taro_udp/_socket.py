"""UDPSocket: WeChat's ``UDPSocket`` on an OS socket and the shared event thread."""

# WeChat's method and parameter names are the API being mirrored.
# ruff: noqa: N802, A002

from __future__ import annotations

import os
import socket
import threading
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypeVar,
    overload,
)

from . import _log, _loop, _transport, _validators
from ._addresses import SockAddr, family_name, resolve, wildcard
from ._addresses import peer as peer_sockaddr
from ._errors import ERR_SYSTEM, ArgumentError, UDPSocketError, from_os_error
from ._events import Listeners
from ._ordering import SendOrder
from ._receiving import DRAIN_LIMIT, Receiving
from ._results import success
from ._sending import Sending, SendOptionLike
from ._states import BOUND, CLOSED, CLOSED_REASON, CONNECTED, UNBOUND
from ._types import OnErrorCallbackResult, SocketType

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._types import ConnectOption, UncheckedOption

__all__ = ["BIND_ADDRESS_ENV", "DRAIN_LIMIT", "SendOptionLike", "UDPSocket"]


# Environment variable naming the address that bind() without ``address=`` (and the
# automatic bind of send/connect) uses instead of all interfaces, e.g. 127.0.0.1 for a
# test harness that must stay on loopback.
BIND_ADDRESS_ENV = "TARO_UDP_BIND_ADDRESS"


_Self = TypeVar("_Self", bound="UDPSocket")


class UDPSocket(Sending, Receiving):
    """A UDP socket with WeChat's ``UDPSocket`` API.

    Create one with ``taro_udp.create_udp_socket()`` (``wx.createUDPSocket()``). Every
    listener and callback runs on the library's single event thread, one at a time;
    every method may be called from any thread, including from inside a listener. An
    open socket is kept alive by the library until ``close()``.

    This module is its life (create, bind, connect, close, fork); ``send``/``write``
    are in ``_sending``, the receive loop in ``_receiving``, the listeners in
    ``_events``, the ordering of results from other threads in ``_ordering``.
    """

    def __init__(
        self, type: Optional[str] = "udp4", options: Optional[Mapping[str, Any]] = None
    ) -> None:
        kind = _validators.socket_type(type)
        opts = _validators.socket_options(options, kind)
        self._type: SocketType = kind
        self._family = socket.AF_INET6 if kind == "udp6" else socket.AF_INET
        self._family_name = family_name(self._family)
        try:
            self._transport = _transport.transport_factory(self._family, opts)
        except OSError as exc:
            raise _os_failure("createUDPSocket", exc) from exc
        self._fd = self._transport.fileno()
        self._sendto = self._transport.sendto
        # (address, port) -> sockaddr of literal unicast peers sent to (see send()).
        self._unicast: Dict[Tuple[str, int], SockAddr] = {}
        self._lock = threading.RLock()
        self._state = UNBOUND
        self._local_address = ""
        self._local_port = 0
        self._broadcast = False
        self._send_lock = threading.RLock()  # SO_BROADCAST and the sendto, as one step
        # Sends with callbacks from other threads (see _ordering): made with the first.
        self._order: Optional[SendOrder] = None
        self._delivering = False  # see _receiving
        self._close_waiter: Optional[threading.Event] = None
        Listeners.__init__(self)
        try:
            _loop.attach(self)
        except BaseException as exc:
            # Whatever failed (no fd left for the event thread's selector, asyncio not
            # importable after a privilege drop), the socket's fd is not left open.
            self._transport.close()
            if isinstance(exc, OSError):
                raise _os_failure("createUDPSocket", exc) from exc
            raise
        for hook in creation_hooks:  # taro_udp.testing watches the sockets a test makes
            hook(self)

    def __repr__(self) -> str:
        where = f" {self._local_address}:{self._local_port}" if self._local_port else ""
        return f"<UDPSocket {self._type} {self._state}{where}>"

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    # -- bind / connect / setTTL / close -------------------------------------------------

    def bind(self, port: Optional[int] = None, *, address: Optional[str] = None) -> int:
        """Bind ``port`` (0 or omitted: the OS picks) and return the port bound.

        Mirrors ``UDPSocket.bind(port)``. Binds all interfaces (``0.0.0.0``/``::``) as
        WeChat does, unless ``address`` (a Python extra) or the ``TARO_UDP_BIND_ADDRESS``
        environment variable names one. Emits ``listening`` on the event thread. A failure
        raises ``UDPSocketError`` and is also delivered to ``onError``.
        """
        try:
            self._check_unbound()
            local = self._local_sockaddr(_validators.bind_port(port), address)
            with self._lock:
                self._check_unbound()
                return self._bind_locked(local)
        except (ArgumentError, OSError) as exc:
            result = self._failure("bind", exc)
            errno_ = exc.errno if isinstance(exc, OSError) else None
        _loop.wait_for_room()
        _loop.call_soon(self._emit_error, result)
        raise UDPSocketError(result["errMsg"], result["errCode"], errno_)

    def _check_unbound(self) -> None:
        self._check_open()
        if self._state is not UNBOUND:
            raise ArgumentError("socket is already bound", ERR_SYSTEM)

    def _local_sockaddr(self, port: int, address: Optional[str]) -> SockAddr:
        # Resolved with no lock held: a slow name lookup must not hold up close() or exit.
        if address is None:
            if not getattr(self._transport, "ignores_bind_env", False):
                address = os.environ.get(BIND_ADDRESS_ENV)
            address = address or wildcard(self._family)
        return resolve(address, port, self._family)

    def _bind_locked(self, local: SockAddr) -> int:
        # Called with the lock held, on an open unbound socket.
        host, bound = self._transport.bind(local)
        self._local_address = host
        self._local_port = bound
        self._state = BOUND
        # Post ``listening`` before the fd is watched, so it precedes the first message.
        # Without listeners, no wake-up of its own (see _loop.call_soon_if_heard).
        _loop.call_soon_if_heard(
            self._on_listening.has_listeners,
            self._emit,
            self._on_listening,
            "onListening",
            success("bind"),
        )
        _loop.add_reader(self._fd, self._on_readable)
        return bound

    def _ensure_bound(self) -> None:
        # send/write/connect on an unbound socket bind it first, as Node and the OS do.
        if self._state is UNBOUND:
            local = self._local_sockaddr(0, None)
            with self._lock:
                if self._state is UNBOUND:
                    self._bind_locked(local)

    def _check_open(self) -> None:
        # The one guard at every public entry (Node's healthCheck).
        if self._state is CLOSED:
            raise ArgumentError(CLOSED_REASON, ERR_SYSTEM)

    def _is_closed(self) -> bool:
        return self._state is CLOSED

    # A dict literal is checked against ConnectOption; a Dict[str, Any] is not (_types.py).
    @overload
    def connect(self, option: ConnectOption, /) -> None: ...
    @overload
    def connect(self, option: None = None, /, **fields: Unpack[ConnectOption]) -> None: ...
    @overload
    def connect(self, option: UncheckedOption, /, **fields: Any) -> None: ...

    def connect(self, option: Optional[Mapping[str, Any]] = None, /, **fields: Any) -> None:
        """Send to and receive from one peer only (``UDPSocket.connect``).

        ``option`` is ``{"address", "port"}`` (or the same keyword arguments). Binds
        first if needed. Afterwards ``send``/``write`` without ``address``/``port`` go to
        that peer. Failures are delivered to ``onError``, never raised.
        """
        opt = _validators.option(option, fields, "connect", _validators.CONNECT_KEYS)
        try:
            self._check_open()
            # Resolved before taking the lock: a slow name lookup must not hold up sends.
            peer = peer_sockaddr(opt.get("address"), opt.get("port"), self._family)
            self._ensure_bound()
            with self._lock:
                self._check_open()
                self._transport.connect(peer)
                self._state = CONNECTED
        except (ArgumentError, OSError) as exc:
            self._report(self._failure("connect", exc))

    def setTTL(self, ttl: int) -> None:
        """Set the IP TTL (hop limit on udp6) of sent datagrams: 0–255 (``UDPSocket.setTTL``).

        Failures (``invalid ttl``, the OS refusing a value) go to ``onError``, never raised.
        """
        try:
            self._check_open()
            self._transport.set_ttl(_validators.ttl(ttl))
        except (ArgumentError, OSError) as exc:
            self._report(self._failure("setTTL", exc))

    def close(self) -> None:
        """Close the socket (``UDPSocket.close``). Idempotent; never raises.

        The OS socket is released at once. When ``close()`` returns, no ``onMessage``
        listener of this socket is running or will start: called from another thread
        while the event thread is inside one, every ``close()`` waits for it to return
        (so a listener must not wait for the thread that closes its socket; code ported
        from JS runs on the event thread, where ``close()`` never waits). ``onClose``
        listeners run once, on the event thread, after every event posted before the call.
        """
        with self._lock:
            if self._state is not CLOSED:
                self._close_locked()
        # The event thread checks the state before every listener call, so only a
        # delivery already under way can outlive close(); wait for it to finish. Not on
        # the event thread (it would wait for itself) and not at exit (a blocked
        # listener must not hang the interpreter).
        if self._delivering and not _loop.in_event_thread() and not _loop.exiting:
            with self._lock:  # made when needed: most sockets close with nothing to wait for
                waiter = self._close_waiter
                if waiter is None:
                    waiter = self._close_waiter = threading.Event()
            # Looked at again after publishing the waiter: the event thread clears the
            # flag, then sets the waiter it sees (see _on_readable), so one side sees
            # the other.
            if self._delivering:
                waiter.wait()

    def _close_locked(self) -> None:
        was_bound = self._state is not UNBOUND
        self._state = CLOSED
        if self._order is not None:
            self._order.stash = None
        if was_bound:
            _loop.remove_reader(self._fd)
        try:
            self._transport.close()
        except OSError as exc:  # pragma: no cover - nothing a caller could do about it
            _log.error("taro_udp: error while releasing a socket", exc=exc)
        # The close event first, then the release: the thread cannot retire in between.
        _loop.call_soon_if_heard(
            self._on_close.has_listeners,
            self._emit,
            self._on_close,
            "onClose",
            success("close"),
        )
        _loop.detach(self)

    def _after_fork(self) -> None:
        # In a forked child: this copy of a parent's socket is dead. Drop it silently
        # (closing the child's fd leaves the parent's socket untouched).
        self._lock = threading.RLock()
        self._send_lock = threading.RLock()
        self._state = CLOSED
        try:
            self._transport.close()
        except OSError:  # pragma: no cover
            pass

    # -- the event thread ----------------------------------------------------------------

    def _report(self, result: OnErrorCallbackResult) -> None:
        # Called with no lock held, so it may wait for room like send does.
        _loop.wait_for_room()
        _loop.call_soon(self._emit_error, result)


# Called with every new socket (taro_udp.testing: a factory adopting the sockets made by
# the code under test, a network listing its sockets). Library code only: guarded there.
creation_hooks: List[Callable[[UDPSocket], None]] = []


def _os_failure(method: str, exc: OSError) -> UDPSocketError:
    reason, code = from_os_error(exc)
    return UDPSocketError(f"{method}:fail {reason}", code, exc.errno)
