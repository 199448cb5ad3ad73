"""taro_udp.js._bytecode: a module is parsed once per process, later runtimes read bytecode.

What a runtime sees must not change: the same exports, stack traces that name the file and
line, a SyntaxError every time for a file that does not parse, and a bounded cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if sys.version_info < (3, 10):  # pragma: no cover
    pytest.skip("taro_udp.js needs Python 3.10+ (quickjs-ng)", allow_module_level=True)
pytest.importorskip("quickjs", reason="taro_udp.js needs the quickjs-ng package")

from taro_udp.js import JSError
from taro_udp.js.plugin import JSRuntimeFactory

THROWER = "// line 1\nexports.fail = function fail(tag) {\n  throw new Error('no ' + tag)\n}\n"


def _write(root: Path, name: str, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text, encoding="utf-8")
    return root


def test_a_second_runtime_reads_the_bytecode_and_keeps_file_and_line(
    tmp_path: Path, js_runtime: JSRuntimeFactory
) -> None:
    from taro_udp.js import _bytecode

    # The tag makes this text (and so its cache entry) new to the process.
    root = _write(tmp_path / "p", "thrower.js", THROWER + f"// {tmp_path}\n")
    stacks = []
    js_runtime().close()  # the prelude's own bytecode is made by now
    before = dict(_bytecode.stats)
    for _ in range(2):
        runtime = js_runtime(root)
        with pytest.raises(JSError, match="no reader") as caught:
            runtime.eval("require('./thrower').fail('reader')")
        stacks.append(caught.value.stack.splitlines()[0].strip())
        runtime.close()
    assert _bytecode.stats["compiles"] - before["compiles"] == 1
    assert _bytecode.stats["hits"] - before["hits"] >= 1
    assert stacks[0] == stacks[1]
    assert stacks[1].startswith("at fail (thrower.js:3:")


def test_a_file_that_does_not_parse_fails_in_every_runtime(
    tmp_path: Path, js_runtime: JSRuntimeFactory
) -> None:
    root = _write(tmp_path / "p", "bad.js", f"// {tmp_path}\nexports.x = (\n")
    for _ in range(2):
        runtime = js_runtime(root)
        with pytest.raises(JSError) as caught:
            runtime.eval("require('./bad')")
        assert type(caught.value).__name__ == "SyntaxError"
        runtime.close()


def test_the_cache_stays_within_its_bound(
    tmp_path: Path, js_runtime: JSRuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taro_udp.js import _bytecode

    monkeypatch.setattr(_bytecode, "CACHE_BYTES", 64 * 1024)
    _bytecode.clear_cache()
    root = tmp_path / "p"
    for i in range(40):
        _write(root, f"m{i}.js", f"exports.v = {i}\n" + "exports.pad = [" + "1," * 2000 + "]\n")
    runtime = js_runtime(root)
    assert runtime.eval("[0, 13, 39].map((i) => require('./m' + i).v)") == [0, 13, 39]
    assert 0 < _bytecode._size <= 64 * 1024
    assert len(_bytecode._cache) < 40
