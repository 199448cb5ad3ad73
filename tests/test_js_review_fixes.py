"""taro_udp.js: the defects a review of issue 15 reproduced (r01-r18), each fixed.

Each test fails on the first implementation of issue 15 (main before fix-15) and names
its finding. What could crash the process (nested entries past the real end of the
stack) runs in a child with a timeout.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, List

import pytest

if sys.version_info < (3, 10):  # pragma: no cover
    pytest.skip("taro_udp.js needs Python 3.10+ (quickjs-ng)", allow_module_level=True)
pytest.importorskip("quickjs", reason="taro_udp.js needs the quickjs-ng package")

from taro_udp.js import JSError, JSPromise, JSRuntime, RunawayScriptError, _errors
from taro_udp.js.plugin import JSRuntimeFactory
from taro_udp.testing import SimulatedNetwork

from ._helpers import WAIT
from .test_js_containment import _child


@pytest.fixture
def runtime(simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory) -> JSRuntime:
    """A runtime whose sockets live on the simulated network."""
    return js_runtime(script_timeout=5)


# -- r02: nested entries never pass the thread's stack budget ------------------------------

STUB_RECURSION = r"""
import json, sys
sys.setrecursionlimit(100000)  # Python's own limit out of the way: only the C stack is left
from taro_udp.js import JSRuntime
rt = JSRuntime(script_timeout=20)
rt.stub("again", lambda fn: fn(), sync=True)
result = rt.eval("function f() { return wx.again(f) }"
                 " let r; try { f() } catch (e) { r = String(e) } r")
after = rt.eval("1 + 1")
rt.close()
print("RESULT " + json.dumps({"result": result, "after": after}), flush=True)
"""

CROSS_RUNTIME = r"""
import json, threading
threading.stack_size(1 << 20)
from taro_udp.js import JSRuntime
a = JSRuntime(script_timeout=20)
b = JSRuntime(script_timeout=20)
g = b.eval("[function g() { return g() }]")[0]
def call_b():
    try:
        g()
    except Exception as exc:
        return type(exc).__name__ + ": " + str(exc)
