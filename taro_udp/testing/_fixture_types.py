"""The types of the pytest plugin's fixtures, for annotating test functions.

- ``udp_socket_factory``: ``SocketFactory``
- ``udp_echo_peer``: ``EchoPeerFixture`` (an ``EchoPeer``, or a ``SimulatedEchoPeer``
  on a network)
- ``udp_recorder``: ``RecorderFactory`` (call it: ``udp_recorder("messages")`` is a
  ``Recorder``)
- ``simulated_network``, ``virtual_network``: ``SimulatedNetwork``
- ``virtual_clock``: ``VirtualClock``
- ``js_runtime`` (``taro_udp.js``): ``taro_udp.js.plugin.JSRuntimeFactory``
"""

from __future__ import annotations

from typing import Callable, Union

from ._echo import EchoPeer, SimulatedEchoPeer
from ._recorder import Recorder

__all__ = ["EchoPeerFixture", "RecorderFactory"]

#: What the ``udp_echo_peer`` fixture gives: a real peer on 127.0.0.1, or one on the
#: active ``SimulatedNetwork``. Both have ``address``, ``port`` and ``received``.
EchoPeerFixture = Union[EchoPeer, SimulatedEchoPeer]

#: What the ``udp_recorder`` fixture gives: call it with a name to get a ``Recorder``.
RecorderFactory = Callable[..., Recorder]
