"""Swarm testing: schedules that replay and edit, swarms that find and shrink a retry bug."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest

import taro_udp
from taro_udp.testing import (
    Decision,
    PropertyViolationError,
    RandomDecider,
    Schedule,
    SimulatedNetwork,
    Swarm,
    always,
    describe,
    draw_mix,
    replay,
    sometimes,
)

from ._retry import RetryClient, buggy_routine, correct_routine, exchange

pytest_plugins = ["pytester"]

PLUGIN = "taro_udp.testing.plugin"
RETRY_SOURCE = (Path(__file__).parent / "_retry.py").read_text()


def _faulty_run(**options: object) -> SimulatedNetwork:
    network = SimulatedNetwork(virtual_time=True, **options)  # type: ignore[arg-type]
    with network:
        exchange(network, match_by_seq=True)
    return network


# -- schedules -----------------------------------------------------------------------


def test_every_fault_is_a_decision_and_the_schedule_replays_to_the_identical_trace() -> None:
    first = _faulty_run(seed=4, loss=0.3, duplicate=0.3, reorder=0.2, delay=(0, 150))
    schedule = first.schedule
    kinds = {decision.kind for decision in schedule}
    assert kinds == {"lose", "duplicate", "reorder", "delay"}
    lost = [r.seq for r in first.datagrams if r.reason == "loss"]
    assert [d.seq for d in schedule if d.kind == "lose"] == lost
    replayed = _faulty_run(seed=4, schedule=Schedule.parse(str(schedule)))
    assert replayed.trace == first.trace
    assert replayed.schedule == schedule


def test_a_schedule_replays_whatever_the_network_settings() -> None:
    # The schedule alone decides the faults: the seed's draws and the rates are unused.
    first = _faulty_run(seed=9, loss=0.4, delay=(0, 300))
    replayed = _faulty_run(seed=1, schedule=first.schedule, loss=0.9, duplicate=1.0)
    assert [r.fate_key() for r in replayed.datagrams] == [r.fate_key() for r in first.datagrams]


def test_a_decision_removed_means_no_fault_there() -> None:
    first = _faulty_run(seed=3, loss=0.5)
    losses = [d for d in first.schedule if d.kind == "lose"]
    assert losses, "seed 3 at 50% loss loses something"
    index = first.schedule.decisions.index(losses[0])
    edited = _faulty_run(seed=3, schedule=first.schedule.without(index))
    record = edited.datagrams[losses[0].seq]
    assert record.fate == "delivered"
    assert record.payload == first.datagrams[losses[0].seq].payload


def test_no_schedule_entry_means_a_perfect_network() -> None:
    network = _faulty_run(schedule="")
    assert {r.fate for r in network.datagrams} == {"delivered"}
    assert len(network.datagrams) == 6  # three requests, three replies, no retry
    assert len(network.schedule) == 0


def test_schedule_text_round_trips_and_bad_text_is_refused() -> None:
    text = "#0 delay 101.25; #3 lose; #3 delay[1] 7; #5 corrupt 13; #6 truncate 2; #8 reorder"
    assert Schedule.parse(str(Schedule.parse(text))) == Schedule.parse(text)
    assert str(Schedule.parse("#2 lose\n#1 duplicate")) == "#1 duplicate; #2 lose"
    with pytest.raises(ValueError, match="not a decision: 'drop 4'"):
        Schedule.parse("drop 4")
    with pytest.raises(ValueError, match="lose takes no value"):
        Schedule.parse("#4 lose 3")
    with pytest.raises(ValueError, match="delay takes a value"):
        Schedule.parse("#4 delay")
    with pytest.raises(ValueError, match="kind must be one of lose"):
        Schedule.parse([Decision(1, "drop")])
    with pytest.raises(ValueError, match="invalid decision"):
        Schedule.parse([Decision(1, "delay", 2, 5.0)])
    with pytest.raises(ValueError, match="not a decision: 'later'"):
        replay("#1 lose; later")
    with pytest.raises(ValueError, match="give a decider or a schedule"):
        SimulatedNetwork(schedule="", decider=RandomDecider())


def test_corruption_and_truncation_replay_from_the_schedule() -> None:
    with SimulatedNetwork(virtual_time=True, schedule="#0 corrupt 9; #1 truncate 2") as network:
        received: List[bytes] = []
        with taro_udp.create_udp_socket() as sink, taro_udp.create_udp_socket() as source:
            sink.onMessage(lambda res: received.append(bytes(res["message"])))
            port = sink.bind(address="127.0.0.1")
            for payload in (b"AAAA", b"BBBB"):
                source.send({"address": "127.0.0.1", "port": port, "message": payload})
            network.run_until(lambda: len(received) == 2, 1.0, "both datagrams")
    assert received == [b"ACAA", b"BB"]  # bit 9: the second byte's 0x02 ("A" ^ 2 = "C")
    assert str(network.schedule) == "#0 corrupt 9; #1 truncate 2"


# -- mixes ---------------------------------------------------------------------------


def test_the_seed_alone_decides_the_mix_and_mixes_vary() -> None:
    assert draw_mix(17) == draw_mix(17)
    mixes = [draw_mix(seed) for seed in range(1, 201)]
    kinds = [tuple(kind for kind, _ in mix.strengths) for mix in mixes]
    assert len(set(kinds)) == 15  # every non-empty subset of the four default kinds
    duplicate = max(v for mix in mixes for k, v in mix.strengths if k == "duplicate")
    delay = max(v for mix in mixes for k, v in mix.strengths if k == "delay")
    assert duplicate >= 0.2
    assert delay >= 500
    assert not any(k in ("corrupt", "truncate") for mix in mixes for k, _ in mix.strengths)
    with pytest.raises(ValueError, match="unknown fault kinds"):
        draw_mix(1, ("los",))


# -- swarms --------------------------------------------------------------------------


def test_a_swarm_finds_the_last_sent_bug_and_shrinks_it_to_two_decisions() -> None:
    swarm = Swarm(buggy_routine)
    report = swarm.run(200)
    assert report.failures, "no failing seed in 200 runs"
    failing = report.failures[0]
    assert failing.failure is not None
    assert "got b'ACK" in failing.failure.message
    replayed = swarm.run_one(failing.seed)
    assert replayed.failure == failing.failure
    assert replayed.trace == failing.trace
    shrunk, final = swarm.shrink(failing)
    assert 1 <= len(shrunk.schedule) <= 2
    assert final.failure is not None
    assert final.failure.signature == failing.failure.signature
    words = describe(final)
    assert re.search(
        r't=0 ms datagram #0 127\.0\.0\.1:\d+ → 127\.0\.0\.1:5566 "REQ 1" delayed', words
    )
    assert "trace around them:" in words


def test_a_correct_routine_passes_500_runs() -> None:
    report = Swarm(correct_routine).run(500)
    assert report.failures == [], report.summary()


def test_sometimes_reports_a_property_no_run_satisfied() -> None:
    def routine(network: SimulatedNetwork) -> None:
        def watch(client: RetryClient) -> None:
            sometimes(lambda: client.sent > 3, "a request was retried")
            sometimes(lambda: len(client.answers) == 3, "all answered")

        exchange(network, match_by_seq=True, watch=watch)

    # Delays under the retry interval, no loss: nothing is ever retried.
    report = Swarm(routine, kinds=("delay", "duplicate"), ranges={"delay": (0, 40)}).run(30)
    assert report.failures == []
    assert report.never == ["a request was retried"]
    assert report.sometimes["all answered"] == 30
    assert "sometimes 'a request was retried': NEVER held" in report.summary()


def test_always_is_checked_at_every_event_and_names_the_moment() -> None:
    with SimulatedNetwork(virtual_time=True, schedule="#0 lose") as network:
        box: List[RetryClient] = []
        always(lambda: not box or box[0].sent <= 1, "never a retry")
        with taro_udp.create_udp_socket() as server:
            server.bind(5566, address="127.0.0.1")
            box.append(RetryClient(5566, match_by_seq=True))
            box[0].start()
            try:
                with pytest.raises(
                    PropertyViolationError, match=r"'never a retry' was false at t=100 ms"
                ):
                    network.run_until(lambda: box[0].done, 5.0, "the end")
            finally:
                box[0].sock.close()


def test_always_fails_a_swarm_run_that_breaks_it() -> None:
    def routine(network: SimulatedNetwork) -> None:
        def watch(client: RetryClient) -> None:
            always(lambda: len(client.answers) <= 3, "at most one answer per request")
            always(lambda: client.sent <= 3, "never a retry")

        exchange(network, match_by_seq=True, watch=watch)

    report = Swarm(routine, kinds=("loss",), ranges={"loss": (0.3, 0.5)}).run(10)
    assert len(report.failures) >= 5
    failure = report.failures[0].failure
    assert failure is not None
    assert failure.kind == "PropertyViolationError"
    assert "'never a retry' was false at t=" in failure.message


# -- the pytest options ----------------------------------------------------------------


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """An inner pytest session with the plugin loaded explicitly and the retry routine."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini(
        "[pytest]\nfilterwarnings =\n    error\n    ignore::pytest.PytestAssertRewriteWarning\n"
    )
    pytester.makepyfile(retry_routine=RETRY_SOURCE)
    return pytester


