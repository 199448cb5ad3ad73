"""Hardening: the review's smaller defects, one regression test each (issue: hardening)."""

from __future__ import annotations

import errno
import gc
import logging
import os
import socket
import sys
import threading
from typing import Any, Iterator, List, Optional

import pytest

import taro_udp

from ._helpers import WAIT, Recorder


@pytest.fixture
def blocking_lookup(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """``slow.example`` resolves to 127.0.0.1 once the returned event is set (no DNS)."""
    release = threading.Event()
    entered = threading.Event()
    real = socket.getaddrinfo

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "slow.example":
            entered.set()
            assert release.wait(WAIT), "the test never released the lookup"
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    release.entered = entered  # type: ignore[attr-defined]
    try:
        yield release
    finally:
        release.set()


def test_close_does_not_wait_for_a_slow_name_lookup_in_bind(
    blocking_lookup: threading.Event,
) -> None:
    # repro_10: bind(address=<host name>) resolved while holding the socket's lock.
    sock = taro_udp.create_udp_socket()
    outcome: List[Any] = []

    def bind() -> None:
        try:
            outcome.append(sock.bind(0, address="slow.example"))
        except taro_udp.UDPSocketError as exc:
            outcome.append(exc.errMsg)

    binder = threading.Thread(target=bind)
    binder.start()
    assert blocking_lookup.entered.wait(WAIT)  # type: ignore[attr-defined]
    closer = threading.Thread(target=sock.close)
    closer.start()
    closer.join(WAIT / 2)
    returned_during_lookup = not closer.is_alive()
    blocking_lookup.set()
    closer.join(WAIT)
    binder.join(WAIT)
    assert returned_during_lookup, "close() waited for bind()'s name lookup"
    assert outcome == ["bind:fail socket is closed"]


def test_a_raising_listener_without_on_error_is_logged_once_saying_both(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # repro_port_listener_error_no_warning: README and behaviour agree.
    seen = Recorder("seen")
    with taro_udp.create_udp_socket() as rx, taro_udp.create_udp_socket() as tx:
        port = rx.bind(0, address="127.0.0.1")

        def bad(res: Any) -> None:
            seen(res["message"])
            raise ValueError("boom")

        rx.onMessage(bad)
        with caplog.at_level(logging.WARNING, logger="taro_udp"):
            tx.send({"address": "127.0.0.1", "port": port, "message": "x"})
            seen.wait_for(1)
            done = threading.Event()
            taro_udp.call_soon(done.set)
            assert done.wait(WAIT)
    records = [r for r in caplog.records if r.name == "taro_udp"]
    assert len(records) == 1, [r.getMessage() for r in records]
    record = records[0]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        "taro_udp: onMessage:fail ValueError (errCode -1); no onError listener"
    )
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError


class _FalsyCallable:
    """A callable whose truth value and length raise: it must only ever be called."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def __call__(self, payload: Any) -> None:
        self.recorder(payload)

    def __bool__(self) -> bool:
        raise AssertionError("a callback was truth-tested")

    def __len__(self) -> int:
        raise AssertionError("a callback's length was taken")


def test_callbacks_and_listeners_are_never_truth_tested() -> None:
    results = Recorder("results")
    messages = Recorder("messages")
    errors = Recorder("errors")
    with taro_udp.create_udp_socket() as rx:
        port = rx.bind(0, address="127.0.0.1")
        rx.onMessage(_FalsyCallable(messages))
        rx.onError(_FalsyCallable(errors))
        callback = _FalsyCallable(results)
        rx.send(
            {"address": "127.0.0.1", "port": port, "message": "ok"},
            success=callback,
            fail=callback,
            complete=callback,
        )
        rx.send({"address": "127.0.0.1", "port": 0, "message": "bad"}, complete=callback)
        assert messages.wait_for(1) == [
            {
                "message": b"ok",
                "remoteInfo": {"address": "127.0.0.1", "family": "IPv4", "port": port, "size": 2},
                "localInfo": {"address": "127.0.0.1", "family": "IPv4", "port": port},
            }
        ]
        ok = {"errMsg": "send:ok"}
        bad = {"errMsg": "send:fail invalid port", "errCode": 2}
        assert results.wait_for(3) == [ok, ok, bad]
        assert errors.wait_for(1) == [bad]
        rx.offMessage(_FalsyCallable(messages))  # an unknown listener: a no-op, not a test


@pytest.mark.parametrize("step", ["selector", "wake-up pair"])
def test_a_loop_that_cannot_be_made_for_want_of_fds_leaves_no_finalizer_complaint(
    monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    # With no fd left, making the event loop fails at its selector or its wake-up pair;
    # the half-made loop's finalizer must then stay silent (it printed "Exception
    # ignored ... has no attribute '_closed'" on stderr for every attempt).
    import asyncio.selector_events

    from taro_udp import _eventloop

    def no_fd(*args: object) -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    if step == "selector":
        monkeypatch.setattr(_eventloop._Selector, "__init__", no_fd)
    else:
        monkeypatch.setattr(asyncio.selector_events.BaseSelectorEventLoop, "_make_self_pipe", no_fd)
    unraisable: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    def make_loop() -> Optional[int]:
        try:
            _eventloop._Loop(None)  # type: ignore[arg-type]  # the owner is only stored
        except OSError as exc:
            return exc.errno
        return None

    assert make_loop() == errno.EMFILE
    gc.collect()
    assert [repr(u.exc_value) for u in unraisable] == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds in /proc")
def test_a_socket_whose_event_thread_cannot_start_leaves_no_fd_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Repro 09 after a privilege drop: the event loop's first start imports asyncio,
    # which may fail with something other than an OSError. Each failed create leaked
    # its UDP socket's fd.
    from taro_udp import _loop

    def cannot_start(owner: object) -> None:
        raise ModuleNotFoundError("No module named 'asyncio'")

    monkeypatch.setattr(_loop, "attach", cannot_start)
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(ModuleNotFoundError, match="asyncio"):
            taro_udp.create_udp_socket()
    assert set(os.listdir("/proc/self/fd")) - before == set()
