"""A request/retry routine, correct and buggy, for the swarm tests and the bench.

The client asks three questions in turn (``REQ <n>``), each sent again every 100 ms up
to 5 retries until a reply comes; the server answers ``ACK <n>``. The buggy client
takes any reply as the answer to the request it sent last (as much mini-program code
does); the correct one matches the reply's number. Under a late or duplicated reply
the buggy one gives request 2 the answer meant for request 1.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import taro_udp
from taro_udp import OnMessageCallbackResult
from taro_udp.testing import SimulatedNetwork

REQUESTS = 3
RETRIES = 5
INTERVAL_MS = 100


class RetryClient:
    """Three requests in turn, each retried; ``answers``: (request, reply) pairs."""

    def __init__(self, server_port: int, *, match_by_seq: bool) -> None:
        self.server_port = server_port
        self.match_by_seq = match_by_seq
        self.answers: List[Tuple[int, bytes]] = []
        self.gave_up: List[int] = []
        self.sent = 0  # datagrams sent, retries included
        self.current: Optional[int] = None
        self.attempts = 0
        self.timer: Optional[int] = None
        self.done = False
        self.sock = taro_udp.create_udp_socket()
        self.sock.onMessage(self.on_message)
        self.sock.bind()

    def start(self) -> None:
        taro_udp.call_soon(self.ask, 1)

    def ask(self, n: int) -> None:
        if n > REQUESTS:
            self.current = None
            self.done = True
            return
        self.current, self.attempts = n, 0
        self.attempt()

    def attempt(self) -> None:
        assert self.current is not None
        if self.attempts > RETRIES:
            self.gave_up.append(self.current)
            self.ask(self.current + 1)
            return
        self.attempts += 1
        self.sent += 1
        message = b"REQ %d" % self.current
        self.sock.send({"address": "127.0.0.1", "port": self.server_port, "message": message})
        self.timer = taro_udp.setTimeout(self.attempt, INTERVAL_MS)

    def on_message(self, res: OnMessageCallbackResult) -> None:
        reply = bytes(res["message"])
        if self.current is None:
            return
        if self.match_by_seq and reply != b"ACK %d" % self.current:
            return  # the answer to an earlier request, or to nothing: ignore it
        # The bug (match_by_seq=False): whatever came in answers the last request sent.
        taro_udp.clearTimeout(self.timer)
        self.answers.append((self.current, reply))
        self.ask(self.current + 1)


def serve(sock: taro_udp.UDPSocket) -> None:
    """Answer every ``REQ <n>`` with ``ACK <n>``."""

    def on_message(res: OnMessageCallbackResult) -> None:
        number = bytes(res["message"]).split()[-1]
        info = res["remoteInfo"]
        sock.send({"address": info["address"], "port": info["port"], "message": b"ACK " + number})

    sock.onMessage(on_message)


def exchange(
    network: SimulatedNetwork,
    *,
    match_by_seq: bool,
    watch: Optional[Callable[[RetryClient], object]] = None,
) -> RetryClient:
    """Run the three requests to the end on ``network`` (virtual time); sockets closed.

    ``watch(client)`` is called before the first request (to set properties on it).
    """
    with taro_udp.create_udp_socket() as server:
        serve(server)
        port = server.bind(5566, address="127.0.0.1")
        client = RetryClient(port, match_by_seq=match_by_seq)
        if watch is not None:
            watch(client)
        try:
            client.start()
            network.run_until(lambda: client.done, 60.0, "the three requests to end")
        finally:
            client.sock.close()
    return client


def check(client: RetryClient) -> None:
    """Every answer is the one to its own request."""
    for request, reply in client.answers:
        assert reply == b"ACK %d" % request, f"request {request} got {reply!r}"


def buggy_routine(network: SimulatedNetwork) -> None:
    check(exchange(network, match_by_seq=False))


def correct_routine(network: SimulatedNetwork) -> None:
    check(exchange(network, match_by_seq=True))
