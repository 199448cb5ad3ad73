"""Run a test module on both transports: the OS, and a lossless ``SimulatedNetwork``.

Hook it into a module with one line::

    from .transports import transport  # noqa: F401 - runs every test on both transports

The fixture is autouse, so importing it into a module parametrises every test there:
``test_x[os]`` uses real loopback sockets; ``test_x[simulated]`` runs with a seeded,
lossless simulated network active, so every ``create_udp_socket()`` of the test lives on
it, those of fixtures too (autouse fixtures are set up before the others). A test that
needs the OS itself (a plain ``socket.socket`` peer, say) requests ``transport`` and
skips when it is not ``None``: ``pytest.skip("needs the OS network")``.
"""

from __future__ import annotations

from typing import Iterator, Optional

import pytest

from taro_udp.testing import SimulatedNetwork

__all__ = ["OS", "SIMULATED", "transport"]

OS = "os"
SIMULATED = "simulated"


@pytest.fixture(autouse=True, params=[OS, SIMULATED])
def transport(request: pytest.FixtureRequest) -> Iterator[Optional[SimulatedNetwork]]:
    """The transport under the test's sockets: ``None`` (the OS) or the active network."""
    if request.param == OS:
        yield None
        return
    with SimulatedNetwork(seed=0) as network:
        yield network
