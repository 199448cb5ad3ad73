"""The argument parser of ``taro-udp``: commands, options, and one-line usage errors."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any, Callable, List, NoReturn, Optional

from .. import __version__
from . import _demo, _listen, _ping, _run, _send
from ._common import EXIT_USAGE

__all__ = ["build_parser", "parse_args"]

# The largest UDP payload over IPv4 (65,535 minus the IP and UDP headers).
MAX_DATAGRAM = 65507
# A ping probe carries a 4-byte tag and a 4-byte sequence number.
MIN_PING_SIZE = 8

DESCRIPTION = """\
WeChat / Taro UDPSocket from the command line, built on taro_udp's public API.

Output: stdout carries results (listen: one JSON object per datagram; ping: the
statistics; demo: the transcript); stderr carries status lines ("<prog>: ...")
and errors ("<prog>: error: ..."), one line each, never a traceback.
"""

EXIT_CODES = """\
exit codes:
  0    done, or stopped with Ctrl-C (after closing the socket and printing a summary)
  1    network failure: a send failed, or ping got no reply at all; run: the script threw
  2    bad arguments, or an address that is not an IP and does not resolve
  3    cannot bind: the port is in use, or binding it is not permitted
  4    an optional dependency is missing (run: pip install 'taro_udp[js]', Python 3.10+)
  130  a second Ctrl-C, which stops without waiting; run: stopped with Ctrl-C

--json (send, echo, ping) prints the closing summary as one JSON object on stdout
instead; errors stay one line on stderr, with the same exit codes.
"""

LISTEN_EPILOG = """\
On start, one status line goes to stderr:
  <prog>: listening on ADDRESS port N (udp4|udp6); Ctrl-C to stop
N is the port actually bound, which is how a caller learns it after "listen 0".
Each datagram is then one JSON line on stdout:
  {"remoteInfo": {"address", "family", "port", "size"},
   "localInfo": {"address", "family", "port"},
   "size": N, "encoding": "utf-8"|"base64", "message": "..."}
"message" is the datagram as text when it is valid UTF-8, else its base64, as
"encoding" says. On Ctrl-C or after --count datagrams a summary goes to stderr:
  <prog>: received N datagrams (B bytes) from P peers
"""

ECHO_EPILOG = """\
Prints the same "listening on ADDRESS port N" status line as listen (stderr), then
sends every datagram back to its sender. On Ctrl-C or after --count datagrams:
  <prog>: echoed N datagrams (B bytes) to P peers
With --json, it goes to stdout as
  {"command": "echo", "datagrams": N, "bytes": B, "peers": P}
"""

SEND_EPILOG = """\
MESSAGE is sent as UTF-8 text; with --hex it is hex digits ("00 ff 10"); with
--file the datagram is the file's content ("-" reads stdin) and MESSAGE is omitted.
When done (or on Ctrl-C) a summary goes to stderr:
  <prog>: sent N datagrams (B bytes) to HOST port PORT
With --json, it goes to stdout as
  {"command": "send", "host": HOST, "port": PORT, "datagrams": N, "bytes": B}
"""

PING_EPILOG = """\
Sends one probe at a time to an echo peer ("taro-udp echo PORT") and waits up to
--timeout seconds for it to come back. On a terminal, stderr shows a progress bar
during long runs (nothing when piped). The statistics go to stdout:
  ping HOST port PORT (udp4): N probes of B bytes
  N sent, R received, L% loss
  rtt min/median/p99 = A/B/C ms
With --json, one object instead (round trips in ms; "rtt_ms" null without replies):
  {"command": "ping", "host": HOST, "port": PORT, "type": "udp4", "size": B,
   "sent": N, "received": R, "loss": L, "rtt_ms": {"min": A, "median": B, "p99": C}}
