"""Properties across runs, after Antithesis: ``always`` and ``sometimes``.

``always(predicate, "message")`` checks ``predicate()`` now and after every round of the
event loop under virtual time (every arrival, every timer): the first time it is false
the drive that was running ends with ``PropertyViolationError`` naming the message and the
virtual time, and the test fails. ``sometimes(predicate, "message")`` must hold at one
of those moments in at least one run of a swarm (``--taro-udp-swarm N``): a swarm in
which no run ever took the retry path says so in its summary and fails. Both attach to
the active ``SimulatedNetwork`` (or the one given) and run on the event thread, so a
predicate should read the program's state, not wait for anything.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Callable, Dict, List, Optional

from ._virtual import VirtualTimeError

if TYPE_CHECKING:
    from ._network import SimulatedNetwork

__all__ = ["PropertyViolationError", "always", "properties_of", "sometimes"]


class PropertyViolationError(VirtualTimeError):
    """An ``always`` property was false at some moment of a run."""


class Properties:
    """The properties of one network: violations of ``always``, which ``sometimes`` held."""

    def __init__(self) -> None:
        self.violations: List[str] = []
        self.sometimes: Dict[str, bool] = {}
        self.finals: List[Callable[[], None]] = []

    def final_check(self) -> None:
        """Check the ``sometimes`` properties once more, at the end of the run."""
        for check in self.finals:
            check()


_registry: weakref.WeakKeyDictionary[SimulatedNetwork, Properties] = weakref.WeakKeyDictionary()


def properties_of(network: SimulatedNetwork) -> Properties:
    """The ``Properties`` of ``network`` (made empty on first use)."""
    found = _registry.get(network)
    if found is None:
        found = _registry[network] = Properties()
    return found


def _network(network: Optional[SimulatedNetwork]) -> SimulatedNetwork:
    from ._network import active_network

    found = network or active_network()
    if found is None:
        raise RuntimeError("always()/sometimes() need an active SimulatedNetwork")
    return found


def _holds(predicate: Callable[[], object]) -> tuple[bool, str]:
    try:
        return bool(predicate()), ""
    except Exception as exc:  # noqa: BLE001 -- a predicate that raises does not hold: say why
        return False, f" (the predicate raised {type(exc).__name__}: {exc})"


def _where(network: SimulatedNetwork) -> str:
    return f"t={network._now_ms():.0f} ms"


def always(
    predicate: Callable[[], object], message: str, *, network: Optional[SimulatedNetwork] = None
) -> None:
    """Require ``predicate()`` at every event of this run (see the module)."""
    net = _network(network)
    props = properties_of(net)

    def check() -> None:
        if props.violations and props.violations[-1].startswith(f"always: {message!r}"):
            return  # reported once
        ok, why = _holds(predicate)
        if not ok:
            text = f"always: {message!r} was false at {_where(net)}{why}"
            props.violations.append(text)
            raise PropertyViolationError(text)

    check()
    net.checks.append(check)


def sometimes(
    predicate: Callable[[], object], message: str, *, network: Optional[SimulatedNetwork] = None
) -> None:
    """Note whether ``predicate()`` holds at some event of this run (see the module)."""
    net = _network(network)
    props = properties_of(net)
    props.sometimes.setdefault(message, False)

    def check() -> None:
        if not props.sometimes[message] and _holds(predicate)[0]:
            props.sometimes[message] = True

    check()
    net.checks.append(check)
    props.finals.append(check)
