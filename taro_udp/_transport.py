"""Transport: the narrow seam between a UDPSocket and the OS socket under it.

``UDPSocket`` talks to its datagram endpoint only through the ``Transport`` protocol
below, and gets one from ``transport_factory``; a simulated network can install a
factory of its own (``set_transport_factory``) and stand in for the OS without touching
the socket class. Transports raise ``OSError`` exactly as the OS would.
"""

from __future__ import annotations

import errno
import socket
import sys
from typing import Any, Callable, Dict, Mapping, Optional, Protocol, Tuple, Union

from . import _clock
from ._addresses import SockAddr

__all__ = [
    "Received",
    "SocketOptions",
    "Transport",
    "TransportFactory",
    "create_os_transport",
    "set_transport_factory",
    "transport_factory",
]

# (message, remote host, remote port, local host or None when the OS cannot tell).
Received = Tuple[bytes, str, int, Optional[str]]
SocketOptions = Mapping[str, Any]
Buffer = Union[bytes, bytearray, memoryview]

# Linux values, for Pythons whose socket module lacks the name (IP_PKTINFO: before 3.9).
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8 if sys.platform.startswith("linux") else None)
_IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", None)
_IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", None)
_MSG_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_HAS_RECVMSG = hasattr(socket.socket, "recvmsg")
# Large enough for any UDP payload (65,507 bytes over IPv4, 65,527 over IPv6).
RECV_BUFFER_SIZE = 65536


class Transport(Protocol):
    """A datagram endpoint. Every method may raise ``OSError``."""

    def fileno(self) -> int:
        """An fd that is readable whenever ``recv`` has a datagram."""

    def bind(self, address: SockAddr) -> Tuple[str, int]:
        """Bind and return the local (host, port) actually bound."""

    def connect(self, address: SockAddr) -> None:
        """Talk to one peer only."""

    def sendto(self, data: Buffer, address: SockAddr) -> object:
        """Send one datagram to ``address``."""

    def send(self, data: Buffer) -> object:
        """Send one datagram to the connected peer."""

    def recv(self) -> Received:
        """Read one datagram without blocking; ``BlockingIOError`` when there is none."""

    def set_ttl(self, ttl: int) -> None:
        """Set the unicast TTL / hop limit."""

    def set_broadcast(self, enabled: bool) -> None:
        """Set SO_BROADCAST."""

    def close(self) -> None:
        """Release the endpoint at once."""


TransportFactory = Callable[[int, SocketOptions], Transport]


class OSTransport:
    """A real OS UDP socket: ``recvmsg`` with packet info, so the local address is known."""

    __slots__ = (
        "_ancbufsize",
        "_family",
        "_local_hosts",
        "_sock",
        "fileno",
        "recv",
        "send",
        "sendto",
    )

    def __init__(self, family: int, options: SocketOptions) -> None:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._configure(sock, family, options)
        except BaseException:  # whatever went wrong, the OS socket must not leak
            sock.close()
            raise
        self._sock = sock
        self._family = family
        # Raw packet-info address -> text; a host has few local addresses.
        self._local_hosts: Dict[bytes, str] = {}
        # The socket's own methods, not wrappers: send() is hot.
        self.fileno = sock.fileno
        self.send = sock.send
        self.sendto = sock.sendto
        self._ancbufsize = 0
        if _HAS_RECVMSG and self._enable_pktinfo(sock, family):
            self._ancbufsize = socket.CMSG_SPACE(20 if family == socket.AF_INET6 else 12)
            self.recv = self._recv_pktinfo
        else:  # pragma: no cover - platforms without packet info
            self.recv = self._recv_plain

    @staticmethod
    def _configure(sock: socket.socket, family: int, options: SocketOptions) -> None:
        if family == socket.AF_INET6:
            # Dual stack, like Node: a udp6 socket also talks to IPv4 peers.
            sock.setsockopt(
                socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if options.get("ipv6Only") else 0
            )
        if options.get("reuseAddr"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for key, level in (
            ("recvBufferSize", socket.SO_RCVBUF),
            ("sendBufferSize", socket.SO_SNDBUF),
        ):
            size = options.get(key)
            if size is not None:
                sock.setsockopt(socket.SOL_SOCKET, level, int(size))
        if not _MSG_DONTWAIT:  # pragma: no cover - Windows: reads must not block either
            sock.setblocking(False)
        # Otherwise the socket stays blocking, so a full send buffer makes send() wait as
        # the OS does (not fail with EAGAIN), while recv passes MSG_DONTWAIT per call.

    @staticmethod
    def _enable_pktinfo(sock: socket.socket, family: int) -> bool:
        try:
            if family == socket.AF_INET6:
                if _IPV6_RECVPKTINFO is None:  # pragma: no cover
                    return False
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVPKTINFO, 1)
            else:
                if _IP_PKTINFO is None:  # pragma: no cover
                    return False
                sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
        except OSError:  # pragma: no cover - the OS lacks it: fall back to the bound address
            return False
        return True

    def bind(self, address: SockAddr) -> Tuple[str, int]:
        self._sock.bind(address)
        bound = self._sock.getsockname()
        return (str(bound[0]), int(bound[1]))

    def connect(self, address: SockAddr) -> None:
        self._sock.connect(address)

    def _recv_pktinfo(self) -> Received:
        data, ancdata, _flags, address = self._sock.recvmsg(
            RECV_BUFFER_SIZE, self._ancbufsize, _MSG_DONTWAIT
        )
        local = None
        if ancdata:
            raw = ancdata[0][2]
            # in_pktinfo: ifindex, spec_dst, addr (bytes 8-12); in6_pktinfo: addr, ifindex.
            raw = raw[:16] if self._family == socket.AF_INET6 else raw[8:12]
            local = self._local_hosts.get(raw) or self.local_host(raw)
        return (data, address[0], address[1], local)

    def local_host(self, raw: bytes) -> str:
        """The text of a packet-info address, remembered (a host has few of them)."""
        host = self._local_hosts[raw] = socket.inet_ntop(self._family, raw)
        return host

    def _recv_plain(self) -> Received:  # pragma: no cover - platforms without recvmsg
        data, address = self._sock.recvfrom(RECV_BUFFER_SIZE, _MSG_DONTWAIT)
        return (data, address[0], address[1], None)

    def set_ttl(self, ttl: int) -> None:
        if self._family == socket.AF_INET6:
            self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
            try:  # IPv4 peers of a dual-stack socket use the IPv4 TTL
                self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            except OSError:
                pass
        else:
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)

    def set_broadcast(self, enabled: bool) -> None:
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1 if enabled else 0)

    def close(self) -> None:
        self._sock.close()


def create_os_transport(family: int, options: SocketOptions) -> Transport:
    """The default factory: a real OS socket (refused under a virtual clock)."""
    clock: Any = _clock.current
    if clock.virtual and not getattr(clock, "allow_os_sockets", False):
        # Real I/O under virtual time would make a run depend on real time.
        raise OSError(
            errno.EPERM,
            "OS sockets are refused under a virtual clock (use a SimulatedNetwork, or "
            "VirtualClock(allow_os_sockets=True) and give up determinism)",
        )
    return OSTransport(family, options)


transport_factory: TransportFactory = create_os_transport


def set_transport_factory(factory: Optional[TransportFactory]) -> TransportFactory:
    """Install ``factory`` for sockets created from now on; return the previous one.

    ``None`` restores the OS transport.
    """
    global transport_factory
    previous = transport_factory
    transport_factory = factory if factory is not None else create_os_transport
    return previous
