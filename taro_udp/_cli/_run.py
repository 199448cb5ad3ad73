"""``taro-udp run FILE.js``: run a mini-program script on the real network until it is idle."""

from __future__ import annotations

import argparse
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import taro_udp

from .. import _log
from ._common import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CliError,
    Console,
    Inbox,
    OutputClosedError,
    plural,
)

if TYPE_CHECKING:
    from ..js import ConsoleLine, JSError

__all__ = ["RUN_EPILOG", "run_script"]

RUN_EPILOG = """\
Runs FILE.js with the mini-program globals (wx.createUDPSocket, setTimeout, console,
require relative to the file's folder, ...; needs 'pip install taro_udp[js]', Python
3.10+). console.log/info/debug print to stdout, console.warn/error to stderr (a lone
surrogate as U+FFFD). The command ends when no socket is open and no timer is pending
(Node's rule), or when stdout's reader goes away ('| head -1'), quietly. An error no JS
code catches (at load, in a listener, a timer, a Promise) prints 'Uncaught <Name>:
<message>' and the JS stack, closes the script's sockets and exits 1, as Node does.
Ctrl-C closes the script's sockets and exits 130 with a one-line summary.
"""


def _printable(text: str) -> str:
    # JS strings may hold lone surrogates (half of an emoji cut by slice()): U+FFFD, as
    # Node prints them. Python would refuse to encode them.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def run_script(args: argparse.Namespace, out: Console, inbox: Inbox) -> int:
    """Load ``args.file`` into a ``JSRuntime`` and wait until it is idle or stopped."""
    try:
        from ..js import JSError, JSRuntime
    except ImportError as exc:
        raise CliError(str(exc)) from None

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such file: {args.file}")
    _check_readable(path, args.file)

    def show(line: ConsoleLine) -> None:
        text = _printable(line.text)
        if line.level in ("warn", "error"):
            out._err(text)
            return
        try:
            out.data(text)
        except OutputClosedError:
            inbox.put("closed")  # stop the script; never thrown into it

    def uncaught(error: JSError) -> None:
        inbox.put("uncaught", error)

    library_log = logging.getLogger(_log.NAME)
    plain = _PlainLog(out, JSError)
    library_log.addHandler(plain)
    propagate, library_log.propagate = library_log.propagate, False
    runtime = JSRuntime(path.resolve().parent, on_console=show, on_error=uncaught)
    try:
        try:
            runtime.run_file(path)
        except JSError as exc:
            raise CliError(_printable(exc.report)) from None
        waiter = threading.Thread(
            target=_wait_idle, args=(inbox,), name="taro-udp-run", daemon=True
        )
        waiter.start()
        item = inbox.get()
        kind = item[0] if item is not None else "idle"
        if kind == "uncaught":
            out.error(_printable(item[1].report) if item is not None else "")
            return EXIT_FAILURE
        if kind == "failed" and item is not None:
            error: Any = item[1]
            out.error(f"{type(error).__name__}: {error}")
            return EXIT_FAILURE
        if kind == "stop":
            out.status(f"interrupted: {_summary(runtime)}")
            return EXIT_INTERRUPTED
        return EXIT_OK  # idle, or stdout closed ("| head -1": the reader has what it wanted)
    finally:
        runtime.close()
        library_log.removeHandler(plain)
        library_log.propagate = propagate


class _PlainLog(logging.Handler):
    """The library's log records as one line each, never a Python traceback.

    Uncaught JS errors are left out: the command reports them itself, in the
    script's terms (``Uncaught TypeError: ...`` and the JS stack).
    """

    _REPORTED = ("taro_udp.js: unhandled promise rejection", "taro_udp.js: a Promise job failed")

    def __init__(self, out: Console, js_error: type) -> None:
        super().__init__(logging.WARNING)
        self._out = out
        self._js_error = js_error

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        args = record.args if isinstance(record.args, tuple) else ()
        if isinstance(exc, self._js_error) or any(isinstance(a, self._js_error) for a in args):
            return
        text = record.getMessage()
        if not text.startswith(self._REPORTED):
            self._out._err(_printable(text))


def _check_readable(path: Path, name: str) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(
            f"cannot read {name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at {exc.start})"
        ) from None


def _summary(runtime: Any) -> str:
    # What Ctrl-C stops: the script's open sockets and pending timers (closed next).
    bridge = runtime._bridge
    return (
        f"closed {plural(len(bridge.sockets), 'socket')}, "
        f"cleared {plural(len(bridge.timers), 'timer')}"
    )


def _wait_idle(inbox: Inbox) -> None:
    try:
        taro_udp.run()
    except BaseException as exc:  # noqa: BLE001 - reported by the main thread
        inbox.put("failed", exc)
        return
    inbox.put("idle")
