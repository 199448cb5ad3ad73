"""SimulatedNetwork: a lossy, duplicating, reordering, delaying loopback network in memory.

While a network is active (``with SimulatedNetwork(...) as net:``), every socket that
``taro_udp.create_udp_socket()`` creates lives on it instead of the OS, through the
transport seam of the core (``taro_udp._transport.set_transport_factory``). The sockets
keep the whole contract — payloads, errors, the event thread — and nothing touches the
OS network.

Addresses: the simulated host owns 127.0.0.0/8 and ::1, as loopback does. Sockets
bound to different 127.0.0.x addresses stand in for different devices; a broadcast to
255.255.255.255 or 127.255.255.255 reaches every socket bound to that port on the
wildcard address (sockets share a port with ``reuseAddr``, as on Linux).

Determinism: each flow (source address:port -> destination address:port) draws its
fates from its own ``random.Random`` seeded with the network's seed and the flow's
endpoints, five numbers per datagram whatever the settings. So the same seed and the same
sends give every datagram the same fate, where "the same sends" means: each flow sends
the same datagrams in the same order. Sends of different flows may interleave in any
way (several threads, the event thread replying) without changing any fate. Ephemeral
ports are handed out in order from 32768, so sockets bound in the same order get the
same ports and therefore the same flows.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import os
import random
import threading
import time
from types import TracebackType
from typing import Dict, List, Optional, Tuple, Type, Union

from .. import _transport
from .._transport import SocketOptions, Transport
from . import _pcap, _records
from ._faults import Faults
from ._ports import Address, PortTable, is_local
from ._records import DatagramRecord, Delivery
from ._scheduler import Scheduler
from ._sim_transport import SimulatedTransport

__all__ = ["SimulatedNetwork", "active_network"]


class _InFlight:
    """A datagram between its send and its arrival."""

    __slots__ = ("destination", "payload", "sender", "seq", "source")

    def __init__(
        self,
        seq: int,
        sender: SimulatedTransport,
        source: Address,
        destination: Address,
        payload: bytes,
    ) -> None:
        self.seq = seq
        self.sender = sender
        self.source = source
        self.destination = destination
        self.payload = payload


_Held = Tuple[_InFlight, int]  # (datagram, number of copies)
_Flow = Tuple[Address, Address]


class SimulatedNetwork(Faults):
    """A simulated loopback network; a context manager that installs it for new sockets.

    ``loss``, ``duplicate`` and ``reorder`` are probabilities per datagram; ``delay`` is
    ``(lo, hi)`` milliseconds, drawn uniformly per copy; ``mtu`` (bytes, IP header
    included) drops larger datagrams, as a path that does not fragment does;
    ``reorder_window`` is how long (ms) a datagram chosen for reordering is held back
    (instead of its delay) waiting for the next datagram of its flow to overtake it; it
    arrives right after that one, or when the window ends. All can be changed at any time
    (``net.loss = 0.3``), as can partitions (``partition``/``heal``). Every datagram's
    fate is in ``datagrams``, every arrival in ``deliveries``; ``write_pcap`` saves them.
    """

    def __init__(
        self,
        seed: Union[int, str] = 0,
        *,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        delay: Tuple[float, float] = (0.0, 0.0),
        mtu: Optional[int] = None,
        reorder_window: float = 20.0,
    ) -> None:
        self.lock = threading.Lock()
        super().__init__(loss, duplicate, reorder, delay, mtu, reorder_window)
        self.seed = seed
        self.ports = PortTable()
        self._flows: Dict[_Flow, random.Random] = {}
        self._held: Dict[_Flow, _Held] = {}
        self._delayed = 0  # copies waiting for their delay to pass
        self._idle = threading.Condition(self.lock)
        self._datagrams: List[DatagramRecord] = []
        self._deliveries: List[Delivery] = []
        self._scheduler = Scheduler()
        self._epoch = time.time() - time.monotonic()
        self._active = False
        self._closed = False
        self._previous: Optional[_transport.TransportFactory] = None

    def __repr__(self) -> str:
        return f"<SimulatedNetwork seed={self.seed!r} datagrams={len(self._datagrams)}>"

    # -- activation ----------------------------------------------------------------------

    def __enter__(self) -> SimulatedNetwork:
        with self.lock:
            if self._active or self._closed:
                raise RuntimeError("a SimulatedNetwork can be entered only once")
            self._active = True
        self._previous = _transport.set_transport_factory(self.create_transport)
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def close(self) -> None:
        """Restore the previous transport factory, stop the timer thread; idempotent.

        Datagrams still in flight are discarded (recorded as ``"discarded"``). Sockets
        still open stay usable, but what they send afterwards is dropped.
        """
        with self.lock:
            if self._closed:
                return
            self._closed = True
            active, self._active = self._active, False
        if active:
            _transport.set_transport_factory(self._previous)
        unrun = self._scheduler.close()
        with self.lock:
            for work in unrun:
                if isinstance(work, functools.partial) and work.func == self._arrive:
                    self._record_arrival(work.args[0], work.args[1], _records.OUTCOME_DISCARDED, 0)
            for datagram, copies in self._held.values():
                for copy in range(copies):
                    self._record_arrival(datagram, copy, _records.OUTCOME_DISCARDED, 0)
            self._held.clear()
            self._delayed = 0
            self._idle.notify_all()

    def create_transport(self, family: int, options: SocketOptions) -> Transport:
        """The transport factory installed while the network is active."""
        return SimulatedTransport(self, family, options)

    # -- records -------------------------------------------------------------------------

    @property
    def datagrams(self) -> List[DatagramRecord]:
        """Every datagram sent so far, with its fate, in send order (a copy)."""
        with self.lock:
            return list(self._datagrams)

    @property
    def deliveries(self) -> List[Delivery]:
        """Every arrival so far, in arrival order (a copy)."""
        with self.lock:
            return list(self._deliveries)

    def write_pcap(self, path: Union[str, os.PathLike[str]], *, view: str = "sent") -> int:
        """Write the capture to ``path`` as a pcap file (raw IP); return the packet count.

        ``view="sent"``: every datagram once, at its send time, dropped ones included
        (``datagrams`` says what became of each). ``view="delivered"``: every copy that
        reached a socket, in arrival order, at its arrival time (duplicates twice,
        reordering and delays visible, drops absent).
        """
        with self.lock:
            datagrams = list(self._datagrams)
            deliveries = list(self._deliveries)
        if view == "sent":
            packets = [self._packet(record, record.time) for record in datagrams]
        elif view == "delivered":
            packets = [
                self._packet(datagrams[arrival.seq], arrival.time)
                for arrival in deliveries
                if arrival.outcome == _records.OUTCOME_DELIVERED
            ]
        else:
            raise ValueError(f'view must be "sent" or "delivered", got {view!r}')
        with open(path, "wb") as stream:
            return _pcap.write_pcap_file(stream, packets)

    @staticmethod
    def _packet(record: DatagramRecord, when: float) -> _pcap.Packet:
        return _pcap.Packet(
            time=when,
            source=ipaddress.ip_address(record.source[0]),
            source_port=record.source[1],
            destination=ipaddress.ip_address(record.destination[0]),
            destination_port=record.destination[1],
            payload=record.payload,
            ttl=record.ttl,
            ident=record.seq,
        )

    # -- sending and arriving (network lock held) ----------------------------------------

    def transmit_locked(
        self, sender: SimulatedTransport, source: Address, destination: Address, payload: bytes
    ) -> None:
        """Decide the fate of one datagram, record it, and send its copies on their way."""
        seq = len(self._datagrams)
        flow = (source, destination)
        rng = self._flows.get(flow)
        if rng is None:
            key = f"{self.seed}|{source[0]}|{source[1]}|{destination[0]}|{destination[1]}"
            rng = self._flows[flow] = random.Random(key)
        # Always five draws, so a flow's stream never depends on the settings.
        u_loss, u_duplicate, u_reorder, u_delay1, u_delay2 = (rng.random() for _ in range(5))
        reason = self._drop_reason(source, destination, len(payload), u_loss)
        copies = 0 if reason else 2 if u_duplicate < self._duplicate else 1
        low, high = self._delay
        delays = tuple(round(low + (high - low) * u, 3) for u in (u_delay1, u_delay2)[:copies])
        reordered = copies > 0 and u_reorder < self._reorder
        if reason:
            fate = _records.DROPPED
        else:
            fate = _records.DUPLICATED if copies == 2 else _records.DELIVERED
        self._datagrams.append(
            DatagramRecord(
                seq=seq,
                time=self._now(),
                source=(str(source[0]), source[1]),
                destination=(str(destination[0]), destination[1]),
                payload=payload,
                ttl=sender.ttl,
                fate=fate,
                reason=reason,
                delays_ms=delays,
                reordered=reordered,
            )
        )
        if not copies:
            return
        datagram = _InFlight(seq, sender, source, destination, payload)
        if reordered:
            previous = self._held.pop(flow, None)
            self._held[flow] = (datagram, copies)
            if previous is not None:  # held back as well: its follower came, let it go
                self._release(previous)
            deadline = time.monotonic() + self._reorder_window / 1000.0
            self._scheduler.call_at(deadline, functools.partial(self._flush, flow, datagram))
            return
        for copy, delay in enumerate(delays):
            if delay <= 0:
                self._arrive_locked(datagram, copy)
            else:
                deadline = time.monotonic() + delay / 1000.0
                work = functools.partial(self._arrive, datagram, copy)
                if self._scheduler.call_at(deadline, work):
                    self._delayed += 1

    def _drop_reason(
        self, source: Address, destination: Address, size: int, u_loss: float
    ) -> Optional[str]:
        if self._closed:
            return _records.REASON_CLOSED
        if self._is_partitioned(source, destination):
            return _records.REASON_PARTITION
        header = 28 if destination[0].version == 4 else 48
        if self._mtu is not None and size + header > self._mtu:
            return _records.REASON_MTU
        if u_loss < self._loss:
            return _records.REASON_LOSS
        return None

    def _arrive(self, datagram: _InFlight, copy: int) -> None:
        with self.lock:
            self._delayed -= 1
            self._arrive_locked(datagram, copy)
            self._notify_if_idle()

    def _flush(self, flow: _Flow, datagram: _InFlight) -> None:
        # The reorder window ended and nothing overtook the held datagram: deliver it.
        with self.lock:
            held = self._held.get(flow)
            if held is not None and held[0] is datagram:
                del self._held[flow]
                self._release(held)
                self._notify_if_idle()

    def _release(self, held: _Held) -> None:
        datagram, copies = held
        for copy in range(copies):
            self._arrive_locked(datagram, copy)

    def _arrive_locked(self, datagram: _InFlight, copy: int) -> None:
        source, destination = datagram.source, datagram.destination
        receivers = self.ports.receivers(source, destination)
        delivered = 0
        full = False
        for sock in receivers:
            item = (
                datagram.payload,
                sock.present(source[0]),
                source[1],
                sock.present(destination[0]),
            )
            if sock.enqueue(item):
                delivered += 1
            else:
                full = True
        if delivered:
            outcome = _records.OUTCOME_DELIVERED
        elif full:
            outcome = _records.OUTCOME_BUFFER_FULL
        else:
            outcome = _records.OUTCOME_UNREACHABLE
            sender = datagram.sender
            # ICMP port unreachable: on Linux only a connected socket hears of it.
            local = is_local(destination[0])
            if local and not sender.closed and sender.peer == destination:
                sender.set_error(errno.ECONNREFUSED)
        self._record_arrival(datagram, copy, outcome, delivered)
        if copy == 0:
            flow = (source, destination)
            held = self._held.get(flow)
            if held is not None and held[0].seq < datagram.seq:
                del self._held[flow]
                self._release(held)

    def _record_arrival(self, datagram: _InFlight, copy: int, outcome: str, count: int) -> None:
        self._deliveries.append(Delivery(datagram.seq, copy, self._now(), outcome, count))

    def _now(self) -> float:
        return self._epoch + time.monotonic()

    # -- waiting -------------------------------------------------------------------------

    def _in_flight_locked(self) -> int:
        return self._delayed + sum(copies for _, copies in self._held.values())

    def _notify_if_idle(self) -> None:
        if not self._in_flight_locked():
            self._idle.notify_all()

    def in_flight(self) -> int:
        """How many copies are delayed or held back for reordering right now."""
        with self.lock:
            return self._in_flight_locked()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no datagram is delayed or held back; ``TimeoutError`` after ``timeout``.

        Arrivals are then all in ``deliveries`` (the listeners may still be running).
        """
        with self._idle:
            if not self._idle.wait_for(lambda: not self._in_flight_locked(), timeout):
                raise TimeoutError(
                    f"{self._in_flight_locked()} datagrams still in flight after {timeout}s"
                )


def active_network() -> Optional[SimulatedNetwork]:
    """The network new sockets are created on, or None when they go to the OS."""
    owner = getattr(_transport.transport_factory, "__self__", None)
    return owner if isinstance(owner, SimulatedNetwork) else None
