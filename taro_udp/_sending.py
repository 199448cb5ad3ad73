"""Sending: ``send``/``write`` of a ``UDPSocket``, from validation to the posted result.

A mixin of ``UDPSocket``. ``send()`` has a fast path for the common call (a plain
datagram to a literal unicast peer sent to before) that makes the system call after a
few exact-type checks; every other call takes the full path, which validates in the
documented order (SPEC §4, §6), binds if needed, sets ``SO_BROADCAST`` exactly for this
datagram and posts the result. Results of sends with callbacks from other threads are
ordered by ``_ordering``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple, Union, overload

from . import _loop, _validators
from ._addresses import SockAddr, _peers
from ._addresses import peer as peer_sockaddr
from ._broadcast import is_limited_broadcast
from ._errors import ERR_SYSTEM, ArgumentError, from_os_error
from ._events import Listeners
from ._ordering import SendOrder, SendToken, post_result
from ._results import failure, success
from ._states import CLOSED, CLOSED_REASON, CONNECTED, UNBOUND
from ._transport import Buffer, Transport
from ._types import CallbackResult, OnErrorCallbackResult, ResultCallback, SendOption

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._types import UncheckedOption

__all__ = ["SendOptionLike", "Sending"]

_Result = Union[CallbackResult, OnErrorCallbackResult]
# A plain dict built by ported code type-checks too; SendOption documents the keys.
SendOptionLike = Union[SendOption, Mapping[str, Any]]
# Peers remembered per socket for send()'s fast path.
_UNICAST_CACHE_MAX = 256


class Sending(Listeners):
    """``send``/``write``; the socket's state, lock and transport are ``UDPSocket``'s."""

    _state: str
    _family: int
    _transport: Transport
    _sendto: Any  # the transport's sendto, looked up once
    _send_lock: Any  # SO_BROADCAST and the sendto, as one step
    _broadcast: bool
    _lock: Any
    _order: Optional[SendOrder]
    # (address, port) -> sockaddr of literal unicast peers sent to (see send()).
    _unicast: Dict[Tuple[str, int], SockAddr]

    if TYPE_CHECKING:

        def _check_open(self) -> None: ...

        def _ensure_bound(self) -> None: ...

    # A dict literal (or keywords) is checked against SendOption; a Dict[str, Any] is
    # not (_types.py: UncheckedOption).
    @overload
    def send(self, option: SendOption, /) -> None: ...
    @overload
    def send(self, option: None = None, /, **fields: Unpack[SendOption]) -> None: ...
    @overload
    def send(self, option: SendOption, /, **fields: Unpack[SendOption]) -> None: ...
    @overload
    def send(self, option: UncheckedOption, /, **fields: Any) -> None: ...

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
            # The last statement: the result waits for it (see _ordering.SendToken).
            token.returned = True

    def _send_failed(self, method: str, exc: Exception) -> None:
        # A send without callbacks that failed: onError hears it, with room as a result.
        result = self._failure(method, exc)
        _loop.wait_for_room()
        _loop.call_soon(self._finish, None, result, None, None, True)

    # A dict literal (or keywords) is checked against SendOption; a Dict[str, Any] is
    # not (_types.py: UncheckedOption).
    @overload
    def write(self, option: SendOption, /) -> None: ...
    @overload
    def write(self, option: None = None, /, **fields: Unpack[SendOption]) -> None: ...
    @overload
    def write(self, option: SendOption, /, **fields: Unpack[SendOption]) -> None: ...
    @overload
    def write(self, option: UncheckedOption, /, **fields: Any) -> None: ...

    def write(self, option: Optional[SendOptionLike] = None, /, **fields: Any) -> None:
        """Like ``send``, reporting ``write:ok``/``write:fail`` (``UDPSocket.write``).

        On a connected socket ``address``/``port`` may be omitted.
        """
        token = self._send("write", option, fields)
        if token is not None:
            token.returned = True

    def _send(self, method: str, option: Any, fields: Dict[str, Any]) -> Optional[SendToken]:
        opt = _validators.option(option, fields, method, _validators.SEND_KEYS)
        on_success, on_fail, on_complete = _validators.callbacks(opt, method)
        wants_result = on_success is not None or on_fail is not None or on_complete is not None
        token: Optional[SendToken] = None
        if wants_result:
            _loop.wait_for_room()
            if not _loop.in_event_thread():
                # Until its result has run, this socket's datagrams may wait (see
                # _ordering): the answer to this datagram must not overtake its success.
                token = self._send_order().begin(sys._getframe(1))
        posted = False
        try:
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
            post_result(token, self._finish, token, result, callback, on_complete, failed)
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
                    assert self._order is not None
                    _loop.call_soon(self._order.release, token)
            raise
        return token

    def _send_order(self) -> SendOrder:
        order = self._order
        if order is None:
            with self._lock:  # made with the first send that needs it
                order = self._order
                if order is None:
                    order = self._order = SendOrder(self)  # type: ignore[arg-type]
        return order

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
            return failure(method, CLOSED_REASON, ERR_SYSTEM)
        assert isinstance(exc, OSError)
        return failure(method, *from_os_error(exc))

    def _finish(
        self,
        token: Optional[SendToken],
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
            assert self._order is not None
            self._order.release(token)
