"""Values between JS and Python: JSON text with tagged values, and handles.

Every value crosses as JSON text (the binding converts only flat, valid UTF-8 strings
and 32-bit integers safely: ``JSON.stringify``'s output is flat, and ``ensure_ascii``
escapes every lone surrogate and NUL). What JSON cannot carry is tagged: an object
whose only key is ``MARK`` (``"$taro:" + 12 random hex digits``, made once per
process, so no user value can look like one) holding ``[kind, payload]``.

From JS to Python:

- ``ArrayBuffer`` -> ``bytes``; a function -> ``JSFunction`` (callable); a Promise ->
  ``JSPromise`` (``.result()``); an ``Error`` -> a ``JSError`` instance (returned, not
  raised); BigInt -> ``int``; ``NaN``/``Infinity`` -> ``float``; a Symbol -> its text
  (``"Symbol(s)"``); a string with a lone surrogate -> a ``str`` with that surrogate
  (lossless: sent back, it is the same JS string). ``undefined`` -> ``None``; otherwise
  JSON's rules (``Date`` as its ISO text, a property whose value is ``undefined`` left out).

From Python to JS: ``bytes``/``bytearray``/``memoryview`` -> ``ArrayBuffer``; a
``JSFunction``/``JSPromise`` -> the JS value it stands for; any other callable -> a JS
function that calls it on the event thread; ``nan``/``inf`` -> ``NaN``/``Infinity``;
otherwise JSON's rules (tuples as arrays).
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import threading
import weakref
from typing import TYPE_CHECKING, Any, Optional

from ._errors import JSError, js_error

if TYPE_CHECKING:
    from ._runtime import JSRuntime

__all__ = ["MARK", "JSFunction", "JSHandle", "JSPromise", "decode", "encode"]

MARK = "$taro:" + secrets.token_hex(6)
_TOO_DEEP = (
    "the value is nested too deeply to pass between JavaScript and Python "
    "(Python's recursion limit): flatten it, or pass it as JSON text"
)


class JSHandle:
    """A JS value kept for Python (a function, a Promise) by its runtime.

    The JS side keeps the value until this handle is garbage collected or the runtime
    is closed.
    """

    def __init__(self, runtime: JSRuntime, handle_id: int) -> None:
        self.runtime = runtime
        self.handle_id = handle_id
        weakref.finalize(self, runtime._release_handle, handle_id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} #{self.handle_id}>"


class JSFunction(JSHandle):
    """A JS function: call it with Python values; it runs on the event thread.

    ``fn(*args)`` returns its result as Python; what it throws is raised as ``JSError``.
    From another thread the call waits for the event thread (under a virtual clock,
    it drives virtual time until the call has run).
    """

    def __call__(self, *args: Any) -> Any:
        return self.runtime._call_handle(self.handle_id, args)


class JSPromise(JSHandle):
    """A JS Promise: ``result(timeout)`` waits until it settles.

    Returns the value it was fulfilled with, or raises its rejection as ``JSError``
    (a rejection with a value that is not an Error is a ``JSError`` whose message is
    that value's text). Under a virtual clock the wait drives virtual time and
    ``timeout`` counts virtual seconds (from another thread while the test's drive
    runs, it waits for that drive). A Promise handed to Python is Python's to handle:
    a rejection is an uncaught error only if ``result()`` is never called before the
    handle is garbage collected or the runtime closed. ``close()`` ends a waiting
    ``result()`` with ``JSError("the JS runtime is closed")``.
    """

    def __init__(self, runtime: JSRuntime, handle_id: int) -> None:
        super().__init__(runtime, handle_id)
        self._settled = threading.Event()
        self._watched = False
        self._outcome: Any = None
        self._error: Optional[BaseException] = None

    def _settle(self, ok: bool, value: Any) -> None:
        if ok:
            self._outcome = value
        elif isinstance(value, JSError):
            self._error = value
        else:
            self._error = js_error("", _text(value))
        self._settled.set()

    @property
    def settled(self) -> bool:
        """Whether the Promise is fulfilled or rejected (as far as Python has seen)."""
        return self._settled.is_set()

    def result(self, timeout: float = 10.0) -> Any:
        """The settled value (raises the rejection); ``TimeoutError`` after ``timeout`` s."""
        self.runtime._await_promise(self, timeout)
        if self._error is not None:
            raise self._error
        return self._outcome


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def decode(text: Optional[str], runtime: JSRuntime) -> Any:
    """The Python value of JSON ``text`` made by the prelude's ``enc`` (``None`` for ``""``)."""
    if not text:
        return None
    try:
        value = json.loads(text)
        if MARK in text:
            value = _revive(value, runtime)
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None
    return value


def _revive(value: Any, runtime: JSRuntime) -> Any:
    if type(value) is dict:
        if len(value) == 1 and MARK in value:
            return _tagged(value[MARK], runtime)
        return {key: _revive(item, runtime) for key, item in value.items()}
    if type(value) is list:
        return [_revive(item, runtime) for item in value]
    return value


def _tagged(tag: Any, runtime: JSRuntime) -> Any:
    kind, payload = tag
    if kind == "bytes":
        return base64.b64decode(payload)
    if kind == "fn":
        return JSFunction(runtime, payload)
    if kind == "promise":
        return JSPromise(runtime, payload)
    if kind == "number":
        return float(payload.replace("Infinity", "inf"))
    if kind == "bigint":
        return int(payload)
    if kind == "error":
        return js_error(payload[0], payload[1], payload[2])
    return payload  # "symbol": its text


def encode(value: Any, runtime: JSRuntime) -> str:
    """JSON text of ``value`` for the prelude's ``dec`` (ASCII: safe through the binding)."""

    def default(item: Any) -> Any:
        if isinstance(item, (bytes, bytearray, memoryview)):
            return {MARK: ["bytes", base64.b64encode(bytes(item)).decode("ascii")]}
        if isinstance(item, JSHandle):
            if item.runtime is not runtime:
                raise TypeError("a JS value of another JSRuntime cannot be passed here")
            return {MARK: ["handle", item.handle_id]}
        if callable(item):
            return {MARK: ["py", runtime._keep_python(item)]}
        raise TypeError(f"{type(item).__name__} cannot be passed to JavaScript")

    try:
        try:
            return json.dumps(value, ensure_ascii=True, allow_nan=False, default=default)
        except ValueError as exc:  # NaN or an infinity somewhere: tag them, then try again
            if "Circular reference" in str(exc):
                raise
            return json.dumps(
                _tag_floats(value), ensure_ascii=True, allow_nan=False, default=default
            )
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None


def _tag_floats(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {
            MARK: ["number", "NaN" if math.isnan(value) else str(value).replace("inf", "Infinity")]
        }
    if isinstance(value, dict):
        return {key: _tag_floats(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tag_floats(item) for item in value]
    return value
