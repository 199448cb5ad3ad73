"""SimulatedNetwork faults: seeded and repeatable, within their rates, changeable mid-test."""

# The plugin's fixtures are imported (so this runs with or without the entry point) and
# then requested as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import math
from typing import Callable, List, Tuple

import pytest

import taro_udp
from taro_udp.testing import DatagramRecord, Recorder, SimulatedNetwork, SocketFactory
from taro_udp.testing.plugin import simulated_network, udp_recorder, udp_socket_factory  # noqa: F401

from ._helpers import receiver

# These assert the exact fate of each datagram on a perfect network (or of the one
# fault they set): under --taro-udp-swarm a random fault mix would change what they
# check, so they opt out of it.
EXACT_FATES = pytest.mark.taro_udp_swarm(False)


Factory = Callable[..., Recorder]


# -- determinism ---------------------------------------------------------------------


def _scenario(seed: int) -> Tuple[List[DatagramRecord], int]:
    """200 datagrams on two flows with every fault on; returns records and messages."""
    messages = Recorder("messages")
    network = SimulatedNetwork(
        seed, loss=0.2, duplicate=0.1, reorder=0.1, delay=(0, 2), reorder_window=5
    )
    with network, taro_udp.create_udp_socket() as receiver:
        sender = taro_udp.create_udp_socket()
        receiver.onMessage(messages)
        port = receiver.bind(address="127.0.0.1")
        for n in range(200):
            sender.send({"address": "127.0.0.1", "port": port, "message": b"%d" % n})
            sender.send({"address": "127.0.0.2", "port": 9, "message": b"%d" % n})
        sender.close()
        records = network.datagrams
        expected = sum(
            {"delivered": 1, "duplicated": 2}.get(record.fate, 0)
            for record in records
            if record.destination[0] == "127.0.0.1"
        )
        messages.wait_for(expected)
    return records, expected


def test_same_seed_and_sends_give_identical_fates() -> None:
    first, delivered_first = _scenario(7)
    second, delivered_second = _scenario(7)
    assert [r.fate_key() for r in first] == [r.fate_key() for r in second]
    assert delivered_first == delivered_second
    assert {r.fate for r in first} == {"delivered", "dropped", "duplicated"}


def test_another_seed_gives_other_fates() -> None:
    first, _ = _scenario(7)
    other, _ = _scenario(8)
    assert [r.fate_key() for r in first] != [r.fate_key() for r in other]


def test_interleaving_flows_does_not_change_their_fates() -> None:
    def fates(order: List[str]) -> List[Tuple[object, ...]]:
        with SimulatedNetwork(3, loss=0.5) as network:
            senders = {"a": taro_udp.create_udp_socket(), "b": taro_udp.create_udp_socket()}
            for name in ("a", "b"):
                senders[name].bind(address="127.0.0.1")
            for name in order:
                senders[name].send({"address": "127.0.0.9", "port": 9, "message": name})
            for sock in senders.values():
                sock.close()
            records = sorted(network.datagrams, key=lambda r: (r.source, r.payload))
        # The global sequence number differs with the interleaving; nothing else may.
        return [r.fate_key()[1:] for r in records]

    assert fates(["a"] * 20 + ["b"] * 20) == fates(["a", "b"] * 20)


# -- fault rates -----------------------------------------------------------------------


def _within(count: int, total: int, probability: float) -> bool:
    # Five standard deviations of a binomial: deterministic for a seed, and far from
    # any boundary, so a correct implementation never fails whatever the seed.
    spread = 5 * math.sqrt(total * probability * (1 - probability))
    return abs(count - total * probability) <= spread


