"""Regression tests for the review of the simulated LAN and swarm testing (issues 17, 18).

Each test names the review script it comes from (r01...): it failed before the fix.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any, List

import pytest

import taro_udp
from taro_udp.testing import (
    Delay,
    GilbertElliott,
    Link,
    SimulatedNetwork,
    VirtualTimeError,
    _network,
)
from taro_udp.testing._schedule import Decider, Fate, Outgoing

from .test_pcap import read_pcap

pytest_plugins = ["pytester"]
PLUGIN = "taro_udp.testing.plugin"

# -- r01: a link's parameters are checked; a deadline out of reach never spins the loop ---


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: Delay(math.inf), ValueError, "Delay mean (ms)"),
        (lambda: Delay(math.nan), ValueError, "Delay mean (ms)"),
        (lambda: Delay(1e300), ValueError, "Delay mean (ms)"),
        (lambda: Delay(5, math.inf), ValueError, "Delay jitter (ms)"),
        (lambda: Delay(5, 1, "pareto", math.inf), ValueError, "Delay alpha"),
        (lambda: Delay("5"), TypeError, "Delay mean (ms)"),  # type: ignore[arg-type]
        (lambda: Delay(True), TypeError, "Delay mean (ms)"),
        (lambda: Link(delay=(0, math.inf)), ValueError, "delay hi (ms)"),
        (lambda: Link(delay=(math.nan, 1)), ValueError, "delay lo (ms)"),
        (lambda: Link(delay="slow"), TypeError, "delay must be"),  # type: ignore[arg-type]
        (lambda: Link(bandwidth=math.inf), ValueError, "bandwidth (bits/s)"),
        (lambda: Link(bandwidth=math.nan), ValueError, "bandwidth (bits/s)"),
        (lambda: Link(queue=2.5), TypeError, "queue must be an int"),  # type: ignore[arg-type]
        (lambda: Link(queue=True), TypeError, "queue must be an int"),
        (lambda: Link(loss=math.nan), ValueError, "loss"),
        (lambda: Link(loss="0.1"), ValueError, "loss"),  # type: ignore[arg-type]
        (lambda: Link(corrupt=math.inf), ValueError, "corrupt"),
        (lambda: GilbertElliott(p=math.inf, r=0.1), ValueError, "p must be"),
        (lambda: GilbertElliott(p=0.1, r=math.nan), ValueError, "r must be"),
    ],
)
def test_r01_link_parameters_are_validated(make: Any, error: type, words: str) -> None:
    with pytest.raises(error, match=None) as caught:
        make()
    assert words in str(caught.value), str(caught.value)


def test_r01_network_delay_must_be_finite() -> None:
    with SimulatedNetwork(virtual_time=True) as net:
        for bad in ((0, math.inf), (math.nan, 1), (0, 1e300)):
            with pytest.raises(ValueError, match="delay must be"):
                net.delay = bad
        with pytest.raises(ValueError, match="reorder_window"):
            net.reorder_window = math.inf
        assert net.delay == (0.0, 0.0)


class _InfiniteDelay(Decider):
    def decide(self, network: SimulatedNetwork, datagram: Outgoing) -> Fate:
        return Fate(delays=(math.inf,))


def test_r01_a_decider_choosing_an_infinite_delay_fails_the_send() -> None:
    with SimulatedNetwork(virtual_time=True, decider=_InfiniteDelay()) as net:
        got: List[Any] = []
        with taro_udp.create_udp_socket() as server, taro_udp.create_udp_socket() as client:
            server.bind(5000)
            server.onMessage(got.append)
            with pytest.raises(ValueError, match=r"delay of inf ms for datagram #0"):
                client.send({"address": "127.0.0.1", "port": 5000, "message": "x"})
            ran = threading.Event()
            taro_udp.setTimeout(ran.set, 10)
            net.advance(seconds=0.1)
            assert ran.is_set(), "a 10 ms timer did not run after the refused send"
        assert got == []
        assert net.datagrams == []


def test_r01_a_deadline_out_of_reach_fails_the_drive(monkeypatch: pytest.MonkeyPatch) -> None:
    # The clock itself, should a deadline it cannot reach ever get onto the loop.
    monkeypatch.setattr(_network, "_check_delays", lambda *args: None)
    net = SimulatedNetwork(virtual_time=True, decider=_InfiniteDelay())
    make = taro_udp.create_udp_socket
    with net, make() as server, make() as client:
        server.bind(5000)
        client.send({"address": "127.0.0.1", "port": 5000, "message": "x"})
        ran = threading.Event()
        taro_udp.setTimeout(ran.set, 10)
        net.advance(seconds=0.1)  # returns: the far timer is past its limit
        assert ran.is_set()
        with pytest.raises(VirtualTimeError, match="can never reach"):
            net.run_until(lambda: False, what="nothing")
        net.advance(seconds=0.1)  # and the loop still runs


# -- r02, r08: the swarm under pytest --------------------------------------------------


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """An inner pytest session with the plugin loaded explicitly."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini(
        "[pytest]\nfilterwarnings =\n    error\n    ignore::pytest.PytestAssertRewriteWarning\n"
    )
    return pytester


