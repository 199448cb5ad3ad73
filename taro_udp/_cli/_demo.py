"""``taro-udp demo``: two sockets on loopback show every payload a listener can receive.

The transcript prints each call (``>>>``) and then each payload as the Python dict the
listener or callback got, in the order the event thread delivered them.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Dict, Set, Tuple

from .. import OnMessageCallbackResult, UDPSocket, wx
from ._common import EXIT_OK, CliError, Console, Inbox

__all__ = ["run_demo"]

LOOPBACK = "127.0.0.1"
# Each step's events come at once; the bound only turns a wedged run into a clear error.
STEP_TIMEOUT = 10.0

_Wanted = Set[Tuple[str, str]]


def _watch(sock: UDPSocket, who: str, inbox: Inbox) -> None:
    """Post every event of ``sock`` to the inbox, labelled with ``who`` and the listener."""
    sock.onListening(lambda res: inbox.put("event", (who, "onListening", res)))
    sock.onMessage(lambda res: inbox.put("event", (who, "onMessage", res)))
    sock.onError(lambda res: inbox.put("event", (who, "onError", res)))
    sock.onClose(lambda res: inbox.put("event", (who, "onClose", res)))


def _callbacks(who: str, inbox: Inbox) -> Any:
    """``success``/``fail`` options that post their result dict to the inbox."""
    return {
        "success": lambda res: inbox.put("event", (who, "send success", res)),
        "fail": lambda res: inbox.put("event", (who, "send fail", res)),
    }


class _Transcript:
    """Prints calls and the payloads they lead to, waiting for the ones each step expects."""

    def __init__(self, out: Console, inbox: Inbox) -> None:
        self.out = out
        self.inbox = inbox
        self.shown: Set[str] = set()

    def call(self, code: str) -> None:
        self.out.data(f">>> {code}")

    def expect(self, wanted: _Wanted) -> bool:
        """Print events until every ``(who, listener)`` in ``wanted`` came; False on Ctrl-C."""
        missing = set(wanted)
        deadline = time.monotonic() + STEP_TIMEOUT
        while missing:
            item = self.inbox.get(deadline - time.monotonic())
            if item is None:
                names = ", ".join(f"{who} {name}" for who, name in sorted(missing))
                raise CliError(f"timed out after {STEP_TIMEOUT:g}s waiting for {names}")
            if item[0] == "stop":
                return False
            who, name, payload = item[1]
            self.out.data(f"[{who}] {name:<13} {payload!r}")
            self.shown.add(name)
            missing.discard((who, name))
        return True


def run_demo(args: argparse.Namespace, out: Console, inbox: Inbox) -> int:
    """Run the exchange; exit 0 once every kind of payload has been shown."""
    out.data(
        f"taro_udp demo: two UDP sockets on {LOOPBACK}. Each '>>>' line is a call; each "
        "'[socket] listener' line is a payload delivered on the event thread."
    )
    show = _Transcript(out, inbox)
    server = wx.createUDPSocket()
    client = wx.createUDPSocket()
    try:
        _watch(server, "server", inbox)
        _watch(client, "client", inbox)

        def reply(res: OnMessageCallbackResult) -> None:
            # Runs on the event thread, like a mini-program listener: answer the sender.
            info = res["remoteInfo"]
            message = b"fine, thanks: " + res["message"]
            server.send({"address": info["address"], "port": info["port"], "message": message})

        server.onMessage(reply)
        show.call(f'port = server.bind(address="{LOOPBACK}")')
        port = server.bind(address=LOOPBACK)
        if not show.expect({("server", "onListening")}):
            return EXIT_OK
        show.call(f'client.bind(address="{LOOPBACK}")')
        client.bind(address=LOOPBACK)
        if not show.expect({("client", "onListening")}):
            return EXIT_OK
        hello: Dict[str, Any] = {"address": LOOPBACK, "port": port, "message": "hello, how are you"}
        show.call(f"client.send({hello!r} + success/fail)  # the server's listener replies")
        client.send({**hello, **_callbacks("client", inbox)})
        wanted = {("client", "send success"), ("server", "onMessage"), ("client", "onMessage")}
        if not show.expect(wanted):
            return EXIT_OK
        bad: Dict[str, Any] = {"address": LOOPBACK, "port": 0, "message": "to port 0"}
        show.call(f"client.send({bad!r} + success/fail)  # port 0 is invalid")
        client.send({**bad, **_callbacks("client", inbox)})
        if not show.expect({("client", "send fail"), ("client", "onError")}):
            return EXIT_OK
        show.call("client.close(); server.close()")
    finally:
        client.close()
        server.close()
    if not show.expect({("client", "onClose"), ("server", "onClose")}):
        return EXIT_OK
    kinds = ["onListening", "onMessage", "send success", "send fail", "onError", "onClose"]
    out.data(f"demo: done; shown: {', '.join(kind for kind in kinds if kind in show.shown)}")
    return EXIT_OK
