"""``run()`` and ``call_soon()``: the event thread as the JS thread that runs a script.

``run(main)`` is what starting a mini-program page is: ``main`` runs on the event
thread as its first task, and the caller waits until nothing is left to do (no open
socket, no pending timer, no task), Node's rule for when a script has ended.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Set

from . import _clock, _log, _loop, _timers

if TYPE_CHECKING:  # asyncio is imported with the first event thread, not with taro_udp
    import asyncio

__all__ = ["call_soon", "run"]


class _Run:
    """One ``run()`` call waiting for the loop to go idle."""

    __slots__ = ("done", "error", "gone", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: Optional[BaseException] = None
        self.result: Any = None
        self.gone = False  # run() returned (timed out) before main started

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self.done.set()


_runs: Set[_Run] = set()


def _on_idle() -> None:
    for waiting in list(_runs):
        waiting.done.set()


def _on_unhandled(exc: BaseException) -> None:
    for waiting in list(_runs):
        waiting.fail(exc)


_loop.idle_hook = _on_idle
_loop.unhandled_hook = _on_unhandled


def call_soon(callback: Callable[..., Any], *args: Any) -> None:
    """Run ``callback(*args)`` on the event thread, after everything posted before it.

    For code that is not ported JS (a test, a GUI thread) and needs to touch state that
    listeners and timers own: from any thread, never blocks. A callback that raises is
    logged on the ``taro_udp`` logger; the thread goes on.
    """
    if not callable(callback):
        raise TypeError(f"call_soon() callback must be callable, got {type(callback).__name__}")
    _loop.call_soon(_guarded, callback, args)


def _guarded(callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        callback(*args)
    except BaseException as exc:  # noqa: BLE001 - the thread must go on
        _log.error("taro_udp: call_soon callback raised %s", type(exc).__name__, exc=exc)


def run(main: Optional[Callable[[], Any]] = None, *, timeout: Optional[float] = None) -> Any:
    """Run ``main`` on the event thread, then wait until the program has ended.

    ``main`` is a function or a coroutine function (``async def``), called with no
    arguments on the event thread as the first task, as a mini-program runs its script.
    Returns ``main``'s result once no socket is open, no timer is pending and no task is
    left (Node's rule for when a script ends). An exception from ``main``, or one a task
    raised that nobody awaited, is raised here at once (the program keeps running).
    After ``timeout`` seconds raises ``TimeoutError`` naming what is still open. Called
    on the event thread itself (it would wait for itself) it raises ``RuntimeError``;
    when the event thread cannot start (no file descriptor left) ``OSError``, at once.
    """
    if _loop.in_event_thread():
        raise RuntimeError("run() was called on the event thread, where it would wait for itself")
    candidate: object = main
    if candidate is not None and not callable(candidate) and not _awaitable(candidate):
        raise TypeError(f"run() main must be callable, got {type(candidate).__name__}")
    waiting = _Run()
    try:
        _loop.call_soon_or_raise(_start, main, waiting)  # OSError: no event thread
        clock = _clock.current
        if clock.virtual:  # a drive of the virtual clock; timeout in virtual seconds
            _drive(clock, waiting, timeout)
        elif not waiting.done.wait(timeout):
            raise TimeoutError(f"run() timed out after {timeout} s: {_still_open()}")
        if waiting.error is not None:
            raise waiting.error
        return waiting.result
    finally:
        waiting.gone = True
        _runs.discard(waiting)


def _awaitable(value: object) -> bool:
    # inspect.isawaitable, without importing inspect with taro_udp (about 10 ms).
    import inspect

    return inspect.isawaitable(value)


def _drive(clock: Any, waiting: _Run, timeout: Optional[float]) -> None:
    try:
        clock.run_until(waiting.done.is_set, timeout, "run() to end")
    except AssertionError as exc:  # the virtual clock's failures are test failures
        if waiting.done.is_set():
            return
        if "timed out" in str(exc):
            still = _still_open()
            raise TimeoutError(f"run() timed out after {timeout} virtual s: {still}") from exc
        raise


def _start(main: Any, waiting: _Run) -> None:
    # On the event thread: the first task of the program. Only now does the run wait
    # for the loop to go idle: work already running may go idle before main has run.
    if waiting.gone:
        return
    _runs.add(waiting)
    try:
        result = main() if callable(main) else main
        if _awaitable(result):
            import asyncio  # loaded already: the event loop is asyncio's

            task = asyncio.ensure_future(result)
            task.add_done_callback(lambda done: _keep_result(done, waiting))
        else:
            waiting.result = result
    except BaseException as exc:  # noqa: BLE001 - raised to run()'s caller
        waiting.fail(exc)


def _keep_result(task: asyncio.Future[Any], waiting: _Run) -> None:
    if task.cancelled():
        import asyncio

        waiting.fail(asyncio.CancelledError())
    elif task._exception is not None:
        exc = task.exception()  # retrieved: raised by run(), not also logged
        assert exc is not None
        waiting.fail(exc)
    else:
        waiting.result = task.result()


def _still_open() -> str:
    thread = _loop._current
    parts: List[str] = []
    if thread is not None:
        owners = _copy(thread.owners)
        if owners:
            parts.append(f"{len(owners)} socket(s) open ({', '.join(map(repr, owners[:5]))})")
    timers = _timers.pending_timers()
    if timers:
        parts.append(f"{len(timers)} timer(s) pending ({', '.join(timers[:5])})")
    if thread is not None:
        tasks = _copy_tasks(thread.loop)
        if tasks:
            parts.append(f"{len(tasks)} task(s) pending ({', '.join(tasks[:5])})")
    if _loop.pending():
        parts.append(f"{_loop.pending()} posted call(s) waiting")
    return "; ".join(parts) or "nothing is open (the program was still busy)"


def _copy(items: Set[Any]) -> List[Any]:
    for _ in range(10):  # the event thread may change the set while we copy it
        try:
            return list(items)
        except RuntimeError:  # pragma: no cover
            continue
    return []  # pragma: no cover


def _copy_tasks(loop: asyncio.AbstractEventLoop) -> List[str]:
    import asyncio

    try:
        return [task.get_name() for task in asyncio.all_tasks(loop)]
    except RuntimeError:  # pragma: no cover - changed while we looked
        return []
