"""examples/promise_retry.py: a request wrapped in Promises, retried under loss, given up.

Each test runs the ported code as a program, ``taro_udp.run(main)``, on a simulated
network: the client on 127.0.0.1 (a wildcard bind), the device on 127.0.0.2. The seeds
are fixed, so the same datagrams are lost on every run; ``run`` returns what ``main``
returned once every socket is closed and no timer is left, or raises what it raised.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List, Tuple

import pytest

import taro_udp
from taro_udp.testing import SimulatedNetwork

from ._helpers import WAIT, load_example

_example = load_example("promise_retry")
DeviceClient: Any = _example.DeviceClient
FakeDevice: Any = _example.FakeDevice
NoReplyError: Any = _example.NoReplyError
on_tap_refresh: Any = _example.on_tap_refresh

CLIENT = "127.0.0.1"  # where a wildcard-bound socket sends from
DEVICE = "127.0.0.2"
# Per attempt. The simulated network answers in well under 1 ms; the margin is for a
# loaded machine, where the event thread may not run for a while.
TIMEOUT_MS = 200


def _request_once(delay: float = 0) -> Tuple[Any, List[Dict[str, Any]], Dict[int, Any]]:
    """Run one ``client.request`` as the program; return (reply or error, device log, pending).

    The device and the client are closed before ``main`` returns, so ``run`` returns.
    """

    async def main() -> Tuple[Any, List[Dict[str, Any]], Dict[int, Any]]:
        device = FakeDevice(DEVICE, delay=delay)
        client = DeviceClient()
        try:
            outcome = await client.request(DEVICE, device.port, {"cmd": "status"}, TIMEOUT_MS)
        except NoReplyError as exc:
            outcome = exc
        finally:
            client.close()
            device.close()
        return outcome, device.requests, client.pending

    result: Tuple[Any, List[Dict[str, Any]], Dict[int, Any]] = taro_udp.run(main, timeout=WAIT)
    return result


def _ids(network: SimulatedNetwork, source: str) -> List[Tuple[int, str]]:
    """(id, fate) of every datagram ``source`` sent: requests from CLIENT, replies from DEVICE."""
    return [
        (json.loads(record.payload)["id"], record.fate)
        for record in network.datagrams
        if record.source[0] == source
    ]


def test_a_lost_reply_is_retried_and_the_retry_answered() -> None:
    with SimulatedNetwork(seed=4, loss=0.3) as network:
        reply, seen, pending = _request_once()
    assert _ids(network, CLIENT) == [(1, "delivered"), (2, "delivered")]
    assert _ids(network, DEVICE) == [(1, "dropped"), (2, "delivered")]
    assert reply == {"id": 2, "status": "on"}, "the second attempt's reply resolves request()"
    assert [request["id"] for request in seen] == [1, 2]
    assert pending == {}, "nothing is left waiting"


def test_lost_requests_are_retried_until_the_third_attempt() -> None:
    with SimulatedNetwork(seed=9, loss=0.3) as network:
        reply, seen, _ = _request_once()
    assert _ids(network, CLIENT) == [(1, "dropped"), (2, "dropped"), (3, "delivered")]
    assert reply == {"id": 3, "status": "on"}
    assert [request["id"] for request in seen] == [3]


def test_each_outcome_is_what_the_network_let_through() -> None:
    # Over ten seeds at 30% loss: request() resolves with the reply to the first attempt
    # whose request and reply both got through, else gives up after 3 requests.
    retried = gave_up = 0
    for seed in range(10):
        with SimulatedNetwork(seed=seed, loss=0.3) as network:
            outcome, _, pending = _request_once()
        requests = _ids(network, CLIENT)
        answered = [i for i, fate in _ids(network, DEVICE) if fate == "delivered"]
        assert pending == {}, f"seed {seed}"
        if answered:
            assert outcome == {"id": answered[0], "status": "on"}, f"seed {seed}"
            assert requests[-1][0] == answered[0], f"seed {seed}: no request after the answer"
        else:
            assert isinstance(outcome, NoReplyError), f"seed {seed}: {outcome!r}"
            assert len(requests) == 3, f"seed {seed}: {requests}"
            gave_up += 1
        retried += len(requests) > 1
    assert retried >= 3, "30% loss should have forced retries"
    assert gave_up >= 1, "seed 6 loses every exchange"


def test_a_partitioned_device_gives_up_after_exactly_three_attempts() -> None:
    async def main() -> float:
        device = FakeDevice(DEVICE)
        client = DeviceClient()
        try:
            await client.request(DEVICE, device.port, {"cmd": "status"}, TIMEOUT_MS)
        finally:
            client.close()
            device.close()
        raise AssertionError("request() should have raised")  # pragma: no cover

    with SimulatedNetwork(seed=0) as network:
        network.partition(CLIENT, DEVICE)
        started = taro_udp.performance.now()
        with pytest.raises(NoReplyError, match=r"after 3 attempts"):
            taro_udp.run(main, timeout=WAIT)
        elapsed = taro_udp.performance.now() - started
    records = network.datagrams
    assert [json.loads(record.payload)["id"] for record in records] == [1, 2, 3]
    assert {(record.fate, record.reason) for record in records} == {("dropped", "partition")}
    # Timers never fire early: three full waits (1 ms of slack for float rounding).
    assert elapsed >= 3 * TIMEOUT_MS - 1


def test_late_replies_are_ignored() -> None:
    # The device answers each request after two waits' time: every reply comes after its
    # wait expired, while the next attempt waits for another id. Both delays are timers
    # on the one loop clock, so they fire in deadline order however loaded the machine.
    with SimulatedNetwork(seed=0) as network:
        outcome, seen, pending = _request_once(delay=2 * TIMEOUT_MS)
    assert isinstance(outcome, NoReplyError)
    assert [request["id"] for request in seen] == [1, 2, 3], "every request was answered"
    assert pending == {}
    records = network.datagrams
    late = [
        json.loads(records[arrival.seq].payload)["id"]
        for arrival in network.deliveries
        if arrival.outcome == "delivered" and records[arrival.seq].source[0] == DEVICE
    ]
    # The client closes at 3 waits: the replies to requests 1 (at 2 waits) reach it.
    assert 1 in late, f"a late reply should have reached the client: {late}"


def test_a_failed_send_rejects_at_once_without_retrying() -> None:
    # fail: reject. A bad port is not worth retrying: the UDPSocketError propagates.
    async def main() -> None:
        client = DeviceClient()
        try:
            await client.request(DEVICE, 0, {"cmd": "status"}, TIMEOUT_MS)
        finally:
            client.close()

    with SimulatedNetwork(seed=0) as network, pytest.raises(taro_udp.UDPSocketError) as caught:
        taro_udp.run(main, timeout=WAIT)
    assert caught.value.errMsg == "send:fail invalid port"
    assert caught.value.errCode == 2
    assert network.datagrams == []


def test_concurrent_requests_each_get_their_own_reply() -> None:
    # Three requests in flight on one client: listener, timers and tasks share
    # pending/next_id on the event thread, without a lock.
    async def main() -> List[Any]:
        device = FakeDevice(DEVICE)
        client = DeviceClient()
        try:
            return list(
                await asyncio.gather(
                    *(
                        client.request(DEVICE, device.port, {"cmd": command}, TIMEOUT_MS)
                        for command in ("status", "on", "off")
                    )
                )
            )
        finally:
            client.close()
            device.close()

    with SimulatedNetwork(seed=0):
        replies = taro_udp.run(main, timeout=WAIT)
    assert replies == [{"id": n, "status": "on"} for n in (1, 2, 3)]


@pytest.mark.parametrize(
    ("partitioned", "shown"),
    [(False, "status: on"), (True, "toast: Device not responding")],
)
def test_page_handler(partitioned: bool, shown: str) -> None:
    async def main() -> str:
        device = FakeDevice(DEVICE)
        try:
            # this.data.port is the text of an input field.
            return str(await on_tap_refresh(DEVICE, str(device.port), TIMEOUT_MS))
        finally:
            device.close()

    with SimulatedNetwork(seed=0) as network:
        if partitioned:
            network.partition(CLIENT, DEVICE)
        assert taro_udp.run(main, timeout=WAIT) == shown
