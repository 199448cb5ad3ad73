"""taro_udp.js: projects as they are written: ES modules, TypeScript, npm folders, Taro.

Each test writes a small project into ``tmp_path`` and loads it through ``require`` (or
``open_page``), as a mini-program's own files would be. On 0.2.0 every one of them fails:
``import``/``export`` and types were syntax errors, ``.ts`` files and packages were not
found, ``@tarojs/taro`` did not exist.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict

import pytest

if sys.version_info < (3, 10):  # pragma: no cover
    pytest.skip("taro_udp.js needs Python 3.10+ (quickjs-ng)", allow_module_level=True)
pytest.importorskip("quickjs", reason="taro_udp.js needs the quickjs-ng package")

from taro_udp.js import JSError, JSRuntime
from taro_udp.js.plugin import JSRuntimeFactory


def _project(root: Path, files: Dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


Project = Callable[[Dict[str, str]], JSRuntime]


@pytest.fixture
def project(tmp_path: Path, js_runtime: JSRuntimeFactory) -> Project:
    """``project({"a.ts": "..."})``: a runtime whose root holds those files."""

    def make(files: Dict[str, str]) -> JSRuntime:
        return js_runtime(_project(tmp_path / "project", files), script_timeout=2.0)

    return make


def _root(runtime: JSRuntime) -> Path:
    assert runtime.root is not None
    return runtime.root


# -- ES modules ------------------------------------------------------------------------


def test_default_named_and_namespace_imports(project: Project) -> None:
    runtime = project(
        {
            "lib.js": "export default function greet(n) { return 'hi ' + n }\n"
            "export const PORT = 8848\nexport function twice(x) { return 2 * x }\n",
            "main.js": "import greet, { PORT, twice as double } from './lib'\n"
            "import * as lib from './lib.js'\n"
            "export const out = [greet('a'), PORT, double(4), lib.twice(1), lib.default('b')]\n",
        }
    )
    assert runtime.eval("require('./main').out") == ["hi a", 8848, 8, 2, "hi b"]


def test_export_default_class_and_star_and_named_re_exports(project: Project) -> None:
    runtime = project(
        {
            "a.js": "export const one = 1\nexport const two = 2\nexport default 'A'\n",
            "b.js": "export default class Box { constructor(v) { this.v = v } }\n",
            "index.js": "export * from './a'\nexport { default as Box } from './b'\n"
            "export { two as deux, default as aDefault } from './a'\n",
            "main.js": "import { one, two, deux, Box, aDefault } from './index'\n"
            "import * as all from './index'\n"
            "export const out = [one, two, deux, new Box(3).v, aDefault, 'default' in all]\n",
        }
    )
    # `export *` leaves `default` out, as the ES spec and webpack do.
    assert runtime.eval("require('./main').out") == [1, 2, 2, 3, "A", False]


def test_side_effect_imports_run_once_in_order(project: Project) -> None:
    runtime = project(
        {
            "setup.js": "globalThis.order = (globalThis.order || []).concat('setup')\n",
            "other.js": "import './setup'\nglobalThis.order.push('other')\nexport {}\n",
            "main.js": "import './setup'\nimport './other'\nglobalThis.order.push('main')\n",
        }
    )
    runtime.eval("require('./main')")
    assert runtime.eval("order") == ["setup", "other", "main"]


def test_a_dynamic_import_is_a_promise_of_the_namespace(project: Project) -> None:
    # In a CommonJS file too: `import()` alone makes a file go through the transform.
    runtime = project(
        {
            "lazy.js": "export default 40\nexport const y = 2\n",
            "main.js": "exports.load = () => import('./lazy').then((m) => m.default + m.y)\n",
        }
    )
    runtime.eval("globalThis.out = null; require('./main').load().then((v) => { out = v })")
    assert runtime.eval("out") == 42


def test_import_type_and_export_type_leave_nothing_behind(project: Project) -> None:
    # The imported module does not exist: a type-only import must not load anything.
    runtime = project(
        {
            "main.ts": "import type { Missing } from './missing'\n"
            "import { type AlsoMissing } from './missing2'\n"
            "export type Id = string\nexport type { Missing }\n"
            "export const id: Id = 'x'\n",
        }
    )
    assert runtime.require("main") == {"id": "x"}


def test_commonjs_requiring_an_es_module_gets_its_namespace(project: Project) -> None:
    runtime = project(
        {
            "esm.js": "export default 42\nexport const name = 'esm'\n",
            "cjs.js": "const m = require('./esm')\n"
            "module.exports = [m.default, m.name, m.__esModule === true]\n",
        }
    )
    assert runtime.eval("require('./cjs')") == [42, "esm", True]


def test_importing_commonjs_gets_module_exports_as_the_default(project: Project) -> None:
    runtime = project(
        {
            "cjs.js": "module.exports = { port: 1, send() { return 'sent' } }\n",
            "flagged.js": "exports.__esModule = true\nexports.default = 'the default'\n",
            "fn.js": "module.exports = function () { return 'called' }\n",
            "main.js": "import cjs, { port } from './cjs'\nimport flagged from './flagged'\n"
            "import fn from './fn'\nimport * as ns from './cjs'\n"
            "export const out = [cjs.port, port, cjs.send(), flagged, fn(), ns.default.port]\n",
        }
    )
    assert runtime.eval("require('./main').out") == [1, 1, "sent", "the default", "called", 1]


def test_circular_imports_see_each_other_as_a_bundler_does(project: Project) -> None:
    runtime = project(
        {
            "a.ts": "import { b } from './b'\nexport function a(n: number): string {\n"
            "  return n <= 0 ? 'a' : b(n - 1)\n}\nexport const early = 'A'\n",
            "b.ts": "import { a, early } from './a'\n"
            "export const seenEarly = typeof early\n"
            "export function b(n: number): string { return n <= 0 ? 'b' : a(n - 1) }\n",
        }
    )
    assert runtime.eval("require('./a').a(3)") == "b"
    # b ran while a was half loaded: a's later exports were not there yet (a live
    # binding read at that time), as in webpack's output.
    assert runtime.eval("require('./b').seenEarly") == "undefined"


# -- TypeScript ------------------------------------------------------------------------

TS_FORMS = """\
declare const wxMissing: unknown
interface Options { port: number; address?: string }
type Pair<T> = [T, T]
export enum Color { Red, Green = 'green' }
const enum Flag { On = 1 }
abstract class Base<T> {
  protected abstract value(): T
  get doubled(): Pair<T> { return [this.value(), this.value()] }
}
export class Point extends Base<number> implements Options {
  static made: number = 0
  readonly kind = 'point' as const
  address?: string
  private cache!: Map<string, number>
  #secret = 7
  constructor(public port: number, private readonly scale: number = 2) {
    super()
    Point.made++
  }
  protected value(): number { return this.port * this.scale }
  reveal(): number { return this.#secret }
}
export function first<T extends object>(items: T[]): T | undefined { return items[0] }
const p = new Point(3)
const opts = { port: 1 } satisfies Options
const n = (opts as Options).port!
export const out = [p.doubled, p.kind, p.reveal(), Point.made, Color.Red, Color[0],
  Color.Green, Flag.On, n, first<Options>([opts])!.port, p.port]
"""


def test_typescript_forms_load_with_their_types_removed(project: Project) -> None:
    runtime = project({"forms.ts": TS_FORMS})
    out = runtime.require("forms")["out"]
    assert out == [[6, 6], "point", 7, 1, 0, "Red", "green", 1, 1, 1, 3]


def test_async_methods_and_optional_chaining_in_typescript(project: Project) -> None:
    runtime = project(
        {
            "svc.ts": "export class Svc {\n  private log: string[] = []\n"
            "  async step(x?: { v?: number }): Promise<number> {\n"
            "    await null\n    this.log.push('step')\n    return x?.v ?? -1\n  }\n}\n",
        }
    )
    runtime.eval(
        "globalThis.res = []; const { Svc } = require('./svc'); const s = new Svc();"
        "s.step({ v: 5 }).then((v) => res.push(v)); s.step().then((v) => res.push(v))"
    )
    assert runtime.eval("res") == [5, -1]


def test_a_stack_trace_names_the_ts_files_own_line(project: Project) -> None:
    runtime = project(
        {
            "thrower.ts": "interface Reply {\n  ok: boolean\n}\n"
            "export function fail(reply: Reply): never {\n"
            "  const why: string = reply.ok ? 'ok' : 'not ok'\n"
            "  throw new Error(`device said ${why}`)\n}\n",
        }
    )
    with pytest.raises(JSError, match="device said not ok") as caught:
        runtime.eval("require('./thrower').fail({ ok: false })")
    first_frame = caught.value.stack.splitlines()[0].strip()
    # The `throw` is on line 6 of the .ts file, whatever the types took (the transform
    # keeps lines, not columns).
    assert first_frame.startswith("at fail (thrower.ts:6:"), caught.value.stack


def test_a_typescript_syntax_error_names_file_line_and_column(project: Project) -> None:
    runtime = project({"src/bad.ts": "const ok = 1\nlet broken: = 2\n"})
    with pytest.raises(JSError) as caught:
        runtime.require("src/bad")
    assert type(caught.value).__name__ == "SyntaxError"
    assert "src/bad.ts:2:13" in str(caught.value)
    # The runtime goes on, and a fixed file is not shadowed by the failed one.
    (_root(runtime) / "src/bad.ts").write_text("export const ok = 1\n")
    assert runtime.require("src/bad") == {"ok": 1}


def test_a_file_too_big_to_transform_is_a_range_error_and_the_next_one_loads(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taro_udp.js import _transform

    monkeypatch.setattr(_transform, "_MEMORY_LIMIT", 8 * 1024 * 1024)
    _transform.clear_cache(engine=True)
    runtime = project(
        {
            "huge.ts": "export const a: number[] = [" + "1," * 400_000 + "]\n",
            "small.ts": "export const b: number = 2\n",
        }
    )
    with pytest.raises(JSError, match=r"huge\.ts: too big to transform") as caught:
        runtime.require("huge")
    assert type(caught.value).__name__ == "RangeError"
    assert runtime.require("small") == {"b": 2}
    _transform.clear_cache(engine=True)  # the next test's sucrase has the usual limit


def test_deeply_nested_code_on_a_small_stack_thread_is_a_range_error_not_a_crash(
    tmp_path: Path,
) -> None:
    # In a child process: a crash (QuickJS overrunning a 512 KiB thread stack, as sucrase
    # did when it ran on the caller's thread) must fail this test, not end the session.
    _project(tmp_path, {"deep.ts": "export const a = " + "(" * 20000 + "1" + ")" * 20000 + "\n"})
    child = f"""
import threading
from taro_udp.js import JSRuntime, JSError
threading.stack_size(512 * 1024)
out = []
def work():
    with JSRuntime({str(tmp_path)!r}) as runtime:
        try:
            runtime.require("deep")
        except JSError as exc:
            out.append(type(exc).__name__ + ": " + str(exc))
thread = threading.Thread(target=work)
thread.start()
thread.join()
print(out[0])
"""
    done = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("RangeError: deep.ts: cannot be transformed (")


def test_open_page_loads_a_typescript_page(project: Project) -> None:
    runtime = project(
        {
            "pages/index/index.ts": "import { label } from '../../utils/label'\n"
            "interface Data { title: string }\n"
            "Page({\n  data: { title: '' } as Data,\n"
            "  onLoad(query: Record<string, string>) {\n"
            "    this.setData({ title: label(query.id) })\n  },\n"
            "})\n",
            "utils/label.ts": "export const label = (id: string): string => `device ${id}`\n",
        }
    )
    page = runtime.open_page("pages/index/index?id=7")
    assert page.data == {"title": "device 7"}


def test_launch_runs_an_app_ts(project: Project) -> None:
    runtime = project(
        {
            "app.ts": "import { version } from './config'\n"
            "interface Globals { version: string }\n"
            "App({ globalData: {} as Globals,\n"
            "  onLaunch() { this.globalData.version = version } })\n",
            "config.ts": "export const version: string = '1.2'\n",
        }
    )
    runtime.launch()
    assert runtime.eval("getApp().globalData.version") == "1.2"


def test_launch_without_an_app_file_does_nothing(project: Project) -> None:
    runtime = project({"pages/a/a.ts": "Page({})\n"})
    runtime.launch()
    assert runtime.eval("getApp()") is None


def test_runtime_require_returns_an_es_modules_namespace(project: Project) -> None:
    runtime = project(
        {
            "src/utils/udp.ts": "export enum Mode { Fast = 'fast' }\n"
            "export const DEFAULTS: { port: number } = { port: 8848 }\n"
            "export function checksum(bytes: number[]): number {\n"
            "  return bytes.reduce((a, b) => (a + b) & 0xff, 0)\n}\n"
            "export default { name: 'udp' }\n"
        }
    )
    namespace = runtime.require("src/utils/udp")
    checksum = namespace.pop("checksum")
    assert namespace == {
        "Mode": {"Fast": "fast"},
        "DEFAULTS": {"port": 8848},
        "default": {"name": "udp"},
    }
    assert checksum([200, 100, 1]) == 45  # a function crosses as a callable handle


# -- resolution ------------------------------------------------------------------------


def test_extensionless_and_folder_requests_resolve_as_webpack_does(project: Project) -> None:
    runtime = project(
        {
            "config/index.ts": "export const from = 'config/index.ts'\n",
            "both.ts": "export const from = 'both.ts'\n",
            "both.js": "exports.from = 'both.js'\n",
            "exact": "exports.from = 'exact (no extension)'\n",
            "exact.ts": "export const from = 'exact.ts'\n",
            "data.json": '{"from": "data.json"}',
            "lib/package.json": '{"main": "entry"}',
            "lib/entry.js": "exports.from = 'lib/entry.js'\n",
            "main.ts": "import * as c from './config'\n"
            "import * as c2 from '../project/config/index'\n"
            "import * as b from './both'\nimport * as e from './exact'\n"
            "import d from './data.json'\nimport * as l from './lib'\n"
            "export const out = [c.from, c2.from, b.from, e.from, d.from, l.from]\n",
        }
    )
    with pytest.raises(JSError, match="outside the project root"):
        runtime.require("main")  # '../project/...' leaves the root, even to come back
    main = _root(runtime) / "main.ts"
    main.write_text(main.read_text().replace("../project/config/index", "./config/index"))
    assert runtime.require("main")["out"] == [
        "config/index.ts",
        "config/index.ts",
        "both.ts",
        "exact (no extension)",
        "data.json",
        "lib/entry.js",
    ]


def test_one_file_reached_by_two_names_is_one_module(project: Project) -> None:
    runtime = project({"counter.ts": "globalThis.loads = (globalThis.loads || 0) + 1\nexport {}\n"})
    os.symlink("counter.ts", _root(runtime) / "alias.ts")
    runtime.eval("require('./counter'); require('./counter.ts'); require('/alias')")
    assert runtime.eval("loads") == 1


def test_a_link_out_of_the_root_is_refused(project: Project, tmp_path: Path) -> None:
    outside = tmp_path / "secret.js"
    outside.write_text("module.exports = 'secret'\n")
    runtime = project({"main.js": "module.exports = require('./leak')\n"})
    os.symlink(outside, _root(runtime) / "leak.js")
    with pytest.raises(JSError, match="outside the project root"):
        runtime.eval("require('./main')")


def test_package_fields_miniprogram_first_then_module_then_main(project: Project) -> None:
    runtime = project(
        {
            "node_modules/all/package.json": '{"miniprogram": "mp_dist", "module": "esm.js",'
            ' "main": "cjs.js"}',
            "node_modules/all/mp_dist/index.js": "exports.from = 'miniprogram'\n",
            "node_modules/all/mp_dist/util.js": "exports.from = 'miniprogram subpath'\n",
            "node_modules/all/util.js": "exports.from = 'package root subpath'\n",
            "node_modules/all/esm.js": "export const from = 'module'\n",
            "node_modules/all/cjs.js": "exports.from = 'main'\n",
            "node_modules/two/package.json": '{"module": "esm.js", "main": "cjs.js"}',
            "node_modules/two/esm.js": "export const from = 'module'\n",
            "node_modules/two/cjs.js": "exports.from = 'main'\n",
            "node_modules/one/package.json": '{"main": "lib/cjs"}',
            "node_modules/one/lib/cjs.js": "exports.from = 'main'\n",
            "node_modules/bare/index.js": "exports.from = 'index'\n",
        }
    )
    assert runtime.eval(
        "['all', 'all/util', 'two', 'one', 'bare'].map((n) => require(n).from)"
    ) == ["miniprogram", "miniprogram subpath", "module", "main", "index"]


def test_packages_are_found_in_miniprogram_npm_then_node_modules_walking_up(
    project: Project,
) -> None:
    runtime = project(
        {
            "miniprogram_npm/dup/index.js": "exports.from = 'miniprogram_npm'\n",
            "node_modules/dup/index.js": "exports.from = 'node_modules'\n",
            "node_modules/up/index.js": "exports.from = 'root node_modules'\n",
            "pages/a/node_modules/up/index.js": "exports.from = 'nearest node_modules'\n",
            "node_modules/@scope/pkg/package.json": '{"main": "dist/main.js"}',
            "node_modules/@scope/pkg/dist/main.js": "exports.from = 'scoped'\n",
            "node_modules/@scope/pkg/extra/sub.ts": "export const from = 'scoped subpath'\n",
            "pages/a/a.js": "module.exports = ['dup', 'up', '@scope/pkg', '@scope/pkg/extra/sub']"
            ".map((n) => require(n).from)\n",
            "pages/b/b.js": "module.exports = require('up').from\n",
        }
    )
    assert runtime.eval("require('/pages/a/a')") == [
        "miniprogram_npm",
        "nearest node_modules",
        "scoped",
        "scoped subpath",
    ]
    assert runtime.eval("require('/pages/b/b')") == "root node_modules"


def test_a_bare_request_tries_the_folder_then_packages_then_the_root(project: Project) -> None:
    runtime = project(
        {
            # WeChat's (and 0.2.0's) `require('utils/x')` from pages/p: pages/p/utils/x.
            "pages/p/utils/x.js": "exports.from = 'beside the page'\n",
            "utils/x.js": "exports.from = 'root'\n",
            "utils/y.ts": "export const from = 'root (baseUrl)'\n",
            "pages/p/p.ts": "import { from as x } from 'utils/x'\n"
            "import { from as y } from 'utils/y'\n"
            "export const out = [x, y]\n",
        }
    )
    assert runtime.require("pages/p/p")["out"] == ["beside the page", "root (baseUrl)"]
    with pytest.raises(JSError, match="Cannot find module 'nowhere' from '/'"):
        runtime.eval("require('nowhere')")


def test_a_tsconfig_alias_resolves_as_taros_webpack_alias(project: Project) -> None:
    runtime = project(
        {
            "tsconfig.json": '{"compilerOptions": {"baseUrl": ".", "paths": {"@/*": ["src/*"]}}}',
            "src/utils/crc.ts": "export const crc = (s: string): number => s.length\n",
            "src/pages/index/index.ts": "import { crc } from '@/utils/crc'\n"
            "Page({ data: { n: crc('abc') } })\n",
        }
    )
    assert runtime.open_page("src/pages/index/index").data == {"n": 3}


# -- @tarojs/taro ----------------------------------------------------------------------


def test_tarojs_taro_is_the_runtimes_own_taro_even_with_one_installed(project: Project) -> None:
    runtime = project(
        {
            "node_modules/@tarojs/taro/package.json": '{"main": "index.js"}',
            "node_modules/@tarojs/taro/index.js": "throw new Error('the real package ran')\n",
            "main.ts": "import Taro, { createUDPSocket, getEnv, setStorageSync }"
            " from '@tarojs/taro'\n"
            "import * as ns from '@tarojs/taro'\n"
            "setStorageSync('k', 1)\n"
            "export const out = [Taro === globalThis.Taro, typeof createUDPSocket,"
            " ns.default === Taro, getEnv(), Taro.getStorageSync('k'),"
            " typeof Taro.createUDPSocket().bind]\n",
        }
    )
    assert runtime.require("main")["out"] == [True, "function", True, "WEAPP", 1, "function"]


def test_tarojs_taro_named_imports_see_stubs_made_later(project: Project) -> None:
    runtime = project(
        {
            "api.ts": "import { request } from '@tarojs/taro'\n"
            "export const ask = (url: string) => request({ url })\n",
        }
    )
    runtime.eval("globalThis.api = require('./api')")
    runtime.stub("request", lambda option: {"data": option["url"]})
    runtime.eval("api.ask('http://localhost/x').then((r) => { globalThis.got = r.data })")
    assert runtime.eval("got") == "http://localhost/x"


def test_taro_get_current_instance_gives_the_open_pages_router(project: Project) -> None:
    runtime = project(
        {
            "pages/dev/dev.ts": "import Taro, { getCurrentInstance } from '@tarojs/taro'\n"
            "Page({ data: { id: '' }, onLoad() {\n"
            "  const { router } = getCurrentInstance()\n"
            "  this.setData({ id: router!.params.id, same: Taro.getCurrentInstance().page === this,"
            " path: router!.path })\n} })\n",
        }
    )
    page = runtime.open_page("pages/dev/dev?id=42")
    assert page.data == {"id": "42", "same": True, "path": "/pages/dev/dev"}


# -- the transform's cost --------------------------------------------------------------


def test_a_runtime_that_loads_no_module_syntax_never_makes_the_transform(project: Project) -> None:
    from taro_udp.js import _transform

    _transform.clear_cache(engine=True)
    runtime = project(
        {"plain.js": "// import and export in a comment do not count\nmodule.exports = 1\n"}
    )
    assert runtime.eval("require('./plain')") == 1
    assert _transform._engine is None


def test_each_distinct_file_is_transformed_once_per_process(
    tmp_path: Path, js_runtime: JSRuntimeFactory
) -> None:
    from taro_udp.js import _transform

    root = _project(tmp_path / "p", {"m.ts": f"export const token: string = '{tmp_path}'\n"})
    before = dict(_transform.stats)
    for _ in range(3):
        runtime = js_runtime(root)
        assert runtime.require("m") == {"token": str(tmp_path)}
        runtime.close()
    assert _transform.stats["transforms"] - before["transforms"] == 1
    assert _transform.stats["hits"] - before["hits"] == 2


def test_a_new_process_takes_a_transformed_file_from_the_disk_cache(
    tmp_path: Path, js_runtime: JSRuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taro_udp.js import _transform

    monkeypatch.setenv("TARO_UDP_TRANSFORM_CACHE", str(tmp_path / "cache"))
    root = _project(tmp_path / "p", {"m.ts": f"export const where: string = '{tmp_path}'\n"})
    assert js_runtime(root).require("m") == {"where": str(tmp_path)}
    [entry] = (tmp_path / "cache").glob("*/*.ts.js")
    # As a new process would start: nothing in memory, no sucrase context.
    _transform.clear_cache(engine=True)
    before = dict(_transform.stats)
    assert js_runtime(root).require("m") == {"where": str(tmp_path)}
    assert _transform.stats["disk_hits"] - before["disk_hits"] == 1
    assert _transform.stats["transforms"] == before["transforms"]
    assert _transform._engine is None
    assert "exports.where = where" in entry.read_text()


def test_an_unwritable_disk_cache_only_costs_time(
    tmp_path: Path, js_runtime: JSRuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("TARO_UDP_TRANSFORM_CACHE", str(blocker))
    root = _project(tmp_path / "p", {"m.ts": f"export const n: number = {len(str(tmp_path))}\n"})
    assert js_runtime(root).require("m") == {"n": len(str(tmp_path))}
    assert blocker.read_text() == ""


def test_commonjs_lines_that_start_with_exports_stay_sloppy_mode(project: Project) -> None:
    # `exports.x =` and `important` are not ES module syntax: no transform, no strict
    # mode (an assignment to an undeclared name would throw in strict mode).
    runtime = project({"legacy.js": "exports.a = 1\nimportant = 2\nexports.b = typeof this\n"})
    assert runtime.eval("[require('./legacy').a, important, require('./legacy').b]") == [
        1,
        2,
        "object",
    ]


def test_taro_udp_run_runs_a_typescript_file(tmp_path: Path) -> None:
    _project(
        tmp_path,
        {
            "main.ts": "import { greet } from './lib'\nconst n: number = 2\n"
            "console.log(greet('ts'), n)\nnull.y\n",
            "lib.ts": "export const greet = (who: string): string => 'hello ' + who\n",
        },
    )
    done = subprocess.run(
        [sys.executable, "-m", "taro_udp", "run", str(tmp_path / "main.ts")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout == "hello ts 2\n"
    assert done.returncode == 1
    assert "(main.ts:4:" in done.stderr  # the error's own line in the .ts file
