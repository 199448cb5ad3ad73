"""The JS engine: one ``quickjs.Context``, its watchdog and its Promise jobs.

The ``quickjs`` binding (quickjs-ng) runs JS with the GIL released and lets JS call
Python synchronously. Three of its limits shape this module:

- ``set_time_limit`` forbids every call into Python while set, so it cannot stop a
  runaway script here. Instead QuickJS's own interrupt handler is installed through
  ``ctypes`` (the engine exports ``JS_SetInterruptHandler``): every 10,000 JS ticks it
  reads one deadline, set before each entry into JS (``script_timeout`` seconds of wall
  clock from then). Past it, the engine throws an uncatchable ``InternalError:
  interrupted`` and the entry ends with ``RunawayScriptError``; the runtime goes on.
- The binding has no hook for Promise rejections nobody handles; QuickJS's
  ``JS_SetHostPromiseRejectionTracker`` is installed the same way, and what is still
  unhandled once a task's jobs are drained is logged and reported (``on_error``). Each
  rejected Promise is held (a reference) until then, so that no other Promise can take
  its address meanwhile. Jobs run when the outermost entry into the engine ends (a
  microtask checkpoint), never when a nested one (a stub calling back into JS) does.
- The binding's ``eval`` names every file ``<input>``: modules are compiled through
  ``JS_Eval`` with their own file name instead (``compile_module``), which runs no code.
- A context must not be used by two threads at once. Every call here happens on the
  event thread (which may be a new thread after the old one retired: the binding moves
  the engine's stack limit to the calling thread on every entry, and this module sizes
  it from that thread's real stack, so deep recursion is a ``RangeError``, never a
  crash, whatever ``threading.stack_size`` or ``ulimit -s`` gave the thread). The
  budget is the thread's: a nested entry, into this engine or another one on the same
  thread, gets what the running entry has left, never more, and is refused with a
  ``RangeError`` when too little is left.

If the engine's symbols or layout are not what this module expects, the runtime still
works, without the watchdog and the rejection log (a warning says so once).
"""

from __future__ import annotations

import ctypes
import json
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple, cast

import quickjs

from .. import _log
from . import _bytecode
from ._errors import MODULE_HEAD, PRELUDE_FILE, JSError, RunawayScriptError, clean_stack, js_error
from ._prelude import PRELUDE
from ._stack import js_stack_budget, thread_stack_size
from ._values import MARK

__all__ = ["Engine"]

_JS_TAG_STRING = -7
# The smallest memory_limit suggested when a smaller one cannot start the runtime: the
# prelude takes about 220 kB of heap, and a mini-program needs room of its own.
MIN_MEMORY = 1024 * 1024
# C stack kept back between an outer entry's limit and a nested entry's (bytes): the
# nested entry's own frames (the binding, Python) live there.
_STACK_SLACK = 32 * 1024
_JS_TAG_EXCEPTION = 6
# Where a compiled module (or its SyntaxError) waits for the prelude's require().
SLOT = "__taroCompiled"
# A module's source is wrapped on its own first line: its line numbers stay exact.
_MODULE_HEAD = MODULE_HEAD  # (its columns on line 1 are taken off in clean_stack)
_MODULE_TAIL = "\n})"
# Each thread's entries into JS under way, of every engine, innermost last: the C stack
# budget is the thread's, shared by all the engines that run on it.
_threads = threading.local()


def _entries() -> List[Engine]:
    try:
        entries: List[Engine] = _threads.entries
    except AttributeError:  # the thread's first entry
        entries = _threads.entries = []
    return entries


def _stack_exceeded() -> JSError:
    # The engine's own words: a nested entry refused is the same overflow.
    return js_error("RangeError", "Maximum call stack size exceeded")


class _Function(Protocol):
    def __call__(self, *args: Any) -> Any: ...


class _JSValue(ctypes.Structure):
    # quickjs.h without NaN boxing (64-bit builds): { union u; int64_t tag; }
    _fields_ = [("u", ctypes.c_uint64), ("tag", ctypes.c_int64)]


_INTERRUPT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_TRACKER = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, _JSValue, _JSValue, ctypes.c_bool, ctypes.c_void_p
)


