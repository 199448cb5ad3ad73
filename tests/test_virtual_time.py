"""Virtual time: lockstep drives, determinism, loud failures (issue: virtual time)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

import taro_udp
from taro_udp import _clock, _loop, _timers
from taro_udp.testing import (
    LivelockError,
    NeverTrueError,
    Recorder,
    SimulatedNetwork,
    VirtualClock,
    VirtualTimeError,
    WallClockCapError,
)

from ._reliability_util import parse_result

pytestmark = pytest.mark.timeout(60)
pytest_plugins = ["pytester"]


@pytest.fixture
def net() -> Iterator[SimulatedNetwork]:
    with SimulatedNetwork(seed=7, virtual_time=True) as network:
        yield network


class RetryClient:
    """A ported request/retry routine: 5 attempts, 200 ms apart, then give up."""

    ATTEMPTS = 5
    INTERVAL_MS = 200

    def __init__(self, port: int, address: str = "127.0.0.2") -> None:
        self.sock = taro_udp.create_udp_socket()
        self.sock.onMessage(self._on_message)
        self.address = address
        self.port = port
        self.attempts: List[float] = []
        self.outcome: Optional[str] = None
        self.ended_at: Optional[float] = None
        self._timer = 0

    def start(self) -> None:
        self._attempt()

    def _attempt(self) -> None:
        self.attempts.append(taro_udp.performance.now())
        self.sock.send({"address": self.address, "port": self.port, "message": "req"})
        if len(self.attempts) < self.ATTEMPTS:
            self._timer = taro_udp.setTimeout(self._attempt, self.INTERVAL_MS)
        else:
            self._timer = taro_udp.setTimeout(self._give_up, self.INTERVAL_MS)

    def _give_up(self) -> None:
        self._end("gave up")

    def _on_message(self, res: Any) -> None:
        if self.outcome is None:
            taro_udp.clearTimeout(self._timer)
            self._end("answered")

    def _end(self, outcome: str) -> None:
        self.outcome = outcome
        self.ended_at = taro_udp.performance.now()
        self.sock.close()


def test_a_retry_routine_gives_up_at_exactly_the_virtual_time_its_constants_say(
    net: SimulatedNetwork,
) -> None:
    net.partition("127.0.0.1", "127.0.0.2")  # the device never hears us
    device = taro_udp.create_udp_socket()
    port = device.bind(5000, address="127.0.0.2")
    client = RetryClient(port)
    started = net.clock.now_ms() if net.clock else 0.0
    taro_udp.call_soon(client.start)
    net.run_until(lambda: client.outcome is not None, timeout=60, what="the routine to end")
    assert client.outcome == "gave up"
    assert client.attempts == [started + 200.0 * n for n in range(5)]
    assert client.ended_at == started + 1000.0
    assert len(net.datagrams) == 5
    assert {record.reason for record in net.datagrams} == {"partition"}
    device.close()


def _scenario(seed: int, tmp: Path, jitter: Optional[random.Random] = None) -> Dict[str, Any]:
    """Devices answering a client through loss, delay and duplication; returns the fingerprint."""
    with SimulatedNetwork(
        seed=seed, loss=0.3, duplicate=0.1, delay=(5, 50), virtual_time=True
    ) as network:
        answers = Recorder("answers")
        devices = []
        for n in range(3):
            device = taro_udp.create_udp_socket()
            device.bind(6000, address=f"127.0.0.{n + 2}")

            def echo(res: Any, device: taro_udp.UDPSocket = device) -> None:
                if jitter is not None:  # a real sleep inside a callback changes nothing
                    threading.Event().wait(jitter.random() * 0.003)
                remote = res["remoteInfo"]
                device.send(
                    {"address": remote["address"], "port": remote["port"], "message": b"ok"}
                )

            device.onMessage(echo)
            devices.append(device)
        client = taro_udp.create_udp_socket()
        client.onMessage(answers)
        rounds = {"left": 8}

        def probe() -> None:
            for n in range(3):
                client.send({"address": f"127.0.0.{n + 2}", "port": 6000, "message": b"hi"})
            rounds["left"] -= 1
            if rounds["left"]:
                taro_udp.setTimeout(probe, 100)

        taro_udp.call_soon(probe)
        network.advance(seconds=2)
        for sock in [client, *devices]:
            sock.close()
        network.settle()
        pcap = tmp / f"capture-{seed}.pcap"
        network.write_pcap(pcap, view="delivered")
        return {
            "digest": network.trace_digest(),
            "pcap": pcap.read_bytes(),
            "answers": len(answers),
            "events": len(network.trace),
        }


def test_the_same_seed_gives_the_same_trace_and_pcap_every_run(tmp_path: Path) -> None:
    runs = [_scenario(11, tmp_path) for _ in range(20)]
    first = runs[0]
    assert first["answers"] > 0
    assert first["events"] > 50
    for run in runs[1:]:
        assert run["digest"] == first["digest"]
        assert run["pcap"] == first["pcap"]
    other = _scenario(12, tmp_path)
    assert other["digest"] != first["digest"]
    assert other["pcap"] != first["pcap"]


def test_real_sleeps_inside_callbacks_change_nothing(tmp_path: Path) -> None:
    calm = _scenario(11, tmp_path)
    jittery = _scenario(11, tmp_path, jitter=random.Random(5))
    assert jittery["digest"] == calm["digest"]
    assert jittery["pcap"] == calm["pcap"]


def test_same_deadline_timer_delivery_timer_run_in_creation_order(net: SimulatedNetwork) -> None:
    order = Recorder("order")
    net.delay = (10.0, 10.0)
    rx = taro_udp.create_udp_socket()
    port = rx.bind(7000, address="127.0.0.1")
    rx.onMessage(lambda res: order("delivery"))
    tx = taro_udp.create_udp_socket()

    def at_one_instant() -> None:  # all three come due at +10 ms, created in this order
        taro_udp.setTimeout(order, 10, "timer 1")
        tx.send({"address": "127.0.0.1", "port": port, "message": b"x"})
        taro_udp.setTimeout(order, 10, "timer 2")

    taro_udp.call_soon(at_one_instant)
    assert order.wait_for(3) == ["timer 1", "delivery", "timer 2"]
    rx.close()
    tx.close()


def test_nothing_runs_and_time_stands_still_outside_a_drive(net: SimulatedNetwork) -> None:
    assert net.clock is not None
    ran: List[str] = []
    taro_udp.setTimeout(ran.append, 0, "timer")
    taro_udp.call_soon(ran.append, "posted")
    before = taro_udp.Date.now()
    blocked = threading.Event()
    blocked.wait(0.05)  # real time passes; virtual time does not, and nothing runs
    assert ran == []
    assert taro_udp.Date.now() == before
    assert taro_udp.performance.now() == net.clock.now_ms()
    net.advance(seconds=0)
    assert ran == ["posted", "timer"]
    assert taro_udp.Date.now() == before


def test_advance_moves_the_clock_exactly_and_runs_what_is_due(net: SimulatedNetwork) -> None:
    assert net.clock is not None
    fired: List[float] = []
    taro_udp.setInterval(lambda: fired.append(taro_udp.performance.now()), 250)
    start = net.clock.now_ms()
    net.advance(seconds=1)
    assert fired == [start + 250, start + 500, start + 750, start + 1000]
    assert net.clock.now_ms() == start + 1000
    net.advance(seconds=0.1)
    assert len(fired) == 4
    assert net.clock.now_ms() == start + 1100
    assert taro_udp.Date.now() == 1_767_225_600_000 + int(start + 1100)


def test_waiting_with_nothing_scheduled_fails_at_once_saying_why(net: SimulatedNetwork) -> None:
    sock = taro_udp.create_udp_socket()
    sock.bind(8000, address="127.0.0.1")
    never = Recorder("never")
    sock.onMessage(never)
    with pytest.raises(NeverTrueError, match=r"can never become true.*no timer, no datagram"):
        never.wait_for(1, timeout=3600)
    sock.close()


def test_a_zero_ms_timer_rearming_itself_is_reported_as_a_livelock(net: SimulatedNetwork) -> None:
    def spin() -> None:
        taro_udp.setTimeout(spin, 0)

    taro_udp.call_soon(spin)
    with pytest.raises(LivelockError) as raised:
        net.advance(seconds=0.01)
    text = str(raised.value)
    assert "stood still" in text
    assert "spin" in text
    assert "test_virtual_time.py:" in text


def test_a_callback_blocked_in_real_time_is_cut_off_by_the_wall_clock_cap(
    net: SimulatedNetwork,
) -> None:
    assert net.clock is not None
    net.clock.wall_cap = 0.3
    release = threading.Event()
    taro_udp.call_soon(lambda: release.wait(5))
    try:
        with pytest.raises(WallClockCapError, match="real time"):
            net.advance(seconds=0.001)
    finally:
        release.set()
    net.clock.wall_cap = 30.0
    net.advance(seconds=0.001)  # the loop goes on once the callback returns


def test_a_run_until_that_times_out_says_so_in_virtual_time(net: SimulatedNetwork) -> None:
    timer = taro_udp.setTimeout(lambda: None, 60_000)
    with pytest.raises(VirtualTimeError, match=r"timed out.*virtual time reached"):
        net.run_until(lambda: False, timeout=5, what="a miracle")
    assert net.clock is not None
    assert net.clock.now_ms() == 5000
    taro_udp.clearTimeout(timer)


def test_run_under_virtual_time_returns_after_ten_virtual_seconds_at_once(
    net: SimulatedNetwork,
) -> None:
    seen: List[float] = []

    async def main() -> str:
        import asyncio

        await asyncio.sleep(10)  # asyncio's own timers are on the virtual clock too
        seen.append(taro_udp.performance.now())
        return "done"

    assert taro_udp.run(main, timeout=60) == "done"
    assert net.clock is not None
    assert seen == [net.clock.now_ms()]
    assert seen[0] >= 10_000


def test_os_sockets_are_refused_under_a_virtual_clock(virtual_clock: VirtualClock) -> None:
    with pytest.raises(taro_udp.UDPSocketError, match="virtual clock"):
        taro_udp.create_udp_socket()


def test_a_virtual_clock_alone_runs_timer_logic(virtual_clock: VirtualClock) -> None:
    fired: List[int] = []
    taro_udp.setTimeout(fired.append, 3_600_000, 1)  # one hour
    virtual_clock.advance(seconds=3600)
    assert fired == [1]
    assert virtual_clock.now_ms() == 3_600_000


def test_a_drive_on_the_event_thread_is_refused(net: SimulatedNetwork) -> None:
    raised: List[BaseException] = []

    def inside() -> None:
        try:
            net.advance(seconds=0.001)
        except RuntimeError as exc:
            raised.append(exc)

    taro_udp.call_soon(inside)
    net.advance(seconds=0)
    assert raised
    assert "cannot run on the event thread" in str(raised[0])


def test_the_network_lists_the_sockets_the_code_under_test_made(net: SimulatedNetwork) -> None:
    def code_under_test() -> taro_udp.UDPSocket:
        inner = taro_udp.wx.createUDPSocket()
        inner.bind(9000, address="127.0.0.1")
        return inner

    made = code_under_test()
    assert net.sockets == [made]
    made.close()
    assert net.sockets == []


def test_the_factory_adopts_sockets_made_inside_the_code_under_test(
    net: SimulatedNetwork,
) -> None:
    from taro_udp.testing import SocketFactory

    factory = SocketFactory()
    factory.adopt_new_sockets()
    inner = taro_udp.create_udp_socket()  # made by "the code under test"
    inner.send({"address": "127.0.0.1", "port": 0, "message": b"x"})  # an error nobody expected
    problems = factory.close_all()
    assert len(problems) == 1
    assert "send:fail invalid port" in problems[0]
    assert net.sockets == []  # and it was closed


def test_records_say_when_delay_jitter_changed_arrival_order() -> None:
    # repro_port_delay_reorders_silently: arrival order differs, the records must say so.
    with SimulatedNetwork(seed=0, delay=(5, 50), virtual_time=True) as network:
        got = Recorder("got")
        rx = taro_udp.create_udp_socket()
        rx.onMessage(lambda res: got(int(res["message"])))
        port = rx.bind(address="127.0.0.1")
        tx = taro_udp.create_udp_socket()
        for i in range(10):
            tx.send({"address": "127.0.0.1", "port": port, "message": str(i)})
        order = got.wait_for(10)
        network.wait_idle()
        assert order != sorted(order), "seed 0 reorders by jitter (the scenario needs it)"
        assert not any(record.reordered for record in network.datagrams)
        late = {d.seq for d in network.deliveries if d.out_of_order}
        # Exactly the datagrams that arrived after a later-sent one.
        expected = {value for index, value in enumerate(order) if value < max(order[: index + 1])}
        assert late == expected
        rx.close()
        tx.close()


def test_the_bind_address_variable_does_not_make_simulated_devices_deaf(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # repro_port_bind_env_hides_broadcast_on_sim: the variable is for OS sockets.
    monkeypatch.setenv(taro_udp._socket.BIND_ADDRESS_ENV, "127.0.0.1")
    with SimulatedNetwork(seed=0, virtual_time=True) as network:
        heard = Recorder("heard")
        device = taro_udp.create_udp_socket(options={"reuseAddr": True})
        device.onMessage(lambda res: heard(res["message"]))
        device.bind(37020)  # as the ported JS does: no address
        phone = taro_udp.create_udp_socket()
        phone.send({"address": "255.255.255.255", "port": 37020, "message": "probe"})
        assert heard.wait_for(1) == [b"probe"]
        device.close()
        phone.close()
        network.settle()


FORK_SCRIPT = r"""
import json, os, threading, warnings
warnings.simplefilter("ignore", DeprecationWarning)   # 3.12+: fork with threads
import taro_udp
from taro_udp.testing import SimulatedNetwork
with SimulatedNetwork() as net:
    server = taro_udp.create_udp_socket(); sp = server.bind(0, address="127.0.0.1")
    arrived = threading.Event(); server.onMessage(lambda r: arrived.set())
    net.delay = (5, 5)
    taro_udp.create_udp_socket().send({"address": "127.0.0.1", "port": sp, "message": b"hi"})
    parent = arrived.wait(5)
    net.delay = (0, 0)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        import time
        net.delay = (5, 5)
        c = taro_udp.create_udp_socket(); pc = c.bind(0, address="127.0.0.1")
        got = threading.Event(); c.onMessage(lambda r: got.set())
        d = taro_udp.create_udp_socket()
        d.send({"address": "127.0.0.1", "port": pc, "message": b"delayed"})
        delayed = got.wait(5)
        net.delay = (0, 0)
        done = threading.Event(); res = []
        d.send({"address": "127.0.0.1", "port": sp, "message": b"to the parent's port",
                "complete": lambda r: (res.append(r["errMsg"]), done.set())})
        done.wait(5)
        t0 = time.process_time(); threading.Event().wait(0.5); cpu = time.process_time() - t0
        os.write(write, json.dumps({"delayed": delayed, "result": res, "cpu": cpu}).encode())
        os._exit(0)
    os.close(write)
    child = json.loads(os.read(read, 4096).decode())
    os.waitpid(pid, 0)
    print("RESULT " + json.dumps({"parent": parent, **child}), flush=True)
    os._exit(0)
