"""Compiled modules kept as QuickJS bytecode, so that a module is parsed once per process.

QuickJS spends most of a module's load parsing it (15 ms for a 5,000-line TypeScript
module, 1 ms to run it), and a suite opens hundreds of runtimes that load the same
files. The first compile of a text under a file name is done with
``JS_EVAL_FLAG_COMPILE_ONLY`` and its bytecode written out (``JS_WriteObject``, with its
debug information: stack traces still name ``file:line``); a later runtime reads the
bytes back (``JS_ReadObject``, about 1 ms for those 5,000 lines) instead of parsing.

The bytes never leave the process and come only from this engine's own writer (bytecode
from elsewhere could crash the engine). The cache holds up to ``CACHE_BYTES``, the least
recently used out first. If the engine lacks one of the functions, every compile goes
the ordinary way (``_Native.compile_into``).
"""

from __future__ import annotations

import ctypes
import hashlib
import sys
import threading
from collections import OrderedDict
from typing import Any, Callable, Optional, Tuple

__all__ = ["CACHE_BYTES", "clear_cache", "compile_into", "stats"]

CACHE_BYTES = 64 * 1024 * 1024
_EVAL_COMPILE_ONLY = 1 << 5  # JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_COMPILE_ONLY
_WRITE_BYTECODE = 1 << 0  # JS_WRITE_OBJ_BYTECODE
_READ_BYTECODE = 1 << 0  # JS_READ_OBJ_BYTECODE
_TAG_EXCEPTION = 6

_lock = threading.Lock()
_cache: OrderedDict[Tuple[str, str], bytes] = OrderedDict()
_size = 0
stats = {"compiles": 0, "hits": 0}

# compile(ctx, text, filename) -> (ok, JSValue): the function the text evaluates to (a
# new reference), or the exception.
Compile = Callable[[int, str, str], Tuple[bool, Any]]


def _remember(key: Tuple[str, str], blob: bytes) -> None:
    global _size
    with _lock:
        if key in _cache or len(blob) > CACHE_BYTES:
            return
        _cache[key] = blob
        _size += len(blob)
        while _size > CACHE_BYTES:
            _size -= len(_cache.popitem(last=False)[1])


def _recall(key: Tuple[str, str]) -> Optional[bytes]:
    with _lock:
        blob = _cache.get(key)
        if blob is not None:
            _cache.move_to_end(key)
        return blob


def clear_cache() -> None:
    """Forget every module's bytecode (the next runtime parses again)."""
    global _size
    with _lock:
        _cache.clear()
        _size = 0


def compiler(native: Any) -> Optional[Compile]:
    """The caching compile for the engine's ``_Native`` functions, or ``None``."""
    from ._engine import _JSValue

    try:
        lib = ctypes.CDLL(str(sys.modules["_quickjs"].__file__))
        evaluate = lib.JS_Eval
        write = lib.JS_WriteObject
        read = lib.JS_ReadObject
        run = lib.JS_EvalFunction
        free = lib.js_free
    except (OSError, KeyError, AttributeError):
        return None
    evaluate.restype = _JSValue
    evaluate.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_char_p,
        ctypes.c_int,
    ]
    write.restype = ctypes.c_void_p
    write.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), _JSValue, ctypes.c_int]
    read.restype = _JSValue
    read.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    run.restype = _JSValue
    run.argtypes = [ctypes.c_void_p, _JSValue]
    free.argtypes = [ctypes.c_void_p, ctypes.c_void_p]

    def outcome(ctx: int, value: Any) -> Tuple[bool, Any]:
        if value.tag == _TAG_EXCEPTION:
            return False, native.get_exception(ctx)
        return True, value

    def compile_text(ctx: int, text: str, filename: str) -> Tuple[bool, Any]:
        code = text.encode("utf-8", "surrogatepass")
        key = (hashlib.blake2b(code, digest_size=20).hexdigest(), filename)
        blob = _recall(key)
        if blob is not None:
            function = read(ctx, blob, len(blob), _READ_BYTECODE)
            if function.tag != _TAG_EXCEPTION:
                stats["hits"] += 1
                return outcome(ctx, run(ctx, function))  # run() takes the function
            native.free_value(ctx, native.get_exception(ctx))  # unreadable: parse again
        name = filename.encode("utf-8", "replace")
        function = evaluate(ctx, code, len(code), name, _EVAL_COMPILE_ONLY)
        if function.tag == _TAG_EXCEPTION:
            return False, native.get_exception(ctx)  # a SyntaxError: nothing to keep
        stats["compiles"] += 1
        size = ctypes.c_size_t()
        pointer = write(ctx, ctypes.byref(size), function, _WRITE_BYTECODE)
        if pointer:
            try:
                _remember(key, ctypes.string_at(pointer, size.value))
            finally:
                free(ctx, pointer)
        else:
            native.free_value(ctx, native.get_exception(ctx))  # not kept, still run
        return outcome(ctx, run(ctx, function))

    return compile_text


_compile: Optional[Compile] = None
_compile_failed = False


def compile_into(native: Any, ctx: int, text: str, filename: str, slot: str) -> bool:
    """``_Native.compile_into`` through the bytecode cache: put the function ``text``
    evaluates to (compiled under ``filename``), or its exception, in
    ``globalThis[slot]``; return whether it compiled. Runs no module code."""
    global _compile, _compile_failed
    if _compile is None and not _compile_failed:
        _compile = compiler(native)
        _compile_failed = _compile is None
    if _compile is None:
        ok: bool = native.compile_into(ctx, text, filename, slot)
        return ok
    ok, value = _compile(ctx, text, filename)
    glob = native.global_object(ctx)
    try:
        native.set_property(ctx, glob, slot.encode("ascii"), value)  # takes the value
    finally:
        native.free_value(ctx, glob)
    return ok
