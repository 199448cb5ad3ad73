"""``taro-udp send``: send one datagram, or ``--count`` of them ``--interval`` apart."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

from .. import CallbackResult
from .._errors import ERR_INVALID_ADDRESS
from ._common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Console,
    Inbox,
    close_and_wait,
    describe_peer,
    json_line,
    open_socket,
    plural,
    socket_kind,
)

__all__ = ["message_bytes", "pause", "run_send", "send_failure"]


def message_bytes(message: Optional[str], hex_digits: bool, file: Optional[str]) -> bytes:
    """The datagram ``send`` was asked for; a ``CliError`` (exit 2) when it cannot be had."""
    if file is not None:
        if message is not None:
            raise CliError("give either MESSAGE or --file F, not both", EXIT_USAGE)
        try:
            if file == "-":
                return sys.stdin.buffer.read()
            with open(file, "rb") as stream:
                return stream.read()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise CliError(f"cannot read --file {file!r}: {reason}", EXIT_USAGE) from None
    if message is None:
        raise CliError("MESSAGE is required (or --file F)", EXIT_USAGE)
    if hex_digits:
        try:
            return bytes.fromhex(message)
        except ValueError:
            raise CliError(f"MESSAGE {message!r} is not hex digits (--hex)", EXIT_USAGE) from None
    # surrogateescape gives back the exact bytes of an argument that was not UTF-8.
    return message.encode("utf-8", "surrogateescape")


def send_failure(host: str, res: CallbackResult) -> CliError:
    """The ``CliError`` for a failed send/write/connect result."""
    code = res.get("errCode", 0)
    if code == ERR_INVALID_ADDRESS:
        return CliError(
            f"cannot resolve host {host!r} (not an IP address, or a host name that "
            "does not resolve for this socket type)",
            EXIT_USAGE,
        )
    return CliError(f"{res.get('errMsg', 'failed')} (errCode {code})")


def run_send(args: argparse.Namespace, out: Console, inbox: Inbox) -> int:
    """Send the datagram ``--count`` times, waiting for each one's result before the next."""
    payload = message_bytes(args.message, args.hex, args.file)
    kind = socket_kind(args.udp6, args.host)
    # Failures arrive through ``complete``; the matching ``error`` events would repeat them.
    sock = open_socket(kind, inbox, post_errors=False)
    sent = 0
    stopped = False
    try:
        for index in range(args.count):
            if index and args.interval and pause(inbox, args.interval):
                stopped = True
                break
            sock.send(
                {
                    "address": args.host,
                    "port": args.port,
                    "message": payload,
                    "complete": lambda res: inbox.put("result", res),
                }
            )
            result = _wait_result(inbox)
            if result is None:
                stopped = True
                result = _wait_result(inbox)
            if result is None or "errCode" in result:
                raise send_failure(args.host, result or {"errMsg": "send:fail no result"})
            sent += 1
            if stopped or inbox.interrupted:
                break
    finally:
        close_and_wait(sock, inbox)
    if args.json:
        summary = {"command": "send", "host": args.host, "port": args.port}
        out.data(json_line({**summary, "datagrams": sent, "bytes": sent * len(payload)}))
        return EXIT_OK
    to = describe_peer(args.host, args.port)
    total = plural(sent, "datagram")
    out.status(f"sent {total} ({plural(sent * len(payload), 'byte')}) to {to}")
    return EXIT_OK


def pause(inbox: Inbox, seconds: float) -> bool:
    """Wait ``seconds``; ``True`` if Ctrl-C came first."""
    deadline = time.monotonic() + seconds
    while True:
        item = inbox.get(deadline - time.monotonic())
        if item is None:
            return False
        if item[0] == "stop":
            return True


def _wait_result(inbox: Inbox) -> Optional[CallbackResult]:
    """The next send result; ``None`` if Ctrl-C came first (the result still follows)."""
    while True:
        item = inbox.get()
        assert item is not None
        if item[0] == "result":
            result: CallbackResult = item[1]
            return result
        if item[0] == "stop":
            return None
