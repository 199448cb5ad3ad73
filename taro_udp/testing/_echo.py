"""Echo peers: a UDP peer on loopback that sends every datagram back to its sender.

``EchoPeer`` uses a plain OS socket and a thread of its own, not taro_udp, so it stays a
real, independent peer while a test exercises the library's event thread. Its thread
waits in ``select`` on the socket and a wake-up pair: it never polls, and ``close()``
stops and joins it. Simulated sockets cannot reach an OS socket, so ``echo_peer()``
gives a ``SimulatedEchoPeer`` instead while a ``SimulatedNetwork`` is active: a taro_udp
socket on that network, echoing from the event thread, faults and all.
"""

from __future__ import annotations

import selectors
import socket
import threading
from types import TracebackType
from typing import Optional, Tuple, Type, TypeVar, Union

from .. import _api
from .._types import OnMessageCallbackResult
from ._network import active_network
from ._recorder import Recorder

__all__ = ["EchoPeer", "SimulatedEchoPeer", "echo_peer"]

THREAD_NAME = "taro_udp-echo-peer"
JOIN_TIMEOUT = 5.0
# Datagrams echoed per wake-up before checking for close.
_BATCH = 64


class _Peer:
    """What both echo peers share: where they listen, what they heard, a context manager."""

    def __init__(self, family: str) -> None:
        if family not in ("udp4", "udp6"):
            raise ValueError(f'family must be "udp4" or "udp6", got {family!r}')
        self.address = "::1" if family == "udp6" else "127.0.0.1"
        self.family = family
        self.port = 0
        self.received = Recorder("echoed datagrams")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address}:{self.port}>"

    def __enter__(self: _P) -> _P:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError  # pragma: no cover


_P = TypeVar("_P", bound=_Peer)


class EchoPeer(_Peer):
    """Echo datagrams on ``address``:``port`` (127.0.0.1, or ::1 with ``family="udp6"``).

    ``received`` is a ``Recorder`` of ``(data, (host, port))`` for every datagram that
    came in. Use as a context manager, or call ``close()``.
    """

    def __init__(self, family: str = "udp4") -> None:
        super().__init__(family)
        self._sock = socket.socket(
            socket.AF_INET6 if family == "udp6" else socket.AF_INET, socket.SOCK_DGRAM
        )
        try:
            self._sock.bind((self.address, 0))
            self._sock.setblocking(False)
            self._wake_r, self._wake_w = socket.socketpair()
        except OSError:
            self._sock.close()
            raise
        self.port = int(self._sock.getsockname()[1])
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread, join it and release the sockets; idempotent."""
        if self._stopping:
            return
        self._stopping = True
        try:
            self._wake_w.send(b"\0")
        except OSError:  # pragma: no cover - the pair is ours
            pass
        self._thread.join(JOIN_TIMEOUT)
        for sock in (self._sock, self._wake_r, self._wake_w):
            sock.close()

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping:
                selector.select()
                for _ in range(_BATCH):
                    if self._stopping or not self._echo_one():
                        break

    def _echo_one(self) -> bool:
        try:
            data, sender = self._sock.recvfrom(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:  # e.g. ICMP unreachable from an earlier echo: keep serving
            return True
        peer: Tuple[str, int] = (str(sender[0]), int(sender[1]))
        self.received((data, peer))
        try:
            self._sock.sendto(data, sender)
        except OSError:  # the sender is gone; an echo peer does not care
            pass
        return True


class SimulatedEchoPeer(_Peer):
    """An echo peer on the active ``SimulatedNetwork``: a taro_udp socket echoing on the
    event thread (so its echoes cross the network's faults like any datagram)."""

    def __init__(self, family: str = "udp4") -> None:
        super().__init__(family)
        self._sock = _api.create_udp_socket(family)
        self._sock.onMessage(self._echo)
        self._sock.onError(self._ignore)  # an echo to a vanished sender is nobody's problem
        self.port = self._sock.bind(0, address=self.address)

    def close(self) -> None:
        """Close the socket; idempotent."""
        self._sock.close()

    def _echo(self, res: OnMessageCallbackResult) -> None:
        sender = res["remoteInfo"]
        self.received((res["message"], (sender["address"], sender["port"])))
        self._sock.send(
            {"address": sender["address"], "port": sender["port"], "message": res["message"]}
        )

    @staticmethod
    def _ignore(_payload: object) -> None:
        pass


def echo_peer(family: str = "udp4") -> Union[EchoPeer, SimulatedEchoPeer]:
    """An echo peer reachable by the sockets ``create_udp_socket()`` makes right now."""
    if active_network() is not None:
        return SimulatedEchoPeer(family)
    return EchoPeer(family)