SWARMED = """
import pytest
import retry_routine

def test_buggy(virtual_network):
    retry_routine.buggy_routine(virtual_network)

def test_correct(virtual_network):
    retry_routine.correct_routine(virtual_network)
"""


def test_pytest_swarm_reports_seed_mix_assertion_replay_and_shrunk_schedule(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_inner=SWARMED)
    result = inner.runpytest("-p", PLUGIN, "--taro-udp-swarm", "200", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    text = result.stdout.str()
    seed = re.search(r"first failure: seed (\d+), mix: (.+)", text)
    assert seed is not None, text
    assert "AssertionError at " in text
    assert "got b'ACK" in text
    assert f"replay: pytest --taro-udp-seed {seed.group(1)} test_inner.py::test_buggy" in text
    shrunk_line = r"shrunk from \d+ to ([12]) fault decisions? in \d+ runs \(ddmin\): (.+)"
    shrunk = re.search(shrunk_line, text)
    assert shrunk is not None, text
    assert "@pytest.mark.taro_udp_replay(" in text
    assert text.count("replay: pytest") == 1  # the passing test prints none
    assert "test_inner.py::test_correct: 200 runs, 0 failed" in text

    # The replay command reproduces that run: the same assertion, the same mix.
    replay = inner.runpytest(
        "-p", PLUGIN, "--taro-udp-seed", seed.group(1), "test_inner.py::test_buggy"
    )
    replay.assert_outcomes(failed=1)
    first_line = re.search(r"first failure: seed \d+, mix: .+\n  (.+)", text)
    assert first_line is not None
    message = first_line.group(1).split(": ", 1)[1]
    assert message in replay.stdout.str()

    # The shrunk schedule, saved as a regression test, fails the same way.
    inner.makepyfile(
        test_regression=f"""
        import retry_routine
        from taro_udp.testing import replay

        @replay("{shrunk.group(2)}", seed={seed.group(1)})
        def test_regression(virtual_network):
            retry_routine.buggy_routine(virtual_network)
            assert False, "not reached"
        """
    )
    regression = inner.runpytest("-p", PLUGIN, "test_regression.py", "--taro-udp-swarm", "5")
    regression.assert_outcomes(failed=1)
    regression.stdout.fnmatch_lines(["*got b'ACK*"])
    assert "taro_udp swarm" not in regression.stdout.str()  # a replay is not swarmed


def test_pytest_swarm_markers_opt_out_fixed_parameters_and_sometimes(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(
        test_inner="""
        import pytest
        import retry_routine
        from taro_udp.testing import sometimes

        @pytest.mark.taro_udp_swarm(False)
        def test_opted_out(virtual_network):
            retry_routine.buggy_routine(virtual_network)

        @pytest.mark.parametrize("virtual_network", [{"seed": 3}], indirect=True)
        def test_fixed(virtual_network):
            retry_routine.buggy_routine(virtual_network)

        @pytest.mark.taro_udp_swarm(kinds=("delay",), delay=(0, 50), runs=7)
        def test_never_retried(virtual_network):
            sometimes(lambda: False, "the retry path ran")
            retry_routine.correct_routine(virtual_network)

        @pytest.mark.taro_udp_swarm(kinds=("lag",))
        def test_bad_marker(virtual_network):
            pass
        """
    )
    result = inner.runpytest("-p", PLUGIN, "--taro-udp-swarm", "50")
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*ValueError: @pytest.mark.taro_udp_swarm: unknown fault kinds ?'lag'?*"]
    )
    text = result.stdout.str()
    assert "'the retry path ran' held in none of the 7 runs" in text
    assert "test_inner.py::test_never_retried: 7 runs, 0 failed" in text
    assert "test_opted_out" not in text.split("taro_udp swarm")[-1]


def test_the_hypothesis_engine_shrinks_the_same_failure_too() -> None:
    swarm = Swarm(buggy_routine)
    failing = swarm.run(200).failures[0]
    assert failing.failure is not None
    shrunk, final = swarm.shrink(failing, engine="hypothesis", budget=300)
    assert 1 <= len(shrunk.schedule) <= 2, shrunk
    assert final.failure is not None
    assert final.failure.signature == failing.failure.signature
    with pytest.raises(ValueError, match='engine must be "ddmin" or "hypothesis"'):
        swarm.shrink(failing, engine="delta")
