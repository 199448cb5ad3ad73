"""taro_udp.js: the global environment as WeChat has it (issue 15, item 4).

Absent APIs are absent (feature detection works), stubs may be synchronous whatever
their name, a closed socket's methods report as the core reports them, randomness is
reproducible on a seeded simulated network, and the repros 11, 17 and 19 of
``shared/repros/js`` (TextDecoder, Date subclasses, ``require('.')``) hold.
"""

from __future__ import annotations

import base64
import logging
import random
import sys
from pathlib import Path
from typing import Any, List

import pytest

if sys.version_info < (3, 10):  # pragma: no cover
    pytest.skip("taro_udp.js needs Python 3.10+ (quickjs-ng)", allow_module_level=True)
pytest.importorskip("quickjs", reason="taro_udp.js needs the quickjs-ng package")

from taro_udp.js import JSRuntime
from taro_udp.js.plugin import JSRuntimeFactory
from taro_udp.testing import SimulatedNetwork

from ._helpers import WAIT

pytest_plugins = ["pytester"]


@pytest.fixture
def runtime(simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory) -> JSRuntime:
    return js_runtime()


def _hints(caplog: pytest.LogCaptureFixture, name: str) -> List[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "taro_udp.js" and f"wx.{name} is not provided" in record.getMessage()
    ]


# -- absent APIs -------------------------------------------------------------------------


def test_an_absent_wx_api_is_undefined_so_feature_detection_works(runtime: JSRuntime) -> None:
    # 0.2.0: every absent API was a truthy function that threw when called.
    assert runtime.eval(
        """
        const seen = []
        if (wx.onThemeChange) seen.push('themed')
        if (!wx.getLocalIPAddress) seen.push('fallback')
        seen.push(typeof wx.onThemeChange, typeof Taro.onThemeChange)
        seen
        """
    ) == ["fallback", "undefined", "undefined"]


@pytest.mark.parametrize(
    "name", ["createUDPSocket", "getStorageSync", "onThemeChange", "toString", "constructor"]
)
def test_in_and_canIUse_agree(runtime: JSRuntime, name: str) -> None:
    inside, usable = runtime.eval(f"['{name}' in wx, wx.canIUse('{name}')]")
    own = runtime.eval(f"Object.prototype.hasOwnProperty.call(wx, '{name}')")
    assert usable is own  # an API of wx, not what every object inherits
    if name not in ("toString", "constructor"):
        assert inside is usable


def test_a_stubbed_api_is_present_until_unstubbed(runtime: JSRuntime) -> None:
    runtime.stub("onThemeChange", js="(listener) => listener({ theme: 'dark' })")
    assert runtime.eval(
        "let theme; if (wx.onThemeChange) wx.onThemeChange((r) => { theme = r.theme });"
        " [theme, 'onThemeChange' in wx, wx.canIUse('onThemeChange')]"
    ) == ["dark", True, True]
    runtime.unstub("onThemeChange")
    assert runtime.eval("[typeof wx.onThemeChange, wx.canIUse('onThemeChange')]") == [
        "undefined",
        False,
    ]


def test_unstubbing_a_provided_api_gives_back_the_runtimes_own(runtime: JSRuntime) -> None:
    runtime.stub("getStorageSync", lambda key: "stubbed")
    assert runtime.eval("wx.getStorageSync('k')") == "stubbed"
    runtime.unstub("getStorageSync")
    assert runtime.eval("wx.setStorageSync('k', 'v'); wx.getStorageSync('k')") == "v"


def test_the_first_read_of_an_absent_name_logs_one_hint_naming_stub(
    runtime: JSRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="taro_udp.js")
    runtime.eval("for (let i = 0; i < 3; i++) { if (wx.getWifiList) {} }; 'getWifiList' in wx")
    [hint] = _hints(caplog, "getWifiList")
    assert "runtime.stub('getWifiList'" in hint
    assert runtime.eval("typeof wx.createUDPSocket") == "function"
    assert _hints(caplog, "createUDPSocket") == []


def test_a_python_stub_declared_sync_returns_its_value_whatever_its_name(
    runtime: JSRuntime,
) -> None:
    runtime.stub("canIUse", lambda name: name == "getWifiList", sync=True)
    # 0.2.0: a Promise (always truthy) for a name that does not end in Sync.
    assert runtime.eval("[wx.canIUse('getWifiList'), wx.canIUse('onThemeChange')]") == [
        True,
        False,
    ]
    runtime.stub("getBatteryInfoSync", lambda: {"level": 80}, sync=False)
    assert runtime.eval("wx.getBatteryInfoSync() instanceof Promise") is True


