"""PortTable: which socket of one simulated host holds which address and port, and who
gets a datagram that reached the host.

The rules are Linux's: a socket binds one of its host's addresses (or a group or
broadcast address the host can receive), or the wildcard; anything else is
``EADDRNOTAVAIL``. Two sockets clash on a port when some datagram could reach both,
unless both set ``reuseAddr``. A unicast datagram goes to the best match (an exact local
address beats the wildcard, a connected socket beats an unconnected one, among equals
the one bound last); a broadcast goes to every socket of the port bound to the wildcard
or to that broadcast address; a multicast datagram to every such socket that joined the
group. Ephemeral ports are handed out in order from 32768, per host, so runs repeat.

Every method is called with the network's lock held. The table knows its sockets only
through ``Bound`` (what it reads of them), so it imports no transport.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Callable, Dict, List, Optional, Protocol, Set

from ._addressing import IPV4_LOOPBACK, IPV4_WILDCARD, IPV6_LOOPBACK, Address, IPAddress, os_error

__all__ = [
    "BROADCAST",
    "EPHEMERAL_FIRST",
    "EPHEMERAL_LAST",
    "MULTICAST",
    "UNICAST",
    "Bound",
    "PortTable",
]

EPHEMERAL_FIRST = 32768
EPHEMERAL_LAST = 60999
# How a datagram was addressed, for ``receivers``.
UNICAST = 0
BROADCAST = 1
MULTICAST = 2


class Bound(Protocol):
    """What the port table reads and writes of a socket."""

    family: int
    reuse_address: bool
    local: Optional[IPAddress]
    wildcard: bool
    local_text: str
    port: int
    bind_order: int
    peer: Optional[Address]
    closed: bool
    groups: Set[IPAddress]

    def accepts_family(self, host: IPAddress) -> bool: ...


def _unprivileged_port_start() -> int:
    # Binding below this port needs privileges, as the real OS decides it.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return 0
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as file:
            return int(file.read())
    except (OSError, ValueError):
        return 1024


_PRIVILEGED_BELOW = _unprivileged_port_start()


class PortTable:
    """The bound sockets of one simulated host, by port.

    ``can_bind(address)`` says whether the host may bind that address (its own, a
    broadcast address of its subnets, a multicast group).
    """

    def __init__(self, can_bind: Callable[[IPAddress], bool]) -> None:
        self._can_bind = can_bind
        self._ports: Dict[int, List[Bound]] = {}
        self._next_port = EPHEMERAL_FIRST
        self._bind_counter = 0

    @property
    def binds(self) -> int:
        """How many binds succeeded so far."""
        return self._bind_counter

    def bind(self, sock: Bound, host: Optional[IPAddress], port: int, text: str) -> None:
        """Bind ``sock`` to ``host`` (None or unspecified: wildcard) and ``port`` (0: pick).

        ``text`` is the address as the caller wrote it, returned by getsockname.
        """
        wildcard = host is None or host.is_unspecified
        if host is not None and not wildcard and not self._can_bind(host):
            raise os_error(errno.EADDRNOTAVAIL)
        if 0 < port < _PRIVILEGED_BELOW:
            raise os_error(errno.EACCES)
        sock.local = host if host is not None else IPV4_WILDCARD
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

    def unbind(self, sock: Bound) -> None:
        """Forget ``sock`` (it was closed)."""
        bound = self._ports.get(sock.port)
        if bound is not None and sock in bound:
            bound.remove(sock)
            if not bound:
                del self._ports[sock.port]

    def holds(self, address: IPAddress, port: int) -> bool:
        """Whether an open socket is bound to ``port`` where ``address`` reaches it."""
        return any(
            not sock.closed and (sock.wildcard or sock.local == address)
            for sock in self._ports.get(port, ())
        )

    def sockets(self) -> List[Bound]:
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

    def receivers(self, source: Address, destination: Address, kind: int) -> List[Bound]:
        """The sockets a datagram from ``source`` to ``destination`` is delivered to.

        ``kind`` is ``UNICAST``, ``BROADCAST`` or ``MULTICAST``: how it was addressed.
        """
        host, port = destination
        best: List[Bound] = []
        best_score = -1
        for sock in self._ports.get(port, ()):
            if sock.closed or not sock.accepts_family(host):
                continue
            if sock.peer is not None and sock.peer != source:
                continue
            if kind != UNICAST:
                if (sock.wildcard or sock.local == host) and (
                    kind == BROADCAST or host in sock.groups
                ):
                    best.append(sock)
                continue
            if not sock.wildcard and sock.local != host:
                continue
            score = (0 if sock.wildcard else 2) + (0 if sock.peer is None else 4)
            if score >= best_score:  # ">=": among equals, the one bound last
                best, best_score = [sock], score
        return best

    def _ephemeral_port(self, sock: Bound) -> int:
        span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1
        for _ in range(span):
            port = self._next_port
            self._next_port = EPHEMERAL_FIRST + (port - EPHEMERAL_FIRST + 1) % span
            if not any(self._conflicts(sock, other) for other in self._ports.get(port, ())):
                return port
        sock.local = None
        raise os_error(errno.EADDRINUSE)

    @staticmethod
    def _conflicts(sock: Bound, other: Bound) -> bool:
        # Two sockets on one port clash when some datagram could reach both.
        if sock.reuse_address and other.reuse_address:
            return False
        if sock.wildcard and other.wildcard:
            both_v4 = sock.accepts_family(IPV4_LOOPBACK) and other.accepts_family(IPV4_LOOPBACK)
            both_v6 = sock.accepts_family(IPV6_LOOPBACK) and other.accepts_family(IPV6_LOOPBACK)
            return both_v4 or both_v6
        if sock.wildcard or other.wildcard:
            wild, specific = (sock, other) if sock.wildcard else (other, sock)
            assert specific.local is not None
            return wild.accepts_family(specific.local)
        return sock.local == other.local
