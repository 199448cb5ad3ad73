"""Load (issue 6.2): every datagram the kernel delivers reaches the listener, in order.

The sender is paced by a window: at most ``WINDOW`` datagrams are in flight (sent and
not yet seen by the listener), far below what the receive buffer holds, so the kernel
has no reason to drop any. The kernel's own drop counter of the receiving socket
(/proc/net/udp ``drops``) is read at the end: ``sent == received + kernel drops`` proves
that whatever was lost (nothing, with the window) was not lost by the library.

Sizes: ``TARO_UDP_FULL=1`` pushes 1,000,000 datagrams through one socket and 50 × 10,000
through 50; the default (CI) run pushes 100,000 and 50 × 2,000.
"""

from __future__ import annotations

import struct
import threading
from typing import Any, List

import pytest

import taro_udp
from taro_udp import UDPSocket

from ._reliability_util import Stopwatch, record, scale, snmp_udp, socket_drops

pytestmark = pytest.mark.slow

SEQ = struct.Struct("!I")
RCVBUF = 1 << 21  # asked for; Linux doubles it and caps it at net.core.rmem_max


class Stream:
    """One receiving socket: checks order, counts, and lets the sender wait for room."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.received = 0
        self.out_of_order = 0
        self.cond = threading.Condition()
        self.done = threading.Event()

    def on_message(self, payload: Any) -> None:
        (seq,) = SEQ.unpack_from(payload["message"])
        if seq != self.received:
            self.out_of_order += 1
        self.received += 1
        if self.received % 64 == 0 or self.received == self.total:
            with self.cond:
                self.cond.notify_all()
        if self.received == self.total:
            self.done.set()

    def wait_for_room(self, sent: int, window: int, timeout: float = 30.0) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: sent - self.received < window, timeout)
        assert ok, f"no datagram arrived for {timeout}s: sent {sent}, received {self.received}"


def push(sender: UDPSocket, stream: Stream, port: int, window: int) -> int:
    """Send ``stream.total`` sequence numbers, never more than ``window`` in flight."""
    send = sender.send
    for seq in range(stream.total):
        if seq - stream.received >= window:
            stream.wait_for_room(seq, window)
        send({"address": "127.0.0.1", "port": port, "message": SEQ.pack(seq)})
    return stream.total


@pytest.mark.timeout(300)
def test_one_socket_receives_every_datagram_in_order() -> None:
    total = scale(100_000, 1_000_000)
    window = 1024
    stream = Stream(total)
    errors: List[Any] = []
    snmp_before = snmp_udp()
    clock = Stopwatch()
    with taro_udp.create_udp_socket(options={"recvBufferSize": RCVBUF}) as receiver:  # noqa: SIM117
        with taro_udp.create_udp_socket() as sender:
            receiver.onMessage(stream.on_message)
            receiver.onError(errors.append)
            sender.onError(errors.append)
            port = receiver.bind(0, address="127.0.0.1")
            sender.bind(0, address="127.0.0.1")
            push(sender, stream, port, window)
            finished = stream.done.wait(60)
            drops = socket_drops(receiver)
    elapsed = clock.elapsed
    snmp_after = snmp_udp()
    record(
        "load-one-socket",
        pushed=total,
        received=stream.received,
        out_of_order=stream.out_of_order,
        lost=total - stream.received,
        kernel_socket_drops=drops,
        host_rcvbuf_errors_delta=snmp_after.get("RcvbufErrors", 0)
        - snmp_before.get("RcvbufErrors", 0),
        host_in_errors_delta=snmp_after.get("InErrors", 0) - snmp_before.get("InErrors", 0),
        seconds=round(elapsed, 2),
        datagrams_per_second=int(total / elapsed),
    )
    assert errors == []
    assert drops == 0, f"the kernel dropped {drops} datagrams despite the window"
    assert finished, f"received {stream.received} of {total} (kernel drops: {drops})"
    assert stream.received == total
    assert stream.out_of_order == 0


@pytest.mark.timeout(300)
def test_fifty_sockets_each_receive_their_stream_complete_and_in_order() -> None:
    sockets, per_socket = 50, scale(2_000, 10_000)
    window = 128
    streams = [Stream(per_socket) for _ in range(sockets)]
    errors: List[Any] = []
    receivers: List[UDPSocket] = []
    senders: List[UDPSocket] = []
    failures: List[BaseException] = []
    snmp_before = snmp_udp()
    clock = Stopwatch()
    try:
        for stream in streams:
            receiver = taro_udp.create_udp_socket(options={"recvBufferSize": 1 << 19})
            receivers.append(receiver)
            receiver.onMessage(stream.on_message)
            receiver.onError(errors.append)
            receiver.bind(0, address="127.0.0.1")
            sender = taro_udp.create_udp_socket()
            senders.append(sender)
            sender.onError(errors.append)
            sender.bind(0, address="127.0.0.1")

        def run(first: int) -> None:
            # Each thread interleaves its streams, one window-step at a time.
            try:
                mine = range(first, sockets, 5)
                ports = {i: receivers[i]._local_port for i in mine}
                for start in range(0, per_socket, window // 2):
                    for i in mine:
                        stream = streams[i]
                        stop = min(start + window // 2, per_socket)
                        stream.wait_for_room(start, window // 2 + 1)
                        for seq in range(start, stop):
                            senders[i].send(
                                {"address": "127.0.0.1", "port": ports[i], "message": SEQ.pack(seq)}
                            )
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                failures.append(exc)

        threads = [threading.Thread(target=run, args=(n,), name=f"load-{n}") for n in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(t.is_alive() for t in threads), "a sending thread hung"
        assert failures == [], failures
        for stream in streams:
            stream.done.wait(30)
        drops = [socket_drops(receiver) for receiver in receivers]
    finally:
        for sock in receivers + senders:
            sock.close()
    elapsed = clock.elapsed
    snmp_after = snmp_udp()
    received = sum(s.received for s in streams)
    record(
        "load-fifty-sockets",
        sockets=sockets,
        pushed=sockets * per_socket,
        received=received,
        out_of_order=sum(s.out_of_order for s in streams),
        lost=sockets * per_socket - received,
        kernel_socket_drops=sum(d or 0 for d in drops),
        host_rcvbuf_errors_delta=snmp_after.get("RcvbufErrors", 0)
        - snmp_before.get("RcvbufErrors", 0),
        seconds=round(elapsed, 2),
    )
    assert errors == []
    assert all(d == 0 for d in drops), f"kernel drops per socket: {drops}"
    incomplete = [(i, s.received) for i, s in enumerate(streams) if s.received != per_socket]
    assert incomplete == [], f"streams short of {per_socket}: {incomplete}"
    assert all(s.out_of_order == 0 for s in streams)
