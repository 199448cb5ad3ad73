"""taro_udp: WeChat mini-program / Taro ``UDPSocket`` for Python.

Port mini-program UDP code line by line and run it on a desktop::

    import taro_udp

    udp = taro_udp.wx.createUDPSocket()
    udp.onMessage(lambda res: print(res["remoteInfo"], res["message"]))
    port = udp.bind()
    udp.send({"address": "127.0.0.1", "port": port, "message": "hello"})

The behaviour contract is SPEC.md; the README lists every choice made where WeChat's
documentation is silent.
"""

from ._api import Taro, create_udp_socket, createUDPSocket, wx
from ._errors import UDPSocketError
from ._runtime import call_soon, run, run_coroutine_threadsafe
from ._socket import UDPSocket
from ._timers import Date, clearInterval, clearTimeout, performance, setInterval, setTimeout
from ._types import (
    CallbackResult,
    ConnectOption,
    LocalInfo,
    OnErrorCallbackResult,
    OnMessageCallbackResult,
    RemoteInfo,
    SendOption,
)

__version__ = "0.2.0"

__all__ = [
    "CallbackResult",
    "ConnectOption",
    "Date",
    "LocalInfo",
    "OnErrorCallbackResult",
    "OnMessageCallbackResult",
    "RemoteInfo",
    "SendOption",
    "Taro",
    "UDPSocket",
    "UDPSocketError",
    "__version__",
    "call_soon",
    "clearInterval",
    "clearTimeout",
    "createUDPSocket",
    "create_udp_socket",
    "performance",
    "run",
    "run_coroutine_threadsafe",
    "setInterval",
    "setTimeout",
    "wx",
]
