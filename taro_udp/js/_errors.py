"""``JSError``: a JavaScript exception, seen from Python.

Its class is named after the JS error (``Error``, ``TypeError``, ``InternalError``...), so
that the core reports a throwing JS listener exactly as a raising Python listener:
``"onMessage:fail Error: <message>"``, errCode -1. The JS stack is ``.stack``, in the
script's own terms (``at f (app.js:5:13)``, the runtime's frames left out), and a note
on the exception, which Python 3.11+ prints with the traceback. A thrown value that is
not an ``Error`` (``throw 5``) is a plain ``JSError`` whose ``name`` is ``""``.
"""

from __future__ import annotations

import collections
import re
from typing import Type

__all__ = ["JSError", "RunawayScriptError", "clean_stack", "js_error"]

# The file name the runtime's own JS (the prelude) is compiled under: its frames are
# left out of every stack shown to a user.
PRELUDE_FILE = "taro_udp:prelude"
# A module's code is compiled inside its wrapper function, whose header shares the
# file's first line (so that line numbers stay exact): columns on line 1 are this much
# too far right. Frames of ``<input>`` (eval'd scripts, stubs) are not wrapped.
MODULE_HEAD = "(function (exports, require, module, __filename, __dirname) {"
_LINE_ONE = re.compile(r"(?<=[\s(])([^\s()<>][^\s()]*):1:(\d+)(?=\)?$)")


def _line_one(match: re.Match[str]) -> str:
    column = int(match.group(2))
    if match.group(1) == PRELUDE_FILE or column <= len(MODULE_HEAD):
        return match.group(0)
    return f"{match.group(1)}:1:{column - len(MODULE_HEAD)}"


def clean_stack(stack: str) -> str:
    """``stack`` without the runtime's own frames (the prelude, the binding's entry)."""
    lines = [line for line in stack.splitlines() if line.strip() and PRELUDE_FILE not in line]
    # The engine's own frames below the script's (``at call (native)``: the runtime
    # calling it); those between two of the script's frames (``at map (native)``) stay.
    while lines and lines[-1].strip().endswith("(native)"):
        lines.pop()
    return "\n".join(_LINE_ONE.sub(_line_one, line) for line in lines)


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

    @property
    def report(self) -> str:
        """As Node reports it: ``Uncaught TypeError: <message>`` (``Uncaught 5`` for a
        thrown value that is not an Error), then the JS stack, one frame a line."""
        head = f"Uncaught {self.name}: {self.message}" if self.name else f"Uncaught {self.message}"
        return f"{head}\n{self.stack.rstrip()}" if self.stack.strip() else head


class RunawayScriptError(JSError):
    """A script ran past the runtime's ``script_timeout`` and was interrupted."""

    name = "InternalError"


RunawayScriptError.__name__ = RunawayScriptError.__qualname__ = "InternalError"

# The classes made for JS error names, the most recently used last: a script may make
# any number of names (e.name = 'E' + id), so only the last _CLASSES are kept.
_CLASSES = 256
_classes: collections.OrderedDict[str, Type[JSError]] = collections.OrderedDict()


def js_error(name: str, message: str, stack: str = "") -> JSError:
    """A ``JSError`` whose class is named ``name`` (made once per name).

    An empty ``name`` (a thrown value that is not an Error) gives a plain ``JSError``.
    """
    stack = clean_stack(stack)
    if not name:
        error = JSError(message, stack)
        error.name = ""
        return error
    if not name.isidentifier():
        name = "Error"
    cls = _classes.get(name)
    if cls is None:
        cls = type(name, (JSError,), {"name": name, "__module__": __name__})
        _classes[name] = cls
        if len(_classes) > _CLASSES:
            _classes.popitem(last=False)
    else:
        _classes.move_to_end(name)
    return cls(message, stack)
