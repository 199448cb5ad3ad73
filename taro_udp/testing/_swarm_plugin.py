"""The pytest side of swarm testing: ``--taro-udp-swarm N``, ``--taro-udp-seed S``, markers.

Imported by the plugin's hooks and fixtures only when a network test runs, so that
loading the plugin stays free. A test is *swarmable* when it uses the
``simulated_network`` or ``virtual_network`` fixture, unless it is marked
``@pytest.mark.taro_udp_swarm(False)``, replays a schedule (``taro_udp_replay``), or
fixes the network's parameters itself (indirect parametrisation) without the marker.

``@pytest.mark.taro_udp_swarm(kinds=("loss", "delay"), delay=(0, 300), runs=50)``
chooses the fault kinds, their ranges and the number of runs.
``@pytest.mark.taro_udp_replay("#3 delay 150", seed=17)`` runs a test once on that
schedule (a regression test of a shrunk failure).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

import pytest
from _pytest.reports import TestReport
from _pytest.runner import runtestprotocol

from ._network import SimulatedNetwork, TraceEvent
from ._properties import properties_of
from ._records import DatagramRecord
from ._schedule import Schedule
from ._shrink import shrink
from ._swarm import (
    ALL_KINDS,
    DEFAULT_KINDS,
    Failure,
    Mix,
    RunResult,
    SwarmReport,
    describe,
    draw_mix,
)

__all__ = ["after_run", "network_options", "plan_for", "protocol", "replay", "summary_lines"]

NETWORK_FIXTURES = ("simulated_network", "virtual_network")
SHRINK_BUDGET = 400  # test runs at most for one shrink (the test's timeout bounds it too)


@dataclass(frozen=True)
class Plan:
    """How a swarmable test is swarmed."""

    kinds: Tuple[str, ...]
    ranges: Dict[str, Tuple[float, float]]
    runs: Optional[int]

    def mix(self, seed: int) -> Mix:
        return draw_mix(seed, self.kinds, self.ranges)


@dataclass
class _Run:
    """What the swarm asks of the fixture for one run."""

    seed: int
    mix: Mix
    schedule: Optional[Schedule]


@dataclass
class _Capture:
    """What the fixture leaves of one run."""

    schedule: Schedule = field(default_factory=Schedule)
    datagrams: List[DatagramRecord] = field(default_factory=list)
    trace: List[TraceEvent] = field(default_factory=list)
    sometimes: Dict[str, bool] = field(default_factory=dict)


_RUN = pytest.StashKey[_Run]()
_CAPTURE = pytest.StashKey[_Capture]()
_SUMMARY = pytest.StashKey[List[str]]()
_PLAN_ERROR = pytest.StashKey[ValueError]()


def replay(schedule: Union[str, Schedule], seed: Optional[int] = None) -> pytest.MarkDecorator:
    """``@replay("#3 delay 150", seed=17)``: run the test once on that fault schedule.

    The shrunk schedule a swarm reports, kept as a regression test: under virtual time,
    with the run's seed (the program's own randomness), the faults are the schedule's.
    """
    Schedule.parse(schedule)  # a bad schedule fails at import, naming the decision
    if seed is None:
        return pytest.mark.taro_udp_replay(str(schedule))
    return pytest.mark.taro_udp_replay(str(schedule), seed=seed)


def plan_for(item: pytest.Item) -> Optional[Plan]:
    """The swarm plan of ``item``, or None when it is not swarmed (see the module)."""
    names = getattr(item, "fixturenames", ())
    if not any(name in names for name in NETWORK_FIXTURES):
        return None
    if item.get_closest_marker("taro_udp_replay") is not None:
        return None
    marker = item.get_closest_marker("taro_udp_swarm")
    if marker is not None and (
        (marker.args and marker.args[0] is False) or marker.kwargs.get("off", False)
    ):
        return None
    callspec = getattr(item, "callspec", None)
    fixed = callspec is not None and any(name in callspec.params for name in NETWORK_FIXTURES)
    if fixed and marker is None:
        return None
    kwargs: Dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    kinds = tuple(kwargs.get("kinds", DEFAULT_KINDS))
    ranges = {kind: tuple(kwargs[kind]) for kind in ALL_KINDS if kind in kwargs}
    plan = Plan(kinds, ranges, kwargs.get("runs"))
    plan.mix(0)  # unknown kinds: the error now
    return plan


def network_options(request: pytest.FixtureRequest, options: Dict[str, Any]) -> Dict[str, Any]:
    """The network fixture's arguments for this run of the test (swarm, seed, replay)."""
    item = request.node
    error = item.stash.get(_PLAN_ERROR, None)
    if error is not None:  # a bad taro_udp_swarm marker: the test errors, saying why
        raise error
    run = item.stash.get(_RUN, None)
    if run is None:
        seed = request.config.getoption("taro_udp_seed", None)
        if seed is not None:
            plan = plan_for(item)
            if plan is not None:
                run = _Run(seed, plan.mix(seed), None)
    if run is not None:
        merged = dict(options)
        merged.update(run.mix.network_options())
        merged.update(seed=run.seed, virtual_time=True, schedule=run.schedule)
        return merged
    marker = item.get_closest_marker("taro_udp_replay")
    if marker is not None:
        merged = dict(options, virtual_time=True, schedule=Schedule.parse(marker.args[0]))
        if "seed" in marker.kwargs:
            merged["seed"] = marker.kwargs["seed"]
        return merged
    return options


