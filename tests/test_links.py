"""Link models: their statistics over a seeded run match their parameters, within bounds.

Every bound is stated with where it comes from (a few standard deviations of the
estimate); the runs are seeded, so each test gives the same numbers every time and the
bounds only say how far from the parameter a correct model may land.
"""

from __future__ import annotations

import math
from typing import Callable, List, Optional, Tuple

import pytest

import taro_udp
from taro_udp import OnMessageCallbackResult
from taro_udp.testing import (
    DatagramRecord,
    Delay,
    GilbertElliott,
    Link,
    Schedule,
    SimulatedNetwork,
)


def _blast(
    network: SimulatedNetwork,
    count: int,
    *,
    source: str = "127.0.0.1",
    destination: str = "127.0.0.2",
    payload: bytes = b"x",
) -> List[DatagramRecord]:
    """``count`` datagrams from ``source`` to an unbound port of ``destination``."""
    with taro_udp.create_udp_socket() as sock:
        sock.bind(address=source)
        for _ in range(count):
            sock.send({"address": destination, "port": 9, "message": payload})
    return [r for r in network.datagrams if r.source[0] == source]


def _losses(records: List[DatagramRecord]) -> List[bool]:
    return [record.reason == "loss" for record in records]


def _bursts(lost: List[bool]) -> List[int]:
    bursts, run = [], 0
    for flag in lost:
        if flag:
            run += 1
        elif run:
            bursts.append(run)
            run = 0
    return bursts + ([run] if run else [])


def _ge_sigma(model: GilbertElliott, n: int) -> float:
    # The loss rate's standard deviation over n datagrams: the state's share varies as a
    # two-state Markov chain's (factor (1 + l) / (1 - l), l = 1 - p - r), plus the
    # Bernoulli draw in each state.
    bad = model.bad_fraction
    lam = 1 - model.p - model.r
    state = bad * (1 - bad) * (1 + lam) / (1 - lam) * (model.loss_bad - model.loss_good) ** 2
    draw = bad * model.loss_bad * (1 - model.loss_bad)
    draw += (1 - bad) * model.loss_good * (1 - model.loss_good)
    return math.sqrt((state + draw) / n)


# -- Gilbert–Elliott -----------------------------------------------------------------


@pytest.mark.parametrize("preset", ["wifi", "cellular", "congested"])
def test_gilbert_elliott_presets_lose_at_their_expected_rate(preset: str) -> None:
    model = GilbertElliott.preset(preset)
    n = 10000
    with SimulatedNetwork(seed=5, virtual_time=True, link=Link(loss=model)) as network:
        rate = sum(_losses(_blast(network, n))) / n
    bound = 4 * _ge_sigma(model, n)  # 4 standard deviations
    assert abs(rate - model.expected_loss) <= bound, (preset, rate, model.expected_loss, bound)


def test_gilbert_elliott_losses_come_in_bursts_of_mean_length_one_over_r() -> None:
    model = GilbertElliott(p=0.02, r=0.25)  # bad state loses everything, good nothing
    n = 10000
    with SimulatedNetwork(seed=2, virtual_time=True, link=Link(loss=model)) as network:
        bursts = _bursts(_losses(_blast(network, n)))
    mean = sum(bursts) / len(bursts)
    # Burst lengths are geometric: mean 1/r = 4, sd sqrt(1 - r)/r; bound 4 standard errors.
    bound = 4 * math.sqrt(1 - model.r) / model.r / math.sqrt(len(bursts))
    assert abs(mean - 1 / model.r) <= bound, (mean, bound)
    with SimulatedNetwork(seed=2, virtual_time=True, loss=model.expected_loss) as network:
        independent = _bursts(_losses(_blast(network, n)))
    assert sum(independent) / len(independent) < 1.2  # the same loss rate, no bursts


# -- delay distributions ------------------------------------------------------------------


def _delays(delay: Delay, n: int = 5000) -> List[float]:
    with SimulatedNetwork(seed=3, virtual_time=True, link=Link(delay=delay)) as network:
        records = _blast(network, n)
    return [record.delays_ms[0] for record in records]


def _mean_sd(values: List[float]) -> Tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def test_uniform_delay_stays_in_mean_plus_minus_jitter_with_its_mean() -> None:
    values = _delays(Delay(50, 20))
    mean, sd = _mean_sd(values)
    assert min(values) >= 30
    assert max(values) <= 70
    assert abs(mean - 50) <= 4 * (20 / math.sqrt(3)) / math.sqrt(len(values))
    assert abs(sd - 20 / math.sqrt(3)) <= 0.6


def test_normal_delay_has_its_mean_and_standard_deviation() -> None:
    values = _delays(Delay(50, 10, "normal"))
    mean, sd = _mean_sd(values)
    assert abs(mean - 50) <= 4 * 10 / math.sqrt(len(values))
    assert abs(sd - 10) <= 4 * 10 / math.sqrt(2 * len(values))  # 4 standard errors of sd


