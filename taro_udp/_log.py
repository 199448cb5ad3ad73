"""The library's logger, ``logging.getLogger("taro_udp")``, imported on first use.

The logging package costs several milliseconds of import time and is needed only when
something went wrong, so ``import taro_udp`` does not pay for it. No handler is added:
with none configured, Python's last-resort handler prints warnings and errors to
stderr, so a problem is never silent (a ``NullHandler`` here would hide it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import logging

__all__ = ["NAME", "logger"]

NAME = "taro_udp"
_logger: Optional[logging.Logger] = None


def logger() -> logging.Logger:
    """The ``taro_udp`` logger."""
    global _logger
    if _logger is None:
        import logging

        _logger = logging.getLogger(NAME)
    return _logger
