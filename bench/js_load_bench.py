"""taro_udp.js load benchmarks: TypeScript and ES modules through the sucrase transform.

Standalone: ``python bench/js_load_bench.py [--repeats N] [--runtimes N]``. Prints a
Markdown table (metric, taro_udp, baseline, ratio, target, met); every figure is the
median of N interleaved repeats, measured in this process.

- ``5,000-line .ts, cold``: the first load in a process: sucrase's own QuickJS context is
  made, the file transformed, compiled and run (baseline, for every row: the same module
  written as plain CommonJS ``.js``, never transformed, loaded for the first time).
- ``5,000-line .ts, transform only``: the transform of that file, sucrase already set up.
- ``5,000-line .ts, new process, disk cache warm``: the first load in a process when an
  earlier process left the transformed text on disk (``TARO_UDP_TRANSFORM_CACHE``).
- ``5,000-line .ts, cached``: a new runtime loading the same file again (the process's
  transform cache and bytecode cache hit: read, hash, read the bytecode, run), and the
  transform cache hit's own share. Target: 5 ms.
- ``sucrase set-up, once per process`` and ``... per runtime``: what making the transform
  costs; a runtime holds no transform context of its own (baseline: ``JSRuntime()``).
- ``suite of N runtimes``: N runtimes each load a 13-module TypeScript project, call it
  and close (nothing else: the worst case for the transform's share); the share of the
  suite's wall time spent transforming, in a first process and in a later one (the disk
  cache warm). Target: 10%.
"""

# The generated JS keeps its own line lengths.
# ruff: noqa: E501

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from taro_udp.js import JSRuntime, _bytecode, _runtime, _transform

_CHUNK_TS = """\
export enum Kind{n} {{ Probe = 'probe', Reply = 'reply', Ack = {n} }}
export interface Frame{n} {{ kind: Kind{n}; seq: number; body?: string }}
type Handler{n} = (frame: Frame{n}) => void
export class Codec{n}<T extends object = Frame{n}> {{
  private readonly handlers: Handler{n}[] = []
  #count = 0
  constructor(public name: string, protected limit: number = {n}) {{}}
  encode(frame: Frame{n}): string {{ return JSON.stringify(frame) as string }}
  decode(text: string): Frame{n} {{ return JSON.parse(text) as Frame{n} }}
  on(handler: Handler{n}): this {{ this.handlers.push(handler); return this }}
  emit(frame: Frame{n}): number {{ this.handlers.forEach((h) => h(frame)); return ++this.#count }}
  async roundTrip(frame: Frame{n}): Promise<Frame{n}> {{ return this.decode(this.encode(frame)) }}
}}
export function checksum{n}(bytes: number[]): number {{
  let sum = 0
  for (const b of bytes) sum = (sum + b) & 0xff
  return sum satisfies number
}}
"""
_CHUNK_JS = """\
var Kind{n} = {{ Probe: 'probe', Reply: 'reply', Ack: {n} }}; exports.Kind{n} = Kind{n}


class Codec{n} {{

  constructor(name, limit = {n}) {{ this.name = name; this.limit = limit; this.handlers = []; this.count = 0 }}

  encode(frame) {{ return JSON.stringify(frame) }}
  decode(text) {{ return JSON.parse(text) }}
  on(handler) {{ this.handlers.push(handler); return this }}
  emit(frame) {{ this.handlers.forEach((h) => h(frame)); return ++this.count }}
  async roundTrip(frame) {{ return this.decode(this.encode(frame)) }}
}}
exports.Codec{n} = Codec{n}
function checksum{n}(bytes) {{
  let sum = 0
  for (const b of bytes) sum = (sum + b) & 0xff
  return sum
}}
exports.checksum{n} = checksum{n}
"""


def _module(chunk: str, lines: int) -> str:
    parts: List[str] = []
    count = 0
    n = 0
    while count < lines:
        text = chunk.format(n=n)
        parts.append(text)
        count += text.count("\n")
        n += 1
    return "".join(parts)


def _timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _load(root: Path, name: str) -> float:
    runtime = JSRuntime(root)
    try:
        return _timed(lambda: runtime.eval(f"require('./{name}').checksum0([1, 2, 3])"))
    finally:
        runtime.close()


