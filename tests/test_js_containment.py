"""taro_udp.js: nothing a script does reaches the host (issue 15, item 3).

Regression tests of ``shared/repros/js`` 02, 03, 05, 09, 10, 12, 13 and 15: each fails
on 0.2.0. What could crash or wedge the process (deep recursion on a small stack, a
watchdog switched off, no fd left) runs in a child with a timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

if sys.version_info < (3, 10):  # pragma: no cover
    pytest.skip("taro_udp.js needs Python 3.10+ (quickjs-ng)", allow_module_level=True)
pytest.importorskip("quickjs", reason="taro_udp.js needs the quickjs-ng package")

from taro_udp.js import JSError, JSRuntime
from taro_udp.js.plugin import JSRuntimeFactory
from taro_udp.testing import SimulatedNetwork

from ._helpers import WAIT
from .test_faults import FILL_FD_TABLE, PRELOAD_LIBGCC


def _child(code: str, *args: str, shell: str = "") -> Dict[str, Any]:
    """Run ``code`` in a child Python; return the JSON it printed after ``RESULT ``."""
    command = [sys.executable, "-c", code, *args]
    if shell:  # e.g. "ulimit -s 1024": the child runs under that shell setting
        command = ["sh", "-c", f'{shell}; exec "$0" "$@"', *command]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=WAIT * 3)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the child printed no result (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
    result: Dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


# -- deep recursion (repro 09) ------------------------------------------------------------

RECURSION = r"""
import json, sys, threading
kib = int(sys.argv[1])
if kib:
    threading.stack_size(kib * 1024)
from taro_udp.js import JSRuntime
rt = JSRuntime()
rt.stub("peekSync", lambda: rt.eval("[1, 2, 3].map((x) => x + 1)"))
result = {
    "plain": rt.eval("function f(n) { return n === 0 ? 0 : f(n - 1) + 1 }"
                     " let r; try { r = f(1e6) } catch (e) { r = String(e) } r"),
    # A nested entry at every 50th level: it must not get a new stack budget below the
    # outer one's (past the real end of the stack).
    "nested": rt.eval("function g(n) { if (n % 50 === 0) wx.peekSync();"
                      " return n === 0 ? 0 : g(n - 1) + 1 }"
                      " let q; try { q = g(1e6) } catch (e) { q = String(e) } q"),
    "after": rt.eval("1 + 1"),
}
rt.close()
print("RESULT " + json.dumps(result), flush=True)
"""

OVERFLOW = "RangeError: Maximum call stack size exceeded"


@pytest.mark.parametrize(
    ("kib", "shell"),
    [(512, ""), (1024, ""), (0, "ulimit -s 1024")],
    ids=["stack_size-512KiB", "stack_size-1MiB", "ulimit-s-1024"],
)
def test_deep_recursion_is_a_RangeError_on_a_small_thread_stack(kib: int, shell: str) -> None:
    # 0.2.0: the process died of SIGSEGV (the child printed nothing).
    result = _child(RECURSION, str(kib), shell=shell)
    assert result == {"plain": OVERFLOW, "nested": OVERFLOW, "after": 2}


# -- the watchdog survives nesting (repro 02) ---------------------------------------------

NESTED_WATCHDOG = r"""
import json, sys, threading
from taro_udp.js import JSRuntime
holder = {}
case = sys.argv[1]
hook = (lambda line: holder["rt"].eval("1")) if case == "on_console" else None
rt = holder["rt"] = JSRuntime(script_timeout=0.3, on_console=hook)
rt.stub("peekSync", lambda: rt.eval("1"))
source = {"on_console": "console.log('hi'); while (true) {}",
          "stub": "wx.peekSync(); while (true) {}"}[case]
out = {}
def go():
    try:
        rt.eval(source)
    except BaseException as exc:
        out["error"] = type(exc).__name__ + ": " + str(exc)
