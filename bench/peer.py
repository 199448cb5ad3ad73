"""The other end of the benchmarks: a separate process, plain blocking Python sockets.

    python bench/peer.py window PORT COUNT SIZE WINDOW   closed loop: at most WINDOW unacked
    python bench/peer.py blast PORT COUNT SIZE           open loop: as fast as it can
    python bench/peer.py echo COUNT [--cpu N]            echo COUNT datagrams back
    python bench/peer.py fanout                          per stdin line of ports: one each
    python bench/peer.py spray SECONDS                   a trickle to the ports on stdin

Every loop is bounded in count and time: a peer that stops answering ends it.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import selectors
import socket
import sys
import time
from typing import Callable, List, Optional

ACK_TIMEOUT = 2.0  # a lost datagram stalls the window: give up rather than hang
IDLE_TIMEOUT = 5.0


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_IoVec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint)]


def batch_sender(sock: socket.socket, data: bytes, batch: int) -> Optional[Callable[[int], int]]:
    """``send(n)``: up to ``n`` copies of ``data`` in one ``sendmmsg`` call (Linux).

    A Python ``sendto`` loop is slower than most receivers, which would then sleep
    between datagrams and measure wake-ups; one system call per batch keeps the receiver
    busy, so the figures are the cost of receiving. None where sendmmsg is missing.
    """
    libc_name = ctypes.util.find_library("c")
    if not sys.platform.startswith("linux") or libc_name is None:
        return None
    libc = ctypes.CDLL(libc_name, use_errno=True)
    sendmmsg = getattr(libc, "sendmmsg", None)
    if sendmmsg is None:
        return None
    buffer = ctypes.create_string_buffer(data, len(data))
    iov = _IoVec(ctypes.cast(buffer, ctypes.c_void_p), len(data))
    messages = (_MMsgHdr * batch)()
    for message in messages:
        message.msg_hdr.msg_iov = ctypes.pointer(iov)
        message.msg_hdr.msg_iovlen = 1
    fd = sock.fileno()

    def send(count: int) -> int:
        sent = int(sendmmsg(fd, messages, min(count, batch), 0))
        if sent < 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
        return sent

    send.keep_alive = (buffer, iov, messages)  # type: ignore[attr-defined]
    return send


def window(port: int, count: int, size: int, window: int) -> int:
    """Send ``count`` datagrams, never more than ``window`` ahead of the receiver's acks."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.connect(("127.0.0.1", port))
    sock.settimeout(ACK_TIMEOUT)
    data = b"x" * size
    send_batch = batch_sender(sock, data, window)
    send_one = sock.send
    sent = acked = 0
    try:
        while acked < count:
            limit = min(count, acked + window)
            while sent < limit:
                if send_batch is not None:
                    sent += send_batch(limit - sent)
                else:
                    send_one(data)
                    sent += 1
            acked = max(acked, int(sock.recv(64)))
    except socket.timeout:
        print(f"STALLED sent={sent} acked={acked}", file=sys.stderr)
        return 3
    finally:
        sock.close()
    return 0


def blast(port: int, count: int, size: int) -> int:
    """Send ``count`` datagrams as fast as this process can, never waiting for anything."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    data = b"x" * size
    send_batch = batch_sender(sock, data, 64)
    sent = 0
    while sent < count:
        if send_batch is not None:
            sent += send_batch(count - sent)
        else:
            sock.send(data)
            sent += 1
    sock.close()
    return 0


def echo(count: int, cpu: Optional[int]) -> int:
    """Send each datagram back to where it came from, ``count`` times at most."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(IDLE_TIMEOUT)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    recvfrom = sock.recvfrom
    sendto = sock.sendto
    try:
        for _ in range(count):
            data, address = recvfrom(65536)
            sendto(data, address)
    except socket.timeout:
        pass
    sock.close()
    return 0


def _ports(line: str) -> List[int]:
    return [int(port) for port in line.split(",") if port.strip()]


def fanout() -> int:
    """For each line of comma-separated ports on stdin: one 64-byte datagram to each."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    data = b"f" * 64
    print("READY", flush=True)
    for line in sys.stdin:
        for port in _ports(line):
            sock.sendto(data, ("127.0.0.1", port))
        print("SENT", flush=True)
    sock.close()
    return 0


def spray(seconds: float) -> int:
    """Trickle datagrams round-robin to the ports of the first stdin line.

    Stops at EOF on stdin or after ``seconds``. About 50 datagrams per millisecond, so
    the process measuring ``close()`` keeps a CPU of its own on a 2-core machine.
    """
    ports = _ports(sys.stdin.readline())
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    data = b"s" * 64
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin, selectors.EVENT_READ)
    deadline = time.monotonic() + seconds
    index = 0
    print("SPRAYING", flush=True)
    while ports and time.monotonic() < deadline:
        for _ in range(50):
            sock.sendto(data, ("127.0.0.1", ports[index]))
            index = (index + 1) % len(ports)
        if selector.select(0.001):
            break  # EOF (or anything) on stdin: stop
    selector.close()
    sock.close()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("window")
    for name in ("port", "count", "size", "window"):
        p.add_argument(name, type=int)
    p = sub.add_parser("blast")
    for name in ("port", "count", "size"):
        p.add_argument(name, type=int)
    p = sub.add_parser("echo")
    p.add_argument("count", type=int)
    p.add_argument("--cpu", type=int, default=None)
    sub.add_parser("fanout")
    p = sub.add_parser("spray")
    p.add_argument("seconds", type=float)
    args = parser.parse_args(argv)
    if args.mode == "window":
        return window(args.port, args.count, args.size, args.window)
    if args.mode == "blast":
        return blast(args.port, args.count, args.size)
    if args.mode == "echo":
        return echo(args.count, args.cpu)
    if args.mode == "fanout":
        return fanout()
    return spray(args.seconds)


if __name__ == "__main__":
    sys.exit(main())
