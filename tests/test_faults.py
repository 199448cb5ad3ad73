"""Faults (issue 6.3): raising and closing listeners, vanished peers, no fds, no route,
interpreter exit with a blocked listener, fork.

Each test counts the faults it injected (``record``); the process, the event thread and
every other socket carry on, and nothing is leaked.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List

import pytest

import taro_udp

from ._helpers import Recorder
from ._reliability_util import (
    barrier,
    parse_result,
    record,
    run_python,
    wait_thread_gone,
)

pytestmark = pytest.mark.slow


class BoomError(Exception):
    """What the raising listeners raise."""


# -- listeners that raise --------------------------------------------------------------


@pytest.mark.parametrize("exc_type", [BoomError, RuntimeError, KeyboardInterrupt, SystemExit])
def test_every_listener_raising_on_every_event_is_reported_and_delivery_goes_on(
    exc_type: type, recorder: Callable[[str], Recorder]
) -> None:
    raised: List[str] = []

    def raising(name: str) -> Callable[[Any], None]:
        def listener(payload: Any) -> None:
            raised.append(name)
            raise exc_type(f"{name} failed")

        return listener

    errors = recorder("errors")
    seen = {name: recorder(name) for name in ("listening", "message", "close", "cb")}
    datagrams = 3
    with taro_udp.create_udp_socket() as sender:
        sock = taro_udp.create_udp_socket()
        sock.onError(raising("onError"))  # only logged; the next onError listener still runs
        sock.onError(errors)
        sock.onListening(raising("onListening"))
        sock.onListening(seen["listening"])
        sock.onMessage(raising("onMessage"))
        sock.onMessage(seen["message"])
        sock.onClose(raising("onClose"))
        sock.onClose(seen["close"])
        port = sock.bind(0, address="127.0.0.1")
        for seq in range(datagrams):
            sender.send({"address": "127.0.0.1", "port": port, "message": bytes([seq])})
        seen["message"].wait_for(datagrams)
        barrier()  # the event thread has left the drain loop (see the ordering test below)
        sock.send(  # success path: success and complete raise
            {
                "address": "127.0.0.1",
                "port": port,
                "message": b"self",
                "success": raising("success"),
                "complete": raising("complete"),
            }
        )
        seen["message"].wait_for(datagrams + 1)
        sock.send(  # failure path: fail and complete raise
            {
                "address": "127.0.0.1",
                "port": 0,
                "fail": raising("fail"),
                "complete": raising("complete"),
            }
        )
        sock.setTTL(-1)
        seen["message"].wait_for(datagrams + 1)
        sock.close()
        seen["close"].wait_for(1)
        barrier()
    wait_thread_gone()

    assert [p["message"] for p in seen["message"].items] == [b"\0", b"\1", b"\2", b"self"]
    assert seen["listening"].items == [{"errMsg": "bind:ok"}]
    assert seen["close"].items == [{"errMsg": "close:ok"}]
    name = exc_type.__name__
    listener_failures = [e for e in errors.items if f"fail {name}: " in e["errMsg"]]
    expected = (
        ["onListening"]
        + ["onMessage"] * datagrams
        + ["success", "complete", "onMessage"]  # SPEC §5: a send's result before its echo
        + ["fail", "complete", "onClose"]
    )
    names = [e["errMsg"].split(":fail ")[0] for e in listener_failures]
    assert names == expected, f"listener failures reported in this order: {names}"
    for e, who in zip(listener_failures, expected):
        assert e == {"errMsg": f"{who}:fail {name}: {who} failed", "errCode": -1}
    others = [e["errMsg"] for e in errors.items if e not in listener_failures]
    assert others == ["send:fail invalid port", "setTTL:fail invalid ttl"]
    # Every error went to the raising onError listener first.
    assert raised.count("onError") == len(errors.items)
    record("faults-raising-listeners", exception=name, faults_injected=len(raised))


def test_a_send_result_comes_before_its_echo_even_while_the_socket_is_being_drained() -> None:
    # SPEC §5: send's success runs before the echo it caused. Core bug (see the report):
    # UDPSocket._drain keeps reading the socket while posted work waits, so a datagram
    # sent while a listener of the same socket runs is delivered before its result.
    order: List[str] = []
    entered, release = threading.Event(), threading.Event()
    done = threading.Event()

    def on_message(payload: Any) -> None:
        order.append(f"message {payload['message'].decode()}")
        if payload["message"] == b"hold":
            entered.set()
            assert release.wait(10)
        if payload["message"] == b"echo":
            done.set()

    with taro_udp.create_udp_socket() as sock, taro_udp.create_udp_socket() as peer:
        sock.onMessage(on_message)
        port = sock.bind(0, address="127.0.0.1")
        peer.send({"address": "127.0.0.1", "port": port, "message": b"hold"})
        assert entered.wait(10), "the first datagram never arrived"
        sock.send(
            {
                "address": "127.0.0.1",
                "port": port,
                "message": b"echo",
                "success": lambda r: order.append("success"),
            }
        )
        release.set()
        assert done.wait(10), "the echo never arrived"
        barrier()
    assert order == ["message hold", "success", "message echo"]


# -- close() from inside every kind of listener ---------------------------------------

KINDS = ["onListening", "onMessage", "onError", "success", "fail", "complete", "onClose"]


@pytest.mark.parametrize("kind", KINDS)
def test_close_from_inside_a_listener_ends_the_socket_cleanly(
    kind: str, recorder: Callable[[str], Recorder]
) -> None:
    closes = recorder("close events")
    late_messages: List[Any] = []
    sock = taro_udp.create_udp_socket()
    sock.onClose(closes)
    sock.onError(lambda e: None)

    def closer(payload: Any) -> None:
        sock.close()
        sock.close()  # idempotent, even here

    with taro_udp.create_udp_socket() as sender:
        if kind == "onListening":
            sock.onListening(closer)
            sock.bind(0, address="127.0.0.1")
        elif kind == "onClose":
            sock.onClose(closer)
            sock.close()
        elif kind == "onError":
            sock.offError()
            sock.onError(closer)
            sock.setTTL(-1)
        elif kind == "onMessage":
            sock.onMessage(closer)
            sock.onMessage(late_messages.append)  # must not start once close() returned
            port = sock.bind(0, address="127.0.0.1")
            for _ in range(5):
                sender.send({"address": "127.0.0.1", "port": port, "message": b"x"})
        else:
            option: Dict[str, Any] = {"address": "127.0.0.1", "message": b"x", kind: closer}
            option["port"] = 0 if kind == "fail" else sender.bind(0, address="127.0.0.1")
            sock.send(option)
        closes.wait_for(1)
        barrier()
    wait_thread_gone()
    assert closes.items == [{"errMsg": "close:ok"}], "close must fire exactly once"
    assert late_messages == []
    record("faults-close-in-listener", kind=kind, faults_injected=1)


# -- a connected peer that vanishes ----------------------------------------------------


def test_connected_socket_whose_peer_vanishes_reports_error_and_keeps_receiving(
    recorder: Callable[[str], Recorder],
) -> None:
    errors = recorder("errors")
    messages = recorder("messages")
    with taro_udp.create_udp_socket() as sock:
        sock.onError(errors)
        sock.onMessage(messages)
        sock.bind(0, address="127.0.0.1")
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer_port = peer.getsockname()[1]
        sock.connect({"address": "127.0.0.1", "port": peer_port})
        peer.close()  # the peer vanishes: the next datagram draws ICMP port unreachable
        sock.write({"message": b"anyone?"})
        errors.wait_until(
            lambda items: any("Connection refused" in e["errMsg"] for e in items),
            "an error for the ICMP port unreachable",
        )
        refused = [e for e in errors.items if "Connection refused" in e["errMsg"]]
        assert all(e["errCode"] == -2 for e in refused), refused
        # The peer comes back on the same port: receiving goes on.
        back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            back.bind(("127.0.0.1", peer_port))
            back.sendto(b"back again", ("127.0.0.1", sock._local_port))
            messages.wait_for(1)
        finally:
            back.close()
    assert [m["message"] for m in messages.items] == [b"back again"]
    record("faults-peer-vanished", faults_injected=1, errors=[e["errMsg"] for e in refused])


# -- file descriptors exhausted (in a child with a low RLIMIT_NOFILE) -----------------

# glibc loads libgcc_s when a thread first exits, and the exiting thread holds an fd on
# it for a moment after join() has returned: a child loads it before it counts its fds.
# (On Python 3.8, whose threads end in pthread_exit, a first thread exit with no fd
# left aborts the process: "libgcc_s.so.1 must be installed for pthread_exit to work".)
PRELOAD_LIBGCC = r"""
try:
    import ctypes
    ctypes.CDLL("libgcc_s.so.1")
