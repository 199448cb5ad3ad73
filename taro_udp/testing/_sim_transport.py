"""SimulatedTransport: a ``Transport`` (see ``taro_udp._transport``) on a simulated network.

It behaves as a Linux UDP socket of its host does, errno for errno, so a ``UDPSocket``
cannot tell the difference: binding an address the host does not have is
``EADDRNOTAVAIL``, a port in use ``EADDRINUSE``, a datagram over 65,507 bytes (65,527 on
IPv6) ``EMSGSIZE``, broadcast without ``SO_BROADCAST`` ``EACCES``, a send with no route
``ENETUNREACH``, a connected socket whose peer has no socket gets ``ECONNREFUSED`` on its
next send or read.

Received datagrams wait in a queue. The event thread waits on ``fileno()``, the read end
of a pipe that holds one byte exactly while the queue is not empty (or an error is
pending), so readiness is level-triggered like a socket's and nothing polls.
"""

from __future__ import annotations

import collections
import errno
import os
import socket
import threading
from typing import Deque, Optional, Protocol, Set, Tuple

from .. import _loop
from .._addresses import SockAddr
from .._transport import Buffer, Received, SocketOptions
from ._addressing import (
    LIMITED_BROADCAST,
    LOOPBACK_BROADCAST,
    Address,
    IPAddress,
    os_error,
    parse_ip,
)
from ._hosts import Host

__all__ = ["Medium", "SimulatedTransport"]

# The largest UDP payload: 65,535 minus the IP (20 or 40 bytes) and UDP (8) headers.
MAX_PAYLOAD_IPV4 = 65507
MAX_PAYLOAD_IPV6 = 65527
# Queued payload bytes per socket before datagrams are dropped, as a full receive
# buffer drops them. Generous, so that tests never lose datagrams here by accident;
# ``recvBufferSize`` sets it (doubled, as Linux doubles SO_RCVBUF).
DEFAULT_RECEIVE_BUFFER = 8 * 1024 * 1024
DEFAULT_TTL = 64
_EAGAIN_TEXT = os.strerror(errno.EAGAIN)


class Medium(Protocol):
    """What a transport needs of its network: the lock, and a way to send."""

    lock: threading.Lock

    def transmit_locked(
        self,
        sender: SimulatedTransport,
        destination: Address,
        payload: bytes,
        text: Optional[Tuple[str, int]] = None,
    ) -> None: ...


def _sockaddr(address: SockAddr) -> Address:
    # The (IP, port) of a sockaddr from the core, IPv4-mapped shown as IPv4.
    return (parse_ip(str(address[0])), int(address[1]))


