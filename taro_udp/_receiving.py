"""Receiving: the read loop of a ``UDPSocket``, on the event thread.

A mixin of ``UDPSocket``. Its reader reads *and* delivers, with no hand-off (see
``_loop``): up to ``DRAIN_LIMIT`` datagrams per wake-up, each delivered to the
``onMessage`` listeners of that moment. Before each datagram's listeners, the work
posted meanwhile runs (a send's result, a close); a socket closed by anything stops
delivering at once, before the next listener call. Datagrams that may answer a send
still under way on another thread wait for its result (``_ordering``).

For an OS socket the system call is made here, inline (``_drain_os``): the hot path of
receiving is one ``recvmsg``, one dict and the listener calls. Other transports (the
simulated network) go through ``Transport.recv`` (``_drain``).
"""

from __future__ import annotations

import socket
import threading
from typing import Optional

from . import _loop
from ._errors import from_os_error
from ._events import Listeners
from ._ordering import SendOrder
from ._results import failure
from ._states import CLOSED
from ._transport import _MSG_DONTWAIT, RECV_BUFFER_SIZE, OSTransport, Received, Transport
from ._types import OnMessageCallbackResult

__all__ = ["DRAIN_LIMIT", "Receiving"]

# Datagrams read from one socket per wake-up before the other ready sockets get a turn.
# The socket stays readable, so the rest are read on the next pass; nothing is dropped.
DRAIN_LIMIT = 256

_AF_INET6 = socket.AF_INET6


class Receiving(Listeners):
    """The reader of a socket; its state and transport are ``UDPSocket``'s."""

    _state: str
    _transport: Transport
    _family_name: str
    _local_address: str
    _local_port: int
    _order: Optional[SendOrder]
    # Set by the event thread while it delivers this socket's datagrams; close() from
    # another thread waits for that delivery to end (see UDPSocket.close()).
    _delivering: bool
    _close_waiter: Optional[threading.Event]

    def _on_readable(self, stashed: Optional[Received] = None) -> None:
        # Runs on the event thread: read and deliver directly, no hand-off (see _loop).
        # Deliveries may nest (a send's result run from inside one resumes reading):
        # close() waits for the outermost to end.
        outermost = not self._delivering
        self._delivering = True
        try:
            transport = self._transport
            if stashed is None and type(transport) is OSTransport and transport._ancbufsize:
                self._drain_os(transport)
            else:
                self._drain(stashed)
        finally:
            if outermost:
                self._delivering = False
                waiter = self._close_waiter
                if waiter is not None:
                    waiter.set()

    def _drain_os(self, transport: OSTransport) -> None:
        # The hot path of receiving: locals for everything looked up per datagram, the
        # system call inline; the state is looked at before each system call (the fd
        # of a closed socket may be another's by now) and before each listener.
        recvmsg = transport._sock.recvmsg
        ancbufsize = transport._ancbufsize
        hosts = transport._local_hosts
        v6 = transport._family == _AF_INET6
        inbox = _loop.inbox
        registry = self._on_message
        family = self._family_name
        local_address = self._local_address  # fixed once bound
        local_port = self._local_port
        for _ in range(DRAIN_LIMIT):
            if self._state is CLOSED:
                return
            try:
                data, ancdata, _flags, address = recvmsg(
                    RECV_BUFFER_SIZE, ancbufsize, _MSG_DONTWAIT
                )
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if self._state is CLOSED:
                    return
                # e.g. ICMP port unreachable on a connected socket: report, read on.
                self._emit_error(failure("receive", *from_os_error(exc)))
                continue
            local = local_address
            if ancdata:
                # in_pktinfo: ifindex, spec_dst, addr (bytes 8-12); in6_pktinfo: addr, ifindex.
                raw = ancdata[0][2]
                raw = raw[:16] if v6 else raw[8:12]
                local = hosts.get(raw) or transport.local_host(raw)
            order = self._order
            if (
                order is not None
                and order.sending
                and order.hold_back((data, address[0], address[1], local))
            ):
                return
            if inbox:
                # Work posted while we read (a send's result, a close) goes first.
                _loop.run_posted()
                if self._state is CLOSED:
                    return
            payload: OnMessageCallbackResult = {
                "message": data,
                "remoteInfo": {
                    "address": address[0],
                    "family": family,
                    "port": address[1],
                    "size": len(data),
                },
                "localInfo": {"address": local, "family": family, "port": local_port},
            }
            listeners = registry.listeners
            if len(listeners) == 1:  # the common case
                if self._state is CLOSED:  # closed meanwhile (a finalizer, say)
                    return
                try:
                    listeners[0](payload)
                except BaseException as exc:  # noqa: BLE001 - the thread must survive anything
                    self._listener_failed("onMessage", exc)
                continue
            for listener in listeners:
                if self._state is CLOSED:  # close() from inside a listener
                    return
                try:
                    listener(payload)
                except BaseException as exc:  # noqa: BLE001
                    self._listener_failed("onMessage", exc)

    def _drain(self, stashed: Optional[Received]) -> None:
        # Any transport (the simulated network's), and a datagram kept by _ordering.
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
                order = self._order
                if (
                    order is not None
                    and order.sending
                    and order.hold_back((data, host, port, local))
                ):
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