def test_stub_rejects_a_sync_that_is_not_a_bool(runtime: JSRuntime) -> None:
    with pytest.raises(TypeError, match="sync"):
        runtime.stub("canIUse", lambda name: True, sync="yes")  # type: ignore[arg-type]


# -- a closed socket ---------------------------------------------------------------------


def test_methods_of_a_closed_js_socket_report_through_fail_and_onError_never_throw(
    runtime: JSRuntime,
) -> None:
    runtime.eval(
        """
        globalThis.log = []
        const s = wx.createUDPSocket()
        s.onError((e) => log.push('onError ' + e.errMsg + ' ' + e.errCode))
        s.bind()
        s.close()
        globalThis.s = s
        """
    )
    runtime.run_until(lambda: not runtime._bridge.sockets, timeout=WAIT)
    # 0.2.0: each of these threw "TypeError: not a UDPSocket of this runtime".
    runtime.eval(
        """
        s.send({ address: '127.0.0.1', port: 9, message: 'x',
                 fail: (r) => log.push('fail ' + r.errMsg), complete: () => log.push('complete') })
        s.write({ address: '127.0.0.1', port: 9, message: 'x' })
        s.connect({ address: '127.0.0.1', port: 9 })
        s.setTTL(64)
        log.push('bind ' + s.bind())
        s.close()
        """
    )
    runtime.run_until(lambda: len(runtime.eval("log")) >= 7, timeout=WAIT)
    log = runtime.eval("log")
    assert log[:3] == ["bind 0", "fail send:fail socket is closed", "complete"]
    for method in ("send", "write", "connect", "setTTL"):
        assert f"onError {method}:fail socket is closed -1" in log


# -- randomness --------------------------------------------------------------------------

DRAW = (
    "[Math.random(), Math.random(), Array.from(crypto.getRandomValues(new Uint32Array(4))),"
    " crypto.randomUUID()]"
)


def _draw_on(seed: int) -> Any:
    with SimulatedNetwork(seed=seed):
        runtime = JSRuntime()
        try:
            return runtime.eval(DRAW)
        finally:
            runtime.close()


def test_math_random_and_getRandomValues_follow_the_simulated_networks_seed() -> None:
    # 0.2.0: the engine's own generator, different in every run.
    first, again, other = _draw_on(5), _draw_on(5), _draw_on(6)
    assert first == again
    assert first != other
    assert all(0 <= value < 1 for value in first[:2])


def test_without_a_simulated_network_randomness_is_not_repeated() -> None:
    runtimes = [JSRuntime(), JSRuntime()]
    try:
        draws = [runtime.eval(DRAW) for runtime in runtimes]
    finally:
        for runtime in runtimes:
            runtime.close()
    assert draws[0] != draws[1]
    assert draws[0][3] != draws[1][3]


def test_getRandomValues_refuses_a_float_array_and_more_than_65536_bytes(
    runtime: JSRuntime,
) -> None:
    assert runtime.eval(
        "const out = [];"
        "try { crypto.getRandomValues(new Float64Array(2)) } catch (e) { out.push(e.name) }"
        "try { crypto.getRandomValues(new Uint8Array(65537)) } catch (e) { out.push(e.name) }"
        "out.push(crypto.getRandomValues(new Uint8Array(65536)).length); out"
    ) == ["TypeError", "QuotaExceededError", 65536]


TWICE_TEST = """
import taro_udp

def test_packet_size_from_math_random(virtual_network, js_runtime):
    runtime = js_runtime()
    runtime.eval('''
      const rx = wx.createUDPSocket(); const port = rx.bind()
      // A connection id from Math.random, as a reliable-UDP library makes it.
      const id = Math.floor(Math.random() * 1e9).toString(36) + '-'.repeat(Math.random() * 200 | 0)
      wx.createUDPSocket().send({ address: '127.0.0.1', port, message: 'conn ' + id })
    ''')
    virtual_network.advance(50)
    assert len(virtual_network.datagrams) == 1
"""