except OSError:
    pass
"""

# A child's descriptor table filled up (64 at most, every one taken, in ``held``), after
# the child has imported what it needs: nothing it does next can open an fd.
FILL_FD_TABLE = r"""
import os, resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass
"""

FD_SCRIPT = (
    PRELOAD_LIBGCC
    + r"""
import json, os, resource, threading, taro_udp
from taro_udp import UDPSocketError

def fds():
    return len(os.listdir("/proc/self/fd"))

def thread_gone():
    for t in threading.enumerate():
        if t.name == "taro_udp-events":
            t.join(10)
            assert not t.is_alive(), "event thread did not end"

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
base = fds()
result = {"base": base, "sweep": []}

# 1. Not enough fds for the first socket and the event thread's selector/wake-up pair.
for extra in range(0, 7):
    resource.setrlimit(resource.RLIMIT_NOFILE, (base + extra, hard))
    try:
        sock = taro_udp.create_udp_socket()
    except UDPSocketError as exc:
        outcome = [exc.errCode, exc.errno, exc.errMsg]
        sock = None
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if sock is not None:
        outcome = "ok"
        sock.close()
    thread_gone()
    result["sweep"].append([extra, outcome, fds() - base])

# 2. Exhaust the table with sockets.
limit = base + 40
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
socks = []
error = None
while len(socks) < 100:
    try:
        socks.append(taro_udp.create_udp_socket())
    except UDPSocketError as exc:
        error = [exc.errCode, exc.errno, exc.errMsg, str(exc)]
        break
