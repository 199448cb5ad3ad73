"""Swarm testing: run one test under many seeds and fault mixes, and shrink each failure.

Each run of a swarm has its own seed, and the seed alone decides the run: the network's
seed and the *mix*, a random subset of the fault kinds at random strengths (swarm
testing, Groce et al. 2012: a run with only duplication finds what a run with every
fault at once drowns). The default kinds are loss, duplication, reordering and delay;
corruption and truncation are opt-in (``kinds=ALL_KINDS``), since they change what a
correct program sees. Every run is under virtual time.

``Swarm(test)`` runs ``test(network)`` in-process (the engine of the pytest option
``--taro-udp-swarm N``, see ``_swarm_plugin``, and of ``bench/swarm_bench.py``): a run
fails when ``test`` raises; two failures are "the same" when the exception type and the
innermost line of the program that raised it are the same. ``Swarm.shrink(result)``
minimises the failing run's schedule (see ``_shrink``) and ``describe`` tells it on the
virtual timeline, in words.
"""

from __future__ import annotations

import random
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ._links import Link
from ._network import SimulatedNetwork, TraceEvent
from ._properties import properties_of
from ._records import DatagramRecord
from ._schedule import Schedule
from ._shrink import Shrunk, shrink

__all__ = [
    "ALL_KINDS",
    "DEFAULT_KINDS",
    "DEFAULT_RANGES",
    "Failure",
    "Mix",
    "RunResult",
    "Swarm",
    "SwarmReport",
    "describe",
    "draw_mix",
]

DEFAULT_KINDS = ("loss", "duplicate", "reorder", "delay")
ALL_KINDS = (*DEFAULT_KINDS, "corrupt", "truncate")
# Strength ranges: probabilities, except delay (the upper bound of a uniform delay, ms).
DEFAULT_RANGES: Dict[str, Tuple[float, float]] = {
    "loss": (0.0, 0.5),
    "duplicate": (0.0, 0.3),
    "reorder": (0.0, 0.3),
    "delay": (0.0, 800.0),
    "corrupt": (0.0, 0.2),
    "truncate": (0.0, 0.2),
}


@dataclass(frozen=True)
class Mix:
    """The fault kinds of one run and their strengths (``delay``: its upper bound, ms)."""

    strengths: Tuple[Tuple[str, float], ...]

    def network_options(self) -> Dict[str, Any]:
        """``SimulatedNetwork`` keyword arguments for this mix."""
        values = dict(self.strengths)
        options: Dict[str, Any] = {
            name: values[name] for name in ("loss", "duplicate", "reorder") if name in values
        }
        if "delay" in values:
            options["delay"] = (0.0, values["delay"])
        if "corrupt" in values or "truncate" in values:
            options["link"] = Link(
                corrupt=values.get("corrupt", 0.0), truncate=values.get("truncate", 0.0)
            )
        return options

    def __str__(self) -> str:
        parts = []
        for name, value in self.strengths:
            if name == "delay":
                parts.append(f"delay 0–{value:.0f} ms")
            else:
                parts.append(f"{name} {value:.0%}")
        return ", ".join(parts) or "no faults"


def draw_mix(
    seed: Union[int, str],
    kinds: Sequence[str] = DEFAULT_KINDS,
    ranges: Optional[Dict[str, Tuple[float, float]]] = None,
) -> Mix:
    """The mix of run ``seed``: each kind in with probability 1/2 (at least one)."""
    bounds = dict(DEFAULT_RANGES, **(ranges or {}))
    unknown = [kind for kind in kinds if kind not in bounds]
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}: choose from {', '.join(ALL_KINDS)}")
    if not kinds:
        return Mix(())
    rng = random.Random(f"taro_udp swarm mix|{seed}")
    chosen = [kind for kind in kinds if rng.random() < 0.5] or [rng.choice(list(kinds))]
    strengths = []
    for kind in chosen:
        low, high = bounds[kind]
        strengths.append((kind, round(rng.uniform(low, high), 3)))
    return Mix(tuple(strengths))


@dataclass(frozen=True)
class Failure:
    """How a run failed: ``kind`` (the exception type), ``where`` (file:line), ``message``."""

    kind: str
    where: str
    message: str

    @property
    def signature(self) -> Tuple[str, str]:
        """What must stay equal for a shrunk run to fail "the same way"."""
        return (self.kind, self.where)

    def __str__(self) -> str:
        return f"{self.kind} at {self.where}: {self.message}"


