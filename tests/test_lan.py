"""The simulated LAN: hosts with their own addresses, subnets, broadcast and multicast as
Linux has them, routers and NAT, and the phone leaving its Wi-Fi (issue 17).

Every test runs under virtual time (``virtual_network``): waits are drives of the clock,
bounded in virtual seconds, and the same seed gives the same run.
"""

# The plugin's fixtures are imported (so this runs with or without the entry point) and
# then requested as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

import taro_udp
from taro_udp import OnMessageCallbackResult
from taro_udp.testing import Host, Recorder, SimulatedNetwork, SocketFactory
from taro_udp.testing.plugin import udp_recorder, udp_socket_factory, virtual_network  # noqa: F401

Factory = Callable[..., Recorder]
PHONE = {"local_address": "192.168.1.23/24"}
OK = {"errMsg": "send:ok"}
DENIED = {"errMsg": "send:fail Permission denied", "errCode": -3}
UNREACHABLE = {"errMsg": "send:fail Network is unreachable", "errCode": -2}
PORT = 48899


def _listener(
    factory: SocketFactory,
    recorder: Factory,
    host: Optional[Host],
    port: int = PORT,
    address: Optional[str] = None,
    name: str = "heard",
) -> Recorder:
    heard = recorder(name)
    if host is None:
        sock = factory(options={"reuseAddr": True})
    else:
        with host:
            sock = factory(options={"reuseAddr": True})
    sock.onMessage(heard)
    sock.bind(port, address=address)
    return heard


class Device:
    """A device fake on its own host: answers every datagram with ``reply`` (bytes), as
    itself (its name), from the address the datagram reached."""

    def __init__(self, factory: SocketFactory, host: Host, port: int = PORT) -> None:
        self.host = host
        self.heard: List[OnMessageCallbackResult] = []
        with host:
            self.sock = factory(options={"reuseAddr": True})
        self.sock.onMessage(self._answer)
        self.sock.bind(port)

    def _answer(self, res: OnMessageCallbackResult) -> None:
        self.heard.append(res)
        remote = res["remoteInfo"]
        reply = json.dumps({"name": self.host.name}).encode()
        self.sock.send({"address": remote["address"], "port": remote["port"], "message": reply})


