"""Broadcast the way WeChat does it (SPEC §2 ``send``, §4 errCode -3).

A send to the limited broadcast address 255.255.255.255 needs no flag (WeChat base
library 2.9.0); a directed broadcast (192.168.1.255, or 127.255.255.255 on loopback)
needs ``setBroadcast`` (2.24.0) and fails with errCode -3 without it. Each send gets
exactly its own semantics, whatever other threads send at the same time.

Where the tests broadcast:

- on the simulated network (nothing leaves the process);
- on real loopback only to 127.255.255.255, the broadcast address of ``lo`` (it never
  leaves the machine);
- 255.255.255.255 and a directed broadcast on OS sockets only inside a network namespace
  that the test creates for a child process (``unshare -n``): a veth pair with 10.77.0.1/24
  and nothing else. The namespace dies with the child; nothing is ever broadcast onto a
  real interface. Those tests are skipped when the namespace cannot be made (not root,
  no ``unshare``/``ip``, no veth).
"""

# The plugin's fixtures are imported (so this runs with or without the entry point) and
# then requested as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import collections
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import pytest

import taro_udp
from taro_udp import UDPSocket
from taro_udp._addresses import peer as peer_sockaddr
from taro_udp._broadcast import is_limited_broadcast
from taro_udp.testing import Recorder, SimulatedNetwork, SocketFactory
from taro_udp.testing.plugin import simulated_network, udp_recorder, udp_socket_factory  # noqa: F401

from ._helpers import WAIT

Factory = Callable[..., Recorder]
# label -> errMsg -> how many sends of that label ended with it.
Tally = Dict[str, Dict[str, int]]

OK = {"errMsg": "send:ok"}
DENIED = {"errMsg": "send:fail Permission denied", "errCode": -3}
LOOPBACK_BROADCAST = "127.255.255.255"
LIMITED_BROADCAST = "255.255.255.255"
# Sends per thread in the concurrency tests: enough for the race of 0.1.0 to show many
# times over, little enough to stay well under a second on loopback.
RACE_SENDS = 1000


# -- is_limited_broadcast ----------------------------------------------------------------


@pytest.mark.parametrize(
    "sockaddr",
    [
        ("255.255.255.255", 9),
        ("::ffff:255.255.255.255", 9, 0, 0),
        ("::ffff:255.255.255.255", 65535, 7, 3),
    ],
)
def test_limited_broadcast_sockaddrs_are_recognised(sockaddr: Tuple[Any, ...]) -> None:
    assert is_limited_broadcast(sockaddr) is True


@pytest.mark.parametrize(
    "sockaddr",
    [
        ("127.255.255.255", 9),  # directed: loopback's broadcast address
        ("192.168.1.255", 9),  # directed: needs setBroadcast, as on WeChat
        ("255.255.255.254", 9),
        ("0.0.0.0", 9),
        ("127.0.0.1", 9),
        ("::ffff:127.255.255.255", 9, 0, 0),
        ("::ffff:192.168.1.255", 9, 0, 0),
        ("ff02::1", 9, 0, 0),
        ("::", 9, 0, 0),
        ("::1", 9, 0, 0),
    ],
)
def test_other_sockaddrs_are_not_limited_broadcast(sockaddr: Tuple[Any, ...]) -> None:
    assert is_limited_broadcast(sockaddr) is False


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("255.255.255.255", "udp4"),
        ("255.255.255.255", "udp6"),
        ("::ffff:255.255.255.255", "udp6"),
        ("::FFFF:FFFF:FFFF", "udp6"),
        ("0:0:0:0:0:ffff:ffff:ffff", "udp6"),
    ],
)
def test_every_spelling_of_the_address_resolves_to_a_recognised_sockaddr(
    address: str, kind: str
) -> None:
    family = socket.AF_INET6 if kind == "udp6" else socket.AF_INET
    assert is_limited_broadcast(peer_sockaddr(address, 9, family)) is True


# -- shared helpers ----------------------------------------------------------------------


