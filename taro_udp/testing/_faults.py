"""Faults: the settings of a simulated network that a test may change at any moment.

Loss, duplication and reordering probabilities, the delay range, the MTU and the
partitions, each validated when set and read under the network's lock, so a test can
change them while other threads send: a datagram sees the settings of the moment it is
sent.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from typing import List, Optional, Tuple, Union

from ._addressing import Address, IPAddress

__all__ = ["Faults", "PartitionSpec", "as_spec"]

# What ``partition``/``heal`` accept: a host ("127.0.0.2") or a host and port.
PartitionSpec = Union[str, Tuple[str, int]]
_Spec = Tuple[IPAddress, Optional[int]]
# The longest delay of a datagram in ms (one day; _links.MAX_DELAY_MS is the same).
_MAX_DELAY_MS = 86_400_000.0


def as_spec(value: PartitionSpec) -> _Spec:
    """Normalise a host or (host, port) naming one side of a partition."""
    if isinstance(value, tuple):
        host, port = value
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port <= 65535:
            raise ValueError(f"port must be 1–65535, got {port!r}")
    else:
        host, port = value, None
    if not isinstance(host, str):
        raise TypeError(f"address must be a str or (str, int), got {value!r}")
    parsed = ipaddress.ip_address(host)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return (parsed, port)


def _matches(spec: _Spec, endpoint: Address) -> bool:
    return spec[0] == endpoint[0] and (spec[1] is None or spec[1] == endpoint[1])


def _probability(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a probability between 0 and 1, got {value!r}")
    return float(value)


class Faults:
    """The fault settings of a ``SimulatedNetwork`` (its base class)."""

    lock: threading.Lock

    def __init__(
        self,
        loss: float,
        duplicate: float,
        reorder: float,
        delay: Tuple[float, float],
        mtu: Optional[int],
        reorder_window: float,
    ) -> None:
        self._partitions: List[Tuple[_Spec, _Spec]] = []
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder
        self.delay = delay
        self.mtu = mtu
        self.reorder_window = reorder_window

    @property
    def loss(self) -> float:
        """Probability that a datagram is lost."""
        return self._loss

    @loss.setter
    def loss(self, value: float) -> None:
        checked = _probability("loss", value)
        with self.lock:
            self._loss = checked

    @property
    def duplicate(self) -> float:
        """Probability that a datagram that is not lost arrives twice."""
        return self._duplicate

    @duplicate.setter
    def duplicate(self, value: float) -> None:
        checked = _probability("duplicate", value)
        with self.lock:
            self._duplicate = checked

    @property
    def reorder(self) -> float:
        """Probability that a datagram is held back until the next one of its flow passes."""
        return self._reorder

    @reorder.setter
    def reorder(self, value: float) -> None:
        checked = _probability("reorder", value)
        with self.lock:
            self._reorder = checked

    @property
    def delay(self) -> Tuple[float, float]:
        """``(lo, hi)``: each copy is delayed by a uniform draw in [lo, hi] milliseconds."""
        return self._delay

    @delay.setter
    def delay(self, value: Tuple[float, float]) -> None:
        try:
            low, high = (float(part) for part in value)
        except (TypeError, ValueError):
            raise ValueError(f"delay must be (lo, hi) milliseconds, got {value!r}") from None
        if not (math.isfinite(high) and 0 <= low <= high <= _MAX_DELAY_MS):
            raise ValueError(
                f"delay must be (lo, hi) finite milliseconds with 0 <= lo <= hi <= "
                f"{_MAX_DELAY_MS:g} (a day), got {value!r}"
            )
        with self.lock:
            self._delay = (low, high)

    @property
    def mtu(self) -> Optional[int]:
        """Largest IP packet (headers included) that gets through; None: no limit."""
        return self._mtu

    @mtu.setter
    def mtu(self, value: Optional[int]) -> None:
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 68 <= value <= 65535
        ):
            raise ValueError(f"mtu must be None or 68–65535 bytes, got {value!r}")
        with self.lock:
            self._mtu = value

    @property
    def reorder_window(self) -> float:
        """Milliseconds a reordered datagram waits to be overtaken before it goes anyway."""
        return self._reorder_window

    @reorder_window.setter
    def reorder_window(self, value: float) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not 0 <= value <= _MAX_DELAY_MS
        ):
            raise ValueError(
                f"reorder_window must be finite, 0–{_MAX_DELAY_MS:g} milliseconds, got {value!r}"
            )
        with self.lock:
            self._reorder_window = float(value)

    # -- partitions ----------------------------------------------------------------------

    def partition(self, a: PartitionSpec, b: PartitionSpec) -> None:
        """Drop every datagram between ``a`` and ``b``, both ways, until ``heal``.

        Each side is a host (``"127.0.0.2"``: every port) or ``(host, port)``. A socket
        bound to the wildcard address sends from 127.0.0.1 (or ::1).
        """
        pair = (as_spec(a), as_spec(b))
        with self.lock:
            if pair not in self._partitions:
                self._partitions.append(pair)

    def heal(self, a: Optional[PartitionSpec] = None, b: Optional[PartitionSpec] = None) -> None:
        """Remove the partition between ``a`` and ``b``; every one of ``a``'s; or all."""
        if a is None and b is not None:
            a, b = b, None
        first = as_spec(a) if a is not None else None
        second = as_spec(b) if b is not None else None
        with self.lock:
            if first is None:
                self._partitions = []
            elif second is None:
                self._partitions = [pair for pair in self._partitions if first not in pair]
            else:
                healed = ((first, second), (second, first))
                self._partitions = [pair for pair in self._partitions if pair not in healed]

    @property
    def partitions(self) -> List[Tuple[Tuple[str, Optional[int]], Tuple[str, Optional[int]]]]:
        """The partitions in force, as ``((host, port or None), (host, port or None))``."""
        with self.lock:
            return [((str(a[0]), a[1]), (str(b[0]), b[1])) for a, b in self._partitions]

    def _is_partitioned(self, source: Address, destination: Address) -> bool:
        # Called with the lock held.
        for a, b in self._partitions:
            if (_matches(a, source) and _matches(b, destination)) or (
                _matches(b, source) and _matches(a, destination)
            ):
                return True
        return False
