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

# The names below are loaded on first use (PEP 562), so ``import taro_udp`` costs
# almost nothing: the runtime (sockets, the event loop, timers) is imported with the
# first name a program touches.

from __future__ import annotations

from importlib import import_module as _import_module

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (2 ms)
if TYPE_CHECKING:
    from typing import Any, Dict, List

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

__version__ = "0.3.0"

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

# Public name -> the module that defines it.
_WHERE: Dict[str, str] = {
    **dict.fromkeys(("Taro", "create_udp_socket", "createUDPSocket", "wx"), "._api"),
    "UDPSocketError": "._errors",
    "call_soon": "._runtime",
    "run": "._runtime",
    "run_coroutine_threadsafe": "._runtime",
    "UDPSocket": "._socket",
    **dict.fromkeys(
        ("Date", "clearInterval", "clearTimeout", "performance", "setInterval", "setTimeout"),
        "._timers",
    ),
    **dict.fromkeys(
        (
            "CallbackResult",
            "ConnectOption",
            "LocalInfo",
            "OnErrorCallbackResult",
            "OnMessageCallbackResult",
            "RemoteInfo",
            "SendOption",
        ),
        "._types",
    ),
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'taro_udp' has no attribute {name!r}")
    value = getattr(_import_module(where, __name__), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> List[str]:
    return sorted({*globals(), *__all__})


# Only the package's own names stay in its namespace (and in dir()).
del annotations, TYPE_CHECKING
