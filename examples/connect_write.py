"""WeChat's ``UDPSocket.connect`` / ``write`` sample, ported line by line.

The JavaScript, from developers.weixin.qq.com/miniprogram/dev/api/network/udp/::

    const udp = wx.createUDPSocket()
    udp.bind()
    udp.connect({
      address: '192.168.193.2',
      port: 8848,
    })
    udp.write({
      address: '192.168.193.2',
      port: 8848,
      message: 'hello, how are you'
    })

A socket on 127.0.0.1 stands in for the LAN peer 192.168.193.2:8848 and answers; after
``connect`` the socket hears that peer only. Run it with ``python examples/connect_write.py``.
"""

from __future__ import annotations

import sys
import threading

from taro_udp import CallbackResult, OnMessageCallbackResult, wx

TIMEOUT = 10.0


def main() -> int:
    """Connect to the stand-in peer, write to it, and print its answer."""
    # -- the stand-in for 192.168.193.2:8848: it answers every datagram -----------------
    peer = wx.createUDPSocket()
    peer_address = "127.0.0.1"
    peer_port = peer.bind(address=peer_address)

    def answer(res: OnMessageCallbackResult) -> None:
        print("peer received:", res["message"], "from", res["remoteInfo"])
        info = res["remoteInfo"]
        peer.send({"address": info["address"], "port": info["port"], "message": "fine, thanks"})

    peer.onMessage(answer)

    # -- WeChat's sample ------------------------------------------------------------------
    answered = threading.Event()

    def on_message(res: OnMessageCallbackResult) -> None:
        print("udp received:", res)
        answered.set()

    def on_write(res: CallbackResult) -> None:
        print("write result:", res)

    udp = wx.createUDPSocket()
    udp.onMessage(on_message)
    udp.bind()
    udp.connect(
        {
            "address": peer_address,
            "port": peer_port,
        }
    )
    udp.write(
        {
            "address": peer_address,
            "port": peer_port,
            "message": "hello, how are you",
            "complete": on_write,  # not in the sample: shows the write:ok result
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
