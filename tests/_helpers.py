"""Test helpers: waiting without sleeping, and holding the event thread."""

from __future__ import annotations

import importlib.util
import socket
import threading
from pathlib import Path
from types import ModuleType
from typing import Callable, Tuple

from taro_udp import UDPSocket, _loop
from taro_udp.testing import SocketFactory
from taro_udp.testing._recorder import DEFAULT_TIMEOUT as WAIT
from taro_udp.testing._recorder import Recorder

__all__ = [
    "WAIT",
    "EventThreadGate",
    "Recorder",
    "has_ipv6_loopback",
    "load_example",
    "receiver",
]


class EventThreadGate:
    """Holds the event thread inside a callback until ``release()``.

    Lets a test make a deterministic statement about what has *not* run yet.
    """

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._released = threading.Event()

    def __enter__(self) -> EventThreadGate:
        _loop.call_soon(self._hold)
        assert self.entered.wait(WAIT), "the event thread never reached the gate"
        return self

    def _hold(self) -> None:
        self.entered.set()
        assert self._released.wait(WAIT), "gate never released"

    def release(self) -> None:
        self._released.set()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def receiver(
    factory: SocketFactory, recorder: Callable[..., Recorder], kind: str = "udp4"
) -> Tuple[UDPSocket, int, Recorder]:
    """A socket from ``factory`` bound to loopback, its port, and a recorder of its messages."""
    sock = factory(kind)
    messages = recorder("messages")
    sock.onMessage(messages)
    port = sock.bind(address="::1" if kind == "udp6" else "127.0.0.1")
    return sock, port, messages


def has_ipv6_loopback() -> bool:
    """Whether this machine can bind ::1 (some CI containers have no IPv6)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (the examples are scripts, not a package)."""
    path = Path(__file__).resolve().parent.parent / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