class SimulatedTransport:
    """One socket of a simulated ``host``. Every method runs under the network's lock."""

    # TARO_UDP_BIND_ADDRESS keeps a harness's OS sockets on one interface; here it would
    # only make wildcard-bound devices deaf to broadcasts (see _network).
    ignores_bind_env = True

    def __init__(self, network: Medium, host: Host, family: int, options: SocketOptions) -> None:
        self.network = network
        self.host = host
        self.groups: Set[IPAddress] = set()  # multicast groups joined (device fakes)
        self.family = family
        self.v6only = family == socket.AF_INET6 and bool(options.get("ipv6Only"))
        self.mapped = family == socket.AF_INET6  # IPv4 peers shown IPv4-mapped
        self.reuse_address = bool(options.get("reuseAddr"))
        size = options.get("recvBufferSize")
        self.receive_buffer = 2 * int(size) if size is not None else DEFAULT_RECEIVE_BUFFER
        # Bound address (IPv4-mapped addresses stored as IPv4), None until bound.
        self.local: Optional[IPAddress] = None
        self.wildcard = False
        self.local_text = ""
        self.port = 0
        self.bind_order = 0
        self.peer: Optional[Address] = None
        self.ttl = DEFAULT_TTL
        self.broadcast = False
        self.closed = False
        self.queue: Deque[Received] = collections.deque()
        self.queued_bytes = 0
        self.error: Optional[int] = None
        self._signaled = False
        self._pid = os.getpid()
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)

    # -- the Transport protocol ----------------------------------------------------------

    def fileno(self) -> int:
        return self._read_fd

    def bind(self, address: SockAddr) -> Tuple[str, int]:
        with self.network.lock:
            self._check_open()
            if self.local is not None:
                raise os_error(errno.EINVAL)  # already bound, as Linux says
            host, port = _sockaddr(address)
            self.host.ports.bind(self, host, port, str(address[0]))
            return (self.local_text, self.port)

    def connect(self, address: SockAddr) -> None:
        with self.network.lock:
            self._check_open()
            peer = _sockaddr(address)
            self._check_destination(peer)
            if self.local is None:
                self.host.ports.bind(self, None, 0, "")
            self.peer = peer

    def sendto(self, data: Buffer, address: SockAddr) -> None:
        with self.network.lock:
            self._send_locked(data, _sockaddr(address), (str(address[0]), int(address[1])))

    def send(self, data: Buffer) -> None:
        with self.network.lock:
            if self.peer is None:
                self._check_open()
                raise os_error(errno.EDESTADDRREQ)
            self._send_locked(data, self.peer)

    def recv(self) -> Received:
        with self.network.lock:
            if self.closed:
                raise os_error(errno.EBADF)
            if self.error is not None:
                self._raise_pending_error()
            if not self.queue:  # every drain ends here: the OS's error, its text cached
                raise BlockingIOError(errno.EAGAIN, _EAGAIN_TEXT)
            item = self.queue.popleft()
            self.queued_bytes -= len(item[0])
            self._update_signal()
            return item

    def set_ttl(self, ttl: int) -> None:
        with self.network.lock:
            self._check_open()
            if self.family == socket.AF_INET and ttl == 0:
                raise os_error(errno.EINVAL)  # Linux refuses an IP_TTL of 0
            self.ttl = ttl

    def set_broadcast(self, enabled: bool) -> None:
        with self.network.lock:
            self._check_open()
            self.broadcast = enabled

    def close(self) -> None:
        if os.getpid() != self._pid:
            # A forked child dropping its copy (the core does so after fork): the network
            # lock may have been held by another thread at the fork, so do not take it.
            self.closed = True
            os.close(self._read_fd)
            os.close(self._write_fd)
            return
        with self.network.lock:
            if self.closed:
                return
            self.closed = True
            self.host.ports.unbind(self)
            self.queue.clear()
            self.queued_bytes = 0
            os.close(self._read_fd)
            os.close(self._write_fd)

    # -- used by the network, with its lock held -----------------------------------------

    def accepts_family(self, host: IPAddress) -> bool:
        """Whether a datagram for ``host`` can reach this socket's address family."""
        if host.version == 4:
            return self.family == socket.AF_INET or not self.v6only
        return self.family == socket.AF_INET6

    def present(self, host: IPAddress) -> str:
        """``host`` as this socket's OS would show it (IPv4-mapped on a udp6 socket)."""
        if host.version == 4 and self.family == socket.AF_INET6:
            return f"::ffff:{host}"
        return str(host)

    def enqueue(self, item: Received, signal: bool = True) -> bool:
        """Queue a received datagram; False when the receive buffer is full (or closed).

        ``signal=False``: the caller reads the socket right away (``deliver_now``) and
        then calls ``resignal()``, sparing the pipe a write and a read per datagram.
        """
        if self.closed or self.queued_bytes + len(item[0]) > self.receive_buffer:
            return False
        self.queue.append(item)
        self.queued_bytes += len(item[0])
        if signal:
            self._update_signal()
        return True

    def resignal(self) -> None:
        """Make the pipe say again whether anything is left to read (network lock held)."""
        if not self.closed:
            self._update_signal()

    def deliver_now(self) -> None:
        """Read this socket now (event thread, at a delayed arrival's deadline).

        So that a datagram arriving at a deadline is delivered in its place among the
        timers due then (a timer set after it runs after it), not whenever select()
        notices the socket.
        """
        _loop.run_reader(self._read_fd)

    def set_error(self, code: int) -> None:
        """Make the next read or send fail with ``code`` (an ICMP error, as the OS does)."""
        self.error = code
        self._update_signal()

    # -- internals -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise os_error(errno.EBADF)

    def _raise_pending_error(self) -> None:
        code = self.error
        if code is not None:
            self.error = None
            self._update_signal()
            raise os_error(code)

    def _check_destination(self, destination: Address) -> None:
        host, port = destination
        if port == 0:
            raise os_error(errno.EINVAL)
        if not self.accepts_family(host):
            raise os_error(errno.ENETUNREACH)  # e.g. IPv4-mapped on an IPv6-only socket
        if not self.broadcast and self._is_broadcast(host):
            raise os_error(errno.EACCES)

    def _is_broadcast(self, host: IPAddress) -> bool:
        # A broadcast address of this host's links: Linux wants SO_BROADCAST for these.
        # The directed broadcast of a subnet the host is not on is plain unicast.
        if host in (LIMITED_BROADCAST, LOOPBACK_BROADCAST):
            return True
        return any(attachment.subnet.is_broadcast(host) for attachment in self.host.attachments)

    def _send_locked(
        self, data: Buffer, destination: Address, text: Optional[Tuple[str, int]] = None
    ) -> None:
        self._check_open()
        self._raise_pending_error()
        self._check_destination(destination)
        payload = bytes(data)
        host = destination[0]
        limit = MAX_PAYLOAD_IPV4 if host.version == 4 else MAX_PAYLOAD_IPV6
        if len(payload) > limit:
            raise os_error(errno.EMSGSIZE)
        if self.local is None:
            self.host.ports.bind(self, None, 0, "")
        self.network.transmit_locked(self, destination, payload, text)

    def _update_signal(self) -> None:
        # One byte in the pipe exactly while there is something to read.
        ready = bool(self.queue) or self.error is not None
        if ready and not self._signaled:
            os.write(self._write_fd, b"\0")
            self._signaled = True
        elif not ready and self._signaled:
            os.read(self._read_fd, 1)
            self._signaled = False