class _Native:
    """The few engine functions called through ctypes, or ``None`` if unavailable."""

    def __init__(self) -> None:
        module = sys.modules.get("_quickjs") or __import__("_quickjs")
        lib = ctypes.CDLL(str(module.__file__))
        self.get_opaque = lib.JS_GetRuntimeOpaque
        self.get_opaque.restype = ctypes.c_void_p
        self.get_opaque.argtypes = [ctypes.c_void_p]
        self.set_interrupt = lib.JS_SetInterruptHandler
        self.set_interrupt.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self.set_tracker = lib.JS_SetHostPromiseRejectionTracker
        self.set_tracker.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self.to_cstring = lib.JS_ToCStringLen2
        self.to_cstring.restype = ctypes.c_void_p
        self.to_cstring.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_size_t),
            _JSValue,
            ctypes.c_bool,
        ]
        self.free_cstring = lib.JS_FreeCString
        self.free_cstring.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.get_property = lib.JS_GetPropertyStr
        self.get_property.restype = _JSValue
        self.get_property.argtypes = [ctypes.c_void_p, _JSValue, ctypes.c_char_p]
        self.free_value = lib.JS_FreeValue
        self.free_value.argtypes = [ctypes.c_void_p, _JSValue]
        self.get_exception = lib.JS_GetException
        self.get_exception.restype = _JSValue
        self.get_exception.argtypes = [ctypes.c_void_p]
        self.get_runtime = lib.JS_GetRuntime
        self.get_runtime.restype = ctypes.c_void_p
        self.get_runtime.argtypes = [ctypes.c_void_p]
        # bool lre_check_stack_overflow(JSContext *ctx, size_t n): whether n more bytes
        # of C stack would pass the engine's limit (the engine's own check).
        self.stack_overflow = lib.lre_check_stack_overflow
        self.stack_overflow.restype = ctypes.c_bool
        self.stack_overflow.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        self.eval = lib.JS_Eval
        self.eval.restype = _JSValue
        self.eval.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self.global_object = lib.JS_GetGlobalObject
        self.global_object.restype = _JSValue
        self.global_object.argtypes = [ctypes.c_void_p]
        self.set_property = lib.JS_SetPropertyStr
        self.set_property.restype = ctypes.c_int
        self.set_property.argtypes = [ctypes.c_void_p, _JSValue, ctypes.c_char_p, _JSValue]
        self.is_error = lib.JS_IsError
        self.is_error.restype = ctypes.c_bool
        self.is_error.argtypes = [_JSValue]  # quickjs-ng: JS_IsError(JSValueConst val)
        # Holding and letting go of a rejected Promise: with the GIL held (PyDLL), since
        # the last reference may free JS objects that hold Python ones.
        pylib = ctypes.PyDLL(str(module.__file__))
        self.dup_value = pylib.JS_DupValue
        self.dup_value.restype = _JSValue
        self.dup_value.argtypes = [ctypes.c_void_p, _JSValue]
        self.release_value = pylib.JS_FreeValue
        self.release_value.argtypes = [ctypes.c_void_p, _JSValue]

    def runtime_of(self, context: object) -> Optional[int]:
        """The ``JSRuntime*`` of a ``quickjs.Context``, checked, or ``None``."""
        # The binding's object: PyObject_HEAD, then JSRuntime *runtime. The runtime's
        # opaque pointer is the object itself: that proves the layout is the expected one.
        address = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
        if not address or self.get_opaque(address) != id(context):
            return None
        return address

    def context_of(self, context: object, runtime: int) -> Optional[int]:
        """The ``JSContext*`` of a ``quickjs.Context`` (the field after the runtime), checked."""
        pointer = id(context) + object.__basicsize__ + ctypes.sizeof(ctypes.c_void_p)
        address = ctypes.c_void_p.from_address(pointer).value
        if not address or self.get_runtime(address) != runtime:
            return None
        return address

    def compile_into(self, ctx: int, source: str, filename: str, slot: str) -> bool:
        """Evaluate ``source`` (an expression that runs no code: a function) under
        ``filename``; put its value, or the exception, in ``globalThis[slot]``.
        Returns whether it compiled. Runs no JS that could call into Python."""
        code = source.encode("utf-8", "surrogatepass")
        value = self.eval(ctx, code, len(code), filename.encode("utf-8", "replace"), 0)
        ok = bool(value.tag != _JS_TAG_EXCEPTION)
        if not ok:
            value = self.get_exception(ctx)
        glob = self.global_object(ctx)
        try:
            self.set_property(ctx, glob, slot.encode("ascii"), value)  # takes the value
        finally:
            self.free_value(ctx, glob)
        return ok

    def property_text(self, ctx: int, value: _JSValue, name: bytes) -> str:
        prop = self.get_property(ctx, value, name)
        try:
            return self.text(ctx, prop) or ""
        finally:
            self.free_value(ctx, prop)

    def stack_left(self, ctx: int) -> int:
        """Bytes of C stack left, here, before the engine's limit (a binary search)."""
        low, high = 0, 1 << 30
        if not self.stack_overflow(ctx, high):
            return high
        while high - low > 1024:
            middle = (low + high) // 2
            if self.stack_overflow(ctx, middle):
                high = middle
            else:
                low = middle
        return low

    def text(self, ctx: int, value: _JSValue) -> Optional[str]:
        size = ctypes.c_size_t()
        pointer = self.to_cstring(ctx, ctypes.byref(size), value, False)
        if not pointer:
            self.free_value(ctx, self.get_exception(ctx))  # toString threw: forget it
            return None
        try:
            return ctypes.string_at(pointer, size.value).decode("utf-8", "replace")
        finally:
            self.free_cstring(ctx, pointer)

    def stack_of(self, ctx: int, value: _JSValue) -> str:
        stack = self.get_property(ctx, value, b"stack")
        try:
            return (self.text(ctx, stack) or "") if stack.tag == _JS_TAG_STRING else ""
        finally:
            self.free_value(ctx, stack)


