"""Shared test fixtures: leak checks and a recorder that waits instead of sleeping."""

from __future__ import annotations

import os
import socket
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Set

import pytest

import taro_udp
from taro_udp import UDPSocket

from ._helpers import WAIT, EventThreadGate, Recorder


def _preload_libgcc() -> None:
    # glibc loads libgcc_s the first time a thread exits, and the exiting thread holds a
    # descriptor on it for a moment after join() has returned: load it once, up front,
    # so that the first thread to end is not taken for a leaked descriptor.
    try:
        import ctypes

        ctypes.CDLL("libgcc_s.so.1")
    except OSError:  # pragma: no cover - not glibc
        pass


_preload_libgcc()

# The TypeScript transform's disk cache (taro_udp.js._transform) stays out of the home
# folder during the tests: the tests that are about it point it at a temporary folder.
os.environ.setdefault("TARO_UDP_TRANSFORM_CACHE", "0")


def _open_fds() -> Set[int]:
    try:
        return {int(name) for name in os.listdir("/proc/self/fd")}
    except FileNotFoundError:  # pragma: no cover - not Linux
        return set()


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread or a file descriptor behind.

    The library's event thread ends by itself once the last socket's close event has
    been delivered; it is joined (bounded) before the threads are compared.
    """
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    yield
    leftover = [t for t in threading.enumerate() if t not in threads_before]
    for thread in leftover:
        thread.join(WAIT)
    alive = [t.name for t in leftover if t.is_alive()]
    assert not alive, f"test left threads running: {alive}"
    # listdir's own fd is gone by the time the set is built; anything new is a leak.
    leaked = _open_fds() - fds_before
    described = {fd: _describe_fd(fd) for fd in sorted(leaked)}
    assert not leaked, f"test leaked file descriptors: {described}"


def _describe_fd(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"


@pytest.fixture
def recorder() -> Callable[[str], Recorder]:
    """A factory of recorders: ``messages = recorder("messages")``."""
    return Recorder


@pytest.fixture
def make_socket() -> Iterator[Callable[..., UDPSocket]]:
    """Create library sockets that are closed at teardown: ``make_socket("udp6")``."""
    created: List[UDPSocket] = []

    def make(kind: Optional[str] = "udp4", options: Optional[Dict[str, Any]] = None) -> UDPSocket:
        sock = taro_udp.create_udp_socket(kind, options)
        created.append(sock)
        return sock

    yield make
    for sock in created:
        sock.close()


@pytest.fixture
def raw_peer() -> Iterator[socket.socket]:
    """A plain blocking OS socket on 127.0.0.1, with a timeout so a test never hangs."""
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(WAIT)
    yield peer
    peer.close()


@pytest.fixture
def gate() -> Callable[[], EventThreadGate]:
    """``with gate() as g: ...`` holds the event thread until ``g.release()`` or exit."""
    return EventThreadGate
