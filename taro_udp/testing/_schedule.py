"""Schedules: every fault decision of a simulated network as one recorded, editable choice.

The network asks one object, its *decider*, for the fate of each datagram it sends
(``Decider.decide``). The default ``RandomDecider`` draws fates from the network's seed
and settings, exactly as the network always has; a ``ScheduleDecider`` takes them from a
``Schedule`` instead. Whatever decider ran, the faults it chose are recorded in
``network.schedule``, one ``Decision`` per fault:

- ``#4 lose``: datagram 4 (send order on the network, from 0) is lost;
- ``#4 duplicate``: it arrives twice;
- ``#4 reorder``: it is held back until the next datagram of its flow overtakes it;
- ``#4 delay 150``: its first copy is delayed 150 ms (``delay[1]``: the second copy's);
- ``#4 corrupt 13``: bit 13 of its payload is flipped;
- ``#4 truncate 10``: only its first 10 bytes arrive.

Replaying the recorded schedule (``SimulatedNetwork(schedule=network.schedule)``) under
virtual time gives the identical trace. A schedule is text (``str(schedule)``,
``Schedule.parse``) and can be edited: a decision removed means no fault there, which is
what shrinking does (see ``_shrink``). What is not a choice stays as configured: the
MTU, partitions, a bandwidth queue that overflows.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Iterable, List, NamedTuple, Optional, Tuple, Union

from ._addressing import Address

if TYPE_CHECKING:
    from ._network import SimulatedNetwork

__all__ = [
    "KINDS",
    "Decider",
    "Decision",
    "Fate",
    "Outgoing",
    "RandomDecider",
    "Schedule",
    "ScheduleDecider",
]

# The fault kinds a decision can be, in the order a datagram's decisions are listed.
KINDS = ("lose", "duplicate", "reorder", "delay", "corrupt", "truncate")
_DECISION = re.compile(r"#(\d+)\s+(lose|duplicate|reorder|delay|corrupt|truncate)(?:\[(\d)\])?")


class Decision(NamedTuple):
    """One fault chosen for one datagram: ``seq`` (send order), ``kind``, ``value``.

    ``value`` is the delay in ms (``delay``), the bit flipped (``corrupt``) or the
    length kept (``truncate``); ``copy`` is which copy a ``delay`` applies to (0 or 1).
    A named tuple (one is made per faulted datagram, on the send path): ordered by
    datagram, then kind; ``Schedule.parse`` checks what it reads, ``check()`` the rest.
    """

    seq: int
    kind: str
    copy: int = 0
    value: float = 0.0

    def check(self) -> Decision:
        """This decision, or ``ValueError`` if it is not a valid one."""
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.seq < 0 or self.copy not in (0, 1) or self.value < 0:
            raise ValueError(f"invalid decision {tuple(self)!r}")
        return self

    def __str__(self) -> str:
        copy = f"[{self.copy}]" if self.copy else ""
        if self.kind in ("lose", "duplicate", "reorder"):
            return f"#{self.seq} {self.kind}"
        return f"#{self.seq} {self.kind}{copy} {_number(self.value)}"


def _number(value: float) -> str:
    # Shortest text that reads back as the same float, so a schedule round-trips exactly.
    return str(int(value)) if value == int(value) else repr(value)


@dataclass(frozen=True)
class Schedule:
    """An ordered, immutable list of ``Decision``; ``str()`` and ``parse`` round-trip."""

    decisions: Tuple[Decision, ...] = ()

    @classmethod
    def parse(cls, text: Union[str, Schedule, Iterable[Decision]]) -> Schedule:
        """``"#4 lose; #7 delay 150"`` (``;`` or newlines between decisions) to a Schedule."""
        if isinstance(text, Schedule):
            return text
        if not isinstance(text, str):
            return cls(tuple(sorted(Decision(*decision).check() for decision in text)))
        decisions: List[Decision] = []
        for part in re.split(r"[;\n]", text):
            part = part.strip()
            if not part:
                continue
            match = _DECISION.match(part)
            rest = part[match.end() :].strip() if match else ""
            if match is None:
                raise ValueError(f"not a decision: {part!r} (expected e.g. '#4 lose')")
            kind = match.group(2)
            valued = kind not in ("lose", "duplicate", "reorder")
            if valued != bool(rest):
                raise ValueError(f"decision {part!r}: {kind} takes {'a' if valued else 'no'} value")
            try:
                value = float(rest) if valued else 0.0
            except ValueError:
                raise ValueError(f"decision {part!r}: {rest!r} is not a number") from None
            decision = Decision(int(match.group(1)), kind, int(match.group(3) or 0), value)
            decisions.append(decision.check())
        return cls(tuple(sorted(decisions)))

    def __str__(self) -> str:
        return "; ".join(str(decision) for decision in self.decisions)

    def __len__(self) -> int:
        return len(self.decisions)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.decisions)

    def without(self, index: int) -> Schedule:
        """This schedule with decision ``index`` removed (no fault there)."""
        return Schedule(self.decisions[:index] + self.decisions[index + 1 :])

    def by_seq(self) -> Dict[int, List[Decision]]:
        """The decisions grouped by datagram."""
        grouped: Dict[int, List[Decision]] = {}
        for decision in self.decisions:
            grouped.setdefault(decision.seq, []).append(decision)
        return grouped


class Outgoing:
    """A datagram being sent, as a decider sees it (read-only by convention).

    ``key`` names the receiving host of a broadcast or multicast on a LAN (one fate
    each), else is empty. ``blocked`` is why the network drops it whatever the decider
    says (partition, MTU, no route...): no fault to choose, nothing to record. ``flow``
    is the network's hashable name of the flow (source and destination texts and
    ports, and the key), or None.
    """

    # A plain class with slots: one is made per datagram, on the send path.
    __slots__ = ("blocked", "destination", "flow", "key", "now_ms", "payload", "seq", "source")

    def __init__(
        self,
        seq: int,
        source: Address,
        destination: Address,
        payload: bytes,
        now_ms: float,
        key: str = "",
        blocked: Optional[str] = None,
        flow: Optional[Tuple[str, int, str, int, str]] = None,
    ) -> None:
        self.seq = seq
        self.source = source
        self.destination = destination
        self.payload = payload
        self.now_ms = now_ms
        self.key = key
        self.blocked = blocked
        self.flow = flow


class Fate:
    """What a decider chose for one datagram (``lost`` or 1–2 copies with their delays).

    ``payload`` is the payload corrupted or truncated (None: as sent); ``decisions``
    lists the fault decisions taken, in ``Decision`` order.
    """

    # A plain class with slots: one is made per datagram, on the send path.
    __slots__ = ("decisions", "delays", "duplicate", "lost", "payload", "reordered")

    def __init__(
        self,
        lost: bool = False,
        duplicate: bool = False,
        delays: Tuple[float, ...] = (0.0,),
        reordered: bool = False,
        payload: Optional[bytes] = None,
        decisions: Optional[List[Decision]] = None,
    ) -> None:
        self.lost = lost
        self.duplicate = duplicate
        self.delays = delays
        self.reordered = reordered
        self.payload = payload
        self.decisions: List[Decision] = decisions if decisions is not None else []

    def __repr__(self) -> str:
        return f"<Fate copies={self.copies} delays={self.delays} decisions={self.decisions}>"

    @property
    def copies(self) -> int:
        return 0 if self.lost else 2 if self.duplicate else 1


class Decider:
    """The one seam every fault decision of a ``SimulatedNetwork`` goes through.

    ``decide`` runs with the network's lock held, once per datagram that the network
    did not already drop for a reason that is no choice (closed, partition, MTU); it
    returns the ``Fate`` with the decisions it took listed in ``fate.decisions``.
    """

    def decide(self, network: SimulatedNetwork, datagram: Outgoing) -> Fate:
        raise NotImplementedError


def _flip(payload: bytes, bit: int) -> bytes:
    if not payload:
        return payload
    index = (bit // 8) % len(payload)
    data = bytearray(payload)
    data[index] ^= 1 << (bit % 8)
    return bytes(data)


class RandomDecider(Decider):
    """Fates drawn from the network's seed and its settings (the network's default).

    Each flow (source -> destination) draws from its own ``random.Random`` seeded with
    the network's seed and the flow's endpoints, five numbers per datagram whatever the
    settings, so that interleaving flows never changes a fate (see ``SimulatedNetwork``).
    Link models (``network.links``) draw from streams of their own.
    """

    def __init__(self) -> None:
        self._flows: Dict[Tuple[str, int, str, int, str], random.Random] = {}

    def _stream(self, network: SimulatedNetwork, datagram: Outgoing) -> random.Random:
        flow = datagram.flow
        if flow is None:
            source, destination = datagram.source, datagram.destination
            flow = (str(source[0]), source[1], str(destination[0]), destination[1], datagram.key)
        rng = self._flows.get(flow)
        if rng is None:
            source_text, source_port, destination_text, destination_port, key = flow
            seed = (
                f"{network.seed}|{source_text}|{source_port}|{destination_text}|{destination_port}"
            )
            rng = self._flows[flow] = random.Random(f"{seed}|{key}" if key else seed)
        return rng

    def decide(self, network: SimulatedNetwork, datagram: Outgoing) -> Fate:
        source, destination, seq = datagram.source, datagram.destination, datagram.seq
        flow = datagram.flow
        rng = self._flows.get(flow) if flow is not None else None
        if rng is None:
            rng = self._stream(network, datagram)
        # Always five draws, so a flow's stream never depends on the settings.
        draw = rng.random
        u_loss, u_duplicate, u_reorder, u_delay1, u_delay2 = draw(), draw(), draw(), draw(), draw()
        if datagram.blocked:
            return Fate(lost=True, delays=())
        links = network.links
        link = links.model_for(source, destination) if links.rules else links.default
        if link is None:  # the common case, kept short: the network's own settings
            if u_loss < network._loss:
                return Fate(lost=True, delays=(), decisions=[Decision(seq, "lose")])
            duplicate = u_duplicate < network._duplicate
            low, high = network._delay
            first = round(low + (high - low) * u_delay1, 3)
            if duplicate:
                delays: Tuple[float, ...] = (first, round(low + (high - low) * u_delay2, 3))
            else:
                delays = (first,)
            fate = Fate(False, duplicate, delays, u_reorder < network._reorder)
            if duplicate or fate.reordered or high > 0:
                fate.decisions = _decisions_of(seq, fate)
            return fate
        fate = Fate()
        if link.loss is not None:
            fate.lost = link.lose(network, source, destination)
        else:
            fate.lost = u_loss < network._loss
        if fate.lost:
            fate.delays = ()
            fate.decisions.append(Decision(seq, "lose"))
            return fate
        rate = network._duplicate if link.duplicate is None else link.duplicate
        fate.duplicate = u_duplicate < rate
        if link.delay is not None:
            delays = tuple(
                link.draw_delay(network, source, destination) for _ in range(fate.copies)
            )
        else:
            low, high = network._delay
            delays = tuple(low + (high - low) * u for u in (u_delay1, u_delay2)[: fate.copies])
        fate.delays = tuple(round(delay, 3) for delay in delays)
        reorder = network._reorder if link.reorder is None else link.reorder
        fate.reordered = u_reorder < reorder
        if link.corrupt or link.truncate:
            fate.payload = link.mangle(network, source, destination, datagram.payload, fate, seq)
        fate.decisions = _decisions_of(seq, fate)
        return fate


def _decisions_of(seq: int, fate: Fate) -> List[Decision]:
    # The fault decisions a fate stands for, corruption and truncation excepted (their
    # values are known only to the link that chose them: it lists them itself).
    decisions = [d for d in fate.decisions if d.kind in ("corrupt", "truncate")]
    if fate.duplicate:
        decisions.append(Decision(seq, "duplicate"))
    if fate.reordered:
        decisions.append(Decision(seq, "reorder"))
    for copy, delay in enumerate(fate.delays):
        if delay > 0:
            decisions.append(Decision(seq, "delay", copy, delay))
    if len(decisions) > 1:
        decisions.sort()
    return decisions


class ScheduleDecider(Decider):
    """Fates taken from a ``Schedule``: a datagram with no decision gets no fault."""

    def __init__(self, schedule: Union[str, Schedule, Iterable[Decision]]) -> None:
        self.schedule = Schedule.parse(schedule)
        self._by_seq = self.schedule.by_seq()

    def decide(self, network: SimulatedNetwork, datagram: Outgoing) -> Fate:
        seq = datagram.seq
        fate = Fate()
        if datagram.blocked:
            return fate
        payload = datagram.payload
        mangled = False
        decisions = self._by_seq.get(seq, ())
        kinds = {decision.kind for decision in decisions}
        if "lose" in kinds:
            fate.lost = True
            fate.delays = ()
            fate.decisions.append(Decision(seq, "lose"))
            return fate
        fate.duplicate = "duplicate" in kinds
        fate.reordered = "reorder" in kinds
        delays = [0.0] * fate.copies
        for decision in decisions:
            if decision.kind == "delay" and decision.copy < fate.copies:
                delays[decision.copy] = decision.value
            elif decision.kind == "corrupt":
                payload, mangled = _flip(payload, int(decision.value)), True
                fate.decisions.append(decision)
            elif decision.kind == "truncate":
                payload, mangled = payload[: int(decision.value)], True
                fate.decisions.append(decision)
        fate.delays = tuple(delays)
        if mangled:
            fate.payload = payload
        fate.decisions = _decisions_of(seq, fate)
        return fate


def flip_bit(payload: bytes, bit: int) -> bytes:
    """``payload`` with bit ``bit`` (counted from the first byte's lowest) flipped."""
    return _flip(payload, bit)
