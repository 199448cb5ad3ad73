"""Errors: the public ``UDPSocketError`` and the errCode table of WeChat's UDPSocket.

WeChat reports every failure as ``{"errMsg": "<method>:fail <reason>", "errCode": n}``.
This module owns the numbers and the mapping from an ``OSError`` to them, so every other
module speaks in ``(reason, errCode)`` pairs.
"""

# errMsg/errCode are WeChat's names.
# ruff: noqa: N803, N815

from __future__ import annotations

import errno
import os
from typing import Optional

__all__ = [
    "ERR_INVALID_ADDRESS",
    "ERR_INVALID_PORT",
    "ERR_NO_PERMISSION",
    "ERR_OS",
    "ERR_SYSTEM",
    "ArgumentError",
    "UDPSocketError",
    "from_os_error",
]

# WeChat's errCode table (SPEC §4).
ERR_INVALID_ADDRESS = 1
ERR_INVALID_PORT = 2
ERR_SYSTEM = -1
ERR_OS = -2
ERR_NO_PERMISSION = -3

_PERMISSION_ERRNOS = frozenset({errno.EACCES, errno.EPERM})


class UDPSocketError(OSError):
    """A UDPSocket operation failed.

    Raised by ``create_udp_socket()`` (the OS refused a socket) and by ``bind()``; every
    other method reports its failures through ``fail``/``complete`` and ``onError``
    instead. ``errMsg`` and ``errCode`` are exactly what ``onError`` listeners receive;
    ``errno`` is the OS error number when the OS refused, else ``None``.
    """

    errMsg: str
    errCode: int

    def __init__(self, errMsg: str, errCode: int, os_errno: Optional[int] = None) -> None:
        if os_errno is None:
            super().__init__(errMsg)
        else:
            super().__init__(os_errno, errMsg)
        self.errMsg = errMsg
        self.errCode = errCode

    def __str__(self) -> str:
        return f"{self.errMsg} (errCode {self.errCode})"

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.errMsg, self.errCode, self.errno))


class ArgumentError(Exception):
    """Internal: a validator rejected a value; carries WeChat's reason text and errCode."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def from_os_error(exc: OSError) -> tuple[str, int]:
    """Return WeChat's ``(reason, errCode)`` for an OS failure.

    The reason is the OS's own text (``"Address already in use"``), as WeChat passes the
    native message through; permission failures get errCode -3, every other one -2.
    """
    code = exc.errno
    if code is None:
        return (str(exc) or type(exc).__name__, ERR_OS)
    reason = exc.strerror or os.strerror(code)
    if code in _PERMISSION_ERRNOS:
        return (reason, ERR_NO_PERMISSION)
    return (reason, ERR_OS)
