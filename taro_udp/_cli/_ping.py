"""``taro-udp ping``: round trips to an echo peer, one probe in flight at a time."""

from __future__ import annotations

import argparse
import math
import statistics
import struct
import time
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, Tuple

from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    Console,
    Inbox,
    close_and_wait,
    describe_peer,
    json_line,
    open_socket,
    plural,
    socket_kind,
)
from ._send import pause, send_failure

__all__ = ["Progress", "format_statistics", "ping_summary", "run_ping"]

# A probe starts with this tag and its sequence number; the rest is zero padding.
PROBE_TAG = b"TUDP"
_HEADER = struct.Struct("!4sI")


class Progress:
    """A one-line progress bar for long runs, drawn only when the stream is a terminal.

    Nothing is drawn during the first ``DELAY`` seconds, so a short run prints no bar at
    all, and the bar is redrawn at most every ``REFRESH`` seconds.
    """

    DELAY = 0.5
    REFRESH = 0.1
    WIDTH = 30

    def __init__(
        self,
        stream: IO[str],
        total: int,
        clock: Callable[[], float] = time.monotonic,
        enabled: Optional[bool] = None,
    ) -> None:
        self._stream = stream
        self._total = total
        self._clock = clock
        self.enabled = _isatty(stream) if enabled is None else enabled
        self._next = clock() + self.DELAY
        self._drawn = 0  # width of the line on screen, to erase it

    def update(self, done: int, received: int) -> None:
        """Show ``done`` of ``total`` probes sent, and the loss so far."""
        if not self.enabled:
            return
        now = self._clock()
        if now < self._next and done < self._total:
            return
        self._next = now + self.REFRESH
        filled = self.WIDTH * done // self._total
        loss = 100.0 * (done - received) / done if done else 0.0
        line = (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{self._total} {loss:.1f}% loss"
        )
        self._write("\r" + line)
        self._drawn = len(line)

    def close(self) -> None:
        """Erase the bar, leaving the cursor at the start of an empty line."""
        if self._drawn:
            self._write("\r" + " " * self._drawn + "\r")
            self._drawn = 0

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # the terminal went away: stop drawing
            self.enabled = False


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def nearest_rank(sorted_values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` percentile by the nearest-rank method (p99: ``fraction=0.99``)."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def format_statistics(where: str, kind: str, size: int, sent: int, rtts: List[float]) -> str:
    """The lines ``ping`` prints at the end (round-trip times in seconds)."""
    received = len(rtts)
    loss = 100.0 * (sent - received) / sent if sent else 0.0
    lines = [
        f"ping {where} ({kind}): {plural(sent, 'probe')} of {size} bytes",
        f"{sent} sent, {received} received, {loss:.1f}% loss",
    ]
    if rtts:
        ordered = sorted(rtts)
        low, mid, p99 = (ordered[0], statistics.median(ordered), nearest_rank(ordered, 0.99))
        lines.append(f"rtt min/median/p99 = {low * 1e3:.3f}/{mid * 1e3:.3f}/{p99 * 1e3:.3f} ms")
    else:
        lines.append("rtt min/median/p99 = -/-/- ms (no replies)")
    return "\n".join(lines)


def ping_summary(
    host: str, port: int, kind: str, size: int, sent: int, rtts: List[float]
) -> Dict[str, Any]:
    """What ``ping --json`` prints: the same figures as the text, round trips in ms."""
    received = len(rtts)
    rtt_ms: Optional[Dict[str, float]] = None
    if rtts:
        ordered = sorted(rtts)
        rtt_ms = {
            "min": round(ordered[0] * 1e3, 3),
            "median": round(statistics.median(ordered) * 1e3, 3),
            "p99": round(nearest_rank(ordered, 0.99) * 1e3, 3),
        }
    return {
        "command": "ping",
        "host": host,
        "port": port,
        "type": kind,
        "size": size,
        "sent": sent,
        "received": received,
        "loss": round(100.0 * (sent - received) / sent, 1) if sent else 0.0,
        "rtt_ms": rtt_ms,
    }


def run_ping(args: argparse.Namespace, out: Console, inbox: Inbox) -> int:
    """Send ``--count`` probes, each after the previous one came back or timed out."""
    kind = socket_kind(args.udp6, args.host)
    where = describe_peer(args.host, args.port)
    sock = open_socket(kind, inbox)
    # Timestamped on the event thread, as the datagram is delivered.
    sock.onMessage(lambda res: inbox.put("message", (time.perf_counter(), res["message"])))
    # Connected, so only the peer's datagrams arrive and a closed port is reported
    # (ICMP port unreachable) instead of every probe timing out.
    sock.connect({"address": args.host, "port": args.port})
    rtts: List[float] = []
    sent = 0
    warned = False
    progress = Progress(out.stderr, args.count)
    try:
        for seq in range(args.count):
            if inbox.interrupted or (seq and args.interval and pause(inbox, args.interval)):
                break
            probe = _HEADER.pack(PROBE_TAG, seq) + bytes(args.size - _HEADER.size)
            started = time.perf_counter()
            sock.write({"message": probe})
            outcome, value = _await_echo(inbox, probe[: _HEADER.size], started, args.timeout)
            if outcome == "stop":
                break  # neither received nor lost: the user stopped waiting for it
            sent += 1
            if outcome == "echo":
                rtts.append(value)
            elif outcome == "error":
                error = value
                if not error["errMsg"].startswith("receive:fail"):
                    raise send_failure(args.host, error)
                if not warned:  # once: a closed port refuses every probe the same way
                    warned = True
                    progress.close()
                    out.status(f"warning: {error['errMsg']}: is an echo peer listening on {where}?")
            progress.update(sent, len(rtts))
    finally:
        progress.close()
        close_and_wait(sock, inbox)
    if args.json:
        out.data(json_line(ping_summary(args.host, args.port, kind, args.size, sent, rtts)))
    else:
        out.data(format_statistics(where, kind, args.size, sent, rtts))
    return EXIT_OK if rtts or sent == 0 or inbox.interrupted else EXIT_FAILURE


def _await_echo(inbox: Inbox, tag: bytes, started: float, timeout: float) -> Tuple[str, Any]:
    """Wait for the echo of the probe starting with ``tag``.

    Returns ``("echo", rtt)``, ``("lost", None)`` after ``timeout``, ``("stop", None)``
    on Ctrl-C, or ``("error", payload)`` for an ``onError`` payload.
    """
    deadline = started + timeout
    while True:
        item = inbox.get(deadline - time.perf_counter())
        if item is None:
            return ("lost", None)
        what, payload = item
        if what == "stop":
            return ("stop", None)
        if what == "message":
            received_at, data = payload
            if data[: len(tag)] == tag:
                return ("echo", received_at - started)
            # else: the late echo of an earlier probe, already counted as lost
        elif what == "error":
            return ("error", payload)
