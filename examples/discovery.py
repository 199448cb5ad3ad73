"""LAN device discovery with retries: a mini-program routine, ported to taro_udp.

A mini-program finds the devices on its LAN by broadcasting a probe and collecting the
answers. On a phone's Wi-Fi the probe or an answer is often lost, sometimes duplicated
or late, so the routine retries and de-duplicates. This is the JavaScript it ports::

    const udp = wx.createUDPSocket()
    const nonce = String(Date.now())
    const found = {}
    udp.onMessage((res) => {
      const reply = JSON.parse(new TextDecoder().decode(res.message))
      if (reply.type === 'announce' && reply.nonce === nonce && !found[reply.id]) {
        found[reply.id] = { name: reply.name, address: res.remoteInfo.address }
      }
    })
    udp.bind()
    let round = 0
    const probe = () => {
      udp.send({ address: '255.255.255.255', port: 37020, setBroadcast: true,
                 message: JSON.stringify({ type: 'discover', nonce, round }) })
      if (++round < 5) setTimeout(probe, 200); else setTimeout(() => udp.close(), 200)
    }
    probe()

``discover()`` is that routine; ``Device`` is the other side (what the hardware runs),
here so that tests can put devices on a network. Run ``python examples/discovery.py``
to see it find three devices on a simulated network that loses 30% of datagrams.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any, Dict, List, Optional

import taro_udp

__all__ = ["DISCOVERY_PORT", "Device", "DeviceInfo", "discover"]

DISCOVERY_PORT = 37020
BROADCAST = "255.255.255.255"

DeviceInfo = Dict[str, Any]
_nonces = itertools.count(1)


def discover(
    port: int = DISCOVERY_PORT,
    *,
    attempts: int = 5,
    interval: float = 0.2,
    expected: Optional[int] = None,
    address: str = BROADCAST,
) -> Dict[str, DeviceInfo]:
    """Broadcast up to ``attempts`` probes, ``interval`` seconds apart; return the devices.

    Returns ``{device id: {"name", "address", "port"}}``, each device once however many
    of its answers arrived. Stops early once ``expected`` devices answered. Answers to
    an earlier discovery (another nonce) and malformed datagrams are ignored.
    """
    nonce = f"{threading.get_ident()}-{next(_nonces)}"
    found: Dict[str, DeviceInfo] = {}
    lock = threading.Lock()  # listeners run on the event thread, the rounds on ours
    enough = threading.Event()

    def on_message(res: taro_udp.OnMessageCallbackResult) -> None:
        reply = _decode(res["message"])
        if reply is None or reply.get("type") != "announce" or reply.get("nonce") != nonce:
            return
        with lock:
            if reply.get("id") in found:
                return  # a duplicate, or an answer to an earlier round: seen already
            found[str(reply.get("id"))] = {
                "name": reply.get("name"),
                "address": res["remoteInfo"]["address"],
                "port": res["remoteInfo"]["port"],
            }
            if expected is not None and len(found) >= expected:
                enough.set()

    with taro_udp.create_udp_socket() as udp:
        udp.onMessage(on_message)
        udp.bind()
        for round_ in range(attempts):
            probe = {"type": "discover", "nonce": nonce, "round": round_}
            udp.send(
                {
                    "address": address,
                    "port": port,
                    "setBroadcast": True,
                    "message": json.dumps(probe),
                }
            )
            # setTimeout(probe, interval), unless every expected device has answered.
            if enough.wait(interval):
                break
    with lock:
        return dict(found)


class Device:
    """A device answering discovery probes: ``{"type": "announce", "id", "name", "nonce"}``.

    Binds ``port`` (0: any; read ``device.port``) on all interfaces, explicitly: only a
    socket bound to the wildcard address hears broadcasts. ``reuseAddr`` lets several
    devices share the discovery port on one machine, as each would have it on a LAN.
    """

    def __init__(self, device_id: str, port: int = DISCOVERY_PORT, name: str = "") -> None:
        self.device_id = device_id
        self.name = name or f"device {device_id}"
        self.probes: List[int] = []  # the round of every probe received, duplicates included
        self._sock = taro_udp.create_udp_socket(options={"reuseAddr": True})
        self._sock.onMessage(self._on_message)
        try:
            self.port = self._sock.bind(port, address="0.0.0.0")
        except taro_udp.UDPSocketError:
            self._sock.close()
            raise

    def close(self) -> None:
        """Stop answering."""
        self._sock.close()

    def _on_message(self, res: taro_udp.OnMessageCallbackResult) -> None:
        probe = _decode(res["message"])
        if probe is None or probe.get("type") != "discover":
            return
        self.probes.append(int(probe.get("round", -1)))
        reply = {
            "type": "announce",
            "id": self.device_id,
            "name": self.name,
            "nonce": probe.get("nonce"),
        }
        self._sock.send(
            {
                "address": res["remoteInfo"]["address"],
                "port": res["remoteInfo"]["port"],
                "message": json.dumps(reply),
            }
        )


def _decode(message: bytes) -> Optional[Dict[str, Any]]:
    try:
        value = json.loads(message.decode("utf-8"))
    except ValueError:  # not UTF-8 or not JSON: somebody else's datagram
        return None
    return value if isinstance(value, dict) else None


def main() -> None:
    """Find three simulated devices through 30% loss."""
    from taro_udp.testing import SimulatedNetwork

    with SimulatedNetwork(seed=1, loss=0.3) as network:
        devices = [Device(str(n)) for n in range(3)]
        try:
            found = discover(attempts=10, interval=0.05, expected=3)
        finally:
            for device in devices:
                device.close()
        fates = [record.fate for record in network.datagrams]
    print(f"found {sorted(found)} with {fates.count('dropped')} of {len(fates)} datagrams lost")


if __name__ == "__main__":
    main()
