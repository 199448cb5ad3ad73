"""The ``taro-udp`` command line (also ``python -m taro_udp``), built on the public API.

Commands: ``listen``, ``echo``, ``send``, ``ping``, ``demo`` and ``run``; ``taro-udp --help``
documents their output and exit codes. Each command's main thread waits on one
``Inbox`` that the socket listeners (on the library's event thread) and Ctrl-C post to.
"""

from __future__ import annotations

import sys
from typing import List, Optional

from .. import UDPSocketError
from ._args import parse_args
from ._common import EXIT_FAILURE, EXIT_INTERRUPTED, CliError, Console, Inbox

__all__ = ["main"]


def main(argv: Optional[List[str]] = None, prog: str = "taro-udp") -> int:
    """Run ``taro-udp`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Usage errors print one line and exit 2 (argparse's ``SystemExit``, as for
    ``--help``); every other failure is one ``<prog> <command>: error: ...`` line on
    stderr and its exit code. The first Ctrl-C stops the command cleanly (exit 0, with
    its summary); a second one exits 130 at once.
    """
    args = parse_args(prog, argv)
    out = Console(f"{prog} {args.command}")
    try:
        with Inbox() as inbox, inbox.stop_on_sigint():
            code: int = args.run(args, out, inbox)
            return code
    except CliError as exc:
        out.error(exc.message)
        return exc.code
    except UDPSocketError as exc:  # the OS refused a socket (no fd left, no IPv6)
        out.error(exc.errMsg)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        out.error("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