result["created"] = len(socks)
result["error"] = error
# Sockets that exist keep working with no fd to spare: bind, send and receive need none.
got = threading.Event()
socks[0].onMessage(lambda p: got.set())
try:
    port = socks[0].bind(0, address="127.0.0.1")
    result["bind_while_exhausted"] = "ok"
except UDPSocketError as exc:
    result["bind_while_exhausted"] = [exc.errCode, exc.errMsg]
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    port = socks[0].bind(0, address="127.0.0.1")  # the rest of the test goes on
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
sent = []
socks[1].send({"address": "127.0.0.1", "port": port, "message": b"x", "complete": sent.append})
result["received_while_exhausted"] = got.wait(10)
# 3. Recovery: free some fds, create and use new sockets.
for s in socks[-10:]:
    s.close()
del socks[-10:]
fresh = [taro_udp.create_udp_socket() for _ in range(3)]
got2 = threading.Event()
fresh[0].onMessage(lambda p: got2.set())
port2 = fresh[0].bind(0, address="127.0.0.1")
fresh[1].send({"address": "127.0.0.1", "port": port2, "message": b"y"})
result["received_after_recovery"] = got2.wait(10)
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
for s in socks + fresh:
    s.close()
thread_gone()
result["leaked"] = fds() - base
print("RESULT " + json.dumps(result))
"""
)


def test_exhausted_file_descriptors_give_a_clear_error_leak_nothing_and_recover() -> None:
    proc = run_python(FD_SCRIPT, timeout=60)
    result = parse_result(proc)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for extra, outcome, leaked in result["sweep"]:
        assert leaked == 0, f"{leaked} fds left after a create with {extra} fds to spare"
        if outcome != "ok":
            code, err_no, message = outcome
            assert (code, err_no) == (-2, 24), outcome  # EMFILE
            assert message == "createUDPSocket:fail Too many open files", outcome
    assert [o for _, o, _ in result["sweep"]][-1] == "ok"
    assert result["error"] is not None, "40 spare fds never ran out"
    code, err_no, message, text = result["error"]
    assert (code, err_no, message) == (-2, 24, "createUDPSocket:fail Too many open files")
    assert "errCode -2" in text
    assert result["received_while_exhausted"]
    assert result["received_after_recovery"]
    assert result["leaked"] == 0
    # Core bug (see the report): getaddrinfo() fails with EMFILE when no fd is left, and
    # _addresses._parse reports any OSError as "invalid address" (errCode 1). A literal
    # needs no fd, so bind may succeed; if it fails, it must say why (errCode -2).
    assert result["bind_while_exhausted"] in (
        "ok",
        [-2, "bind:fail Too many open files"],
    ), f"bind(address='127.0.0.1') with no fd to spare: {result['bind_while_exhausted']}"


CLOSED_NO_FD_SCRIPT = (
    PRELOAD_LIBGCC
    + r"""
import json, os, resource, threading, taro_udp
from taro_udp import UDPSocketError

sock = taro_udp.create_udp_socket()
sock.close()
for t in threading.enumerate():
    if t.name == "taro_udp-events":
        t.join(10)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
