"""A real page (tests/js_pages/zhihui-sleep, MIT, unmodified) binds a WiFi module over UDP.

WeChat's WiFi and UI APIs are Python stubs: ``wx.onGetWifiList(listener)`` hands the page's JS
listener to Python, and the ``wx.getWifiList`` stub calls it 200 ms later from a Python timer
(on the event thread, virtual time), as WeChat delivers the list. The module at
10.10.100.254:48899 is on the author's LAN: on the simulated network its datagrams are
recorded with their fate, and ``UsrModule`` reads them as the module would.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

if sys.version_info < (3, 10):  # pragma: no cover
    pytest.skip("taro_udp.js needs Python 3.10+ (quickjs-ng)", allow_module_level=True)
pytest.importorskip("quickjs", reason="taro_udp.js needs the quickjs-ng package")

import taro_udp
import taro_udp.js
from taro_udp.js.plugin import JSRuntimeFactory
from taro_udp.testing import SimulatedNetwork

PROJECT = Path(__file__).resolve().parent / "js_pages" / "zhihui-sleep"
MODULE = ("10.10.100.254", 48899)
NETWORKS = [
    {"SSID": "lab-2.4G", "BSSID": "aa:bb:cc:00:00:01", "signalStrength": 90},
    {"SSID": "lab-5G", "BSSID": "aa:bb:cc:00:00:02", "signalStrength": 75},
]


class UsrModule:
    """The module's side: what it does with the datagrams sent to it, in order."""

    def __init__(self, network: SimulatedNetwork) -> None:
        self.network = network

    def received(self) -> List[bytes]:
        return [
            record.payload
            for record in self.network.datagrams
            if (str(record.destination[0]), record.destination[1]) == MODULE
        ]

    def settings(self) -> Dict[str, str]:
        """Commands accepted after the ``www.usr.cn`` password (command mode), by name."""
        accepted: Dict[str, str] = {}
        in_command_mode = False
        for payload in self.received():
            text = payload.decode("utf-8")
            if text == "www.usr.cn":
                in_command_mode = True
            elif in_command_mode and text.startswith("AT+"):
                name, _, value = text[3:].partition("=")
                accepted[name] = value
        return accepted


class WeChatWifi:
    """WeChat's WiFi and UI APIs for the page, as Python stubs."""

    def __init__(self, runtime: taro_udp.js.JSRuntime) -> None:
        self.listeners: List[Any] = []
        self.sheets: List[List[str]] = []
        self.toasts: List[str] = []
        runtime.stub("startWifi", lambda option: None)
        runtime.stub("showToast", lambda option: self.toasts.append(option["title"]))
        runtime.stub("onGetWifiList", self.listeners.append)
        runtime.stub("getWifiList", self._get_wifi_list)
        runtime.stub("showActionSheet", self._action_sheet)
        runtime.stub("showModal", lambda option: {"confirm": True, "content": "pass word"})

    def _get_wifi_list(self, _option: Any) -> None:
        # The list arrives later, as an onGetWifiList event: the page registers its
        # listener in getWifiList's success callback, which runs after this returns.
        taro_udp.setTimeout(self._deliver, 200)

    def _deliver(self) -> None:
        for listener in self.listeners:
            listener({"wifiList": NETWORKS})

    def _action_sheet(self, option: Dict[str, Any]) -> Dict[str, Any]:
        self.sheets.append(option["itemList"])
        return {"tapIndex": 1}  # the user taps the second network


@pytest.mark.parametrize("simulated_network", [{"seed": 7, "virtual_time": True}], indirect=True)
def test_the_settings_page_sends_the_chosen_wifi_to_the_module(
    simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory
) -> None:
    runtime = js_runtime(PROJECT)
    wechat = WeChatWifi(runtime)
    module = UsrModule(simulated_network)
    page = runtime.open_page("pages/setting/setting")
    assert page.data["bindWIFISSID"] == "未绑定"
    assert page.data["bindState"] == "立即绑定WIFI"

    page.call("getWifiList")  # the user taps "立即绑定WIFI"
    runtime.run_until(lambda: len(module.received()) >= 6, timeout=5)

    [listener] = wechat.listeners
    assert isinstance(listener, taro_udp.js.JSFunction)
    assert wechat.toasts == ["搜索WIFI中", "已搜索到"]
    assert wechat.sheets == [["lab-2.4G 强度 ：90", "lab-5G 强度 ：75"]]
    assert page.data["wifiList"] == NETWORKS
    # The page's own bytes: its '\\' + 'r' sends a backslash and an "r", not a CR.
    assert (
        module.received()
        == [b"www.usr.cn"] * 2
        + [
            b"AT+WMODE=APSTA\\r",
            b"AT+WSTA=lab-5G,pass word\\r",
        ]
        * 2
    )
    assert module.settings() == {"WMODE": "APSTA\\r", "WSTA": "lab-5G,pass word\\r"}
    assert runtime.console_text() == [
        "getWifiList=[object Object]",
        "lab-2.4G",
        "lab-5G",
        '[{"SSID":"lab-2.4G","BSSID":"aa:bb:cc:00:00:01","signalStrength":90},'
        '{"SSID":"lab-5G","BSSID":"aa:bb:cc:00:00:02","signalStrength":75}]',
    ]
    runtime.run(timeout=5)  # the page closed its socket: nothing is left pending
