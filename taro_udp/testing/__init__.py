"""taro_udp.testing: test mini-program UDP logic on a desktop, faults included.

- ``SimulatedNetwork``: while active, ``create_udp_socket()`` returns sockets on an
  in-memory network that loses, duplicates, reorders and delays datagrams
  deterministically (seeded), can be partitioned and healed, records every datagram's
  fate and writes the capture as a pcap file. ``Host`` and ``Subnet``: its LAN
  (``add_host``, ``add_router``, ``with host:``, ``move_to``).
- ``Recorder``: collects payloads from any listener and waits for N of them.
- ``EchoPeer``: a real UDP echo peer on 127.0.0.1, on its own thread;
  ``echo_peer()`` gives a ``SimulatedEchoPeer`` while a network is active.
- ``SocketFactory``: creates sockets, fails on unexpected errors, closes them all.
- ``VirtualClock``: virtual time in lockstep with the event loop (``advance(seconds=)``,
  ``run_until``); ``SimulatedNetwork(virtual_time=True)`` installs one. Every duration
  of this package is in seconds; every "ran out of time" is a ``TimeoutError``.
- Swarm testing (``Swarm``, ``--taro-udp-swarm N``): a test under many seeds and fault
  mixes; every fault decision is one entry of a ``Schedule`` that replays exactly and
  shrinks to the few that matter; ``always``/``sometimes`` properties; link models
  (``Link``, ``GilbertElliott``, ``Delay``).
- The pytest plugin (``taro_udp.testing.plugin``) wraps these as fixtures:
  ``udp_socket_factory``, ``udp_echo_peer``, ``udp_recorder``, ``simulated_network``,
  ``virtual_network``, ``virtual_clock``. Annotate them with ``SocketFactory``,
  ``EchoPeerFixture``, ``RecorderFactory``, ``SimulatedNetwork`` and ``VirtualClock``.

A test of retry logic, with the plugin's fixtures::

    def test_request_is_retried(simulated_network, udp_socket_factory, udp_recorder):
        simulated_network.loss = 0.3  # seed 0: the same datagrams are lost every run
        ...
        simulated_network.partition("127.0.0.1", "127.0.0.2")
        ...
        simulated_network.heal()
        simulated_network.write_pcap("capture.pcap")  # open it in Wireshark

The names are imported on first use, so that pytest loading the plugin (a submodule)
imports nothing else. The core never imports this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._echo import EchoPeer, SimulatedEchoPeer, echo_peer
    from ._factory import SocketFactory
    from ._faults import PartitionSpec
    from ._fixture_types import EchoPeerFixture, RecorderFactory
    from ._hosts import Host, Subnet
    from ._links import Delay, GilbertElliott, Link
    from ._network import SimulatedNetwork, TraceEvent, active_network
    from ._properties import PropertyViolationError, always, sometimes
    from ._recorder import Recorder
    from ._records import DatagramRecord, Delivery
    from ._schedule import Decider, Decision, RandomDecider, Schedule, ScheduleDecider
    from ._swarm import Mix, RunResult, Swarm, SwarmReport, describe, draw_mix
    from ._swarm_plugin import replay
    from ._virtual import (
        LivelockError,
        NeverTrueError,
        VirtualClock,
        VirtualTimeError,
        VirtualTimeoutError,
        WallClockCapError,
        current_virtual_clock,
    )

__all__ = [
    "DatagramRecord",
    "Decider",
    "Decision",
    "Delay",
    "Delivery",
    "EchoPeer",
    "EchoPeerFixture",
    "GilbertElliott",
    "Host",
    "Link",
    "LivelockError",
    "Mix",
    "NeverTrueError",
    "PartitionSpec",
    "PropertyViolationError",
    "RandomDecider",
    "Recorder",
    "RecorderFactory",
    "RunResult",
    "Schedule",
    "ScheduleDecider",
    "SimulatedEchoPeer",
    "SimulatedNetwork",
    "SocketFactory",
    "Subnet",
    "Swarm",
    "SwarmReport",
    "TraceEvent",
    "VirtualClock",
    "VirtualTimeError",
    "VirtualTimeoutError",
    "WallClockCapError",
    "active_network",
    "always",
    "current_virtual_clock",
    "describe",
    "draw_mix",
    "echo_peer",
    "replay",
    "sometimes",
]

_MODULES = {
    "DatagramRecord": "._records",
    "Delivery": "._records",
    "EchoPeer": "._echo",
    "Host": "._hosts",
    "Subnet": "._hosts",
    "EchoPeerFixture": "._fixture_types",
    "RecorderFactory": "._fixture_types",
    "PartitionSpec": "._faults",
    "Recorder": "._recorder",
    "SimulatedEchoPeer": "._echo",
    "SimulatedNetwork": "._network",
    "active_network": "._network",
    "echo_peer": "._echo",
    "SocketFactory": "._factory",
    "TraceEvent": "._network",
    "LivelockError": "._virtual",
    "NeverTrueError": "._virtual",
    "VirtualClock": "._virtual",
    "VirtualTimeError": "._virtual",
    "VirtualTimeoutError": "._virtual",
    "WallClockCapError": "._virtual",
    "current_virtual_clock": "._virtual",
    "Delay": "._links",
    "GilbertElliott": "._links",
    "Link": "._links",
    "PropertyViolationError": "._properties",
    "always": "._properties",
    "sometimes": "._properties",
    "Decider": "._schedule",
    "Decision": "._schedule",
    "RandomDecider": "._schedule",
    "Schedule": "._schedule",
    "ScheduleDecider": "._schedule",
    "Mix": "._swarm",
    "RunResult": "._swarm",
    "Swarm": "._swarm",
    "SwarmReport": "._swarm",
    "describe": "._swarm",
    "draw_mix": "._swarm",
    "replay": "._swarm_plugin",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