class _Tallier:
    """Counts ``complete`` results per label, from the event thread; waits for a total."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._tally: Dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self._total = 0

    def complete(self, label: str) -> Callable[[Mapping[str, Any]], None]:
        def record(result: Mapping[str, Any]) -> None:
            with self._cond:
                self._tally[label][str(result["errMsg"])] += 1
                self._total += 1
                self._cond.notify_all()

        return record

    def wait_total(self, count: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._total >= count, timeout)

    def tally(self) -> Tally:
        with self._cond:
            return {label: dict(counter) for label, counter in self._tally.items()}


def _race(sender: UDPSocket, jobs: Mapping[str, Mapping[str, Any]], sends: int) -> Tally:
    """Send ``sends`` times each option of ``jobs``, one thread per label, all at once.

    Returns how the sends of each label ended. Bounded: threads and results are awaited
    for at most ``WAIT`` seconds each (a missing result shows as a short tally).
    """
    tallier = _Tallier()
    start = threading.Barrier(len(jobs))

    def send_all(label: str, option: Mapping[str, Any]) -> None:
        complete = tallier.complete(label)
        start.wait(WAIT)
        merged: Dict[str, Any] = {**option, "complete": complete}
        for _ in range(sends):
            sender.send(merged)

    threads = [
        threading.Thread(target=send_all, args=item, name=f"broadcast-race-{item[0]}")
        for item in jobs.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads), "a sending thread hung"
    tallier.wait_total(len(jobs) * sends, WAIT)
    return tallier.tally()


# -- simulated network -------------------------------------------------------------------


def _broadcast_listeners(factory: SocketFactory, heard: Recorder) -> int:
    """Three wildcard-bound sockets sharing a port (two udp4, one dual-stack udp6): the port."""
    sockets = [factory(kind, {"reuseAddr": True}) for kind in ("udp4", "udp4", "udp6")]
    for sock in sockets:
        sock.onMessage(heard)
    port = sockets[0].bind()
    for sock in sockets[1:]:
        assert sock.bind(port) == port
    return port


@pytest.mark.parametrize("kind", ["udp4", "udp6"])
@pytest.mark.parametrize("flag", [{}, {"setBroadcast": False}], ids=["absent", "False"])
def test_sim_limited_broadcast_without_flag_reaches_every_wildcard_socket(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
    kind: str,
    flag: Dict[str, Any],
) -> None:
    heard = udp_recorder("broadcasts")
    port = _broadcast_listeners(udp_socket_factory, heard)
    # A socket bound to one address never hears a broadcast, on Linux as here.
    specific = udp_socket_factory(options={"reuseAddr": True})
    specific.onMessage(heard)
    specific.bind(port, address="127.0.0.1")
    results = udp_recorder("results")
    option: Dict[str, Any] = {
        "address": LIMITED_BROADCAST,
        "port": port,
        "message": "all",
        **flag,
        "complete": results,
    }
    udp_socket_factory(kind).send(option)
    assert results.wait_for(1) == [OK]
    payloads = heard.wait_for(3)
    assert [p["message"] for p in payloads] == [b"all"] * 3
    simulated_network.wait_idle(WAIT)
    assert [d.receivers for d in simulated_network.deliveries] == [3]
    assert {p["localInfo"]["address"] for p in payloads} == {
        "255.255.255.255",
        "::ffff:255.255.255.255",
    }


def test_sim_directed_broadcast_without_flag_is_permission_denied(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    heard = udp_recorder("broadcasts")
    port = _broadcast_listeners(udp_socket_factory, heard)
    sender = udp_socket_factory(expect_errors=True)
    successes, fails, completes, errors = (
        udp_recorder(name) for name in ("success", "fail", "complete", "errors")
    )
    sender.onError(errors)
    sender.send(
        {
            "address": LOOPBACK_BROADCAST,
            "port": port,
            "message": "all",
            "success": successes,
            "fail": fails,
            "complete": completes,
        }
    )
    assert errors.wait_for(1) == [DENIED]  # the error event comes after complete
    assert fails.items == [DENIED]
    assert completes.items == [DENIED]
    assert successes.items == []
    simulated_network.wait_idle(WAIT)
    assert simulated_network.datagrams == []  # nothing left the socket


def test_sim_directed_broadcast_with_flag_reaches_every_wildcard_socket(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    heard = udp_recorder("broadcasts")
    port = _broadcast_listeners(udp_socket_factory, heard)
    results = udp_recorder("results")
    udp_socket_factory().send(
        {
            "address": LOOPBACK_BROADCAST,
            "port": port,
            "message": "all",
            "setBroadcast": True,
            "complete": results,
        }
    )
    assert results.wait_for(1) == [OK]
    assert [p["message"] for p in heard.wait_for(3)] == [b"all"] * 3


def test_sim_limited_broadcast_does_not_lend_its_permission_to_the_next_send(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    udp_recorder: Factory,
) -> None:
    # The socket turns SO_BROADCAST on for 255.255.255.255 by itself; a directed broadcast
    # right after it must still be refused without the flag, and a unicast still go out.
    heard = udp_recorder("broadcasts")
    port = _broadcast_listeners(udp_socket_factory, heard)
    sender = udp_socket_factory()
    udp_socket_factory.expect_error("send:fail Permission denied")
    results = udp_recorder("results")
    for address in (LIMITED_BROADCAST, LOOPBACK_BROADCAST, "127.0.0.1", LOOPBACK_BROADCAST):
        sender.send({"address": address, "port": port, "message": "x", "complete": results})
    assert results.wait_for(4) == [OK, DENIED, OK, DENIED]


def test_sim_concurrent_sends_each_get_their_own_broadcast_semantics(
    simulated_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
) -> None:
    # Repro 06, with the limited broadcast added: four threads share one socket.
    sink = udp_socket_factory()
    port = sink.bind(address="127.0.0.1")
    sender = udp_socket_factory()
    udp_socket_factory.expect_error("send:fail Permission denied")
    tally = _race(
        sender,
        {
            "limited": {"address": LIMITED_BROADCAST, "port": port, "message": b"l"},
            "directed+flag": {
                "address": LOOPBACK_BROADCAST,
                "port": port,
                "message": b"b",
                "setBroadcast": True,
            },
            "directed": {"address": LOOPBACK_BROADCAST, "port": port, "message": b"d"},
            "unicast": {"address": "127.0.0.1", "port": port, "message": b"u"},
        },
        RACE_SENDS,
    )
    assert tally == {
        "limited": {"send:ok": RACE_SENDS},
        "directed+flag": {"send:ok": RACE_SENDS},
        "directed": {DENIED["errMsg"]: RACE_SENDS},
        "unicast": {"send:ok": RACE_SENDS},
    }


# -- OS transport on loopback ------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux loopback broadcast")
def test_os_concurrent_set_broadcast_and_unicast_on_loopback(
    udp_socket_factory: SocketFactory,
) -> None:
    # Repro 06 on real sockets: the directed broadcast is loopback's own (it stays on lo);
    # the sender is bound to 127.0.0.1, so nothing here listens on a real interface.
    sink = udp_socket_factory()
    port = sink.bind(address="127.0.0.1")
    sender = udp_socket_factory()
    sender.bind(address="127.0.0.1")
    udp_socket_factory.expect_error("send:fail Permission denied")
    tally = _race(
        sender,
        {
            "directed+flag": {
                "address": LOOPBACK_BROADCAST,
                "port": port,
                "message": b"b",
                "setBroadcast": True,
            },
            "directed": {"address": LOOPBACK_BROADCAST, "port": port, "message": b"d"},
            "unicast": {"address": "127.0.0.1", "port": port, "message": b"u"},
        },
        RACE_SENDS,
    )
    assert tally == {
        "directed+flag": {"send:ok": RACE_SENDS},
        "directed": {DENIED["errMsg"]: RACE_SENDS},
        "unicast": {"send:ok": RACE_SENDS},
    }


# -- OS transport inside a network namespace ---------------------------------------------
#
# The parent (pytest) runs ``unshare -n python -c "...; _namespace_main()"``: the child is
# the only process in a fresh network namespace, sets it up with ``ip``, runs every check
# and prints one JSON report. The namespace goes away when the child exits.

_ROOT = Path(__file__).resolve().parent.parent
_NS_ADDRESS = "10.77.0.1"
_NS_DIRECTED = "10.77.0.255"  # the broadcast address of 10.77.0.0/24 (brd +)
_NS_TIMEOUT = 45.0  # the whole child, setup included
_TOOL_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def _namespace_setup() -> None:
    """Loopback up; veth pair ``tu0``/``tu1`` up, 10.77.0.1/24 on ``tu0``, a route for
    255.255.255.255 through it (without one, a limited broadcast is ENETUNREACH).

    A broadcast is looped back to the host's own sockets by the IP layer whatever the
    device; the copy that reaches ``tu1`` is dropped there (its source is a local address),
    so each broadcast arrives exactly once.
    """
    ip = shutil.which("ip", path=_TOOL_PATH) or "ip"
    for args in (
        ["link", "set", "lo", "up"],
        ["link", "add", "tu0", "type", "veth", "peer", "name", "tu1"],
        ["link", "set", "tu1", "up"],
        ["link", "set", "tu0", "up"],
        ["addr", "add", f"{_NS_ADDRESS}/24", "brd", "+", "dev", "tu0"],
        ["route", "add", "255.255.255.255/32", "dev", "tu0"],
    ):
        subprocess.run([ip, *args], check=True, capture_output=True, timeout=10)


def _os_rules(port: int) -> Dict[str, str]:
    """What the kernel itself does with plain sockets: why the library sets SO_BROADCAST."""
    outcome: Dict[str, str] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as plain:
        for address in (LIMITED_BROADCAST, _NS_DIRECTED):
            for flag in (0, 1):
                plain.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, flag)
                try:
                    plain.sendto(b"plain", (address, port))
                    outcome[f"{address} SO_BROADCAST={flag}"] = "ok"
                except OSError as exc:
                    outcome[f"{address} SO_BROADCAST={flag}"] = str(exc.strerror)
    return outcome


def _sequential_sends(kind: str, port: int) -> List[Tuple[str, Any]]:
    """Sends one after the other from one socket; each result is awaited before the next.

    Labels are also the payloads, so the receiver can say which ones arrived.
    """
    steps: List[Tuple[str, str, Dict[str, Any]]] = [
        ("send", LIMITED_BROADCAST, {}),
        ("send", LIMITED_BROADCAST, {"setBroadcast": False}),
        ("send", _NS_DIRECTED, {}),
        ("send", _NS_DIRECTED, {"setBroadcast": True}),
        ("send", _NS_DIRECTED, {}),
        ("write", LIMITED_BROADCAST, {}),
        ("send", _NS_ADDRESS, {}),
    ]
    outcome: List[Tuple[str, Any]] = []
    done = threading.Event()
    box: List[Any] = []

    def complete(result: Any) -> None:
        box.append(dict(result))
        done.set()

    sock = taro_udp.create_udp_socket(kind)
    sock.onError(lambda _payload: None)  # failures are expected; keep the log quiet
    try:
        for number, (method, address, extra) in enumerate(steps):
            label = f"{kind}#{number} {method} {address} {extra}"
            done.clear()
            box.clear()
            option = {"address": address, "port": port, "message": label, **extra}
            getattr(sock, method)({**option, "complete": complete})
            outcome.append((label, box[0] if done.wait(5.0) else "no result within 5 s"))
    finally:
        sock.close()
    return outcome


def _receive(receiver: socket.socket, expected: List[str], deadline: float) -> List[str]:
    """What ``receiver`` got, read until every ``expected`` payload came or the deadline."""
    got: List[str] = []
    while not set(expected) <= set(got):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        receiver.settimeout(remaining)
        try:
            data, _ = receiver.recvfrom(65535)
        except socket.timeout:
            break
        got.append(data.decode("utf-8", "replace"))
    return got


def _ok(label: str) -> str:
    """The success ``errMsg`` of a ``_sequential_sends`` label ("udp4#0 send ...")."""
    return f"{label.split()[1]}:ok"


def _namespace_checks() -> Dict[str, Any]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("0.0.0.0", 0))  # only this namespace's interfaces exist
        port = receiver.getsockname()[1]
        rules = _os_rules(port)  # its datagrams ("plain") are received and ignored below
        sends = _sequential_sends("udp4", port) + _sequential_sends("udp6", port)
        succeeded = [label for label, result in sends if result == {"errMsg": _ok(label)}]
        received = _receive(receiver, succeeded, time.monotonic() + 5.0)
    sender = taro_udp.create_udp_socket()
    sender.onError(lambda _payload: None)
    try:
        race = _race(
            sender,
            {
                "limited": {"address": LIMITED_BROADCAST, "port": port, "message": b"l"},
                "directed+flag": {
                    "address": _NS_DIRECTED,
                    "port": port,
                    "message": b"b",
                    "setBroadcast": True,
                },
                "directed": {"address": _NS_DIRECTED, "port": port, "message": b"d"},
                "unicast": {"address": _NS_ADDRESS, "port": port, "message": b"u"},
            },
            RACE_SENDS,
        )
    finally:
        sender.close()
    return {"rules": rules, "sends": sends, "received": received, "race": race}


def _namespace_main() -> None:
    """The child's entry point (already inside its own network namespace)."""
    try:
        _namespace_setup()
    except (OSError, subprocess.SubprocessError) as exc:
        stderr = getattr(exc, "stderr", b"") or b""
        reason = stderr.decode(errors="replace").strip() or str(exc)
        print(json.dumps({"skip": f"cannot set up the namespace: {reason}"}))
        return
    print(json.dumps(_namespace_checks()))