def test_pareto_delay_has_its_minimum_its_mean_and_a_heavy_tail() -> None:
    values = _delays(Delay(50, 20, "pareto", alpha=2.5))
    mean, _ = _mean_sd(values)
    assert min(values) >= 30  # mean - jitter
    assert abs(mean - 50) <= 4  # sd of one draw ~45 ms: 4 standard errors ~2.5, plus tail
    # P(delay > mean + 3 jitter) = P(X > 5.5 / 1.5) = (1.5 / 5.5) ** 2.5 = 3.9%.
    tail = sum(value > 110 for value in values) / len(values)
    assert 0.030 <= tail <= 0.048
    normal = _delays(Delay(50, 20, "normal"))
    assert sum(value > 110 for value in normal) / len(normal) < 0.005


# -- bandwidth and queue ----------------------------------------------------------------


def test_bandwidth_serialises_datagrams_and_a_full_queue_drops_the_tail() -> None:
    link = Link(bandwidth=1_000_000, queue=10)  # 1 Mbit/s: 1000 bytes on the wire = 8 ms
    with SimulatedNetwork(virtual_time=True, link=link) as network:
        records = _blast(network, 50, payload=b"x" * 972)
        kept = [r for r in records if r.fate == "delivered"]
        assert [r.delays_ms[0] for r in kept] == [8.0 * k for k in range(1, 11)]
        assert {r.reason for r in records[10:]} == {"queue full"}
        network.advance(seconds=0.1)  # the queue has drained
        later = _blast(network, 60, payload=b"x" * 972)[50:]
    assert [r.delays_ms[0] for r in later[:3]] == [8.0, 16.0, 24.0]


def test_bandwidth_caps_throughput_at_the_link_rate() -> None:
    link = Link(bandwidth=1_000_000, queue=5)
    received: List[float] = []
    network = SimulatedNetwork(virtual_time=True, link=link)
    with network, taro_udp.create_udp_socket() as sink, taro_udp.create_udp_socket() as source:
        sink.onMessage(lambda res: received.append(taro_udp.performance.now()))
        port = sink.bind(address="127.0.0.2")
        for _ in range(250):  # one every 4 ms: twice what the link carries
            source.send({"address": "127.0.0.2", "port": port, "message": b"x" * 972})
            network.advance(seconds=0.004)
        network.settle()
    # 1000 s / 8 ms: 125 per second; the send window lasted 1 s.
    assert 120 <= len(received) <= 131


# -- corruption and truncation ------------------------------------------------------------


def test_corruption_flips_exactly_one_bit_at_its_rate_and_is_a_decision() -> None:
    received: List[bytes] = []
    payload = bytes(range(32))
    n = 2000
    with SimulatedNetwork(virtual_time=True, seed=8, link=Link(corrupt=0.3)) as network:
        with taro_udp.create_udp_socket() as sink, taro_udp.create_udp_socket() as source:
            sink.onMessage(lambda res: received.append(bytes(res["message"])))
            port = sink.bind(address="127.0.0.2")
            for _ in range(n):
                source.send({"address": "127.0.0.2", "port": port, "message": payload})
            network.run_until(lambda: len(received) == n, 5.0, "every datagram")
        decisions = [d for d in network.schedule if d.kind == "corrupt"]
    changed = [data for data in received if data != payload]
    flipped = {sum(bin(a ^ b).count("1") for a, b in zip(data, payload)) for data in changed}
    assert flipped == {1}
    assert len(changed) == len(decisions)
    sigma = math.sqrt(0.3 * 0.7 / n)
    assert abs(len(changed) / n - 0.3) <= 4 * sigma


def test_truncation_cuts_payloads_at_its_rate() -> None:
    n = 2000
    payload = b"0123456789" * 4
    with SimulatedNetwork(virtual_time=True, seed=8, link=Link(truncate=0.2)) as network:
        _blast(network, n, payload=payload)
        cuts = [d for d in network.schedule if d.kind == "truncate"]
    assert all(0 <= d.value < len(payload) for d in cuts)
    assert abs(len(cuts) / n - 0.2) <= 4 * math.sqrt(0.2 * 0.8 / n)


# -- partitions in virtual time, per-link models ----------------------------------------


def _both_ways(network: SimulatedNetwork, every_ms: float, until_ms: float) -> None:
    with taro_udp.create_udp_socket() as a, taro_udp.create_udp_socket() as b:
        a.bind(address="127.0.0.1")
        b.bind(address="127.0.0.2")
        elapsed = 0.0
        while elapsed < until_ms:
            a.send({"address": "127.0.0.2", "port": 9, "message": b"a"})
            b.send({"address": "127.0.0.1", "port": 9, "message": b"b"})
            network.advance(seconds=every_ms / 1000)
            elapsed += every_ms


def _dropped_at(network: SimulatedNetwork, source: str) -> List[int]:
    start = network.datagrams[0].time
    return [
        round((r.time - start) * 1000)
        for r in network.datagrams
        if r.source[0] == source and r.reason == "partition"
    ]