fds = len(os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_NOFILE, (fds - 1, hard))  # not one fd to spare
raised = {}
calls = {
    "send": lambda: sock.send({"address": "127.0.0.1", "port": 9, "message": b"x"}),
    "write": lambda: sock.write({"address": "127.0.0.1", "port": 9, "message": b"x"}),
    "connect": lambda: sock.connect({"address": "127.0.0.1", "port": 9}),
    "setTTL": lambda: sock.setTTL(64),
    "close": sock.close,
    "bind": sock.bind,
}
for name, call in calls.items():
    try:
        call()
        raised[name] = None
    except Exception as exc:
        raised[name] = [type(exc).__name__, str(exc)]
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
print("RESULT " + json.dumps(raised))
"""
)


def test_calls_on_a_closed_socket_never_raise_when_no_fd_is_left() -> None:
    # SPEC §2: send/write/connect/setTTL never raise, bind raises UDPSocketError only.
    proc = run_python(CLOSED_NO_FD_SCRIPT, timeout=30)
    raised = parse_result(proc)
    # Core bug (see the report): reporting "socket is closed" starts an event thread
    # (epoll fd + socketpair) and call_soon lets its OSError(EMFILE) escape.
    bind = raised.pop("bind")
    assert raised == {name: None for name in raised}, (
        f"calls on a closed socket raised when no fd was left: {raised}"
    )
    assert bind is not None, "bind() on a closed socket must raise"
    assert bind[0] == "UDPSocketError", f"bind raised {bind}"
    # Each dropped event is one line on stderr, with no traceback (a half-made loop's
    # finalizer printed one per attempt).
    assert "Traceback" not in proc.stderr, proc.stderr


# -- no route, inside a network namespace this test creates ----------------------------

NO_ROUTE_SCRIPT = r"""
import json, threading, taro_udp

def outcome(sock, method, option):
    done = threading.Event()
    box = []
    option = dict(option, complete=lambda r: (box.append(r), done.set()))
    getattr(sock, method)(option)
    assert done.wait(10), "no complete callback"
    return box[0]

result = {}
errors = []
s4 = taro_udp.create_udp_socket()
s4.onError(errors.append)
result["send4"] = outcome(s4, "send", {"address": "192.0.2.1", "port": 9, "message": b"x"})
s6 = taro_udp.create_udp_socket("udp6")
s6.onError(errors.append)
result["send6"] = outcome(s6, "write", {"address": "2001:db8::1", "port": 9, "message": b"x"})
s4.connect({"address": "192.0.2.1", "port": 9})
# Loopback inside the namespace still works, and so does the first socket.
got = threading.Event()
rx = taro_udp.create_udp_socket()
rx.onMessage(lambda p: got.set())
port = rx.bind(0, address="127.0.0.1")
result["loopback_after"] = outcome(
    s6, "send", {"address": "127.0.0.1", "port": port, "message": b"y"}
)
result["received"] = got.wait(10)
for s in (s4, s6, rx):
    s.close()
for t in threading.enumerate():
    if t.name == "taro_udp-events":
        t.join(10)
