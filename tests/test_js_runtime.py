"""taro_udp.js: the JS runtime's globals, its errors, and the outcomes the README documents.

Every test runs JS through the ``js_runtime`` fixture (taro_udp.js.plugin) on the
simulated network or loopback; a runtime is closed (sockets, timers, engine) at
teardown. Skipped on Python < 3.10 or without quickjs-ng.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

if sys.version_info < (3, 10):  # pragma: no cover
    pytest.skip("taro_udp.js needs Python 3.10+ (quickjs-ng)", allow_module_level=True)
pytest.importorskip("quickjs", reason="taro_udp.js needs the quickjs-ng package")

from taro_udp.js import JSError, JSRuntime, RunawayScriptError
from taro_udp.js.plugin import JSRuntimeFactory
from taro_udp.testing import SimulatedNetwork

from ._helpers import WAIT


@pytest.fixture
def runtime(simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory) -> JSRuntime:
    """A runtime whose sockets live on the simulated network (lossless, seed 0)."""
    return js_runtime(script_timeout=0.5)


def _errors(runtime: JSRuntime) -> List[str]:
    return runtime.console_text("error")


# -- the documented outcomes -------------------------------------------------------------


def test_a_throwing_onMessage_listener_is_reported_to_onError_like_a_python_one(
    runtime: JSRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    runtime.eval(
        """
        const udp = wx.createUDPSocket()
        udp.onError((err) => console.error(err.errMsg + ' / ' + err.errCode))
        udp.onMessage(() => { throw new Error('bad datagram') })
        udp.onMessage(() => console.log('second listener ran'))
        udp.send({ address: '127.0.0.1', port: udp.bind(), message: 'x' })
        """
    )
    runtime.run_until(lambda: len(runtime.console) >= 2, timeout=WAIT)
    assert _errors(runtime) == ["onMessage:fail Error: bad datagram / -1"]
    assert "second listener ran" in runtime.console_text("log")
    assert [error.report.splitlines()[0] for error in runtime.errors] == [
        "Uncaught Error: bad datagram"
    ]
    runtime.errors.clear()  # expected: the test's point
    # The JS stack is in the log, with the line of the listener.
    logged = "\n".join(record.getMessage() + str(record.exc_info) for record in caplog.records)
    assert "bad datagram" in logged


def test_a_runaway_listener_is_interrupted_and_the_runtime_goes_on(runtime: JSRuntime) -> None:
    assert runtime.watchdog
    runtime.eval(
        """
        const spin = wx.createUDPSocket()
        spin.onError((err) => console.error(err.errMsg))
        spin.onMessage(() => { while (true) {} })
        spin.send({ address: '127.0.0.1', port: spin.bind(), message: 'x' })
        """
    )
    started = time.monotonic()
    runtime.run_until(lambda: _errors(runtime), timeout=WAIT)
    assert time.monotonic() - started < WAIT
    [error] = _errors(runtime)
    assert error.startswith("onMessage:fail InternalError: interrupted")
    assert runtime.eval("1 + 1") == 2  # still usable
    assert [type(error).__name__ for error in runtime.errors] == ["InternalError"]
    runtime.errors.clear()  # expected: the test's point


def test_a_runaway_top_level_script_raises_RunawayScriptError(runtime: JSRuntime) -> None:
    with pytest.raises(RunawayScriptError, match="script_timeout"):
        runtime.eval("while (true) {}")
    assert runtime.eval("'alive'") == "alive"


def test_a_runaway_promise_chain_is_stopped(
    runtime: JSRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    runtime.eval("(function again() { Promise.resolve().then(again) })()")
    assert "Promise jobs still ran" in caplog.text
    assert runtime.eval("2") == 2
    # Interrupted once, or again if the chain still ran in the next task's jobs.
    assert runtime.errors
    assert {type(error).__name__ for error in runtime.errors} == {"InternalError"}
    # The chain may survive each interruption (its next job already queued) and be
    # interrupted again in every later task: close first, so that none is left to run.
    runtime.close()
    runtime.errors.clear()  # expected: the test's point


def test_calling_an_unprovided_wx_api_throws_a_TypeError_and_the_hint_names_stub(
    runtime: JSRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    # 0.3.0: an API that is not provided is absent (as on a phone without it), so a call
    # is JS's own "not a function"; the log says how to provide it.
    with pytest.raises(JSError, match="not a function") as info:
        runtime.eval("wx.showModal({ title: 'hi' })")
    assert type(info.value).__name__ == "TypeError"
    assert runtime.eval("try { wx.showModal() } catch (e) { e instanceof TypeError }") is True
    assert runtime.eval("[wx.canIUse('createUDPSocket'), wx.canIUse('showModal')]") == [True, False]
    hints = [r.getMessage() for r in caplog.records if "wx.showModal" in r.getMessage()]
    assert len(hints) == 1, hints
    assert "runtime.stub('showModal'" in hints[0]


def test_a_failed_bind_returns_0_without_throwing_and_reports_to_onError(
    runtime: JSRuntime,
) -> None:
    result = runtime.eval(
        """
        const first = wx.createUDPSocket()
        const port = first.bind()
        const second = wx.createUDPSocket()
        second.onError((err) => console.error(err.errMsg + ' / ' + err.errCode))
        const again = second.bind(port)
        const bad = wx.createUDPSocket()
        bad.onError((err) => console.error(err.errMsg + ' / ' + err.errCode))
        const nan = bad.bind(NaN);
        [again, again === 0, nan]
        """
    )
    assert result == [0, True, 0]
    runtime.run_until(lambda: len(_errors(runtime)) >= 2, timeout=WAIT)
    assert sorted(_errors(runtime)) == [
        "bind:fail Address already in use / -2",
        "bind:fail invalid port / 2",
    ]


def test_an_unhandled_rejection_is_logged_with_its_stack(
    runtime: JSRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="taro_udp"):
        runtime.eval("async function load() { throw new Error('no config') } load()")
    assert "unhandled promise rejection: Error: no config" in caplog.text
    assert "at load" in caplog.text
    assert [str(error) for error in runtime.errors] == ["no config"]
    runtime.errors.clear()  # expected: the test's point


def test_a_handled_rejection_is_not_logged(
    runtime: JSRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    runtime.eval("Promise.reject(new Error('x')).catch(() => console.log('caught'))")
    assert runtime.console_text() == ["caught"]
    assert "unhandled" not in caplog.text


def test_a_throwing_send_success_callback_is_reported_as_success_fail(runtime: JSRuntime) -> None:
    runtime.eval(
        """
        const cb = wx.createUDPSocket()
        cb.onError((err) => console.error(err.errMsg))
        cb.send({ address: '127.0.0.1', port: cb.bind(), message: 'x',
                  success() { throw new TypeError('oops') },
                  complete(res) { console.log('complete ' + res.errMsg) } })
        """
    )
    runtime.run_until(lambda: len(runtime.console) >= 2, timeout=WAIT)
    assert _errors(runtime) == ["success:fail TypeError: oops"]
    assert "complete send:ok" in runtime.console_text("log")
    assert [str(error) for error in runtime.errors] == ["oops"]
    runtime.errors.clear()  # expected: the test's point


def test_send_failures_reach_fail_and_complete_with_the_spec_payload(runtime: JSRuntime) -> None:
    runtime.eval(
        """
        const s = wx.createUDPSocket()
        s.onError(() => {})
        s.send({ address: '127.0.0.1', port: 0, message: 'x',
                 fail(res) { console.log(JSON.stringify(res)) } })
        """
    )
    runtime.run_until(lambda: runtime.console, timeout=WAIT)
    assert runtime.console_text() == ['{"errMsg":"send:fail invalid port","errCode":2}']


# -- payloads ------------------------------------------------------------------------------


def test_messages_arrive_as_ArrayBuffer_with_remoteInfo_and_localInfo(runtime: JSRuntime) -> None:
    runtime.eval(
        """
        const u = wx.createUDPSocket()
        var got = null
        u.onMessage((res) => {
          got = { isBuffer: res.message instanceof ArrayBuffer,
                  bytes: Array.from(new Uint8Array(res.message)),
                  remoteInfo: res.remoteInfo, localInfo: res.localInfo }
          u.close()
        })
        const p = u.bind()
        u.send({ address: '127.0.0.1', port: p, message: new Uint8Array([0, 1, 2, 255, 0]).buffer,
                 offset: 1, length: 3 })
        """
    )
    runtime.run_until(lambda: runtime.eval("got !== null"), timeout=WAIT)
    got: Dict[str, Any] = runtime.eval("got")
    assert got["isBuffer"] is True
    assert got["bytes"] == [1, 2, 255]
    assert got["remoteInfo"]["size"] == 3
    assert got["remoteInfo"]["family"] == "IPv4"
    assert got["localInfo"]["address"] == "127.0.0.1"


def test_send_takes_strings_typed_arrays_and_views(runtime: JSRuntime) -> None:
    runtime.eval(
        """
        const t = wx.createUDPSocket()
        var texts = []
        t.onMessage((res) => {
          texts.push(new TextDecoder().decode(res.message))
          if (texts.length === 3) t.close()
        })
        const tp = t.bind()
        t.send({ address: '127.0.0.1', port: tp, message: 'héllo' })
        t.send({ address: '127.0.0.1', port: tp, message: new TextEncoder().encode('typed') })
        const bytes = new TextEncoder().encode('..view..')
        t.send({ address: '127.0.0.1', port: tp, message: new DataView(bytes.buffer, 2, 4) })
        """
    )
    runtime.run_until(lambda: runtime.eval("texts.length") == 3, timeout=WAIT)
    assert sorted(runtime.eval("texts")) == ["héllo", "typed", "view"]


def test_offMessage_removes_a_listener_and_onMessage_twice_adds_it_once(runtime: JSRuntime) -> None:
    runtime.eval(
        """
        const o = wx.createUDPSocket()
        var calls = 0
        const count = () => { calls += 1 }
        const gone = () => { calls += 100 }
        o.onMessage(count); o.onMessage(count); o.onMessage(gone); o.offMessage(gone)
        o.onMessage(() => o.close())
        o.send({ address: '127.0.0.1', port: o.bind(), message: 'x' })
        """
    )
    runtime.run()
    assert runtime.eval("calls") == 1


def test_bind_returns_a_number_and_listening_and_close_fire(runtime: JSRuntime) -> None:
    port = runtime.eval(
        """
        const l = wx.createUDPSocket()
        l.onListening((res) => { console.log(res.errMsg); l.close() })
        l.onClose((res) => console.log(res.errMsg))
        l.bind()
        """
    )
    runtime.run()
    assert isinstance(port, int)
    assert port > 0
    assert runtime.console_text() == ["bind:ok", "close:ok"]


def test_connect_write_and_setTTL(runtime: JSRuntime) -> None:
    runtime.eval(
        """
        const peer = wx.createUDPSocket()
        const peerPort = peer.bind()
        peer.onMessage((res) => {
          console.log('peer got ' + new TextDecoder().decode(res.message))
          peer.close()
        })
        const c = wx.createUDPSocket()
        c.onError((err) => console.error(err.errMsg))
        c.bind()
        c.setTTL(64)
        c.setTTL(300)
        c.connect({ address: '127.0.0.1', port: peerPort })
        c.write({ message: 'w', complete: () => c.close() })
        """
    )
    runtime.run()
    assert runtime.console_text("log") == ["peer got w"]
    assert _errors(runtime) == ["setTTL:fail invalid ttl"]


# -- timers, clock, order ------------------------------------------------------------------


def test_js_and_python_timers_share_one_order(runtime: JSRuntime) -> None:
    import taro_udp

    order: List[str] = []
    runtime.stub("mark", lambda name: order.append(name))
    runtime.eval(
        """
        setTimeout(() => wx.mark('js 20'), 20)
        setTimeout(() => wx.mark('js 0'), 0)
        const i = setInterval(() => { wx.mark('interval'); clearInterval(i) }, 5)
        """
    )
    taro_udp.call_soon(lambda: taro_udp.setTimeout(lambda: order.append("py 10"), 10))
    runtime.run(timeout=WAIT)
    assert order == ["js 0", "interval", "py 10", "js 20"]


def test_the_clock_is_the_loops(runtime: JSRuntime) -> None:
    import taro_udp

    before = taro_udp.Date.now()
    now, date, perf = runtime.eval("[Date.now(), new Date().getTime(), performance.now()]")
    assert before <= now <= taro_udp.Date.now()
    assert now <= date <= taro_udp.Date.now()
    assert 0 <= perf <= taro_udp.performance.now()
    assert runtime.eval("new Date(0).toISOString()") == "1970-01-01T00:00:00.000Z"
    assert runtime.eval("new Date() instanceof Date") is True


def test_promises_are_drained_after_every_task(runtime: JSRuntime) -> None:
    runtime.eval(
        """
        var steps = []
        setTimeout(() => {
          Promise.resolve().then(() => steps.push('microtask')).then(() => steps.push('chained'))
          steps.push('timer')
        }, 0)
        setTimeout(() => steps.push('next timer'), 0)
        """
    )
    runtime.run()
    assert runtime.eval("steps") == ["timer", "microtask", "chained", "next timer"]


# -- console, text, storage, stubs, require --------------------------------------------


def test_console_lines_are_captured_and_logged(
    runtime: JSRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="taro_udp.js"):
        runtime.eval("console.log('a', 1, {b: [2]}); console.warn('w %d%%', 5); console.debug('d')")
    assert [tuple(line) for line in runtime.console] == [
        ("log", 'a 1 {"b":[2]}'),
        ("warn", "w 5%"),
        ("debug", "d"),
    ]
    assert [(r.name, r.levelname) for r in caplog.records] == [
        ("taro_udp.js", "INFO"),
        ("taro_udp.js", "WARNING"),
        ("taro_udp.js", "DEBUG"),
    ]


def test_text_encoder_and_decoder_are_utf8(runtime: JSRuntime) -> None:
    assert runtime.eval("Array.from(new TextEncoder().encode('é€𝄞'))") == list("é€𝄞".encode())
    assert (
        runtime.eval("new TextDecoder().decode(new Uint8Array([0x61, 0xff, 0x62]))") == "a\ufffdb"
    )
    # A string inside an array crosses whole (a bare string result stops at a NUL).
    assert runtime.eval("[new TextDecoder().decode(new Uint8Array([0, 0x61]))]") == ["\x00a"]


def test_storage_is_in_memory(runtime: JSRuntime) -> None:
    assert runtime.eval(
        """
        wx.setStorageSync('k', { a: 1 })
        const v = wx.getStorageSync('k')
        v.a = 2
        const kept = wx.getStorageSync('k').a
        wx.removeStorageSync('k')
        wx.setStorageSync('x', 1)
        wx.clearStorageSync();
        [kept, wx.getStorageSync('k'), wx.getStorageSync('x')]
        """
    ) == [1, "", ""]


def test_a_python_stub_serves_callbacks_promises_and_sync_calls(runtime: JSRuntime) -> None:
    seen: List[Any] = []

    def show_modal(option: Dict[str, Any]) -> Dict[str, Any]:
        seen.append(option)
        return {"confirm": True}

    def fail(_option: object = None) -> None:
        raise RuntimeError("no network")

    runtime.stub("showModal", show_modal)
    runtime.stub("getNetworkType", fail)
    runtime.stub("getSystemInfoSync", lambda: {"platform": "devtools"})
    runtime.eval(
        """
        wx.showModal({ title: 'Delete?', success(res) { console.log('confirm ' + res.confirm) } })
        wx.getNetworkType().catch((res) => console.log(res.errMsg))
        console.log(wx.getSystemInfoSync().platform)
        """
    )
    assert runtime.console_text() == ["devtools", "confirm true", "getNetworkType:fail no network"]
    assert seen == [{"title": "Delete?"}]
    runtime.stub("showToast", js="(opt) => console.log('toast ' + opt.title)")
    runtime.eval("wx.showToast({ title: 'saved' })")
    assert runtime.console_text()[-1] == "toast saved"
    runtime.unstub("showToast")
    with pytest.raises(JSError, match="not a function"):
        runtime.eval("wx.showToast({})")


def test_a_python_exception_in_a_host_call_is_a_js_error_not_a_SystemError(
    runtime: JSRuntime,
) -> None:
    assert runtime.eval(
        "try { wx.createUDPSocket('udp5') } catch (e) { e.name + ': ' + e.message }"
    ).startswith("TypeError: ")


def test_require_resolves_relative_to_the_project_root(
    simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory, tmp_path: Path
) -> None:
    (tmp_path / "utils").mkdir()
    (tmp_path / "utils" / "math.js").write_text("exports.double = (x) => x * 2\n")
    (tmp_path / "utils" / "index.js").write_text(
        "const m = require('./math'); module.exports = { quad: (x) => m.double(m.double(x)) }\n"
    )
    (tmp_path / "config.json").write_text('{"port": 8848}')
    runtime = js_runtime(tmp_path)
    assert runtime.eval("require('/utils').quad(3) + require('config.json').port") == 8860
    assert runtime.require("config") == {"port": 8848}
    with pytest.raises(JSError, match="Cannot find module"):
        runtime.eval("require('./missing')")
    with pytest.raises(JSError, match="outside the project root"):
        runtime.eval("require('../../etc/passwd')")


def test_the_runtime_can_be_used_from_the_event_thread(runtime: JSRuntime) -> None:
    import taro_udp

    assert taro_udp.run(lambda: runtime.eval("6 * 7")) == 42


def test_close_closes_the_sockets_and_clears_the_timers(
    simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory
) -> None:
    runtime = js_runtime()
    runtime.eval("wx.createUDPSocket().bind(); setInterval(() => {}, 1000)")
    runtime.close()
    runtime.close()  # idempotent
    import taro_udp

    taro_udp.run(timeout=WAIT)  # nothing left open: returns at once
    with pytest.raises(JSError, match="closed"):
        runtime.eval("1")


def test_a_runtime_on_loopback(js_runtime: JSRuntimeFactory) -> None:
    runtime = js_runtime()  # no simulated network: OS sockets on 127.0.0.1
    runtime.eval(
        """
        const lo = wx.createUDPSocket()
        lo.onMessage((res) => { console.log(res.remoteInfo.address); lo.close() })
        lo.send({ address: '127.0.0.1', port: lo.bind(), message: 'real' })
        """
    )
    runtime.run(timeout=WAIT)
    assert runtime.console_text() == ["127.0.0.1"]
