"""Shrinking a failing schedule to the few fault decisions that matter.

``shrink(schedule, attempt)`` minimises a ``Schedule`` while ``attempt(candidate)``
still fails the same way: first the fewest decisions (delta debugging, ddmin: try
each chunk alone, then without each chunk, halving the chunks), then each remaining
delay as small as it can be (a binary search over whole milliseconds). ``attempt``
runs the test on the candidate and returns the schedule that run actually recorded
(a candidate can shrink further when a removed fault removes a retry and the
decisions meant for it), or None when the run passed or failed another way.

Why not Hypothesis's shrinker: its public API (``find``, ``@given``) cannot start from
a failure found elsewhere (here: a seed of the swarm), it would first have to find it
again by generating; its choice-sequence shrinker is reachable only through
``hypothesis.internal.conjecture``, whose representation changed within the versions
this package supports (bytes, then typed choices). On this problem, a list of
independent decisions whose order does not matter, ddmin needs ``O(k log n)`` runs for
``k`` relevant decisions out of ``n``; ``bench/swarm_bench.py`` measures it.
"""

from __future__ import annotations

from typing import Callable, List, Optional

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


def shrink(schedule: Schedule, attempt: Attempt, *, budget: int = 2000) -> Shrunk:
    """Minimise ``schedule`` while ``attempt`` fails the same way (see the module)."""
    search = _Search(attempt, budget)
    search.seen.add(schedule)
    current = _ddmin(search, schedule)
    current = _smaller_delays(search, current)
    return Shrunk(current, search.runs)