def failure_of(exc: BaseException) -> Failure:
    """The ``Failure`` an exception stands for (its innermost frame outside taro_udp)."""
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if "/taro_udp/testing/" not in f.filename.replace("\\", "/")]
    chosen = inside or frames
    where = f"{chosen[-1].filename}:{chosen[-1].lineno}" if chosen else "?"
    lines = str(exc).strip().splitlines()
    return Failure(type(exc).__name__, where, lines[0] if lines else "")


@dataclass
class RunResult:
    """One run of a swarm: its seed, mix, failure (None: passed) and records."""

    seed: Union[int, str]
    mix: Mix
    failure: Optional[Failure]
    schedule: Schedule
    datagrams: List[DatagramRecord] = field(default_factory=list)
    trace: List[TraceEvent] = field(default_factory=list)
    sometimes: Dict[str, bool] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.failure is not None


@dataclass
class SwarmReport:
    """The runs of a swarm, the failing ones, and the ``sometimes`` never satisfied."""

    runs: List[RunResult]

    @property
    def failures(self) -> List[RunResult]:
        return [run for run in self.runs if run.failed]

    @property
    def sometimes(self) -> Dict[str, int]:
        """Each ``sometimes`` message and in how many runs it held."""
        counts: Dict[str, int] = {}
        for run in self.runs:
            for message, held in run.sometimes.items():
                counts[message] = counts.get(message, 0) + int(held)
        return counts

    @property
    def never(self) -> List[str]:
        """The ``sometimes`` messages that held in no run."""
        return [message for message, count in self.sometimes.items() if not count]

    def summary(self) -> str:
        """One paragraph: runs, failures (seeds), properties."""
        failing = self.failures
        lines = [f"{len(self.runs)} runs, {len(failing)} failed"]
        if failing:
            seeds = ", ".join(str(run.seed) for run in failing[:10])
            lines[0] += f" (seeds {seeds}{', ...' if len(failing) > 10 else ''})"
        for message, count in self.sometimes.items():
            state = "NEVER held" if not count else f"held in {count} runs"
            lines.append(f"sometimes {message!r}: {state}")
        return "\n".join(lines)


def _run(
    test: Callable[[SimulatedNetwork], object],
    seed: Union[int, str],
    mix: Mix,
    options: Dict[str, Any],
    schedule: Optional[Schedule],
) -> RunResult:
    merged = dict(mix.network_options(), **options)
    failure: Optional[Failure] = None
    with SimulatedNetwork(seed, virtual_time=True, schedule=schedule, **merged) as network:
        try:
            test(network)
        except Exception as exc:  # noqa: BLE001 - a failing run is a result, not an error
            failure = failure_of(exc)
        props = properties_of(network)
        props.final_check()
        if failure is None and props.violations:
            failure = Failure("PropertyViolationError", "always", props.violations[0])
    return RunResult(
        seed,
        mix,
        failure,
        network.schedule,
        network.datagrams,
        network.trace,
        dict(props.sometimes),
    )


class Swarm:
    """Run ``test(network)`` under many seeds (see the module); ``kinds``/``ranges``: the mixes.

    ``options`` are more ``SimulatedNetwork`` arguments for every run (they win over
    the mix). ``test`` must close the sockets it opens.
    """

    def __init__(
        self,
        test: Callable[[SimulatedNetwork], object],
        *,
        kinds: Sequence[str] = DEFAULT_KINDS,
        ranges: Optional[Dict[str, Tuple[float, float]]] = None,
        **options: Any,
    ) -> None:
        self.test = test
        self.kinds = tuple(kinds)
        self.ranges = ranges
        self.options = options
        draw_mix(0, self.kinds, ranges)  # unknown kinds fail here, not in run 1

    def mix(self, seed: Union[int, str]) -> Mix:
        """The mix of run ``seed``."""
        return draw_mix(seed, self.kinds, self.ranges)

    def run_one(self, seed: Union[int, str], schedule: Optional[Schedule] = None) -> RunResult:
        """Run ``seed`` once; with ``schedule``, its faults are that schedule's."""
        return _run(self.test, seed, self.mix(seed), self.options, schedule)

    def run(
        self, runs: int = 200, *, seeds: Optional[Iterable[Union[int, str]]] = None
    ) -> SwarmReport:
        """Run seeds 1..``runs`` (or ``seeds``) and report."""
        chosen = list(seeds) if seeds is not None else list(range(1, runs + 1))
        return SwarmReport([self.run_one(seed) for seed in chosen])

    def shrink(
        self, result: RunResult, *, budget: int = 2000, engine: str = "ddmin"
    ) -> Tuple[Shrunk, RunResult]:
        """Minimise ``result``'s schedule; return it and the run of the shrunk schedule.

        ``engine``: ``"ddmin"`` or ``"hypothesis"`` (see ``taro_udp.testing._shrink``).
        """
        if result.failure is None:
            raise ValueError("only a failing run can be shrunk")
        wanted = result.failure.signature
        last: Dict[Schedule, RunResult] = {}

        def attempt(candidate: Schedule) -> Optional[Schedule]:
            run = self.run_one(result.seed, candidate)
            if run.failure is None or run.failure.signature != wanted:
                return None
            last[run.schedule] = run
            return run.schedule

        shrunk = shrink(result.schedule, attempt, budget=budget, engine=engine)
        final = last.get(shrunk.schedule) or self.run_one(result.seed, shrunk.schedule)
        return shrunk, final


