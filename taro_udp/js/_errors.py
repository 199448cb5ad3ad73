"""``JSError``: a JavaScript exception, seen from Python.

Its class is named after the JS error (``Error``, ``TypeError``, ``InternalError``...), so
that the core reports a throwing JS listener exactly as a raising Python listener:
``"onMessage:fail Error: <message>"``, errCode -1. The JS stack is ``.stack`` (and a
note on the exception, which Python 3.11+ prints with the traceback).
"""

from __future__ import annotations

from typing import Dict, Type

__all__ = ["JSError", "RunawayScriptError", "js_error"]


class JSError(Exception):
    """An exception thrown by JavaScript; ``str()`` is its message, ``.name`` its JS name."""

    name = "Error"

    def __init__(self, message: str, stack: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.stack = stack
        if stack:
            self.add_note_compat(f"JavaScript stack:\n{stack.rstrip()}")

    def add_note_compat(self, note: str) -> None:
        notes = getattr(self, "__notes__", None)
        if notes is None:
            notes = []
            self.__notes__ = notes
        notes.append(note)


class RunawayScriptError(JSError):
    """A script ran past the runtime's ``script_timeout`` and was interrupted."""

    name = "InternalError"


RunawayScriptError.__name__ = RunawayScriptError.__qualname__ = "InternalError"

_classes: Dict[str, Type[JSError]] = {}


def js_error(name: str, message: str, stack: str = "") -> JSError:
    """A ``JSError`` whose class is named ``name`` (made once per name)."""
    if not name.isidentifier():
        name = "Error"
    cls = _classes.get(name)
    if cls is None:
        cls = type(name, (JSError,), {"name": name, "__module__": __name__})
        _classes[name] = cls
    return cls(message, stack)