def test_two_runs_with_the_same_seed_draw_the_same_numbers_under_taro_udp_twice(
    pytester: pytest.Pytester,
) -> None:
    # 0.2.0: the datagram's size changed between the runs, so --taro-udp-twice failed.
    pytester.makepyfile(test_twice_random=TWICE_TEST)
    result = pytester.runpytest_subprocess("--taro-udp-twice", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


# -- TextDecoder (repro 11), Date (repro 17), require('.') (repro 19) ---------------------

INVALID_UTF8 = [
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xe0\x80\xaf",
    b"\xff",
    b"\xe2\x82",
    b"a\xf0\x9f\x98",
    b"\xf0\x9f\x98\x80\xc0\xaf",
    b"\xc2",
    b"\xe0\xa0",
    b"\x80\x80abc",
]


def _decode(runtime: JSRuntime, raw: bytes) -> str:
    encoded = base64.b64encode(raw).decode("ascii")
    text: str = runtime.eval(f"[new TextDecoder().decode(Uint8Array.fromBase64('{encoded}'))]")[0]
    return text


@pytest.mark.parametrize("raw", INVALID_UTF8, ids=[raw.hex() for raw in INVALID_UTF8])
def test_TextDecoder_replaces_each_maximal_invalid_subpart(runtime: JSRuntime, raw: bytes) -> None:
    assert _decode(runtime, raw) == raw.decode("utf-8", "replace")


def test_TextDecoder_agrees_with_python_on_random_bytes(runtime: JSRuntime) -> None:
    draw = random.Random(15)
    alphabet = [0x00, 0x41, 0x7F, 0x80, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5]
    alphabet += [0xFF, 0x9F, 0xA0, 0x8F, 0x90]
    for _ in range(200):
        raw = bytes(draw.choice(alphabet) for _ in range(draw.randint(1, 12)))
        assert _decode(runtime, raw) == raw.decode("utf-8", "replace"), raw.hex()


def test_TextDecoder_fatal_throws_on_invalid_bytes(runtime: JSRuntime) -> None:
    assert (
        runtime.eval(
            "const strict = new TextDecoder('utf-8', { fatal: true });"
            "try { strict.decode(new Uint8Array([0xed, 0xa0, 0x80])) }"
            " catch (e) { e.name }"
        )
        == "TypeError"
    )


def test_Date_can_be_subclassed_and_still_reads_the_loops_clock(runtime: JSRuntime) -> None:
    result = runtime.eval(
        """
        class Stamp extends Date { label() { return 'at ' + this.getTime() } }
        const s = new Stamp()
        const now = Date.now()
        ;[s instanceof Stamp, s instanceof Date, typeof s.label, Math.abs(s.getTime() - now) < 1000,
          new Stamp(0).getTime(), Date.name, typeof Date()]
        """
    )
    # 0.2.0: [False, True, 'undefined', ...]
    assert result == [True, True, "function", True, 0, "Date", "string"]


def test_require_dot_is_the_same_module_as_require_index(
    js_runtime: JSRuntimeFactory, tmp_path: Path
) -> None:
    (tmp_path / "index.js").write_text(
        "globalThis.loads = (globalThis.loads || 0) + 1; module.exports = {}\n", encoding="utf-8"
    )
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "up.js").write_text("module.exports = require('..')\n", encoding="utf-8")
    runtime = js_runtime(tmp_path)
    # 0.2.0: [False, False, 2]: index.js ran twice, as two modules.
    assert runtime.eval(
        "const a = require('./index'), b = require('.'), c = require('./lib/up');"
        " [a === b, a === c, loads]"
    ) == [True, True, 1]


def test_open_page_works_for_a_page_module_required_before(
    js_runtime: JSRuntimeFactory, tmp_path: Path
) -> None:
    (tmp_path / "pages" / "a").mkdir(parents=True)
    (tmp_path / "pages" / "a" / "a.js").write_text(
        "Page({ data: { n: 1 }, onLoad() { this.setData({ n: 2 }) } })\n", encoding="utf-8"
    )
    (tmp_path / "app.js").write_text("require('./pages/a/a'); App({})\n", encoding="utf-8")
    runtime = js_runtime(tmp_path)
    runtime.launch()
    # 0.2.0: "pages/a/a did not call Page() or Component()" (its module was cached).
    assert runtime.open_page("pages/a/a").data == {"n": 2}
