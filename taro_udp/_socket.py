"""UDPSocket: WeChat's ``UDPSocket`` on an OS socket and the shared event thread."""

# WeChat's method and parameter names are the API being mirrored.
# ruff: noqa: N802, A002

from __future__ import annotations

import itertools
import os
import socket
import sys
import threading
import time
from types import TracebackType
from typing import (
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Set,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from . import _log, _loop, _transport, _validators
from ._addresses import SockAddr, _peers, family_name, resolve, wildcard
from ._addresses import peer as peer_sockaddr
from ._broadcast import is_limited_broadcast
from ._errors import ERR_SYSTEM, ArgumentError, UDPSocketError, from_os_error
from ._registry import ListenerRegistry
from ._results import failure, listener_failure, success
from ._transport import Buffer, Received
from ._types import (
    CallbackResult,
    CloseListener,
    ErrorListener,
    ListeningListener,
    MessageListener,
    OnErrorCallbackResult,
    OnMessageCallbackResult,
    ResultCallback,
    SendOption,
    SocketType,
)

__all__ = ["BIND_ADDRESS_ENV", "DRAIN_LIMIT", "UDPSocket"]


# Environment variable naming the address that bind() without ``address=`` (and the
# automatic bind of send/connect) uses instead of all interfaces, e.g. 127.0.0.1 for a
# test harness that must stay on loopback.
BIND_ADDRESS_ENV = "TARO_UDP_BIND_ADDRESS"

# Datagrams read from one socket per wake-up before the other ready sockets get a turn.
# The socket stays readable, so the rest are read on the next pass; nothing is dropped.
DRAIN_LIMIT = 256

# Socket states (Node's dgram keeps the same ones in one place).
UNBOUND = "unbound"
BOUND = "bound"
CONNECTED = "connected"
CLOSED = "closed"

_CLOSED_REASON = "socket is closed"

_Self = TypeVar("_Self", bound="UDPSocket")
_Result = Union[CallbackResult, OnErrorCallbackResult]
# A plain dict built by ported code type-checks too; SendOption documents the keys.
SendOptionLike = Union[SendOption, Mapping[str, Any]]


class UDPSocket:
    """A UDP socket with WeChat's ``UDPSocket`` API.

    Create one with ``taro_udp.create_udp_socket()`` (``wx.createUDPSocket()``). Every
    listener and callback runs on the library's single event thread, one at a time;
    every method may be called from any thread, including from inside a listener. An
    open socket is kept alive by the library until ``close()``.
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
        # Sends with callbacks from other threads whose results have not run yet, and
        # the datagram read meanwhile (see _drain).
        self._sending: Set[_SendToken] = set()
        self._paused = False
        self._token_ids = itertools.count()
        self._waiting_for = -1  # the newest send under way when the kept datagram came
        self._stale_check: Optional[_loop.Timer] = None
        self._stash: Optional[Received] = None
        # Set by the event thread while it delivers this socket's datagrams; close() from
        # another thread waits for that delivery to end (see close()).
        self._delivering = False
        self._close_waiter: Optional[threading.Event] = None
        self._on_message: ListenerRegistry[MessageListener] = ListenerRegistry()
        self._on_error: ListenerRegistry[ErrorListener] = ListenerRegistry()
        self._on_listening: ListenerRegistry[ListeningListener] = ListenerRegistry()
        self._on_close: ListenerRegistry[CloseListener] = ListenerRegistry()
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
            raise ArgumentError(_CLOSED_REASON, ERR_SYSTEM)

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
        self._stash = None
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

    # -- send / write ----------------------------------------------------------------

    def send(self, option: Optional[SendOptionLike] = None, /, **fields: Any) -> None:
        """Send one datagram (``UDPSocket.send``).

        ``option`` (or keyword arguments): ``address``, ``port``, ``message`` (``str`` as
        UTF-8, or bytes-like; ``data`` is Taro's legacy name), ``offset``, ``length``,
        ``setBroadcast``, and ``success``/``fail``/``complete``. Never raises for a bad
        value or an OS failure: ``fail`` then ``complete`` get
        ``{"errMsg": "send:fail <reason>", "errCode": n}`` and ``onError`` fires;
        success gives ``{"errMsg": "send:ok"}``. Callbacks run on the event thread,
        always after ``send()`` has returned.
        """
        # The fast path: exactly {"address", "port", "message"} of exact types, to a
        # peer already in the cache, from a bound socket; everything else (and every
        # doubt) takes the full path below, which validates the same values the same way.
        if type(option) is dict and len(option) == 3 and not fields:
            for key in option:  # exact str keys only: a lookup then runs no caller code
                if type(key) is not str:
                    break
            else:
                try:
                    data = option["message"]
                    host = option["address"]
                    port = option["port"]
                except KeyError:
                    pass
                else:  # exact types first: only they may be hashed
                    if type(data) is bytes and type(host) is str and type(port) is int:
                        peer = self._unicast.get((host, port))
                        if peer is not None and self._state is not CLOSED:
                            # The system call under the send lock, SO_BROADCAST off for it.
                            lock = self._send_lock
                            lock.acquire()
                            try:
                                if self._broadcast:
                                    self._transport.set_broadcast(False)
                                    self._broadcast = False
                                self._sendto(data, peer)
                            except OSError as exc:
                                lock.release()
                                self._send_failed("send", exc)
                                return
                            except BaseException:
                                lock.release()
                                raise
                            lock.release()
                            return
        token = self._send("send", option, fields)
        if token is not None:
            # The last statement: the result waits for it (see _SendToken).
            token.returned = True

    def _send_failed(self, method: str, exc: Exception) -> None:
        # A send without callbacks that failed: onError hears it, with room as a result.
        result = self._failure(method, exc)
        _loop.wait_for_room()
        _loop.call_soon(self._finish, None, result, None, None, True)

    def write(self, option: Optional[SendOptionLike] = None, /, **fields: Any) -> None:
        """Like ``send``, reporting ``write:ok``/``write:fail`` (``UDPSocket.write``).

        On a connected socket ``address``/``port`` may be omitted.
        """
        token = self._send("write", option, fields)
        if token is not None:
            token.returned = True

    def _send(self, method: str, option: Any, fields: Dict[str, Any]) -> Optional[_SendToken]:
        opt = _validators.option(option, fields, method, _validators.SEND_KEYS)
        on_success, on_fail, on_complete = _validators.callbacks(opt, method)
        wants_result = on_success is not None or on_fail is not None or on_complete is not None
        token: Optional[_SendToken] = None
        if wants_result:
            _loop.wait_for_room()
            if not _loop.in_event_thread():
                token = _SendToken(sys._getframe(1), next(self._token_ids))
        posted = False
        try:
            if token is not None:
                # Until its result has run, this socket's datagrams wait (see _drain):
                # the answer to this datagram must not overtake its success.
                self._sending.add(token)
            try:
                payload, peer, broadcast = self._prepare_send(opt)
                with self._send_lock:
                    if broadcast is not self._broadcast:
                        self._transport.set_broadcast(broadcast)
                        self._broadcast = broadcast
                    if peer is None:
                        self._transport.send(payload)
                    else:
                        self._transport.sendto(payload, peer)
            except (ArgumentError, OSError) as exc:
                result: _Result = self._failure(method, exc)
                failed = True
            else:
                if not wants_result:
                    return None
                result = success(method)
                failed = False
            if failed:
                callback = on_fail
                if not wants_result:
                    _loop.wait_for_room()  # an error report takes room like a result
            else:
                callback = on_success
            if token is None:
                _loop.call_soon(self._finish, token, result, callback, on_complete, failed)
            else:  # never before send() has returned
                _loop.call_soon_when_ready(
                    token.has_returned, self._finish, token, result, callback, on_complete, failed
                )
            posted = True
            if token is not None:
                token.posted = True
        except BaseException:
            # Anything else (a broken transport, an exception from a signal handler) is
            # raised to the caller, and may have landed anywhere above: no success is
            # reported for it, and its token must not hold the socket's datagrams.
            if token is not None:
                if posted:
                    token.returned = True
                else:
                    _loop.call_soon(self._release_token, token)
            raise
        return token

    def _prepare_send(self, opt: Mapping[str, Any]) -> Tuple[Buffer, Optional[SockAddr], bool]:
        # Everything before the system call, in the documented order: closed, address,
        # port, message, offset, length, setBroadcast; then the automatic bind.
        self._check_open()
        address = opt.get("address")
        port = opt.get("port")
        peer: Optional[SockAddr] = None
        if address is not None or port is not None or self._state is not CONNECTED:
            peer = peer_sockaddr(address, port, self._family)
        data = opt.get("message")
        if data is None:
            data = opt.get("data")
        payload = _validators.message(data, opt.get("offset"), opt.get("length"))
        broadcast = _validators.broadcast_flag(opt.get("setBroadcast"))
        if self._state is UNBOUND:
            self._ensure_bound()
        # WeChat sends to the limited broadcast address without the flag (2.9.0+); the
        # OS wants SO_BROADCAST for it all the same.
        if peer is not None:
            if is_limited_broadcast(peer):
                broadcast = True
            elif (
                type(address) is str
                and type(port) is int
                and _peers.get((address, port, self._family)) is peer
            ):
                # A literal unicast peer, by the exact values given: send()'s fast path
                # may skip the checks next time (names are resolved at every call).
                unicast = self._unicast
                if len(unicast) >= _UNICAST_CACHE_MAX:
                    unicast.clear()
                unicast[(address, port)] = peer
        return payload, peer, broadcast

    def _failure(self, method: str, exc: Exception) -> OnErrorCallbackResult:
        """The ``"<method>:fail ..."`` result of a rejected argument or an OS failure."""
        if isinstance(exc, ArgumentError):
            return failure(method, exc.reason, exc.code)
        if self._state is CLOSED:
            # A call that raced with close() sees EBADF: report what the user did, not that.
            return failure(method, _CLOSED_REASON, ERR_SYSTEM)
        assert isinstance(exc, OSError)
        return failure(method, *from_os_error(exc))

    # -- listeners -------------------------------------------------------------------

    def onMessage(self, listener: MessageListener) -> None:
        """Listen for datagrams (``UDPSocket.onMessage``); payload ``OnMessageCallbackResult``.

        Runs on the event thread. Adding the same listener twice has no further effect.
        """
        _validators.listener(listener, "onMessage")
        self._on_message.add(listener)

    def offMessage(self, listener: Optional[MessageListener] = None) -> None:
        """Remove ``listener``, or every ``onMessage`` listener when called without one."""
        self._on_message.remove(listener)

    def onError(self, listener: ErrorListener) -> None:
        """Listen for errors (``UDPSocket.onError``); payload ``{"errMsg", "errCode"}``.

        Runs on the event thread. With no ``onError`` listener, errors are logged as
        warnings on the ``taro_udp`` logger.
        """
        _validators.listener(listener, "onError")
        self._on_error.add(listener)

    def offError(self, listener: Optional[ErrorListener] = None) -> None:
        """Remove ``listener``, or every ``onError`` listener when called without one."""
        self._on_error.remove(listener)

    def onListening(self, listener: ListeningListener) -> None:
        """Listen for the socket starting to receive (``UDPSocket.onListening``).

        Payload ``{"errMsg": "bind:ok"}``; runs on the event thread after a bind.
        """
        _validators.listener(listener, "onListening")
        self._on_listening.add(listener)
        _loop.wake_if_pending()  # a listening event may wait without a wake-up

    def offListening(self, listener: Optional[ListeningListener] = None) -> None:
        """Remove ``listener``, or every ``onListening`` listener when called without one."""
        self._on_listening.remove(listener)

    def onClose(self, listener: CloseListener) -> None:
        """Listen for the close (``UDPSocket.onClose``); payload ``{"errMsg": "close:ok"}``.

        Runs on the event thread, exactly once per socket.
        """
        _validators.listener(listener, "onClose")
        self._on_close.add(listener)
        _loop.wake_if_pending()  # a close event may wait without a wake-up

    def offClose(self, listener: Optional[CloseListener] = None) -> None:
        """Remove ``listener``, or every ``onClose`` listener when called without one."""
        self._on_close.remove(listener)

    # -- the event thread ----------------------------------------------------------------

    def _report(self, result: OnErrorCallbackResult) -> None:
        # Called with no lock held, so it may wait for room like send does.
        _loop.wait_for_room()
        _loop.call_soon(self._emit_error, result)

    def _on_readable(self, stashed: Optional[Received] = None) -> None:
        # Runs on the event thread: read and deliver directly, no hand-off (see _loop).
        # Deliveries may nest (a send's result run from inside one resumes reading):
        # close() waits for the outermost to end.
        outermost = not self._delivering
        self._delivering = True
        try:
            self._drain(stashed)
        finally:
            if outermost:
                self._delivering = False
                waiter = self._close_waiter
                if waiter is not None:
                    waiter.set()

    def _drain(self, stashed: Optional[Received]) -> None:
        # The hot path of receiving: locals for everything looked up per datagram.
        recv = self._transport.recv
        inbox = _loop.inbox
        listeners = self._on_message
        family = self._family_name
        local_address = self._local_address  # fixed once bound
        local_port = self._local_port
        for _ in range(DRAIN_LIMIT):
            if self._state is CLOSED:
                return
            if stashed is not None:  # the datagram kept while a send's result ran
                data, host, port, local = stashed
                stashed = None
            else:
                try:
                    data, host, port, local = recv()
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as exc:
                    if self._state is CLOSED:
                        return
                    # e.g. ICMP port unreachable on a connected socket: report, read on.
                    self._emit_error(failure("receive", *from_os_error(exc)))
                    continue
                if self._sending and self._hold_back((data, host, port, local)):
                    return
            if inbox:
                # Work posted while we read (a send's result, a close) goes first.
                _loop.run_posted()
                if self._state is CLOSED:
                    return
            payload: OnMessageCallbackResult = {
                "message": data,
                "remoteInfo": {"address": host, "family": family, "port": port, "size": len(data)},
                "localInfo": {
                    "address": local or local_address,
                    "family": family,
                    "port": local_port,
                },
            }
            for listener in listeners.listeners:
                if self._state is CLOSED:  # close() from inside a listener
                    return
                try:
                    listener(payload)
                except BaseException as exc:  # noqa: BLE001 - the thread must survive anything
                    self._listener_failed("onMessage", exc)

    def _hold_back(self, received: Received) -> bool:
        """Keep ``received`` and stop reading if a send under way may have caused it.

        Another thread is inside send() with callbacks: the datagram may be the answer
        to that send and must not overtake its success. Results already posted run now;
        if a send that was under way when it was read is still unfinished, the datagram
        is kept and reading stops until that send's result has run (_release_token).
        Only the sends under way now count, not those that start later: a sender that
        never stops must not hold the socket's datagrams for ever.
        """
        newest = max(token.seq for token in list(self._sending))
        if _loop.inbox:
            _loop.run_posted()
        if self._state is CLOSED:
            return True  # closed by that work: undelivered, as after close()
        self._waiting_for = newest
        if not self._held_back():
            return False
        self._stash = received
        self._pause()
        return True

    def _pause(self) -> None:
        self._paused = True
        _loop.remove_reader(self._fd)
        if self._stale_check is None:
            self._stale_check = _loop.call_later(_STALE_CHECK, self._drop_stale_tokens)

    def _drop_stale_tokens(self) -> None:
        # Still paused after a while: a send interrupted by an exception from a signal
        # handler, at a point where even its cleanup was cut short, left a token that
        # nothing will release. A token whose thread is no longer inside this socket's
        # send() and whose result was never posted is such a one.
        self._stale_check = None
        if not self._paused or self._state is CLOSED:
            return
        for token in list(self._sending):
            if not token.posted and not token.on_stack():
                self._sending.discard(token)
        if self._held_back():
            self._stale_check = _loop.call_later(_STALE_CHECK, self._drop_stale_tokens)
        else:
            self._resume()

    def _release_token(self, token: _SendToken) -> None:
        # The send's result has run (or the send was interrupted): its socket's
        # datagrams may flow again once no other thread is inside send().
        self._sending.discard(token)
        if self._paused and not self._held_back():
            self._resume()

    def _held_back(self) -> bool:
        # Whether a send that was under way when the kept datagram was read is still so.
        waiting_for = self._waiting_for
        return any(token.seq <= waiting_for for token in list(self._sending))

    def _resume(self) -> None:
        check, self._stale_check = self._stale_check, None
        if check is not None:
            check.cancel()
        with self._lock:  # held by other threads only around quick system calls
            self._paused = False
            if self._state is CLOSED:
                return
            stash, self._stash = self._stash, None
            _loop.add_reader(self._fd, self._on_readable)
        if stash is not None:
            self._on_readable(stash)

    def _emit(self, registry: ListenerRegistry[Any], name: str, payload: CallbackResult) -> None:
        for listener in registry.listeners:
            try:
                listener(payload)
            except BaseException as exc:  # noqa: BLE001
                self._listener_failed(name, exc)

    def _emit_error(self, payload: OnErrorCallbackResult) -> None:
        listeners = self._on_error.listeners
        if not listeners:
            _log.warning(
                "%s (errCode %d); no onError listener", payload["errMsg"], payload["errCode"]
            )
            return
        for listener in listeners:
            try:
                listener(payload)
            except BaseException as exc:  # noqa: BLE001 - logged once, never fed back to onError
                # The type only: the text may carry received data (the traceback has it).
                _log.error("taro_udp: an onError listener raised %s", type(exc).__name__, exc=exc)

    def _listener_failed(self, name: str, exc: BaseException) -> None:
        # The log line names the exception's type only: its text may carry received
        # data (the traceback has it). onError listeners get the whole report.
        if self._on_error.listeners:
            _log.error("taro_udp: %s listener raised %s", name, type(exc).__name__, exc=exc)
            self._emit_error(listener_failure(name, exc))
        else:  # one record that says both: what raised, and that nobody heard it
            _log.error(
                "taro_udp: %s:fail %s (errCode %d); no onError listener",
                name,
                type(exc).__name__,
                ERR_SYSTEM,
                exc=exc,
            )

    def _finish(
        self,
        token: Optional[_SendToken],
        result: _Result,
        callback: Optional[ResultCallback],
        on_complete: Optional[ResultCallback],
        failed: bool,
    ) -> None:
        # success/fail, then complete, with the same dict; then the error event.
        if callback is not None:
            self._call_result(callback, "fail" if failed else "success", result)
        if on_complete is not None:
            self._call_result(on_complete, "complete", result)
        if failed:
            self._emit_error(dict(result))  # type: ignore[arg-type]
        if token is not None:
            self._release_token(token)

    def _call_result(self, callback: Callable[[Any], Any], name: str, result: _Result) -> None:
        try:
            callback(result)
        except BaseException as exc:  # noqa: BLE001
            self._listener_failed(name, exc)


class _SendToken:
    """A ``send()`` with callbacks from a thread other than the event thread.

    While it is in its socket's ``_sending`` set, the socket's datagrams wait. Its
    result runs only once ``send()`` has returned, so that ``success`` never runs while
    ``send()`` is still on the caller's stack: ``returned`` is ``send()``'s very last
    statement, and where it is not set (the interpreter switched threads just before
    it, or an exception from a signal handler left ``send()`` early) the sender's stack
    says whether ``send()``'s frame is still on it. A sender stuck inside ``send()``
    (a signal handler that blocks) is waited for ``_GIVE_UP_AFTER`` at most.
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
        if self.returned and not _CHECK_STACK:
            return True
        if not self.on_stack():
            return True
        # Still inside send(): never wait for the sender for long (real time: the
        # sender is a real thread).
        now = time.monotonic()
        if not self.first_look:
            self.first_look = now
        return now - self.first_look > _GIVE_UP_AFTER

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


# Before Python 3.10 the interpreter may switch threads between ``send()``'s last
# statement and its return, so there the stack is checked even when ``returned`` is set.
_CHECK_STACK = sys.version_info < (3, 10)
# Called with every new socket (taro_udp.testing: a factory adopting the sockets made by
# the code under test, a network listing its sockets). Library code only: guarded there.
creation_hooks: List[Callable[[UDPSocket], None]] = []
# Peers remembered per socket for send()'s fast path.
_UNICAST_CACHE_MAX = 256
# How long a result waits for a sender stuck inside send() (seconds).
_GIVE_UP_AFTER = 0.5
# How often a paused socket looks for the tokens of interrupted sends (seconds).
_STALE_CHECK = 0.05


def _os_failure(method: str, exc: OSError) -> UDPSocketError:
    reason, code = from_os_error(exc)
    return UDPSocketError(f"{method}:fail {reason}", code, exc.errno)