"""


def test_the_simulated_network_survives_fork() -> None:
    # repro_12: delayed datagrams arrive in the child, and a datagram to a port the
    # parent's socket held does not make the child's event thread spin.
    proc = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    result = parse_result(proc)
    assert result["parent"] is True
    assert result["delayed"] is True
    assert result["result"] == ["send:ok"]
    assert result["cpu"] < 0.25, f"the child burnt {result['cpu']:.2f} s of CPU while idle"


def test_virtual_time_needs_no_timer_pending_when_installed() -> None:
    timer = taro_udp.setTimeout(lambda: None, 60_000)
    try:
        with pytest.raises(RuntimeError, match="no timer is pending"):
            VirtualClock().install()
    finally:
        taro_udp.clearTimeout(timer)
    assert not _clock.current.virtual


def test_closing_the_clock_returns_to_real_time_and_drops_pending_timers() -> None:
    fired: List[int] = []
    with VirtualClock() as clock:
        taro_udp.setTimeout(fired.append, 1000, 1)
        clock.advance(seconds=0.01)
    assert not _clock.current.virtual
    done = threading.Event()
    taro_udp.call_soon(done.set)
    assert done.wait(10)
    assert fired == []
    assert _timers.pending_timers() == []
    thread = _loop._current
    if thread is not None:
        thread.thread.join(10)


PYTESTER_TESTS = """
import random, taro_udp
from taro_udp.testing import SimulatedNetwork

