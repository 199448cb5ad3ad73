"""The pytest plugin: its fixtures, run inside an inner pytest session (pytester)."""

# The plugin's fixtures are imported (so this runs with or without the entry point) and
# then requested as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import sys
import textwrap
from typing import Callable

import pytest

from taro_udp.testing import EchoPeer, Recorder, SocketFactory
from taro_udp.testing.plugin import udp_recorder, udp_socket_factory  # noqa: F401

pytest_plugins = ["pytester"]

PLUGIN = "taro_udp.testing.plugin"


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose runs load the plugin explicitly and no entry point.

    Without autoload, the inner session is the same whether or not the ``pytest11``
    entry point is installed (with both, the plugin would be registered twice).
    """
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    # In-process runs see the plugin module already imported by this session: pytest
    # warns that it cannot rewrite its asserts, which is true and harmless here.
    pytester.makeini(
        "[pytest]\nfilterwarnings =\n    error\n    ignore::pytest.PytestAssertRewriteWarning\n"
    )
    return pytester


def _run(inner: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    inner.makepyfile(test_inner=textwrap.dedent(source))
    return inner.runpytest("-p", PLUGIN, *args)


def test_importing_the_plugin_starts_nothing(pytester: pytest.Pytester) -> None:
    # Loaded by entry point before collection: it must be cheap and free of side effects.
    # (Python imports the parent package, taro_udp, first: that starts nothing either.)
    code = (
        "import sys, threading; import taro_udp.testing.plugin; "
        "print(sorted(m for m in sys.modules if m.startswith('taro_udp.testing')), "
        "threading.active_count())"
    )
    result = pytester.run(sys.executable, "-c", code)
    assert result.ret == 0
    assert result.outlines[-1] == "['taro_udp.testing', 'taro_udp.testing.plugin'] 1"


def test_fixtures_are_listed_with_their_docstrings(inner: pytest.Pytester) -> None:
    result = inner.runpytest("-p", PLUGIN, "--fixtures")
    result.stdout.fnmatch_lines(
        [
            "udp_socket_factory -- *plugin.py:*",
            "*Make taro_udp sockets that are closed when the test ends*",
            "udp_echo_peer -- *plugin.py:*",
            "*A real UDP peer on 127.0.0.1*",
            "udp_recorder -- *plugin.py:*",
            "*A factory of recorders*",
            "simulated_network -- *plugin.py:*",
            "*A ``SimulatedNetwork`` active for the test*",
        ]
    )


def test_factory_closes_its_sockets_at_teardown(inner: pytest.Pytester) -> None:
    result = _run(
        inner,
        """
        import pytest
        made = []

        def test_make(udp_socket_factory):
            made.append(udp_socket_factory())
            made[0].bind(address="127.0.0.1")

        def test_closed():
            assert repr(made[0]).startswith("<UDPSocket udp4 closed")
        """,
    )
    result.assert_outcomes(passed=2)


def test_unexpected_on_error_fails_the_test(inner: pytest.Pytester) -> None:
    result = _run(
        inner,
        """
        def test_oops(udp_socket_factory):
            udp_socket_factory().send({"address": "127.0.0.1", "port": 0, "message": "x"})
        """,
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*unexpected error*send:fail invalid port*"])


def test_expected_errors_do_not_fail_the_test(inner: pytest.Pytester) -> None:
    result = _run(
        inner,
        """
        def test_per_socket(udp_socket_factory):
            sock = udp_socket_factory(expect_errors=True)
            sock.send({"address": "127.0.0.1", "port": 0, "message": "x"})

        def test_by_prefix(udp_socket_factory):
            udp_socket_factory.expect_error("send:fail invalid port")
            udp_socket_factory().send({"address": "127.0.0.1", "port": 0, "message": "x"})
        """,
    )
    result.assert_outcomes(passed=2)


def test_echo_peer_sends_datagrams_back(inner: pytest.Pytester) -> None:
    result = _run(
        inner,
        """
        def test_echo(udp_socket_factory, udp_echo_peer, udp_recorder):
            sock = udp_socket_factory()
            echoes = udp_recorder("echoes")
            sock.onMessage(echoes)
            port = sock.bind(address="127.0.0.1")
            sock.send({"address": udp_echo_peer.address, "port": udp_echo_peer.port,
                       "message": "ping"})
            (echo,) = echoes.wait_for(1)
            assert echo["message"] == b"ping"
            assert echo["remoteInfo"]["port"] == udp_echo_peer.port
            assert udp_echo_peer.received.wait_for(1) == [(b"ping", ("127.0.0.1", port))]
        """,
    )
    result.assert_outcomes(passed=1)


def test_echo_peer_lives_on_the_simulated_network_when_there_is_one(
    inner: pytest.Pytester,
) -> None:
    result = _run(
        inner,
        """
        def test_echo(udp_echo_peer, simulated_network, udp_socket_factory, udp_recorder):
            sock = udp_socket_factory()
            echoes = udp_recorder("echoes")
            sock.onMessage(echoes)
            sock.send({"address": udp_echo_peer.address, "port": udp_echo_peer.port,
                       "message": "ping"})
            assert echoes.wait_for(1)[0]["message"] == b"ping"
            assert [r.payload for r in simulated_network.datagrams] == [b"ping", b"ping"]
        """,
    )
    result.assert_outcomes(passed=1)


def test_echo_peer_on_ipv6_loopback(
    udp_socket_factory: SocketFactory, udp_recorder: Callable[..., Recorder]
) -> None:
    with EchoPeer("udp6") as peer:
        sock = udp_socket_factory("udp6")
        echoes = udp_recorder("echoes")
        sock.onMessage(echoes)
        sock.bind(address="::1")
        sock.send({"address": peer.address, "port": peer.port, "message": b"six"})
        (echo,) = echoes.wait_for(1)
    assert (echo["message"], echo["remoteInfo"]["address"]) == (b"six", "::1")


def test_recorder_timeout_says_what_was_awaited(inner: pytest.Pytester) -> None:
    result = _run(
        inner,
        """
        def test_wait(udp_recorder):
            messages = udp_recorder("messages")
            messages("only one")
            messages.wait_for(2, timeout=0.01)
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*timed out after 0.01s waiting for 2 messages; 1 messages received: ?'only one'?"]
    )


def test_simulated_network_takes_parameters_indirectly(inner: pytest.Pytester) -> None:
    result = _run(
        inner,
        """
        import pytest

        @pytest.mark.parametrize("simulated_network", [{"seed": 3, "loss": 1.0}], indirect=True)
        def test_all_lost(simulated_network, udp_socket_factory):
            udp_socket_factory().send({"address": "127.0.0.1", "port": 9, "message": "x"})
            assert [r.reason for r in simulated_network.datagrams] == ["loss"]
            assert simulated_network.seed == 3

        def test_default_is_lossless(simulated_network):
            assert (simulated_network.seed, simulated_network.loss) == (0, 0.0)
        """,
    )
    result.assert_outcomes(passed=2)


def test_entry_point_registers_the_plugin() -> None:
    from importlib import metadata

    if sys.version_info >= (3, 10):
        points = list(metadata.entry_points(group="pytest11"))
    else:  # pragma: no cover
        points = list(metadata.entry_points().get("pytest11", ()))
    values = {point.value for point in points}
    if PLUGIN not in values:
        pytest.skip("the pytest11 entry point is not installed yet (setup.cfg)")
    assert PLUGIN in values
