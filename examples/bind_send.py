"""WeChat's ``UDPSocket.bind`` / ``send`` / ``onMessage`` samples, ported line by line.

The JavaScript, from developers.weixin.qq.com/miniprogram/dev/api/network/udp/::

    const udp = wx.createUDPSocket()
    const port = udp.bind()
    udp.send({
      address: '192.168.193.2',
      port: 8848,
      message: 'hello, how are you'
    })

The sample's peer, 192.168.193.2:8848, is a machine on the author's LAN. Here a second
socket on 127.0.0.1 stands in for it and answers, so ``onMessage`` has something to show.
Run it with ``python examples/bind_send.py``; it exits 0 once the answer came back.
"""

from __future__ import annotations

import sys
import threading

from taro_udp import OnMessageCallbackResult, wx

# Long enough for a loaded machine; the answer comes back in well under a millisecond.
TIMEOUT = 10.0


def main() -> int:
    """Send "hello, how are you" to the stand-in peer and print what comes back."""
    # -- the stand-in for 192.168.193.2:8848: it answers every datagram -----------------
    peer = wx.createUDPSocket()
    peer_address = "127.0.0.1"
    peer_port = peer.bind(address=peer_address)  # any free port: 8848 may be taken

    def answer(res: OnMessageCallbackResult) -> None:
        print("peer received:", res["message"], "from", res["remoteInfo"])
        info = res["remoteInfo"]
        peer.send({"address": info["address"], "port": info["port"], "message": "fine, thanks"})

    peer.onMessage(answer)

    # -- WeChat's sample ------------------------------------------------------------------
    answered = threading.Event()

    def on_message(res: OnMessageCallbackResult) -> None:
        print("udp received:", res)  # console.log(res)
        answered.set()

    udp = wx.createUDPSocket()
    udp.onMessage(on_message)
    port = udp.bind()
    print("udp bound port", port)
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