def after_run(request: pytest.FixtureRequest, network: SimulatedNetwork) -> None:
    """Keep what the swarm needs of this run (at the fixture's teardown)."""
    item = request.node
    if item.stash.get(_RUN, None) is None:
        return
    props = properties_of(network)
    props.final_check()
    item.stash[_CAPTURE] = _Capture(
        network.schedule, network.datagrams, network.trace, dict(props.sometimes)
    )


def _failure(reports: List[TestReport]) -> Optional[Failure]:
    for report in reports:
        if report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            if crash is None:
                lines = str(report.longrepr).splitlines() or [""]
                return Failure(f"failure ({report.when})", "?", lines[-1])
            message = (str(crash.message).splitlines() or [""])[0]
            kind, _, rest = message.partition(": ")
            if not rest or " " in kind:  # not "Type: text"
                kind, rest = "failure", message
            if report.when != "call":
                kind = f"{kind} in {report.when}"
            return Failure(kind, f"{crash.path}:{crash.lineno}", rest)
    return None


def _run_item(item: pytest.Item, run: _Run) -> Tuple[List[TestReport], RunResult]:
    item.stash[_RUN] = run
    item.stash[_CAPTURE] = _Capture()
    initrequest = getattr(item, "_initrequest", None)
    if initrequest is not None:
        initrequest()  # fresh fixture values for each run
    reports = runtestprotocol(item, nextitem=None, log=False)
    capture = item.stash[_CAPTURE]
    result = RunResult(
        run.seed,
        run.mix,
        _failure(reports),
        capture.schedule,
        capture.datagrams,
        capture.trace,
        capture.sometimes,
    )
    return reports, result


def _replay_command(item: pytest.Item, seed: int) -> str:
    return f"pytest --taro-udp-seed {seed} {shlex.quote(item.nodeid)}"


