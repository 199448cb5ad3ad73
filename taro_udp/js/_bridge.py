"""The Python half of ``wx.createUDPSocket`` and the JS timers: taro_udp objects for JS.

Every socket JS creates is a real ``taro_udp.UDPSocket`` (so a ``SimulatedNetwork``, its
faults and its capture apply unchanged), known to JS by a small id. Every JS listener
is registered on the socket as a Python listener of its own, so the core's rules hold
as they are: adding a listener twice, removing one while events are delivered, the
warning when nobody listens to ``error``, and the report of a listener that threw
(``"onMessage:fail Error: <message>"``). Timers are taro_udp's, so JS timers, Python
timers and datagrams run in one order on the event thread (and under its clock).
"""

# WeChat's names are the API being mirrored.
# ruff: noqa: N802

from __future__ import annotations

import base64
import itertools
import json
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

import taro_udp
from taro_udp import UDPSocket, UDPSocketError

__all__ = ["Bridge"]

Enter = Callable[..., Any]  # engine call: op, args...

_EVENTS = {
    "message": ("onMessage", "offMessage"),
    "error": ("onError", "offError"),
    "listening": ("onListening", "offListening"),
    "close": ("onClose", "offClose"),
}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SEND_KEYS = ("address", "port", "offset", "length", "setBroadcast", "message", "data")