def _namespace_skip_reason() -> Optional[str]:
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux-only"
    if os.geteuid() != 0:
        return "creating a network namespace needs root"
    for tool in ("unshare", "ip"):
        if shutil.which(tool, path=_TOOL_PATH) is None:
            return f"{tool} not found"
    return None


@pytest.fixture(scope="module")
def namespace_report() -> Dict[str, Any]:
    """The child's JSON report (run once for the module's namespace tests)."""
    reason = _namespace_skip_reason()
    if reason:
        pytest.skip(reason)
    unshare = shutil.which("unshare", path=_TOOL_PATH)
    assert unshare is not None
    code = "from tests.test_broadcast import _namespace_main; _namespace_main()"
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    try:
        child = subprocess.run(
            [unshare, "-n", sys.executable, "-c", code],
            cwd=_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=_NS_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"namespace child did not finish within {_NS_TIMEOUT}s: {exc.stderr!r}")
    if child.returncode != 0 and not child.stdout and child.stderr.startswith("unshare:"):
        pytest.skip(f"cannot create a network namespace: {child.stderr.strip()}")
    assert child.returncode == 0, f"namespace child failed:\n{child.stderr}"
    report: Dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    if "skip" in report:
        pytest.skip(str(report["skip"]))
    return report


def _results(report: Mapping[str, Any], kind: str, address: str) -> List[Tuple[str, Any]]:
    return [
        (label, result)
        for label, result in report["sends"]
        if label.startswith(f"{kind}#") and label.split()[2] == address
    ]


