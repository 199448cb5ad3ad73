"""SPEC §7: run(), call_soon(), and async/await on the event thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, List

import pytest

import taro_udp
from taro_udp import _loop, _timers

from ._helpers import WAIT, Recorder


@pytest.fixture(autouse=True)
def quiet_end() -> Any:
    yield
    for timer_id in list(_timers._active):
        taro_udp.clearTimeout(timer_id)


def test_run_runs_main_on_the_event_thread_and_returns_its_result() -> None:
    seen: List[str] = []

    def main() -> int:
        seen.append(threading.current_thread().name)
        return 42

    assert taro_udp.run(main, timeout=WAIT) == 42
    assert seen == [_loop.THREAD_NAME]


def test_run_returns_when_the_last_socket_closes_and_the_last_timer_fires() -> None:
    events: List[str] = []

    def main() -> None:
        rx = taro_udp.create_udp_socket()
        tx = taro_udp.create_udp_socket()
        port = rx.bind(address="127.0.0.1")
        rx.onMessage(lambda res: events.append(res["message"].decode()))
        rx.onClose(lambda res: events.append("rx closed"))

        def later() -> None:
            tx.send({"address": "127.0.0.1", "port": port, "message": "ping"})

            def close_both() -> None:
                rx.close()
                tx.close()

            taro_udp.setTimeout(close_both, 30)

        taro_udp.setTimeout(later, 20)
        taro_udp.setTimeout(lambda: events.append("last timer"), 80)

    taro_udp.run(main, timeout=WAIT)
    # run() returned only after everything: the message, the close, the last timer.
    assert events == ["ping", "rx closed", "last timer"]


def test_run_without_main_waits_for_what_is_already_running() -> None:
    fired: List[str] = []
    taro_udp.setTimeout(fired.append, 30, "timer")
    taro_udp.run(timeout=WAIT)
    assert fired == ["timer"]


def test_run_raises_mains_exception() -> None:
    def main() -> None:
        raise KeyError("from main")

    with pytest.raises(KeyError, match="from main"):
        taro_udp.run(main, timeout=WAIT)


def test_run_accepts_a_coroutine_function_and_returns_its_result() -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(0.02)
        assert loop.time() - started >= 0.02
        return threading.current_thread().name

    assert taro_udp.run(main, timeout=WAIT) == _loop.THREAD_NAME


def test_run_raises_the_exception_of_an_async_main() -> None:
    async def main() -> None:
        await asyncio.sleep(0)
        raise ValueError("async failure")

    with pytest.raises(ValueError, match="async failure"):
        taro_udp.run(main, timeout=WAIT)


def test_run_raises_the_exception_of_a_task_that_nobody_awaited() -> None:
    async def fails() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("unhandled rejection")

    async def main() -> None:
        asyncio.ensure_future(fails())  # noqa: RUF006 - fire and forget, an un-awaited Promise

    with pytest.raises(RuntimeError, match="unhandled rejection"):
        taro_udp.run(main, timeout=WAIT)


def test_an_awaited_task_exception_is_handled_not_raised_by_run() -> None:
    async def fails() -> None:
        raise RuntimeError("caught below")

    async def main() -> str:
        try:
            await asyncio.ensure_future(fails())
        except RuntimeError as exc:
            return f"handled: {exc}"
        return "not raised"

    assert taro_udp.run(main, timeout=WAIT) == "handled: caught below"


def test_a_future_settled_from_send_callbacks_is_awaited_like_a_promise() -> None:
    async def main() -> Any:
        with taro_udp.create_udp_socket() as sock:
            loop = asyncio.get_running_loop()
            sent: asyncio.Future[Any] = loop.create_future()
            failed: asyncio.Future[Any] = loop.create_future()
            sock.send(
                {"address": "127.0.0.1", "port": 9, "message": "x"},  # type: ignore[dict-item]
                success=sent.set_result,
                fail=sent.set_exception,
            )
            sock.send(
                {"address": "127.0.0.1", "port": 0, "message": "x"},
                success=failed.set_result,
                fail=lambda res: failed.set_result(res),
            )
            sock.onError(lambda res: None)
            return await sent, await failed

    ok, failure = taro_udp.run(main, timeout=WAIT)
    assert ok == {"errMsg": "send:ok"}
    assert failure == {"errMsg": "send:fail invalid port", "errCode": 2}


def test_a_listener_resolves_a_future_that_main_awaits() -> None:
    async def main() -> bytes:
        rx = taro_udp.create_udp_socket()
        tx = taro_udp.create_udp_socket()
        try:
            answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

            def on_message(res: Any) -> None:
                if not answer.done():
                    answer.set_result(res["message"])

            rx.onMessage(on_message)
            port = rx.bind(address="127.0.0.1")
            tx.send({"address": "127.0.0.1", "port": port, "message": b"reply"})
            return await asyncio.wait_for(answer, 5)
        finally:
            rx.close()
            tx.close()

    assert taro_udp.run(main, timeout=WAIT) == b"reply"


def test_run_times_out_naming_what_is_still_open() -> None:
    sock = taro_udp.create_udp_socket()
    try:
        sock.bind(address="127.0.0.1")
        timer = taro_udp.setTimeout(lambda: None, 60_000)
        with pytest.raises(TimeoutError) as raised:
            taro_udp.run(timeout=0.2)
        text = str(raised.value)
        assert "1 socket(s) open" in text
        assert "<UDPSocket udp4 bound 127.0.0.1:" in text
        assert f"setTimeout #{timer}" in text
    finally:
        sock.close()


def test_run_on_the_event_thread_raises_runtime_error() -> None:
    raised: List[BaseException] = []
    done = threading.Event()

    def inside() -> None:
        try:
            taro_udp.run(lambda: None, timeout=1)
        except RuntimeError as exc:
            raised.append(exc)
        done.set()

    taro_udp.call_soon(inside)
    assert done.wait(WAIT)
    assert raised
    assert "event thread" in str(raised[0])


def test_run_rejects_a_main_that_is_not_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        taro_udp.run(42)  # type: ignore[call-overload]


def test_call_soon_runs_on_the_event_thread_in_order_from_any_thread() -> None:
    got = Recorder("calls")

    def record(base: int, n: int) -> None:
        got((base, n, threading.current_thread().name))

    def post(base: int) -> None:
        for n in range(50):
            taro_udp.call_soon(record, base, n)

    workers = [threading.Thread(target=post, args=(k,), name=f"poster-{k}") for k in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(WAIT)
    calls = got.wait_for(150)
    # The event thread (it may retire and start again between posts: nothing is open).
    assert {name for _, _, name in calls} == {_loop.THREAD_NAME}
    for k in range(3):  # each thread's calls in the order it made them
        assert [n for base, n, _ in calls if base == k] == list(range(50))


def test_a_raising_call_soon_callback_is_logged_and_the_thread_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got = Recorder("calls")

    def boom() -> None:
        raise SystemExit(3)  # not even SystemExit ends the event thread

    taro_udp.call_soon(boom)
    taro_udp.call_soon(got, "after")
    assert got.wait_for(1) == ["after"]
    assert any("call_soon" in r.getMessage() for r in caplog.records)


def test_call_soon_rejects_a_callback_that_is_not_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        taro_udp.call_soon(None)  # type: ignore[arg-type]


def test_system_exit_from_a_raw_asyncio_callback_does_not_end_the_event_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got = Recorder("calls")

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def raw() -> None:
            raise SystemExit("raw asyncio callback")

        loop.call_soon(raw)  # asyncio lets SystemExit out of run_forever()
        await asyncio.sleep(0.01)
        taro_udp.setTimeout(got, 1, "timers still run")

    taro_udp.run(main, timeout=WAIT)
    assert got.wait_for(1) == ["timers still run"]
    assert any("escaped into the event loop" in r.getMessage() for r in caplog.records)