def test_deterministic(virtual_network):
    got = []
    rx = taro_udp.create_udp_socket(); port = rx.bind(address="127.0.0.1")
    rx.onMessage(got.append)
    taro_udp.create_udp_socket().send({"address": "127.0.0.1", "port": port, "message": "x"})
    virtual_network.advance(seconds=0.01)
    assert len(got) == 1

def test_not_deterministic(virtual_network):
    # decides from unseeded randomness: each run sends a different number of datagrams
    rx = taro_udp.create_udp_socket(); port = rx.bind(address="127.0.0.1")
    tx = taro_udp.create_udp_socket()
    for _ in range(random.SystemRandom().randint(1, 1000)):
        tx.send({"address": "127.0.0.1", "port": port, "message": "x"})
    virtual_network.advance(seconds=0.01)
"""


def test_the_twice_option_reports_the_first_divergent_event_with_the_seed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_twice=PYTESTER_TESTS)
    result = pytester.runpytest_subprocess("--taro-udp-twice", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_not_deterministic*", "*seed 0*"])
    assert "test_deterministic PASSED" in result.stdout.str() or "1 passed" in result.stdout.str()


def test_the_virtual_option_runs_simulated_network_fixtures_under_virtual_time(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_virtual="""
import taro_udp
def test_it(simulated_network):
    assert simulated_network.clock is not None
