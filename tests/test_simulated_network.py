"""SimulatedNetwork: its sockets keep the contract, with the OS's errors, errno for errno."""

# The plugin's fixtures are imported (so this runs with or without the entry point) and
# then requested as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import threading
from typing import Callable

import pytest

import taro_udp
from taro_udp import _transport
from taro_udp.testing import Recorder, SimulatedNetwork, SocketFactory
from taro_udp.testing.plugin import simulated_network, udp_recorder, udp_socket_factory  # noqa: F401

from ._helpers import receiver

# These assert the exact fate of each datagram on a perfect network (or of the one
# fault they set): under --taro-udp-swarm a random fault mix would change what they
# check, so they opt out of it.
EXACT_FATES = pytest.mark.taro_udp_swarm(False)


Factory = Callable[..., Recorder]


@EXACT_FATES
def test_datagram_arrives_with_the_contract_payload(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    _, port, messages = receiver(udp_socket_factory, udp_recorder)
    sender = udp_socket_factory()
    sender.send({"address": "127.0.0.1", "port": port, "message": "hello"})
    (payload,) = messages.wait_for(1)
    assert payload["message"] == b"hello"
    assert payload["remoteInfo"] == {
        "address": "127.0.0.1",
        "family": "IPv4",
        "port": simulated_network.datagrams[0].source[1],
        "size": 5,
    }
    assert payload["localInfo"] == {"address": "127.0.0.1", "family": "IPv4", "port": port}


@EXACT_FATES
def test_dual_stack_socket_sees_ipv4_peers_as_mapped(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    receiver = udp_socket_factory("udp6")
    messages = udp_recorder("messages")
    receiver.onMessage(messages)
    port = receiver.bind()
    udp_socket_factory().send({"address": "127.0.0.1", "port": port, "message": b"x"})
    (payload,) = messages.wait_for(1)
    assert payload["remoteInfo"]["address"] == "::ffff:127.0.0.1"
    assert payload["localInfo"]["address"] == "::ffff:127.0.0.1"
    assert payload["remoteInfo"]["family"] == "IPv6"


@EXACT_FATES
def test_ipv6_loopback_datagram(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    _, port, messages = receiver(udp_socket_factory, udp_recorder, "udp6")
    udp_socket_factory("udp6").send({"address": "::1", "port": port, "message": b"six"})
    (payload,) = messages.wait_for(1)
    assert payload["remoteInfo"]["address"] == "::1"
    assert simulated_network.datagrams[0].destination == ("::1", port)


def test_exit_restores_the_previous_transport_factory() -> None:
    before = _transport.transport_factory
    with SimulatedNetwork() as network:
        assert _transport.transport_factory == network.create_transport
    assert _transport.transport_factory is before


def test_network_can_be_entered_only_once() -> None:
    network = SimulatedNetwork()
    with network, pytest.raises(RuntimeError, match="only once"):
        network.__enter__()


def test_ephemeral_ports_are_handed_out_in_order(
    simulated_network: SimulatedNetwork, udp_socket_factory: SocketFactory
) -> None:
    ports = [udp_socket_factory().bind() for _ in range(3)]
    assert ports == [32768, 32769, 32770]


def test_datagrams_in_flight_at_exit_are_discarded(
    udp_socket_factory: SocketFactory,
) -> None:
    with SimulatedNetwork(delay=(5000, 5000)) as network:
        sender = udp_socket_factory()
        sender.send({"address": "127.0.0.1", "port": 9, "message": "never"})
        assert network.in_flight() == 1
    assert [d.outcome for d in network.deliveries] == ["discarded"]


def test_datagram_held_for_reordering_at_exit_is_discarded(
    udp_socket_factory: SocketFactory,
) -> None:
    with SimulatedNetwork(reorder=1.0, reorder_window=60_000) as network:
        udp_socket_factory().send({"address": "127.0.0.1", "port": 9, "message": "held"})
    assert [(d.seq, d.outcome) for d in network.deliveries] == [(0, "discarded")]


def test_sends_after_exit_are_dropped(udp_socket_factory: SocketFactory) -> None:
    with SimulatedNetwork() as network:
        sender = udp_socket_factory()
    sender.send({"address": "127.0.0.1", "port": 9, "message": "late"})
    assert [r.reason for r in network.datagrams] == ["network closed"]


# -- the OS's errors, errno for errno --------------------------------------------------


def test_binding_a_port_in_use_fails_like_the_os(
    simulated_network: SimulatedNetwork, udp_socket_factory: SocketFactory
) -> None:
    port = udp_socket_factory().bind(address="127.0.0.1")
    with pytest.raises(taro_udp.UDPSocketError) as caught:
        udp_socket_factory(expect_errors=True).bind(port, address="127.0.0.1")
    assert caught.value.errMsg == "bind:fail Address already in use"
    assert caught.value.errCode == -2


def test_binding_a_foreign_address_fails_like_the_os(
    simulated_network: SimulatedNetwork, udp_socket_factory: SocketFactory
) -> None:
    with pytest.raises(taro_udp.UDPSocketError, match="Cannot assign requested address"):
        udp_socket_factory(expect_errors=True).bind(address="192.0.2.7")


def test_reuse_address_lets_sockets_share_a_port_and_broadcast_reaches_all(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    first = udp_socket_factory(options={"reuseAddr": True})
    second = udp_socket_factory(options={"reuseAddr": True})
    heard = udp_recorder("broadcasts")
    first.onMessage(heard)
    second.onMessage(heard)
    port = first.bind()
    assert second.bind(port) == port
    udp_socket_factory().send(
        {"address": "255.255.255.255", "port": port, "message": "all", "setBroadcast": True}
    )
    payloads = heard.wait_for(2)
    assert {p["localInfo"]["address"] for p in payloads} == {"255.255.255.255"}


@pytest.mark.parametrize(
    ("option", "errMsg", "errCode"),
    [
        (
            # A directed broadcast without setBroadcast (the limited one needs no flag).
            {"address": "127.255.255.255", "port": 9, "message": "x"},
            "send:fail Permission denied",
            -3,
        ),
        (
            {"address": "127.0.0.1", "port": 9, "message": b"x" * 65508},
            "send:fail Message too long",
            -2,
        ),
    ],
)
def test_send_failures_match_the_os(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
    option: taro_udp.SendOption,
    errMsg: str,
    errCode: int,
) -> None:
    sock = udp_socket_factory(expect_errors=True)
    results = udp_recorder("results")
    sock.send({**option, "fail": results})
    assert results.wait_for(1) == [{"errMsg": errMsg, "errCode": errCode}]


@EXACT_FATES
def test_connected_socket_hears_of_an_unreachable_peer(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    sock = udp_socket_factory(expect_errors=True)
    errors = udp_recorder("errors")
    sock.onError(errors)
    sock.connect({"address": "127.0.0.1", "port": 9})
    sock.write({"message": "anyone?"})
    (error,) = errors.wait_for(1)
    assert error["errCode"] == -2
    assert error["errMsg"].endswith(":fail Connection refused")


def test_ttl_is_recorded_and_zero_refused_on_ipv4(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    sock = udp_socket_factory(expect_errors=True)
    errors = udp_recorder("errors")
    sock.onError(errors)
    sock.setTTL(7)
    sock.setTTL(0)
    sock.send({"address": "127.0.0.1", "port": 9, "message": "x"})
    assert errors.wait_for(1) == [{"errMsg": "setTTL:fail Invalid argument", "errCode": -2}]
    assert simulated_network.datagrams[0].ttl == 7


def test_closed_socket_leaves_no_fd_and_frees_its_port(
    simulated_network: SimulatedNetwork, udp_socket_factory: SocketFactory
) -> None:
    sock = udp_socket_factory()
    port = sock.bind(address="127.0.0.1")
    sock.close()
    assert udp_socket_factory().bind(port, address="127.0.0.1") == port


@EXACT_FATES
def test_network_without_delays_runs_no_thread(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    _, port, messages = receiver(udp_socket_factory, udp_recorder)
    udp_socket_factory().send({"address": "127.0.0.1", "port": port, "message": "x"})
    messages.wait_for(1)
    names = [thread.name for thread in threading.enumerate()]
    assert "taro_udp-simulated-network" not in names
