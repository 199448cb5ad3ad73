"""PortTable: which simulated socket holds which address and port, and who gets a datagram.

The rules are Linux's for loopback: the host owns 127.0.0.0/8 and ::1; binding anything
else is ``EADDRNOTAVAIL``; two sockets clash on a port when some datagram could reach
both, unless both set ``reuseAddr``; a unicast datagram goes to the best match (an exact
local address beats the wildcard, a connected socket beats an unconnected one, among
equals the one bound last); a broadcast goes to every wildcard socket on the port.
Ephemeral ports are handed out in order from 32768, so runs are repeatable.

Every method is called with the network's lock held.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Union

from .._addresses import SockAddr

if TYPE_CHECKING:
    from ._sim_transport import SimulatedTransport

__all__ = [
    "EPHEMERAL_FIRST",
    "EPHEMERAL_LAST",
    "Address",
    "IPAddress",
    "PortTable",
    "is_broadcast",
    "is_local",
    "os_error",
]

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
# (IP, port), IPv4-mapped IPv6 addresses stored as IPv4.
Address = Tuple[IPAddress, int]

EPHEMERAL_FIRST = 32768
EPHEMERAL_LAST = 60999
_BROADCASTS = frozenset(
    {ipaddress.IPv4Address("255.255.255.255"), ipaddress.IPv4Address("127.255.255.255")}
)
_IPV4_WILDCARD = ipaddress.IPv4Address("0.0.0.0")
_IPV6_LOOPBACK = ipaddress.IPv6Address("::1")
# One address of each family, to ask a socket which families it receives.
_V4_PROBE = ipaddress.IPv4Address("127.0.0.1")
_V6_PROBE = _IPV6_LOOPBACK
# Parsed address texts kept; a bound, not a policy (the cache is just cleared when full).
_IP_CACHE_MAX = 4096


def _unprivileged_port_start() -> int:
    # Binding below this port needs privileges, as the real OS decides it.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return 0
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as file:
            return int(file.read())
    except (OSError, ValueError):
        return 1024


def os_error(code: int) -> OSError:
    """The ``OSError`` subclass the OS raises for ``code``, with the OS's text."""
    return OSError(code, os.strerror(code))


def is_broadcast(host: IPAddress) -> bool:
    """Whether ``host`` is a broadcast address of the simulated host."""
    return host in _BROADCASTS


def is_local(host: IPAddress) -> bool:
    """Whether ``host`` is an address of the simulated host (loopback)."""
    return host.is_loopback if host.version == 4 else host == _IPV6_LOOPBACK


class PortTable:
    """The bound sockets of one simulated network, by port."""

    def __init__(self) -> None:
        self._ports: Dict[int, List[SimulatedTransport]] = {}
        self._next_port = EPHEMERAL_FIRST
        self._bind_counter = 0
        self._privileged_below = _unprivileged_port_start()
        self._ip_cache: Dict[str, IPAddress] = {}

    @property
    def binds(self) -> int:
        """How many binds succeeded so far."""
        return self._bind_counter

    def parse_sockaddr(self, address: SockAddr) -> Address:
        """The (IP, port) of a sockaddr from the core, IPv4-mapped shown as IPv4."""
        text = str(address[0])
        host = self._ip_cache.get(text)
        if host is None:
            parsed = ipaddress.ip_address(text.split("%", 1)[0])
            if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
                parsed = parsed.ipv4_mapped
            if len(self._ip_cache) >= _IP_CACHE_MAX:
                self._ip_cache.clear()
            host = self._ip_cache[text] = parsed
        return (host, int(address[1]))

    def bind(
        self, sock: SimulatedTransport, host: Optional[IPAddress], port: int, text: str
    ) -> None:
        """Bind ``sock`` to ``host`` (None or unspecified: wildcard) and ``port`` (0: pick).

        ``text`` is the address as the caller wrote it, returned by getsockname.
        """
        wildcard = host is None or host.is_unspecified
        if host is not None and not wildcard and not is_local(host):
            raise os_error(errno.EADDRNOTAVAIL)
        if 0 < port < self._privileged_below:
            raise os_error(errno.EACCES)
        sock.local = host if host is not None else _IPV4_WILDCARD
        sock.wildcard = wildcard
        if port == 0:
            port = self._ephemeral_port(sock)
        elif any(self._conflicts(sock, other) for other in self._ports.get(port, ())):
            sock.local = None
            raise os_error(errno.EADDRINUSE)
        if not text:
            text = "::" if sock.family == socket.AF_INET6 else "0.0.0.0"
        sock.local_text = text
        sock.port = port
        self._bind_counter += 1
        sock.bind_order = self._bind_counter
        self._ports.setdefault(port, []).append(sock)

    def unbind(self, sock: SimulatedTransport) -> None:
        """Forget ``sock`` (it was closed)."""
        bound = self._ports.get(sock.port)
        if bound is not None and sock in bound:
            bound.remove(sock)
            if not bound:
                del self._ports[sock.port]

    def sockets(self) -> List[SimulatedTransport]:
        """Every bound socket."""
        return [sock for socks in self._ports.values() for sock in socks]

    def forget_closed(self) -> None:
        """Drop closed sockets (in a forked child, the parent's copies, closed unbound)."""
        for port in list(self._ports):
            alive = [sock for sock in self._ports[port] if not sock.closed]
            if alive:
                self._ports[port] = alive
            else:
                del self._ports[port]

    def receivers(self, source: Address, destination: Address) -> List[SimulatedTransport]:
        """The sockets a datagram from ``source`` to ``destination`` is delivered to."""
        host, port = destination
        broadcast = is_broadcast(host)
        best: List[SimulatedTransport] = []
        best_score = -1
        for sock in self._ports.get(port, ()):
            if sock.closed:
                continue
            if not sock.accepts_family(host):
                continue
            if sock.peer is not None and sock.peer != source:
                continue
            if broadcast:
                if sock.wildcard:
                    best.append(sock)
                continue
            if not sock.wildcard and sock.local != host:
                continue
            score = (0 if sock.wildcard else 2) + (0 if sock.peer is None else 4)
            if score >= best_score:  # ">=": among equals, the one bound last
                best, best_score = [sock], score
        return best

    def _ephemeral_port(self, sock: SimulatedTransport) -> int:
        span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1
        for _ in range(span):
            port = self._next_port
            self._next_port = EPHEMERAL_FIRST + (port - EPHEMERAL_FIRST + 1) % span
            if not any(self._conflicts(sock, other) for other in self._ports.get(port, ())):
                return port
        sock.local = None
        raise os_error(errno.EADDRINUSE)

    @staticmethod
    def _conflicts(sock: SimulatedTransport, other: SimulatedTransport) -> bool:
        # Two sockets on one port clash when some datagram could reach both.
        if sock.reuse_address and other.reuse_address:
            return False
        if sock.wildcard and other.wildcard:
            both_v4 = sock.accepts_family(_V4_PROBE) and other.accepts_family(_V4_PROBE)
            both_v6 = sock.accepts_family(_V6_PROBE) and other.accepts_family(_V6_PROBE)
            return both_v4 or both_v6
        if sock.wildcard or other.wildcard:
            wild, specific = (sock, other) if sock.wildcard else (other, sock)
            assert specific.local is not None
            return wild.accepts_family(specific.local)
        return sock.local == other.local