"""
    )
    result = pytester.runpytest_subprocess("--taro-udp-virtual", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_discovery_example_finds_every_device_with_its_original_constants() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
    try:
        import discovery
    finally:
        sys.path.pop(0)
    with SimulatedNetwork(seed=3, loss=0.3, virtual_time=True) as network:
        devices = [discovery.Device(str(n)) for n in range(3)]
        found: Callable[..., Any] = discovery.discover
        result = found(attempts=5, interval=0.2, then=discovery.close_all(devices), timeout=60)
        assert sorted(result) == ["0", "1", "2"]
        assert network.clock is not None
        assert network.clock.now_ms() >= 1000
    json.dumps(result)


def test_the_readme_virtual_time_example_passes_and_is_deterministic(
    pytester: pytest.Pytester,
) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("### Testing with virtual time")
    body = readme.index("```python\n", start) + len("```python\n")
    pytester.makepyfile(test_readme_example=readme[body : readme.index("```", body)])
    result = pytester.runpytest_subprocess("--taro-udp-twice", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_network_without_records_keeps_nothing_but_delivers_the_same() -> None:
    with SimulatedNetwork(seed=3, loss=0.3, records=False, virtual_time=True) as network:
        got = Recorder("got")
        rx = taro_udp.create_udp_socket()
        rx.onMessage(lambda res: got(res["message"]))
        port = rx.bind(address="127.0.0.1")
        tx = taro_udp.create_udp_socket()
        for n in range(20):
            tx.send({"address": "127.0.0.1", "port": port, "message": str(n)})
        network.settle()
        assert 0 < len(got) < 20  # 30% loss, as with records
        assert network.datagrams == []
        assert network.deliveries == []
        assert network.trace == []
        rx.close()
        tx.close()
