"""SPEC §5-§6: nothing foreign wedges, kills or deadlocks the event thread.

One regression test per reproduction in ``shared/repros`` that concerns the event
thread (01-05, 07, 09, 13-15; 03 is in test_scale.py, the two ``port_`` ones in
test_runtime_timers.py). Those that need a process of their own (a deadlock to survive,
signals, a thread limit, a network namespace) run their script in a child process with
a timeout, and read one ``RESULT {json}`` line from it.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
from typing import Any, Iterator, List

import pytest

import taro_udp
from taro_udp import _eventloop, _loop, _transport

from ._helpers import WAIT, Recorder
from ._reliability_util import parse_result, run_python


def _run_child(code: str, timeout: float = 50, measured: bool = True) -> Any:
    env = None
    if not measured:
        # Not under coverage: its tracer holds a lock of its own that an exception from
        # a signal handler could leave locked (coverage's problem, not the library's).
        env = {name: value for name, value in os.environ.items() if "COVERAGE" not in name}
    try:
        proc = run_python(code, timeout=timeout, env=env, clean=not measured)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the child hung for {timeout}s: {exc.stdout!r}") from None
    return parse_result(proc)


GC_FINALIZER_SCRIPT = r"""
import gc, json, threading, taro_udp
gc.set_threshold(50)  # collect often: finalizers run at arbitrary points of the sends

class Client:  # a wrapper that closes its socket when collected, inside a cycle
    def __init__(self):
        self.sock = taro_udp.create_udp_socket()
        self.me = self
    def __del__(self):
        self.sock.close()

s = taro_udp.create_udp_socket()
p = s.bind(0, address="127.0.0.1")
done = threading.Event()
completes = []
def app():
    for _ in range(5000):
        Client()
        s.send({"address": "127.0.0.1", "port": p, "message": b"x",
                "complete": completes.append})
    done.set()
threading.Thread(target=app, daemon=True).start()
finished = done.wait(40)
gc.collect()
flushed = threading.Event()
taro_udp.call_soon(flushed.set)
flushed.wait(10)
s.close()
print("RESULT " + json.dumps({"finished": finished, "completes": len(completes)}))
"""


def test_a_socket_closed_by_a_finalizer_never_deadlocks_the_library() -> None:
    # repro_01: the cyclic GC runs __del__ (which closes a socket) on a thread that is
    # inside the library.
    result = _run_child(GC_FINALIZER_SCRIPT)
    assert result == {"finished": True, "completes": 5000}


SIGNAL_SCRIPT = r"""
import json, signal, socket, threading, time, taro_udp

sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sink.bind(("127.0.0.1", 0))
PORT = sink.getsockname()[1]
s = taro_udp.create_udp_socket(); s.bind(0, address="127.0.0.1")

class Interrupted(Exception):
    pass

def handler(signum, frame):
    f = frame  # raise only while the main thread is inside the library
    while f is not None:
        if "taro_udp" in f.f_code.co_filename:
            raise Interrupted()
        f = f.f_back

signal.signal(signal.SIGALRM, handler)
signal.setitimer(signal.ITIMER_REAL, 0.0003, 0.0003)
sent = interrupted = 0
end = time.monotonic() + 2
while time.monotonic() < end:
    try:
        s.send({"address": "127.0.0.1", "port": PORT, "message": b"x", "complete": lambda r: None})
        sent += 1
    except Interrupted:
        interrupted += 1
signal.setitimer(signal.ITIMER_REAL, 0, 0)
probe = threading.Event()
other = taro_udp.create_udp_socket()
other.send({"address": "127.0.0.1", "port": PORT, "message": b"p",
            "complete": lambda r: probe.set()})
delivered = probe.wait(5)
received = threading.Event()
s.onMessage(lambda res: received.set())
other.send({"address": "127.0.0.1", "port": s._local_port, "message": b"to s"})
heard = received.wait(5)
s.close(); other.close()
print("RESULT " + json.dumps({"interrupted": interrupted > 0, "delivered": delivered,
                              "heard": heard}))