def test_namespace_kernel_wants_so_broadcast_for_every_broadcast(
    namespace_report: Dict[str, Any],
) -> None:
    # The harness itself: the OS refuses both kinds without SO_BROADCAST, so the library
    # (not the kernel) is what lets a limited broadcast through without the flag.
    assert namespace_report["rules"] == {
        "255.255.255.255 SO_BROADCAST=0": "Permission denied",
        "255.255.255.255 SO_BROADCAST=1": "ok",
        "10.77.0.255 SO_BROADCAST=0": "Permission denied",
        "10.77.0.255 SO_BROADCAST=1": "ok",
    }


@pytest.mark.parametrize("kind", ["udp4", "udp6"])
def test_os_limited_broadcast_without_flag_succeeds(
    namespace_report: Dict[str, Any], kind: str
) -> None:
    sends = _results(namespace_report, kind, LIMITED_BROADCAST)
    assert [result for _, result in sends] == [
        OK,
        OK,
        {"errMsg": "write:ok"},
    ], sends


@pytest.mark.parametrize("kind", ["udp4", "udp6"])
def test_os_limited_broadcast_without_flag_is_delivered(
    namespace_report: Dict[str, Any], kind: str
) -> None:
    labels = [label for label, _ in _results(namespace_report, kind, LIMITED_BROADCAST)]
    missing = [label for label in labels if label not in namespace_report["received"]]
    assert not missing, f"not received: {missing}"


