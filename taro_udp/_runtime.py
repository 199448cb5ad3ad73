"""``run()``, ``call_soon()``, ``run_coroutine_threadsafe()``: the event thread as the JS thread.

``run(main)`` is what starting a mini-program page is: ``main`` runs on the event
thread as its first task, and the caller waits until nothing is left to do (no open
socket, no pending timer, no task), Node's rule for when a script has ended. When it
times out it names what is still alive: each open socket with where it was made, each
pending timer with where it was set (``describe_alive()``, which the virtual clock's
errors use too).
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Coroutine,
    List,
    Optional,
    Set,
    TypeVar,
    Union,
    overload,
)

from . import _clock, _log, _loop, _sites, _timers

if TYPE_CHECKING:  # asyncio is imported with the first event thread, not with taro_udp
    import asyncio

__all__ = ["call_soon", "describe_alive", "run", "run_coroutine_threadsafe"]

_T = TypeVar("_T")
# How many sockets, timers and tasks an error message names (then "and N more").
_NAMED = 5


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


@overload
def run(main: None = None, *, timeout: Optional[float] = None) -> None: ...


@overload
def run(
    main: Callable[[], Awaitable[_T]], *, timeout: Optional[float] = None
) -> _T: ...  # an ``async def`` main: its coroutine's result


@overload
def run(main: Awaitable[_T], *, timeout: Optional[float] = None) -> _T: ...


@overload
def run(main: Callable[[], _T], *, timeout: Optional[float] = None) -> _T: ...


def run(
    main: Union[Callable[[], Any], Awaitable[Any], None] = None,
    *,
    timeout: Optional[float] = None,
) -> Any:
    """Run ``main`` on the event thread, then wait until the program has ended.

    ``main`` is a function or a coroutine function (``async def``), called with no
    arguments on the event thread as the first task, as a mini-program runs its script
    (an awaitable, such as a coroutine object, is awaited there too).
    Returns ``main``'s result (an ``async def``'s: what it returned) once no socket is
    open, no timer is pending and no task is left (Node's rule for when a script ends).
    An exception from ``main``, or one a task raised that nobody awaited, is raised here
    at once (the program keeps running). After ``timeout`` seconds (virtual seconds
    under a ``VirtualClock``) raises ``TimeoutError`` naming what is still alive: each
    open socket with where it was made, each timer with where it was set. Called on
    the event thread itself (it would wait for itself) it raises ``RuntimeError``;
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
            raise TimeoutError(f"run() timed out after {timeout} s: {describe_alive()}")
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
    except TimeoutError as exc:  # the virtual clock's VirtualTimeoutError
        if waiting.done.is_set():
            return
        still = describe_alive()
        raise TimeoutError(f"run() timed out after {timeout} virtual s: {still}") from exc
    except AssertionError:  # the virtual clock's other failures are test failures
        if waiting.done.is_set():
            return
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


def run_coroutine_threadsafe(
    coro: Coroutine[Any, Any, _T],
) -> concurrent.futures.Future[_T]:
    """Run the coroutine ``coro`` on the event thread; return a ``concurrent.futures.Future``.

    asyncio's ``run_coroutine_threadsafe`` for taro_udp's event thread: from a test or
    any other thread, await there what listeners and timers own (``await`` a Promise-like
    future a ``success`` callback settles, ``asyncio.sleep``, another coroutine), and
    wait for its outcome with ``future.result(timeout)``. Cancelling the future cancels
    the task. Under a ``VirtualClock`` the coroutine runs only inside drives: wait with
    ``clock.run_until(future.done)``, then read ``future.result()``. Blocking on the
    result from the event thread itself would wait forever.
    """
    if not _awaitable(coro):
        raise TypeError(f"run_coroutine_threadsafe() needs a coroutine, got {type(coro).__name__}")
    future: concurrent.futures.Future[_T] = concurrent.futures.Future()
    _loop.call_soon(_start_coroutine, coro, future)
    return future


def _start_coroutine(coro: Any, future: concurrent.futures.Future[Any]) -> None:
    # On the event thread. The future stays "pending" until the task ends, as asyncio's
    # does, so that cancel() works until then.
    if future.cancelled():
        coro.close()
        return
    import asyncio

    try:
        task = asyncio.ensure_future(coro)
    except BaseException as exc:  # noqa: BLE001 - handed to the future's owner
        if future.set_running_or_notify_cancel():
            future.set_exception(exc)
        return

    def settle(done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            future.cancel()
            return
        if not future.set_running_or_notify_cancel():
            return
        exc = done.exception()  # retrieved: the future's owner gets it, nothing is logged
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(done.result())

    def cancel_task(cf: concurrent.futures.Future[Any]) -> None:
        if cf.cancelled():
            _loop.call_soon(task.cancel)

    task.add_done_callback(settle)
    future.add_done_callback(cancel_task)


def describe_alive() -> str:
    """What keeps the event loop from going idle, in words, for an error message.

    Each open socket with where it was made, each pending timer with where it was set
    (the first caller outside taro_udp), the asyncio tasks, and calls posted but not run.
    """
    thread = _loop._current
    parts: List[str] = []
    if thread is not None:
        owners = _copy(thread.owners)
        if owners:
            named = [_with_site(repr(owner), "made", _sites.site_of(owner)) for owner in owners]
            parts.append(f"{len(owners)} socket(s) open ({_first(named)})")
    timers = _copy(_timers._active.values())
    if timers:
        named = [_with_site(timer.describe(), "set", timer.created_at) for timer in timers]
        parts.append(f"{len(timers)} timer(s) pending ({_first(named)})")
    if thread is not None:
        tasks = _copy_tasks(thread.loop)
        if tasks:
            parts.append(f"{len(tasks)} task(s) pending ({_first(tasks)})")
    if _loop.pending():
        parts.append(f"{_loop.pending()} posted call(s) waiting")
    return "; ".join(parts) or "nothing is open (the program was still busy)"


def _with_site(what: str, verb: str, site: str) -> str:
    if not site:
        return what
    try:  # a path below the working directory reads shorter relative to it
        relative = os.path.relpath(site)
        if not relative.startswith(".."):
            site = relative
    except ValueError:  # pragma: no cover - another drive (Windows)
        pass
    return f"{what} {verb} at {site}"


def _first(items: List[str]) -> str:
    more = len(items) - _NAMED
    return ", ".join(items[:_NAMED]) + (f", and {more} more" if more > 0 else "")


def _copy(items: Any) -> List[Any]:
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
