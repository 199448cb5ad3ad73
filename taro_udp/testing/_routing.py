"""Routing on the simulated LAN: where one datagram goes, as Linux would send it.

``routes_locked`` turns a send into the ``Route`` of every host that receives a copy,
before any fate is drawn (the network then draws one fate per route):

- loopback (127.0.0.0/8, ::1, 127.255.255.255) and the host's own addresses stay on the
  host;
- the limited broadcast (255.255.255.255) and multicast leave through the interface of
  the bound address, else the host's first interface of that family, whether or not
  there is a gateway (a phone on Wi-Fi always has one), and reach every host of that
  subnet, the sender's own host included (Linux loops them back);
- the directed broadcast of an attached subnet reaches every host of that subnet; the
  directed broadcast of another subnet is plain unicast toward the router;
- unicast goes to the host that owns the address on an attached subnet (nobody: lost,
  ``"no host"``), else to the gateway of the first attached subnet that has one, which
  forwards it (rewriting it when it does NAT, taking one off its TTL: at TTL 1 it drops
  it, ``"ttl exceeded"``), else the send fails ``ENETUNREACH``;
- the network's local host that was never given a LAN keeps 0.2.0's loopback host:
  broadcast and multicast loop back to it; other addresses are lost (``"no host"``) on a
  network without a LAN (0.2.0's), and fail ``ENETUNREACH`` once some host is on a
  subnet (the local host has no route there, as Linux with only ``lo`` up).

Every function runs with the network's lock held.
"""

from __future__ import annotations

import errno
from typing import List, Optional, Tuple

from ._addressing import (
    IPV4_LOOPBACK,
    IPV6_LOOPBACK,
    LOOPBACK_BROADCAST,
    Address,
    IPAddress,
    is_limited_broadcast,
    is_loopback,
    is_multicast,
    os_error,
    same,
)
from ._hosts import Attachment, Host
from ._ports import BROADCAST, MULTICAST, UNICAST
from ._records import REASON_NAT, REASON_NO_ROUTE

__all__ = ["MAX_HOPS", "Route", "routes_locked"]

MAX_HOPS = 8  # routers a datagram may cross: a loop of gateways ends here


class Route:
    """One receiving host of a datagram, and the datagram as that host sees it.

    ``receiver`` is None when nobody owns the address (the copy is lost there).
    ``links`` are the interfaces it crosses: it is lost (``"link down"``) if one of them
    went down before it arrives. ``key`` is "" for a datagram with one receiver, the
    receiver's name for a broadcast or multicast on a LAN: each draws its own fate.
    ``reason`` is a drop decided by routing (NAT refusal, no route), or None.
    ``forwards`` is how many routers forward it on its way (each decrements its TTL).
    """

    __slots__ = (
        "destination",
        "flow",
        "flow_texts",
        "forwards",
        "key",
        "kind",
        "links",
        "reason",
        "receiver",
        "source",
    )

    def __init__(
        self,
        receiver: Optional[Host],
        kind: int,
        source: Address,
        destination: Address,
        links: Tuple[Attachment, ...] = (),
        key: str = "",
        reason: Optional[str] = None,
        forwards: int = 0,
    ) -> None:
        self.receiver = receiver
        self.kind = kind
        self.source = source
        self.destination = destination
        self.links = links
        self.key = key
        self.reason = reason
        # How many routers forward it: each takes one off its TTL (at TTL 1, it drops it).
        self.forwards = forwards
        # The network's flow key for it, and the address texts it was made from (the
        # network keeps routes between sends: it keeps their flow key with them).
        self.flow: Optional[Tuple[str, int, str, int, str]] = None
        self.flow_texts: Optional[Tuple[str, str]] = None

    def links_up(self) -> bool:
        """Whether every interface it crosses is still up."""
        for link in self.links:  # noqa: SIM110 - a loop: no generator per datagram
            if not link.up:
                return False
        return True