_native: Optional[_Native] = None
_native_failed = False


def _load_native() -> Optional[_Native]:
    global _native, _native_failed
    if _native is None and not _native_failed:
        try:
            _native = _Native()
        except (OSError, AttributeError, ImportError) as exc:
            _native_failed = True
            _log.warning(
                "taro_udp.js: the engine's interrupt handler is unavailable (%s): a runaway "
                "script cannot be stopped and unhandled rejections are not logged",
                exc,
            )
    return _native


class Engine:
    """One JS context with the prelude run in it. Event thread only."""

    def __init__(
        self,
        host: Callable[[str, str], str],
        now: Callable[[], float],
        perf: Callable[[], float],
        script_timeout: float,
        memory_limit: Optional[int] = None,
        on_error: Optional[Callable[[JSError], None]] = None,
    ) -> None:
        self.script_timeout = script_timeout
        self._on_error = on_error
        self._deadline = float("inf")
        self._context: Any = quickjs.Context()
        self._stack_thread: Optional[int] = None
        self._stack_budget = 0
        self._stack_moved = False  # a nested entry changed the engine's stack size
        self._depth = 0  # entries into this engine under way (nested ones: > 1)
        # The entering thread's list of entries (see _entries), while an entry is under way.
        self._entries: Optional[List[Engine]] = None
        self._memory_limit = memory_limit
        self._fit_stack()
        if memory_limit:
            self._context.set_memory_limit(memory_limit)
        # Unhandled rejections by the Promise's address; each Promise is held (a
        # reference) until it is handled or reported, so that its address cannot be
        # reused by another Promise meanwhile.
        self._rejections: Dict[int, Tuple[_JSValue, JSError]] = {}
        # Rejections handled before they were reported (the prelude asks, to know
        # whether a rejected Promise it hands to Python was unhandled until then).
        self.adopted = 0
        self._interrupt: Any = None
        self._tracker: Any = None
        self._runtime: Optional[int] = None
        self._ctx: Optional[int] = None
        self._dispatch: Optional[_Function] = None
        try:
            self._start(host, now, perf)
        except (quickjs.JSException, RuntimeError):
            self.close()
            if memory_limit:  # the prelude starts whenever the heap is not bounded
                raise ValueError(
                    f"memory_limit={memory_limit} bytes is too small for the JS runtime to "
                    f"start: give it {MIN_MEMORY} bytes at least (or None)"
                ) from None
            raise

    def _start(
        self, host: Callable[[str, str], str], now: Callable[[], float], perf: Callable[[], float]
    ) -> None:
        self._install_hooks()
        self._context.add_callable("__taroHost", host)
        self._context.add_callable("__taroNow", now)
        self._context.add_callable("__taroPerf", perf)
        if not self.compile_module(PRELUDE, PRELUDE_FILE, wrap=False):
            raise RuntimeError("taro_udp.js: the prelude does not compile")
        factory = self._context.get(SLOT)
        self._context.eval(f"delete globalThis.{SLOT};")
        self._dispatch = factory(
            self._context.get("__taroHost"),
            self._context.get("__taroNow"),
            self._context.get("__taroPerf"),
            MARK,
            SLOT,
        )
        self._message: _Function = self._context.get(SLOT)  # the datagram entry
        self._context.eval(f"delete globalThis.{SLOT};")
        self._context.eval(
            "delete globalThis.__taroHost; delete globalThis.__taroNow; "
            "delete globalThis.__taroPerf;"
        )

    # -- hooks -------------------------------------------------------------------------

    def _install_hooks(self) -> None:
        native = _load_native()
        if native is None:
            return
        runtime = native.runtime_of(self._context)
        if runtime is None:
            _log.warning("taro_udp.js: unexpected quickjs layout: no runaway-script watchdog")
            return
        self._runtime = runtime
        self._ctx = native.context_of(self._context, runtime)
        self._interrupt = _INTERRUPT(self._on_interrupt)
        native.set_interrupt(runtime, ctypes.cast(self._interrupt, ctypes.c_void_p), None)
        self._tracker = _TRACKER(self._on_rejection)
        native.set_tracker(runtime, ctypes.cast(self._tracker, ctypes.c_void_p), None)

    def _on_interrupt(self, _runtime: int, _opaque: int) -> int:
        return 1 if time.monotonic() >= self._deadline else 0

    def _on_rejection(
        self, ctx: int, promise: _JSValue, reason: _JSValue, handled: bool, _opaque: int
    ) -> None:
        try:
            native = _native
            assert native is not None
            if handled:
                held = self._rejections.pop(promise.u, None)
                if held is not None:
                    native.release_value(ctx, held[0])  # the caller still holds it
                    self.adopted += 1
                return
            if native.is_error(reason):
                name = native.property_text(ctx, reason, b"name")
                message = native.property_text(ctx, reason, b"message")
                error = js_error(name or "Error", message, native.stack_of(ctx, reason))
            else:
                text = native.text(ctx, reason)
                error = js_error("", "(a reason that cannot be shown)" if text is None else text)
            if promise.u not in self._rejections:
                self._rejections[promise.u] = (native.dup_value(ctx, promise), error)
        except BaseException as exc:  # noqa: BLE001 - never raise through C
            _log.error("taro_udp.js: the rejection tracker failed", exc=exc)

    def _fit_stack(self) -> None:
        # The engine's recursion limit, sized from the stack of the thread that runs it
        # (see _stack): again whenever a new event thread took over.
        self._stack_thread = threading.get_ident()
        self._stack_budget = js_stack_budget(thread_stack_size())
        self._context.set_max_stack_size(self._stack_budget)
        self._stack_moved = False

    def _keep_stack_limit(self, active: Engine) -> None:
        # A nested entry (into this engine or another one, on the same thread): the
        # binding moves the engine's stack top to here, which would give the inner script
        # a whole new budget below the outer one's, past the real end of the stack.
        # Shrink the budget to what the innermost running entry (``active``) has left, so
        # that the limit stays where it was (a little above: the inner entry's own
        # frames); with too little left, the entry is refused: a RangeError at once.
        ctx, native = active._ctx, _native
        if ctx is None or native is None:
            return
        left = native.stack_left(ctx) - _STACK_SLACK
        if left < _STACK_SLACK:
            raise _stack_exceeded()
        self._context.set_max_stack_size(left)
        self._stack_moved = True

    @property
    def watchdog(self) -> bool:
        """Whether a runaway script is stopped (the interrupt handler is installed)."""
        return self._interrupt is not None

    # -- compiling -----------------------------------------------------------------------

    def compile_module(self, source: str, filename: str, *, wrap: bool = True) -> bool:
        """Compile a CommonJS module's ``source`` under its own ``filename``.

        The one seam between a file's text and the engine (a transform such as
        TypeScript goes in front of it): the source is wrapped in the module function on
        its first line, so stack frames read ``app.js:5:13`` with the file's own line
        numbers. The function, or the ``SyntaxError``, is left in ``globalThis[SLOT]``
        for the prelude's ``require``; returns whether it compiled. No module code runs.
        ``wrap=False`` compiles ``source`` as it is (an expression).
        """
        if wrap and source.startswith("#!"):
            source = "//" + source[2:]  # a hashbang line, as Node allows: columns unchanged
        text = f"{_MODULE_HEAD}{source}{_MODULE_TAIL}" if wrap else source
        native = _native
        if native is not None and self._ctx is not None:
            # Parsed once per process: later runtimes read the bytecode (_bytecode).
            return _bytecode.compile_into(native, self._ctx, text, filename, SLOT)
        # Without the native entry point: the binding's eval, whose frames read <input>.
        try:
            compiled = self._context.eval(text)
        except quickjs.JSException as exc:
            raise self._uncatchable(exc) from None
        self._context.set(SLOT, compiled)
        return True

    # -- calls -------------------------------------------------------------------------

    def call(self, op: str, *args: Any) -> str:
        """Call the prelude's ``op`` with ``args`` (str/int/float/bool/None); run the jobs.

        Returns the result as the prelude's ``enc`` text (``""`` for ``undefined``; see
        ``_values.decode``); raises ``JSError`` for what the JS threw (or, from the
        binding, what escaped: interrupted, out of memory) and ``RunawayScriptError``
        past the deadline. Promise jobs queued by the call run before this returns,
        whatever happened.
        """
        dispatch = self._dispatch
        if dispatch is None:
            raise JSError("the JS runtime is closed")
        outer = self._enter_deadline()
        try:
            try:
                raw = self._message(*args) if op == "message" else dispatch(op, *args)
            except quickjs.JSException as exc:  # uncatchable: interrupted, out of memory
                raise self._uncatchable(exc) from None
            finally:
                if self._depth == 1:  # the JS stack is empty again: a microtask checkpoint
                    self._drain_jobs()
        finally:
            self._leave(outer)
        if type(raw) is str:
            return raw
        # What was thrown: an object, whose JSON the binding makes (a flat string).
        error = json.loads(raw.json())
        if error["name"] == "" and self._out_of_memory(str(error["message"])):
            raise self.out_of_memory()
        raise js_error(str(error["name"]), str(error["message"]), str(error["stack"]))

    def run_script(self, source: str) -> Tuple[bool, Any]:
        """Run ``source`` as a script: its top-level ``const``/``let`` stay global, as
        between the ``<script>`` files of a page. Returns ``(True, enc text)`` for an
        object or function completion value, ``(False, value)`` for a primitive one;
        raises ``JSError``. Promise jobs run before it returns."""
        if self._dispatch is None:
            raise JSError("the JS runtime is closed")
        outer = self._enter_deadline()
        try:
            try:
                value = self._context.eval(source)
            except quickjs.JSException as exc:
                raise self._thrown_by_script(exc) from None
            except (TypeError, UnicodeDecodeError) as exc:
                # The binding could not convert the completion value (a long string made
                # by concatenation, a lone surrogate, a small BigInt): the script ran.
                raise JSError(
                    "eval: the script ran, but the engine binding cannot return its "
                    f"completion value ({exc}): return it inside an array or object"
                ) from None
            finally:
                if self._depth == 1:
                    self._drain_jobs()
        finally:
            self._leave(outer)
        if isinstance(value, quickjs.Object):
            return True, self.call("json", value)
        if type(value) is float and value.is_integer() and abs(value) <= 2**53:
            return False, int(value)  # as JSON would give it: JS has one number type
        return False, value

    def _enter_deadline(self) -> float:
        """Set the deadline of an entry into JS; return the one to restore after it.

        An entry may be nested (a stub or a console hook that JS calls synchronously
        enters the runtime again): the inner one never extends the outer's deadline, and
        the outer's is restored when the inner returns, so the watchdog still stops the
        outer script.
        """
        entries = self._entries
        if entries is None or not self._depth:  # the outermost entry: this thread's list
            entries = self._entries = _entries()
        if entries:
            self._keep_stack_limit(entries[-1])
        elif self._stack_moved or self._stack_thread != threading.get_ident():
            self._fit_stack()
        entries.append(self)
        self._depth += 1
        outer = self._deadline
        self._deadline = min(outer, time.monotonic() + self.script_timeout)
        return outer

    def _leave(self, outer: float) -> None:
        self._depth -= 1
        self._deadline = outer
        entries = self._entries
        if entries and entries[-1] is self:
            entries.pop()

    def _thrown_by_script(self, exc: BaseException) -> JSError:
        """What ``eval`` threw: the binding's text, or, when that text is the one of the
        last Error made text (the binding's conversion), that Error read whole."""
        error = self._uncatchable(exc)
        dispatch = self._dispatch
        if isinstance(error, RunawayScriptError) or dispatch is None:
            return error
        try:
            raw = dispatch("lastThrown")
        except quickjs.JSException:  # out of memory again: the binding's text it is
            return error
        if type(raw) is not str or not raw:
            return error
        found = json.loads(raw)
        name, message = str(found["name"]), str(found["message"])
        head = f"{name}: {message}" if name and message else name or message
        text = head.split("\0", 1)[0].encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        if text != str(exc).split("\n", 1)[0]:
            return error  # not that error (a thrown value that is not an Error)
        return js_error(name, message, str(found["stack"]))

    def _uncatchable(self, exc: BaseException) -> JSError:
        text = str(exc).split("\n", 1)
        if text[0] == "InternalError: interrupted":
            return RunawayScriptError(
                f"interrupted: the script ran longer than {self.script_timeout:g} s "
                "(script_timeout)",
                clean_stack(text[1]) if len(text) > 1 else "",
            )
        if self._out_of_memory(text[0]):
            return self.out_of_memory(text[1] if len(text) > 1 else "")
        name, _, message = text[0].partition(": ")
        return js_error(
            name or "InternalError", message or text[0], text[1] if len(text) > 1 else ""
        )

    def _out_of_memory(self, head: str) -> bool:
        # QuickJS throws `null` when it cannot even build its "out of memory" error; the
        # heap is freed again by the time the entry ends, so a script's own `throw null`
        # cannot be told apart (under a memory_limit: always, by default). The report
        # says both.
        return head == "InternalError: out of memory" or (
            head == "null" and self._memory_limit is not None
        )

    def out_of_memory(self, stack: str = "") -> JSError:
        """The error of a script that hit ``memory_limit``."""
        return js_error(
            "InternalError",
            f"out of memory: the JS heap reached memory_limit ({self._memory_limit} bytes)"
            " (or the script threw null, which reads the same)",
            stack,
        )

    def _drain_jobs(self) -> None:
        """Run every pending Promise job (the microtask queue) within the deadline."""
        context = self._context
        while context is not None:  # None: closed by what the last job did
            try:
                if not context.execute_pending_job():
                    break
            except quickjs.JSException as exc:
                error = self._uncatchable(exc)
                _log.error("taro_udp.js: a Promise job failed: %s: %s", type(error).__name__, error)
                self._uncaught(error)
                if isinstance(error, RunawayScriptError):
                    _log.error(
                        "taro_udp.js: Promise jobs still ran after %g s: the rest wait for "
                        "the next task",
                        self.script_timeout,
                    )
                    break
            context = self._context
        self._report_rejections()

    def _uncaught(self, error: JSError) -> None:
        if self._on_error is not None:
            self._on_error(error)

    def _report_rejections(self) -> None:
        if not self._rejections:
            return
        unhandled = list(self._rejections.values())
        self._rejections.clear()
        self._let_go([promise for promise, _ in unhandled])
        for _, error in unhandled:
            _log.error(
                "taro_udp.js: unhandled promise rejection: %s",
                error.report.split(" ", 1)[1],
            )
            self._uncaught(error)

    def _let_go(self, promises: List[_JSValue]) -> None:
        native, ctx = _native, self._ctx
        if native is not None and ctx is not None and self._context is not None:
            for promise in promises:
                native.release_value(ctx, promise)

    def close(self) -> None:
        """Drop the context (event thread): nothing of it is used afterwards."""
        self._dispatch = None
        self._let_go([promise for promise, _ in self._rejections.values()])
        self._rejections.clear()
        native = _native
        if self._runtime is not None and native is not None:
            native.set_interrupt(self._runtime, None, None)
            native.set_tracker(self._runtime, None, None)
        self._runtime = None
        # The last reference to the context: the engine is freed here, on this thread.
        self._context = None

    def memory(self) -> Dict[str, int]:
        """The engine's memory use (QuickJS's counters)."""
        return cast(Dict[str, int], self._context.memory())
