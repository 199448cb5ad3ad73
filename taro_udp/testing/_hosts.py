"""Hosts and subnets of a simulated LAN.

A ``Host`` owns interface addresses with prefixes (``"192.168.1.50/24"``), each on a
``Subnet``: one link, one broadcast domain, as one Wi-Fi network is. Every host also has
its own loopback (127.0.0.0/8, ::1) and its own ports. Sockets created inside
``with host:`` belong to the host; the others to the network's local host (the code under
test). A router host forwards between its subnets and is their gateway; with ``nat`` it
rewrites what leaves through its outside interface.

The hosts know the network only as a ``Fabric`` (its lock, its subnets, where to post a
change), so this module imports neither the network nor the transports.
"""

from __future__ import annotations

import contextvars
import errno
import ipaddress
import itertools
import threading
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple, Type, Union, cast

from ._addressing import (
    LIMITED_BROADCAST,
    Address,
    Interface,
    IPAddress,
    as_interface,
    is_loopback,
    is_multicast,
    os_error,
    parse_ip,
)
from ._ports import PortTable

__all__ = ["Attachment", "Fabric", "Host", "NetworkInfo", "Subnet", "current_host"]

# What ``Host.network_info()`` returns: WeChat's field names (getLocalIPAddress,
# getNetworkType and onNetworkStatusChange answer from it).
NetworkInfo = Dict[str, Any]
NetworkListener = Callable[[NetworkInfo], object]

_current: contextvars.ContextVar[Optional[Host]] = contextvars.ContextVar(
    "taro_udp_simulated_host", default=None
)


def current_host() -> Optional[Host]:
    """The host of the innermost ``with host:`` of this thread (or task), if any."""
    return _current.get()


class Fabric(Protocol):
    """What hosts need of their network."""

    lock: threading.Lock

    def subnet_locked(self, network: Any) -> Subnet: ...

    def owner_locked(self, ip: IPAddress) -> Optional[Attachment]: ...

    def has_lan_locked(self) -> bool: ...

    def link_changed_locked(self, host: Host, gone: List[Attachment]) -> None: ...


class Subnet:
    """One link of the simulated LAN (a Wi-Fi network, an access point, an Ethernet).

    ``address`` is its network (``192.168.1.0/24``); ``hosts`` those attached now, in
    the order they joined; ``gateway`` the router attached to it (its default route),
    if any. Created on first use by ``add_host``/``connect``, or by ``add_subnet``.
    """

    def __init__(self, network: Union[ipaddress.IPv4Network, ipaddress.IPv6Network]) -> None:
        self.address = network
        self.attachments: List[Attachment] = []
        self.by_address: Dict[int, Attachment] = {}  # by the address's integer
        self.gateway: Optional[Attachment] = None
        self.broadcast: Optional[IPAddress] = (
            network.broadcast_address
            if isinstance(network, ipaddress.IPv4Network) and network.prefixlen < 31
            else None
        )
        # Integers, for the per-datagram tests (see _addressing).
        self._class = network.network_address.__class__
        self._network = int(network.network_address)
        self._mask = int(network.netmask)
        self._broadcast = -1 if self.broadcast is None else int(self.broadcast)

    def contains(self, ip: IPAddress) -> bool:
        """Whether ``ip`` is in this subnet."""
        return ip.__class__ is self._class and int(ip) & self._mask == self._network

    def is_broadcast(self, ip: IPAddress) -> bool:
        """Whether ``ip`` is this subnet's directed broadcast address."""
        return ip.__class__ is self._class and int(ip) == self._broadcast

    def owner(self, ip: IPAddress) -> Optional[Attachment]:
        """The interface that has ``ip`` on this subnet, if any."""
        return self.by_address.get(int(ip)) if ip.__class__ is self._class else None

    def __repr__(self) -> str:
        return f"<Subnet {self.address} hosts={[a.host.name for a in self.attachments]}>"

    @property
    def hosts(self) -> List[Host]:
        """The hosts attached to this subnet now, in the order they joined."""
        return [attachment.host for attachment in self.attachments]


class Attachment:
    """One interface of a host: its address on one subnet, while it is up."""

    __slots__ = ("address", "host", "interface", "key", "subnet", "up")

    def __init__(self, host: Host, interface: Interface, subnet: Subnet) -> None:
        self.host = host
        self.interface = interface
        self.address: IPAddress = interface.ip
        self.key = int(interface.ip)
        self.subnet = subnet
        self.up = True

    def __repr__(self) -> str:
        return f"<Attachment {self.host.name} {self.interface}>"


