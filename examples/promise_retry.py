"""Request and reply with a timeout and retries: the Promise pattern, ported line by line.

Most mini-program UDP code talks to a device this way: wrap ``send`` in a Promise,
wait for the reply with a ``setTimeout``-based timeout, try again a few times, then
give up and tell the user. This is the JavaScript it ports::

    class DeviceClient {
      constructor() {
        this.udp = wx.createUDPSocket()
        this.pending = {}  // request id -> resolve of the request waiting for that reply
        this.nextId = 1
        this.udp.onMessage((res) => {
          const reply = JSON.parse(new TextDecoder().decode(res.message))
          const resolve = this.pending[reply.id]
          if (resolve) {
            delete this.pending[reply.id]
            resolve(reply)
          }
        })
        this.udp.bind()
      }

      send(options) {
        return new Promise((resolve, reject) => {
          this.udp.send({ ...options, success: resolve, fail: reject })
        })
      }

      waitReply(id, ms) {
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => {
            delete this.pending[id]
            reject(new Error(`request ${id}: no reply within ${ms} ms`))
          }, ms)
          this.pending[id] = (reply) => {
            clearTimeout(timer)
            resolve(reply)
          }
        })
      }

      async request(address, port, body, timeout = 500, retries = 3) {
        for (let attempt = 1; attempt <= retries; attempt++) {
          const id = this.nextId++
          await this.send({ address, port, message: JSON.stringify({ ...body, id }) })
          try {
            return await this.waitReply(id, timeout)
          } catch (err) {
            console.log(`attempt ${attempt}/${retries}: ${err.message}`)
          }
        }
        throw new Error(`no reply from ${address}:${port} after ${retries} attempts`)
      }

      close() {
        this.udp.close()
      }
    }

    // The page's tap handler:
    async onTapRefresh() {
      const client = new DeviceClient()
      try {
        const reply = await client.request(this.data.ip, Number(this.data.port), { cmd: 'status' })
        this.setData({ status: reply.status })
      } catch (err) {
        wx.showToast({ title: 'Device not responding', icon: 'none' })
      } finally {
        client.close()
      }
    }

The port: ``new Promise(...)`` is a future from ``asyncio.get_running_loop()``, settled
by ``settlers(future)`` (JS's ``resolve``/``reject``: the first call wins, later ones are
no-ops); ``fail: reject`` rejects with a ``UDPSocketError`` made from the result dict;
``throw new Error(...)`` is ``raise NoReplyError(...)``. Listeners, timers and the
``async`` methods all run on taro_udp's event thread, so ``pending`` and ``next_id``
need no lock. Start the program with ``taro_udp.run(main)``.

``FakeDevice`` is the other side, a socket that answers ``{"id", "status"}`` after
ignoring its first few requests. Run ``python examples/promise_retry.py`` to see one
request answered on its second attempt and one given up after three (127.0.0.1 only).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Dict, List, Tuple, TypeVar

import taro_udp

__all__ = ["DeviceClient", "FakeDevice", "NoReplyError", "main", "on_tap_refresh", "settlers"]

T = TypeVar("T")
Reply = Dict[str, Any]


class NoReplyError(TimeoutError):
    """``request()`` gave up: no reply after every attempt."""


def settlers(
    future: asyncio.Future[T],
) -> Tuple[Callable[[T], None], Callable[[BaseException], None]]:
    """``resolve`` and ``reject`` of ``new Promise((resolve, reject) => ...)`` for ``future``.

    As in JS, a Promise settles once: later calls (and calls after the awaiting task
    was cancelled) are ignored, where ``future.set_result`` would raise
    ``InvalidStateError`` inside the callback.
    """

    def resolve(value: T) -> None:
        if not future.done():
            future.set_result(value)

    def reject(error: BaseException) -> None:
        if not future.done():
            future.set_exception(error)

    return resolve, reject


class DeviceClient:
    """Requests to a device, each retried until it is answered (the JS class above).

    Create, use and close it on the event thread: inside ``taro_udp.run(main)``.
    """

    def __init__(self) -> None:
        self.udp = taro_udp.wx.createUDPSocket()
        self.pending: Dict[int, Callable[[Reply], None]] = {}  # request id -> its resolve
        self.next_id = 1

        def on_message(res: taro_udp.OnMessageCallbackResult) -> None:
            reply = json.loads(res["message"].decode("utf-8", "replace"))
            resolve = self.pending.get(reply.get("id"))
            if resolve:
                del self.pending[reply["id"]]
                resolve(reply)

        self.udp.onMessage(on_message)
        self.udp.bind()

    def send(self, options: Dict[str, Any]) -> asyncio.Future[taro_udp.CallbackResult]:
        """``send(options)`` as an awaitable: its ``success`` resolves, its ``fail`` rejects."""
        future: asyncio.Future[taro_udp.CallbackResult] = asyncio.get_running_loop().create_future()
        resolve, reject = settlers(future)
        # Dict[str, Any]: merged with the caller's options, it is not checked as SendOption.
        option: Dict[str, Any] = {
            **options,
            "success": resolve,
            "fail": lambda res: reject(
                taro_udp.UDPSocketError(res["errMsg"], res.get("errCode", -1))
            ),
        }
        self.udp.send(option)
        return future

    def wait_reply(self, request_id: int, ms: float) -> asyncio.Future[Reply]:
        """The reply to ``request_id``; rejected with ``TimeoutError`` after ``ms`` ms."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        resolve, reject = settlers(future)

        def expire() -> None:
            del self.pending[request_id]
            reject(TimeoutError(f"request {request_id}: no reply within {ms:g} ms"))

        timer = taro_udp.setTimeout(expire, ms)

        def answered(reply: Reply) -> None:
            taro_udp.clearTimeout(timer)
            resolve(reply)

        self.pending[request_id] = answered
        return future

    async def request(
        self, address: str, port: int, body: Dict[str, Any], timeout: float = 500, retries: int = 3
    ) -> Reply:
        """Send ``body`` with a fresh ``id`` up to ``retries`` times; return the first reply.

        Each attempt waits ``timeout`` ms. Raises ``NoReplyError`` after the last one, and
        ``UDPSocketError`` at once if a send fails (a bad address is not worth retrying).
        """
        for attempt in range(1, retries + 1):
            request_id = self.next_id
            self.next_id += 1
            await self.send(
                {
                    "address": address,
                    "port": port,
                    "message": json.dumps({**body, "id": request_id}),
                }
            )
            try:
                return await self.wait_reply(request_id, timeout)
            except TimeoutError as err:
                print(f"attempt {attempt}/{retries}: {err}")
        raise NoReplyError(f"no reply from {address}:{port} after {retries} attempts")

    def close(self) -> None:
        self.udp.close()


