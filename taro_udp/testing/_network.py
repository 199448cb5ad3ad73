"""SimulatedNetwork: a lossy, duplicating, reordering, delaying LAN in memory.

While a network is active (``with SimulatedNetwork(...) as net:``), every socket that
``taro_udp.create_udp_socket()`` creates lives on it instead of the OS, through the
transport seam of the core (``taro_udp._transport.set_transport_factory``). The sockets
keep the whole contract — payloads, errors, the event thread — and nothing touches the
OS network.

Hosts (``_hosts``): the code under test runs on ``local_host``, which has loopback
(127.0.0.0/8, ::1) and, with ``local_address``, a LAN interface; ``add_host`` and
``add_router`` add others, each with its own addresses, loopback and ports, and sockets
made inside ``with host:`` are that host's. Where a datagram goes is ``_routing``'s
business, as Linux would send it; then each receiving host draws its own fate
(``_fate_locked``, the one place fates are drawn). Sockets bound to different 127.0.0.x
addresses of the local host stand in for devices as in 0.2.0, and a broadcast to
255.255.255.255 or 127.255.255.255 there reaches every socket of that port bound to the
wildcard address (sockets share a port with ``reuseAddr``, as on Linux).

Determinism: each flow (source address:port -> destination address:port, and the
receiving host for a broadcast or multicast on a LAN) draws its fates from its own
``random.Random`` seeded with the network's seed and the flow's endpoints, five numbers
per datagram whatever the settings. So the same seed and the same
sends give every datagram the same fate, where "the same sends" means: each flow sends
the same datagrams in the same order. Sends of different flows may interleave in any
way (several threads, the event thread replying) without changing any fate. Ephemeral
ports are handed out in order from 32768, so sockets bound in the same order get the
same ports and therefore the same flows.

Time: delays, reorder hold-backs and their deadlines are timers of the event loop, on
the loop's one clock and ordered with the program's own timers by (deadline, creation).
With ``virtual_time=True`` that clock is a ``VirtualClock`` in lockstep: the same seed and
the same program give the same ``trace`` (every send, fate, arrival and timer firing
with its virtual time), the same ``trace_digest()`` and a byte-identical pcap.

``TARO_UDP_BIND_ADDRESS`` does not apply to sockets on a simulated network: it exists to
keep a harness's *OS* sockets on one interface, and applied here it would make a ported
device that binds the wildcard (as the JS does) deaf to broadcasts.
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import os
import threading
import weakref
from types import TracebackType
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Type, Union

from .. import _clock, _loop, _socket, _transport
from .._socket import UDPSocket
from .._transport import SocketOptions, Transport
from . import _pcap, _records
from ._addressing import Address
from ._faults import _MAX_DELAY_MS, Faults
from ._hosts import current_host
from ._lan import Topology
from ._links import Link, Links
from ._ports import UNICAST
from ._records import DatagramRecord, Delivery
from ._routing import Route, routes_locked
from ._schedule import Decider, Decision, Outgoing, RandomDecider, Schedule, ScheduleDecider
from ._sim_transport import SimulatedTransport
from ._virtual import VirtualClock, _advance_ns

__all__ = ["SimulatedNetwork", "TraceEvent", "active_network"]

# One event of the trace: (ns on the loop's clock since it started, kind, details).
TraceEvent = Tuple[int, str, Tuple[Any, ...]]
# Every network alive in this process, for the fork handler.
_networks: weakref.WeakSet[SimulatedNetwork] = weakref.WeakSet()


def _as(received: Dict[int, Tuple[bytes, int]], arrival: Delivery) -> Dict[str, Any]:
    # The payload and TTL one arrival was received with (empty: as the record says).
    found = received.get(arrival.seq)
    return {} if found is None else {"payload": found[0], "ttl": found[1]}


def _check_delays(seq: int, delays: Tuple[float, ...], chooser: str) -> None:
    # A delay that is not a finite number of ms up to a day would be a deadline the
    # loop's clock cannot hold (inf, nan, 1e300): the send fails, nothing is queued.
    for delay in delays:
        if isinstance(delay, bool) or not isinstance(delay, (int, float)):
            raise TypeError(f"{chooser} chose a delay of {delay!r} for datagram #{seq}")
        if not 0 <= delay <= _MAX_DELAY_MS:
            raise ValueError(
                f"{chooser} chose a delay of {delay!r} ms for datagram #{seq}: a delay is "
                f"finite, 0–{_MAX_DELAY_MS:g} ms (a day)"
            )


class _InFlight:
    """A copy of a datagram on its way to one receiving host (its route)."""

    __slots__ = ("destination", "flow", "payload", "route", "seen", "sender", "seq")

    def __init__(
        self,
        seq: int,
        sender: SimulatedTransport,
        destination: Address,
        payload: bytes,
        route: Route,
        flow: _Flow,
        seen: Tuple[str, str],
    ) -> None:
        self.seq = seq
        self.sender = sender
        self.destination = destination  # as the sender addressed it
        self.payload = payload
        self.route = route
        self.flow = flow
        self.seen = seen  # (source, destination) texts as the receiver sees them


# Why a datagram was dropped when a link's bandwidth queue was full.
REASON_QUEUE = "queue full"
_Held = Tuple[_InFlight, int]  # (datagram, number of copies)
# (source text, port, destination text, port, receiver key): texts, so that the dicts
# keyed by flow hash in C (an ip_address object hashes in Python, at every lookup).
_Flow = Tuple[str, int, str, int, str]
# One fate: (drop reason or None, copies, delay of each copy in ms, reordered, payload).
Fate = Tuple[Optional[str], int, Tuple[float, ...], bool, bytes]


class _Send(NamedTuple):
    """One send, worked out once for all its copies (a LAN broadcast: a thousand)."""

    sender: SimulatedTransport
    source: Address
    destination: Address
    texts: Tuple[str, str]  # source and destination addresses as text
    endpoints: Tuple[Tuple[str, int], Tuple[str, int]]  # for the records
    payload: bytes
    size: int
    time: float  # on the loop's clock
    epoch_time: float  # seconds since the epoch (records)
    ns: int  # since the clock started (the trace)


class _Timer:
    """A delivery or a reorder flush waiting for its deadline on the event loop."""

    __slots__ = ("deadline", "handle", "work")

    def __init__(self, deadline: float, work: Callable[[], None]) -> None:
        self.deadline = deadline
        self.work = work
        self.handle: Any = None


class SimulatedNetwork(Faults, Topology):
    """A simulated network (loopback and LAN); a context manager that installs it for new sockets.

    ``loss``, ``duplicate`` and ``reorder`` are probabilities per datagram; ``delay`` is
    ``(lo, hi)`` milliseconds, drawn uniformly per copy; ``mtu`` (bytes, IP header
    included) drops larger datagrams, as a path that does not fragment does;
    ``reorder_window`` is how long (ms) a datagram chosen for reordering is held back
    (instead of its delay) waiting for the next datagram of its flow to overtake it; it
    arrives right after that one, or when the window ends. All can be changed at any time
    (``net.loss = 0.3``), as can partitions (``partition``/``heal``). Every datagram's
    fate is in ``datagrams``, every arrival in ``deliveries``; ``write_pcap`` saves them.

    ``virtual_time=True`` installs a ``VirtualClock`` (``network.clock``) for as long as
    the network is active: see ``taro_udp.testing.VirtualClock``. ``records=False``
    keeps no ``datagrams``, ``deliveries``, ``trace`` or ``schedule`` (each record costs
    about 1.4 KiB), for long soak runs whose memory must stay flat.

    Every fault decision goes through ``decider`` (default: ``RandomDecider``, the seeded
    draws above) and is recorded in ``schedule``; ``schedule="#4 lose; #7 delay 150"``
    replays one instead (see ``taro_udp.testing.Schedule``). ``link`` is the network's
    link model (``taro_udp.testing.Link``); ``links`` holds per-pair models and
    partitions scheduled in virtual time.

    ``local_address`` (``"192.168.1.23/24"``, or several) puts the local host, where
    the code under test runs, on a LAN; ``local_name`` names it (``"local"``). Then
    ``add_host``, ``add_router``, ``join_group``; ``hosts``, ``subnets``, ``host(name)``.
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
        virtual_time: bool = False,
        records: bool = True,
        local_address: Union[str, Sequence[str], None] = None,
        local_name: str = "local",
        link: Optional[Link] = None,
        decider: Optional[Decider] = None,
        schedule: Union[str, Schedule, None] = None,
    ) -> None:
        self.lock = threading.Lock()
        super().__init__(loss, duplicate, reorder, delay, mtu, reorder_window)
        self.seed = seed
        Topology.__init__(self)
        # Every fault decision goes through the decider (see _schedule); what it chose
        # is recorded in _schedule. ``schedule=`` replays one.
        if decider is not None and schedule is not None:
            raise ValueError("give a decider or a schedule, not both")
        self.decider: Decider = (
            ScheduleDecider(schedule) if schedule is not None else decider or RandomDecider()
        )
        self.links = Links(link)
        self._schedule: List[Decision] = []
        # Called on the event thread after every loop round under virtual time (always/
        # sometimes properties, see _properties).
        self.checks: List[Callable[[], None]] = []
        self._held: Dict[_Flow, _Held] = {}
        self._timers: Dict[int, _Timer] = {}  # by id(): arrivals and flushes not yet due
        self._delayed = 0  # how many of them are arrivals (datagrams in flight)
        self._sent = 0  # datagrams sent: the next one's seq
        self.records = records
        self._idle = threading.Condition(self.lock)
        self._datagrams: List[DatagramRecord] = []
        self._deliveries: List[Delivery] = []
        # Per seq, the payload and TTL as its receiver gets them, where they differ from
        # the record's (corrupted, truncated, routers crossed): the "delivered" capture.
        self._received_as: Dict[int, Tuple[bytes, int]] = {}
        self._trace: List[TraceEvent] = []
        self._last_arrival: Dict[_Flow, int] = {}  # per flow, the highest seq arrived
        self._timer_numbers: Dict[int, int] = {}  # timer id -> its number in the trace
        self._sockets: List[weakref.ReferenceType[UDPSocket]] = []
        # While a deadline's arrival runs: the sockets it reached (see _fire).
        self._landed: Optional[List[SimulatedTransport]] = None
        self.virtual_time = virtual_time
        self.clock: Optional[VirtualClock] = None
        self._active = False
        self._closed = False
        self._previous: Optional[_transport.TransportFactory] = None
        self.local_host = self._new_host(local_name, (), loopback_only=True)
        addresses = [local_address] if isinstance(local_address, str) else local_address or ()
        for address in addresses:
            self.local_host.connect(address)

    def __repr__(self) -> str:
        return f"<SimulatedNetwork seed={self.seed!r} datagrams={len(self._datagrams)}>"

    # -- activation ----------------------------------------------------------------------

    def __enter__(self) -> SimulatedNetwork:
        with self.lock:
            if self._active or self._closed:
                raise RuntimeError("a SimulatedNetwork can be entered only once")
            self._active = True
        if self.virtual_time:
            self.clock = VirtualClock()
            self.clock.install()
            self.clock.observers.append(self._observe)
            self.clock.round_hooks.append(self._run_checks)
        self._previous = _transport.set_transport_factory(self.create_transport)
        _socket.creation_hooks.append(self._on_socket_created)
        _networks.add(self)
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def close(self) -> None:
        """Restore the previous transport factory (and clock); idempotent.

        Datagrams still in flight are discarded (recorded as ``"discarded"``). Sockets
        still open stay usable, but what they send afterwards is dropped.
        """
        with self.lock:
            if self._closed:
                return
            self._closed = True
            active, self._active = self._active, False
            timers = list(self._timers.values())
            self._timers.clear()
            self._delayed = 0
            for timer in timers:
                if isinstance(timer.work, _Arrival):
                    arrival = timer.work
                    self._record_arrival(
                        arrival.datagram, arrival.copy, _records.OUTCOME_DISCARDED, 0
                    )
            for datagram, copies in self._held.values():
                for copy in range(copies):
                    self._record_arrival(datagram, copy, _records.OUTCOME_DISCARDED, 0)
            self._held.clear()
            self._idle.notify_all()
        if active:
            _transport.set_transport_factory(self._previous)
            _socket.creation_hooks.remove(self._on_socket_created)
        for timer in timers:  # the loop's handles: cancelled on the event thread
            if timer.handle is not None:
                _loop.call_soon(timer.handle.cancel)
        if self.clock is not None:
            self.clock.close()

    def create_transport(self, family: int, options: SocketOptions) -> Transport:
        """The transport factory installed while the network is active.

        The socket belongs to the host of the innermost ``with host:`` (of this network),
        else to the local host.
        """
        host = current_host()
        if host is None or self._hosts.get(host.name) is not host:
            host = self.local_host
        return SimulatedTransport(self, host, family, options)

    def _on_socket_created(self, sock: UDPSocket) -> None:
        transport = sock._transport
        if isinstance(transport, SimulatedTransport) and transport.network is self:
            with self.lock:  # weakly: a closed socket must stay collectable
                self._sockets.append(weakref.ref(sock))

    @property
    def sockets(self) -> List[UDPSocket]:
        """The sockets on this network that are still open, whoever created them."""
        with self.lock:
            alive = [ref() for ref in self._sockets]
        return [sock for sock in alive if sock is not None and not sock._transport.closed]  # type: ignore[attr-defined]

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
        reordering and delays visible, drops absent). Addresses are the real ones: a
        broadcast on a LAN is written once in ``"sent"`` (once per receiving host in
        ``"delivered"``), and a datagram a NAT router rewrote shows the sender's header
        in ``"sent"``, the receiver's in ``"delivered"``. ``"delivered"`` shows each copy
        as its receiver got it: the payload corrupted or truncated by a link, the TTL
        less one per router crossed.
        """
        with self.lock:
            datagrams = list(self._datagrams)
            deliveries = list(self._deliveries)
        if view == "sent":  # a broadcast once, as on the wire, not once per receiver
            packets = [
                self._packet(record, record.time) for record in datagrams if record.first is None
            ]
        elif view == "delivered":  # as each receiver got it (after NAT)
            received = self._received_as
            packets = [
                self._packet(
                    datagrams[arrival.seq], arrival.time, received=True, **_as(received, arrival)
                )
                for arrival in deliveries
                if arrival.outcome == _records.OUTCOME_DELIVERED
            ]
        else:
            raise ValueError(f'view must be "sent" or "delivered", got {view!r}')
        with open(path, "wb") as stream:
            return _pcap.write_pcap_file(stream, packets)

    @staticmethod
    def _packet(
        record: DatagramRecord,
        when: float,
        received: bool = False,
        payload: Optional[bytes] = None,
        ttl: Optional[int] = None,
    ) -> _pcap.Packet:
        source, destination = record.source, record.destination
        if received and record.translated is not None:
            source, destination = record.translated
        return _pcap.Packet(
            time=when,
            source=ipaddress.ip_address(source[0]),
            source_port=source[1],
            destination=ipaddress.ip_address(destination[0]),
            destination_port=destination[1],
            payload=record.payload if payload is None else payload,
            ttl=record.ttl if ttl is None else ttl,
            ident=record.seq,
        )

    # -- sending and arriving (network lock held) ----------------------------------------

    def transmit_locked(
        self,
        sender: SimulatedTransport,
        destination: Address,
        payload: bytes,
        text: Optional[Tuple[str, int]] = None,
    ) -> None:
        """Route one send, draw each receiving host's fate, record it, send the copies.

        Raises the OS's ``OSError`` when the host cannot send it (no route), before
        anything is recorded. ``text`` is the destination as the core gave it: with it,
        the routes are kept for the next send of that socket there, until the LAN
        changes (a device answers the same phone a thousand times).
        """
        key = None if text is None else (sender, text)
        cached = self._routes.get(key) if key is not None else None
        if cached is not None and cached[0] == self._topology:
            # The destination the routes were made with: equal, and the very object
            # (``route.destination is destination`` says "not rewritten by a NAT").
            _, source, routes, texts = cached
            destination = routes[0].destination if routes else destination
        else:
            bound = None if sender.wildcard else sender.local
            source, routes = routes_locked(sender.host, bound, sender.port, destination)
            texts = (str(source[0]), str(destination[0]))  # once per send, not per copy
            if key is not None and _cacheable(routes):
                if len(self._routes) >= _ROUTES_KEPT:
                    self._routes.clear()
                self._routes[key] = (self._topology, source, routes, texts)
        clock = _clock.current
        now = clock.time()  # one instant for all its copies (a broadcast: a thousand)
        send = _Send(
            sender,
            source,
            destination,
            texts,
            ((texts[0], source[1]), (texts[1], destination[1])),
            payload,
            len(payload),
            now,
            clock.epoch + now,
            round((now - clock.start) * 1e9),
        )
        first: Optional[int] = None
        for route in routes:
            seq = self._send_one_locked(send, route, first)
            if first is None:
                first = seq

    def _send_one_locked(self, send: _Send, route: Route, first: Optional[int]) -> int:
        seq = self._sent
        self._sent += 1
        source, destination, texts = send.source, send.destination, send.texts
        flow = route.flow
        if flow is None or route.flow_texts is not texts:  # kept on a route kept for reuse
            flow = route.flow = (texts[0], source[1], texts[1], destination[1], route.key)
            route.flow_texts = texts
        # ``payload``: as it will arrive (a link may corrupt or cut it); records keep
        # what was sent.
        reason, copies, delays, reordered, payload = self._fate_locked(
            seq, flow, source, destination, route, send.payload, send.ns / 1e6, send.sender.ttl
        )
        if reason:
            fate = _records.DROPPED
        else:
            fate = _records.DUPLICATED if copies == 2 else _records.DELIVERED
        if route.source is source and route.destination is destination:
            seen = texts
        else:  # rewritten by a NAT router
            seen = (str(route.source[0]), str(route.destination[0]))
        if self.records:
            receiver = route.receiver
            shown = None if receiver is None or receiver is self.local_host else receiver.name
            source_end, destination_end = send.endpoints
            self._trace.append(
                (
                    send.ns,
                    "send",
                    (
                        seq,
                        texts[0],
                        source[1],
                        texts[1],
                        destination[1],
                        send.size,
                        fate,
                        reason,
                        delays,
                        reordered,
                        shown,
                    ),
                )
            )
            self._datagrams.append(
                _records.new_record(
                    seq,
                    send.epoch_time,
                    source_end,
                    destination_end,
                    send.payload,
                    send.sender.ttl,
                    fate,
                    reason,
                    delays,
                    reordered,
                    shown,
                    first,
                    None
                    if seen is texts
                    else ((seen[0], route.source[1]), (seen[1], route.destination[1])),
                )
            )
        if not copies:
            return seq
        if self.records and (route.forwards or payload is not send.payload):
            self._received_as[seq] = (payload, send.sender.ttl - route.forwards)
        datagram = _InFlight(seq, send.sender, destination, payload, route, flow, seen)
        if reordered:
            previous = self._held.pop(flow, None)
            self._held[flow] = (datagram, copies)
            if previous is not None:  # held back as well: its follower came, let it go
                self._release(previous)
            deadline = send.time + self._reorder_window / 1000.0
            self._schedule_locked(deadline, _Flush(self, flow, datagram))
            return seq
        for copy, delay in enumerate(delays):
            if delay <= 0:
                self._arrive_locked(datagram, copy)
            else:
                self._schedule_locked(send.time + delay / 1000.0, _Arrival(self, datagram, copy))
        return seq

    def _fate_locked(
        self,
        seq: int,
        flow: _Flow,
        source: Address,
        destination: Address,
        route: Route,
        payload: bytes,
        now_ms: float,
        ttl: int = 64,
    ) -> Fate:
        """The fate of one datagram toward one receiving host: the one place it is chosen.

        The decider (``self.decider``, see ``_schedule``) makes every fault decision; the
        ones it made are recorded in ``schedule``. It is asked even for a datagram that
        is dropped for a reason that is no choice (partition, MTU...), so that the
        default decider's per-flow stream (five draws per datagram, seeded from the
        flow) never depends on the settings. Returns (drop reason or None, copies, delay
        of each copy in ms, held back to reorder, the payload as it will arrive).
        """
        reason = route.reason or self._drop_reason(source, destination, route, len(payload))
        if reason is None and route.forwards and ttl <= route.forwards:
            reason = _records.REASON_TTL  # a router on the way got it with TTL 1
        outgoing = Outgoing(seq, source, destination, payload, now_ms, route.key, reason, flow)
        chosen = self.decider.decide(self, outgoing)
        if reason:
            return reason, 0, (), False, payload
        _check_delays(seq, chosen.delays, "the decider")
        if self.records and chosen.decisions:
            self._schedule.extend(chosen.decisions)
        if chosen.lost:
            return _records.REASON_LOSS, 0, (), False, payload
        if chosen.payload is not None:
            payload = chosen.payload
        delays = chosen.delays
        if self.links.shaping:
            extra = self.links.shape(source, destination, len(payload), now_ms)
            if extra is None:  # a bandwidth queue overflowed: tail drop
                return REASON_QUEUE, 0, (), False, payload
            if extra:
                delays = tuple(round(delay + extra, 3) for delay in delays)
                _check_delays(seq, delays, "the link's bandwidth queue")
        return None, chosen.copies, delays, chosen.reordered, payload

    def _drop_reason(
        self, source: Address, destination: Address, route: Route, size: int
    ) -> Optional[str]:
        # The drops that are no choice of the decider (loss is: see _fate_locked).
        if self._closed:
            return _records.REASON_CLOSED
        if self._partitions and self._partitioned_locked(source, destination, route):
            return _records.REASON_PARTITION
        if self.links.partitions and self.links.partitioned(source, destination, self._now_ms()):
            return _records.REASON_PARTITION
        header = 28 if route.destination[0].version == 4 else 48
        if self._mtu is not None and size + header > self._mtu:
            return _records.REASON_MTU
        return None

    @property
    def schedule(self) -> Schedule:
        """Every fault decision taken so far (see ``_schedule``): replay it with ``schedule=``."""
        with self.lock:
            return Schedule(tuple(sorted(self._schedule)))

    @staticmethod
    def _now_ms() -> float:
        # Ms on the loop's clock since it started (virtual: since the network's start).
        clock = _clock.current
        return (clock.time() - clock.start) * 1000.0

    def _partitioned_locked(self, source: Address, destination: Address, route: Route) -> bool:
        # Between the sender and the destination as addressed, or as the receiver sees
        # them (NAT); for a broadcast, also between the sender and that receiver's address.
        if self._is_partitioned(source, destination):
            return True
        if route.destination is not destination and self._is_partitioned(
            route.source, route.destination
        ):
            return True
        if route.key and route.links:
            receiver = (route.links[-1].address, route.destination[1])
            return self._is_partitioned(source, receiver)
        return False

    # -- the loop's timers ----------------------------------------------------------------

    def _schedule_locked(self, deadline: float, work: Callable[[], None]) -> None:
        # A deadline on the event loop, from any thread: armed there, in posting order.
        timer = _Timer(deadline, work)
        self._timers[id(timer)] = timer
        if isinstance(work, _Arrival):
            self._delayed += 1
        if _loop.in_event_thread():
            timer.handle = _loop.call_at(deadline, self._fire, timer)
        else:
            _loop.call_soon(self._arm, timer)

    def _arm(self, timer: _Timer) -> None:
        if self._timers.get(id(timer)) is timer:  # not discarded by close() meanwhile
            timer.handle = _loop.call_at(timer.deadline, self._fire, timer)

    def _fire(self, timer: _Timer) -> None:
        with self.lock:
            if self._timers.pop(id(timer), None) is None:
                return  # the network was closed: recorded as discarded then
            if isinstance(timer.work, _Arrival):
                self._delayed -= 1
            self._landed = []
            try:
                timer.work()
            finally:
                landed, self._landed = self._landed, None
            self._notify_if_idle()
        if landed:
            # As a timer does: work posted before the arrival came due runs first; then
            # each receiver reads, once, in arrival order, in this very slot of the loop
            # (so a timer due at the same instant but set later runs after it).
            _loop.run_posted()
            receivers = dict.fromkeys(landed)
            try:
                for sock in receivers:
                    sock.deliver_now()
            finally:  # what was not read (no reader yet, a full drain) waits signalled
                left = [sock for sock in receivers if sock.queue]
                if left:
                    with self.lock:
                        for sock in left:
                            sock.resignal()

    def _arrive(self, datagram: _InFlight, copy: int) -> None:
        self._arrive_locked(datagram, copy)

    def _flush(self, flow: _Flow, datagram: _InFlight) -> None:
        # The reorder window ended and nothing overtook the held datagram: deliver it.
        held = self._held.get(flow)
        if held is not None and held[0] is datagram:
            del self._held[flow]
            self._release(held)

    def _release(self, held: _Held) -> None:
        datagram, copies = held
        for copy in range(copies):
            self._arrive_locked(datagram, copy)

    def _arrive_locked(self, datagram: _InFlight, copy: int) -> None:
        route = datagram.route
        source, destination = route.source, route.destination
        source_text, destination_text = datagram.seen
        receiver = route.receiver
        delivered = 0
        full = False
        landed = self._landed
        if receiver is None:
            outcome = _records.OUTCOME_NO_HOST
        elif not route.links_up():
            outcome = _records.OUTCOME_LINK_DOWN
        else:
            for sock in receiver.ports.receivers(source, destination, route.kind):
                assert isinstance(sock, SimulatedTransport)
                if sock.mapped and source[0].version == 4:  # a udp6 socket sees ::ffff:
                    item = (
                        datagram.payload,
                        "::ffff:" + source_text,
                        source[1],
                        "::ffff:" + destination_text,
                    )
                else:
                    item = (datagram.payload, source_text, source[1], destination_text)
                if sock.enqueue(item, landed is None):
                    delivered += 1
                    if landed is not None:
                        landed.append(sock)
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
                if (
                    route.kind == UNICAST
                    and not sender.closed
                    and sender.peer == datagram.destination
                ):
                    sender.set_error(errno.ECONNREFUSED)
        flow = datagram.flow
        last = self._last_arrival.get(flow, -1)
        self._last_arrival[flow] = max(last, datagram.seq)
        self._record_arrival(datagram, copy, outcome, delivered, datagram.seq < last)
        if copy == 0 and self._held:
            held = self._held.get(flow)
            if held is not None and held[0].seq < datagram.seq:
                del self._held[flow]
                self._release(held)

    def _record_arrival(
        self,
        datagram: _InFlight,
        copy: int,
        outcome: str,
        count: int,
        out_of_order: bool = False,
    ) -> None:
        if not self.records:
            return
        self._trace_locked("arrive", datagram.seq, copy, outcome, count, out_of_order)
        self._deliveries.append(
            _records.new_delivery(datagram.seq, copy, self._now(), outcome, count, out_of_order)
        )

    @staticmethod
    def _now() -> float:
        # Seconds since the epoch on the loop's clock (virtual: from a fixed epoch).
        clock = _clock.current
        return clock.epoch + clock.time()

    # -- the trace -----------------------------------------------------------------------

    def _trace_locked(self, kind: str, *details: Any) -> None:
        clock = _clock.current
        self._trace.append((round((clock.time() - clock.start) * 1e9), kind, details))

    def _observe(self, kind: str, timer_id: int, what: str) -> None:
        # The virtual clock tells of every timer that fires (event thread). Timer ids
        # count for the whole process; the trace numbers timers in order of appearance,
        # so that two runs of one test compare equal.
        if not self.records:
            return
        with self.lock:
            number = self._timer_numbers.setdefault(timer_id, len(self._timer_numbers) + 1)
            parts = what.split(" ", 2)  # "setTimeout #12 (retry)"
            self._trace_locked(kind, number, f"{parts[0]} {parts[-1]}")

    def _run_checks(self) -> None:
        # Between two loop rounds (event thread): the always/sometimes properties.
        for check in list(self.checks):
            check()

    @property
    def trace(self) -> List[TraceEvent]:
        """Every event so far, in order: ``(ns, kind, details)`` (a copy).

        Kinds: ``"send"`` (seq, source address and port, destination address and port,
        size, fate, reason, delays in ms, reordered, the receiving host's name or None
        for the local host and for nobody), ``"arrive"`` (seq, copy, outcome, receivers,
        out of order), ``"link"`` (a host's name and its interfaces after a change) and,
        under virtual time, ``"timer"`` (the timer's number
        in order of first firing, and its callback's name). Times are on the loop's
        clock, in ns since it started (virtual under ``virtual_time=True``, where the same
        seed and program give the same trace).
        """
        with self.lock:
            return list(self._trace)

    def trace_digest(self) -> str:
        """A SHA-256 of ``trace``: equal for equal traces (compare runs with it)."""
        digest = hashlib.sha256()
        for event in self.trace:
            digest.update(repr(event).encode("utf-8", "backslashreplace"))
            digest.update(b"\n")
        return digest.hexdigest()

    # -- waiting -------------------------------------------------------------------------

    def _in_flight_locked(self) -> int:
        if not self._held:
            return self._delayed
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
        Under virtual time a drive, with ``timeout`` in virtual seconds.
        """
        if self.clock is not None:
            self.clock.run_until(lambda: not self.in_flight(), timeout, "no datagram in flight")
            return
        with self._idle:
            if not self._idle.wait_for(lambda: not self._in_flight_locked(), timeout):
                raise TimeoutError(
                    f"{self._in_flight_locked()} datagrams still in flight after {timeout}s"
                )

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the network is quiet: nothing in flight, nothing unread, nothing posted.

        So that late callbacks of one test do not bleed into the next. Timers the program
        set may still be pending. Under virtual time a drive (``timeout`` in virtual s).
        """
        if self.clock is not None:
            self.clock.run_until(self._quiet, timeout, "the network to be quiet")
            return
        self.wait_idle(timeout)
        for _ in range(100):  # bounded: each round lets the event thread drain once
            drained = threading.Event()
            _loop.call_soon(drained.set)
            if not drained.wait(timeout):
                raise TimeoutError(f"the event thread did not drain within {timeout}s")
            if self._quiet():
                return
        raise TimeoutError("the network did not become quiet")

    def _quiet(self) -> bool:
        with self.lock:
            if self._in_flight_locked():
                return False
            unread = any(
                sock.queue  # type: ignore[attr-defined]
                for host in self._hosts.values()
                for sock in host.ports.sockets()
            )
        return not unread and not _loop.pending()

    # -- virtual time --------------------------------------------------------------------

    def advance(self, ms: Optional[float] = None, *, seconds: Optional[float] = None) -> None:
        """``clock.advance(seconds=)``: run what is due in the next ``seconds`` virtual s.

        ``advance(ms)`` (0.2.0, milliseconds) still works and warns: ``DeprecationWarning``.
        """
        ns = _advance_ns(ms, seconds, "SimulatedNetwork.advance", 3)
        self._virtual_clock()._advance_ns(ns)

    def run_until(
        self, predicate: Callable[[], bool], timeout: Optional[float] = None, what: str = ""
    ) -> None:
        """``clock.run_until(...)``: run until ``predicate()`` holds (virtual time)."""
        self._virtual_clock().run_until(predicate, timeout, what or "the condition")

    def _virtual_clock(self) -> VirtualClock:
        if self.clock is None:
            raise RuntimeError("no virtual clock: use SimulatedNetwork(virtual_time=True)")
        return self.clock

    def _after_fork_in_child(self) -> None:
        # Another thread may have held the lock at the fork; the parent's sockets were
        # dropped in the child (fds closed) and must not receive anything.
        self.lock = threading.Lock()
        self._idle = threading.Condition(self.lock)
        self._timers.clear()
        self._delayed = 0
        self._held.clear()
        for host in self._hosts.values():
            host.ports.forget_closed()


class _Arrival:
    """A delayed copy of a datagram arriving (a timer's work)."""

    __slots__ = ("copy", "datagram", "network")

    def __init__(self, network: SimulatedNetwork, datagram: _InFlight, copy: int) -> None:
        self.network = network
        self.datagram = datagram
        self.copy = copy

    def __call__(self) -> None:
        self.network._arrive(self.datagram, self.copy)


class _Flush:
    """The end of a reorder window (a timer's work)."""

    __slots__ = ("datagram", "flow", "network")

    def __init__(self, network: SimulatedNetwork, flow: _Flow, datagram: _InFlight) -> None:
        self.network = network
        self.flow = flow
        self.datagram = datagram

    def __call__(self) -> None:
        self.network._flush(self.flow, self.datagram)


def _after_fork_in_child() -> None:
    for network in list(_networks):
        network._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def active_network() -> Optional[SimulatedNetwork]:
    """The network new sockets are created on, or None when they go to the OS."""
    owner = getattr(_transport.transport_factory, "__self__", None)
    return owner if isinstance(owner, SimulatedNetwork) else None


_ROUTES_KEPT = 8192  # sends whose routes are kept; a bound, not a policy (then cleared)


def _cacheable(routes: List[Route]) -> bool:
    # A route through a NAT router changes its state (mappings, contacted endpoints) at
    # every send: it is worked out again each time.
    return not any(link.host.nat is not None for route in routes for link in route.links)
