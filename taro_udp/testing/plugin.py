"""The taro_udp pytest plugin: fixtures for testing mini-program UDP code on a desktop.

Installed with taro_udp and loaded through the ``pytest11`` entry point (or with
``-p taro_udp.testing.plugin``). It only defines fixtures: importing it imports nothing
but pytest, so it costs nothing in test runs that do not use it, and taro_udp itself
is imported by the first fixture a test requests.

- ``udp_socket_factory``: make sockets that are closed after the test; an ``onError``
  the test did not expect fails it.
- ``udp_echo_peer``: a real UDP echo peer on 127.0.0.1.
- ``udp_recorder``: collect payloads from any listener and wait for N of them.
- ``simulated_network``: the test's sockets live on a seeded, lossy, in-memory network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Union

import pytest

if TYPE_CHECKING:
    from ._echo import EchoPeer, SimulatedEchoPeer
    from ._factory import SocketFactory
    from ._network import SimulatedNetwork
    from ._recorder import Recorder

__all__ = ["simulated_network", "udp_echo_peer", "udp_recorder", "udp_socket_factory"]


@pytest.fixture
def udp_socket_factory() -> Iterator[SocketFactory]:
    """Make taro_udp sockets that are closed when the test ends: ``sock = udp_socket_factory()``.

    Takes the arguments of ``create_udp_socket(type, options)``, so it honours an active
    ``simulated_network``. At teardown every socket is closed and its ``onClose`` awaited;
    the test then fails if any socket reported an ``onError`` it did not expect. Expect
    errors with ``udp_socket_factory(expect_errors=True)`` (that socket) or
    ``udp_socket_factory.expect_error("send:fail invalid port")`` (an ``errMsg`` prefix).
    Every error seen is in ``udp_socket_factory.errors``.
    """
    from ._factory import SocketFactory

    factory = SocketFactory()
    yield factory
    problems = factory.close_all()
    if problems:
        pytest.fail("taro_udp sockets reported problems:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def udp_echo_peer(request: pytest.FixtureRequest) -> Iterator[Union[EchoPeer, SimulatedEchoPeer]]:
    """A real UDP peer on 127.0.0.1 that sends every datagram back to its sender.

    ``udp_echo_peer.address`` is "127.0.0.1", ``udp_echo_peer.port`` its port;
    ``udp_echo_peer.received`` records ``(data, (host, port))`` of what came in. It runs
    on its own thread with a plain OS socket (not taro_udp), and is stopped after the test.
    With ``simulated_network`` (or any active ``SimulatedNetwork``) it is a peer on that
    network instead, echoing from the event thread, so its echoes meet the faults too.
    """
    if "simulated_network" in request.fixturenames:
        request.getfixturevalue("simulated_network")  # active before the peer is made
    from ._echo import echo_peer

    with echo_peer("udp4") as peer:
        yield peer


@pytest.fixture
def udp_recorder() -> Callable[..., Recorder]:
    """A factory of recorders: ``messages = udp_recorder("messages"); sock.onMessage(messages)``.

    A recorder is a listener that collects every payload; ``messages.wait_for(3)`` waits
    (default 10 s) until three arrived and returns them all, or fails saying how many came;
    ``wait_until(predicate, "what")`` waits for any condition. Never sleep, then assert.
    """
    from ._recorder import Recorder

    return Recorder


@pytest.fixture
def simulated_network(request: pytest.FixtureRequest) -> Iterator[SimulatedNetwork]:
    """A ``SimulatedNetwork`` active for the test: new sockets live on it, not on the OS.

    Lossless and seeded (seed 0) unless parametrised indirectly with its keyword
    arguments: ``@pytest.mark.parametrize("simulated_network", [{"seed": 7, "loss": 0.3}],
    indirect=True)``. Change faults during the test (``simulated_network.loss = 0.5``,
    ``.partition(a, b)``, ``.heal()``); read fates in ``.datagrams``; save a capture with
    ``.write_pcap(path)``. Deactivated (and its timer thread stopped) after the test.
    """
    from ._network import SimulatedNetwork

    options: Dict[str, Any] = dict(getattr(request, "param", None) or {})
    with SimulatedNetwork(**options) as network:
        yield network