class Nat:
    """A router's address and port translation (endpoint-independent mapping, address-
    and-port-dependent filtering: a reply gets in only from where the inside host sent).
    """

    FIRST_PORT = 20000

    def __init__(self, outside: Attachment) -> None:
        self.outside = outside
        self.mappings: Dict[Address, int] = {}  # inside (ip, port) -> outside port
        self.inside: Dict[int, Address] = {}  # outside port -> inside (ip, port)
        self.contacted: Dict[int, set[Address]] = {}  # outside port -> remotes sent to
        self._next = self.FIRST_PORT

    def outbound(self, source: Address, destination: Address) -> Address:
        """The source an inside datagram leaves with; the mapping is made or reused."""
        port = self.mappings.get(source)
        if port is None:
            # A port no socket of the router holds (Linux's NAT picks a free one): else
            # what is sent to the router's own service there would go inside.
            ports = self.outside.host.ports
            while self._next <= 65535 and ports.holds(self.outside.address, self._next):
                self._next += 1
            if self._next > 65535:  # every port of the router is mapped: as a full table
                raise os_error(errno.EAGAIN)
            port = self._next
            self._next += 1
            self.mappings[source] = port
            self.inside[port] = source
            self.contacted[port] = set()
        self.contacted[port].add(destination)
        return (self.outside.address, port)

    def inbound(self, source: Address, port: int) -> Optional[Address]:
        """The inside endpoint a datagram from ``source`` to the outside ``port`` is for,
        or None: no mapping, or ``source`` was never sent to from it (unsolicited)."""
        inside = self.inside.get(port)
        if inside is None or source not in self.contacted[port]:
            return None
        return inside