def _big_module_rows(root: Path, repeats: int, lines: int) -> List[Tuple[str, float, float, float]]:
    cold: List[float] = []
    disk: List[float] = []
    plain: List[float] = []
    transform_only: List[float] = []
    hit: List[float] = []
    cached: List[float] = []
    setup: List[float] = []
    source = (root / "big.ts").read_text()
    for _ in range(repeats):
        os.environ[_transform.CACHE_ENV] = "0"
        _transform.clear_cache(engine=True)
        _bytecode.clear_cache()
        plain.append(_load(root, "big.js"))  # parsed: its first load in a process
        cold.append(_load(root, "big.ts"))
        cached.append(_load(root, "big.ts"))
        hit.append(_timed(lambda: _transform.transform(source, "big.ts")))
        _transform.clear_cache()
        transform_only.append(_timed(lambda: _transform.transform(source, "big.ts")))
        _transform.clear_cache(engine=True)
        setup.append(_timed(lambda: _transform.transform("export {}\n", "setup.ts")))
        # A new process with the disk cache filled by an earlier one.
        os.environ[_transform.CACHE_ENV] = str(root / "disk")
        _transform.transform(source, "big.ts")
        _transform.clear_cache(engine=True)
        _bytecode.clear_cache()
        disk.append(_load(root, "big.ts"))
    med = statistics.median
    return [
        (f"{lines:,}-line .ts, cold (first load in a process), ms", med(cold), med(plain), 0),
        (f"{lines:,}-line .ts, transform only, ms", med(transform_only), med(plain), 0),
        (f"{lines:,}-line .ts, new process, disk cache warm, ms", med(disk), med(plain), 0),
        (f"{lines:,}-line .ts, cached (a new runtime), ms", med(cached), med(plain), 5.0),
        (f"{lines:,}-line .ts, the cache hit itself (hash, look-up), ms", med(hit), 0.0, 5.0),
        ("sucrase set-up, once per process, ms", med(setup), 0.0, 0),
    ]


def _project(root: Path) -> None:
    (root / "src" / "lib").mkdir(parents=True)
    imports = []
    for i in range(12):
        (root / "src" / "lib" / f"m{i}.ts").write_text(_module(_CHUNK_TS, 120))
        imports.append(f"import {{ checksum0 as c{i} }} from './lib/m{i}'")
    calls = " + ".join(f"c{i}([{i}])" for i in range(12))
    (root / "src" / "main.ts").write_text(
        "\n".join(imports) + f"\nexport const total = (): number => {calls}\n"
    )


def _suite(root: Path, runtimes: int) -> Tuple[float, float]:
    """(wall seconds, seconds spent in the transform) of one suite run."""
    spent = [0.0]
    real = _transform.transform

    def counting(source: str, filename: str) -> str:
        started = time.perf_counter()
        try:
            return real(source, filename)
        finally:
            spent[0] += time.perf_counter() - started

    _runtime.transform = counting  # type: ignore[attr-defined]  # what _load calls
    try:
        started = time.perf_counter()
        for _ in range(runtimes):
            runtime = JSRuntime(root)
            try:
                assert runtime.eval("require('src/main').total()") == 66
            finally:
                runtime.close()
        return time.perf_counter() - started, spent[0]
    finally:
        _runtime.transform = real  # type: ignore[attr-defined]


def _suite_rows(root: Path, runtimes: int, repeats: int) -> List[Tuple[str, float, float, float]]:
    cold: List[Tuple[float, float]] = []
    warm: List[Tuple[float, float]] = []
    for repeat in range(repeats):
        # A new process each time: nothing in memory (transform, bytecode, sucrase).
        os.environ[_transform.CACHE_ENV] = str(root / f"disk-cache-{repeat}")
        _transform.clear_cache(engine=True)
        _bytecode.clear_cache()
        cold.append(_suite(root, runtimes))
        _transform.clear_cache(engine=True)
        _bytecode.clear_cache()
        warm.append(_suite(root, runtimes))
    create = [_timed(lambda: JSRuntime().close()) for _ in range(20)]
    med = statistics.median
    name = f"suite of {runtimes} runtimes x 13 .ts modules"
    return [
        (f"{name}: wall, s", med(t for t, _ in cold), 0.0, 0),
        (f"{name}: share spent transforming, %", med(100 * s / t for t, s in cold), 0.0, 10.0),
        (f"{name}, disk cache warm: wall, s", med(t for t, _ in warm), 0.0, 0),
        (
            f"{name}, disk cache warm: share transforming, %",
            med(100 * s / t for t, s in warm),
            0.0,
            10.0,
        ),
        ("sucrase set-up per runtime (none is made), ms", 0.0, 1000 * med(create), 0),
    ]


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runtimes", type=int, default=200)
    parser.add_argument("--lines", type=int, default=5000, help="of the big module")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "big.ts").write_text(_module(_CHUNK_TS, args.lines))
        (root / "big.js").write_text(_module(_CHUNK_JS, args.lines))
        rows = [
            (name, value * 1000, base * 1000, target)
            for name, value, base, target in _big_module_rows(root, args.repeats, args.lines)
        ]
        suite = root / "suite"
        suite.mkdir()
        _project(suite)
        suite_rows = _suite_rows(suite, args.runtimes, args.repeats)
    print("| metric | taro_udp | baseline | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    table: Dict[str, Tuple[float, float, float]] = {}
    for name, value, base, target in rows + suite_rows:
        table[name] = (value, base, target)
        ratio = f"{value / base:.2f}x" if base else "-"
        met = "-" if not target else ("yes" if value <= target else "NO")
        print(f"| {name} | {value:.2f} | {base:.2f} | {ratio} | {target or '-'} | {met} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
