"""The simulated LAN from JavaScript: a real SoftAP provisioning page, the phone's view of
its network (``wx.getLocalIPAddress``, ``getNetworkType``, ``onNetworkStatusChange``).

The page (tests/fixtures/usr_softap, MIT, provenance in its README) sends Wi-Fi credentials
to a USR-IOT module at 10.10.100.254:48899; the module is a Python fake on its own host.
"""

# ruff: noqa: F811

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest

if sys.version_info < (3, 10):  # pragma: no cover
    pytest.skip("taro_udp.js needs Python 3.10+ (quickjs-ng)", allow_module_level=True)
pytest.importorskip("quickjs", reason="taro_udp.js needs the quickjs-ng package")

import taro_udp
from taro_udp.js.plugin import JSRuntimeFactory, js_runtime  # noqa: F401
from taro_udp.testing import SimulatedNetwork, SocketFactory
from taro_udp.testing.plugin import udp_socket_factory, virtual_network  # noqa: F401

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "usr_softap"
HOME = {"local_address": "192.168.1.23/24", "seed": 4, "loss": 0.2, "delay": (2, 20)}
AP_ADDRESS = "10.10.100.254"
USR_PORT = 48899


class UsrModule:
    """A USR-IOT Wi-Fi module: in AP mode at 10.10.100.254; ``www.usr.cn`` is answered with
    ``IP,MAC,MODEL`` (also its LAN search), AT commands with ``+ok``; after ``AT+WSTA`` it
    joins that network (a moment later, as it reboots) at 192.168.1.77."""

    def __init__(self, network: SimulatedNetwork, factory: SocketFactory) -> None:
        self.host = network.add_host(f"{AP_ADDRESS}/24", name="usr-c215")
        self.commands: List[str] = []
        self.station: Optional[Tuple[str, str]] = None
        with self.host:
            self.sock = factory()
        self.sock.onMessage(self._on_message)
        self.sock.bind(USR_PORT)

    def _on_message(self, res: taro_udp.OnMessageCallbackResult) -> None:
        text = res["message"].decode()
        remote = res["remoteInfo"]
        if text == "www.usr.cn":
            ip = res["localInfo"]["address"]
            if ip == "255.255.255.255":  # a LAN search: answer with our own address
                ip = self.host.network_info()["localip"]
            reply = f"{ip},ACCF23000001,USR-C215"
        else:
            # The page ends each command with a backslash and an "r" (its '\\'+'r'); the
            # module takes that or a real CR.
            command = text[:-2] if text.endswith("\\r") else text.rstrip("\r")
            self.commands.append(command)
            if command.startswith("AT+WSTA=") and self.station is None:
                ssid, key = command[len("AT+WSTA=") :].split(",", 1)
                self.station = (ssid, key)
                taro_udp.setTimeout(lambda: self.host.move_to("192.168.1.77/24"), 1000)
            reply = "+ok"
        self.sock.send({"address": remote["address"], "port": remote["port"], "message": reply})


# The phone's search on the home network, as a mini-program writes it: broadcast the USR
# search word every 200 ms (at most 20 times) until a module answers.
SEARCH = """
var found = null;
var tries = 0;
const finder = wx.createUDPSocket();
finder.onMessage((res) => {
  const text = String.fromCharCode.apply(null, new Uint8Array(res.message));
  found = { address: res.remoteInfo.address, text: text };
  clearInterval(timer);
  finder.close();
});
finder.bind();
const timer = setInterval(() => {
  if (++tries > 20) { clearInterval(timer); finder.close(); return; }
  finder.send({ address: '255.255.255.255', port: 48899, message: 'www.usr.cn' });
}, 200);
"""

WATCH = """
var changes = [];
wx.onNetworkStatusChange((res) => changes.push(res.networkType + ':' + res.isConnected));
var ips = [];
function ip() {
  wx.getLocalIPAddress({ success: (res) => ips.push(res.localip + '/' + res.netmask) });
}
ip();
"""


@pytest.mark.parametrize("virtual_network", [HOME], indirect=True)
def test_softap_provisioning_end_to_end_in_js(
    virtual_network: SimulatedNetwork,
    udp_socket_factory: SocketFactory,
    js_runtime: JSRuntimeFactory,
) -> None:
    module = UsrModule(virtual_network, udp_socket_factory)
    phone = virtual_network.local_host
    runtime = js_runtime(FIXTURE, host=phone)
    runtime.stub("showToast", lambda *_: None)
    runtime.eval(WATCH)
    phone.move_to("10.10.100.100/24")  # the user joins the module's access point
    virtual_network.advance(10)  # (JS-side conditions are read after a drive, not in one)
    assert runtime.eval("changes.length") == 2
    runtime.eval("ip()")
    page = runtime.open_page("pages/setting/setting")
    page.call("setData", {"wifi_acc_input": "HomeWiFi", "wifi_mm_input": "secret123"})
    page.call("tapName", {})
    runtime.run_until(lambda: module.station is not None, timeout=10)
    assert module.station == ("HomeWiFi", "secret123")
    phone.move_to("192.168.1.23/24")  # back home; the module reboots onto it too
    runtime.eval(SEARCH)
    virtual_network.advance(5000)  # the search gives up after 20 x 200 ms
    found: Any = runtime.eval("found")
    assert found == {"address": "192.168.1.77", "text": "192.168.1.77,ACCF23000001,USR-C215"}
    runtime.eval("ip()")
    assert runtime.eval("changes") == ["none:false", "wifi:true", "none:false", "wifi:true"]
    assert runtime.eval("ips") == [
        "192.168.1.23/255.255.255.0",
        "10.10.100.100/255.255.255.0",
        "192.168.1.23/255.255.255.0",
    ]
    sent = [r for r in virtual_network.datagrams if r.destination == (AP_ADDRESS, USR_PORT)]
    assert {r.source[0] for r in sent} == {"10.10.100.100"}  # from the phone's AP address
    page.close()


@pytest.mark.parametrize("virtual_network", [HOME], indirect=True)
def test_get_network_type_follows_disconnect_unless_stubbed(
    virtual_network: SimulatedNetwork, js_runtime: JSRuntimeFactory
) -> None:
    runtime = js_runtime()  # no host=: the network's local host, on its LAN
    runtime.eval(
        "var types = []; function kind() { wx.getNetworkType({ success: (r) => "
        "types.push(r.networkType), fail: (e) => types.push(e.errMsg) }); }; kind();"
    )
    virtual_network.local_host.disconnect()
    runtime.eval("kind(); wx.getLocalIPAddress({ fail: (e) => types.push(e.errMsg) })")
    runtime.stub("getNetworkType", lambda *_: {"networkType": "4g"})
    runtime.eval("kind()")
    virtual_network.advance(10)
    assert runtime.eval("types") == [
        "wifi",
        "none",
        "getLocalIPAddress:fail no network",
        "4g",
    ]


def test_a_loopback_network_leaves_the_network_apis_unprovided(
    js_runtime: JSRuntimeFactory,
) -> None:
    with SimulatedNetwork(virtual_time=True):
        runtime = js_runtime()
        assert runtime.eval("'getLocalIPAddress' in wx") is False
        assert runtime.eval("'onNetworkStatusChange' in wx") is False
        runtime.close()