"""


def test_an_exception_from_a_signal_handler_inside_send_never_wedges_the_event_thread() -> None:
    # repro_02: the exception lands anywhere inside send(); later callbacks still run,
    # and the socket that was interrupted still receives.
    result = _run_child(SIGNAL_SCRIPT, measured=False)
    assert result == {"interrupted": True, "delivered": True, "heard": True}


class _RaisingHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        raise RuntimeError("log sink unavailable")


@pytest.fixture
def raising_log_handler() -> Iterator[None]:
    log = logging.getLogger("taro_udp")
    handler = _RaisingHandler()
    log.addHandler(handler)
    propagate, log.propagate = log.propagate, False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


def _assert_the_library_still_works() -> None:
    done = Recorder("complete")
    closed = Recorder("close")
    with taro_udp.create_udp_socket() as b:
        b.onError(lambda res: None)
        b.send({"address": "127.0.0.1", "port": 9, "message": b"x", "complete": done})
        assert done.wait_for(1) == [{"errMsg": "send:ok"}]
    c = taro_udp.create_udp_socket()
    c.bind(0, address="127.0.0.1")
    c.onClose(closed)
    c.close()
    assert closed.wait_for(1) == [{"errMsg": "close:ok"}]


@pytest.mark.usefixtures("raising_log_handler")
def test_a_raising_logging_handler_never_kills_the_event_thread(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # repro_04, mode loghandler: an error with no onError listener is logged, and the
    # handler raises.
    with taro_udp.create_udp_socket() as a:
        a.send({"address": "127.0.0.1", "port": 0, "message": b"x"})
        ran = threading.Event()
        taro_udp.call_soon(ran.set)
        assert ran.wait(WAIT), "the event thread died"
    _assert_the_library_still_works()
    assert "the logging handler failed" in capsys.readouterr().err


class _StrExits:
    def __str__(self) -> str:
        raise SystemExit(3)


class _ProtocolError(Exception):
    def __init__(self, packet: Any) -> None:
        super().__init__()
        self.packet = packet

    def __str__(self) -> str:
        return f"bad packet {self.packet.ident}"  # packet is None: AttributeError


def test_a_listener_exception_whose_str_raises_system_exit_never_kills_the_thread() -> None:
    # repro_04, mode strexit.
    errors = Recorder("errors")
    with taro_udp.create_udp_socket() as a:
        port = a.bind(0, address="127.0.0.1")

        def listener(res: Any) -> None:
            raise ValueError(_StrExits())

        a.onMessage(listener)
        a.onError(errors)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(b"x", ("127.0.0.1", port))
        # str(ValueError(obj)) is str(obj): it raises, and the report names the type only.
        assert errors.wait_for(1) == [{"errMsg": "onMessage:fail ValueError", "errCode": -1}]
    _assert_the_library_still_works()


def test_each_listener_and_callback_is_isolated_from_an_exception_whose_str_raises() -> None:
    # repro_05: the remaining listeners, complete and the onError report all still run.
    second = Recorder("second")
    errors = Recorder("errors")
    completes = Recorder("completes")
    closes = Recorder("closes")

    def first(res: Any) -> None:
        raise _ProtocolError(None)

    a = taro_udp.create_udp_socket()
    port = a.bind(0, address="127.0.0.1")
    a.onMessage(first)
    a.onMessage(lambda res: second(res["message"]))
    a.onError(errors)
    a.onClose(first)
    a.onClose(closes)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for i in range(3):
            tx.sendto(b"m%d" % i, ("127.0.0.1", port))
    assert second.wait_for(3) == [b"m0", b"m1", b"m2"]
    a.send({"address": "127.0.0.1", "port": 9, "message": b"x"}, success=first, complete=completes)
    assert completes.wait_for(1) == [{"errMsg": "send:ok"}]
    a.close()
    assert closes.wait_for(1) == [{"errMsg": "close:ok"}]
    reports = errors.wait_for(5)
    assert {r["errMsg"] for r in reports} == {
        "onMessage:fail _ProtocolError",
        "success:fail _ProtocolError",
        "onClose:fail _ProtocolError",
    }


class _WeirdStr(str):
    def encode(self, *args: Any, **kwargs: Any) -> Any:
        return "not bytes"


def test_a_transport_failure_that_is_not_an_os_error_never_reports_success(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # repro_07: no success for a datagram that did not leave. A failure that is not the
    # OS's (a broken transport; an exception from a signal handler looks the same) is
    # raised to the caller, and none of the callbacks runs.
    class Failing:
        def __init__(self, family: int, options: Any) -> None:
            self._inner = _transport.create_os_transport(family, options)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def sendto(self, data: Any, address: Any) -> None:
            raise TypeError("the transport broke")

    monkeypatch.setattr(_transport, "transport_factory", Failing)
    got = Recorder("callbacks")
    with taro_udp.create_udp_socket() as s:
        s.onError(lambda res: got(("onError", res)))
        with pytest.raises(TypeError, match="the transport broke"):
            s.send(
                {"address": "127.0.0.1", "port": 9, "message": b"x"},
                success=lambda r: got(("success", r)),
                fail=lambda r: got(("fail", r)),
                complete=lambda r: got(("complete", r)),
            )
        # The socket still works: a bad port is reported as usual, after nothing else.
        s.send({"address": "127.0.0.1", "port": 0, "message": b"x"}, complete=got)
        failure = {"errMsg": "send:fail invalid port", "errCode": 2}
        assert got.wait_for(2) == [failure, ("onError", failure)]


def test_a_str_subclass_message_sends_its_real_text_or_fails_never_both() -> None:
    # repro_07's trigger: a str subclass whose encode() misbehaves.
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(WAIT)
    got = Recorder("callbacks")
    with sink, taro_udp.create_udp_socket() as s:
        s.send(
            {"address": "127.0.0.1", "port": sink.getsockname()[1], "message": _WeirdStr("hi")},
            success=lambda r: got("success"),
            fail=lambda r: got("fail"),
        )
        outcome = got.wait_for(1)
        if outcome == ["success"]:
            assert sink.recv(100) == b"hi"


THREAD_LIMIT_SCRIPT = r"""
import json, os, resource
import logging, selectors, socket, threading, asyncio
import taro_udp, taro_udp._loop
os.setgid(65534); os.setuid(65534)
resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))  # no new thread for this user
def fds(): return len(os.listdir("/proc/self/fd"))
before = fds()
outcomes = []
for _ in range(3):
    try:
        taro_udp.create_udp_socket()
        outcomes.append("created")
    except Exception as e:
        outcomes.append([type(e).__name__, getattr(e, "errCode", None)])