def test_r02_a_failure_that_does_not_reproduce_on_its_seed_is_not_shrunk(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(
        test_flaky="""
        import taro_udp
        CALLS = {"n": 0}

        def test_flaky(virtual_network):
            CALLS["n"] += 1  # state kept between runs: the network decides nothing of it
            with taro_udp.create_udp_socket() as s, taro_udp.create_udp_socket() as c:
                s.bind(5000)
                c.send({"address": "127.0.0.1", "port": 5000, "message": "m"})
                virtual_network.settle()
            assert CALLS["n"] != 3, "flaky: 3rd call"
        """
    )
    result = inner.runpytest("-p", PLUGIN, "--taro-udp-swarm", "5", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "first failure: seed 3" in text, text
    assert "did not reproduce (flaky outside the schedule): seed 3 run again passed" in text
    assert "shrunk from" not in text
    assert "replay: pytest --taro-udp-seed" not in text
    assert "taro_udp_replay(" not in text


def test_r08_a_setup_error_is_reported_once_not_swarmed(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_setup="""
        import pytest
        CALLS = {"n": 0}

        @pytest.fixture
        def broken():
            CALLS["n"] += 1
            raise RuntimeError("setup broke %d" % CALLS["n"])

        def test_setup_error(virtual_network, broken):
            pass
        """
    )
    result = inner.runpytest("-p", PLUGIN, "--taro-udp-swarm", "25", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    text = result.stdout.str()
    assert "RuntimeError: setup broke 1" in text
    assert "setup broke 2" not in text
    assert "first failure" not in text
    assert "test_setup_error: " not in text  # no swarm summary line


# -- r03, r04: the "delivered" capture is what the receiver got; routers decrement TTL ---


def _listen(host: Any, port: int) -> List[Any]:
    got: List[Any] = []
    with host:
        sock = taro_udp.create_udp_socket()
    sock.onMessage(got.append)
    sock.bind(port)
    return got


@pytest.mark.parametrize("link", [Link(corrupt=1.0), Link(truncate=1.0)], ids=["corrupt", "cut"])
def test_r03_delivered_pcap_shows_the_payload_as_received(link: Link, tmp_path: Path) -> None:
    with SimulatedNetwork(virtual_time=True, link=link, seed=3) as net:
        got: List[Any] = []
        with taro_udp.create_udp_socket() as server, taro_udp.create_udp_socket() as client:
            server.bind(5000)
            server.onMessage(got.append)
            client.send({"address": "127.0.0.1", "port": 5000, "message": "hello world"})
            net.settle()
        net.write_pcap(tmp_path / "d.pcap", view="delivered")
        net.write_pcap(tmp_path / "s.pcap", view="sent")
    received = [message["message"] for message in got]
    assert len(received) == 1
    assert received != [b"hello world"]  # the link did change it
    assert [packet.payload for packet in read_pcap(tmp_path / "d.pcap")] == received
    assert [packet.payload for packet in read_pcap(tmp_path / "s.pcap")] == [b"hello world"]


def test_r04_a_router_decrements_ttl_and_drops_ttl_1(tmp_path: Path) -> None:
    with SimulatedNetwork(local_address="192.168.1.23/24", virtual_time=True) as net:
        net.add_router("192.168.1.1/24", "192.168.2.1/24", name="r")
        far = net.add_host("192.168.2.60/24", name="far")
        got = _listen(far, 5000)
        with taro_udp.create_udp_socket() as low, taro_udp.create_udp_socket() as plain:
            low.bind(0)
            low.setTTL(1)
            low.send({"address": "192.168.2.60", "port": 5000, "message": "ttl1"})
            plain.setTTL(2)
            plain.send({"address": "192.168.2.60", "port": 5000, "message": "ttl2"})
            local = taro_udp.create_udp_socket()
            local.bind(6000)
            local_got: List[Any] = []
            local.onMessage(local_got.append)
            low.send({"address": "192.168.1.23", "port": 6000, "message": "no router"})
            net.settle()
            local.close()
        records = net.datagrams
        net.write_pcap(tmp_path / "d.pcap", view="delivered")
        for sock in net.sockets:
            sock.close()
    assert [message["message"] for message in got] == [b"ttl2"]
    assert [message["message"] for message in local_got] == [b"no router"]
    assert (records[0].fate, records[0].reason) == ("dropped", "ttl exceeded")
    assert [(p.payload, p.ttl) for p in read_pcap(tmp_path / "d.pcap")] == [
        (b"ttl2", 1),
        (b"no router", 1),
    ]


# -- r05: a NAT's outside port is one no socket of the router holds ---------------------


def test_r05_nat_skips_the_ports_of_the_routers_own_sockets() -> None:
    with SimulatedNetwork(local_address="192.168.1.23/24", virtual_time=True) as net:
        router = net.add_router("192.168.1.1/24", "10.0.0.1/24", name="r", nat=True)
        server = net.add_host("10.0.0.9/24", name="srv")
        router_got = _listen(router, 20000)  # the router's own service (DNS, UPnP...)
        with server:
            srv = taro_udp.create_udp_socket()
        srv_got: List[Any] = []
        srv.onMessage(srv_got.append)
        srv.bind(7000)
        phone_got: List[Any] = []
        with taro_udp.create_udp_socket() as phone:
            phone.onMessage(phone_got.append)
            phone.bind(0)
            phone.send({"address": "10.0.0.9", "port": 7000, "message": "hi"})
            net.settle()
            mapped = srv_got[0]["remoteInfo"]["port"]
            srv.send({"address": "10.0.0.1", "port": 20000, "message": "for the router"})
            srv.send({"address": "10.0.0.1", "port": mapped, "message": "reply"})
            net.settle()
        for sock in net.sockets:
            sock.close()
    assert srv_got[0]["remoteInfo"]["address"] == "10.0.0.1"
    assert mapped == 20001
    assert [m["message"] for m in router_got] == [b"for the router"]
    assert [m["message"] for m in phone_got] == [b"reply"]


# -- r06: one address per LAN, subnets that do not overlap -------------------------------


def test_r06_duplicate_addresses_and_overlapping_subnets_are_refused() -> None:
    with SimulatedNetwork(local_address="192.168.1.23/24", virtual_time=True) as net:
        net.add_host("192.168.1.5/24", name="a")
        with pytest.raises(ValueError, match=r"192\.168\.1\.5 is already a's .*b cannot"):
            net.add_host("192.168.1.5/16", name="b")
        with pytest.raises(
            ValueError, match=r"subnet 192\.168\.0\.0/16 overlaps subnet 192\.168\.1\.0/24"
        ):
            net.add_host("192.168.1.50/16", name="dev")
        with pytest.raises(ValueError, match=r"subnet 192\.168\.1\.0/25 overlaps"):
            net.add_subnet("192.168.1.0/25")
        assert [h.name for h in net.hosts] == ["local", "a"]
        assert [str(s.address) for s in net.subnets] == ["192.168.1.0/24"]
        dev = net.add_host("192.168.1.50/24", "10.1.0.50/16", name="dev")  # disjoint: fine
        assert [str(s.address) for s in net.subnets] == [
            "192.168.1.0/24",
            "10.1.0.0/16",
        ]
        assert dev.name == "dev"


# -- r09: membership of a closed socket -------------------------------------------------


def test_r09_join_and_leave_group_on_a_closed_socket_raise() -> None:
    with SimulatedNetwork(local_address="192.168.1.23/24", virtual_time=True) as net:
        dev = net.add_host("192.168.1.50/24")
        with dev:
            sock = taro_udp.create_udp_socket()
        sock.bind(1900)
        net.join_group(sock, "239.255.255.250")  # open: fine
        sock.close()
        with pytest.raises(ValueError, match="join_group: socket is closed"):
            net.join_group(sock, "239.255.255.251")
        with pytest.raises(ValueError, match="leave_group: socket is closed"):
            net.leave_group(sock, "239.255.255.250")


# -- r07: the local host without a LAN has no route to one --------------------------------


def _send(net: SimulatedNetwork, sock: Any, **option: Any) -> Any:
    results: List[Any] = []
    sock.send({**option, "complete": results.append})
    net.settle()
    return results[0]


def test_r07_loopback_only_local_host_cannot_reach_a_lan_host() -> None:
    with SimulatedNetwork(virtual_time=True) as net:
        usr = net.add_host("10.10.100.254/24", name="usr")  # local_address= forgotten
        got = _listen(usr, 48899)
        mine: List[Any] = []
        with taro_udp.create_udp_socket() as phone, taro_udp.create_udp_socket() as own:
            phone.onError(lambda error: None)
            result = _send(net, phone, address="10.10.100.254", port=48899, message="AT")
            own.bind(5000)  # loopback still works
            own.onMessage(mine.append)
            assert _send(net, phone, address="127.0.0.1", port=5000, message="me") == {
                "errMsg": "send:ok"
            }
        for sock in net.sockets:
            sock.close()
        records = net.datagrams
    assert result == {"errMsg": "send:fail Network is unreachable", "errCode": -2}
    assert got == []
    assert [m["message"] for m in mine] == [b"me"]
    assert [r.destination for r in records] == [("127.0.0.1", 5000)]


def test_r07_without_a_lan_other_addresses_stay_lost_as_in_0_2_0() -> None:
    with SimulatedNetwork(virtual_time=True) as net, taro_udp.create_udp_socket() as phone:
        result = _send(net, phone, address="192.168.193.2", port=8848, message="hi")
        assert result == {"errMsg": "send:ok"}
        assert [d.outcome for d in net.deliveries] == ["no host"]
