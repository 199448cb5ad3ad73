"""examples/discovery.py: device discovery with retries, under loss, duplication, reordering.

Real loopback never loses a datagram, so only the simulated network shows why the
retries and the de-duplication are there: one probe misses devices at 30% loss, a
dozen find them all; duplicated and reordered answers still count each device once.
The tests run under virtual time with the routine's own 200 ms interval: a discovery
of 25 rounds is 5 virtual seconds and takes milliseconds.

``discover()`` is ``taro_udp.run()``, which returns once no socket of the process is
open: each test closes its devices in ``then``, on the event thread, when the discovery
is over (the fixture closes them again at teardown, in case a test failed first).
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable, Dict, Iterator, List

import pytest

import taro_udp
from taro_udp.testing import SimulatedNetwork

from ._helpers import WAIT, load_example

_example = load_example("discovery")
discover: Callable[..., Dict[str, Dict[str, Any]]] = _example.discover
start_discovery: Callable[..., None] = _example.start_discovery
close_all: Callable[[List[Any]], Callable[[object], None]] = _example.close_all
Device: Any = _example.Device
PORT: int = _example.DISCOVERY_PORT
IDS = ["lamp", "plug", "speaker"]


@pytest.fixture
def devices() -> Iterator[Callable[[], List[Any]]]:
    """Start the three devices (call it inside the network); stopped after the test."""
    started: List[Any] = []

    def start() -> List[Any]:
        started.extend(Device(device_id) for device_id in IDS)
        return started

    yield start
    for device in started:
        device.close()


def _announces_received(network: SimulatedNetwork) -> int:
    """How many answers reached the discovering socket (duplicates included)."""
    datagrams = network.datagrams
    return sum(
        1
        for arrival in network.deliveries
        if arrival.outcome == "delivered" and datagrams[arrival.seq].source[1] == PORT
    )


def test_without_loss_one_probe_finds_every_device(devices: Callable[[], List[Any]]) -> None:
    with SimulatedNetwork(seed=0, virtual_time=True) as network:
        started = devices()
        found = discover(
            attempts=5, interval=0.2, expected=len(IDS), then=close_all(started), timeout=WAIT
        )
    assert sorted(found) == IDS
    assert found["lamp"] == {"name": "device lamp", "address": "127.0.0.1", "port": PORT}
    probes = [r for r in network.datagrams if r.destination[1] == PORT]
    assert len(probes) == 1, "stops as soon as every expected device answered"


def test_one_probe_misses_devices_at_30_percent_loss(devices: Callable[[], List[Any]]) -> None:
    # Why the retries exist: a probe and its answer both survive only 49% of the time.
    missed = 0
    for seed in range(10):
        with SimulatedNetwork(seed=seed, loss=0.3, virtual_time=True):
            started = devices()
            found = discover(
                attempts=1, interval=0.2, expected=len(IDS), then=close_all(started), timeout=WAIT
            )
            started.clear()
        missed += len(IDS) - len(found)
    assert missed > 0


def test_retries_find_every_device_at_30_percent_loss(devices: Callable[[], List[Any]]) -> None:
    lost = 0
    for seed in range(10):
        with SimulatedNetwork(seed=seed, loss=0.3, virtual_time=True) as network:
            started = devices()
            found = discover(
                attempts=25, interval=0.2, expected=len(IDS), then=close_all(started), timeout=WAIT
            )
            started.clear()
        assert sorted(found) == IDS, f"seed {seed}: found only {sorted(found)}"
        lost += sum(r.fate == "dropped" for r in network.datagrams)
    assert lost > 0, "the network should have lost datagrams"


def test_duplicated_and_reordered_answers_count_each_device_once(
    devices: Callable[[], List[Any]],
) -> None:
    with SimulatedNetwork(
        seed=4, duplicate=0.5, reorder=0.5, delay=(0, 3), virtual_time=True
    ) as network:
        started = devices()
        found = discover(attempts=4, interval=0.2, then=close_all(started), timeout=WAIT)
    assert sorted(found) == IDS
    assert _announces_received(network) > len(IDS) * 4, "duplicates should have arrived"
    assert any(r.reordered for r in network.datagrams)


def test_answers_to_another_discovery_are_ignored(devices: Callable[[], List[Any]]) -> None:
    with SimulatedNetwork(seed=0):
        started = devices()
        impostor = taro_udp.create_udp_socket(options={"reuseAddr": True})

        def answer_stale(res: taro_udp.OnMessageCallbackResult) -> None:
            stale = {"type": "announce", "id": "ghost", "name": "old", "nonce": "earlier"}
            impostor.send(
                {
                    "address": res["remoteInfo"]["address"],
                    "port": res["remoteInfo"]["port"],
                    "message": json.dumps(stale),
                }
            )

        impostor.onMessage(answer_stale)
        impostor.bind(PORT, address="0.0.0.0")
        try:
            found = discover(
                attempts=2, interval=0.02, then=close_all([*started, impostor]), timeout=WAIT
            )
        finally:
            impostor.close()
    assert sorted(found) == IDS


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux loopback broadcast")
def test_runs_unchanged_on_real_loopback() -> None:
    # The same code on OS sockets: loopback's broadcast address stays on the machine.
    first = Device("lamp", port=0)
    others = [Device(device_id, port=first.port) for device_id in IDS[1:]]
    try:
        found = discover(
            first.port,
            attempts=5,
            interval=0.5,
            expected=len(IDS),
            address="127.255.255.255",
            then=close_all([first, *others]),
            timeout=WAIT,
        )
    finally:
        for device in [first, *others]:
            device.close()
    assert sorted(found) == IDS


def test_start_discovery_runs_as_the_whole_program() -> None:
    # The JS shape: everything starts on the event thread and done() ends the program.
    results: List[Dict[str, Any]] = []

    def main() -> None:
        started = [Device(device_id) for device_id in IDS]

        def done(found: Dict[str, Any]) -> None:
            results.append(found)
            for device in started:
                device.close()

        start_discovery(done, attempts=5, interval=20, expected=len(IDS))

    with SimulatedNetwork(seed=0, loss=0.3):
        taro_udp.run(main, timeout=WAIT)
    assert len(results) == 1, "done() runs exactly once"
    assert sorted(results[0]) == IDS


def test_discover_on_the_event_thread_raises_runtime_error() -> None:
    # discover() waits for the program to end: on the event thread it would wait for itself.
    with pytest.raises(RuntimeError, match="event thread"):
        taro_udp.run(lambda: discover(attempts=1), timeout=WAIT)
