"""Swarm testing a mini-program's own JS: a real page, a JS retry routine, Math.random."""

from __future__ import annotations

import importlib.util
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, List, Optional

import pytest

if sys.version_info < (3, 10):  # pragma: no cover
    pytest.skip("taro_udp.js needs Python 3.10+ (quickjs-ng)", allow_module_level=True)
pytest.importorskip("quickjs", reason="taro_udp.js needs the quickjs-ng package")

import taro_udp
from taro_udp.js import JSRuntime
from taro_udp.testing import SimulatedNetwork, Swarm, sometimes

from ._retry import serve

pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RETRY_SOURCE = (Path(__file__).parent / "_retry.py").read_text()

# Three requests in turn, each with a random id, retried every 100 ms; the reply is
# taken as the answer to whatever was sent last (the bug), unless MATCH is true.
JS_ROUTINE = """
const udp = wx.createUDPSocket()
udp.bind()
var answers = [], done = false, current = null, timer = 0, tries = 0
function ask(k) {
  if (k > 3) { done = true; udp.close(); return }
  current = { k: k, id: Math.floor(Math.random() * 1e9) }
  tries = 0
  attempt()
}
function attempt() {
  if (tries++ > 5) return ask(current.k + 1)
  udp.send({ address: '127.0.0.1', port: 5566, message: 'REQ ' + current.id })
  timer = setTimeout(attempt, 100)
}
udp.onMessage(function (res) {
  const text = String.fromCharCode.apply(null, new Uint8Array(res.message))
  if (!current || (MATCH && text !== 'ACK ' + current.id)) return
  clearTimeout(timer)
  answers.push([current.id, text])
  ask(current.k + 1)
})
ask(1)
"""


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "swarm_wifi_setup", EXAMPLES / "swarm_wifi_setup.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def js_retry(match: bool, watch: Optional[Callable[[JSRuntime], object]] = None) -> Any:
    def routine(network: SimulatedNetwork) -> None:
        with taro_udp.create_udp_socket() as server:
            serve(server)
            server.bind(5566, address="127.0.0.1")
            with JSRuntime() as runtime:
                if watch is not None:
                    watch(runtime)
                runtime.eval(f"var MATCH = {'true' if match else 'false'}\n" + JS_ROUTINE)
                runtime.run_until(lambda: runtime.eval("done"), timeout=60.0)
                answers: List[List[Any]] = runtime.eval("answers")
        for request, reply in answers:
            assert reply == f"ACK {request}", f"request {request} got {reply!r}"

    return routine


def test_the_swarm_finds_the_real_pages_silent_failure_and_shrinks_it() -> None:
    example = _example()
    swarm = Swarm(example.wifi_setup("original"))
    report = swarm.run(200)
    assert report.failures, "no failing seed in 200 runs"
    failing = report.failures[0]
    assert failing.failure is not None
    assert "the page says 'done', the module has ''" in failing.failure.message
    again = swarm.run_one(failing.seed)  # what --taro-udp-seed does: the seed alone
    assert again.failure == failing.failure
    assert again.trace == failing.trace
    shrunk, final = swarm.shrink(failing)
    assert 1 <= len(shrunk.schedule) <= 2, shrunk
    assert final.failure is not None
    assert final.failure.signature == failing.failure.signature


def test_the_fixed_page_passes_200_runs() -> None:
    example = _example()
    report = Swarm(example.wifi_setup("fixed")).run(200)
    assert report.failures == [], report.summary()


def test_the_fake_module_answers_as_the_real_one_documents() -> None:
    example = _example()
    with SimulatedNetwork(virtual_time=True) as network:
        module = example.UsrModule(network)
        try:
            assert module.answer("AT+WSTA\r") is None  # not unlocked yet
            assert module.answer("www.usr.cn") == "10.10.100.254,D8B04CFC0001,USR-C322"
            assert module.answer("AT+WSTA=home,secret\r") == "+ok"
            assert module.answer("AT+WSTA\\r") == "+ok=home,secret"
            assert module.answer("AT+NOPE\r") == "+ERR=-2"
            assert module.answer("hello") == "+ERR=-1"
        finally:
            module.close()


