"""Interop with a UDP stack that is not ours: Node's dgram, 1,000 datagrams each way."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator

import pytest

from taro_udp import UDPSocket

from ._helpers import WAIT, Recorder

NODE = shutil.which("node")
PEER = Path(__file__).parent / "peers" / "node_peer.js"
COUNT = 1000
WINDOW = 32

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def payload(i: int) -> bytes:
    """The same deterministic binary payloads as node_peer.js."""
    seed = hashlib.sha256(str(i).encode()).digest()
    size = (i * 37) % 1400
    return bytes(seed[k % len(seed)] ^ (k & 0xFF) for k in range(size))


@pytest.fixture
def node() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started = []

    def start(*args: str) -> subprocess.Popen[str]:
        assert NODE is not None
        proc = subprocess.Popen(
            [NODE, str(PEER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(WAIT)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def _first_line(proc: subprocess.Popen[str]) -> Dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"node printed nothing; stderr: {proc.stderr.read() if proc.stderr else ''}"
    result: Dict[str, Any] = json.loads(line)
    return result


def test_datagrams_to_node_come_back_byte_exact(
    make_socket: Callable[..., UDPSocket],
    recorder: Callable[[str], Recorder],
    node: Callable[..., subprocess.Popen[str]],
) -> None:
    peer = node("echo")
    node_port = _first_line(peer)["port"]
    sock = make_socket()
    echoes = recorder("echoes")
    window = threading.Semaphore(WINDOW)

    def on_message(res: Any) -> None:
        echoes(res)
        window.release()

    sock.onMessage(on_message)
    for i in range(COUNT):
        assert window.acquire(timeout=WAIT), f"no echo for {WAIT}s after {i} datagrams"
        sock.send({"address": "127.0.0.1", "port": node_port, "message": payload(i)})
    got = echoes.wait_for(COUNT)
    assert [res["message"] for res in got] == [payload(i) for i in range(COUNT)]
    assert all(res["remoteInfo"]["port"] == node_port for res in got)
    assert all(res["remoteInfo"]["size"] == len(res["message"]) for res in got)
    assert peer.stdin is not None
    peer.stdin.close()
    assert peer.wait(WAIT) == 0


def test_datagrams_from_node_arrive_byte_exact(
    make_socket: Callable[..., UDPSocket],
    recorder: Callable[[str], Recorder],
    node: Callable[..., subprocess.Popen[str]],
) -> None:
    sock = make_socket()
    received = recorder("datagrams from node")

    def echo(res: Any) -> None:
        received(res["message"])
        remote = res["remoteInfo"]
        sock.send({"address": remote["address"], "port": remote["port"], "message": res["message"]})

    sock.onMessage(echo)
    port = sock.bind(address="127.0.0.1")
    client = node("client", str(port), str(COUNT))
    _first_line(client)
    assert received.wait_for(COUNT) == [payload(i) for i in range(COUNT)]
    assert client.stdout is not None
    verdict = json.loads(client.stdout.readline())
    assert verdict == {"verified": COUNT, "mismatched": 0}
    assert client.wait(WAIT) == 0
