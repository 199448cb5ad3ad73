"""Link models for the simulated network, after netem and Shadow.

A ``Link`` describes one direction of traffic between two hosts, or the whole network
(``network.links.default``): bursty loss (``GilbertElliott``), a delay distribution
with jitter (``Delay``), duplication, reordering, corruption and truncation of payloads,
and a bandwidth with a bounded tail-drop queue. Settings a link leaves at ``None`` fall
back to the network's (``net.loss``, ``net.delay``...).

Random choices are seeded from the network's seed and the link's endpoints, each purpose
(loss state, delay, corruption) on a stream of its own, and every one is a recorded
decision (see ``_schedule``). The queue and scheduled partitions are no choice: they
follow from the sends and the virtual clock, and replay as they are.
"""

from __future__ import annotations

import collections
import ipaddress
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Optional, Tuple, Union

from ._addressing import Address
from ._faults import _MAX_DELAY_MS, PartitionSpec, _matches, _probability, as_spec

if TYPE_CHECKING:
    from ._network import SimulatedNetwork
    from ._schedule import Fate

__all__ = ["Delay", "GilbertElliott", "Link", "Links", "ScheduledPartition"]

_DISTRIBUTIONS = ("uniform", "normal", "pareto")
# The longest delay a datagram may have, in ms (one day): a longer draw (a Pareto tail) is
# clipped to it, a longer setting refused; the virtual clock counts ns in 63 bits.
MAX_DELAY_MS = _MAX_DELAY_MS