def routes_locked(
    host: Host, bound: Optional[IPAddress], port: int, destination: Address
) -> Tuple[Address, List[Route]]:
    """The source address the send leaves with, and its routes; raises ``OSError``.

    ``bound`` is the sender's bound address (None for the wildcard), ``port`` its port.
    """
    ip = destination[0]
    if is_loopback(ip) or host.owns(ip):  # (127.255.255.255 is a loopback address too)
        source = (_loopback_source(bound, ip), port)
        kind = BROADCAST if same(ip, LOOPBACK_BROADCAST) else UNICAST
        return source, [Route(host, kind, source, destination)]
    group = is_multicast(ip)
    if host.loopback_only:
        source = (_loopback_source(bound, ip), port)
        if group or is_limited_broadcast(ip):
            kind = MULTICAST if group else BROADCAST
            return source, [Route(host, kind, source, destination)]
        if host._fabric.has_lan_locked():
            # A LAN exists and this host is not on it: no route there, as Linux with
            # only ``lo`` up (a test that forgot local_address= hears it at once).
            raise os_error(errno.ENETUNREACH)
        return source, [Route(None, UNICAST, source, destination)]
    out = _out_interface(host, bound, ip)
    source = (bound if bound is not None else out.address, port)
    subnet = out.subnet
    if group or is_limited_broadcast(ip) or subnet.is_broadcast(ip):
        kind = MULTICAST if group else BROADCAST
        routes = [
            Route(
                peer.host,
                kind,
                source,
                destination,
                (out,) if peer.host is host else (out, peer),
                peer.host.name,
            )
            for peer in subnet.attachments
        ]
        return source, routes
    if subnet.contains(ip):
        target = subnet.owner(ip)
        if target is None:
            return source, [Route(None, UNICAST, source, destination, (out,))]
        nat = target.host.nat
        if nat is not None and target is nat.outside:  # to a NAT router: translated back in
            return source, [_forward(target, source, destination, (out, target), 1)]
        return source, [Route(target.host, UNICAST, source, destination, (out, target))]
    gateway = subnet.gateway
    assert gateway is not None  # _out_interface picked a subnet with one
    return source, [_forward(gateway, source, destination, (out, gateway), 1)]


def _loopback_source(bound: Optional[IPAddress], destination: IPAddress) -> IPAddress:
    # The bound address, else the loopback address of the destination's family (Linux
    # routes every 127/8 address from 127.0.0.1).
    if bound is not None:
        if bound.version != destination.version:
            raise os_error(errno.ENETUNREACH)
        return bound
    return IPV4_LOOPBACK if destination.version == 4 else IPV6_LOOPBACK


def _out_interface(host: Host, bound: Optional[IPAddress], ip: IPAddress) -> Attachment:
    attachments = [a for a in host.attachments if a.address.__class__ is ip.__class__]
    if not attachments:
        raise os_error(errno.ENETUNREACH)  # no interface: the phone left its Wi-Fi
    mine = None
    if bound is not None:
        mine = host.attachment_for(bound)
        if mine is None:
            raise os_error(errno.EADDRNOTAVAIL)  # its address went away with its link
    if is_limited_broadcast(ip) or is_multicast(ip):
        return mine if mine is not None else attachments[0]
    if mine is not None and (mine.subnet.contains(ip) or mine.subnet.is_broadcast(ip)):
        return mine
    for attachment in attachments:
        if attachment.subnet.contains(ip):
            return attachment
    if mine is not None and mine.subnet.gateway not in (None, mine):
        return mine
    for attachment in attachments:
        if attachment.subnet.gateway not in (None, attachment):
            return attachment
    raise os_error(errno.ENETUNREACH)


def _forward(
    arrived: Attachment,
    source: Address,
    destination: Address,
    links: Tuple[Attachment, ...],
    hops: int,
) -> Route:
    # The router that owns ``arrived`` got the datagram: deliver it or pass it on.
    router = arrived.host
    ip = destination[0]
    nat = router.nat
    if nat is not None and arrived is nat.outside and same(ip, nat.outside.address):
        inside = nat.inbound(source, destination[1])
        if inside is None:
            if router.ports.holds(ip, destination[1]):  # for the router's own socket
                return Route(router, UNICAST, source, destination, links, forwards=hops - 1)
            return Route(router, UNICAST, source, destination, links, reason=REASON_NAT)
        destination = inside
        ip = inside[0]
    if router.owns(ip):  # for the router itself: this one does not forward it
        return Route(router, UNICAST, source, destination, links, forwards=hops - 1)
    out = next((a for a in router.attachments if a.subnet.contains(ip)), None)
    if out is None:
        gateway = next(
            (
                a.subnet.gateway
                for a in router.attachments
                if a.subnet.gateway is not None and a.subnet.gateway.host is not router
            ),
            None,
        )
        if gateway is None or hops >= MAX_HOPS:
            return Route(None, UNICAST, source, destination, links, reason=REASON_NO_ROUTE)
        if nat is not None and gateway.subnet is nat.outside.subnet and arrived is not nat.outside:
            source = nat.outbound(source, destination)
        return _forward(gateway, source, destination, (*links, gateway), hops + 1)
    if nat is not None and out is nat.outside and arrived is not nat.outside:
        source = nat.outbound(source, destination)
    target = out.subnet.owner(ip)
    if target is None:  # nobody there (a directed broadcast is not forwarded either)
        return Route(None, UNICAST, source, destination, (*links, out), forwards=hops)
    return Route(target.host, UNICAST, source, destination, (*links, out, target), forwards=hops)
