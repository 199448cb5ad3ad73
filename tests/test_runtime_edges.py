"""Edges of the runtime that a review reproduced: one regression test each."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from typing import Any, List

import pytest

import taro_udp
from taro_udp.testing import SimulatedNetwork, VirtualClock

from ._helpers import WAIT, Recorder
from ._reliability_util import parse_result


def test_a_live_timer_due_with_a_cleared_one_keeps_the_program_running() -> None:
    # asyncio's count of cancelled timers drifts when a cancelled timer is due in the
    # same round as a live one: run() must still wait for every live timer.
    fired: List[str] = []

    def main() -> None:
        doomed = taro_udp.setTimeout(fired.append, 10, "cleared")
        taro_udp.setTimeout(lambda: taro_udp.clearTimeout(doomed), 5)
        taro_udp.setTimeout(fired.append, 10, "same round")
        taro_udp.setTimeout(fired.append, 120, "later")

    taro_udp.run(main, timeout=WAIT)
    assert fired == ["same round", "later"]


def test_a_thread_sending_with_callbacks_never_starves_its_sockets_receiving() -> None:
    # While a thread keeps sending with callbacks, datagrams still arrive.
    got = Recorder("got")
    stop = threading.Event()
    with taro_udp.create_udp_socket() as sock, socket.socket(
        socket.AF_INET, socket.SOCK_DGRAM
    ) as peer:
        port = sock.bind(0, address="127.0.0.1")
        sock.onMessage(lambda res: got(res["message"]))

        def keep_sending() -> None:
            while not stop.is_set():
                sock.send(
                    {"address": "127.0.0.1", "port": 9, "message": b"x"}, complete=lambda r: None
                )

        worker = threading.Thread(target=keep_sending)
        worker.start()
        try:
            for n in range(20):
                peer.sendto(b"%d" % n, ("127.0.0.1", port))
                got.wait_for(n + 1)  # delivered while the worker goes on sending
        finally:
            stop.set()
            worker.join(WAIT)
    assert got.items == [b"%d" % n for n in range(20)]


def test_clear_timeout_from_another_thread_waits_for_a_running_callback() -> None:
    entered = threading.Event()
    release = threading.Event()
    finished: List[str] = []

    def callback() -> None:
        entered.set()
        assert release.wait(WAIT)
        finished.append("callback")

    timer = taro_udp.setTimeout(callback, 0)
    assert entered.wait(WAIT)
    clearer = threading.Thread(target=taro_udp.clearTimeout, args=(timer,))
    clearer.start()
    clearer.join(0.2)
    waited = clearer.is_alive()
    release.set()
    clearer.join(WAIT)
    assert waited, "clearTimeout() returned while the callback was still running"
    assert finished == ["callback"]


def test_clear_timeout_takes_an_int_subclass_by_its_value() -> None:
    class TimerId(int):
        def __eq__(self, other: object) -> bool:
            raise AssertionError("compared")

        __hash__ = int.__hash__

    fired: List[int] = []
    timer = taro_udp.setTimeout(fired.append, 30, 1)
    taro_udp.clearTimeout(TimerId(timer))
    taro_udp.setTimeout(fired.append, 60, 2)
    taro_udp.run(timeout=WAIT)
    assert fired == [2]


def test_asyncio_work_left_under_virtual_time_is_dropped_with_the_clock() -> None:
    woke: List[str] = []

    async def sleeper() -> None:
        await asyncio.sleep(60)  # a virtual minute, never driven
        woke.append("woke")

    with VirtualClock() as clock:
        taro_udp.call_soon(lambda: asyncio.ensure_future(sleeper()))
        clock.advance(seconds=0.001)
    done = threading.Event()
    taro_udp.call_soon(done.set)
    assert done.wait(WAIT)
    again = threading.Event()
    taro_udp.call_soon(again.set)  # one more round: a leftover would have run by now
    assert again.wait(WAIT)
    assert woke == []


def test_a_long_but_finite_burst_can_be_allowed_more_rounds() -> None:
    async def burst() -> str:
        for _ in range(60_000):  # `await Promise.resolve()` 60,000 times
            await asyncio.sleep(0)
        return "done"

    with SimulatedNetwork(virtual_time=True) as network:
        assert network.clock is not None
        network.clock.livelock_rounds = 200_000
        assert taro_udp.run(burst, timeout=5) == "done"


EXIT_SCRIPT = r"""
import json, sys, taro_udp
from taro_udp.testing import SimulatedNetwork
net = SimulatedNetwork(virtual_time=True).__enter__()  # still installed at exit
sock = taro_udp.create_udp_socket()
sock.bind(0, address="127.0.0.1")
sock.onClose(lambda res: sys.stdout.write("RESULT " + json.dumps(res) + "\n"))
"""


def test_exit_with_a_virtual_clock_installed_delivers_on_close() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert parse_result(proc) == {"errMsg": "close:ok"}


FORK_IN_LISTENER = r"""
import json, os, socket, threading, time, taro_udp
sock = taro_udp.create_udp_socket()
port = sock.bind(0, address="127.0.0.1")
children = []
def on_message(res):
    pid = os.fork()
    if pid == 0:
        return  # the child's copy of the event thread returns into the loop
    children.append(pid)
sock.onMessage(on_message)
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", port))
deadline = time.monotonic() + 10
while not children and time.monotonic() < deadline:
    time.sleep(0.01)
pid = children[0]
ended = False
for _ in range(500):  # the child must end by itself, not spin
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        ended = True
        break
    time.sleep(0.01)
if not ended:
    os.kill(pid, 9); os.waitpid(pid, 0)
sock.close()
print("RESULT " + json.dumps({"child_ended": ended}))
"""


def test_a_fork_inside_a_listener_leaves_no_spinning_child() -> None:
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", FORK_IN_LISTENER],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    result: Any = parse_result(proc)
    assert result == {"child_ended": True}
    json.dumps(result)


@pytest.mark.parametrize("trials", [200])
def test_run_never_returns_before_main_has_run(trials: int) -> None:
    for _ in range(trials):
        ran: List[bool] = []

        def main(ran: List[bool] = ran) -> str:
            ran.append(True)
            return "main"

        taro_udp.setTimeout(lambda: None, 0)  # work already running goes idle meanwhile
        assert taro_udp.run(main, timeout=WAIT) == "main"
        assert ran == [True]
