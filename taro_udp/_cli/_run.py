"""``taro-udp run FILE.js``: run a mini-program script on the real network until it is idle."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

import taro_udp

from ._common import EXIT_FAILURE, EXIT_MISSING_DEPENDENCY, EXIT_OK, CliError, Console, Inbox

__all__ = ["RUN_EPILOG", "run_script"]

RUN_EPILOG = """\
Runs FILE.js with the mini-program globals (wx.createUDPSocket, setTimeout, console,
require relative to the file's folder, ...; needs 'pip install taro_udp[js]', Python
3.10+). console.log/info/debug print to stdout, console.warn/error to stderr. The
command ends when no socket is open and no timer is pending (Node's rule), or at
Ctrl-C, which closes the script's sockets. Exit code 1 when the script threw while
loading.
"""


def run_script(args: argparse.Namespace, out: Console, inbox: Inbox) -> int:
    """Load ``args.file`` into a ``JSRuntime`` and wait until it is idle or stopped."""
    try:
        from ..js import JSError, JSRuntime
    except ImportError as exc:
        raise CliError(str(exc), EXIT_MISSING_DEPENDENCY) from None
    from ..js import ConsoleLine

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such file: {args.file}")

    def show(line: ConsoleLine) -> None:
        if line.level in ("warn", "error"):
            out._err(line.text)
        else:
            out.data(line.text)

    runtime = JSRuntime(path.resolve().parent, on_console=show)
    try:
        try:
            runtime.run_file(path)
        except JSError as exc:
            stack = f"\n{exc.stack.rstrip()}" if exc.stack else ""
            raise CliError(f"Uncaught {type(exc).__name__}: {exc}{stack}") from None
        waiter = threading.Thread(
            target=_wait_idle, args=(inbox,), name="taro-udp-run", daemon=True
        )
        waiter.start()
        item = inbox.get()
        if item is not None and item[0] == "failed":
            error: Any = item[1]
            out.error(f"{type(error).__name__}: {error}")
            return EXIT_FAILURE
        return EXIT_OK
    finally:
        runtime.close()


def _wait_idle(inbox: Inbox) -> None:
    try:
        taro_udp.run()
    except BaseException as exc:  # noqa: BLE001 - reported by the main thread
        inbox.put("failed", exc)
        return
    inbox.put("idle")
