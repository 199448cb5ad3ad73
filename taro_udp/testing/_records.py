"""Records: what the simulated network remembers of every datagram and every delivery.

A ``DatagramRecord`` is written once, when the datagram is sent, with the fate the
network chose for it then (dropped, delivered, duplicated; delays; held back for
reordering). A ``Delivery`` is written each time a copy reaches (or fails to reach) a
socket, with the real time it happened. Both are plain frozen dataclasses, safe to keep
and compare after the network is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

__all__ = [
    "DELIVERED",
    "DROPPED",
    "DUPLICATED",
    "REASON_CLOSED",
    "REASON_LOSS",
    "REASON_MTU",
    "REASON_PARTITION",
    "DatagramRecord",
    "Delivery",
    "Endpoint",
]

# (address text, port); IPv4-mapped IPv6 addresses are shown as IPv4.
Endpoint = Tuple[str, int]

# Fates chosen at send time.
DELIVERED = "delivered"
DROPPED = "dropped"
DUPLICATED = "duplicated"

# Why a datagram was dropped at send time.
REASON_LOSS = "loss"
REASON_PARTITION = "partition"
REASON_MTU = "mtu"
REASON_CLOSED = "network closed"
REASON_NAT = "nat: no mapping"  # unsolicited at a NAT router's outside address
REASON_NO_ROUTE = "no route"  # a router with no way on
REASON_TTL = "ttl exceeded"  # a router got it with TTL 1 (ICMP time exceeded on Linux)

# Outcomes of one delivered copy.
OUTCOME_DELIVERED = "delivered"
OUTCOME_UNREACHABLE = "unreachable"  # no socket bound there (ICMP port unreachable)
OUTCOME_BUFFER_FULL = "receive buffer full"
OUTCOME_DISCARDED = "discarded"  # still in flight when the network was closed
OUTCOME_NO_HOST = "no host"  # nobody owns the destination address
OUTCOME_LINK_DOWN = "link down"  # the sender or the receiver left the subnet meanwhile


@dataclass(frozen=True)
class DatagramRecord:
    """One datagram sent on the simulated network, and the fate chosen for it.

    ``fate`` is ``"delivered"``, ``"dropped"`` (see ``reason``: ``"loss"``,
    ``"partition"``, ``"mtu"``, ``"network closed"``, ``"ttl exceeded"``...) or
    ``"duplicated"`` (two copies).
    ``delays_ms`` has one entry per copy sent on its way. ``reordered`` means the
    datagram was held back until the next datagram of its flow had been delivered.
    ``time`` is when it was sent (seconds since the epoch), ``seq`` its index in
    ``SimulatedNetwork.datagrams``.

    On a LAN, a broadcast or multicast send has one record per receiving host, each with
    its own fate: ``receiver`` names the host (None for the network's local host and for
    an address nobody owns) and ``first`` is the ``seq`` of the send's first record (None
    on that one). ``translated`` is ``(source, destination)`` as the receiver sees them
    when a NAT router rewrote them, else None.
    """

    seq: int
    time: float
    source: Endpoint
    destination: Endpoint
    payload: bytes
    ttl: int
    fate: str
    reason: Optional[str]
    delays_ms: Tuple[float, ...]
    reordered: bool
    receiver: Optional[str] = None
    first: Optional[int] = None
    translated: Optional[Tuple[Endpoint, Endpoint]] = None

    def fate_key(self) -> Tuple[object, ...]:
        """Everything but the timestamp: equal for the same seed and the same sends."""
        return (
            self.seq,
            self.source,
            self.destination,
            self.payload,
            self.ttl,
            self.fate,
            self.reason,
            self.delays_ms,
            self.reordered,
            self.receiver,
            self.first,
            self.translated,
        )


@dataclass(frozen=True)
class Delivery:
    """One copy of datagram ``seq`` arriving: ``outcome`` and how many sockets got it.

    ``outcome`` is ``"delivered"``, ``"unreachable"`` (no socket there; a connected
    sender gets ``ECONNREFUSED`` as from ICMP), ``"receive buffer full"``,
    ``"discarded"`` (still in flight when the network was closed), ``"no host"``
    (nobody owns the destination address) or ``"link down"`` (the sender or the receiver
    left the subnet while it was in flight). ``out_of_order`` says
    that a datagram of the same flow sent after this one had arrived already: arrival
    order differed from send order, by the reorder fault or by delay jitter alike
    (``DatagramRecord.reordered`` covers only the reorder fault).
    """

    seq: int
    copy: int
    time: float
    outcome: str
    receivers: int
    out_of_order: bool = False


# The network writes one record per receiving host (a LAN broadcast, a thousand): these
# build the frozen dataclasses without their __init__ (one object.__setattr__ per field,
# three times slower). Keep them in step with the fields above.
_new = object.__new__


def new_record(
    seq: int,
    time: float,
    source: Endpoint,
    destination: Endpoint,
    payload: bytes,
    ttl: int,
    fate: str,
    reason: Optional[str],
    delays_ms: Tuple[float, ...],
    reordered: bool,
    receiver: Optional[str],
    first: Optional[int],
    translated: Optional[Tuple[Endpoint, Endpoint]],
) -> DatagramRecord:
    """``DatagramRecord(...)``, faster (for the network)."""
    record: DatagramRecord = _new(DatagramRecord)
    record.__dict__.update(
        {
            "seq": seq,
            "time": time,
            "source": source,
            "destination": destination,
            "payload": payload,
            "ttl": ttl,
            "fate": fate,
            "reason": reason,
            "delays_ms": delays_ms,
            "reordered": reordered,
            "receiver": receiver,
            "first": first,
            "translated": translated,
        }
    )
    return record


def new_delivery(
    seq: int, copy: int, time: float, outcome: str, receivers: int, out_of_order: bool
) -> Delivery:
    """``Delivery(...)``, faster (for the network)."""
    delivery: Delivery = _new(Delivery)
    delivery.__dict__.update(
        {
            "seq": seq,
            "copy": copy,
            "time": time,
            "outcome": outcome,
            "receivers": receivers,
            "out_of_order": out_of_order,
        }
    )
    return delivery