def protocol(item: pytest.Item, nextitem: Optional[pytest.Item]) -> Optional[bool]:
    """Run a swarmable test under ``--taro-udp-swarm N`` (None: not swarmed here)."""
    wanted = item.config.getoption("taro_udp_swarm", 0)
    try:
        plan = plan_for(item) if wanted else None
    except ValueError as exc:  # run once normally: the fixture raises it (setup error)
        item.stash[_PLAN_ERROR] = ValueError(f"@pytest.mark.taro_udp_swarm: {exc}")
        return None
    if plan is None:
        return None
    runs = plan.runs or wanted
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    results: List[RunResult] = []
    first: Optional[Tuple[List[TestReport], RunResult]] = None
    reports: List[TestReport] = []
    try:
        for seed in range(1, runs + 1):
            reports, result = _run_item(item, _Run(seed, plan.mix(seed), None))
            if any(report.skipped for report in reports):
                break  # skipped (a missing engine...): once is enough
            if any(report.failed and report.when == "setup" for report in reports):
                # An error setting up (a fixture raised): the test never ran, so there
                # is no fault to blame: reported once, as the error it is.
                results = []
                first = None
                break
            results.append(result)
            if result.failed and first is None:
                first = (reports, result)
        report = SwarmReport(results)
        if first is not None:
            reports = first[0]
            text = _failure_text(item, report, first[1], plan)
            for each in reports:
                if each.failed:
                    each.sections.append(("taro_udp swarm", text))
                    break
        elif report.never and results:
            for each in reports:
                if each.when == "call":
                    each.outcome = "failed"
                    each.longrepr = f"taro_udp swarm: {report.summary()}\n" + "".join(
                        f"sometimes {message!r} held in none of the {len(results)} runs: "
                        "the swarm never exercised it\n"
                        for message in report.never
                    )
        if results:
            item.config.stash.setdefault(_SUMMARY, []).append(
                f"{item.nodeid}: {report.summary()}".replace("\n", "\n    ")
            )
    finally:
        # Every run tore everything down (nextitem=None): the next item sets up anew.
        if _RUN in item.stash:
            del item.stash[_RUN]
    for each in reports:
        item.ihook.pytest_runtest_logreport(report=each)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _failure_text(item: pytest.Item, report: SwarmReport, result: RunResult, plan: Plan) -> str:
    assert result.failure is not None
    lines = [f"taro_udp swarm: {report.summary()}"]
    lines.append(f"first failure: seed {result.seed}, mix: {result.mix}")
    lines.append(f"  {result.failure}")
    wanted = result.failure.signature
    # The seed run once more, as the replay command would: a failure that does not come
    # back there comes from outside the schedule (a flaky test): nothing to shrink, and
    # no command that would not reproduce it.
    _, again = _run_item(item, _Run(int(result.seed), result.mix, None))
    if again.failure is None or again.failure.signature != wanted:
        now = "passed" if again.failure is None else f"failed otherwise: {again.failure}"
        lines.append(
            f"did not reproduce (flaky outside the schedule): seed {result.seed} run again "
            f"{now}; the failure depends on something the simulated network does not "
            "decide (state kept between runs, real time, unseeded randomness), so it was "
            "not shrunk"
        )
        return "\n".join(lines)
    lines.append(f"replay: {_replay_command(item, int(result.seed))}")
    for other in report.failures[1:5]:
        lines.append(f"  also failing: {_replay_command(item, int(other.seed))}")
    last: Dict[Schedule, RunResult] = {}

    def attempt(candidate: Schedule) -> Optional[Schedule]:
        _, run = _run_item(item, _Run(int(result.seed), result.mix, candidate))
        if run.failure is None or run.failure.signature != wanted:
            return None
        last[run.schedule] = run
        return run.schedule

    engine = item.config.getoption("taro_udp_shrink", "ddmin")
    shrunk = shrink(result.schedule, attempt, budget=SHRINK_BUDGET, engine=engine)
    final = last.get(shrunk.schedule)
    if final is None:
        _, final = _run_item(item, _Run(int(result.seed), result.mix, shrunk.schedule))
    count = len(shrunk.schedule)
    lines.append(
        f"shrunk from {len(result.schedule)} to {count} fault decision{'s' if count != 1 else ''} "
        f"in {shrunk.runs} runs ({engine}): "
        f"{shrunk.schedule or '(none: it fails without faults)'}"
    )
    lines.extend("  " + line for line in describe(final).splitlines())
    lines.append("save it as a regression test:")
    lines.append(f'  @pytest.mark.taro_udp_replay("{shrunk.schedule}", seed={int(result.seed)})')
    return "\n".join(lines)


def summary_lines(config: pytest.Config) -> List[str]:
    """The swarm summaries of this session, one per swarmed test."""
    found: List[str] = config.stash.get(_SUMMARY, [])
    return list(found)
