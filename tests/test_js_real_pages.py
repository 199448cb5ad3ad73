"""Real mini-program pages (``tests/js_pages``), run unmodified under virtual time.

WeChat's own API demo has a UDPSocket page (MIT; provenance in ``js_pages/README.md``):
it feature-detects ``wx.onThemeChange``, checks ``wx.canIUse('createUDPSocket')``, and
shows each datagram its second socket receives in ``wx.showModal``. The host APIs it
needs are stubbed from Python; a Python "device" on the simulated network sends it text.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

if sys.version_info < (3, 10):  # pragma: no cover
    pytest.skip("taro_udp.js needs Python 3.10+ (quickjs-ng)", allow_module_level=True)
pytest.importorskip("quickjs", reason="taro_udp.js needs the quickjs-ng package")

import taro_udp
from taro_udp.js import JSRuntime
from taro_udp.js.plugin import JSRuntimeFactory
from taro_udp.testing import SimulatedNetwork

DEMO = Path(__file__).resolve().parent / "js_pages" / "miniprogram-demo"
ROUTE = "packageAPI/pages/network/udp-socket/udp-socket"


class Host:
    """The WeChat APIs the page uses besides UDP, faked: the modals it shows."""

    def __init__(self, runtime: JSRuntime, theme: str = "dark") -> None:
        self.modals: List[Dict[str, Any]] = []
        runtime.stub("getSystemInfoSync", lambda: {"platform": "devtools", "theme": theme})
        runtime.stub("showModal", self.modals.append)


@pytest.fixture
def runtime(virtual_network: SimulatedNetwork, js_runtime: JSRuntimeFactory) -> JSRuntime:
    return js_runtime(DEMO)


def test_the_demo_page_loads_with_the_theme_and_without_onThemeChange(
    runtime: JSRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="taro_udp.js")
    host = Host(runtime)
    page = runtime.open_page(ROUTE)
    # wx.onThemeChange is absent: the page's `if (wx.onThemeChange)` skips it (0.2.0
    # called the throwing placeholder, and onLoad failed).
    assert page.data["theme"] == "dark"
    assert page.data["canIUse"] is True
    assert host.modals == []  # no "WeChat version too low" modal
    assert any("wx.onThemeChange" in record.getMessage() for record in caplog.records)


def test_the_demo_page_follows_a_theme_change_through_a_python_stub(runtime: JSRuntime) -> None:
    Host(runtime)
    listeners: List[Any] = []
    runtime.stub("onThemeChange", listeners.append)
    page = runtime.open_page(ROUTE)
    [listener] = listeners
    listener({"theme": "light"})  # the phone switches to light mode
    assert page.data["theme"] == "light"


def test_the_demo_page_shows_the_message_it_sends_itself(
    runtime: JSRuntime, virtual_network: SimulatedNetwork
) -> None:
    host = Host(runtime)
    page = runtime.open_page(ROUTE)
    page.call("handleCreateUDPTap")
    data = page.data
    assert data["startUDP"] is True
    port, remote = data["port"], data["remote_port"]
    assert isinstance(port, int)
    assert isinstance(remote, int)
    page.call("handleSendMessage")
    virtual_network.run_until(lambda: bool(host.modals), timeout=5)
    assert host.modals == [
        {
            "title": "IP:127.0.0.1发来的信息",
            "content": f"port[{port}] 向 remote-port[{remote}] 发送信息: Hello Wechat!",
        }
    ]


def test_the_demo_page_shows_what_a_device_sends_in_utf8_and_closes_cleanly(
    runtime: JSRuntime, virtual_network: SimulatedNetwork
) -> None:
    host = Host(runtime)
    page = runtime.open_page(ROUTE)
    page.call("handleCreateUDPTap")
    remote = page.data["remote_port"]
    device = taro_udp.create_udp_socket()
    try:
        device.send({"address": "127.0.0.1", "port": remote, "message": "温度 21.5°C".encode()})
        virtual_network.run_until(lambda: bool(host.modals), timeout=5)
    finally:
        device.close()
    [modal] = host.modals
    assert modal["content"] == "温度 21.5°C"
    page.call("handleCloseUDPTap")
    assert page.data["startUDP"] is False
    virtual_network.run_until(lambda: not runtime._bridge.sockets, timeout=5)
    # Both sockets closed: their message listeners are released on both sides.
    assert [key for key in runtime._bridge._listeners if key[1] == "message"] == []