a.stub("callB", call_b, sync=True)
# A is at its stack limit when it calls B: B must not get a fresh budget from there.
result = a.eval("function f(n) { try { return f(n + 1) } catch (e) { return wx.callB() } } [f(0)]")
a.close()
b.close()
print("RESULT " + json.dumps({"b": result}), flush=True)
"""


def test_r02_stub_recursion_through_python_is_a_RangeError_not_a_crash() -> None:
    # Before: the limit moved 32 KiB deeper per nested entry once < 64 KiB was left: SIGSEGV.
    assert _child(STUB_RECURSION) == {
        "result": "RangeError: Maximum call stack size exceeded",
        "after": 2,
    }


def test_r02_a_second_runtime_entered_from_the_first_shares_its_stack_budget() -> None:
    # Before: B's engine (depth 0) took a whole new budget below A's limit: SIGSEGV.
    assert _child(CROSS_RUNTIME) == {"b": ["RangeError: Maximum call stack size exceeded"]}


# -- r01, r03, r05: unhandled rejections ---------------------------------------------------


def test_r01_an_unhandled_rejection_is_kept_when_its_address_is_reused(runtime: JSRuntime) -> None:
    runtime.eval(
        """
        function notify() { Promise.reject(new Error('device unreachable')) }  // no .catch
        notify()
        function probe(i) {
          const p = Promise.reject(new Error('no reply ' + i)); p.catch(() => {})
        }
        for (let i = 0; i < 3; i++) probe(i)
        1
        """
    )
    assert [str(error) for error in runtime.errors] == ["device unreachable"]
    runtime.errors.clear()


def test_r03_a_nested_entry_runs_no_promise_job_mid_script(runtime: JSRuntime) -> None:
    runtime.stub("getNow", lambda cb: cb("now"), sync=True)
    order = runtime.eval(
        """
        var order = []
        Promise.resolve().then(() => order.push('microtask'))
        wx.getNow((v) => order.push('callback ' + v))
        order.push('sync code after the call')
        order
        """
    )
    assert order == ["callback now", "sync code after the call", "microtask"]
    runtime.eval(
        """
        const p = Promise.reject(new Error('handled two lines later'))
        wx.getNow(() => {})
        p.catch(() => {})
        1
        """
    )
    assert runtime.errors == []


def test_r05_a_rejected_promise_python_awaits_is_not_uncaught(tmp_path: Path) -> None:
    (tmp_path / "page.js").write_text(
        "Page({ async save() { throw new Error('no device') } })\n", encoding="utf-8"
    )
    rt = JSRuntime(tmp_path, script_timeout=5)
    try:
        promise = rt.open_page("page").call("save")
        assert isinstance(promise, JSPromise)
        with pytest.raises(JSError, match="no device"):
            promise.result(timeout=WAIT)
        assert rt.errors == []
    finally:
        rt.close()
    assert rt.errors == []


def test_r05_a_rejected_promise_python_never_awaits_is_reported_at_close(tmp_path: Path) -> None:
    (tmp_path / "page.js").write_text(
        "Page({ async save() { throw new Error('no device') },"
        " handled() { const p = Promise.reject(new Error('js caught it')); p.catch(() => {});"
        " return p } })\n",
        encoding="utf-8",
    )
    rt = JSRuntime(tmp_path, script_timeout=5)
    page = rt.open_page("page")
    kept: List[Any] = [page.call("save"), page.call("handled")]  # neither is awaited
    assert rt.errors == []  # Python may still await them
    rt.close()
    assert [str(error) for error in rt.errors] == ["no device"]
    del kept


# -- r04, r06: what counts as uncaught ------------------------------------------------------


def test_r04_an_error_a_script_catches_under_eval_is_not_recorded(runtime: JSRuntime) -> None:
    runtime.stub("forEachDevice", lambda cb: cb({"id": 1}), sync=True)
    caught = runtime.eval(
        """
        var caught = null
        try { wx.forEachDevice((d) => { throw new Error('bad device ' + d.id) }) }
        catch (e) { caught = e.message }
        caught
        """
    )
    assert caught == "bad device 1"
    assert runtime.errors == []


def test_r06_errors_clear_also_forgets_the_dropped_count(
    simulated_network: SimulatedNetwork,
) -> None:
    factory = JSRuntimeFactory()
    rt = factory(script_timeout=5)
    rt.eval("for (let i = 0; i < 150; i++) setTimeout(() => { throw new Error('bad ' + i) }); 1")
    rt.run_until(lambda: rt.errors_dropped == 50, timeout=WAIT)
    assert len(rt.errors) == 100
    rt.errors.clear()  # the test expected them
    assert rt.errors_dropped == 0
    assert factory.close_all() == []


# -- r07, r08, r09, r16-: what an error says -------------------------------------------------


def test_r07_out_of_memory_is_an_InternalError_naming_memory_limit(tmp_path: Path) -> None:
    bomb = "(function () { var a = []; for (;;) a.push({ x: [1, 2, 3] }) })()"
    (tmp_path / "p.js").write_text(f"Page({{ grow() {{ {bomb} }} }})\n", encoding="utf-8")
    limit = r"out of memory.*memory_limit \(16777216 bytes\)"
    with JSRuntime(tmp_path, memory_limit=16 << 20, script_timeout=10) as rt:
        with pytest.raises(JSError, match=limit) as info:
            rt.eval(bomb)
        assert info.value.name == "InternalError"
        page = rt.open_page("p")
        with pytest.raises(JSError) as info:
            page.call("grow")
        assert info.value.report.startswith("Uncaught InternalError: out of memory")
        assert rt.eval("1 + 1") == 2  # the runtime goes on


def test_r07_a_memory_limit_too_small_to_start_is_a_ValueError() -> None:
    with pytest.raises(ValueError, match=r"memory_limit=65536 bytes is too small"):
        JSRuntime(memory_limit=65536)


def test_r08_a_runaway_scripts_stack_has_no_runtime_frames(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text("function spin() {\n  for (;;) {}\n}\nspin();\n")
    with JSRuntime(tmp_path, script_timeout=0.3) as rt, pytest.raises(RunawayScriptError) as info:
        rt.require("./app")
    stack = info.value.stack
    assert "at spin (app.js:" in stack
    assert "prelude" not in stack
    assert "(native)" not in stack.splitlines()[-1]


def test_r09_line_one_columns_are_the_files_own_and_a_hashbang_line_is_allowed(
    tmp_path: Path,
) -> None:
    # column 25 is `Error` in `new Error(...)`
    (tmp_path / "app.js").write_text('function f(){ throw new Error("one-line") } f()\n')
    (tmp_path / "tool.js").write_text("#!/usr/bin/env node\nmodule.exports = 'ran'\n")
    with JSRuntime(tmp_path, script_timeout=5) as rt:
        with pytest.raises(JSError) as info:
            rt.require("./app")
        assert info.value.stack.splitlines()[0].strip() == "at f (app.js:1:25)"
        assert rt.require("./tool") == "ran"


def test_r16_an_error_thrown_out_of_eval_keeps_its_whole_message(runtime: JSRuntime) -> None:
    runtime.eval("globalThis.fail = (m) => { throw new TypeError(m) }; 1")
    for message, source in (
        ("device said: a\0b and more", 'fail("device said: a\\0b and more")'),
        ("\ud800 lone", 'fail("\\ud800 lone")'),
    ):
        with pytest.raises(JSError) as info:
            runtime.eval(source)
        assert info.value.name == "TypeError"
        assert str(info.value) == message
        assert "at <eval> (<input>:1:1)" in info.value.stack
    # The method the runtime watches looks like the engine's own.
    assert runtime.eval(
        "[String(Error.prototype.toString), Error.prototype.toString.name,"
        " Object.keys(Error.prototype).length, String(new RangeError('r'))]"
    ) == ["function toString() {\n    [native code]\n}", "toString", 0, "RangeError: r"]


def test_r18_error_classes_are_bounded_and_standard_names_still_work(runtime: JSRuntime) -> None:
    errors = runtime.eval(
        "const out = []; for (let i = 0; i < 400; i++) { const e = new Error('x');"
        " e.name = 'E' + i; out.push(e) } out.push(new TypeError('t')); out"
    )
    assert len(_errors._classes) <= 256
    assert type(errors[-1]).__name__ == "TypeError"
    assert errors[-1].name == "TypeError"
    assert type(errors[0]).__name__ == "E0"


# -- r10, r11, r12, r17: values and the plumbing --------------------------------------------


def test_r10_a_value_nested_too_deep_is_a_clear_ValueError(runtime: JSRuntime) -> None:
    # Whole, or a ValueError saying why: never Python's own RecursionError. (Python 3.12+
    # decodes JSON this deep in C, so there the value comes through whole.)
    for depth, source in (
        (3000, "var d = []; for (var i = 0; i < 3000; i++) d = [d]; d"),
        (901, "var d = [function () {}]; for (var i = 0; i < 900; i++) d = [d]; d"),
    ):
        refused = ""
        try:
            value = runtime.eval(source)
        except ValueError as exc:
            refused = str(exc)
        if refused:
            assert "nested too deeply" in refused
            continue
        levels = 0
        while isinstance(value, list) and value:
            value, levels = value[0], levels + 1
        assert levels == depth
    assert runtime.eval("1 + 1") == 2


def test_r11_a_script_replacing_JSON_parse_leaves_the_runtime_intact(runtime: JSRuntime) -> None:
    seen = runtime.eval(
        """
        var seen = []
        const realParse = JSON.parse
        JSON.parse = (t, r) => { seen.push(String(t).slice(0, 40)); return realParse(t, r) }
        wx.createUDPSocket().close()
        JSON.parse = (t) => ({})
        Promise.prototype.then = function () { throw new Error('replaced') }
        const u = wx.createUDPSocket()
        u.close()
        JSON.parse = realParse
        seen
        """
    )
    assert seen == []
    assert runtime._bridge.sockets == {}


def test_r12_a_string_with_a_lone_surrogate_is_sent_with_U_FFFD(runtime: JSRuntime) -> None:
    runtime.eval(
        r"""
        var got = null, errs = []
        const u = wx.createUDPSocket()
        const port = u.bind()
        u.onError((e) => { errs.push(e.errMsg); u.close() })
        u.onMessage((r) => { got = Array.from(new Uint8Array(r.message)); u.close() })
        u.send({ address: '127.0.0.1', port: port, message: 'a\ud83db' })
        1
        """
    )
    runtime.run_until(lambda: runtime.eval("got !== null || errs.length > 0"), timeout=WAIT)
    assert runtime.eval("[got, errs, Array.from(new TextEncoder().encode('a\\ud83db'))]") == [
        [0x61, 0xEF, 0xBF, 0xBD, 0x62],
        [],
        [0x61, 0xEF, 0xBF, 0xBD, 0x62],
    ]


PAGE_WITH_SOCKET = """
Page({
  data: { udp: '', isFirst: true, name: 'a' },
  onConfirm() {
    if (this.data.isFirst) {
      const udp = wx.createUDPSocket();
      this.setData({ isFirst: false, udp, port: udp.bind() });
    }
    this.data.udp.send({ address: '127.0.0.1', port: this.data.port, message: 'ssid,password' });
    return this.data.udp instanceof Object && typeof this.data.udp.send;
  },
});
"""


def test_r17_set_data_keeps_a_socket_in_this_data_and_page_data_is_json(
    simulated_network: SimulatedNetwork, tmp_path: Path
) -> None:
    (tmp_path / "config.js").write_text(PAGE_WITH_SOCKET, encoding="utf-8")
    with JSRuntime(tmp_path, script_timeout=5) as rt:
        page = rt.open_page("config")
        assert page.call("onConfirm") == "function"
        assert page.call("onConfirm") == "function"  # the second tap: the same socket
        data = page.data
        assert data["udp"] == {}
        assert data["isFirst"] is False
        assert data["name"] == "a"
        assert isinstance(data["port"], int)
        assert len(rt._bridge.sockets) == 1
        assert rt.errors == []


# -- r13, r14, r15: threads and hooks ---------------------------------------------------------


def test_r13_close_wakes_a_thread_waiting_in_result() -> None:
    rt = JSRuntime(script_timeout=5)
    promise = rt.eval("new Promise(() => {})")  # a reply that never comes
    with pytest.raises(TimeoutError):
        promise.result(timeout=0.01)  # now watched: a waiter of the runtime
    outcome: List[BaseException] = []
    waiting = threading.Event()

    def wait() -> None:
        waiting.set()
        try:
            promise.result(timeout=WAIT * 4)
        except BaseException as exc:  # noqa: BLE001 - looked at below
            outcome.append(exc)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    assert waiting.wait(WAIT)
    started = time.monotonic()
    rt.close()
    waiter.join(WAIT * 2)
    assert not waiter.is_alive(), "result() still waits after close()"
    assert time.monotonic() - started < WAIT
    assert len(outcome) == 1
    assert type(outcome[0]) is JSError
    assert str(outcome[0]) == "the JS runtime is closed"


def test_r14_a_js_call_from_another_thread_joins_the_running_virtual_drive() -> None:
    with SimulatedNetwork(seed=1, virtual_time=True):
        rt = JSRuntime(script_timeout=5)
        try:
            add = rt.eval("[function add(a, b) { return a + b }]")[0]
            later = rt.eval("[new Promise((resolve) => { globalThis.settle = resolve })]")[0]
            out: List[Any] = []
            done = threading.Event()

            started = threading.Event()
            progress = threading.Event()  # never set: a bounded real-time pause

            def helper() -> None:
                started.set()
                try:
                    out.append(add(1, 2))
                    out.append(later.result(timeout=WAIT))
                except BaseException as exc:  # noqa: BLE001 - looked at below
                    out.append(f"{type(exc).__name__}: {exc}")
                done.set()

            rt.stub(
                "startHelper",
                lambda: threading.Thread(target=helper, daemon=True).start(),
                sync=True,
            )
            rt.eval("setTimeout(() => wx.startHelper(), 50); setInterval(() => {}, 100); 1")
            armed: List[bool] = []

            def helper_done() -> bool:
                # Virtual time does not wait for another thread: while the helper runs,
                # each look gives it up to 20 ms of real time (bounded) before the clock
                # moves on, so that 60 virtual seconds cannot pass before it gets there.
                if started.is_set() and not armed and not later._watched:
                    progress.wait(0.02)
                # Once the helper waits in result(), the Promise settles 100 ms later.
                if later._watched and not armed:
                    armed.append(True)
                    rt.eval("setTimeout(() => settle(7), 100); 1")
                return done.is_set()

            rt.run_until(helper_done, timeout=60)
            assert out == [3, 7]
        finally:
            rt.close()


def test_r15_a_raising_on_console_hook_never_throws_into_the_script(
    simulated_network: SimulatedNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    def hook(line: Any) -> None:
        raise KeyError(line.text)  # a bug in the test's hook

    rt = JSRuntime(script_timeout=5, on_console=hook)
    with caplog.at_level(logging.ERROR, logger="taro_udp"), rt:
        flow = rt.eval(
            "var flow = []; try { console.log('connecting'); flow.push('connected') }"
            " catch (e) { flow.push('failed: ' + e.message) } flow"
        )
        assert rt.console_text() == ["connecting"]
    assert flow == ["connected"]
    assert "the on_console hook raised KeyError" in caplog.text