async def on_tap_refresh(ip: str, port_text: str, timeout: float = 500) -> str:
    """The page's tap handler; returns what the page would show.

    ``this.data.port`` is the text of an input: ``int()`` it, as JS ``Number()``s it
    (taro_udp's ports are strict ints). ``setData``/``showToast`` become the return value.
    """
    client = DeviceClient()
    try:
        reply = await client.request(ip, int(port_text), {"cmd": "status"}, timeout)
        return f"status: {reply['status']}"  # this.setData({ status: reply.status })
    except NoReplyError:
        return "toast: Device not responding"  # wx.showToast({ title: ..., icon: 'none' })
    finally:
        client.close()


class FakeDevice:
    """A device on ``address`` answering ``{"id", "status"}`` to each request, ``delay`` ms
    after it arrived (a slow device), except the first ``ignore_first`` requests.
    ``requests`` holds every request received, ignored ones included.

    Create and close it from any thread; it answers on the event thread.
    """

    def __init__(
        self, address: str = "127.0.0.1", *, ignore_first: int = 0, delay: float = 0
    ) -> None:
        self.ignore_first = ignore_first
        self.delay = delay
        self.requests: List[Dict[str, Any]] = []
        self.timers: List[int] = []  # the delayed replies, cleared by close()
        self.udp = taro_udp.create_udp_socket()
        self.udp.onMessage(self._on_message)
        self.port = self.udp.bind(0, address=address)

    def close(self) -> None:
        for timer in self.timers:
            taro_udp.clearTimeout(timer)
        self.udp.close()

    def _on_message(self, res: taro_udp.OnMessageCallbackResult) -> None:
        request = json.loads(res["message"])
        self.requests.append(request)
        if len(self.requests) <= self.ignore_first:
            print(f"device: request {request['id']} ignored")
            return
        print(f"device: request {request['id']} answered")
        reply = {"id": request["id"], "status": "on"}
        info = res["remoteInfo"]
        option: taro_udp.SendOption = {
            "address": info["address"],
            "port": info["port"],
            "message": json.dumps(reply),
        }
        if self.delay:
            self.timers.append(taro_udp.setTimeout(self.udp.send, self.delay, option))
        else:
            self.udp.send(option)


async def demo() -> None:
    """One device that misses the first request; one that misses all three."""
    device = FakeDevice(ignore_first=1)
    try:
        print(await on_tap_refresh("127.0.0.1", str(device.port)))
    finally:
        device.close()
    busy = FakeDevice(ignore_first=3)
    try:
        print(await on_tap_refresh("127.0.0.1", str(busy.port)))
    finally:
        busy.close()


def main() -> None:
    """Run the demo as the program: ``run`` returns once every socket is closed."""
    taro_udp.run(demo, timeout=30)


if __name__ == "__main__":
    main()
