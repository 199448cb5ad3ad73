"""Swarm testing a real page: a mini-program that sets up a USR Wi-Fi module over UDP.

``examples/js/wifi_setup/original`` is a real page (MIT, provenance in the README
there): it sends the module's key and two AT commands twice each, blind, and reports
nothing. This script runs it on the simulated network against ``UsrModule`` (a Python
fake of the module at 10.10.100.254:48899) under a swarm of 200 seeded fault mixes,
prints the first failing seed, the replay line and the shrunk schedule; then runs the
fixed page (``.../fixed``: each step retried until answered, every setting read back)
through the same 200 mixes, where no run fails. Needs the ``js`` extra (Python 3.10+).

    python examples/swarm_wifi_setup.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Dict, Optional

import taro_udp
from taro_udp import OnMessageCallbackResult
from taro_udp.testing import SimulatedNetwork, Swarm, describe

ROOT = Path(__file__).resolve().parent / "js" / "wifi_setup"
WANTED = "home,secret"


class UsrModule:
    """A USR-C322-like Wi-Fi module's UDP command port, on its own host of the LAN.

    ``www.usr.cn`` unlocks command mode (answered with ``IP,MAC,model``); then
    ``AT+<NAME>=<value>`` sets (``+ok``) and ``AT+<NAME>`` reads (``+ok=<value>``).
    A command before the key is ignored, as the module does outside command mode.
    """

    ADDRESS = "10.10.100.254"
    PORT = 48899

    def __init__(self, network: SimulatedNetwork) -> None:
        self.host = network.add_host(f"{self.ADDRESS}/24", name="usr-module")
        self.unlocked = False
        self.settings: Dict[str, str] = {"WMODE": "AP", "WSTA": ""}
        with self.host:
            self.sock = taro_udp.create_udp_socket()
        self.sock.onMessage(self._on_message)
        self.sock.bind(self.PORT)

    def answer(self, text: str) -> Optional[str]:
        """The module's answer to one datagram, or None for silence."""
        if text == "www.usr.cn":
            self.unlocked = True
            return f"{self.ADDRESS},D8B04CFC0001,USR-C322"
        if not self.unlocked:
            return None
        # A real CR, or the page's backslash-r (see the README): both end a command.
        for end in ("\r", "\\r"):
            if text.endswith(end):
                text = text[: -len(end)]
                break
        if not text.startswith("AT+"):
            return "+ERR=-1"
        name, equals, value = text[3:].partition("=")
        if name not in self.settings:
            return "+ERR=-2"
        if equals:
            self.settings[name] = value
            return "+ok"
        return f"+ok={self.settings[name]}"

    def _on_message(self, res: OnMessageCallbackResult) -> None:
        reply = self.answer(bytes(res["message"]).decode("latin-1"))
        if reply is not None:
            info = res["remoteInfo"]
            self.sock.send({"address": info["address"], "port": info["port"], "message": reply})

    def close(self) -> None:
        self.sock.close()


def wifi_setup(variant: str) -> Callable[[SimulatedNetwork], None]:
    """One run: open the page ``variant`` on a phone, tap "bind", check the module."""

    def routine(network: SimulatedNetwork) -> None:
        from taro_udp.js import JSRuntime

        module = UsrModule(network)
        phone = network.add_host("10.10.100.100/24", name="phone")
        runtime = JSRuntime(ROOT / variant, host=phone)
        try:
            runtime.stub("showToast", lambda options: None)
            page = runtime.open_page("pages/setting/setting")
            page.call("setData", {"wifi_acc_input": "home", "wifi_mm_input": "secret"})
            page.call("tapName")
            runtime.run_until(lambda: not page.data.get("loading"), timeout=30.0)
            network.settle()
            # The original has no status: it always believes it is done.
            status = page.data.get("status", "done")
            if status != "failed":  # a page that gave up and says so is not wrong
                station = module.settings["WSTA"]
                assert station == WANTED, f"the page says {status!r}, the module has {station!r}"
        finally:
            runtime.close()
            module.close()

    return routine


def main(runs: int = 200) -> int:
    original = Swarm(wifi_setup("original"))
    report = original.run(runs)
    print(f"original page: {report.summary()}")
    if not report.failures:
        print("the swarm found nothing in the original page (unexpected)")
        return 1
    first = report.failures[0]
    print(f"first failure: seed {first.seed}, mix: {first.mix}\n  {first.failure}")
    shrunk, final = original.shrink(first)
    print(f"shrunk to {len(shrunk.schedule)} fault decisions in {shrunk.runs} runs:")
    print("\n".join("  " + line for line in describe(final).splitlines()))
    fixed = Swarm(wifi_setup("fixed")).run(runs)
    print(f"fixed page: {fixed.summary()}")
    return 0 if not fixed.failures else 1


if __name__ == "__main__":
    if sys.version_info < (3, 10):
        print("taro_udp.js needs Python 3.10+ (quickjs-ng)")
        sys.exit(0)
    sys.exit(main())