class Host:
    """A machine on the simulated LAN: a phone, a device, a router.

    Made by ``SimulatedNetwork.add_host`` / ``add_router``; ``network.local_host`` is
    the one the code under test runs on. ``with host:`` makes the sockets created inside
    it (on this thread or task) this host's. ``connect``/``disconnect``/``move_to`` change
    its links; ``network_info()`` is the phone's view of them.
    """

    def __init__(
        self,
        fabric: Fabric,
        name: str,
        *,
        router: bool = False,
        loopback_only: bool = False,
    ) -> None:
        self._fabric = fabric
        self.name = name
        self.router = router
        self.nat: Optional[Nat] = None
        # The default local host, never given a LAN: 0.2.0's loopback host (see routing).
        self.loopback_only = loopback_only
        self.attachments: List[Attachment] = []
        self.ports = PortTable(self._can_bind)
        self._listeners: List[NetworkListener] = []
        self._tokens = threading.local()

    def __repr__(self) -> str:
        return f"<Host {self.name} {self.addresses}>"

    # -- sockets inside ``with host:`` ---------------------------------------------------

    def __enter__(self) -> Host:
        stack = getattr(self._tokens, "stack", None)
        if stack is None:
            stack = self._tokens.stack = []
        stack.append(_current.set(self))
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        _current.reset(self._tokens.stack.pop())

    # -- addresses -----------------------------------------------------------------------

    @property
    def addresses(self) -> List[str]:
        """The interface addresses with their prefixes, e.g. ``["192.168.1.50/24"]``."""
        with self._fabric.lock:
            return [str(attachment.interface) for attachment in self.attachments]

    @property
    def subnets(self) -> List[Subnet]:
        """The subnets this host is attached to now."""
        with self._fabric.lock:
            return [attachment.subnet for attachment in self.attachments]

    def owns(self, address: IPAddress) -> bool:
        """Whether ``address`` is one of this host's (loopback included). Lock held."""
        if is_loopback(address):
            return True
        return self.attachment_for(address) is not None

    def attachment_for(self, address: IPAddress) -> Optional[Attachment]:
        """The interface with that address, or None (lock held)."""
        key = int(address)
        for attachment in self.attachments:
            if attachment.key == key and attachment.address.__class__ is address.__class__:
                return attachment
        return None

    def _can_bind(self, address: IPAddress) -> bool:
        if self.owns(address) or is_multicast(address) or address == LIMITED_BROADCAST:
            return True
        return any(attachment.subnet.is_broadcast(address) for attachment in self.attachments)

    # -- links that change ---------------------------------------------------------------

    def connect(self, address: Union[str, Subnet]) -> Subnet:
        """Join the subnet of ``address`` (``"10.10.100.100/24"``) with that address.

        As a phone joins a Wi-Fi network: the interface comes up, ``network_info()``
        changes and the change listeners run. Given a ``Subnet`` instead, the host takes
        the first free address from its hundredth on (as a DHCP server hands them out),
        else the first free one. Returns the subnet.
        """
        with self._fabric.lock:
            interface = _lease(address) if isinstance(address, Subnet) else as_interface(address)
            # One address, one host, on any subnet (an address on two subnets that
            # overlap would be two hosts answering one ARP).
            taken = self._fabric.owner_locked(interface.ip)
            if taken is not None:
                raise ValueError(
                    f"{interface.ip} is already {taken.host.name}'s (on {taken.subnet.address}): "
                    f"{self.name} cannot have it too ({interface})"
                )
            subnet = self._fabric.subnet_locked(interface.network)
            attachment = Attachment(self, interface, subnet)
            self.attachments.append(attachment)
            subnet.attachments.append(attachment)
            subnet.by_address[attachment.key] = attachment
            if self.router and subnet.gateway is None:
                subnet.gateway = attachment
            self.loopback_only = False
            self._fabric.link_changed_locked(self, [])
        return subnet

    def disconnect(self, address: Optional[str] = None) -> None:
        """Leave one subnet (the interface with ``address``, or on that subnet) or all.

        Sockets stay open; with no interface left, sends to other hosts fail with
        ``Network is unreachable``; datagrams in flight from or to the interfaces that
        went down are lost (recorded ``"link down"``).
        """
        with self._fabric.lock:
            gone = [a for a in self.attachments if address is None or _matches(a, address)]
            if address is not None and not gone:
                raise ValueError(f"{self.name} has no interface {address!r}")
            for attachment in gone:
                attachment.up = False
                self.attachments.remove(attachment)
                subnet = attachment.subnet
                subnet.attachments.remove(attachment)
                del subnet.by_address[attachment.key]
                if subnet.gateway is attachment:
                    subnet.gateway = next((a for a in subnet.attachments if a.host.router), None)
            self.loopback_only = False
            self._fabric.link_changed_locked(self, gone)

    def move_to(self, address: Union[str, Subnet]) -> Subnet:
        """``disconnect()`` then ``connect(address)``: the phone moves to another Wi-Fi."""
        self.disconnect()
        return self.connect(address)

    # -- the phone's view ----------------------------------------------------------------

    def network_info(self) -> NetworkInfo:
        """What the phone's OS says of its network, with WeChat's field names.

        ``{"localip", "netmask", "networkType", "isConnected"}``: the address and mask of
        its first IPv4 interface (``wx.getLocalIPAddress``), ``"wifi"`` while it has an
        interface, ``"none"`` without (``wx.getNetworkType``, ``onNetworkStatusChange``).
        A loopback-only local host answers 127.0.0.1/255.0.0.0 on ``"wifi"``.
        """
        with self._fabric.lock:
            return self.network_info_locked()

    def network_info_locked(self) -> NetworkInfo:
        """``network_info()`` with the network's lock held."""
        first = next((a for a in self.attachments if a.address.version == 4), None)
        if first is None:
            first = next(iter(self.attachments), None)
        if first is not None:
            localip, netmask = str(first.address), str(first.interface.netmask)
        elif self.loopback_only:
            localip, netmask = "127.0.0.1", "255.0.0.0"
        else:
            localip, netmask = "", ""
        connected = bool(self.attachments) or self.loopback_only
        return {
            "localip": localip,
            "netmask": netmask,
            "networkType": "wifi" if connected else "none",
            "isConnected": connected,
        }

    def on_network_change(self, listener: NetworkListener) -> None:
        """Call ``listener(network_info())`` on the event thread after each link change."""
        if not callable(listener):
            raise TypeError("on_network_change() takes a callable")
        with self._fabric.lock:
            if listener not in self._listeners:
                self._listeners.append(listener)

    def off_network_change(self, listener: Optional[NetworkListener] = None) -> None:
        """Remove that listener (all of them without an argument)."""
        with self._fabric.lock:
            if listener is None:
                self._listeners.clear()
            elif listener in self._listeners:
                self._listeners.remove(listener)

    def network_listeners_locked(self) -> Tuple[NetworkListener, ...]:
        """The change listeners now (lock held)."""
        return tuple(self._listeners)


def _lease(subnet: Subnet) -> Interface:
    # The first free address of ``subnet`` from its hundredth on, else from its first.
    network = subnet.address
    hosts = network.hosts()
    ordered = itertools.chain(itertools.islice(network.hosts(), 99, None), hosts)
    for ip in itertools.islice(ordered, 65536):  # bounded: an IPv6 /64 is endless
        if subnet.owner(cast(IPAddress, ip)) is None:
            return ipaddress.ip_interface(f"{ip}/{network.prefixlen}")
    raise ValueError(f"no free address left on {network}")


def _matches(attachment: Attachment, text: str) -> bool:
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=False)
            return attachment.subnet.address == network or attachment.interface == (
                ipaddress.ip_interface(text)
            )
        return attachment.address == parse_ip(text)
    except ValueError:
        return False