print("RESULT " + json.dumps({"outcomes": outcomes, "leaked": fds() - before}))
"""


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_an_event_thread_that_cannot_start_gives_udp_socket_error_and_leaks_nothing() -> None:
    # repro_09: RLIMIT_NPROC reached (dropped to nobody, whom the limit binds).
    result = _run_child(THREAD_LIMIT_SCRIPT)
    assert result["outcomes"] == [["UDPSocketError", -2]] * 3
    assert result["leaked"] == 0


def test_every_concurrent_close_waits_for_the_running_listener() -> None:
    # repro_13: the second close() used to return while the listener still ran.
    running = threading.Event()
    release = threading.Event()
    finished: List[str] = []

    def listener(res: Any) -> None:
        running.set()
        assert release.wait(WAIT)
        finished.append("listener")

    s = taro_udp.create_udp_socket()
    port = s.bind(0, address="127.0.0.1")
    s.onMessage(listener)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.sendto(b"x", ("127.0.0.1", port))
    assert running.wait(WAIT)
    closers = [threading.Thread(target=s.close) for _ in range(2)]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join(0.2)  # each must still be waiting: the listener runs
    still_waiting = [closer.is_alive() for closer in closers]
    release.set()
    for closer in closers:
        closer.join(WAIT)
    assert still_waiting == [True, True]
    assert finished == ["listener"]


EARLY_SUCCESS_SCRIPT = r"""
import json, sys, threading, time, socket, taro_udp
sys.setswitchinterval(1e-6)
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sink.bind(("127.0.0.1", 0))
P = sink.getsockname()[1]
s = taro_udp.create_udp_socket(); s.bind(0, address="127.0.0.1")
main = threading.main_thread().ident
early = [0]; total = [0]
def make(opt):
    def cb(r):
        total[0] += 1
        f = sys._current_frames().get(main)
        while f is not None:
            if (f.f_code.co_name == "send" and "taro_udp" in f.f_code.co_filename
                    and f.f_locals.get("option") is opt):
                early[0] += 1
                break
            f = f.f_back
    return cb