@pytest.mark.parametrize("kind", ["udp4", "udp6"])
def test_os_directed_broadcast_needs_set_broadcast(
    namespace_report: Dict[str, Any], kind: str
) -> None:
    # Without, with, and without again: the flag of one send never carries over.
    sends = _results(namespace_report, kind, _NS_DIRECTED)
    assert [result for _, result in sends] == [DENIED, OK, DENIED], sends
    received = namespace_report["received"]
    assert sends[1][0] in received
    assert sends[0][0] not in received
    assert sends[2][0] not in received


@pytest.mark.parametrize("kind", ["udp4", "udp6"])
def test_os_unicast_after_broadcasts_succeeds(namespace_report: Dict[str, Any], kind: str) -> None:
    sends = _results(namespace_report, kind, _NS_ADDRESS)
    assert [result for _, result in sends] == [OK], sends
    assert sends[0][0] in namespace_report["received"]


def test_os_concurrent_sends_each_get_their_own_broadcast_semantics(
    namespace_report: Dict[str, Any],
) -> None:
    assert namespace_report["race"] == {
        "limited": {"send:ok": RACE_SENDS},
        "directed+flag": {"send:ok": RACE_SENDS},
        "directed": {DENIED["errMsg"]: RACE_SENDS},
        "unicast": {"send:ok": RACE_SENDS},
    }
