"""examples/js: WeChat's UDPSocket samples, the discovery routine and a page, run as they are.

The samples' peer, 192.168.193.2:8848, is on the author's LAN; the copies send to
127.0.0.1:8848 unless their SEND_TO_DOCS_PEER flag is set. On the simulated network the
datagram is recorded with its fate (nobody is there), which is what is asserted.
The discovery routine finds every Python ``Device`` through 30% loss; the page
exchanges datagrams with a Python device fake and shows the answers in ``data``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Tuple

import pytest

if sys.version_info < (3, 10):  # pragma: no cover
    pytest.skip("taro_udp.js needs Python 3.10+ (quickjs-ng)", allow_module_level=True)
pytest.importorskip("quickjs", reason="taro_udp.js needs the quickjs-ng package")

import taro_udp
from taro_udp.js import JSRuntime, Page
from taro_udp.js.plugin import JSRuntimeFactory
from taro_udp.testing import SimulatedNetwork

from ._helpers import WAIT

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
JS = EXAMPLES / "js"


def _sample(name: str) -> str:
    return (JS / "wechat_docs" / name).read_text(encoding="utf-8")


def _to_peer(network: SimulatedNetwork, address: str = "127.0.0.1") -> List[Any]:
    return [
        record
        for record in network.datagrams
        if str(record.destination[0]) == address and record.destination[1] == 8848
    ]


def _to_lan_peer(network: SimulatedNetwork) -> List[Any]:
    return _to_peer(network, "192.168.193.2")


def _docs_peer(source: str) -> str:
    flag = "const SEND_TO_DOCS_PEER = false"
    assert flag in source
    return source.replace(flag, "const SEND_TO_DOCS_PEER = true")


@pytest.mark.parametrize("name", ["bind_send.js", "connect_write.js"])
def test_wechat_samples_send_to_loopback_and_end_by_themselves(
    name: str, simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory
) -> None:
    runtime = js_runtime()
    runtime.eval(_sample(name))
    # run() returns only once no socket is open and no timer is pending.
    runtime.run(timeout=WAIT)
    [record] = _to_peer(simulated_network)
    assert record.payload == b"hello, how are you"
    assert not _to_lan_peer(simulated_network)


@pytest.mark.parametrize("name", ["bind_send.js", "connect_write.js"])
def test_wechat_samples_flag_sends_to_the_docs_lan_peer(
    name: str, simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory
) -> None:
    runtime = js_runtime()
    runtime.eval(_docs_peer(_sample(name)))
    runtime.run(timeout=WAIT)
    [record] = _to_lan_peer(simulated_network)
    assert record.payload == b"hello, how are you"


def test_bind_send_sample(
    simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory
) -> None:
    runtime = js_runtime()
    runtime.eval(_sample("bind_send.js"))
    assert isinstance(runtime.eval("port"), int)
    assert runtime.eval("port") > 0
    runtime.run_until(lambda: _to_peer(simulated_network), timeout=WAIT)
    [record] = _to_peer(simulated_network)
    assert record.payload == b"hello, how are you"


def test_wechat_samples_end_by_themselves_under_taro_udp_run() -> None:
    # The real network, loopback only: the samples' default peer is 127.0.0.1:8848.
    for name in ("bind_send.js", "connect_write.js"):
        done = subprocess.run(
            [sys.executable, "-m", "taro_udp", "run", str(JS / "wechat_docs" / name)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=dict(os.environ, TARO_UDP_BIND_ADDRESS="127.0.0.1"),
            timeout=WAIT * 2,
            check=False,
        )
        assert done.returncode == 0, (name, done.stdout, done.stderr)


def test_set_ttl_sample(simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory) -> None:
    runtime = js_runtime()
    runtime.eval(_sample("set_ttl.js"))
    # Posted after the sample's listening event: this runs once setTTL(64) has been called.
    runtime.eval(
        "udp.onError((err) => console.error(err.errMsg)); "
        "udp.onClose(() => console.log('closed')); setTimeout(() => udp.close(), 0)"
    )
    runtime.run(timeout=WAIT)
    assert runtime.console_text() == ["closed"]


def _discovery_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("discovery_example_js", EXAMPLES / "discovery.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "simulated_network", [{"seed": 1, "loss": 0.3, "virtual_time": True}], indirect=True
)
def test_discovery_finds_every_device_through_30_percent_loss(
    simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory
) -> None:
    devices = [_discovery_example().Device(name) for name in ("lamp", "plug", "speaker")]
    try:
        runtime = js_runtime(JS / "discovery")
        runtime.eval((JS / "discovery" / "discovery.js").read_text(encoding="utf-8"))
        runtime.eval(
            "var found = null; discover((devices) => { found = devices }, "
            "{ expected: 3, attempts: 10, interval: 50 })"
        )
        runtime.run_until(lambda: runtime.eval("found !== null"), timeout=WAIT)
        found: Dict[str, Any] = runtime.eval("found")
    finally:
        for device in devices:
            device.close()
    assert sorted(found) == ["lamp", "plug", "speaker"]
    assert found["lamp"]["name"] == "device lamp"
    fates = [record.fate for record in simulated_network.datagrams]
    assert "dropped" in fates  # the loss was real: the retries found them anyway


class _DeviceFake:
    """The device the page talks to: answers {cmd, seq} with {seq, state}, from Python."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        self.sock = taro_udp.create_udp_socket()
        self.sock.onMessage(self._answer)
        self.port = self.sock.bind(address="127.0.0.2")

    def _answer(self, res: taro_udp.OnMessageCallbackResult) -> None:
        request = json.loads(res["message"])
        self.requests.append(request)
        if len(self.requests) == 1:
            return  # the first request is "lost": the page retries
        reply = {"seq": request["seq"], "state": "on"}
        info = res["remoteInfo"]
        self.sock.send(
            {"address": info["address"], "port": info["port"], "message": json.dumps(reply)}
        )


