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
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, Union

from .. import _clock, _loop, _socket, _transport
from .._socket import UDPSocket
from .._transport import SocketOptions, Transport
from . import _pcap, _records
from ._faults import Faults
from ._links import Link, Links
from ._ports import Address, PortTable, is_local
from ._records import DatagramRecord, Delivery
from ._schedule import Decider, Decision, Outgoing, RandomDecider, Schedule, ScheduleDecider
from ._sim_transport import SimulatedTransport
from ._virtual import VirtualClock

__all__ = ["SimulatedNetwork", "TraceEvent", "active_network"]

# One event of the trace: (ns on the loop's clock since it started, kind, details).
TraceEvent = Tuple[int, str, Tuple[Any, ...]]
# Every network alive in this process, for the fork handler.
_networks: weakref.WeakSet[SimulatedNetwork] = weakref.WeakSet()


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


# Why a datagram was dropped when a link's bandwidth queue was full.
REASON_QUEUE = "queue full"
_Held = Tuple[_InFlight, int]  # (datagram, number of copies)
_Flow = Tuple[Address, Address]


class _Timer:
    """A delivery or a reorder flush waiting for its deadline on the event loop."""

    __slots__ = ("deadline", "handle", "work")

    def __init__(self, deadline: float, work: Callable[[], None]) -> None:
        self.deadline = deadline
        self.work = work
        self.handle: Any = None


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

    ``virtual_time=True`` installs a ``VirtualClock`` (``network.clock``) for as long as
    the network is active: see ``taro_udp.testing.VirtualClock``. ``records=False``
    keeps no ``datagrams``, ``deliveries`` or ``trace`` (each record costs about 1.4 KiB),
    for long soak runs whose memory must stay flat.
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
        link: Optional[Link] = None,
        decider: Optional[Decider] = None,
        schedule: Union[str, Schedule, None] = None,
    ) -> None:
        self.lock = threading.Lock()
        super().__init__(loss, duplicate, reorder, delay, mtu, reorder_window)
        self.seed = seed
        self.ports = PortTable()
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
        """The transport factory installed while the network is active."""
        return SimulatedTransport(self, family, options)

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
        seq = self._sent
        self._sent += 1
        flow = (source, destination)
        reason = self._drop_reason(source, destination, len(payload))
        copies, reordered = 0, False
        delays: Tuple[float, ...] = ()
        if reason is None:
            chosen = self.decider.decide(
                self, Outgoing(seq, source, destination, payload, self._now_ms())
            )
            if self.records:
                self._schedule.extend(chosen.decisions)
            copies, delays, reordered = chosen.copies, chosen.delays, chosen.reordered
            if chosen.payload is not None:
                payload = chosen.payload
            if chosen.lost:
                reason = _records.REASON_LOSS
            else:
                extra = self.links.shape(source, destination, len(payload), self._now_ms())
                if extra is None:  # a bandwidth queue overflowed: tail drop
                    reason, copies, delays = REASON_QUEUE, 0, ()
                elif extra:
                    delays = tuple(round(delay + extra, 3) for delay in delays)
        if reason:
            fate = _records.DROPPED
        else:
            fate = _records.DUPLICATED if copies == 2 else _records.DELIVERED
        if self.records:
            self._record_send_locked(
                sender, seq, source, destination, payload, fate, reason, delays, reordered
            )
        if not copies:
            return
        datagram = _InFlight(seq, sender, source, destination, payload)
        if reordered:
            previous = self._held.pop(flow, None)
            self._held[flow] = (datagram, copies)
            if previous is not None:  # held back as well: its follower came, let it go
                self._release(previous)
            deadline = _clock.now() + self._reorder_window / 1000.0
            self._schedule_locked(deadline, _Flush(self, flow, datagram))
            return
        for copy, delay in enumerate(delays):
            if delay <= 0:
                self._arrive_locked(datagram, copy)
            else:
                self._schedule_locked(_clock.now() + delay / 1000.0, _Arrival(self, datagram, copy))

    def _record_send_locked(
        self,
        sender: SimulatedTransport,
        seq: int,
        source: Address,
        destination: Address,
        payload: bytes,
        fate: str,
        reason: Optional[str],
        delays: Tuple[float, ...],
        reordered: bool,
    ) -> None:
        source_text, destination_text = str(source[0]), str(destination[0])
        self._trace_locked(
            "send",
            seq,
            source_text,
            source[1],
            destination_text,
            destination[1],
            len(payload),
            fate,
            reason,
            delays,
            reordered,
        )
        self._datagrams.append(
            DatagramRecord(
                seq=seq,
                time=self._now(),
                source=(source_text, source[1]),
                destination=(destination_text, destination[1]),
                payload=payload,
                ttl=sender.ttl,
                fate=fate,
                reason=reason,
                delays_ms=delays,
                reordered=reordered,
            )
        )

    def _drop_reason(self, source: Address, destination: Address, size: int) -> Optional[str]:
        # The drops that are no choice of the decider (loss is: see transmit_locked).
        if self._closed:
            return _records.REASON_CLOSED
        if self._is_partitioned(source, destination) or (
            self.links.partitions and self.links.partitioned(source, destination, self._now_ms())
        ):
            return _records.REASON_PARTITION
        header = 28 if destination[0].version == 4 else 48
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

    # -- the loop's timers ----------------------------------------------------------------

    def _schedule_locked(self, deadline: float, work: Callable[[], None]) -> None:
        # A deadline on the event loop, from any thread: armed there, in posting order.
        timer = _Timer(deadline, work)
        self._timers[id(timer)] = timer
        if isinstance(work, _Arrival):
            self._delayed += 1
        if _loop.in_event_thread():
            self._arm(timer)
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
        for sock in dict.fromkeys(landed):  # each receiver once, in arrival order
            sock.deliver_now()

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
        source, destination = datagram.source, datagram.destination
        receivers = self.ports.receivers(source, destination)
        delivered = 0
        full = False
        landed = self._landed
        for sock in receivers:
            item = (
                datagram.payload,
                sock.present(source[0]),
                source[1],
                sock.present(destination[0]),
            )
            if sock.enqueue(item):
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
            local = is_local(destination[0])
            if local and not sender.closed and sender.peer == destination:
                sender.set_error(errno.ECONNREFUSED)
        flow = (source, destination)
        last = self._last_arrival.get(flow, -1)
        self._last_arrival[flow] = max(last, datagram.seq)
        self._record_arrival(datagram, copy, outcome, delivered, datagram.seq < last)
        if copy == 0:
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
            Delivery(datagram.seq, copy, self._now(), outcome, count, out_of_order)
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

        Kinds: ``"send"`` (seq, source host and port, destination host and port, size,
        fate, reason, delays in ms, reordered), ``"arrive"`` (seq, copy, outcome,
        receivers, out of order) and, under virtual time, ``"timer"`` (the timer's number
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
            unread = any(sock.queue for sock in self.ports.sockets())
        return not unread and not _loop.pending()

    # -- virtual time --------------------------------------------------------------------

    def advance(self, ms: float) -> None:
        """``clock.advance(ms)``: run what is due in the next ``ms`` virtual ms."""
        self._virtual_clock().advance(ms)

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
        self.ports.forget_closed()


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