# -- telling a run in words -----------------------------------------------------------


def _preview(payload: bytes, limit: int = 24) -> str:
    text = payload[:limit]
    if all(32 <= byte < 127 for byte in text):
        shown = text.decode("ascii")
        return f'"{shown}{"..." if len(payload) > limit else ""}"'
    return f"{len(payload)} bytes {text[:8].hex()}{'...' if len(payload) > 8 else ''}"


def _ms(ns: int) -> str:
    value = ns / 1e6
    return f"t={value:.0f} ms" if value == int(value) else f"t={value:.3f} ms"


_VERBS = {"lose": "lost", "duplicate": "duplicated", "reorder": "held back (reordered)"}


def describe(run: RunResult, *, context: int = 3) -> str:
    """The run's fault decisions in words on the virtual timeline, and the trace around them.

    ``t=210 ms datagram #4 127.0.0.2:5566 → 127.0.0.1:40001 "CONNECT_OK" lost``
    """
    sends: Dict[int, int] = {}
    for index, (_, kind, details) in enumerate(run.trace):
        if kind == "send":
            sends.setdefault(details[0], index)
    records = {record.seq: record for record in run.datagrams}
    lines = []
    for decision in run.schedule.decisions:
        record = records.get(decision.seq)
        if record is None:
            lines.append(f"datagram #{decision.seq} (never sent): {decision}")
            continue
        ns = run.trace[sends[decision.seq]][0] if decision.seq in sends else 0
        verb = _VERBS.get(decision.kind)
        if verb is None and decision.kind == "delay":
            which = "second copy " if decision.copy else ""
            verb = f"{which}delayed {decision.value:g} ms"
        elif verb is None and decision.kind == "corrupt":
            verb = f"corrupted (bit {decision.value:.0f} flipped)"
        elif verb is None:
            verb = f"truncated to {decision.value:.0f} bytes"
        source, destination = record.source, record.destination
        lines.append(
            f"{_ms(ns)} datagram #{decision.seq} {source[0]}:{source[1]} → "
            f"{destination[0]}:{destination[1]} {_preview(record.payload)} {verb}"
        )
    shown = sorted(
        {
            index
            for seq in {d.seq for d in run.schedule.decisions}
            if seq in sends
            for index in range(sends[seq] - context, sends[seq] + 2 * context + 1)
            if 0 <= index < len(run.trace)
        }
    )
    if shown:
        lines.append("trace around them:")
        faulted = {d.seq for d in run.schedule.decisions}
        previous = None
        for index in shown:
            if previous is not None and index != previous + 1:
                lines.append("    ...")
            previous = index
            lines.append(_event_line(run.trace[index], records, faulted))
    return "\n".join(lines)


def _event_line(
    event: TraceEvent, records: Dict[int, DatagramRecord], faulted: Iterable[int]
) -> str:
    ns, kind, details = event
    if kind == "send":
        seq, src, sport, dst, dport, _size, fate, reason, delays, reordered = details[:10]
        record = records.get(seq)
        payload = f" {_preview(record.payload)}" if record is not None else ""
        what = fate + (f" ({reason})" if reason else "")
        if delays and any(delays):
            what += f", delay {'/'.join(f'{d:g}' for d in delays)} ms"
        if reordered:
            what += ", reordered"
        receiver = details[10] if len(details) > 10 and details[10] else None
        if receiver:
            what += f", to host {receiver}"
        mark = "*" if seq in faulted else " "
        return f"  {mark} {_ms(ns)} send #{seq} {src}:{sport} → {dst}:{dport}{payload}: {what}"
    if kind == "arrive":
        seq, copy, outcome, _count, out_of_order = details[:5]
        late = ", out of order" if out_of_order else ""
        return f"    {_ms(ns)} arrive #{seq} copy {copy}: {outcome}{late}"
    return f"    {_ms(ns)} {kind} {' '.join(str(part) for part in details)}"
