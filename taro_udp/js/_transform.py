"""TypeScript and ES modules to CommonJS: sucrase, run in a QuickJS context of its own.

The mini-program's files are loaded by ``require`` (``_prelude.py``), which runs CommonJS.
A ``.ts`` file, or a ``.js`` file written with ``import``/``export``, is first turned into
CommonJS by sucrase (https://github.com/alangpierce/sucrase, MIT), the transform Taro's
own toolchain can use: types are removed in place and ``import``/``export`` become
``require``/``exports`` with webpack's interop (``__esModule``, ``default``), keeping every
line where it was, so that a stack trace names the ``.ts`` file's own lines.

sucrase is JavaScript (``_vendor/sucrase.js``, bundled by ``tools/vendor_sucrase.sh``); it
runs in one QuickJS context per process, made on the first transform and shared by every
runtime, so a runtime that only loads plain CommonJS never pays for it, and a suite that
opens hundreds of runtimes transforms each distinct file once: results are kept in a
process-wide cache keyed by the source text (a hash) and the kind of transform.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional, Tuple

__all__ = ["TRANSFORM_VERSION", "TransformError", "needs_transform", "transform"]

_BUNDLE = Path(__file__).with_name("_vendor") / "sucrase.js"
# Part of every cache key: a change of sucrase or of its options changes every result.
TRANSFORM_VERSION = "sucrase-3.35.1/1"
# Distinct sources kept (each entry is one file's transformed text).
_CACHE_SIZE = 2048
# An ES module statement at the start of a line: `import x from`, `import {`, `import *`,
# `import 'side-effect'`, `export ...`. A plain CommonJS file is left as it is (sucrase
# would make it strict mode); a false positive only adds "use strict".
_ESM = re.compile(r"^[ \t]*(?:import[ \t]*[\w{*'\"]|export[ \t]*[\w{*])", re.MULTILINE)
_TS_SUFFIXES = (".ts", ".mts", ".cts")


class TransformError(Exception):
    """A file sucrase cannot parse: ``str()`` is ``"<file>:<line>:<column>: <reason>"``
    (both counted from 1)."""

    def __init__(self, message: str, filename: str, line: int, column: int) -> None:
        super().__init__(message)
        self.filename = filename
        self.line = line
        self.column = column


def needs_transform(filename: str, source: str) -> bool:
    """Whether ``source`` (of ``filename``) is TypeScript or an ES module."""
    return filename.endswith(_TS_SUFFIXES) or _ESM.search(source) is not None


class _Sucrase:
    """The one QuickJS context with sucrase in it (any thread, one call at a time)."""

    def __init__(self) -> None:
        import quickjs

        self._context: Any = quickjs.Context()
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
        result = json.loads(self._transform(source, filename, ts))
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
    return TransformError(f"{filename}:{line}:{column}: {message}", filename, line, column)


_lock = threading.Lock()
_engine: Optional[_Sucrase] = None
_cache: OrderedDict[Tuple[str, bool], str] = OrderedDict()
stats = {"transforms": 0, "hits": 0, "setups": 0}


def transform(source: str, filename: str) -> str:
    """``source`` as CommonJS, types removed (for a ``.ts`` ``filename``); same lines.

    Cached for the process by content: the same text is transformed once. Raises
    ``TransformError`` for a file sucrase cannot parse (SyntaxError in JS).
    """
    global _engine
    ts = filename.endswith(_TS_SUFFIXES)
    digest = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=20)
    key = (f"{TRANSFORM_VERSION}:{digest.hexdigest()}", ts)
    with _lock:
        code = _cache.get(key)
        if code is not None:
            _cache.move_to_end(key)
            stats["hits"] += 1
            return code
        if _engine is None:
            _engine = _Sucrase()
            stats["setups"] += 1
        code = _engine.run(source, filename, ts)
        stats["transforms"] += 1
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
