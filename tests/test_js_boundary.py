"""taro_udp.js's boundary: errors are test failures, stacks in the script's terms, any value
crosses, handles, and ``taro-udp run``'s reports (repros 01, 04, 06, 07, 08, 16, 18 of
../shared/repros/js/ each have a test here that fails on 0.2.0).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

if sys.version_info < (3, 10):  # pragma: no cover
    pytest.skip("taro_udp.js needs Python 3.10+ (quickjs-ng)", allow_module_level=True)
pytest.importorskip("quickjs", reason="taro_udp.js needs the quickjs-ng package")

import taro_udp
import taro_udp.js
from taro_udp.js import JSError, JSRuntime
from taro_udp.js.plugin import JSRuntimeFactory
from taro_udp.testing import SimulatedNetwork

from ._helpers import WAIT

pytest_plugins = ["pytester"]

VIRTUAL = pytest.mark.parametrize(
    "simulated_network", [{"seed": 3, "virtual_time": True}], indirect=True
)


@pytest.fixture
def runtime(simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory) -> JSRuntime:
    return js_runtime(script_timeout=2.0)


def _project(root: Path, files: Dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def _cli(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TARO_UDP_BIND_ADDRESS="127.0.0.1")
    return subprocess.run(
        [sys.executable, "-m", "taro_udp", "run", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


# -- errors are test failures ---------------------------------------------------------------

INNER = """
import pytest
from pathlib import Path

def _run(js_runtime, tmp_path, source):
    (tmp_path / "app.js").write_text(source)
    runtime = js_runtime(tmp_path)
    runtime.run_file(tmp_path / "app.js")
    return runtime

VIRTUAL = pytest.mark.parametrize(
    "simulated_network", [{"seed": 1, "virtual_time": True}], indirect=True
)

@VIRTUAL
def test_listener(simulated_network, js_runtime, tmp_path):
    rt = _run(js_runtime, tmp_path, (
        "const u = wx.createUDPSocket()\\n"
        "u.onError(() => {})\\n"
        "u.onMessage(() => {\\n"
        "  throw new Error('listener broke')\\n"
        "})\\n"
        "u.send({ address: '127.0.0.1', port: u.bind(), message: 'x' })\\n"))
    rt.run_until(lambda: rt.errors, timeout=5)

@VIRTUAL
def test_timer(simulated_network, js_runtime, tmp_path):
    rt = _run(js_runtime, tmp_path, "setTimeout(() => {\\n  null.x\\n}, 10)\\n")
    rt.run(timeout=5)

def test_promise_job(js_runtime, tmp_path):
    _run(js_runtime, tmp_path, (
        "// a job\\nqueueMicrotask(() => {\\n  throw new RangeError('job broke')\\n})\\n"))

def test_unhandled_rejection(js_runtime, tmp_path):
    _run(js_runtime, tmp_path, (
        "async function load() {\\n  throw new TypeError('no config')\\n}\\nload()\\n"))

@VIRTUAL
def test_clean_script(simulated_network, js_runtime, tmp_path):
    rt = _run(js_runtime, tmp_path, "setTimeout(() => console.log('fine'), 10)\\n")
    rt.run(timeout=5)
    assert rt.console_text() == ["fine"]

def test_expected_errors_are_cleared(js_runtime, tmp_path):
    rt = _run(js_runtime, tmp_path, "Promise.reject(new Error('on purpose'))\\n")
    assert [str(e) for e in rt.errors] == ["on purpose"]
    rt.errors.clear()