thread = threading.Thread(target=go, daemon=True)
thread.start()
thread.join(5)
out["hung"] = thread.is_alive()
print("RESULT " + json.dumps(out), flush=True)
import os; os._exit(0)
"""


@pytest.mark.parametrize("case", ["on_console", "stub"])
def test_a_nested_entry_into_js_keeps_the_outer_watchdog(case: str) -> None:
    # 0.2.0: the nested entry reset the deadline to "never": the loop spun forever.
    result = _child(NESTED_WATCHDOG, case)
    assert result["hung"] is False
    assert result["error"].startswith("InternalError: interrupted"), result


# -- no fd left (repro 13) ----------------------------------------------------------------

NO_FD = (
    PRELOAD_LIBGCC
    + r"""
import json, os, resource, time, logging
logging.disable(logging.CRITICAL)
import asyncio, quickjs, taro_udp, taro_udp._eventloop, taro_udp.js, taro_udp.js._runtime
"""
    + FILL_FD_TABLE
    + r"""
from taro_udp.js import JSRuntime
started = time.monotonic()
out = {}
try:
    JSRuntime(timeout=20)
except BaseException as exc:
    out["error"] = [type(exc).__name__, str(exc)]
out["seconds"] = time.monotonic() - started
print("RESULT " + json.dumps(out), flush=True)
"""
)


def test_JSRuntime_with_no_fd_left_fails_at_once_naming_the_cause() -> None:
    pytest.importorskip("resource")
    # 0.2.0: TimeoutError after the whole timeout, for work dropped at once.
    result = _child(NO_FD)
    assert result["error"][0] == "OSError", result
    assert "Too many open files" in result["error"][1]
    assert result["seconds"] < 5


# -- require stays inside the root (repro 03) ---------------------------------------------


@pytest.fixture
def project_with_links(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "id_rsa"
    secret.parent.mkdir()
    secret.write_text("module.exports = 'TOP-SECRET'\n", encoding="utf-8")
    root = tmp_path / "project"
    root.mkdir()
    os.symlink(os.path.join("..", "outside"), root / "assets")  # a folder link
    os.symlink(secret, root / "config.js")  # a file link
    (root / "inside.js").write_text("module.exports = 'inside'\n", encoding="utf-8")
    os.symlink(root / "inside.js", root / "alias.js")  # a link that stays inside
    return root


@pytest.mark.parametrize("path", ["./config", "./assets/id_rsa"])
def test_require_refuses_a_link_whose_real_path_is_outside_the_root(
    js_runtime: JSRuntimeFactory, project_with_links: Path, path: str
) -> None:
    runtime = js_runtime(project_with_links)
    with pytest.raises(JSError) as info:
        runtime.require(path)
    assert "TOP-SECRET" not in str(info.value)
    assert "outside the project root" in str(info.value) or "Cannot find module" in str(info.value)


def test_a_link_inside_the_root_is_the_module_it_points_to(
    js_runtime: JSRuntimeFactory, project_with_links: Path
) -> None:
    runtime = js_runtime(project_with_links)
    assert runtime.eval("[require('./alias'), require('./alias') === require('./inside')]") == [
        "inside",
        True,
    ]


# -- setData paths (repro 15) -------------------------------------------------------------


@pytest.mark.parametrize("name", ["__proto__", "constructor", "prototype"])
def test_a_setData_path_through_a_special_key_sets_own_properties_only(
    js_runtime: JSRuntimeFactory, tmp_path: Path, name: str
) -> None:
    page_dir = tmp_path / "pages" / "d"
    page_dir.mkdir(parents=True)
    (page_dir / "d.js").write_text(
        "Page({ data: { devices: {} },"
        " onDevice(e) { this.setData({ ['devices.' + e.name + '.state']: 'pwned' }) },"
        " probe() { return [typeof ({}).state, typeof Object.prototype.state,"
        "                   typeof ({}).constructor.state] } })\n",
        encoding="utf-8",
    )
    runtime = js_runtime(tmp_path)
    page = runtime.open_page("pages/d/d")
    page.call("onDevice", {"name": name})
    assert page.call("probe") == ["undefined", "undefined", "undefined"]
    assert page.data == {"devices": {name: {"state": "pwned"}}}


# -- constructor arguments (repro 12) -----------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"script_timeout": float("nan")}, ValueError, "script_timeout"),
        ({"script_timeout": 0}, ValueError, "script_timeout"),
        ({"script_timeout": -1.0}, ValueError, "script_timeout"),
        ({"script_timeout": float("inf")}, ValueError, "script_timeout"),
        ({"script_timeout": "5"}, TypeError, "script_timeout"),
        ({"script_timeout": True}, TypeError, "script_timeout"),
        ({"timeout": float("nan")}, ValueError, "timeout"),
        ({"memory_limit": 0}, ValueError, "memory_limit"),
        ({"memory_limit": -5}, ValueError, "memory_limit"),
        ({"memory_limit": 1.5}, TypeError, "memory_limit"),
        ({"console_limit": -1}, ValueError, "console_limit"),
        ({"on_console": "print"}, TypeError, "on_console"),
    ],
)
def test_JSRuntime_rejects_a_bad_argument_naming_it(
    options: Dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        JSRuntime(**options).close()


def test_JSRuntime_rejects_a_root_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such folder"):
        JSRuntime(tmp_path / "miniprogram")
    (tmp_path / "file.js").write_text("", encoding="utf-8")
    with pytest.raises(NotADirectoryError):
        JSRuntime(tmp_path / "file.js")


def test_the_fixture_resolves_a_relative_root_against_the_rootdir_not_the_cwd(
    js_runtime: JSRuntimeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a test run from another folder
    runtime = js_runtime("examples/js/discovery")
    assert runtime.root == Path(__file__).resolve().parent.parent / "examples/js/discovery"


# -- console history (repro 05) -----------------------------------------------------------


def test_the_console_history_keeps_the_last_lines_only(js_runtime: JSRuntimeFactory) -> None:
    seen: List[str] = []
    runtime = js_runtime(console_limit=50, on_console=lambda line: seen.append(line.text))
    runtime.eval("for (let i = 0; i < 500; i++) console.log('line ' + i)")
    assert len(seen) == 500  # the hook sees every line
    assert runtime.console_text() == [f"line {i}" for i in range(450, 500)]


def test_the_console_history_is_bounded_in_text_too(js_runtime: JSRuntimeFactory) -> None:
    runtime = js_runtime()
    runtime.eval("const big = 'x'.repeat(100000); for (let i = 0; i < 30; i++) console.log(big)")
    kept = runtime.console_text()
    assert 0 < len(kept) < 30
    assert sum(map(len, kept)) <= 1 << 20


# -- a closed socket's listeners (repro 10) -----------------------------------------------


def test_a_closed_sockets_listeners_are_released_on_both_sides(
    simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory
) -> None:
    runtime = js_runtime(memory_limit=16 * 1024 * 1024)
    runtime.eval(
        """
        globalThis.round = function (n) {
          for (let i = 0; i < n; i++) {
            const s = wx.createUDPSocket()
            const state = new Array(64).fill(i)
            s.onMessage((res) => { state.push(res) })
            s.onError(() => {})
            s.onClose(() => {})
            s.close()
          }
        }
        """
    )
    heaps = []
    for _ in range(6):  # 0.2.0: about 2 MB more per 1,000 sockets, out of memory at 7,757
        runtime.eval("round(1000)")
        runtime.run_until(lambda: not runtime._bridge.sockets, timeout=WAIT)
        heaps.append(runtime.memory()["malloc_size"])
    bridge = runtime._bridge
    assert [key for key in bridge._listeners if key[1] != "error"] == []
    assert max(heaps[2:]) < 3 * 1024 * 1024, heaps


def test_offClose_with_no_argument_keeps_the_runtimes_own_hook(
    simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory
) -> None:
    runtime = js_runtime()
    runtime.eval(
        "for (let i = 0; i < 20; i++) { const s = wx.createUDPSocket(); s.offClose(); s.close() }"
    )
    # 0.2.0: offClose() removed the bridge's hook; the 20 sockets stayed in it forever.
    runtime.run_until(lambda: not runtime._bridge.sockets, timeout=WAIT)
    assert runtime._bridge.sockets == {}