result["errors"] = errors
print("RESULT " + json.dumps(result))
"""


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh network namespace with only ``lo`` up and no route; always deleted."""
    if os.geteuid() != 0:
        pytest.skip("creating a network namespace needs root")
    ip = shutil.which("ip")
    if ip is None:
        pytest.skip("the ip command (iproute2) is missing")
    name = f"taro_udp_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    created = subprocess.run([ip, "netns", "add", name], capture_output=True, text=True)
    if created.returncode != 0:
        pytest.skip(f"ip netns add failed: {created.stderr.strip()}")
    try:
        subprocess.run(
            [ip, "netns", "exec", name, ip, "link", "set", "lo", "up"], check=True, timeout=10
        )
        routes = subprocess.run(
            [ip, "netns", "exec", name, ip, "route", "show", "default"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        assert routes.stdout.strip() == "", f"namespace has a default route: {routes.stdout}"
        yield name
    finally:
        subprocess.run([ip, "netns", "delete", name], capture_output=True, timeout=10)
        listed = subprocess.run([ip, "netns", "list"], capture_output=True, text=True, timeout=10)
        assert name not in listed.stdout, f"network namespace {name} was not deleted"


def test_sending_where_there_is_no_route_reports_network_unreachable(netns: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TARO_UDP_BIND_ADDRESS"}
    proc = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", NO_ROUTE_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    result = parse_result(proc)
    unreachable = {"errMsg": "send:fail Network is unreachable", "errCode": -2}
    assert result["send4"] == unreachable
    assert result["send6"] == {"errMsg": "write:fail Network is unreachable", "errCode": -2}
    assert result["errors"] == [
        unreachable,
        {"errMsg": "write:fail Network is unreachable", "errCode": -2},
        {"errMsg": "connect:fail Network is unreachable", "errCode": -2},
    ]
    assert result["loopback_after"] == {"errMsg": "send:ok"}
    assert result["received"]
    record("faults-no-route", faults_injected=3)


# -- interpreter exit with 100 open sockets and a blocked listener ----------------------

EXIT_SCRIPT = r"""
import sys, threading, taro_udp

how = sys.argv[1]
socks = [taro_udp.create_udp_socket() for _ in range(100)]
for s in socks:
    s.bind(0, address="127.0.0.1")
entered = threading.Event()

def blocked(payload):
    entered.set()
    threading.Event().wait()  # forever

if how == "in-close":
    socks[0].onClose(blocked)
    socks[1].onClose(lambda p: entered.set())
    socks[1].close()
else:
    socks[0].onMessage(blocked)
    socks[1].send({"address": "127.0.0.1", "port": socks[0]._local_port, "message": b"x"})
assert entered.wait(10), "listener never ran"
print("READY", flush=True)
if how == "sys.exit":
    sys.exit(3)
if how == "exception":
    raise RuntimeError("main thread failed")
"""


@pytest.mark.parametrize(
    ("how", "code"), [("end", 0), ("sys.exit", 3), ("exception", 1), ("in-close", 0)]
)
def test_interpreter_exits_within_a_bound_with_open_sockets_and_a_blocked_listener(
    how: str, code: int
) -> None:
    started = time.monotonic()
    proc = run_python(EXIT_SCRIPT, timeout=30, args=[how])
    elapsed = time.monotonic() - started
    assert "READY" in proc.stdout, proc.stderr[-3000:]
    assert proc.returncode == code, proc.stderr[-3000:]
    assert elapsed < 20, f"exit took {elapsed:.1f}s"
    record("faults-exit", how=how, sockets=100, seconds=round(elapsed, 2), faults_injected=1)


# -- fork ------------------------------------------------------------------------------

FORK_SCRIPT = r"""
import json, os, threading, traceback, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads: that is the test
import taro_udp

def roundtrip(a, b):
    got = threading.Event()
    box = []
    a.onMessage(lambda p: (box.append(p["message"]), got.set()))
    port = a.bind(0, address="127.0.0.1")
    b.send({"address": "127.0.0.1", "port": port, "message": b"ping"})
    return got.wait(10) and box == [b"ping"]

a, b = taro_udp.create_udp_socket(), taro_udp.create_udp_socket()
parent_messages = []
got = threading.Event()
a.onMessage(lambda p: (parent_messages.append(p["message"]), got.set()))
port = a.bind(0, address="127.0.0.1")
b.send({"address": "127.0.0.1", "port": port, "message": b"before"})
assert got.wait(10)
got.clear()
thread_before = [t for t in threading.enumerate() if t.name == "taro_udp-events"]

pid = os.fork()
if pid == 0:
    code = 10
    try:
        done = threading.Event()
        box = []
        a.send({"address": "127.0.0.1", "port": port, "message": b"from child",
                "complete": lambda r: (box.append(r), done.set())})
        assert done.wait(10), "no result in the child"
        assert box == [{"errMsg": "send:fail socket is closed", "errCode": -1}], box
        c, d = taro_udp.create_udp_socket(), taro_udp.create_udp_socket()
        ok = roundtrip(c, d)
        c.close(); d.close()
        code = 0 if ok else 11
    except BaseException:
        traceback.print_exc()
    os._exit(code)

_, status = os.waitpid(pid, 0)
b.send({"address": "127.0.0.1", "port": port, "message": b"after"})
received_after = got.wait(10)
thread_after = [t for t in threading.enumerate() if t.name == "taro_udp-events"]
result = {
    "child_exit": status >> 8 if os.WIFEXITED(status) else -1,
    "parent_messages": [m.decode() for m in parent_messages],
    "received_after": received_after,
    "same_thread": thread_before == thread_after and thread_after[0].is_alive(),
}
a.close(); b.close()
print("RESULT " + json.dumps(result))
"""


def test_fork_child_uses_new_sockets_and_parent_is_unaffected() -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork() here")
    proc = run_python(FORK_SCRIPT, timeout=60)
    result = parse_result(proc)
    assert result["child_exit"] == 0, proc.stderr[-3000:]
    assert result["parent_messages"] == ["before", "after"]
    assert result["received_after"]
    assert result["same_thread"]
    record("faults-fork", faults_injected=1)
