"""Helpers of the reliability tests: scale knobs, kernel counters, barriers, figures.

Sizes are trimmed by default so the whole reliability set stays lean in CI; set
``TARO_UDP_FULL=1`` for the full sizes (1,000,000 datagrams, a 60 s soak). Set
``TARO_UDP_STATS=/path/file.jsonl`` to collect the figures the README quotes (one JSON
object per line: what was pushed, what was lost, kernel drop counters, deltas).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence

import taro_udp
from taro_udp import _loop

FULL = os.environ.get("TARO_UDP_FULL", "") not in ("", "0")


def scale(trimmed: int, full: int) -> int:
    """``full`` when ``TARO_UDP_FULL=1``, else ``trimmed`` (CI size)."""
    return full if FULL else trimmed


def record(section: str, **figures: Any) -> None:
    """Append the figures of one test to ``$TARO_UDP_STATS`` (if set) and print them."""
    line = json.dumps({"section": section, **figures}, sort_keys=True, default=str)
    print(f"[reliability] {line}")
    path = os.environ.get("TARO_UDP_STATS")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


# -- kernel counters -------------------------------------------------------------------


def snmp_udp() -> Dict[str, int]:
    """The host's ``Udp:`` counters from /proc/net/snmp (empty when unavailable)."""
    try:
        with open("/proc/net/snmp", encoding="ascii") as snmp:
            rows = [line.split() for line in snmp if line.startswith("Udp:")]
    except OSError:  # pragma: no cover - not Linux
        return {}
    if len(rows) < 2:  # pragma: no cover
        return {}
    return {name: int(value) for name, value in zip(rows[0][1:], rows[1][1:])}


def socket_drops(sock: taro_udp.UDPSocket) -> Optional[int]:
    """The kernel's ``drops`` counter of ``sock`` (/proc/net/udp[6]), matched by inode.

    Datagrams counted here were dropped by the kernel (receive buffer full) before the
    library could read them; ``None`` when the socket is not listed (not Linux).
    """
    inode = os.fstat(sock._fd).st_ino
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table, encoding="ascii") as rows:
                next(rows)
                for row in rows:
                    fields = row.split()
                    if len(fields) >= 13 and int(fields[9]) == inode:
                        return int(fields[-1])
        except OSError:  # pragma: no cover
            continue
    return None


# -- the process: fds, threads, the event thread ------------------------------------------


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def event_thread() -> Optional[threading.Thread]:
    loop = _loop._current
    return loop.thread if loop is not None else None


def barrier(timeout: float = 10.0) -> None:
    """Wait until the event thread has run everything posted before this call.

    Events are delivered in the order they were posted, so once this returns every
    result and error of an earlier call has reached its listeners.
    """
    done = threading.Event()
    _loop.call_soon(done.set)
    assert done.wait(timeout), f"event thread did not drain its queue within {timeout}s"


def wait_thread_gone(timeout: float = 10.0) -> None:
    """Wait for the event thread to end (it does once the last socket's close is out)."""
    thread = event_thread()
    if thread is not None:
        thread.join(timeout)
        assert not thread.is_alive(), f"event thread still running after {timeout}s"


# -- name resolution guard -----------------------------------------------------------------


class NumericOnlyResolver:
    """Replaces ``socket.getaddrinfo``: numeric lookups and ``localhost`` only.

    The hostile tests feed the library garbage ``address`` values; a value that is not
    an IP literal makes the library fall back to a name lookup, which must never reach
    DNS from a test. Such lookups are refused with ``EAI_NONAME`` (what an unknown name
    gives) and counted.
    """

    def __init__(self) -> None:
        self.real = socket.getaddrinfo
        self.refused = 0
        self.numeric = 0

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        flags = args[3] if len(args) > 3 else kwargs.get("flags", 0)
        if host in (None, "localhost", b"localhost") or flags & socket.AI_NUMERICHOST:
            self.numeric += 1
            return self.real(host, port, *args, **kwargs)
        self.refused += 1
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@contextlib.contextmanager
def numeric_only_resolver() -> Iterator[NumericOnlyResolver]:
    guard = NumericOnlyResolver()
    original = socket.getaddrinfo
    socket.getaddrinfo = guard
    try:
        yield guard
    finally:
        socket.getaddrinfo = original


# -- subprocesses --------------------------------------------------------------------------


def run_python(
    code: str,
    timeout: float,
    prefix: Sequence[str] = (),
    env: Optional[Dict[str, str]] = None,
    args: Sequence[str] = (),
    clean: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (``sys.executable``); killed on timeout.

    ``env`` is added to this process's environment, or with ``clean=True`` replaces it.
    """
    command: List[str] = [*prefix, sys.executable, "-c", code, *args]
    full_env = {} if clean else dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("PYTHONFAULTHANDLER", "1")
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )


def parse_result(proc: subprocess.CompletedProcess[str]) -> Dict[str, Any]:
    """The last ``RESULT {json}`` line a child printed; fail with its output otherwise."""
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            result: Dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    raise AssertionError(
        f"child exited {proc.returncode} without a result\n"
        f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start
