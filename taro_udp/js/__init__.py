"""taro_udp.js: run a mini-program's own JavaScript on taro_udp (``pip install 'taro_udp[js]'``).

A ``JSRuntime`` is a JS engine (QuickJS, through the ``quickjs-ng`` package) with the
globals mini-program code uses around UDP: ``wx``/``Taro`` with ``createUDPSocket``,
``setTimeout``/``setInterval``, ``Date.now()``, ``performance.now()``, ``console``,
``TextEncoder``/``TextDecoder``, Promises, CommonJS ``require``, and ``App``/``Page``/
``Component`` with ``setData``. Everything the JS does goes through taro_udp: its
sockets are taro_udp sockets (a ``SimulatedNetwork`` applies), its timers and clock are
the event loop's, and its callbacks run on the event thread, one at a time::

    from taro_udp.js import JSRuntime

    with JSRuntime("miniprogram") as runtime:
        page = runtime.open_page("pages/index/index", {"id": "3"})
        page.call("onTapSearch", {"detail": {}})
        runtime.run_until(lambda: page.data["devices"], timeout=5)

Needs Python 3.10+ (the engine's wheels); the pytest fixture ``js_runtime`` is in
``taro_udp.js.plugin``.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any, List

if TYPE_CHECKING:
    from ._errors import JSError, RunawayScriptError
    from ._runtime import ConsoleLine, JSRuntime, Page
    from ._values import JSFunction, JSHandle, JSPromise

__all__ = [
    "ConsoleLine",
    "JSError",
    "JSFunction",
    "JSHandle",
    "JSPromise",
    "JSRuntime",
    "Page",
    "RunawayScriptError",
]

_HOMES = {
    "ConsoleLine": "._runtime",
    "JSError": "._errors",
    "JSFunction": "._values",
    "JSHandle": "._values",
    "JSPromise": "._values",
    "JSRuntime": "._runtime",
    "Page": "._runtime",
    "RunawayScriptError": "._errors",
}


def _check_engine() -> None:
    """Raise the one-line ``ImportError`` that says what is missing."""
    if sys.version_info < (3, 10):
        raise ImportError("taro_udp.js needs Python 3.10 or newer (the quickjs-ng engine's wheels)")
    try:
        import quickjs  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "taro_udp.js needs the quickjs-ng package: pip install 'taro_udp[js]'"
        ) from exc


def __getattr__(name: str) -> Any:
    # Names are imported on first use, so that the pytest plugin (a submodule) loads on
    # every Python: the engine is needed only by a test that runs JavaScript.
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _check_engine()
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
