"""LAN device discovery with retries: a mini-program routine, ported line by line.

A mini-program finds the devices on its LAN by broadcasting a probe and collecting the
answers. On a phone's Wi-Fi the probe or an answer is often lost, sometimes duplicated
or late, so the routine retries and de-duplicates. This is the JavaScript it ports::

    const DISCOVERY_PORT = 37020
    let discoveries = 0

    // Broadcast up to `attempts` probes, `interval` ms apart; call done(found) once
    // every expected device answered, or `interval` ms after the last probe.
    function discover(done, { port = DISCOVERY_PORT, attempts = 5, interval = 200,
                              expected, address = '255.255.255.255' } = {}) {
      const udp = wx.createUDPSocket()
      const nonce = `${Date.now()}-${++discoveries}`
      const found = {}
      let round = 0
      let timer = 0
      const finish = () => {
        clearTimeout(timer)
        udp.close()
        done(found)
      }
      udp.onMessage((res) => {
        let reply
        try {
          reply = JSON.parse(new TextDecoder().decode(res.message))
        } catch (err) {
          return  // not JSON: somebody else's datagram
        }
        if (reply.type !== 'announce' || reply.nonce !== nonce || reply.id in found) return
        found[reply.id] = { name: reply.name, address: res.remoteInfo.address,
                            port: res.remoteInfo.port }
        if (expected !== undefined && Object.keys(found).length >= expected) finish()
      })
      udp.bind()
      const probe = () => {
        udp.send({ address, port, setBroadcast: true,
                   message: JSON.stringify({ type: 'discover', nonce, round }) })
        round += 1
        timer = setTimeout(round < attempts ? probe : finish, interval)
      }
      probe()
    }

``start_discovery()`` is that function, line for line: the closure's ``let`` variables
are ``nonlocal``, ``setTimeout``/``clearTimeout``/``Date.now()`` are taro_udp's. It
needs no lock: the listener, the timers and ``finish`` all run on the event thread, one
at a time, as on the mini-program's JS thread. (``setBroadcast`` is for a directed
broadcast such as ``192.168.1.255``; the default ``255.255.255.255`` needs no flag.)

``discover()`` is the blocking helper for plain Python code: it runs a discovery with
``taro_udp.run()`` and returns what it found. ``Device`` is the other side (what the
hardware runs), here so that tests can put devices on a network. Run
``python examples/discovery.py`` to see it find three devices on a simulated network
that loses 30% of datagrams.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Callable, Dict, List, Optional

import taro_udp

__all__ = ["DISCOVERY_PORT", "Device", "DeviceInfo", "close_all", "discover", "start_discovery"]

DISCOVERY_PORT = 37020
BROADCAST = "255.255.255.255"

DeviceInfo = Dict[str, Any]
_discoveries = itertools.count(1)


def start_discovery(
    done: Callable[[Dict[str, DeviceInfo]], object],
    port: int = DISCOVERY_PORT,
    *,
    attempts: int = 5,
    interval: float = 200,
    expected: Optional[int] = None,
    address: str = BROADCAST,
) -> None:
    """Broadcast up to ``attempts`` probes, ``interval`` **ms** apart; then ``done(found)``.

    ``found`` is ``{device id: {"name", "address", "port"}}``, each device once however
    many of its answers arrived. ``done`` runs once, on the event thread, as soon as
    ``expected`` devices answered, else ``interval`` ms after the last probe; the socket
    is closed by then. Answers to another discovery (another nonce) and datagrams that
    are not JSON objects are ignored.

    Call it on the event thread (from ``taro_udp.run(main)``, a listener, a timer or
    ``taro_udp.call_soon``), as JS calls it on its one thread: the routine shares
    ``found``, ``round_`` and ``timer`` between its callbacks without a lock.
    """
    udp = taro_udp.wx.createUDPSocket()
    nonce = f"{taro_udp.Date.now()}-{next(_discoveries)}"
    found: Dict[str, DeviceInfo] = {}
    round_ = 0
    timer = 0

    def finish() -> None:
        taro_udp.clearTimeout(timer)
        udp.close()
        done(found)

    def on_message(res: taro_udp.OnMessageCallbackResult) -> None:
        reply = _decode(res["message"])
        if reply is None:
            return  # not JSON: somebody else's datagram
        if (
            reply.get("type") != "announce"
            or reply.get("nonce") != nonce
            or str(reply.get("id")) in found
        ):
            return
        found[str(reply.get("id"))] = {
            "name": reply.get("name"),
            "address": res["remoteInfo"]["address"],
            "port": res["remoteInfo"]["port"],
        }
        if expected is not None and len(found) >= expected:
            finish()

    udp.onMessage(on_message)
    udp.bind()

    def probe() -> None:
        nonlocal round_, timer
        udp.send(
            {
                "address": address,
                "port": port,
                "setBroadcast": True,
                "message": json.dumps({"type": "discover", "nonce": nonce, "round": round_}),
            }
        )
        round_ += 1
        timer = taro_udp.setTimeout(probe if round_ < attempts else finish, interval)

    probe()


def discover(
    port: int = DISCOVERY_PORT,
    *,
    attempts: int = 5,
    interval: float = 0.2,
    expected: Optional[int] = None,
    address: str = BROADCAST,
    then: Optional[Callable[[Dict[str, DeviceInfo]], object]] = None,
    timeout: Optional[float] = None,
) -> Dict[str, DeviceInfo]:
    """Run ``start_discovery`` (``interval`` in **seconds** here) and return what it found.

    Blocks: it is ``taro_udp.run(main)``, so call it from a plain thread (the main
    thread of a script, a test), never from a listener, timer or task, where ``run()``
    raises ``RuntimeError``; there, call ``start_discovery`` with a ``done`` callback.

    ``run()`` returns when the whole program has ended: no socket of the process left
    open, no timer pending. So a program that has other sockets open (the ``Device``
    objects of a test) closes them in ``then``: it runs on the event thread with the
    devices found, once the discovery is over, like ``.then()`` of a JS Promise.
    ``timeout`` (seconds) is ``run()``'s: ``TimeoutError`` if the program has not ended.
    """
    result: Dict[str, DeviceInfo] = {}

    def done(found: Dict[str, DeviceInfo]) -> None:
        result.update(found)
        if then is not None:
            then(found)

    def main() -> None:
        start_discovery(
            done,
            port,
            attempts=attempts,
            interval=interval * 1000,
            expected=expected,
            address=address,
        )

    taro_udp.run(main, timeout=timeout)
    return result


class Device:
    """A device answering discovery probes: ``{"type": "announce", "id", "name", "nonce"}``.

    Binds ``port`` (0: any; read ``device.port``) on all interfaces, explicitly: only a
    socket bound to the wildcard address hears broadcasts. ``reuseAddr`` lets several
    devices share the discovery port on one machine, as each would have it on a LAN.
    Create and close it from any thread; it answers on the event thread.
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