sent = 0
end = time.monotonic() + SECONDS
while time.monotonic() < end:
    opt = {"address": "127.0.0.1", "port": P, "message": b"x"}
    opt["success"] = make(opt)
    s.send(opt)
    sent += 1
done = threading.Event()
taro_udp.call_soon(done.set)
done.wait(30)
s.close()
print("RESULT " + json.dumps({"sent": sent, "total": total[0], "early": early[0]}))
"""


def test_success_never_runs_before_its_send_has_returned() -> None:
    # repro_14: under CPU contention the event thread could run success while send()
    # was still on the caller's stack.
    result = _run_child(EARLY_SUCCESS_SCRIPT.replace("SECONDS", "4"))
    assert result["total"] == result["sent"] > 1000
    assert result["early"] == 0


BLOCKED_SENDTO_SCRIPT = r"""
import json, threading, time, socket, taro_udp
s = taro_udp.create_udp_socket("udp4", {"sendBufferSize": 4096})
s.bind(0, address="127.0.0.1")
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sink.bind(("127.0.0.1", 0))
started = threading.Event()
def bulk():  # a thread whose sends block in the kernel: the link is 8 kbit/s
    for i in range(40):
        started.set()
        s.send({"address": "127.0.0.1", "port": sink.getsockname()[1], "message": b"x" * 1400,
                "complete": lambda r: None})
threading.Thread(target=bulk, daemon=True).start()
started.wait(5)
time.sleep(0.5)  # the bulk sender is blocked in sendto by now
other = taro_udp.create_udp_socket()
done = threading.Event()
t0 = time.monotonic()
other.onError(lambda r: None)
other.send({"address": "127.0.0.1", "port": 0, "message": b"x", "complete": lambda r: done.set()})
ok = done.wait(20)
print("RESULT " + json.dumps({"delivered": ok, "seconds": time.monotonic() - t0}), flush=True)
import os; os._exit(0)
"""


def _can_shape_a_namespace() -> bool:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    if not (shutil.which("unshare") and shutil.which("ip") and shutil.which("tc")):
        return False
    probe = subprocess.run(
        [
            "unshare",
            "-n",
            "sh",
            "-c",
            "ip link set lo up && tc qdisc add dev lo root tbf rate 8kbit burst 1600 limit 200000",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.timeout(90)
def test_a_sendto_blocked_in_the_kernel_never_stalls_other_sockets_callbacks() -> None:
    # repro_15: in a private network namespace whose loopback is rate limited.
    if not _can_shape_a_namespace():
        pytest.skip("needs root, unshare -n, ip and tc (a rate-limited private loopback)")
    setup = "ip link set lo up && tc qdisc add dev lo root tbf rate 8kbit burst 1600 limit 200000"
    proc = subprocess.run(
        [
            "unshare",
            "-n",
            "sh",
            "-c",
            f'{setup} && exec "$0" -c "$1"',
            sys.executable,
            BLOCKED_SENDTO_SCRIPT,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    result = parse_result(proc)
    assert result["delivered"], result
    assert result["seconds"] < 2.0, f"the other socket's callback waited {result['seconds']:.1f}s"


def test_an_event_thread_that_dies_is_replaced_and_adopts_the_open_sockets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # "If the thread ever ends, the next call starts a working one": force an end that
    # no user code can cause (the thread's own retirement failing).
    messages = Recorder("messages")
    with taro_udp.create_udp_socket() as rx, taro_udp.create_udp_socket() as tx:
        port = rx.bind(0, address="127.0.0.1")
        rx.onMessage(lambda res: messages(res["message"]))
        tx.send({"address": "127.0.0.1", "port": port, "message": b"before"})
        assert messages.wait_for(1) == [b"before"]
        dying = _loop.current()

        def broken_retire(self: Any) -> bool:
            raise RuntimeError("forced")

        monkeypatch.setattr(_eventloop.EventThread, "_retire", broken_retire)
        taro_udp.call_soon(lambda: dying.loop.stop())
        dying.thread.join(WAIT)
        assert not dying.thread.is_alive(), "the event thread did not end"
        monkeypatch.undo()
        tx.send({"address": "127.0.0.1", "port": port, "message": b"after"})
        assert messages.wait_for(2) == [b"before", b"after"]
        assert _loop.current() is not dying
