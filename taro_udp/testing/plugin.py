"""The taro_udp pytest plugin: fixtures for testing mini-program UDP code on a desktop.

Installed with taro_udp and loaded through the ``pytest11`` entry point (or with
``-p taro_udp.testing.plugin``). It only defines fixtures: importing it imports nothing
but pytest, so it costs nothing in test runs that do not use it, and taro_udp itself
is imported by the first fixture a test requests.

- ``udp_socket_factory``: make sockets that are closed after the test; an ``onError``
  the test did not expect fails it.
- ``udp_echo_peer``: a real UDP echo peer on 127.0.0.1.
- ``udp_recorder``: collect payloads from any listener and wait for N of them.
- ``simulated_network``: the test's sockets live on a seeded, lossy, in-memory network.
- ``virtual_network``: the same, under virtual time (``SimulatedNetwork(virtual_time=True)``);
  ``virtual_clock``: a ``VirtualClock`` alone, for timer logic without sockets.

Options: ``--taro-udp-virtual`` runs every ``simulated_network`` under virtual time;
``--taro-udp-twice`` runs every test that uses a virtual-time network twice and fails it,
naming the first event that differs and the seed, if the two traces differ.
``--taro-udp-swarm N`` runs every test that uses a network fixture N times, each under its
own seed and fault mix, and shrinks a failure to the faults that matter;
``--taro-udp-seed S`` replays run S (see ``taro_udp.testing._swarm_plugin``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple

import pytest

if TYPE_CHECKING:
    from ._factory import SocketFactory
    from ._fixture_types import EchoPeerFixture, RecorderFactory
    from ._network import SimulatedNetwork
    from ._virtual import VirtualClock

__all__ = [
    "pytest_addoption",
    "pytest_configure",
    "pytest_runtest_protocol",
    "pytest_terminal_summary",
    "simulated_network",
    "udp_echo_peer",
    "udp_recorder",
    "udp_socket_factory",
    "virtual_clock",
    "virtual_network",
]

# What a virtual-time network fixture leaves on its test item: (seed, trace).
_TRACE_KEY = pytest.StashKey[List[Tuple[Any, Any]]]()
_NETWORK_FIXTURES = ("simulated_network", "virtual_network")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--taro-udp-virtual`` and ``--taro-udp-twice`` (group ``taro_udp``)."""
    group = parser.getgroup("taro_udp")
    group.addoption(
        "--taro-udp-virtual",
        action="store_true",
        dest="taro_udp_virtual",
        help="run every simulated_network fixture under virtual time",
    )
    group.addoption(
        "--taro-udp-twice",
        action="store_true",
        dest="taro_udp_twice",
        help="run each virtual-time test twice and fail it if the two traces differ",
    )
    group.addoption(
        "--taro-udp-swarm",
        type=int,
        default=0,
        metavar="N",
        dest="taro_udp_swarm",
        help="run every simulated-network test N times under its own seeds and fault mixes",
    )
    group.addoption(
        "--taro-udp-seed",
        type=int,
        default=None,
        metavar="S",
        dest="taro_udp_seed",
        help="replay run S of a swarm: its seed and fault mix, under virtual time",
    )
    group.addoption(
        "--taro-udp-shrink",
        choices=("ddmin", "hypothesis"),
        default="ddmin",
        dest="taro_udp_shrink",
        help="how a swarm shrinks a failing schedule (default ddmin; hypothesis: slower, "
        "sometimes smaller)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "taro_udp_swarm(off=False, kinds=..., runs=None, **ranges): how --taro-udp-swarm "
        "swarms this test (taro_udp_swarm(False): not at all)",
    )
    config.addinivalue_line(
        "markers",
        'taro_udp_replay(schedule, seed=None): run on this fault schedule ("#3 delay 150")',
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The swarm summary: runs, failures, ``sometimes`` properties of every swarmed test."""
    if not terminalreporter.config.getoption("taro_udp_swarm", 0):
        return
    from ._swarm_plugin import summary_lines

    lines = summary_lines(terminalreporter.config)
    if lines:
        terminalreporter.write_sep("=", "taro_udp swarm")
        for line in lines:
            terminalreporter.write_line(line)


def _remember_trace(request: pytest.FixtureRequest, network: SimulatedNetwork) -> None:
    if network.clock is not None:
        request.node.stash.setdefault(_TRACE_KEY, []).append((network.seed, network.trace))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Optional[pytest.Item]) -> Optional[bool]:
    """``--taro-udp-swarm``: many runs; ``--taro-udp-twice``: two runs, traces compared."""
    if item.config.getoption("taro_udp_swarm", 0):
        from ._swarm_plugin import protocol

        swarmed = protocol(item, nextitem)
        if swarmed is not None:
            return swarmed
    if not item.config.getoption("taro_udp_twice", False):
        return None
    names = getattr(item, "fixturenames", ())
    if not any(name in names for name in _NETWORK_FIXTURES):
        return None
    from _pytest.runner import runtestprotocol

    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    # Everything torn down after the first run (nextitem=None), so that the second run
    # starts from the same state: wider fixtures are set up again.
    first = runtestprotocol(item, nextitem=None, log=False)
    traces_first = item.stash.get(_TRACE_KEY, [])
    item.stash[_TRACE_KEY] = []
    initrequest = getattr(item, "_initrequest", None)
    if initrequest is not None:
        initrequest()  # fresh fixture values for the second run
    second = runtestprotocol(item, nextitem=nextitem, log=False)
    traces_second = item.stash.get(_TRACE_KEY, [])
    reports = first
    if all(report.passed for report in first) and not all(r.passed for r in second):
        reports = second  # it passed once and failed once: a flaky test
    elif traces_first and all(report.passed for report in first + second):
        difference = _first_difference(traces_first, traces_second)
        if difference is not None:
            for report in reports:
                if report.when == "call":
                    report.outcome = "failed"
                    report.longrepr = difference
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _first_difference(first: List[Tuple[Any, Any]], second: List[Tuple[Any, Any]]) -> Optional[str]:
    """Where two runs' traces part, in words; None when they are the same."""
    for (seed, one), (_, two) in zip(first, second):
        for index, (left, right) in enumerate(zip(one, two)):
            if left != right:
                return (
                    f"the second run diverged from the first at event {index} "
                    f"(seed {seed!r}):\n  first:  {left!r}\n  second: {right!r}\n"
                    "Something the program did depended on real time or on a thread: "
                    f"reproduce with SimulatedNetwork(seed={seed!r}, virtual_time=True)."
                )
        if len(one) != len(two):
            return (
                f"the two runs had {len(one)} and {len(two)} events (seed {seed!r}); the "
                f"first {min(len(one), len(two))} were the same"
            )
    if len(first) != len(second):
        return f"the two runs made {len(first)} and {len(second)} virtual-time networks"
    return None


@pytest.fixture
def udp_socket_factory() -> Iterator[SocketFactory]:
    """Make taro_udp sockets that are closed when the test ends: ``sock = udp_socket_factory()``.

    Takes the arguments of ``create_udp_socket(type, options)``, so it honours an active
    ``simulated_network``. At teardown every socket is closed and its ``onClose`` awaited;
    the test then fails if any socket reported an ``onError`` it did not expect. Expect
    errors with ``udp_socket_factory(expect_errors=True)`` (that socket) or
    ``udp_socket_factory.expect_error("send:fail invalid port")`` (an ``errMsg`` prefix).
    Every error seen is in ``udp_socket_factory.errors``.
    """
    from ._factory import SocketFactory

    factory = SocketFactory()
    yield factory
    problems = factory.close_all()
    if problems:
        pytest.fail("taro_udp sockets reported problems:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def udp_echo_peer(request: pytest.FixtureRequest) -> Iterator[EchoPeerFixture]:
    """A real UDP peer on 127.0.0.1 that sends every datagram back to its sender.

    ``udp_echo_peer.address`` is "127.0.0.1", ``udp_echo_peer.port`` its port;
    ``udp_echo_peer.received`` records ``(data, (host, port))`` of what came in. It runs
    on its own thread with a plain OS socket (not taro_udp), and is stopped after the test.
    With ``simulated_network`` (or any active ``SimulatedNetwork``) it is a peer on that
    network instead, echoing from the event thread, so its echoes meet the faults too.
    """
    if "simulated_network" in request.fixturenames:
        request.getfixturevalue("simulated_network")  # active before the peer is made
    from ._echo import echo_peer

    with echo_peer("udp4") as peer:
        yield peer


@pytest.fixture
def udp_recorder() -> RecorderFactory:
    """A factory of recorders: ``messages = udp_recorder("messages"); sock.onMessage(messages)``.

    A recorder is a listener that collects every payload; ``messages.wait_for(3)`` waits
    (default 10 s) until three arrived and returns them all, or fails saying how many came;
    ``wait_until(predicate, "what")`` waits for any condition. Never sleep, then assert.
    """
    from ._recorder import Recorder

    return Recorder


@pytest.fixture
def virtual_network(request: pytest.FixtureRequest) -> Iterator[SimulatedNetwork]:
    """A ``SimulatedNetwork(virtual_time=True)`` active for the test; see ``simulated_network``.

    Time is virtual and the loop runs in lockstep: ``virtual_network.advance(seconds=)``,
    ``virtual_network.run_until(predicate)``, ``recorder.wait_for(n)`` and the other
    waiting helpers move it. Parametrise it indirectly with the network's arguments.
    """
    from ._network import SimulatedNetwork
    from ._swarm_plugin import after_run, network_options

    options: Dict[str, Any] = dict(getattr(request, "param", None) or {})
    options["virtual_time"] = True
    with SimulatedNetwork(**network_options(request, options)) as network:
        yield network
        _remember_trace(request, network)
        after_run(request, network)


@pytest.fixture
def virtual_clock() -> Iterator[VirtualClock]:
    """A ``VirtualClock`` installed for the test, with no network (OS sockets refused)."""
    from ._virtual import VirtualClock

    with VirtualClock() as clock:
        yield clock


@pytest.fixture
def simulated_network(request: pytest.FixtureRequest) -> Iterator[SimulatedNetwork]:
    """A ``SimulatedNetwork`` active for the test: new sockets live on it, not on the OS.

    Lossless and seeded (seed 0) unless parametrised indirectly with its keyword
    arguments: ``@pytest.mark.parametrize("simulated_network", [{"seed": 7, "loss": 0.3}],
    indirect=True)``. Change faults during the test (``simulated_network.loss = 0.5``,
    ``.partition(a, b)``, ``.heal()``); read fates in ``.datagrams``; save a capture with
    ``.write_pcap(path)``. Deactivated (and its timer thread stopped) after the test.
    """
    from ._network import SimulatedNetwork
    from ._swarm_plugin import after_run, network_options

    options: Dict[str, Any] = dict(getattr(request, "param", None) or {})
    if request.config.getoption("taro_udp_virtual", False):
        options.setdefault("virtual_time", True)
    with SimulatedNetwork(**network_options(request, options)) as network:
        yield network
        _remember_trace(request, network)
        after_run(request, network)
