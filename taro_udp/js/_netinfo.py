"""The phone's view of the simulated network, for a ``JSRuntime`` on a host.

``wx.getLocalIPAddress`` answers the host's address and netmask on its current subnet,
``wx.getNetworkType`` ``"wifi"`` or ``"none"``, and ``wx.onNetworkStatusChange``
listeners run (on the event thread, in order with everything else) when the host
``connect``s or ``disconnect``s. They are default stubs: a test that stubs one of them
(``runtime.stub("getNetworkType", ...)``) replaces it. The runtime's sockets are made on
that host (``wx.createUDPSocket`` inside ``with host:``).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from ._errors import JSError

if TYPE_CHECKING:
    from ..testing._hosts import Host
    from ._runtime import JSRuntime

__all__ = ["install"]

_log = logging.getLogger("taro_udp.js")

# The JS halves: listeners kept in the context, each called apart (what one throws is an
# uncaught error of the runtime, reported as any other, and the next one still runs).
_ON = """(fn) => {
  if (typeof fn !== 'function') {
    throw new TypeError('onNetworkStatusChange: listener must be a function');
  }
  const all = globalThis.__taroNetworkListeners || (globalThis.__taroNetworkListeners = []);
  if (!all.includes(fn)) all.push(fn);
}"""
_OFF = """(fn) => {
  const all = globalThis.__taroNetworkListeners || [];
  if (fn === undefined) all.length = 0;
  else if (all.includes(fn)) all.splice(all.indexOf(fn), 1);
}"""
_EMIT = """(function (res) {
  for (const fn of (globalThis.__taroNetworkListeners || []).slice()) {
    try { fn(Object.assign({}, res)); } catch (e) { setTimeout(() => { throw e; }, 0); }
  }
})(%s)"""


def install(runtime: JSRuntime, host: Optional[Host]) -> None:
    """Give ``runtime`` the network APIs of ``host`` (or of the active network's local
    host, when that one is on a LAN); without either, nothing changes."""
    if host is None:
        from ..testing._network import active_network  # only when no host is given

        network = active_network()
        if network is None or network.local_host.loopback_only:
            return
        host = network.local_host
    else:
        _create_on(runtime, host)
    chosen = host

    def get_local_ip_address(*_args: Any) -> Dict[str, str]:
        info = chosen.network_info()
        if not info["localip"]:
            raise ConnectionError("no network")
        return {
            "errMsg": "getLocalIPAddress:ok",
            "localip": info["localip"],
            "netmask": info["netmask"],
        }

    def get_network_type(*_args: Any) -> Dict[str, Any]:
        network_type = chosen.network_info()["networkType"]
        return {"errMsg": "getNetworkType:ok", "networkType": network_type, "signalStrength": 0}

    runtime.stub("getLocalIPAddress", get_local_ip_address)
    runtime.stub("getNetworkType", get_network_type)
    runtime.stub("onNetworkStatusChange", js=_ON)
    runtime.stub("offNetworkStatusChange", js=_OFF)

    def on_change(info: Dict[str, Any]) -> None:
        if runtime.closed:
            chosen.off_network_change(on_change)
            return
        res = {"isConnected": info["isConnected"], "networkType": info["networkType"]}
        try:
            runtime.eval(_EMIT % json.dumps(res))
        except JSError:  # closed meanwhile; a listener's own error went to setTimeout
            _log.debug("onNetworkStatusChange: the runtime is gone", exc_info=True)

    chosen.on_network_change(on_change)


def _create_on(runtime: JSRuntime, host: Host) -> None:
    # wx.createUDPSocket makes its socket on the host (the network reads ``with host:``).
    create: Callable[..., Any] = runtime._ops["createUDPSocket"]

    def create_on_host(*args: Any) -> Any:
        with host:
            return create(*args)

    runtime._ops["createUDPSocket"] = create_on_host
