"""Result dicts: every ``errMsg``/``errCode`` payload the library hands out is built here.

WeChat's convention: ``"<method>:ok"`` on success, ``"<method>:fail <reason>"`` plus
``errCode`` on failure; a listener that raised is ``"<name>:fail <Type>: <text>"``.
"""

from __future__ import annotations

from ._errors import ERR_SYSTEM
from ._log import describe_exception
from ._types import CallbackResult, OnErrorCallbackResult

__all__ = ["failure", "listener_failure", "success"]


def success(method: str) -> CallbackResult:
    """``{"errMsg": "<method>:ok"}``: send/write success, ``listening``, ``close``."""
    return {"errMsg": f"{method}:ok"}


def failure(method: str, reason: str, code: int) -> OnErrorCallbackResult:
    """``{"errMsg": "<method>:fail <reason>", "errCode": code}``."""
    return {"errMsg": f"{method}:fail {reason}", "errCode": code}


def listener_failure(name: str, exc: BaseException) -> OnErrorCallbackResult:
    """The error reported when the listener or callback registered as ``name`` raised.

    ``"<name>:fail <Type>: <text>"``; just ``<Type>`` when the exception's ``str()`` raises.
    """
    return failure(name, describe_exception(exc), ERR_SYSTEM)