def _open_device_page(js_runtime: JSRuntimeFactory, device: _DeviceFake) -> Tuple[JSRuntime, Page]:
    runtime = js_runtime(JS / "page")
    runtime.launch()
    page = runtime.open_page(f"pages/device/device?address=127.0.0.2&port={device.port}")
    return runtime, page


def _ping_until_online(runtime: JSRuntime, page: Page) -> None:
    page.call("onTapPing", {"currentTarget": {"dataset": {"command": "state"}}})
    runtime.run_until(lambda: page.data["status"] == "online", timeout=WAIT)


def test_a_page_exchanges_datagrams_with_a_python_device(
    simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory
) -> None:
    device = _DeviceFake()
    try:
        runtime, page = _open_device_page(js_runtime, device)
        assert runtime.console_text() == ["app launched"]
        assert page.data["status"] == "ready"
        assert page.data["port"] > 0
        _ping_until_online(runtime, page)
        data = page.data
        assert data["replies"] == [{"seq": 1, "state": "on"}]
        assert data["last"] == {"state": "on"}
        assert data["sent"] >= 2  # the retry after the first request went unanswered
        assert [request["cmd"] for request in device.requests][:2] == ["state", "state"]
        assert runtime.eval("getApp().globalData.lastDevice.address") == "127.0.0.2"
        assert runtime.eval("getCurrentPages().length") == 1
        page.close()
    finally:
        device.sock.close()


@pytest.mark.parametrize("simulated_network", [{"seed": 2, "duplicate": 1.0}], indirect=True)
def test_the_page_counts_a_duplicated_reply_once(
    simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory
) -> None:
    # A swarm run found it: with every datagram duplicated, the page appended the reply
    # to its current request twice.
    device = _DeviceFake()
    try:
        runtime, page = _open_device_page(js_runtime, device)
        _ping_until_online(runtime, page)
        simulated_network.settle(WAIT)  # every copy of every reply has been read
        assert any(d.copy == 1 and d.outcome == "delivered" for d in simulated_network.deliveries)
        assert page.data["replies"] == [{"seq": 1, "state": "on"}]
        page.close()
    finally:
        device.sock.close()


def test_taro_udp_run_runs_a_script_until_it_is_idle() -> None:
    env = dict(os.environ, TARO_UDP_BIND_ADDRESS="127.0.0.1")
    done = subprocess.run(
        [sys.executable, "-m", "taro_udp", "run", str(JS / "echo_once.js")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("received pong from port ")
    assert lines[1] == "closed"


def test_taro_udp_run_reports_an_uncaught_error(tmp_path: Path) -> None:
    script = tmp_path / "bad.js"
    script.write_text("console.log('before')\nnull.x\n")
    done = subprocess.run(
        [sys.executable, "-m", "taro_udp", "run", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == "before\n"
    assert "run: error: Uncaught TypeError: cannot read property 'x' of null" in done.stderr


def test_the_readme_example_passes(
    simulated_network: SimulatedNetwork,
    js_runtime: JSRuntimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Running the mini-program's JavaScript")
    body = readme.index("```python\n", start) + len("```python\n")
    namespace: Dict[str, Any] = {}
    exec(compile(readme[body : readme.index("```", body)], "README.md", "exec"), namespace)
    monkeypatch.chdir(root)  # the example names its project root relative to the checkout
    namespace["test_device_page"](simulated_network, js_runtime)
