"""The measured side of the datagram benchmarks: one implementation per process.

    python bench/receivers.py IMPL MODE [options]

IMPL is ``raw`` (a ``recvfrom`` loop), ``ideal`` (the ideal shim, see shims.py),
``asyncio`` (a ``DatagramProtocol``) or ``taro_udp``. MODE is ``window`` or ``blast``
(receive from bench/peer.py) or ``rtt`` (ping bench/peer.py's echo, the next ping sent
from the message callback). The process prints ``PORT <n>`` once it listens and
``RESULT <json>`` at the end, or when sent SIGTERM (blast mode ends that way).

    python bench/receivers.py pair prefilled --count N --rounds R

``prefilled`` is different: one process holds both a taro_udp socket and the ideal
shim's socket, and alternates rounds between them. A round queues ``N`` 64-byte
datagrams on the receiving socket while its reader is held (the ideal reader thread
not started, the taro_udp event thread waiting on a gate), then lets it go and takes
the process CPU until the listener has counted all ``N``: a drain with no wake-up and
no sender competing for the CPU. The result is the per-round ratios and their median.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from shims import IdealReceiver, _reader, pktinfo_socket

Payload = Dict[str, Any]
PING = b"p" * 64


class Checkpoints:
    """Marks taken at a few datagram counts; everything else on the hot path is a compare.

    CPU (``process_time``: every thread of this process) and wall time are read at the
    first datagram, at ``warm`` and at ``total``; acks are due every ``ack_every``.
    """

    def __init__(self, total: int, warm: int, ack_every: int) -> None:
        self.total = total
        self.warm = max(1, warm)
        self.ack_every = ack_every
        self.marks: Dict[str, Tuple[float, float, int, int]] = {}
        self.done = threading.Event()
        self.on_done: Optional[Callable[[], object]] = None

    def _mark(self, name: str, count: int) -> None:
        # Voluntary context switches: how often the process slept waiting for data.
        sleeps = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
        self.marks[name] = (time.process_time(), time.perf_counter(), count, sleeps)

    def reached(self, count: int) -> int:
        """Take the marks due at ``count``; return the next count that needs a look."""
        if count == 1:
            self._mark("first", count)
        if count == self.warm:
            self._mark("warm", count)
        if count >= self.total:
            self._mark("end", count)
            self.done.set()
            if self.on_done is not None:
                self.on_done()
            return sys.maxsize
        upcoming = [self.total]
        if count < self.warm:
            upcoming.append(self.warm)
        if self.ack_every:
            upcoming.append((count // self.ack_every + 1) * self.ack_every)
        return min(upcoming)

    def ack_due(self, count: int) -> bool:
        return bool(self.ack_every) and (count % self.ack_every == 0 or count >= self.total)

    def result(self, count: int) -> Dict[str, Any]:
        if "end" not in self.marks:  # stopped early (blast mode, or datagrams lost)
            self._mark("end", count)
        start = self.marks.get("warm") or self.marks.get("first")
        end = self.marks["end"]
        if start is None:
            return {"received": count, "span": 0, "cpu_s": 0.0, "wall_s": 0.0, "sleeps": 0}
        return {
            "received": count,
            "span": end[2] - start[2],
            "cpu_s": end[0] - start[0],
            "wall_s": end[1] - start[1],
            "sleeps": end[3] - start[3],
        }


def report(result: Dict[str, Any]) -> None:
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def handler(
    cp: Checkpoints, reply: Callable[[Payload, int], object], rtt: bool
) -> Tuple[Callable[[Payload], None], Callable[[], int]]:
    """The message callback every dict-payload implementation calls.

    Window mode: ack every ``ack_every`` datagrams. RTT mode: send the next ping from
    inside the callback until ``total`` replies arrived.
    """
    count = 0
    next_check = 1

    def on_message(payload: Payload) -> None:
        nonlocal count, next_check
        count += 1
        if count >= next_check:
            if not rtt and cp.ack_due(count):  # before the end mark: the last ack too
                reply(payload, count)
            next_check = cp.reached(count)
        if rtt and count < cp.total:
            reply(payload, count)

    return on_message, lambda: count


def listen(port: int, cp: Checkpoints, count: Callable[[], int], timeout: float) -> None:
    """Announce ``port``, then wait for the end (or SIGTERM) and print the result."""

    def on_term(_signum: int, _frame: Any) -> None:
        report(cp.result(count()))
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    print(f"PORT {port}", flush=True)
    cp.done.wait(timeout)
    report(cp.result(count()))


# -- implementations -----------------------------------------------------------------


def run_raw(args: argparse.Namespace, cp: Checkpoints) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(args.timeout)
    recvfrom = sock.recvfrom
    sendto = sock.sendto
    count = 0
    next_check = 1

    def on_term(_signum: int, _frame: Any) -> None:
        report(cp.result(count))
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    if args.mode == "rtt":
        echo = ("127.0.0.1", args.echo_port)
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        try:
            while count < cp.total:
                sendto(PING, echo)
                recvfrom(65536)
                count += 1
                if count >= next_check:
                    next_check = cp.reached(count)
        except socket.timeout:
            pass
    else:
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        try:
            while count < cp.total:
                _data, address = recvfrom(65536)
                count += 1
                if count >= next_check:
                    if cp.ack_due(count):
                        sendto(str(count).encode(), address)
                    next_check = cp.reached(count)
        except socket.timeout:
            pass
    report(cp.result(count))
    sock.close()


def run_ideal(args: argparse.Namespace, cp: Checkpoints) -> None:
    sock = pktinfo_socket()
    echo = ("127.0.0.1", args.echo_port)

    def reply(payload: Payload, count: int) -> None:
        if args.mode == "rtt":
            sock.sendto(PING, echo)
        else:
            remote = payload["remoteInfo"]
            sock.sendto(str(count).encode(), (remote["address"], remote["port"]))

    on_message, count = handler(cp, reply, args.mode == "rtt")
    IdealReceiver(sock, on_message)
    if args.mode == "rtt":
        threading.Timer(0.05, sock.sendto, (PING, echo)).start()
    listen(sock.getsockname()[1], cp, count, args.timeout)


def run_taro_udp(args: argparse.Namespace, cp: Checkpoints) -> None:
    import taro_udp

    sock = taro_udp.create_udp_socket("udp4")
    echo = {"address": "127.0.0.1", "port": args.echo_port, "message": PING}

    def reply(payload: Payload, count: int) -> None:
        if args.mode == "rtt":
            sock.send(echo)
        else:
            remote = payload["remoteInfo"]
            sock.send({"address": remote["address"], "port": remote["port"], "message": str(count)})

    on_message, count = handler(cp, reply, args.mode == "rtt")
    sock.onMessage(on_message)  # type: ignore[arg-type]  # the same dict, typed loosely
    port = sock.bind(0, address="127.0.0.1")
    if args.mode == "rtt":
        threading.Timer(0.05, sock.send, (echo,)).start()
    listen(port, cp, count, args.timeout)
    sock.close()


def run_asyncio(args: argparse.Namespace, cp: Checkpoints) -> None:
    import asyncio

    loop = asyncio.new_event_loop()
    echo = ("127.0.0.1", args.echo_port)
    transports: List[asyncio.DatagramTransport] = []

    def reply(payload: Payload, count: int) -> None:
        if args.mode == "rtt":
            transports[0].sendto(PING, echo)
        else:
            remote = payload["remoteInfo"]
            transports[0].sendto(str(count).encode(), (remote["address"], remote["port"]))

    on_message, count = handler(cp, reply, args.mode == "rtt")

    class Protocol(asyncio.DatagramProtocol):
        # The payload a shim on asyncio would build (asyncio cannot tell the local address).
        def datagram_received(self, data: bytes, addr: Tuple[str, int]) -> None:
            on_message(
                {
                    "message": data,
                    "remoteInfo": {
                        "address": addr[0],
                        "family": "IPv4",
                        "port": addr[1],
                        "size": len(data),
                    },
                }
            )

    transport, _ = loop.run_until_complete(
        loop.create_datagram_endpoint(Protocol, local_addr=("127.0.0.1", 0))
    )
    transports.append(transport)
    finished = loop.create_future()

    def on_done() -> None:
        if not finished.done():
            finished.set_result(None)

    cp.on_done = on_done

    def on_term(_signum: int, _frame: Any) -> None:
        report(cp.result(count()))
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    print(f"PORT {transport.get_extra_info('sockname')[1]}", flush=True)
    if args.mode == "rtt":
        loop.call_later(0.05, transport.sendto, PING, echo)
    try:
        loop.run_until_complete(asyncio.wait_for(finished, args.timeout))
    except asyncio.TimeoutError:
        pass
    report(cp.result(count()))
    transport.close()
    loop.close()


# -- pre-filled: a drain with no wake-up ---------------------------------------------

_PREFILL_BUFFER = 256 * 1024 * 1024  # SO_RCVBUFFORCE as root; else up to rmem_max


def _big_buffer(sock: socket.socket) -> None:
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    try:
        if force is None:
            raise PermissionError
        sock.setsockopt(socket.SOL_SOCKET, force, _PREFILL_BUFFER)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _PREFILL_BUFFER)


def _capacity(wanted: int) -> int:
    """How many 64-byte datagrams a socket with the big buffer queues without a drop."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    _big_buffer(probe)
    probe.bind(("127.0.0.1", 0))
    probe.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(wanted):
        tx.sendto(PING, probe.getsockname())
    queued = 0
    try:
        while True:
            probe.recv(64)
            queued += 1
    except BlockingIOError:
        pass
    probe.close()
    tx.close()
    return queued


