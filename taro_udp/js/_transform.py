"""TypeScript and ES modules to CommonJS: sucrase, run in a QuickJS context of its own.

The mini-program's files are loaded by ``require`` (``_prelude.py``), which runs CommonJS.
A ``.ts`` file, or a ``.js`` file written with ``import``/``export``, is first turned into
CommonJS by sucrase (https://github.com/alangpierce/sucrase, MIT), a maintained
TypeScript/ES module transform: types are removed in place and ``import``/``export`` become
``require``/``exports`` with webpack's interop (``__esModule``, ``default``), keeping every
line where it was, so that a stack trace names the ``.ts`` file's own lines.

sucrase is JavaScript (``_vendor/sucrase.js``, bundled by ``tools/vendor_sucrase.sh``); it
runs in one QuickJS context per process, made on the first transform and shared by every
runtime, so a runtime that only loads plain CommonJS never pays for it, and a suite that
opens hundreds of runtimes transforms each distinct file once: results are kept in a
process-wide cache keyed by the source text (a hash) and the kind of transform, and on
disk (``cache_folder()``) under the transform's version, because sucrase interpreted by
QuickJS takes about 0.2 ms a line: a new process (``taro-udp run``, each tox
environment, each xdist worker) would otherwise pay a second per 5,000 lines again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple, TypeVar

__all__ = [
    "CACHE_ENV",
    "TRANSFORM_VERSION",
    "TransformError",
    "cache_folder",
    "needs_transform",
    "transform",
]

_T = TypeVar("_T")
_BUNDLE = Path(__file__).with_name("_vendor") / "sucrase.js"
# Part of every cache key: a change of sucrase or of its options changes every result.
TRANSFORM_VERSION = "sucrase-3.35.1/1"
_VERSION_FOLDER = TRANSFORM_VERSION.replace("/", "-")
CACHE_ENV = "TARO_UDP_TRANSFORM_CACHE"
# Distinct sources kept (each entry is one file's transformed text).
_CACHE_SIZE = 2048
_MEMORY_LIMIT = 1024 * 1024 * 1024
# An ES module statement at the start of a line: `import x from`, `import {`, `import *`,
# `import 'side-effect'`, `export ...` (not `exports.x =`, `important`). A
# plain CommonJS file is left as it is (sucrase would make it strict mode); a false
# positive (such a line inside a template string) only adds "use strict".
_ESM = re.compile(
    r"^[ \t]*(?:import(?:[ \t]+[\w{*'\"]|[ \t]*[{*'\"])|export(?:[ \t]+[\w{*]|[ \t]*[{*]))",
    re.MULTILINE,
)
# `import('./x')` anywhere (not `obj.import(`): the engine has no module loader, so a
# dynamic import becomes a Promise of `require`'s namespace, as webpack's is.
_DYNAMIC_IMPORT = re.compile(r"(?<![.\w$])import\s*\(")
_TS_SUFFIXES = (".ts", ".mts", ".cts")


class TransformError(Exception):
    """A file sucrase cannot parse: ``str()`` is ``"<file>:<line>:<column>: <reason>"``
    (both counted from 1); ``line`` is 0 for a file too big to transform at all."""

    def __init__(self, message: str, filename: str, line: int, column: int) -> None:
        super().__init__(message)
        self.filename = filename
        self.line = line
        self.column = column


def needs_transform(filename: str, source: str) -> bool:
    """Whether ``source`` (of ``filename``) is TypeScript or an ES module."""
    return (
        filename.endswith(_TS_SUFFIXES)
        or _ESM.search(source) is not None
        or _DYNAMIC_IMPORT.search(source) is not None
    )


class _Sucrase:
    """The one QuickJS context with sucrase in it (any thread, one call at a time)."""

    def __init__(self) -> None:
        import quickjs

        self._context: Any = quickjs.Context()
        # Bounded like a runtime: a file too big for it fails, the host's memory is safe.
        self._context.set_memory_limit(_MEMORY_LIMIT)
        self._context.eval(_BUNDLE.read_text(encoding="utf-8"))
        # JSON text crosses back whole: the binding cuts a returned string at a NUL.
        self._transform = self._context.eval(
            """(source, filePath, ts) => {
              try {
                const out = sucrase.transform(source, {
                  transforms: ts ? ['typescript', 'imports'] : ['imports'],
                  filePath,
                });
                return JSON.stringify({ code: out.code });
              } catch (e) {
                const at = e.loc || {};
                return JSON.stringify({ error: String(e.message), line: at.line || 0,
                                        column: at.column === undefined ? 0 : at.column });
              }
            }"""
        )

    def run(self, source: str, filename: str, ts: bool) -> str:
        import quickjs

        try:
            result = json.loads(self._transform(source, filename, ts))
        except (quickjs.JSException, quickjs.StackOverflow, ValueError) as exc:
            # Past the memory limit or the stack: the file as a whole, not a line.
            reason = str(exc) if str(exc) not in ("", "null") else "out of memory"
            message = f"{filename}: too big to transform ({reason})"
            raise TransformError(message, filename, 0, 0) from None
        if not isinstance(result, dict):
            raise TransformError(f"{filename}: cannot be transformed", filename, 0, 0)
        if "error" in result:
            raise _error(result, filename)
        code: str = result["code"]
        return code


def _error(result: Any, filename: str) -> TransformError:
    message = str(result["error"])
    # sucrase: "Error transforming <file>: Unexpected token (3:5)"
    message = message.replace(f"Error transforming {filename}: ", "")
    # The message's "(line:column)" counts columns from 1; `loc.column` from 0.
    line, column = int(result["line"]), int(result["column"]) + 1
    match = re.search(r" \((\d+):(\d+)\)$", message)
    if match:
        line, column = int(match.group(1)), int(match.group(2))
        message = message[: match.start()]
    if not line:  # no place in the file: it failed as a whole (too deep, too big)
        return TransformError(f"{filename}: cannot be transformed ({message})", filename, 0, 0)
    return TransformError(f"{filename}:{line}:{column}: {message}", filename, line, column)


# sucrase recurses as deep as the code nests, and QuickJS's recursion limit (1 MiB of C
# stack, counted from where a call into the engine starts) assumes a thread with room for
# it below the caller's own frames, which the event thread (deep in a require) or a
# small-stack thread may not have. So sucrase runs on a thread of its own, with this
# much stack: deep nesting is a RangeError there, never a crash.
_THREAD_STACK = 16 * 1024 * 1024
_stack_size_lock = threading.Lock()


def _on_own_thread(work: Callable[[], _T]) -> _T:
    """``work()`` on a new thread with ``_THREAD_STACK`` of stack; its result or error."""
    result: List[_T] = []
    error: List[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # noqa: BLE001 - raised in the caller
            error.append(exc)

    with _stack_size_lock:  # threading.stack_size() is for every thread made after it
        try:
            previous = threading.stack_size(_THREAD_STACK)
        except (ValueError, RuntimeError):  # pragma: no cover - no settable stack size
            return work()
        try:
            thread = threading.Thread(target=run, name="taro_udp.js-transform", daemon=True)
            thread.start()
        finally:
            threading.stack_size(previous)
    thread.join()
    if error:
        raise error[0]
    return result[0]


_lock = threading.Lock()
_engine: Optional[_Sucrase] = None
_cache: OrderedDict[Tuple[str, bool], str] = OrderedDict()
stats = {"transforms": 0, "hits": 0, "disk_hits": 0, "setups": 0}


def cache_folder() -> Optional[Path]:
    """The folder of the on-disk transform cache, or ``None`` if it is off.

    ``$TARO_UDP_TRANSFORM_CACHE`` names it (``""`` or ``"0"``: off); by default it is
    ``$XDG_CACHE_HOME/taro_udp/transform`` (``~/.cache/...``). Entries are named by the
    transform's version and the source's hash, so a stale one is never used.
    """
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return Path(value) if value not in ("", "0") else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "taro_udp" / "transform"


def _disk_path(digest: str, ts: bool) -> Optional[Path]:
    folder = cache_folder()
    if folder is None:
        return None
    return folder / _VERSION_FOLDER / f"{digest}.{'ts' if ts else 'esm'}.js"


def _disk_read(path: Optional[Path]) -> Optional[str]:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8", errors="surrogatepass")
    except (OSError, UnicodeDecodeError):
        return None  # absent, unreadable: transform again


def _disk_write(path: Optional[Path], code: str) -> None:
    # Written whole or not at all (a temporary file renamed), by any number of processes;
    # a cache that cannot be written (read-only home) is only slower.
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as handle:
                handle.write(code)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        pass


def transform(source: str, filename: str) -> str:
    """``source`` as CommonJS, types removed (for a ``.ts`` ``filename``); same lines.

    Cached by content: in the process (the same text is transformed once) and on disk
    (``cache_folder()``), so a new process does not transform it again either. Raises
    ``TransformError`` for a file sucrase cannot parse (SyntaxError in JS).
    """
    global _engine
    ts = filename.endswith(_TS_SUFFIXES)
    digest = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()
    key = (digest, ts)
    with _lock:
        code = _cache.get(key)
        if code is not None:
            _cache.move_to_end(key)
            stats["hits"] += 1
            return code
        disk = _disk_path(digest, ts)
        code = _disk_read(disk)
        if code is not None:
            stats["disk_hits"] += 1
        else:
            if _engine is None:
                _engine = _on_own_thread(_Sucrase)
                stats["setups"] += 1
            engine = _engine
            try:
                code = _on_own_thread(lambda: engine.run(source, filename, ts))
            except TransformError as exc:
                if not exc.line:
                    _engine = None  # failed as a whole: the next transform starts afresh
                raise
            stats["transforms"] += 1
            _disk_write(disk, code)
        _cache[key] = code
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return code


def clear_cache(*, engine: bool = False) -> None:
    """Forget every transformed source (and the sucrase context too, with ``engine``)."""
    global _engine
    with _lock:
        _cache.clear()
        if engine:
            _engine = None
