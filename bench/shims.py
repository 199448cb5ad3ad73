"""Baselines the bench measures taro_udp against: the least a shim could possibly do.

``IdealReceiver`` is the "ideal shim" of one socket: one thread doing the system call the
contract needs (``recvmsg`` with IP_PKTINFO, blocking) and calling a callback with the
contract's payload dict, ``localInfo`` included. ``SelectorShim`` is the same for many
sockets: one thread, one selector, non-blocking reads. Neither validates, locks, orders
events or survives a raising callback; that is the point of a lower bound.
"""

from __future__ import annotations

import selectors
import socket
import threading
from typing import Any, Callable, Dict, List, Optional

__all__ = ["IP_PKTINFO", "IdealReceiver", "SelectorShim", "pktinfo_socket"]

Callback = Callable[[Dict[str, Any]], object]

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
ANCBUFSIZE = socket.CMSG_SPACE(12)
RECV_SIZE = 65536


def pktinfo_socket(host: str = "127.0.0.1") -> socket.socket:
    """A bound udp4 socket that reports the local address of each datagram."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    sock.bind((host, 0))
    return sock


def _reader(sock: socket.socket, callback: Callback, flags: int) -> Callable[[], Any]:
    """``recvmsg`` one datagram and hand the full contract payload to ``callback``."""
    recvmsg = sock.recvmsg
    local_port = sock.getsockname()[1]
    hosts: Dict[bytes, str] = {}

    def read() -> Any:
        data, ancdata, _flags, address = recvmsg(RECV_SIZE, ANCBUFSIZE, flags)
        raw = ancdata[0][2][8:12]
        local = hosts.get(raw)
        if local is None:
            local = hosts[raw] = socket.inet_ntop(socket.AF_INET, raw)
        callback(
            {
                "message": data,
                "remoteInfo": {
                    "address": address[0],
                    "family": "IPv4",
                    "port": address[1],
                    "size": len(data),
                },
                "localInfo": {"address": local, "family": "IPv4", "port": local_port},
            }
        )

    return read


class IdealReceiver:
    """One daemon thread blocked in ``recvmsg`` on one socket, calling ``callback``."""

    def __init__(self, sock: socket.socket, callback: Callback) -> None:
        self._read = _reader(sock, callback, 0)
        self.thread = threading.Thread(target=self._run, name="ideal-shim", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        read = self._read
        try:
            while True:
                read()
        except OSError:  # the socket was closed: the bench is over
            return


class SelectorShim:
    """One thread, one selector, many sockets: the ideal shim of a multi-socket library."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._running = True
        self.thread = threading.Thread(target=self._run, name="selector-shim", daemon=True)
        self.thread.start()

    def add(self, sock: socket.socket, callback: Callback) -> None:
        """Deliver every datagram of ``sock`` to ``callback`` (epoll: live at once)."""
        read = _reader(sock, callback, socket.MSG_DONTWAIT)

        def drain() -> None:
            try:
                for _ in range(256):
                    read()
            except OSError:  # EAGAIN: drained; EBADF: closed by remove() meanwhile
                pass

        self.selector.register(sock, selectors.EVENT_READ, drain)

    def remove(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` and close it."""
        try:
            self.selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and join the thread, release the selector."""
        self._running = False
        self._wake_w.send(b"\0")
        self.thread.join(timeout)
        self.selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        select = self.selector.select
        while self._running:
            events: List[Any] = select(None)
            for key, _mask in events:
                drain: Optional[Callable[[], None]] = key.data
                if drain is not None:
                    drain()
