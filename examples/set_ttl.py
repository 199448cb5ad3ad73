"""WeChat's ``UDPSocket.setTTL`` sample (TTL set in ``onListening``), ported line by line.

The JavaScript, from developers.weixin.qq.com/miniprogram/dev/api/network/udp/::

    const udp = wx.createUDPSocket()
    udp.onListening(function () {
      udp.setTTL(64)
    })
    udp.bind()

``setTTL`` reports failures through ``onError`` (it never raises), so this port adds an
``onError`` listener and closes the socket once it is listening: an error from
``setTTL(64)`` would arrive before the ``close`` event. Run it with
``python examples/set_ttl.py``; it exits 0 when the TTL was set without an error.
"""

from __future__ import annotations

import sys
import threading
from typing import List

from taro_udp import CallbackResult, OnErrorCallbackResult, wx

TIMEOUT = 10.0


def main() -> int:
    """Bind, set the TTL from the listening event, and report any error."""
    errors: List[OnErrorCallbackResult] = []
    listening = threading.Event()
    closed = threading.Event()

    # -- WeChat's sample ------------------------------------------------------------------
    udp = wx.createUDPSocket()

    def on_listening(res: CallbackResult) -> None:
        udp.setTTL(64)
        print("onListening:", res, "-> setTTL(64)")
        listening.set()

    udp.onListening(on_listening)
    udp.onError(errors.append)
    udp.onClose(lambda res: closed.set())
    udp.bind()

    ok = listening.wait(TIMEOUT)
    udp.close()
    ok = closed.wait(TIMEOUT) and ok
    if not ok:
        print(f"no listening/close event within {TIMEOUT}s", file=sys.stderr)
        return 1
    if errors:
        print("setTTL failed:", errors, file=sys.stderr)
        return 1
    print("setTTL(64): no error")
    return 0


if __name__ == "__main__":
    sys.exit(main())