def close_all(devices: List[Device]) -> Callable[[object], None]:
    """A ``then`` for ``discover``: close every device once the discovery is over."""

    def close(_found: object) -> None:
        for device in devices:
            device.close()

    return close


def _decode(message: bytes) -> Optional[Dict[str, Any]]:
    # JSON.parse(new TextDecoder().decode(message)), None where JS would throw; a reply
    # that is not an object (JSON `42`) has no .type in JS either. TextDecoder replaces
    # bytes that are not UTF-8 with U+FFFD, as errors="replace" does.
    try:
        value = json.loads(message.decode("utf-8", "replace"))
    except ValueError:  # not JSON
        return None
    return value if isinstance(value, dict) else None


def main() -> None:
    """Find three simulated devices through 30% loss."""
    from taro_udp.testing import SimulatedNetwork

    with SimulatedNetwork(seed=1, loss=0.3) as network:
        devices = [Device(str(n)) for n in range(3)]
        try:
            found = discover(
                attempts=10, interval=0.05, expected=3, then=close_all(devices), timeout=30
            )
        finally:
            for device in devices:  # already closed by then, unless discover() raised
                device.close()
        fates = [record.fate for record in network.datagrams]
    print(f"found {sorted(found)} with {fates.count('dropped')} of {len(fates)} datagrams lost")


if __name__ == "__main__":
    main()