# -- addressing ----------------------------------------------------------------------------


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_a_device_bound_at_its_softap_address_replies_from_it(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    # 0.2.0: bind:fail Cannot assign requested address, and the reply came from 127.0.0.x.
    device = virtual_network.add_host("10.10.100.254/24", name="device")
    with device:
        server = udp_socket_factory()
    server.onMessage(
        lambda res: server.send(
            {
                "address": res["remoteInfo"]["address"],
                "port": res["remoteInfo"]["port"],
                "message": b"ack",
            }
        )
    )
    assert server.bind(12414, address="10.10.100.254") == 12414
    virtual_network.local_host.move_to("10.10.100.100/24")
    answers = udp_recorder("answers")
    phone = udp_socket_factory()
    phone.onMessage(answers)
    phone.send({"address": "10.10.100.254", "port": 12414, "message": "ssid=home"})
    (answer,) = answers.wait_for(1)
    assert answer["remoteInfo"]["address"] == "10.10.100.254"
    assert answer["remoteInfo"]["port"] == 12414
    assert answer["localInfo"]["address"] == "10.10.100.100"
    assert answer["message"] == b"ack"


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_a_host_binds_only_its_own_addresses(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory
) -> None:
    device = virtual_network.add_host("192.168.1.50/24")
    with device:
        sock = udp_socket_factory(expect_errors=True)
    with pytest.raises(taro_udp.UDPSocketError) as info:
        sock.bind(0, address="192.168.1.23")  # the phone's, not the device's
    assert info.value.errMsg == "bind:fail Cannot assign requested address"


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_delivery_follows_addresses_not_a_catch_all(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    # Two hosts bind the same wildcard port: each hears only what is sent to its address.
    one = _listener(udp_socket_factory, udp_recorder, virtual_network.add_host("192.168.1.2/24"))
    two = _listener(udp_socket_factory, udp_recorder, virtual_network.add_host("192.168.1.3/24"))
    sender = udp_socket_factory()
    sender.send({"address": "192.168.1.3", "port": PORT, "message": "to three"})
    sender.send({"address": "192.168.1.99", "port": PORT, "message": "to nobody"})
    (payload,) = two.wait_for(1)
    virtual_network.settle()
    assert payload["localInfo"]["address"] == "192.168.1.3"
    assert payload["remoteInfo"]["address"] == "192.168.1.23"
    assert len(one) == 0
    assert len(two) == 1
    outcomes = [arrival.outcome for arrival in virtual_network.deliveries]
    assert outcomes == ["delivered", "no host"]


# -- broadcast -----------------------------------------------------------------------------


def _lan(network: SimulatedNetwork) -> None:
    network.add_host("192.168.1.50/24", name="lamp")
    network.add_host("192.168.1.51/24", name="plug")
    network.add_host("192.168.2.60/24", name="other")


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_a_broadcast_reaches_every_device_of_the_subnet_and_no_other(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    _lan(virtual_network)
    devices = [Device(udp_socket_factory, host) for host in virtual_network.hosts[1:]]
    answers = udp_recorder("answers")
    phone = udp_socket_factory()
    phone.onMessage(answers)
    phone.send({"address": "255.255.255.255", "port": PORT, "message": "who is there"})
    got = answers.wait_for(2)
    virtual_network.settle()
    assert sorted(json.loads(a["message"])["name"] for a in got) == ["lamp", "plug"]
    assert {a["remoteInfo"]["address"] for a in got} == {"192.168.1.50", "192.168.1.51"}
    lamp, plug, other = devices
    assert other.heard == []
    for device in (lamp, plug):
        (probe,) = device.heard
        assert probe["localInfo"]["address"] == "255.255.255.255"  # IP_PKTINFO's answer
        assert probe["remoteInfo"]["address"] == "192.168.1.23"
    assert len(answers) == 2


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_a_broadcast_loops_back_to_the_senders_own_wildcard_sockets(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    own = _listener(udp_socket_factory, udp_recorder, None, name="own")
    specific = _listener(udp_socket_factory, udp_recorder, None, address="192.168.1.23")
    udp_socket_factory().send({"address": "255.255.255.255", "port": PORT, "message": "hi"})
    (payload,) = own.wait_for(1)
    virtual_network.settle()
    assert payload["remoteInfo"]["address"] == "192.168.1.23"
    assert len(specific) == 0  # bound to a unicast address: a broadcast is not for it


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_a_directed_broadcast_needs_the_flag(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    _lan(virtual_network)
    heard = [_listener(udp_socket_factory, udp_recorder, h) for h in virtual_network.hosts[1:]]
    results = udp_recorder("results")
    phone = udp_socket_factory()
    udp_socket_factory.expect_error("send:fail Permission denied")
    option = {"address": "192.168.1.255", "port": PORT, "message": "x", "complete": results}
    phone.send(option)
    phone.send({**option, "setBroadcast": True})
    assert results.wait_for(2) == [DENIED, OK]
    lamp, plug, other = heard
    (payload,) = lamp.wait_for(1)
    plug.wait_for(1)
    virtual_network.settle()
    assert payload["localInfo"]["address"] == "192.168.1.255"
    assert len(other) == 0


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_another_subnets_directed_broadcast_is_unicast_to_the_router(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    # No flag needed: for the phone it is not a broadcast address; routers do not
    # forward directed broadcasts (Linux's bc_forwarding is off), so nobody hears it.
    _lan(virtual_network)
    virtual_network.add_router("192.168.1.1/24", "192.168.2.1/24")
    other = _listener(udp_socket_factory, udp_recorder, virtual_network.host("other"))
    results = udp_recorder("results")
    udp_socket_factory().send(
        {"address": "192.168.2.255", "port": PORT, "message": "x", "complete": results}
    )
    assert results.wait_for(1) == [OK]
    virtual_network.settle()
    assert len(other) == 0
    assert [arrival.outcome for arrival in virtual_network.deliveries] == ["no host"]


@pytest.mark.parametrize(
    "virtual_network", [{**PHONE, "seed": 5, "loss": 0.5, "delay": (1, 40)}], indirect=True
)
def test_every_receiver_of_a_broadcast_gets_its_own_fate(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    # 0.2.0 drew one fate per broadcast: every device heard it, or none did.
    hosts = [virtual_network.add_host(f"192.168.1.{10 + n}/24") for n in range(12)]
    heard = [_listener(udp_socket_factory, udp_recorder, host) for host in hosts]
    udp_socket_factory().send({"address": "255.255.255.255", "port": PORT, "message": "x"})
    virtual_network.settle()
    got = [len(recorder) for recorder in heard]
    assert 0 < sum(got) < len(hosts), got
    records = [r for r in virtual_network.datagrams if r.receiver is not None]
    by_host = {r.receiver: r for r in records}
    assert set(by_host) == {host.name for host in hosts}
    for host, count in zip(hosts, got):
        assert (by_host[host.name].fate != "dropped") == (count == 1)
    assert len({r.delays_ms for r in records if r.delays_ms}) > 1  # delays drawn apart too
    first = virtual_network.datagrams[0]  # the copy looped back to the phone itself
    assert first.receiver is None
    assert first.first is None
    assert all(r.first == first.seq for r in records)


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_a_multicast_m_search_reaches_only_the_joined_sockets(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    _lan(virtual_network)
    renderer, printer, other = virtual_network.hosts[1:]
    joined = udp_recorder("joined")
    with renderer:
        member = udp_socket_factory(options={"reuseAddr": True})
    member.onMessage(joined)
    member.bind(1900)
    virtual_network.join_group(member, "239.255.255.250")
    not_joined = _listener(udp_socket_factory, udp_recorder, printer, port=1900)
    with other:
        far = udp_socket_factory()
    far_heard = udp_recorder("far")
    far.onMessage(far_heard)
    far.bind(1900)
    virtual_network.join_group(far, "239.255.255.250")  # a member, on another subnet
    search = (
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
        'MAN: "ssdp:discover"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n'
    )
    udp_socket_factory().send({"address": "239.255.255.250", "port": 1900, "message": search})
    (payload,) = joined.wait_for(1)
    virtual_network.settle()
    assert payload["message"].startswith(b"M-SEARCH")
    assert payload["localInfo"]["address"] == "239.255.255.250"
    assert payload["remoteInfo"]["address"] == "192.168.1.23"
    assert len(not_joined) == 0
    assert len(far_heard) == 0


# -- links that change ---------------------------------------------------------------------


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_sends_while_disconnected_fail_network_unreachable(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    phone = virtual_network.local_host
    sock = udp_socket_factory()
    port = sock.bind(0)
    phone.disconnect()
    results = udp_recorder("results")
    udp_socket_factory.expect_error("send:fail Network is unreachable")
    for address in ("192.168.1.50", "255.255.255.255"):
        sock.send({"address": address, "port": PORT, "message": "x", "complete": results})
    assert results.wait_for(2) == [UNREACHABLE, UNREACHABLE]
    assert phone.network_info() == {
        "localip": "",
        "netmask": "",
        "networkType": "none",
        "isConnected": False,
    }
    # The socket stayed open and bound: loopback still works, and so does the Wi-Fi again.
    loop = _listener(udp_socket_factory, udp_recorder, None, port=PORT + 1)
    sock.send({"address": "127.0.0.1", "port": PORT + 1, "message": "self"})
    assert loop.wait_for(1)[0]["remoteInfo"]["port"] == port
    phone.connect("192.168.1.23/24")
    sock.send({"address": "192.168.1.23", "port": PORT + 1, "message": "back", "complete": results})
    assert results.wait_for(3)[2] == OK


@pytest.mark.parametrize("virtual_network", [{**PHONE, "delay": (50, 50)}], indirect=True)
def test_nothing_in_flight_reaches_the_old_subnet_after_leaving(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    lamp = _listener(udp_socket_factory, udp_recorder, virtual_network.add_host("192.168.1.50/24"))
    udp_socket_factory().send({"address": "192.168.1.50", "port": PORT, "message": "late"})
    virtual_network.advance(10)  # on its way: 40 ms to go
    virtual_network.local_host.move_to("10.10.100.100/24")
    virtual_network.settle()
    assert len(lamp) == 0
    assert [arrival.outcome for arrival in virtual_network.deliveries] == ["link down"]


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_network_change_listeners_see_each_move(virtual_network: SimulatedNetwork) -> None:
    phone = virtual_network.local_host
    seen: List[Dict[str, Any]] = []
    phone.on_network_change(seen.append)
    phone.move_to("10.10.100.100/24")
    virtual_network.run_until(lambda: len(seen) == 2, timeout=1, what="two changes")
    assert [s["networkType"] for s in seen] == ["none", "wifi"]
    assert seen[1]["localip"] == "10.10.100.100"
    assert seen[1]["netmask"] == "255.255.255.0"


# -- routers and NAT -----------------------------------------------------------------------


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_a_router_forwards_between_subnets(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    virtual_network.add_router("192.168.1.1/24", "192.168.137.254/24")
    board = Device(udp_socket_factory, virtual_network.add_host("192.168.137.1/24", name="board"))
    answers = udp_recorder("answers")
    phone = udp_socket_factory()
    phone.onMessage(answers)
    phone.send({"address": "192.168.137.1", "port": PORT, "message": "ping"})
    (answer,) = answers.wait_for(1)
    assert answer["remoteInfo"]["address"] == "192.168.137.1"
    assert board.heard[0]["remoteInfo"]["address"] == "192.168.1.23"  # no NAT: as sent


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_nat_rewrites_the_source_and_refuses_unsolicited_datagrams(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    virtual_network.add_router("192.168.1.1/24", "203.0.113.1/24", name="home", nat=True)
    server_host = virtual_network.add_host("203.0.113.80/24", name="server")
    server = Device(udp_socket_factory, server_host)
    answers = udp_recorder("answers")
    phone = udp_socket_factory()
    phone.onMessage(answers)
    phone_port = phone.bind(0)
    phone.send({"address": "203.0.113.80", "port": PORT, "message": "hello"})
    (answer,) = answers.wait_for(1)
    (request,) = server.heard
    seen_from = request["remoteInfo"]
    assert seen_from["address"] == "203.0.113.1"  # the router's outside address
    assert seen_from["port"] != phone_port  # and a port of its own
    assert answer["remoteInfo"]["address"] == "203.0.113.80"  # the reply got back in
    # Unsolicited: another outside host, to the same mapped port, is refused.
    with virtual_network.add_host("203.0.113.99/24", name="stranger"):
        stranger = udp_socket_factory()
    stranger.send({"address": "203.0.113.1", "port": seen_from["port"], "message": "let me in"})
    virtual_network.settle()
    assert len(answers) == 1
    refused = virtual_network.datagrams[-1]
    assert (refused.fate, refused.reason) == ("dropped", "nat: no mapping")
    forwarded = next(r for r in virtual_network.datagrams if r.payload == b"hello")
    assert forwarded.source == ("192.168.1.23", phone_port)
    assert forwarded.translated == (("203.0.113.1", seen_from["port"]), ("203.0.113.80", PORT))


# -- the whole provisioning flow, in Python ------------------------------------------------


class ProvisionedDevice:
    """A SoftAP device: on its access point (10.10.100.254) it takes credentials, then
    joins the home Wi-Fi and answers discovery broadcasts there."""

    def __init__(self, network: SimulatedNetwork, factory: SocketFactory) -> None:
        self.network = network
        self.host = network.add_host("10.10.100.254/24", name="device")
        self.credentials: Optional[Dict[str, Any]] = None
        with self.host:
            self.sock = factory(options={"reuseAddr": True})
        self.sock.onMessage(self._on_message)
        self.sock.bind(12414)

    def _on_message(self, res: OnMessageCallbackResult) -> None:
        remote = res["remoteInfo"]
        reply = {"address": remote["address"], "port": remote["port"]}
        if self.credentials is None:
            self.credentials = json.loads(res["message"])
            self.sock.send({**reply, "message": json.dumps({"ok": True})})
            # Reboot into station mode a moment later, on the home network.
            taro_udp.setTimeout(lambda: self.host.move_to("192.168.1.77/24"), 500)
        elif res["message"] == b"discover":
            self.sock.send({**reply, "message": json.dumps({"id": "dev-1"})})


class Provisioning:
    """The phone's side, as a mini-program writes it: send the credentials to the AP
    address until acknowledged, then broadcast on the home network until found."""

    def __init__(self, phone: Host) -> None:
        self.phone = phone
        self.sock = taro_udp.create_udp_socket()
        self.sock.onMessage(self._on_message)
        self.sock.bind(0)
        self.state = "sending"
        self.found: Optional[Dict[str, Any]] = None
        self.attempts = 0

    def start(self) -> None:
        self._tick()

    def _tick(self) -> None:
        self.attempts += 1
        if self.attempts > 20:
            self.state = "gave up"
            return
        if self.state == "sending":
            credentials = json.dumps({"ssid": "home", "password": "secret"})
            self.sock.send({"address": "10.10.100.254", "port": 12414, "message": credentials})
        elif self.state == "searching":
            self.sock.send({"address": "255.255.255.255", "port": 12414, "message": "discover"})
        else:
            return
        taro_udp.setTimeout(self._tick, 300)

    def _on_message(self, res: OnMessageCallbackResult) -> None:
        if self.state == "sending" and res["remoteInfo"]["address"] == "10.10.100.254":
            self.state = "searching"
            self.phone.move_to("192.168.1.23/24")  # back to the home Wi-Fi
        elif self.state == "searching":
            self.found = {"address": res["remoteInfo"]["address"], **json.loads(res["message"])}
            self.state = "done"
            self.sock.close()


@pytest.mark.parametrize("virtual_network", [{**PHONE, "loss": 0.3, "seed": 2}], indirect=True)
def test_softap_provisioning_end_to_end_in_python(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory
) -> None:
    device = ProvisionedDevice(virtual_network, udp_socket_factory)
    phone = virtual_network.local_host
    phone.move_to("10.10.100.100/24")  # the user joins the device's access point
    flow = Provisioning(phone)
    taro_udp.call_soon(flow.start)
    virtual_network.run_until(lambda: flow.state in ("done", "gave up"), timeout=30, what="flow")
    assert device.credentials == {"ssid": "home", "password": "secret"}
    assert flow.found == {"address": "192.168.1.77", "id": "dev-1"}
    assert phone.addresses == ["192.168.1.23/24"]
    assert "dropped" in [record.fate for record in virtual_network.datagrams]


# -- traces and pcap -----------------------------------------------------------------------


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_the_pcap_of_a_lan_run_has_the_real_addresses(
    virtual_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
    tmp_path: Path,
) -> None:
    _lan(virtual_network)
    for host in virtual_network.hosts[1:3]:
        Device(udp_socket_factory, host)
    answers = udp_recorder("answers")
    phone = udp_socket_factory()
    phone.onMessage(answers)
    phone.send({"address": "255.255.255.255", "port": PORT, "message": "who"})
    answers.wait_for(2)
    virtual_network.settle()
    path = tmp_path / "lan.pcap"
    assert virtual_network.write_pcap(path) == 3  # the broadcast once, and two answers
    data = path.read_bytes()[24:]
    pairs = []
    while data:
        length = int.from_bytes(data[8:12], "little")
        packet, data = data[16 : 16 + length], data[16 + length :]
        pairs.append((".".join(map(str, packet[12:16])), ".".join(map(str, packet[16:20]))))
    assert pairs[0] == ("192.168.1.23", "255.255.255.255")
    assert sorted(pairs[1:]) == [("192.168.1.50", "192.168.1.23"), ("192.168.1.51", "192.168.1.23")]
    sends = [event for event in virtual_network.trace if event[1] == "send"]
    assert [event[2][-1] for event in sends[:3]] == [None, "lamp", "plug"]


def test_the_networks_fast_records_equal_the_dataclasses() -> None:
    # The network builds its records without their __init__: they must be the same.
    from dataclasses import fields

    from taro_udp.testing import _records

    values = (3, 1.5, ("10.0.0.1", 5), ("10.0.0.2", 6), b"x", 64, "delivered", None)
    more = ((1.0,), False, "lamp", 1, (("1.1.1.1", 2), ("2.2.2.2", 3)))
    assert _records.new_record(*values, *more) == _records.DatagramRecord(*values, *more)
    assert len(values + more) == len(fields(_records.DatagramRecord))
    delivery = (3, 0, 1.5, "delivered", 2, True)
    assert _records.new_delivery(*delivery) == _records.Delivery(*delivery)
    assert len(delivery) == len(fields(_records.Delivery))


def test_the_readme_lan_example_runs() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("### A simulated LAN")
    body = readme.index("```python\n", start) + len("```python\n")
    code = compile(readme[body : readme.index("```", body)], "README.md", "exec")
    namespace: Dict[str, Any] = {}
    exec(code, namespace)
    assert namespace["heard"][0]["message"] == b"who is there"


@pytest.mark.parametrize(
    "virtual_network", [{"local_address": ["192.168.1.23/24", "fd00::23/64"]}], indirect=True
)
def test_ipv6_hosts_and_a_host_with_two_interfaces(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    device = virtual_network.add_host("192.168.1.50/24", "fd00::50/64", name="dual")
    heard = udp_recorder("heard")
    with device:
        sock = udp_socket_factory("udp6")
    sock.onMessage(heard)
    sock.bind(PORT)
    phone = udp_socket_factory("udp6")
    phone.send({"address": "fd00::50", "port": PORT, "message": "six"})
    phone.send({"address": "192.168.1.50", "port": PORT, "message": "four"})
    six, four = heard.wait_for(2)
    assert (six["remoteInfo"]["address"], six["localInfo"]["address"]) == ("fd00::23", "fd00::50")
    assert four["remoteInfo"]["address"] == "::ffff:192.168.1.23"
    assert four["localInfo"]["address"] == "::ffff:192.168.1.50"
    assert device.addresses == ["192.168.1.50/24", "fd00::50/64"]


@pytest.mark.parametrize(
    "virtual_network", [{"local_address": ["192.168.1.23/24", "192.168.2.23/24"]}], indirect=True
)
def test_the_limited_broadcast_leaves_through_the_bound_interface_else_the_first(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    _lan(virtual_network)
    lamp, plug, other = (
        _listener(udp_socket_factory, udp_recorder, host) for host in virtual_network.hosts[1:]
    )
    first = udp_socket_factory()
    first.send({"address": "255.255.255.255", "port": PORT, "message": "first"})
    second = udp_socket_factory()
    second.bind(0, address="192.168.2.23")
    second.send({"address": "255.255.255.255", "port": PORT, "message": "second"})
    virtual_network.settle()
    assert [p["message"] for p in lamp.items] == [b"first"]
    assert [p["message"] for p in plug.items] == [b"first"]
    assert [p["message"] for p in other.items] == [b"second"]
    assert other.items[0]["remoteInfo"]["address"] == "192.168.2.23"


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_a_socket_bound_to_the_broadcast_address_hears_the_broadcast(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    lamp = virtual_network.add_host("192.168.1.50/24")
    bound = _listener(udp_socket_factory, udp_recorder, lamp, address="192.168.1.255")
    udp_socket_factory().send(
        {"address": "192.168.1.255", "port": PORT, "message": "x", "setBroadcast": True}
    )
    (payload,) = bound.wait_for(1)
    assert payload["localInfo"]["address"] == "192.168.1.255"


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_a_partition_between_two_hosts_keeps_a_broadcast_from_that_one_only(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    _lan(virtual_network)
    lamp, plug, _ = (
        _listener(udp_socket_factory, udp_recorder, host) for host in virtual_network.hosts[1:]
    )
    virtual_network.partition("192.168.1.23", "192.168.1.50")
    udp_socket_factory().send({"address": "255.255.255.255", "port": PORT, "message": "x"})
    plug.wait_for(1)
    virtual_network.settle()
    assert len(lamp) == 0
    reasons = {r.receiver: r.reason for r in virtual_network.datagrams}
    assert reasons["lamp"] == "partition"
    assert reasons["plug"] is None


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_joining_a_subnet_without_an_address_leases_one(virtual_network: SimulatedNetwork) -> None:
    access_point = virtual_network.add_host("10.10.100.254/24", name="ap")
    (subnet,) = access_point.subnets
    phone = virtual_network.local_host
    assert phone.move_to(subnet) is subnet
    assert phone.addresses == ["10.10.100.100/24"]
    second = virtual_network.add_host(name="tablet")
    second.connect(subnet)
    assert second.addresses == ["10.10.100.101/24"]


def test_a_lan_built_wrong_says_what_is_wrong() -> None:
    network = SimulatedNetwork()
    with pytest.raises(ValueError, match="needs its prefix"):
        network.add_host("192.168.1.5")
    network.add_host("192.168.1.5/24", name="lamp")
    with pytest.raises(ValueError, match="already lamp's"):
        network.add_host("192.168.1.9/24", "192.168.1.5/24", name="late")
    assert [host.name for host in network.hosts] == ["local", "lamp"]  # nothing half-made
    assert [h.name for h in network.subnets[0].hosts] == ["lamp"]
    with pytest.raises(ValueError, match="already a host named 'lamp'"):
        network.add_host("192.168.1.6/24", name="lamp")
    with pytest.raises(ValueError, match="cannot be an interface address"):
        network.add_host("127.0.0.2/8")
    with pytest.raises(ValueError, match="inside and an outside"):
        network.add_router("192.168.1.1/24", nat=True)
    with pytest.raises(ValueError, match="has no interface"):
        network.host("lamp").disconnect("10.0.0.1")
    network.close()


@pytest.mark.parametrize("virtual_network", [PHONE], indirect=True)
def test_repeated_sends_keep_their_records_true_and_follow_a_move(
    virtual_network: SimulatedNetwork, udp_socket_factory: SocketFactory, udp_recorder: Factory
) -> None:
    # The network keeps a socket's routes between sends: the later sends' records must
    # say the same as the first's, and a move must not reuse the old routes.
    lamp = _listener(udp_socket_factory, udp_recorder, virtual_network.add_host("192.168.1.50/24"))
    sender = udp_socket_factory()
    for _ in range(3):
        sender.send({"address": "192.168.1.50", "port": PORT, "message": "x"})
    lamp.wait_for(3)
    records = virtual_network.datagrams
    assert [(r.source[0], r.destination, r.translated) for r in records] == [
        ("192.168.1.23", ("192.168.1.50", PORT), None)
    ] * 3
    virtual_network.local_host.move_to("192.168.1.24/24")
    sender.send({"address": "192.168.1.50", "port": PORT, "message": "x"})
    assert lamp.wait_for(4)[3]["remoteInfo"]["address"] == "192.168.1.24"
