"""The ported WeChat samples in ``examples/``: each runs on loopback and exits 0.

Each example runs as a script in a subprocess, with ``TARO_UDP_BIND_ADDRESS`` keeping its
``udp.bind()`` (all interfaces, as in WeChat) on loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from ._helpers import has_ipv6_loopback

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Generous: the examples finish in well under a second on an idle machine.
WAIT = 30.0


def run_example(name: str, bind: str = "127.0.0.1") -> List[str]:
    """Run ``examples/<name>``; assert exit 0 and a quiet stderr; return stdout lines."""
    env = dict(os.environ, TARO_UDP_BIND_ADDRESS=bind)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 0, f"{name} exited {result.returncode}: {result.stderr}"
    assert result.stderr == "", result.stderr
    return result.stdout.splitlines()


def _line(lines: List[str], prefix: str) -> str:
    found = [line for line in lines if line.startswith(prefix)]
    assert len(found) == 1, f"expected one {prefix!r} line in {lines}"
    return found[0]


def test_bind_send_on_message() -> None:
    lines = run_example("bind_send.py")
    port = _line(lines, "udp bound port ").split()[-1]
    assert "b'hello, how are you'" in _line(lines, "peer received:")
    received = _line(lines, "udp received:")
    assert "'message': b'fine, thanks'" in received
    assert f"'localInfo': {{'address': '127.0.0.1', 'family': 'IPv4', 'port': {port}}}" in received


def test_connect_write() -> None:
    lines = run_example("connect_write.py")
    assert _line(lines, "write result:") == "write result: {'errMsg': 'write:ok'}"
    assert "b'hello, how are you'" in _line(lines, "peer received:")
    assert "'message': b'fine, thanks'" in _line(lines, "udp received:")


def test_set_ttl_in_on_listening() -> None:
    lines = run_example("set_ttl.py")
    assert lines == [
        "onListening: {'errMsg': 'bind:ok'} -> setTTL(64)",
        "setTTL(64): no error",
    ]


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_udp6() -> None:
    lines = run_example("udp6.py", bind="::1")
    assert "'family': 'IPv6'" in _line(lines, "peer received:")
    received = _line(lines, "udp received:")
    assert "'remoteInfo': {'address': '::1', 'family': 'IPv6'" in received


def test_promise_retry() -> None:
    # On loopback nothing is lost: the devices' ignore_first makes the retries happen.
    lines = run_example("promise_retry.py")
    assert lines == [
        "device: request 1 ignored",
        "attempt 1/3: request 1: no reply within 500 ms",
        "device: request 2 answered",
        "status: on",
        "device: request 1 ignored",
        "attempt 1/3: request 1: no reply within 500 ms",
        "device: request 2 ignored",
        "attempt 2/3: request 2: no reply within 500 ms",
        "device: request 3 ignored",
        "attempt 3/3: request 3: no reply within 500 ms",
        "toast: Device not responding",
    ]
