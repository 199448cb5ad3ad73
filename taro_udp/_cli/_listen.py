"""``taro-udp listen`` and ``taro-udp echo``: bind a port and serve it until told to stop."""

from __future__ import annotations

import argparse
import json
from typing import Dict, Optional, Set, Tuple

from .. import OnErrorCallbackResult, OnMessageCallbackResult, UDPSocket
from ._common import (
    EXIT_OK,
    Console,
    Inbox,
    OutputClosedError,
    bind_address,
    bind_socket,
    close_and_wait,
    describe_peer,
    json_line,
    message_record,
    open_socket,
    plural,
    socket_kind,
)

__all__ = ["run_echo", "run_listen"]


class Tally:
    """Datagrams, bytes and distinct peers seen, for the closing summary."""

    def __init__(self) -> None:
        self.datagrams = 0
        self.bytes = 0
        self.peers: Set[Tuple[str, int]] = set()

    def add(self, res: OnMessageCallbackResult) -> None:
        info = res["remoteInfo"]
        self.datagrams += 1
        self.bytes += info["size"]
        self.peers.add((info["address"], info["port"]))

    def summary(self) -> Dict[str, int]:
        """The counts, as ``--json`` prints them."""
        return {"datagrams": self.datagrams, "bytes": self.bytes, "peers": len(self.peers)}

    def describe(self, verb: str, preposition: str) -> str:
        return (
            f"{verb} {plural(self.datagrams, 'datagram')} ({plural(self.bytes, 'byte')}) "
            f"{preposition} {plural(len(self.peers), 'peer')}"
        )


def _start(args: argparse.Namespace, out: Console, sock: UDPSocket, kind: str) -> None:
    port = bind_socket(sock, args.port, args.address, kind)
    where = describe_peer(bind_address(args.address, kind), port)
    out.status(f"listening on {where} ({kind}); Ctrl-C to stop")


def _report_error(out: Console, res: OnErrorCallbackResult) -> None:
    # A receive or reply error does not end the run: the next datagram may be fine.
    out.status(f"warning: {res['errMsg']} (errCode {res['errCode']})")


def run_listen(args: argparse.Namespace, out: Console, inbox: Inbox) -> int:
    """Print each ``onMessage`` payload as a JSON line until Ctrl-C or ``--count``."""
    kind = socket_kind(args.udp6, args.address)
    tally = Tally()
    sock = open_socket(kind, inbox)
    try:
        sock.onMessage(lambda res: inbox.put("message", res))
        _start(args, out, sock, kind)
        while args.count is None or tally.datagrams < args.count:
            item = inbox.get()
            assert item is not None  # no timeout: get() only returns with an item
            what, payload = item
            if what == "stop":
                break
            if what == "error":
                _report_error(out, payload)
            elif what == "message":
                out.data(json.dumps(message_record(payload)))
                tally.add(payload)
    except OutputClosedError:
        pass  # e.g. "listen 0 | head -1": the reader has what it wanted
    finally:
        close_and_wait(sock, inbox)
    out.status(tally.describe("received", "from"))
    return EXIT_OK


def run_echo(args: argparse.Namespace, out: Console, inbox: Inbox) -> int:
    """Send every datagram back to its sender, from the ``onMessage`` listener itself."""
    kind = socket_kind(args.udp6, args.address)
    tally = Tally()  # only the event thread touches it until the socket's close event
    limit: Optional[int] = args.count
    sock = open_socket(kind, inbox)

    def reply(res: OnMessageCallbackResult) -> None:
        if limit is not None and tally.datagrams >= limit:
            return
        info = res["remoteInfo"]
        sock.send({"address": info["address"], "port": info["port"], "message": res["message"]})
        tally.add(res)
        if limit is not None and tally.datagrams >= limit:
            inbox.put("done")

    try:
        sock.onMessage(reply)
        _start(args, out, sock, kind)
        while True:
            item = inbox.get()
            assert item is not None
            what, payload = item
            if what in ("stop", "done"):
                break
            if what == "error":
                _report_error(out, payload)
    finally:
        close_and_wait(sock, inbox)
    if args.json:
        out.data(json_line({"command": "echo", **tally.summary()}))
    else:
        out.status(tally.describe("echoed", "to"))
    return EXIT_OK
