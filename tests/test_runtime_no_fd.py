"""run() and setTimeout when the event thread cannot start (no file descriptor left).

Each case runs in a child with RLIMIT_NOFILE at 64 and every descriptor taken, before
any event thread exists. 0.2.0 dropped the posted work with a log line: ``run(main)``
then waited forever, also after fds were free again, and ``setTimeout`` returned an id
whose timer never fired and stayed pending (repro 14 of ``shared/repros/js``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Dict

import pytest

from ._helpers import WAIT
from .test_faults import FILL_FD_TABLE, PRELOAD_LIBGCC

pytest.importorskip("resource")

CHILD = (
    PRELOAD_LIBGCC
    + r"""
import json, os, resource, sys, threading, time, logging
logging.disable(logging.CRITICAL)
# loaded before the fds run out (taro_udp imports its modules on first use)
import asyncio, taro_udp, taro_udp._eventloop, taro_udp._timers, taro_udp._runtime
"""
    + FILL_FD_TABLE
    + r"""
result = {}
started = time.monotonic()
try:
    if sys.argv[1] == "run":
        result["value"] = taro_udp.run(lambda: 42, timeout=float(sys.argv[2]))
    else:
        result["value"] = taro_udp.setTimeout(lambda: None, 0)
except BaseException as exc:
    result["error"] = [type(exc).__name__, str(exc)]
result["seconds"] = time.monotonic() - started
result["pending"] = taro_udp._timers.pending_timers()
for fd in held:
    os.close(fd)
if sys.argv[1] == "run":  # and with fds again, run() works again
    result["after"] = taro_udp.run(lambda: 7, timeout=float(sys.argv[2]))
print("RESULT " + json.dumps(result), flush=True)
"""
)


def _child(*args: str) -> Dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        capture_output=True,
        text=True,
        timeout=WAIT * 6,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the child printed no result (exit {proc.returncode}):\n{proc.stderr}"
    result: Dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


def test_run_raises_at_once_when_the_event_thread_cannot_start() -> None:
    result = _child("run", str(WAIT * 2))
    assert "error" in result, f"run() returned {result.get('value')!r} with no fd left"
    name, message = result["error"]
    # 0.2.0 waited until the timeout (TimeoutError), or forever with none.
    assert name == "OSError", result
    assert "cannot start the event thread" in message
    assert "Too many open files" in message
    assert result["seconds"] < WAIT
    assert result["after"] == 7


def test_setTimeout_raises_and_leaves_no_pending_timer_when_the_thread_cannot_start() -> None:
    result = _child("setTimeout")
    assert "error" in result, f"setTimeout returned {result.get('value')!r} with no fd left"
    assert result["error"][0] == "OSError"
    assert result["pending"] == [], "a timer that was never armed stays pending"