@pytest.mark.parametrize(
    "simulated_network",
    [{"seed": 11, "loss": 0.3, "duplicate": 0.1, "reorder": 0.2, "reorder_window": 5}],
    indirect=True,
)
def test_fault_rates_over_10000_datagrams_are_within_bounds(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    total = 10_000
    _, port, messages = receiver(udp_socket_factory, udp_recorder)
    sender = udp_socket_factory()
    for n in range(total):
        sender.send({"address": "127.0.0.1", "port": port, "message": n.to_bytes(2, "big")})
    records = simulated_network.datagrams
    dropped = sum(r.fate == "dropped" for r in records)
    duplicated = sum(r.fate == "duplicated" for r in records)
    reordered = sum(r.reordered for r in records)
    survived = total - dropped
    assert _within(dropped, total, 0.3), dropped
    assert _within(duplicated, survived, 0.1), duplicated
    assert _within(reordered, survived, 0.2), reordered
    assert all(r.reason == "loss" for r in records if r.fate == "dropped")
    # Every copy the network let through reached the socket, none more.
    arrived = messages.wait_for(survived + duplicated)
    assert len(arrived) == survived + duplicated
    order = [int.from_bytes(p["message"], "big") for p in arrived]
    assert order != sorted(order), "reordering should be visible to the receiver"
    assert set(order) == {r.seq for r in records if r.fate != "dropped"}


@pytest.mark.parametrize("simulated_network", [{"seed": 12, "delay": (1, 3)}], indirect=True)
def test_delays_over_10000_datagrams_are_uniform_in_their_range(
    simulated_network: SimulatedNetwork, udp_socket_factory: SocketFactory
) -> None:
    total = 10_000
    sender = udp_socket_factory()
    for _ in range(total):
        sender.send({"address": "127.0.0.9", "port": 9, "message": b""})
    simulated_network.wait_idle()
    delays = [r.delays_ms[0] for r in simulated_network.datagrams]
    assert min(delays) >= 1
    assert max(delays) <= 3
    # Uniform on [1, 3]: mean 2, standard deviation 2 / sqrt(12); five sigmas of the mean.
    mean = sum(delays) / total
    assert abs(mean - 2) <= 5 * (2 / math.sqrt(12)) / math.sqrt(total), mean
    below = sum(delay < 2 for delay in delays)
    assert _within(below, total, 0.5), below
    outcomes = {d.outcome for d in simulated_network.deliveries}
    assert outcomes == {"unreachable"}
    assert len(simulated_network.deliveries) == total


# -- faults changed mid-test -----------------------------------------------------------


@EXACT_FATES
def test_partition_drops_both_ways_until_healed(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    a, port_a, at_a = receiver(udp_socket_factory, udp_recorder)
    b = udp_socket_factory()
    at_b = udp_recorder("at b")
    b.onMessage(at_b)
    port_b = b.bind(address="127.0.0.2")
    simulated_network.partition("127.0.0.1", "127.0.0.2")
    a.send({"address": "127.0.0.2", "port": port_b, "message": "lost a->b"})
    b.send({"address": "127.0.0.1", "port": port_a, "message": "lost b->a"})
    simulated_network.heal()
    a.send({"address": "127.0.0.2", "port": port_b, "message": "a->b"})
    b.send({"address": "127.0.0.1", "port": port_a, "message": "b->a"})
    assert [p["message"] for p in at_b.wait_for(1)] == [b"a->b"]
    assert [p["message"] for p in at_a.wait_for(1)] == [b"b->a"]
    fates = [(r.payload, r.fate, r.reason) for r in simulated_network.datagrams]
    assert fates == [
        (b"lost a->b", "dropped", "partition"),
        (b"lost b->a", "dropped", "partition"),
        (b"a->b", "delivered", None),
        (b"b->a", "delivered", None),
    ]


@EXACT_FATES
def test_partition_of_one_port_spares_the_others(
    simulated_network: SimulatedNetwork, udp_socket_factory: SocketFactory
) -> None:
    sender = udp_socket_factory()
    sender.bind(address="127.0.0.1")
    simulated_network.partition("127.0.0.1", ("127.0.0.3", 1000))
    assert simulated_network.partitions == [(("127.0.0.1", None), ("127.0.0.3", 1000))]
    for port in (1000, 1001):
        sender.send({"address": "127.0.0.3", "port": port, "message": "x"})
    simulated_network.heal("127.0.0.1", ("127.0.0.3", 1000))
    assert simulated_network.partitions == []
    assert [r.reason for r in simulated_network.datagrams] == ["partition", None]


def test_heal_one_side_removes_only_its_partitions(simulated_network: SimulatedNetwork) -> None:
    simulated_network.partition("127.0.0.1", "127.0.0.2")
    simulated_network.partition("127.0.0.3", "127.0.0.4")
    simulated_network.heal("127.0.0.2")
    assert simulated_network.partitions == [(("127.0.0.3", None), ("127.0.0.4", None))]


def test_loss_changed_mid_test_applies_to_the_next_datagram(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    _, port, messages = receiver(udp_socket_factory, udp_recorder)
    sender = udp_socket_factory()
    simulated_network.loss = 1.0
    sender.send({"address": "127.0.0.1", "port": port, "message": "lost"})
    simulated_network.loss = 0.0
    sender.send({"address": "127.0.0.1", "port": port, "message": "kept"})
    assert [p["message"] for p in messages.wait_for(1)] == [b"kept"]
    assert [r.fate for r in simulated_network.datagrams] == ["dropped", "delivered"]


@EXACT_FATES
def test_duplicated_datagram_arrives_twice(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    _, port, messages = receiver(udp_socket_factory, udp_recorder)
    simulated_network.duplicate = 1.0
    udp_socket_factory().send({"address": "127.0.0.1", "port": port, "message": "twice"})
    assert [p["message"] for p in messages.wait_for(2)] == [b"twice", b"twice"]
    (record,) = simulated_network.datagrams
    assert (record.fate, record.delays_ms) == ("duplicated", (0.0, 0.0))
    assert [d.copy for d in simulated_network.deliveries] == [0, 1]


@EXACT_FATES
def test_reordered_datagram_arrives_after_the_next_one(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    _, port, messages = receiver(udp_socket_factory, udp_recorder)
    sender = udp_socket_factory()
    simulated_network.reorder_window = 10_000  # only the next datagram may release it
    simulated_network.reorder = 1.0
    sender.send({"address": "127.0.0.1", "port": port, "message": "first"})
    simulated_network.reorder = 0.0
    sender.send({"address": "127.0.0.1", "port": port, "message": "second"})
    assert [p["message"] for p in messages.wait_for(2)] == [b"second", b"first"]
    assert [r.reordered for r in simulated_network.datagrams] == [True, False]


@EXACT_FATES
def test_reordered_datagram_alone_arrives_after_the_window(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    _, port, messages = receiver(udp_socket_factory, udp_recorder)
    simulated_network.reorder = 1.0
    simulated_network.reorder_window = 15
    udp_socket_factory().send({"address": "127.0.0.1", "port": port, "message": "late"})
    messages.wait_for(1)
    (record,) = simulated_network.datagrams
    (arrival,) = simulated_network.deliveries
    assert arrival.time - record.time >= 0.015


@EXACT_FATES
def test_delay_holds_each_copy_for_its_drawn_milliseconds(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    _, port, messages = receiver(udp_socket_factory, udp_recorder)
    simulated_network.delay = (20, 30)
    sender = udp_socket_factory()
    for n in range(5):
        sender.send({"address": "127.0.0.1", "port": port, "message": b"%d" % n})
    simulated_network.wait_idle()
    assert simulated_network.in_flight() == 0
    messages.wait_for(5)
    records = simulated_network.datagrams
    arrivals = {d.seq: d.time for d in simulated_network.deliveries}
    for record in records:
        (delay,) = record.delays_ms
        assert 20 <= delay <= 30
        assert arrivals[record.seq] - record.time >= delay / 1000 - 0.001


@EXACT_FATES
def test_datagram_over_the_mtu_is_dropped(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    _, port, messages = receiver(udp_socket_factory, udp_recorder)
    simulated_network.mtu = 1500
    sender = udp_socket_factory()
    sender.send({"address": "127.0.0.1", "port": port, "message": b"x" * 1473})
    sender.send({"address": "127.0.0.1", "port": port, "message": b"y" * 1472})
    assert [len(p["message"]) for p in messages.wait_for(1)] == [1472]
    assert [r.reason for r in simulated_network.datagrams] == ["mtu", None]


@pytest.mark.parametrize(
    ("name", "value"),
    [("loss", 1.5), ("duplicate", -0.1), ("reorder", True), ("delay", (5, 1)), ("mtu", 10)],
)
def test_invalid_fault_settings_raise(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=name):
        SimulatedNetwork(**{name: value})  # type: ignore[arg-type]