def _finite(name: str, value: object, low: float = 0.0, high: float = math.inf) -> float:
    """``value`` as a float: a real number (no bool), finite, in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        bounds = f">= {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
        raise ValueError(f"{name} must be a finite number {bounds}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class GilbertElliott:
    """Bursty loss: a good and a bad state, each with its own loss probability.

    Per datagram the chain first moves (good -> bad with ``p``, bad -> good with ``r``),
    then the datagram is lost with ``loss_bad`` or ``loss_good``. Over a long run the
    loss rate is ``expected_loss``; losses come in bursts of mean length about ``1 / r``
    when ``loss_bad`` is 1. Presets: ``GilbertElliott.preset("wifi" | "cellular" |
    "congested")``.
    """

    p: float
    r: float
    loss_bad: float = 1.0
    loss_good: float = 0.0

    def __post_init__(self) -> None:
        for name in ("p", "r", "loss_bad", "loss_good"):
            _probability(name, getattr(self, name))
        if self.p + self.r == 0:
            raise ValueError("p and r cannot both be 0")

    @property
    def bad_fraction(self) -> float:
        """The long-run share of datagrams sent in the bad state: ``p / (p + r)``."""
        return self.p / (self.p + self.r)

    @property
    def expected_loss(self) -> float:
        """The long-run loss rate."""
        bad = self.bad_fraction
        return bad * self.loss_bad + (1 - bad) * self.loss_good

    @classmethod
    def preset(cls, name: str) -> GilbertElliott:
        """``"wifi"`` (~1.7% loss, short bursts), ``"cellular"`` (~6.8%), ``"congested"`` (~31%)."""
        try:
            return _PRESETS[name][0]
        except KeyError:
            raise ValueError(f"preset must be one of {', '.join(_PRESETS)}, got {name!r}") from None


@dataclass(frozen=True)
class Delay:
    """A delay distribution in ms: ``mean`` and ``jitter`` (spread), never below 0.

    ``uniform``: in [mean - jitter, mean + jitter]. ``normal``: mean ``mean``, standard
    deviation ``jitter``. ``pareto``: a heavy tail (shape ``alpha``) with mean ``mean``
    and minimum ``mean - jitter`` (``mean + jitter * ((alpha - 1) * X - alpha)`` for a
    Pareto ``X`` >= 1). Draws below 0 are clipped to 0.
    """

    mean: float
    jitter: float = 0.0
    distribution: str = "uniform"
    alpha: float = 2.5

    def __post_init__(self) -> None:
        if self.distribution not in _DISTRIBUTIONS:
            raise ValueError(
                f"distribution must be one of {', '.join(_DISTRIBUTIONS)}, "
                f"got {self.distribution!r}"
            )
        try:
            _finite("Delay mean (ms)", self.mean, 0.0, MAX_DELAY_MS)
            _finite("Delay jitter (ms)", self.jitter, 0.0, MAX_DELAY_MS)
            _finite("Delay alpha", self.alpha)
            if not self.alpha > 1:
                raise ValueError(f"Delay alpha must be > 1, got {self.alpha!r}")
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"invalid delay {self!r}: {exc}") from None

    def draw(self, rng: random.Random) -> float:
        """One delay in ms."""
        if self.distribution == "uniform":
            value = self.mean + self.jitter * (2 * rng.random() - 1)
        elif self.distribution == "normal":
            value = rng.gauss(self.mean, self.jitter)
        else:
            x = rng.paretovariate(self.alpha)
            value = self.mean + self.jitter * ((self.alpha - 1) * x - self.alpha)
        return min(max(0.0, value), MAX_DELAY_MS)  # (a normal draw can be far out too)


@dataclass(frozen=True)
class Link:
    """The model of one direction of a link (or of the whole network); see the module.

    ``loss``: a probability or a ``GilbertElliott``; ``delay``: a ``Delay`` (or
    ``(lo, hi)`` ms, uniform); ``duplicate``, ``reorder``, ``corrupt`` (one bit flipped),
    ``truncate`` (cut at a random length): probabilities per datagram; ``bandwidth`` in
    bits per second with a queue of ``queue`` datagrams (tail drop when it is full).
    """

    loss: Union[float, GilbertElliott, None] = None
    delay: Union[Delay, Tuple[float, float], None] = None
    duplicate: Optional[float] = None
    reorder: Optional[float] = None
    corrupt: float = 0.0
    truncate: float = 0.0
    bandwidth: Optional[float] = None
    queue: int = 64

    def __post_init__(self) -> None:
        if self.loss is not None and not isinstance(self.loss, GilbertElliott):
            _probability("loss", self.loss)
        if isinstance(self.delay, tuple):
            if len(self.delay) != 2:
                raise ValueError(f"delay must be (lo, hi) ms, got {self.delay!r}")
            low = _finite("delay lo (ms)", self.delay[0], 0.0, MAX_DELAY_MS)
            high = _finite("delay hi (ms)", self.delay[1], 0.0, MAX_DELAY_MS)
            if not low <= high:
                raise ValueError(f"delay must be (lo, hi) with 0 <= lo <= hi, got {self.delay!r}")
            middle = (low + high) / 2
            object.__setattr__(self, "delay", Delay(middle, high - middle))
        elif self.delay is not None and not isinstance(self.delay, Delay):
            raise TypeError(f"delay must be a Delay or (lo, hi) ms, got {self.delay!r}")
        for name in ("duplicate", "reorder", "corrupt", "truncate"):
            value = getattr(self, name)
            if value is not None:
                _probability(name, value)
        if self.bandwidth is not None:
            _finite("bandwidth (bits/s)", self.bandwidth)
            if not self.bandwidth > 0:
                raise ValueError(f"bandwidth must be > 0 bits/s, got {self.bandwidth!r}")
        if isinstance(self.queue, bool) or not isinstance(self.queue, int):
            raise TypeError(f"queue must be an int (datagrams), got {self.queue!r}")
        if self.queue < 1:
            raise ValueError(f"queue must be >= 1 datagram, got {self.queue!r}")

    @classmethod
    def preset(cls, name: str) -> Link:
        """A link like ``"wifi"``, ``"cellular"`` or ``"congested"``: bursty loss and delay."""
        GilbertElliott.preset(name)  # the error for an unknown name
        loss, delay = _PRESETS[name]
        return cls(loss=loss, delay=delay)

    # -- the random parts (network lock held) ---------------------------------------

    def lose(self, network: SimulatedNetwork, source: Address, destination: Address) -> bool:
        rng = network.links.stream(network, source, destination, "loss")
        if isinstance(self.loss, GilbertElliott):
            model = self.loss
            key = (source[0], destination[0])
            bad = network.links.bad_state.get(key, False)
            bad = (rng.random() >= model.r) if bad else (rng.random() < model.p)
            network.links.bad_state[key] = bad
            return rng.random() < (model.loss_bad if bad else model.loss_good)
        return rng.random() < float(self.loss or 0.0)

    def draw_delay(self, network: SimulatedNetwork, source: Address, destination: Address) -> float:
        assert isinstance(self.delay, Delay)
        return self.delay.draw(network.links.stream(network, source, destination, "delay"))

    def mangle(
        self,
        network: SimulatedNetwork,
        source: Address,
        destination: Address,
        payload: bytes,
        fate: Fate,
        seq: int,
    ) -> Optional[bytes]:
        """The payload corrupted or truncated (decisions added to ``fate``), or None."""
        if not (self.corrupt or self.truncate) or not payload:
            return None
        from ._schedule import Decision, flip_bit

        rng = network.links.stream(network, source, destination, "mangle")
        u_corrupt, u_bit, u_truncate, u_length = (rng.random() for _ in range(4))
        result = payload
        if u_corrupt < self.corrupt:
            bit = int(u_bit * len(payload) * 8)
            result = flip_bit(result, bit)
            fate.decisions.append(Decision(seq, "corrupt", 0, bit))
        if u_truncate < self.truncate:
            length = int(u_length * len(payload))
            result = result[:length]
            fate.decisions.append(Decision(seq, "truncate", 0, length))
        return result if result is not payload else None


_PRESETS: Dict[str, Tuple[GilbertElliott, Delay]] = {
    "wifi": (GilbertElliott(p=0.01, r=0.3, loss_bad=0.5, loss_good=0.001), Delay(5, 3)),
    "cellular": (
        GilbertElliott(p=0.02, r=0.2, loss_bad=0.7, loss_good=0.005),
        Delay(60, 30, "pareto"),
    ),
    "congested": (
        GilbertElliott(p=0.05, r=0.1, loss_bad=0.9, loss_good=0.02),
        Delay(150, 80, "normal"),
    ),
}


@dataclass(frozen=True)
class ScheduledPartition:
    """``a`` cannot reach ``b`` (and, ``both``, ``b`` not ``a``) from ``at`` for ``duration`` ms."""

    a: Tuple[object, Optional[int]]
    b: Tuple[object, Optional[int]]
    at: float
    duration: float
    both: bool

    def blocks(self, source: Address, destination: Address, now_ms: float) -> bool:
        if not self.at <= now_ms < self.at + self.duration:
            return False
        a, b = self.a, self.b
        forward = _matches(a, source) and _matches(b, destination)  # type: ignore[arg-type]
        backward = _matches(b, source) and _matches(a, destination)  # type: ignore[arg-type]
        return forward or (self.both and backward)


# One side of a per-link model: a host (its addresses), a subnet ("192.168.1.0/24") or an
# address ("127.0.0.2").
Side = Union[str, Any]


def _networks(side: Side) -> Tuple[Any, ...]:
    addresses = getattr(side, "addresses", None)
    if addresses is not None and not isinstance(side, str):  # a Host of the network
        texts = [text.split("/")[0] for text in addresses]
    elif isinstance(side, str):
        texts = [side]
    else:
        raise TypeError(f"a link's end is an address, a subnet or a host, got {side!r}")
    found = []
    for text in texts:
        network = ipaddress.ip_network(text, strict=False)
        if isinstance(network, ipaddress.IPv6Network) and "/" not in text:
            mapped = network.network_address.ipv4_mapped
            if mapped is not None:
                network = ipaddress.ip_network(mapped)
        found.append(network)
    return tuple(found)


def _inside(address: Any, networks: Tuple[Any, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


class Links:
    """The link models of one network: ``default``, per host pair or subnet, and state."""

    def __init__(self, default: Optional[Link] = None) -> None:
        self.default = default
        self._rules: List[Tuple[Tuple[Any, ...], Tuple[Any, ...], Link]] = []  # a, b, link
        self.partitions: List[ScheduledPartition] = []
        self.bad_state: Dict[Tuple[object, object], bool] = {}
        self._streams: Dict[Tuple[Address, Address, str], random.Random] = {}
        # Per direction: arrival-at-the-far-end times (ms) of what is in the queue.
        self._queues: Dict[Tuple[object, object], Deque[float]] = {}

    def set(self, a: Side, b: Side, link: Optional[Link], *, both: bool = True) -> None:
        """Model traffic from ``a`` to ``b`` (and back, ``both``) with ``link``.

        ``a`` and ``b`` are each an address (``"127.0.0.2"``), a subnet
        (``"192.168.1.0/24"``) or a host (``network.add_host(...)``). The latest rule that
        matches a datagram wins; ``link=None`` removes the rules between ``a`` and ``b``.
        """
        first, second = _networks(a), _networks(b)
        pairs = [(first, second)] + ([(second, first)] if both else [])
        self._rules = [rule for rule in self._rules if (rule[0], rule[1]) not in pairs]
        if link is not None:
            self._rules.extend((x, y, link) for x, y in pairs)

    @property
    def rules(self) -> bool:
        """Whether any per-pair model is set (else every datagram takes ``default``)."""
        return bool(self._rules)

    @property
    def shaping(self) -> bool:
        """Whether any link has a bandwidth (the network then queues its datagrams)."""
        if self.default is not None and self.default.bandwidth is not None:
            return True
        return any(link.bandwidth is not None for _, _, link in self._rules)

    def model_for(self, source: Address, destination: Address) -> Optional[Link]:
        """The link that carries ``source`` -> ``destination``."""
        for first, second, link in reversed(self._rules):
            if _inside(source[0], first) and _inside(destination[0], second):
                found: Link = link
                return found
        return self.default

    def stream(
        self, network: SimulatedNetwork, source: Address, destination: Address, purpose: str
    ) -> random.Random:
        key = (source, destination, purpose)
        rng = self._streams.get(key)
        if rng is None:
            ends = f"{source[0]}|{source[1]}|{destination[0]}|{destination[1]}"
            rng = self._streams[key] = random.Random(f"{network.seed}|link|{purpose}|{ends}")
        return rng

    def schedule_partition(
        self, a: PartitionSpec, b: PartitionSpec, at: float, duration: float, *, both: bool = True
    ) -> ScheduledPartition:
        """Partition ``a`` from ``b`` at virtual ``at`` ms for ``duration`` ms (``both`` ways)."""
        if not (at >= 0 and duration >= 0):
            raise ValueError(f"at and duration must be >= 0 ms, got {at!r}, {duration!r}")
        partition = ScheduledPartition(as_spec(a), as_spec(b), float(at), float(duration), both)
        self.partitions.append(partition)
        return partition

    def partitioned(self, source: Address, destination: Address, now_ms: float) -> bool:
        return any(p.blocks(source, destination, now_ms) for p in self.partitions)

    def shape(
        self, source: Address, destination: Address, size: int, now_ms: float
    ) -> Optional[float]:
        """Queue a datagram on a bandwidth-limited link: its extra delay (ms); None: tail drop."""
        link = self.model_for(source, destination)
        if link is None or link.bandwidth is None:
            return 0.0
        key = (source[0], destination[0])  # one queue per direction between two addresses
        queue = self._queues.setdefault(key, collections.deque())
        while queue and queue[0] <= now_ms:
            queue.popleft()
        if len(queue) >= link.queue:
            return None
        start = queue[-1] if queue else now_ms
        done = start + (size + 28) * 8 / link.bandwidth * 1000.0
        queue.append(done)
        return done - now_ms
