"""Where a socket was made or a timer set: the first caller outside taro_udp, as "file:line".

Diagnostics name what keeps a program alive (``run()``'s ``TimeoutError``, the virtual
clock's ``NeverTrueError``) by these sites. The walk skips the package's own frames (the
test fixtures and the JS bridge included), so a socket the ``udp_socket_factory`` made
is named by the test line that asked for it. It reads a few frames: well under a
microsecond when the caller is user code.
"""

from __future__ import annotations

import os
import sys
from types import CodeType, FrameType
from typing import Optional

__all__ = ["ATTRIBUTE", "caller_outside", "code_site", "remember", "site_of"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
# The standard library's folder: its frames (asyncio's loop, threading) are never a
# creation site. A socket JavaScript made on the event thread has no Python caller
# outside these two, and gets no site rather than a misleading one.
_STDLIB = os.path.dirname(os.path.abspath(os.__file__)) + os.sep
# The attribute a socket's creation site is kept in (any owner without __slots__).
ATTRIBUTE = "_taro_udp_created_at"


def caller_outside(depth: int = 2) -> str:
    """The first frame from ``depth`` up whose file is not in taro_udp, as "file:line"."""
    frame: Optional[FrameType]
    try:
        frame = sys._getframe(depth)
    except ValueError:  # pragma: no cover - called from the bottom of the stack
        return ""
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE) and not _in_stdlib(filename):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return ""


def code_site(code: CodeType, line: int) -> str:
    """``"file:line"`` of a caller noted as (code, line); "" if it is taro_udp's or stdlib's."""
    filename = code.co_filename
    if filename.startswith(_PACKAGE) or _in_stdlib(filename):
        return ""
    return f"{filename}:{line}"


def _in_stdlib(filename: str) -> bool:
    return filename.startswith(_STDLIB) and "site-packages" not in filename


def remember(owner: object) -> None:
    """Note on ``owner`` (a socket) where it was made."""
    try:
        setattr(owner, ATTRIBUTE, caller_outside(3))
    except (AttributeError, TypeError):  # pragma: no cover - an owner with __slots__
        pass


def site_of(owner: object) -> str:
    """Where ``owner`` was made ("" when unknown)."""
    try:
        site = getattr(owner, ATTRIBUTE, "")
    except Exception:  # noqa: BLE001 - diagnostics never raise  # pragma: no cover
        return ""
    return site if type(site) is str else ""
