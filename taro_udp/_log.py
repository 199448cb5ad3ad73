"""The library's logger, ``logging.getLogger("taro_udp")``, imported on first use.

The logging package costs several milliseconds of import time and is needed only when
something went wrong, so ``import taro_udp`` does not pay for it. No handler is added:
with none configured, Python's last-resort handler prints warnings and errors to
stderr, so a problem is never silent (a ``NullHandler`` here would hide it).

Logging is foreign code too: a handler may raise, and formatting a traceback calls
``str()`` of the user's exception, which may raise anything (``SystemExit`` included).
The event thread logs only through ``warning``/``error`` below, which swallow whatever
the logging machinery raises: a broken log sink must never kill the thread.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import logging

__all__ = ["NAME", "describe_exception", "error", "logger", "warning"]

NAME = "taro_udp"
_logger: Optional[logging.Logger] = None


def logger() -> logging.Logger:
    """The ``taro_udp`` logger."""
    global _logger
    if _logger is None:
        import logging

        _logger = logging.getLogger(NAME)
    return _logger


def warning(message: str, *args: object) -> None:
    """Log a warning; never raises."""
    _log(30, message, args, None)


def error(message: str, *args: object, exc: Optional[BaseException] = None) -> None:
    """Log an error, with ``exc``'s traceback if given; never raises."""
    _log(40, message, args, exc)


def _log(level: int, message: str, args: tuple[object, ...], exc: Optional[BaseException]) -> None:
    try:
        logger().log(level, message, *args, exc_info=exc)
        return
    except BaseException:  # noqa: BLE001 - a raising handler or a raising str(exc)
        pass
    try:  # the last resort: one plain line, without the parts that raised
        text = message % args if args else message
        sys.stderr.write(f"taro_udp: {text} (the logging handler failed)\n")
    except BaseException:  # noqa: BLE001 - not even stderr: nothing more to try
        pass


def describe_exception(exc: BaseException) -> str:
    """``"<Type>: <text>"``, or just ``"<Type>"`` when ``str(exc)`` raises or is empty."""
    name = type(exc).__name__
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__ (even SystemExit)
        return name
    if type(text) is not str:  # pragma: no cover - str() always returns a str
        return name
    return f"{name}: {text}" if text else name