Exit code 1 when no probe came back.
"""

DEMO_EPILOG = """\
Two sockets on 127.0.0.1 exchange datagrams; every payload a listener or callback
can receive (listening, message, send success and fail, error, close) is printed,
as the Python dict the listener gets.
"""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _int_in(name: str, low: int, high: int) -> Callable[[str], int]:
    span = f"{low} or more" if high == sys.maxsize else f"{low}-{high}"

    def convert(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not {name} ({span})")
        return value

    return convert


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


_bind_port = _int_in("a port", 0, 65535)
_peer_port = _int_in("a port", 1, 65535)
_count = _int_in("a count", 1, sys.maxsize)


def _add_json_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object on stdout"
    )


def _add_bind_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("port", metavar="PORT", type=_bind_port, help="0-65535; 0 lets the OS pick")
    sub.add_argument(
        "--address",
        metavar="A",
        help="bind this local address only (default: all interfaces, "
        "or $TARO_UDP_BIND_ADDRESS); an IPv6 address implies --udp6",
    )
    sub.add_argument("--udp6", action="store_true", help="use a udp6 (dual-stack) socket")
    sub.add_argument("--count", metavar="N", type=_count, help="stop after N datagrams")


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The ``taro-udp`` parser; each command's ``run`` function is in ``args.run``."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog=prog, description=DESCRIPTION, epilog=EXIT_CODES, formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, run: Callable[..., int], summary: str, epilog: str) -> Any:
        sub = commands.add_parser(
            name, help=summary, description=summary, epilog=epilog, formatter_class=fmt
        )
        sub.set_defaults(run=run, parser=sub)
        return sub

    sub = command(
        "listen", _listen.run_listen, "print every datagram as a JSON line", LISTEN_EPILOG
    )
    _add_bind_options(sub)
    sub = command("echo", _listen.run_echo, "send every datagram back to its sender", ECHO_EPILOG)
    _add_bind_options(sub)
    _add_json_option(sub)

    sub = command("send", _send.run_send, "send datagrams to HOST PORT", SEND_EPILOG)
    sub.add_argument("host", metavar="HOST", help="IP address or host name (IPv6 implies --udp6)")
    sub.add_argument("port", metavar="PORT", type=_peer_port, help="1-65535")
    sub.add_argument("message", metavar="MESSAGE", nargs="?", help="the datagram (UTF-8 text)")
    kind = sub.add_mutually_exclusive_group()
    kind.add_argument("--hex", action="store_true", help="MESSAGE is hex digits")
    kind.add_argument("--file", metavar="F", help="send the content of file F ('-': stdin)")
    sub.add_argument("--count", metavar="N", type=_count, default=1, help="send N datagrams")
    sub.add_argument(
        "--interval", metavar="S", type=_seconds, default=0.0, help="seconds between datagrams"
    )
    sub.add_argument("--udp6", action="store_true", help="use a udp6 (dual-stack) socket")
    _add_json_option(sub)

    sub = command("ping", _ping.run_ping, "measure round trips to an echo peer", PING_EPILOG)
    sub.add_argument(
        "host", metavar="HOST", help="the echo peer: IP address or host name (IPv6 implies --udp6)"
    )
    sub.add_argument("port", metavar="PORT", type=_peer_port, help="1-65535")
    sub.add_argument("--count", metavar="N", type=_count, default=10, help="probes (default 10)")
    sub.add_argument(
        "--size",
        metavar="B",
        type=_int_in("a probe size", MIN_PING_SIZE, MAX_DATAGRAM),
        default=32,
        help=f"probe size in bytes, {MIN_PING_SIZE}-{MAX_DATAGRAM} (default 32)",
    )
    sub.add_argument(
        "--interval", metavar="S", type=_seconds, default=0.0, help="pause between probes"
    )
    sub.add_argument(
        "--timeout",
        metavar="S",
        type=_positive_seconds,
        default=1.0,
        help="wait this long for each echo (default 1)",
    )
    sub.add_argument("--udp6", action="store_true", help="use a udp6 (dual-stack) socket")
    _add_json_option(sub)

    command("demo", _demo.run_demo, "two sockets on loopback: every payload kind", DEMO_EPILOG)

    sub = command("run", _run.run_script, "run a mini-program script (JS)", _run.RUN_EPILOG)
    sub.add_argument("file", metavar="FILE.js", help="the script; require() resolves beside it")
    return parser


def parse_args(prog: str, argv: Optional[List[str]]) -> argparse.Namespace:
    """Parse ``argv``; usage errors exit 2 with one line on stderr.

    argparse fills an optional positional before it reads the options that follow, so
    ``send HOST PORT --hex 00ff`` would leave ``00ff`` over: it is MESSAGE, taken here.
    """
    parser = build_parser(prog)
    args, extras = parser.parse_known_args(argv)
    if extras and getattr(args, "message", "") is None and not extras[0].startswith("-"):
        args.message = extras.pop(0)
    if extras:
        sub = getattr(args, "parser", parser)
        sub.error(f"unrecognized arguments: {' '.join(extras)}")
    return args
