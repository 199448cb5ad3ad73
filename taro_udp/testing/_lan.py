"""The LAN of a simulated network: its hosts, subnets, routers and multicast groups.

``Topology`` is a base class of ``SimulatedNetwork``: the public API that builds the LAN
(``add_host``, ``add_router``, ``add_subnet``, ``join_group``...) and the ``Fabric`` the
hosts call back (``subnet_locked``, ``link_changed_locked``). What happens to datagrams
on it is the network's (``_network``) and the routing's (``_routing``).
"""

from __future__ import annotations

import ipaddress
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .. import _log, _loop
from .._socket import UDPSocket
from ._addressing import Address, as_interface, is_multicast, parse_ip
from ._hosts import Attachment, Host, Nat, Subnet
from ._ports import PortTable
from ._routing import Route
from ._sim_transport import SimulatedTransport

__all__ = ["Topology"]


class Topology:
    """Hosts and subnets (the base class of ``SimulatedNetwork`` that builds its LAN)."""

    lock: threading.Lock
    records: bool
    local_host: Host
    _active: bool
    _hosts: Dict[str, Host]
    _subnets: Dict[Any, Subnet]
    _routes: Dict[Any, Tuple[int, Address, List[Route], Tuple[str, str]]]
    _topology: int

    def __init__(self) -> None:
        self._subnets = {}
        self._hosts = {}
        # The routes of recent sends, by (socket, destination text): see transmit_locked.
        self._routes = {}
        self._topology = 0  # bumped by every change of links: the routes kept go stale

    def _trace_locked(self, kind: str, *details: Any) -> None:
        raise NotImplementedError  # the network's

    def add_host(self, *addresses: str, name: Optional[str] = None) -> Host:
        """A new host with these interface addresses (``"192.168.1.50/24"``, IPv6 too).

        Each address puts the host on the subnet of its prefix (made on first use); no
        address: a host not connected yet (``host.connect(...)`` later). ``name`` (by
        default its first address) names it in records, traces and fate draws.
        """
        return self._new_host(name, addresses)

    def add_router(self, *addresses: str, name: Optional[str] = None, nat: bool = False) -> Host:
        """A router attached to these subnets: the default gateway of each of them.

        It forwards unicast between its subnets (broadcasts stay on their link). With
        ``nat=True`` the last address is its outside interface: what leaves through it
        from the other subnets has its source rewritten to that address and a port of
        the router's (20000 on), and only replies from the endpoints so contacted get
        back in (``"nat: no mapping"`` for the others).
        """
        if nat and len(addresses) < 2:
            raise ValueError("a NAT router needs an inside and an outside address")
        router = self._new_host(name, addresses, router=True)
        if nat:
            with self.lock:
                router.nat = Nat(router.attachments[-1])
                self._topology += 1
        return router

    def add_subnet(self, address: str) -> Subnet:
        """The subnet ``address`` (``"192.168.1.0/24"``), made if new."""
        network = ipaddress.ip_network(address)
        with self.lock:
            return self.subnet_locked(network)

    def _new_host(
        self,
        name: Optional[str],
        addresses: Sequence[str],
        *,
        router: bool = False,
        loopback_only: bool = False,
    ) -> Host:
        interfaces = [as_interface(address) for address in addresses]
        if name is None:
            name = str(interfaces[0].ip) if interfaces else f"host{len(self._hosts)}"
        if not isinstance(name, str) or not name:
            raise TypeError(f"a host's name is a non-empty str, got {name!r}")
        with self.lock:
            if name in self._hosts:
                raise ValueError(f"there is already a host named {name!r}")
            host = Host(self, name, router=router, loopback_only=loopback_only)
            self._hosts[name] = host
        try:
            for interface in interfaces:
                host.connect(str(interface))
        except BaseException:  # e.g. an address taken: no half-made host stays behind
            if host.attachments:
                host.disconnect()
            with self.lock:
                del self._hosts[name]
            raise
        return host

    @property
    def hosts(self) -> List[Host]:
        """Every host, the local one first, in the order they were added."""
        with self.lock:
            return list(self._hosts.values())

    def host(self, name: str) -> Host:
        """The host named ``name`` (``KeyError`` if none)."""
        with self.lock:
            return self._hosts[name]

    @property
    def subnets(self) -> List[Subnet]:
        """Every subnet, in the order they were first used."""
        with self.lock:
            return list(self._subnets.values())

    @property
    def ports(self) -> PortTable:
        """The local host's port table (0.2.0's one table)."""
        return self.local_host.ports

    def subnet_locked(self, network: Any) -> Subnet:
        """The subnet of ``network`` (an ``ip_network``), made if new (lock held)."""
        subnet = self._subnets.get(network)
        if subnet is None:
            # Two subnets that overlap (192.168.1.0/24 and 192.168.0.0/16) would make
            # routing depend on which one a host happens to be on: refused.
            for other in self._subnets.values():
                if other.address.version == network.version and other.address.overlaps(network):
                    raise ValueError(
                        f"subnet {network} overlaps subnet {other.address} (hosts: "
                        f"{', '.join(h.name for h in other.hosts) or 'none'}): a LAN's subnets "
                        "are disjoint; give them the same prefix or separate ranges"
                    )
            subnet = self._subnets[network] = Subnet(network)
        return subnet

    def has_lan_locked(self) -> bool:
        """Whether some host is on a subnet (else the network is 0.2.0's loopback)."""
        return any(subnet.attachments for subnet in self._subnets.values())

    def owner_locked(self, ip: Any) -> Optional[Attachment]:
        """The interface that has address ``ip``, on any subnet, or None (lock held)."""
        for subnet in self._subnets.values():
            found = subnet.owner(ip)
            if found is not None:
                return found
        return None

    def link_changed_locked(self, host: Host, gone: List[Attachment]) -> None:
        """A host joined or left a subnet: trace it, tell its listeners (lock held)."""
        self._topology += 1  # the routes kept are stale
        if self.records and self._active:  # (before, the clock is not the network's yet)
            self._trace_locked("link", host.name, tuple(str(a.interface) for a in host.attachments))
        listeners = host.network_listeners_locked()
        if listeners:
            info = host.network_info_locked()
            for listener in listeners:
                _loop.call_soon(_call_listener, listener, dict(info))

    def join_group(self, sock: UDPSocket, group: str) -> None:
        """Make ``sock`` (a device fake's) a member of the multicast ``group``.

        Like ``IP_ADD_MEMBERSHIP``: a multicast datagram to the group reaches the member
        sockets bound to its port (wildcard or the group address) on the hosts of the
        sender's subnet. WeChat has no membership call: mini-program code only sends.
        A closed socket raises ``ValueError`` (``"socket is closed"``: Linux's ``EBADF``).
        """
        address = parse_ip(group)
        if not is_multicast(address):
            raise ValueError(f"{group!r} is not a multicast group address")
        transport = self._transport_of(sock)
        with self.lock:
            _check_open(transport, sock, "join_group")
            transport.groups.add(address)

    def leave_group(self, sock: UDPSocket, group: str) -> None:
        """Undo ``join_group`` (``IP_DROP_MEMBERSHIP``); a no-op if not a member.

        A closed socket raises ``ValueError``, as ``join_group``.
        """
        address = parse_ip(group)
        transport = self._transport_of(sock)
        with self.lock:
            _check_open(transport, sock, "leave_group")
            transport.groups.discard(address)

    def host_of(self, sock: UDPSocket) -> Host:
        """The host ``sock`` belongs to."""
        return self._transport_of(sock).host

    def _transport_of(self, sock: UDPSocket) -> SimulatedTransport:
        transport = getattr(sock, "_transport", None)
        mine: object = self
        if not isinstance(transport, SimulatedTransport) or transport.network is not mine:
            raise ValueError(f"{sock!r} is not a socket of this network")
        return transport


def _check_open(transport: SimulatedTransport, sock: UDPSocket, method: str) -> None:
    if transport.closed:  # setsockopt on a closed descriptor: EBADF
        raise ValueError(f"{method}: socket is closed ({sock!r})")


def _call_listener(listener: Callable[[Any], object], info: Any) -> None:
    # A network-change listener, on the event thread: what it raises is logged.
    try:
        listener(info)
    except Exception:  # noqa: BLE001 - a test's listener must not stop the loop
        _log.logger().exception("taro_udp.testing: a network-change listener raised")