def run_prefilled(args: argparse.Namespace) -> None:
    import taro_udp

    count = _capacity(args.count)
    if count < args.count:
        count = int(count * 0.9)  # the buffer holds fewer: a margin against drops
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    done = threading.Event()
    seen = [0]

    def on_message(payload: Payload) -> None:
        seen[0] += 1
        if seen[0] == count:
            done.set()

    ideal = pktinfo_socket()
    _big_buffer(ideal)
    read = _reader(ideal, on_message, 0)
    taro = taro_udp.create_udp_socket("udp4")
    taro.onMessage(on_message)  # type: ignore[arg-type]  # the same dict, typed loosely
    taro_port = taro.bind(0, address="127.0.0.1")
    _big_buffer(taro._transport._sock)  # type: ignore[attr-defined]

    def fill(port: int) -> None:
        address = ("127.0.0.1", port)
        for _ in range(count):
            tx.sendto(PING, address)

    def ideal_round() -> float:
        seen[0] = 0
        done.clear()
        fill(ideal.getsockname()[1])

        def drain() -> None:
            for _ in range(count):
                read()

        reader = threading.Thread(target=drain, name="ideal-shim", daemon=True)
        start = time.process_time()
        reader.start()
        if not done.wait(args.timeout):
            raise RuntimeError("the ideal reader did not get every datagram")
        cpu = time.process_time() - start
        reader.join(args.timeout)
        return cpu

    def taro_round() -> float:
        seen[0] = 0
        done.clear()
        gate = threading.Event()
        held = threading.Event()

        def hold() -> None:  # the event thread waits here while the socket fills
            held.set()
            gate.wait(args.timeout)

        taro_udp.call_soon(hold)
        if not held.wait(args.timeout):
            raise RuntimeError("the event thread never took the gate")
        fill(taro_port)
        start = time.process_time()
        gate.set()
        if not done.wait(args.timeout):
            raise RuntimeError("taro_udp did not deliver every datagram")
        return time.process_time() - start

    ideal_round()  # warm-up, both
    taro_round()
    ratios: List[float] = []
    ideal_us: List[float] = []
    taro_us: List[float] = []
    for n in range(args.rounds):
        # Alternate which goes first, so drift within a pair hits both alike.
        if n % 2:
            b = taro_round()
            a = ideal_round()
        else:
            a = ideal_round()
            b = taro_round()
        ideal_us.append(a / count * 1e6)
        taro_us.append(b / count * 1e6)
        ratios.append(b / a)
    taro.close()
    ideal.close()
    tx.close()
    ratios.sort()
    report(
        {
            "count": count,
            "ratios": ratios,
            "ratio": ratios[len(ratios) // 2],
            "ideal_us": sorted(ideal_us)[len(ideal_us) // 2],
            "taro_us": sorted(taro_us)[len(taro_us) // 2],
        }
    )


IMPLS = {"raw": run_raw, "ideal": run_ideal, "asyncio": run_asyncio, "taro_udp": run_taro_udp}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("impl", choices=[*sorted(IMPLS), "pair"])
    parser.add_argument("mode", choices=["window", "blast", "rtt", "prefilled"])
    parser.add_argument("--rounds", type=int, default=7, help="prefilled: pairs of rounds")
    parser.add_argument("--count", type=int, default=100_000, help="datagrams / round trips")
    parser.add_argument("--warm", type=int, default=1000, help="not measured: warm-up")
    parser.add_argument("--ack-every", type=int, default=32)
    parser.add_argument("--echo-port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.cpu is not None:
        # Before any thread starts: threads inherit the mask.
        os.sched_setaffinity(0, {args.cpu})
    if args.mode == "prefilled" or args.impl == "pair":
        if args.mode != "prefilled" or args.impl != "pair":
            parser.error("prefilled goes with pair, and pair with prefilled")
        run_prefilled(args)
        return
    warm = 1 if args.mode == "blast" else args.warm
    ack_every = args.ack_every if args.mode == "window" else 0
    IMPLS[args.impl](args, Checkpoints(args.count, warm, ack_every))


if __name__ == "__main__":
    main()
