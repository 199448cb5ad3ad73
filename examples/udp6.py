"""The bind/send/onMessage sample on a ``udp6`` socket (``wx.createUDPSocket('udp6')``).

WeChat's ``createUDPSocket(type)`` takes ``'udp4'`` or ``'udp6'``; the send sample,
ported to IPv6::

    const udp = wx.createUDPSocket('udp6')
    udp.bind()
    udp.send({
      address: '::1',
      port: 8848,
      message: 'hello, how are you'
    })

A udp6 socket on ::1 stands in for the peer and answers; ``remoteInfo.family`` is
``"IPv6"``. Run it with ``python examples/udp6.py`` (needs IPv6 on loopback).
"""

from __future__ import annotations

import sys
import threading

from taro_udp import OnMessageCallbackResult, wx

TIMEOUT = 10.0


def main() -> int:
    """Send to the stand-in peer on ::1 and print its answer."""
    # -- the stand-in peer on IPv6 loopback -----------------------------------------------
    peer = wx.createUDPSocket("udp6")
    peer_address = "::1"
    peer_port = peer.bind(address=peer_address)

    def answer(res: OnMessageCallbackResult) -> None:
        print("peer received:", res["message"], "from", res["remoteInfo"])
        info = res["remoteInfo"]
        peer.send({"address": info["address"], "port": info["port"], "message": "fine, thanks"})

    peer.onMessage(answer)

    # -- the sample on udp6 -------------------------------------------------------------
    answered = threading.Event()

    def on_message(res: OnMessageCallbackResult) -> None:
        print("udp received:", res)
        answered.set()

    udp = wx.createUDPSocket("udp6")
    udp.onMessage(on_message)
    udp.bind()
    udp.send(
        {
            "address": peer_address,
            "port": peer_port,
            "message": "hello, how are you",
        }
    )

    ok = answered.wait(TIMEOUT)
    udp.close()
    peer.close()
    if not ok:
        print(f"no answer within {TIMEOUT}s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