def test_a_js_last_sent_routine_is_found_replayed_with_its_math_random_and_shrunk() -> None:
    swarm = Swarm(js_retry(match=False))
    report = swarm.run(200)
    assert report.failures, "no failing seed in 200 runs"
    failing = report.failures[0]
    again = swarm.run_one(failing.seed)
    assert again.failure == failing.failure
    assert again.trace == failing.trace
    assert [r.payload for r in again.datagrams] == [r.payload for r in failing.datagrams]
    other = swarm.run_one(int(failing.seed) + 1)
    ids = {r.payload for r in failing.datagrams if r.payload.startswith(b"REQ")}
    assert ids.isdisjoint(r.payload for r in other.datagrams)  # Math.random per run
    shrunk, _ = swarm.shrink(failing)
    assert 1 <= len(shrunk.schedule) <= 2, shrunk


def test_a_correct_js_routine_passes_200_runs_and_sometimes_reports_across_runs() -> None:
    def watch(runtime: JSRuntime) -> None:
        # On the event thread, between loop rounds: the JS's own state, read directly.
        state = "typeof answers === 'undefined' ? [0, 0] : [tries, answers.length]"
        sometimes(lambda: runtime.eval(state)[0] > 1, "a JS request was retried")
        sometimes(lambda: runtime.eval(state)[1] > 3, "more answers than requests")

    report = Swarm(js_retry(match=True, watch=watch)).run(200)
    assert report.failures == [], report.summary()
    assert report.sometimes["a JS request was retried"] > 0
    assert report.never == ["more answers than requests"]


def test_pytest_swarm_swarms_a_js_runtime_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini(
        "[pytest]\nfilterwarnings =\n    error\n    ignore::pytest.PytestAssertRewriteWarning\n"
    )
    pytester.makepyfile(retry_routine=RETRY_SOURCE)
    pytester.makepyfile(
        test_inner=textwrap.dedent(
            f"""
            import taro_udp
            import retry_routine

            JS = {JS_ROUTINE!r}

            def test_js_retry(simulated_network, js_runtime):
                with taro_udp.create_udp_socket() as server:
                    retry_routine.serve(server)
                    server.bind(5566, address="127.0.0.1")
                    runtime = js_runtime()
                    runtime.eval("var MATCH = false\\n" + JS)
                    runtime.run_until(lambda: runtime.eval("done"), timeout=60.0)
                    answers = runtime.eval("answers")
                for request, reply in answers:
                    assert reply == f"ACK {{request}}", f"request {{request}} got {{reply!r}}"
            """
        )
    )
    plugins = ("-p", "taro_udp.testing.plugin", "-p", "taro_udp.js.plugin")
    result = pytester.runpytest(*plugins, "--taro-udp-swarm", "100")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    seed = re.search(r"replay: pytest --taro-udp-seed (\d+) test_inner.py::test_js_retry", text)
    assert seed is not None, text
    assert re.search(r"shrunk from \d+ to [12] fault decisions?", text), text
    replay = pytester.runpytest(*plugins, "--taro-udp-seed", seed.group(1))
    replay.assert_outcomes(failed=1)
    message = re.search(r"first failure: seed \d+, mix: .+\n  .+?: (request \d+ got .+)", text)
    assert message is not None, text
    assert message.group(1) in replay.stdout.str()


def test_the_example_script_reports_the_failure_the_shrunk_schedule_and_the_fix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _example().main(runs=60) == 0
    out = capsys.readouterr().out
    assert re.search(r"original page: 60 runs, \d+ failed", out), out
    assert re.search(r"shrunk to [12] fault decisions in \d+ runs:", out), out
    assert "10.10.100.254:48899" in out
    assert "fixed page: 60 runs, 0 failed" in out
