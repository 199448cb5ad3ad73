"""Regression tests for defects a review of 0.3.0's lean send path and timer heap found.

- A signal handler's exception landing between the fast path's ``acquire()`` and its
  ``try`` left the socket's send lock held for good: the event thread's next send on
  that socket blocked for ever (SPEC §6: nothing a signal handler does wedges it).
- Timer callbacks ran in the event thread's base context: a ``ContextVar`` set by the
  code that set the timer was not seen, and one set inside a callback leaked into every
  later callback (0.2.0 and asyncio's ``call_later`` run each in a copy of its context).
- A timer set from another thread took its creation number when the event thread armed
  it, so a timer set later on the event thread for the same instant ran first (SPEC §7).
- The lazy ``import taro_udp`` left ``import_module``, ``TYPE_CHECKING`` and
  ``annotations`` on the package's namespace.
"""

from __future__ import annotations

import asyncio
import contextvars
import subprocess
import sys
import threading
from typing import Dict, Iterator, List

import pytest

import taro_udp
from taro_udp.testing import SimulatedNetwork

from ._helpers import WAIT

_REQUEST = contextvars.ContextVar("request", default="none")


def test_a_timer_runs_in_the_context_it_was_set_in() -> None:
    seen: Dict[str, str] = {}
    done = threading.Event()

    async def main() -> None:
        _REQUEST.set("task-42")
        taro_udp.setTimeout(lambda: seen.__setitem__("in_task", _REQUEST.get()), 0)
        await asyncio.sleep(0.02)

    def leaker() -> None:
        _REQUEST.set("leaked")

    def later() -> None:
        seen["later"] = _REQUEST.get()
        done.set()

    taro_udp.run(main, timeout=WAIT)
    taro_udp.setTimeout(leaker, 0)
    taro_udp.setTimeout(later, 20)
    assert done.wait(WAIT), "the second timer never fired"
    assert seen == {"in_task": "task-42", "later": "none"}


@pytest.fixture
def net() -> Iterator[SimulatedNetwork]:
    with SimulatedNetwork(seed=7, virtual_time=True) as network:
        yield network


def test_timers_due_at_one_instant_run_in_the_order_set_across_threads(
    net: SimulatedNetwork,
) -> None:
    order: List[str] = []
    entered = threading.Event()
    first_set = threading.Event()

    def on_event_thread() -> None:
        entered.set()
        assert first_set.wait(WAIT), "the main thread never set T1"
        taro_udp.setTimeout(order.append, 10, "T2")  # armed at once, after T1 was set

    taro_udp.call_soon(on_event_thread)
    drive = threading.Thread(target=net.advance, kwargs={"seconds": 0})
    drive.start()
    try:
        assert entered.wait(WAIT), "the event thread did not run the posted call"
        taro_udp.setTimeout(order.append, 10, "T1")  # armed by the event thread later
        first_set.set()
    finally:
        first_set.set()
        drive.join(WAIT)
    assert not drive.is_alive(), "the drive did not end"
    net.advance(seconds=0.05)
    assert order == ["T1", "T2"]


_SIGNAL_CHILD = r"""
import signal, sys, threading, time
import taro_udp

class Alarm(Exception):
    pass

def handler(sig, frame):
    # Only inside the library's send path, so that the harness itself is never hit.
    if frame is not None and frame.f_code.co_filename.endswith("_sending.py"):
        raise Alarm()

sink = taro_udp.create_udp_socket()
port = sink.bind(address="127.0.0.1")
sock = taro_udp.create_udp_socket()
option = {"address": "127.0.0.1", "port": port, "message": b"x"}
sock.send(dict(option))  # the peer is cached now: the next sends take the fast path
signal.signal(signal.SIGALRM, handler)
signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
interrupts = 0
end = time.monotonic() + 3
try:
    while time.monotonic() < end and interrupts < 2000:
        try:
            for _ in range(500):
                sock.send(option)
        except Alarm:
            interrupts += 1
finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
sent = threading.Event()
taro_udp.call_soon(lambda: (sock.send(option), sent.set()))
ok = sent.wait(5)
print("interrupts", interrupts, "event-thread send done", ok, flush=True)
if not ok:
    import os
    os._exit(1)  # the event thread is wedged: no clean exit is possible
sock.close()
sink.close()
"""


@pytest.mark.slow
def test_a_signal_during_fast_sends_never_wedges_the_event_thread() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SIGNAL_CHILD],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"the event thread's send was wedged:\n{done.stdout}{done.stderr}"
    assert "event-thread send done True" in done.stdout


def test_the_package_namespace_holds_only_its_own_names() -> None:
    leaked = {"import_module", "TYPE_CHECKING", "annotations"} & set(dir(taro_udp))
    assert not leaked, f"helpers of the lazy import on taro_udp: {sorted(leaked)}"