def test_a_scheduled_partition_holds_from_at_for_its_duration_one_way() -> None:
    with SimulatedNetwork(virtual_time=True) as network:
        network.links.schedule_partition("127.0.0.1", "127.0.0.2", at=100, duration=50, both=False)
        _both_ways(network, 10, 300)
    assert _dropped_at(network, "127.0.0.1") == [100, 110, 120, 130, 140]
    assert _dropped_at(network, "127.0.0.2") == []


def test_a_scheduled_partition_both_ways() -> None:
    with SimulatedNetwork(virtual_time=True) as network:
        network.links.schedule_partition("127.0.0.2", "127.0.0.1", at=30, duration=20)
        _both_ways(network, 10, 100)
    assert _dropped_at(network, "127.0.0.1") == [30, 40]
    assert _dropped_at(network, "127.0.0.2") == [30, 40]


def test_a_link_model_applies_to_its_pair_only() -> None:
    with SimulatedNetwork(virtual_time=True) as network:
        network.links.set("127.0.0.1", "127.0.0.2", Link(loss=1.0), both=False)
        to_two = _blast(network, 20, destination="127.0.0.2")
        to_three = _blast(network, 20, destination="127.0.0.3")[20:]
        back = _blast(network, 20, source="127.0.0.2", destination="127.0.0.1")
    assert {r.reason for r in to_two} == {"loss"}
    assert {r.fate for r in to_three} == {"delivered"}
    assert {r.fate for r in back} == {"delivered"}


def _collect(into: List[Tuple[str, bytes]], name: str) -> Callable[..., None]:
    def on_message(res: OnMessageCallbackResult) -> None:
        into.append((name, bytes(res["message"])))

    return on_message


def test_a_link_model_per_subnet_and_per_host_on_a_lan() -> None:
    received: List[Tuple[str, bytes]] = []
    with SimulatedNetwork(virtual_time=True) as network:
        phone = network.add_host("192.168.1.10/24", name="phone")
        lamp = network.add_host("192.168.1.20/24", name="lamp")
        plug = network.add_host("192.168.1.30/24", name="plug")
        network.links.set("192.168.1.0/24", "192.168.1.0/24", Link(delay=Delay(30)))
        network.links.set(phone, plug, Link(loss=1.0))
        sockets = []
        for host in (lamp, plug):
            with host:
                sock = taro_udp.create_udp_socket()
            sock.onMessage(_collect(received, host.name))
            sock.bind(7000)
            sockets.append(sock)
        with phone:
            sender = taro_udp.create_udp_socket()
        for address in ("192.168.1.20", "192.168.1.30"):
            sender.send({"address": address, "port": 7000, "message": b"on"})
        network.settle()
        for sock in [*sockets, sender]:
            sock.close()
        records = network.datagrams
    assert received == [("lamp", b"on")]
    assert [(r.destination[0], r.reason, r.delays_ms) for r in records] == [
        ("192.168.1.20", None, (30.0,)),
        ("192.168.1.30", "loss", ()),
    ]


def test_link_model_decisions_replay_from_the_schedule() -> None:
    link = Link(loss=GilbertElliott.preset("cellular"), delay=Delay(60, 30, "pareto"), corrupt=0.1)

    def run(**options: object) -> SimulatedNetwork:
        with SimulatedNetwork(virtual_time=True, seed=4, **options) as network:  # type: ignore[arg-type]
            _blast(network, 300, payload=b"payload")
            network.wait_idle()
        return network

    first = run(link=link)
    assert {d.kind for d in first.schedule} == {"lose", "delay", "corrupt"}
    again = run(schedule=Schedule.parse(str(first.schedule)))
    assert again.trace == first.trace


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: GilbertElliott(p=1.5, r=0.1), "p must be a probability"),
        (lambda: GilbertElliott(p=0, r=0), "cannot both be 0"),
        (lambda: GilbertElliott.preset("dialup"), "preset must be one of wifi"),
        (lambda: Delay(10, 5, "zipf"), "distribution must be one of uniform"),
        (lambda: Delay(-1), "invalid delay"),
        (lambda: Link(bandwidth=0), "bandwidth must be > 0"),
        (lambda: Link(corrupt=2), "corrupt must be a probability"),
        (lambda: Link(queue=0), "queue must be >= 1"),
    ],
)
def test_bad_link_parameters_are_refused_with_the_parameter_named(
    make: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_link_presets_describe_real_links() -> None:
    losses = {name: Link.preset(name) for name in ("wifi", "cellular", "congested")}
    rates = [link.loss.expected_loss for link in losses.values()]  # type: ignore[union-attr]
    assert rates == sorted(rates)
    assert 0.01 < rates[0] < 0.03
    assert 0.25 < rates[2] < 0.4
    unset: Optional[Link] = SimulatedNetwork().links.default
    assert unset is None