class Bridge:
    """Sockets and timers made for one JS runtime (event thread only)."""

    def __init__(self, enter: Enter) -> None:
        self._enter = enter
        self._ids = itertools.count(1)
        self.sockets: Dict[int, UDPSocket] = {}
        # Closed sockets whose JS object is still alive: methods called on it report as
        # the core reports them; dropped when JS says the object is garbage ("release").
        self.closed: Dict[int, UDPSocket] = {}
        self._hooks: Dict[int, Callable[[Any], None]] = {}  # close hooks of open sockets
        self._listeners: Dict[Tuple[int, str, int], Callable[[Any], None]] = {}
        self.timers: Dict[int, int] = {}  # JS timer id -> taro_udp timer id

    # -- sockets -------------------------------------------------------------------------

    def createUDPSocket(self, kind: Optional[str]) -> int:
        sock = taro_udp.create_udp_socket(kind)
        sock_id = next(self._ids)
        self.sockets[sock_id] = sock
        hook = self._hooks[sock_id] = self._close_hook(sock_id)
        sock.onClose(hook)
        return sock_id

    def _close_hook(self, sock_id: int) -> Callable[[Any], None]:
        # The socket's last close listener (see ``on``): when it runs, the close event
        # has reached every JS listener, and the socket's listeners can go.
        def closed(_res: Any) -> None:
            self._hooks.pop(sock_id, None)
            sock = self.sockets.pop(sock_id, None)
            if sock is not None:
                self.closed[sock_id] = sock
            if sock_id in self.closed:
                self._forget_listeners(sock_id)

        return closed

    def _forget_listeners(self, sock_id: int) -> None:
        # Nothing can call a closed socket's message, listening or close listeners:
        # release them on both sides. Its error listeners stay (see the prelude).
        sock = self.closed.get(sock_id)
        for key in [key for key in self._listeners if key[0] == sock_id and key[1] != "error"]:
            listener = self._listeners.pop(key)
            if sock is not None:
                getattr(sock, _EVENTS[key[1]][1])(listener)
        self._enter("closed", sock_id)

    def release(self, sock_id: int) -> None:
        """JS no longer holds the closed socket ``sock_id``: forget it."""
        self.closed.pop(sock_id, None)
        for key in [key for key in self._listeners if key[0] == sock_id]:
            del self._listeners[key]

    def _socket(self, sock_id: object) -> UDPSocket:
        sock = None
        if type(sock_id) is int:
            sock = self.sockets.get(sock_id) or self.closed.get(sock_id)
        if sock is None:
            raise TypeError("not a UDPSocket of this runtime")
        return sock

    def bind(self, sock_id: int, port: Any) -> int:
        try:
            return self._socket(sock_id).bind(port)
        except UDPSocketError:
            # Reported to onError by the socket; JS gets 0, never a port that was bound.
            return 0

    def send(self, sock_id: int, option: Dict[str, Any]) -> None:
        self._socket(sock_id).send(self._option(option))

    def write(self, sock_id: int, option: Dict[str, Any]) -> None:
        self._socket(sock_id).write(self._option(option))

    def _option(self, given: Dict[str, Any]) -> Dict[str, Any]:
        option = {key: given[key] for key in _SEND_KEYS if key in given}
        for key in ("message", "data"):
            value = option.get(key)
            if type(value) is str and _LONE_SURROGATE.search(value):
                # A JS string with a lone surrogate (a name cut inside an emoji): UTF-8 as
                # Node's Buffer and TextEncoder make it, with U+FFFD in its place.
                option[key] = _LONE_SURROGATE.sub("\ufffd", value)
        for key in ("message", "data"):
            encoded = given.get(key + "$b64")
            if type(encoded) is str:
                option[key] = base64.b64decode(encoded)
        callbacks = given.get("$callbacks")
        if type(callbacks) is int:
            for key in given.get("$keys") or ():
                if key in ("success", "fail"):
                    option[key] = self._result(callbacks, key)
            option["complete"] = self._result(callbacks, "complete")  # frees the JS side
        return option

    def _result(self, callbacks: int, key: str) -> Callable[[Any], None]:
        def deliver(res: Any) -> None:
            self._enter("result", callbacks, key, json.dumps(res))

        deliver.__qualname__ = key
        return deliver

    def connect(self, sock_id: int, option: Dict[str, Any]) -> None:
        self._socket(sock_id).connect(option)

    def setTTL(self, sock_id: int, ttl: Any) -> None:
        self._socket(sock_id).setTTL(ttl)

    def close(self, sock_id: int) -> None:
        if type(sock_id) is not int:
            return
        sock = self.sockets.pop(sock_id, None)
        if sock is not None:
            self.closed[sock_id] = sock  # at once: the close event comes later
        else:
            sock = self.closed.get(sock_id)
        if sock is not None:
            sock.close()

    def on(self, sock_id: int, event: str, fn_id: int) -> None:
        sock = self._socket(sock_id)
        add, _ = _EVENTS[event]
        listener = self._listener(sock_id, event, fn_id)
        self._listeners[(sock_id, event, fn_id)] = listener
        getattr(sock, add)(listener)
        hook = self._hooks.get(sock_id)
        if event == "close" and hook is not None:  # the hook stays the last one
            sock.offClose(hook)
            sock.onClose(hook)

    def off(self, sock_id: int, event: str, fn_id: Optional[int]) -> None:
        sock = self.sockets.get(sock_id) or self.closed.get(sock_id)
        _, remove = _EVENTS[event]
        if fn_id is None:
            # JS's off<Event>() with no argument removes the JS listeners only, one by
            # one: the bridge's own close hook stays on the socket.
            for key in [key for key in self._listeners if key[:2] == (sock_id, event)]:
                every = self._listeners.pop(key)
                if sock is not None:
                    getattr(sock, remove)(every)
            return
        listener = self._listeners.pop((sock_id, event, fn_id), None)
        if listener is not None and sock is not None:
            getattr(sock, remove)(listener)

    def _listener(self, sock_id: int, event: str, fn_id: int) -> Callable[[Any], None]:
        enter = self._enter
        if event == "error":

            def on_error(res: Any) -> None:
                if sock_id in self.closed:  # held by the closed JS socket, not by id
                    enter("fireClosed", sock_id, fn_id, json.dumps(res))
                else:
                    enter("fire", fn_id, json.dumps(res))

            return on_error
        if event == "message":
            b64encode = base64.b64encode

            def on_message(res: Any) -> None:
                # The hot path: the datagram's fields as arguments, no JSON.
                remote = res["remoteInfo"]
                local = res["localInfo"]
                enter(
                    "message",
                    fn_id,
                    b64encode(res["message"]).decode("ascii"),
                    remote["address"],
                    remote["family"],
                    remote["port"],
                    remote["size"],
                    local["address"],
                    local["port"],
                )

            return on_message

        def on_event(res: Any) -> None:
            enter("fire", fn_id, json.dumps(res))

        return on_event

    # -- timers --------------------------------------------------------------------------

    def setTimer(self, delay: float, repeat: bool) -> int:
        timer_id = next(self._ids)
        schedule = taro_udp.setInterval if repeat else taro_udp.setTimeout
        self.timers[timer_id] = schedule(self._fire_timer, delay, timer_id, repeat)
        return timer_id

    def _fire_timer(self, timer_id: int, repeat: bool) -> None:
        if not repeat:
            self.timers.pop(timer_id, None)
        self._enter("timer", timer_id, not repeat)

    def clearTimer(self, timer_id: int) -> None:
        taro_id = self.timers.pop(timer_id, None) if type(timer_id) is int else None
        if taro_id is not None:
            taro_udp.clearTimeout(taro_id)

    # -- teardown ------------------------------------------------------------------------

    def close_all(self) -> None:
        """Clear every timer and close every socket of the runtime."""
        for taro_id in list(self.timers.values()):
            taro_udp.clearTimeout(taro_id)
        self.timers.clear()
        sockets: List[UDPSocket] = list(self.sockets.values())
        self.sockets.clear()
        self.closed.clear()
        self._hooks.clear()
        self._listeners.clear()
        for sock in sockets:
            sock.close()
