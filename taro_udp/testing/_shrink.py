"""Shrinking a failing schedule to the few fault decisions that matter.

``shrink(schedule, attempt)`` minimises a ``Schedule`` while ``attempt(candidate)``
still fails the same way: first the fewest decisions (delta debugging, ddmin: try
each chunk alone, then without each chunk, halving the chunks; then each decision of
the original alone, at its delay, half and a quarter of it, since one decision at a
shorter delay can do what two do), then each remaining delay as small as it can be (a
binary search over whole milliseconds). ``attempt`` runs the test on the candidate and
returns the schedule that run actually recorded (a candidate can shrink further when a
removed fault removes a retry and the decisions meant for it), or None when the run
passed or failed another way.

Two engines: ``engine="ddmin"`` (the default) is the above; ``engine="hypothesis"``
hands the search to Hypothesis's choice-sequence shrinker through its public API
(``hypothesis.find``, derandomized, over one keep-flag and one delay per decision),
which must first find a failing example by generating and then shrinks it.
``bench/swarm_bench.py`` measures both on a 41-decision schedule: ddmin 38 runs,
0.06 s, 1 decision left; Hypothesis 63 runs, 0.9 s, 1 left. Hypothesis is the
well-kept engine, but on this problem (a set of independent decisions) the home-made
search is as small and about 15 times faster, and under pytest every run is a whole
test protocol; so ddmin is the default and ``--taro-udp-shrink hypothesis`` the option.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple

from ._schedule import Decision, Schedule

__all__ = ["Shrunk", "shrink"]

Attempt = Callable[[Schedule], Optional[Schedule]]


class Shrunk:
    """The result of ``shrink``: the ``schedule`` and how many ``runs`` it took."""

    def __init__(self, schedule: Schedule, runs: int) -> None:
        self.schedule = schedule
        self.runs = runs

    def __repr__(self) -> str:
        return f"<Shrunk {len(self.schedule)} decisions after {self.runs} runs: {self.schedule}>"


class _Search:
    def __init__(self, attempt: Attempt, budget: int) -> None:
        self.attempt = attempt
        self.budget = budget
        self.runs = 0
        self.seen: set[Schedule] = set()

    def fails(self, decisions: List[Decision]) -> Optional[Schedule]:
        candidate = Schedule(tuple(sorted(decisions)))
        if candidate in self.seen or self.runs >= self.budget:
            return None
        self.seen.add(candidate)
        self.runs += 1
        return self.attempt(candidate)


def _ddmin(search: _Search, current: Schedule) -> Schedule:
    chunks = 2
    while len(current) >= 1 and search.runs < search.budget:
        decisions = list(current.decisions)
        size = max(1, -(-len(decisions) // chunks))
        parts = [decisions[i : i + size] for i in range(0, len(decisions), size)]
        reduced = None
        for part in parts:  # one chunk alone
            reduced = search.fails(part) if len(parts) > 1 else None
            if reduced is not None:
                chunks = 2
                break
        if reduced is None:
            for index in range(len(parts)):  # everything but one chunk
                rest = [d for i, part in enumerate(parts) if i != index for d in part]
                reduced = search.fails(rest)
                if reduced is not None:
                    chunks = max(chunks - 1, 2)
                    break
        if reduced is not None:
            current = reduced  # a subset of the candidate: strictly smaller
            continue
        if size == 1:
            break
        chunks = min(len(decisions), chunks * 2)
    return current


def _delay(schedule: Schedule, seq: int, copy: int) -> Optional[Decision]:
    for decision in schedule.decisions:
        if (decision.seq, decision.kind, decision.copy) == (seq, "delay", copy):
            return decision
    return None


def _smaller_delays(search: _Search, current: Schedule) -> Schedule:
    keys = [(d.seq, d.copy) for d in current.decisions if d.kind == "delay"]
    for seq, copy in keys:
        decision = _delay(current, seq, copy)
        if decision is None:
            continue
        low, high = 0, int(decision.value) + 1  # 0 was tried (removal); high fails
        while high - low > 1 and search.runs < search.budget:
            middle = (low + high) // 2
            trial = [d for d in current.decisions if d is not decision]
            trial.append(Decision(seq, "delay", copy, float(middle)))
            reduced = search.fails(trial)
            if reduced is None:
                low = middle
                continue
            current, high = reduced, middle
            decision = _delay(current, seq, copy)
            if decision is None:  # that datagram is no longer delayed at all
                break
    return current


def shrink(
    schedule: Schedule, attempt: Attempt, *, budget: int = 2000, engine: str = "ddmin"
) -> Shrunk:
    """Minimise ``schedule`` while ``attempt`` fails the same way (see the module)."""
    if engine == "hypothesis":
        return _hypothesis(schedule, attempt, budget)
    if engine != "ddmin":
        raise ValueError(f'engine must be "ddmin" or "hypothesis", got {engine!r}')
    search = _Search(attempt, budget)
    search.seen.add(schedule)
    current = _ddmin(search, schedule)
    current = _alone(search, schedule, current)
    current = _smaller_delays(search, current)
    return Shrunk(current, search.runs)


def _alone(search: _Search, original: Schedule, current: Schedule) -> Schedule:
    # ddmin keeps a set no single removal breaks; one decision of the original at a
    # shorter delay may still do alone what two do (a late reply that needs another
    # delay to keep the run going, or one delay just long enough). Try each alone, at
    # its delay and at a half and a quarter of it: at most three runs per decision.
    if len(current) <= 1:
        return current
    for decision in original.decisions:
        values = [decision.value]
        if decision.kind == "delay":
            values += [float(int(decision.value / 2)), float(int(decision.value / 4))]
        for value in values:
            if value <= 0 and decision.kind == "delay":
                continue
            trial = Decision(decision.seq, decision.kind, decision.copy, value)
            reduced = search.fails([trial])
            if reduced is not None and len(reduced) < len(current):
                return reduced
    return current


def _hypothesis(schedule: Schedule, attempt: Attempt, budget: int) -> Shrunk:
    try:
        from hypothesis import HealthCheck, Phase, find, settings
        from hypothesis import strategies as st
        from hypothesis.errors import NoSuchExample
    except ImportError:  # pragma: no cover - hypothesis is in the test extra
        raise RuntimeError(
            'engine="hypothesis" needs Hypothesis: pip install "taro_udp[test]"'
        ) from None
    decisions = schedule.decisions
    parts = [
        st.tuples(st.booleans(), st.integers(0, int(d.value)) if d.kind == "delay" else st.just(0))
        for d in decisions
    ]
    recorded: dict[Tuple[Tuple[bool, int], ...], Schedule] = {}
    runs = [0]

    def fails(choice: Tuple[Tuple[bool, int], ...]) -> bool:
        kept = []
        for decision, (keep, delay) in zip(decisions, choice):
            if keep:
                if decision.kind == "delay":
                    decision = Decision(decision.seq, "delay", decision.copy, float(delay))
                kept.append(decision)
        runs[0] += 1
        result = attempt(Schedule(tuple(sorted(kept))))
        if result is not None:
            recorded[choice] = result
        return result is not None

    options = settings(
        database=None,
        derandomize=True,  # the same shrink every time, like the rest of a swarm
        max_examples=budget,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    try:
        found = find(st.tuples(*parts), fails, settings=options)
    except NoSuchExample:  # it never generated a failing example: nothing shrunk
        return Shrunk(schedule, runs[0])
    return Shrunk(recorded.get(found) or schedule, runs[0])