"""


def test_uncaught_errors_fail_the_test_that_ran_them_with_the_script_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess(
        "-p", "taro_udp.testing.plugin", "-p", "taro_udp.js.plugin", "-p", "no:cacheprovider"
    )
    text = result.stdout.str()
    assert result.parseoutcomes().get("errors") == 4, text
    failed = {
        line.split("::")[1].split("[")[0].split(" ")[0]
        for line in text.splitlines()
        if line.startswith("ERROR test_inner")
    }
    assert failed == {"test_listener", "test_timer", "test_promise_job", "test_unhandled_rejection"}
    for test, report, where in (
        ("test_listener", "Uncaught Error: listener broke", "app.js:4:"),
        ("test_timer", "Uncaught TypeError: cannot read property 'x' of null", "app.js:2:"),
        ("test_promise_job", "Uncaught RangeError: job broke", "app.js:3:"),
        ("test_unhandled_rejection", "Uncaught TypeError: no config", "app.js:2:"),
    ):
        assert f"ERROR at teardown of {test}" in text
        section = text.split(f"ERROR at teardown of {test}", 1)[1].split("\n", 1)[1]
        section = section.split("____", 1)[0]
        section = section.split("- Captured", 1)[0]  # the report, not the log records
        assert "uncaught JavaScript error" in section
        assert report in section, section
        assert where in section, section
        assert "taro_udp:prelude" not in section  # the runtime's frames are left out
        assert "Traceback" not in section


def test_an_error_thrown_into_a_python_call_is_raised_not_recorded(runtime: JSRuntime) -> None:
    with pytest.raises(JSError, match="top level"):
        runtime.eval("throw new Error('top level')")
    assert runtime.errors == []


def test_a_python_stub_that_raises_reaches_js_as_an_error(runtime: JSRuntime) -> None:
    def broken(_option: Any) -> None:
        raise RuntimeError("stub broke")

    runtime.stub("getDeviceSync", broken)
    runtime.eval("setTimeout(() => wx.getDeviceSync({}), 0)")
    runtime.run(timeout=WAIT)
    assert [error.report.splitlines()[0] for error in runtime.errors] == [
        "Uncaught Error: stub broke"
    ]
    runtime.errors.clear()


# -- stacks in the script's own terms (repro 06) ----------------------------------------------


def test_stacks_name_the_module_file_and_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text("\n\n\nfunction f() {\n  throw new Error('line 5')\n}\nf()\n")
    _project(tmp_path, {"pages/p/p.js": "const ok = 1\nlet x = ;\n"})
    with JSRuntime(tmp_path) as rt:
        with pytest.raises(JSError) as info:
            rt.require("./app.js")
        first = info.value.stack.splitlines()[0]
        assert first.strip() == "at f (app.js:5:13)"
        assert "prelude" not in info.value.stack
        assert "<input>" not in info.value.stack
        with pytest.raises(JSError) as syntax:
            rt.require("./pages/p/p")
        assert type(syntax.value).__name__ == "SyntaxError"
        assert "pages/p/p.js:2:9" in syntax.value.stack


# -- any value crosses, any size (repros 01, 07, 08) --------------------------------------------


def test_values_of_any_length_cross_every_way(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "pages/list/list.js": """
                Page({ data: { devices: [] },
                  onLoad() { const d = []; for (let i = 0; i < 40; i++)
                    d.push({ name: 'device-' + i, address: '127.0.0.' + i })
                  this.setData({ devices: d }) },
                  big() { return 'y'.repeat(600) + '!' },
                  fail() { throw new Error('m'.repeat(600)) },
                  sum(...xs) { return xs.reduce((a, b) => a + b, 0) } })
            """
        },
    )
    with JSRuntime(root) as rt:
        assert rt.eval("['x'.repeat(1000) + 'y']") == ["x" * 1000 + "y"]
        assert rt.eval("new Array(300).fill(7)") == [7] * 300
        page = rt.open_page("pages/list/list")
        devices = page.data["devices"]
        assert len(devices) == 40
        assert devices[39] == {"name": "device-39", "address": "127.0.0.39"}
        assert page.call("big") == "y" * 600 + "!"
        with pytest.raises(JSError) as info:
            page.call("fail")
        assert str(info.value) == "m" * 600
        assert page.call("sum", 1, 2, 3, 4) == 10  # any number of arguments


def test_values_json_cannot_carry_come_back_as_documented(runtime: JSRuntime) -> None:
    values = runtime.eval(
        "[NaN, Infinity, -Infinity, 10n ** 30n, Symbol('s'), '\\ud800', 'a\\u0000b',"
        " new Uint8Array([0, 255]).buffer, new TypeError('t'), undefined]"
    )
    assert math.isnan(values[0])
    assert values[1:3] == [math.inf, -math.inf]
    assert values[3:8] == [10**30, "Symbol(s)", "\ud800", "a\x00b", b"\x00\xff"]
    assert type(values[8]).__name__ == "TypeError"
    assert str(values[8]) == "t"
    assert values[9] is None
    # No user value is mistaken for an internal marker.
    assert runtime.eval("({ $b64: 'aGk=' })") == {"$b64": "aGk="}
    assert runtime.eval("[{ $b64: 'abc' }]") == [{"$b64": "abc"}]
    # What cannot be converted is a JSError, never a decoder's exception.
    for source in ("10n", "'\\ud800'"):
        with pytest.raises(JSError, match="inside an array"):
            runtime.eval(source)


def test_values_from_python_reach_js_intact(runtime: JSRuntime) -> None:
    echo = runtime.eval("(function echo(...a) { return [a.length, typeof a[1], a] })")
    big = "z" * 100_000 + "\ud83d"
    count, kind, back = echo(float("nan"), b"\x00\x01", big, {"k": [1, None]}, 2**40)
    assert (count, kind) == (5, "object")
    assert math.isnan(back[0])
    assert back[1:] == [b"\x00\x01", big, {"k": [1, None]}, 2**40]


def test_a_function_comes_back_as_a_callable_handle(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {"pages/p/p.js": "Page({ handler() { return function onTap(x) { return x * 2 } } })"},
    )
    with JSRuntime(root) as rt:
        fn = rt.eval("globalThis.f = function (a, b) { return a + b }")
        assert isinstance(fn, taro_udp.js.JSFunction)
        assert fn(2, 3) == 5
        handler = rt.open_page("pages/p/p").call("handler")  # repro 08
        assert isinstance(handler, taro_udp.js.JSFunction)
        assert handler(21) == 42
        thrower = rt.eval("(function () { throw new RangeError('no') })")
        with pytest.raises(JSError, match="no"):
            thrower()
        # A Python callable passed in is a JS function calling back into Python.
        apply = rt.eval("(function (fn) { return fn(4) + 1 })")
        assert apply(lambda x: x * 10) == 41


def test_close_from_inside_a_js_call_ends_that_call_cleanly() -> None:
    rt = JSRuntime()
    rt.stub("quitSync", lambda: rt.close())
    assert rt.eval("wx.quitSync(); 1 + 1") == 2  # the call ends normally
    assert rt.closed
    with pytest.raises(JSError, match="closed"):
        rt.eval("1")


@VIRTUAL
def test_a_promise_is_awaited_from_python_driving_virtual_time(runtime: JSRuntime) -> None:
    promise = runtime.eval(
        "new Promise((resolve) => setTimeout(() => resolve({ after: Date.now() }), 60000))"
    )
    assert isinstance(promise, taro_udp.js.JSPromise)
    assert not promise.settled
    started = time.monotonic()
    assert list(promise.result(timeout=120)) == ["after"]
    assert time.monotonic() - started < WAIT  # virtual minutes, not real ones
    rejected = runtime.eval(
        "new Promise((_, reject) => setTimeout(() => reject(new TypeError('late')), 1000))"
    )
    with pytest.raises(JSError, match="late") as info:
        rejected.result(timeout=5)
    assert type(info.value).__name__ == "TypeError"
    assert runtime.errors == []  # Python handled it in time


@VIRTUAL
def test_a_python_stub_calls_a_js_listener_later(runtime: JSRuntime) -> None:
    listeners: List[Any] = []
    runtime.stub("onGetWifiList", lambda listener: listeners.append(listener))
    runtime.stub(
        "getWifiListSync",
        lambda: [listener({"wifiList": [{"SSID": "lab"}]}) for listener in listeners],
    )
    runtime.eval(
        """
        var seen = []
        wx.onGetWifiList((res) => { seen.push(res.wifiList[0].SSID); return seen.length })
        setTimeout(() => wx.getWifiListSync(), 100)
        """
    )
    [listener] = listeners
    assert isinstance(listener, taro_udp.js.JSFunction)
    assert listener({"wifiList": [{"SSID": "direct"}]}) == 1  # from the test thread
    runtime.run(timeout=WAIT)  # the timer's stub call runs it on the event thread
    assert runtime.eval("seen") == ["direct", "lab"]


@VIRTUAL
def test_a_js_listener_that_throws_when_python_calls_it_from_the_event_thread_is_uncaught(
    runtime: JSRuntime,
) -> None:
    listeners: List[Any] = []
    runtime.stub("onBLECharacteristicValueChange", listeners.append)
    runtime.eval("wx.onBLECharacteristicValueChange((res) => { throw new Error('bad ' + res.v) })")
    [listener] = listeners
    taro_udp.setTimeout(lambda: listener({"v": 1}), 10)  # the fake WeChat's event
    runtime.run(timeout=WAIT)
    assert [str(error) for error in runtime.errors] == ["bad 1"]
    runtime.errors.clear()
    with pytest.raises(JSError, match="bad 2"):  # from the test: raised, not recorded
        listener({"v": 2})
    assert runtime.errors == []


def test_an_async_stub_gets_its_option_without_the_callbacks(runtime: JSRuntime) -> None:
    seen: List[Any] = []
    runtime.stub("connectDevice", lambda option: seen.append(option))
    runtime.eval("wx.connectDevice({ id: 3, onData() {}, success() {} })")
    [option] = seen
    assert option["id"] == 3
    assert isinstance(option["onData"], taro_udp.js.JSFunction)
    assert "success" not in option


@VIRTUAL
def test_a_listener_payload_and_a_stub_result_cross_at_any_size(runtime: JSRuntime) -> None:
    runtime.stub("getConfigSync", lambda: {"blob": b"\x01" * 50_000, "text": "t" * 50_000})
    runtime.eval(
        """
        const cfg = wx.getConfigSync()
        var got = null
        const u = wx.createUDPSocket()
        u.onMessage((res) => {
          got = [res.message.byteLength, res.remoteInfo.size, res.localInfo.port === port]
          u.close()
        })
        const port = u.bind()
        u.send({ address: '127.0.0.1', port, message: new Uint8Array(cfg.blob).subarray(0, 8000) })
        """
    )
    runtime.run(timeout=WAIT)
    assert runtime.eval("[cfg.blob.byteLength, cfg.text.length, got]") == [
        50_000,
        50_000,
        [8000, 8000, True],
    ]


# -- taro-udp run (repros 01, 04, 16, 18) -----------------------------------------------------


def test_run_reports_an_uncaught_listener_error_with_the_js_stack(tmp_path: Path) -> None:
    _project(
        tmp_path,
        {
            "lt.js": """
                const u = wx.createUDPSocket()
                u.onMessage(() => {
                  null.x
                })
                u.send({ address: '127.0.0.1', port: u.bind(), message: 'x' })
            """
        },
    )
    done = _cli(tmp_path, "lt.js")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0].endswith("error: Uncaught TypeError: cannot read property 'x' of null")
    assert lines[1].strip() == "at <anonymous> (lt.js:3:3)"
    assert "Traceback" not in done.stderr


def test_run_reports_long_errors_and_thrown_values(tmp_path: Path) -> None:
    _project(tmp_path, {"long.js": 'throw new Error("x".repeat(600));\n', "five.js": "throw 5\n"})
    long = _cli(tmp_path, "long.js")
    assert long.returncode == 1
    assert "Traceback" not in long.stderr
    assert f"Uncaught Error: {'x' * 600}" in long.stderr
    assert "long.js:1:" in long.stderr
    five = _cli(tmp_path, "five.js")
    assert five.returncode == 1
    assert five.stderr.splitlines()[0].endswith("error: Uncaught 5")


def test_run_names_a_file_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "utf16.js").write_bytes('console.log("hi")\n'.encode("utf-16"))
    done = _cli(tmp_path, "utf16.js")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "python -m taro_udp run: error: cannot read utf16.js: not UTF-8 text (byte 0xff at 0)"
    ]


def test_run_prints_lone_surrogates_as_replacement_characters(tmp_path: Path) -> None:
    _project(
        tmp_path,
        {
            "name.js": """
                const name = "\\u{1F600} lamp"
                console.log("device:", name.slice(0, 1))
                console.log("after")
            """
        },
    )
    done = subprocess.run(
        [sys.executable, "-m", "taro_udp", "run", "name.js"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode("utf-8").splitlines() == ["device: \ufffd", "after"]


def _ticker(tmp_path: Path) -> subprocess.Popen[bytes]:
    _project(
        tmp_path,
        {"tick.js": "wx.createUDPSocket().bind()\nsetInterval(() => console.log('tick'), 20)\n"},
    )
    return subprocess.Popen(
        [sys.executable, "-m", "taro_udp", "run", "tick.js"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, TARO_UDP_BIND_ADDRESS="127.0.0.1"),
    )


def test_run_exits_quietly_when_stdout_closes(tmp_path: Path) -> None:
    proc = _ticker(tmp_path)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"tick\n"
        proc.stdout.close()  # the reader goes away, as `| head -1` does
        assert proc.wait(timeout=WAIT) == 0
        assert proc.stderr is not None
        assert proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()


def test_run_exits_130_on_ctrl_c_with_a_summary(tmp_path: Path) -> None:
    proc = _ticker(tmp_path)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"tick\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=WAIT)
        assert proc.returncode == 130
        assert err.decode().splitlines() == [
            "python -m taro_udp run: interrupted: closed 1 socket, cleared 1 timer"
        ]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
