"""``JSRuntime``: a mini-program's JavaScript, run on taro_udp's event thread.

The JS context belongs to the event thread, the mini-program's one JS thread: it is
made there, and every call into it (a datagram for an ``onMessage`` listener, a timer,
a ``success`` callback, a page method called by a test) runs there, one at a time, in
the order taro_udp delivers them. After each of those the engine's Promise jobs are run
to completion, as a browser runs its microtasks after each task.

The methods of ``JSRuntime`` and ``Page`` may be called from any thread: from another
one they post the work to the event thread and wait for its result (``timeout``).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import logging
import os
import posixpath
import sys
import threading
import time
import typing
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Deque, Dict, List, NamedTuple, Optional, Type, TypeVar, Union
from urllib.parse import parse_qsl

import taro_udp
from taro_udp import _clock, _log, _loop

from . import _netinfo, _options
from ._bridge import Bridge
from ._engine import Engine
from ._errors import JSError, js_error
from ._resolve import BUILTIN_TARO, JSModuleNotFoundError, Resolver
from ._transform import TransformError, needs_transform, transform
from ._values import JSPromise, decode, encode

if typing.TYPE_CHECKING:
    from ..testing._hosts import Host

__all__ = ["ConsoleLine", "JSRuntime", "Page"]

_T = TypeVar("_T")
_Self = TypeVar("_Self", bound="JSRuntime")

# console.<level> -> logging level on the "taro_udp.js" logger.
_LEVELS = {
    "log": logging.INFO,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "debug": logging.DEBUG,
}
CONSOLE_LOGGER = "taro_udp.js"
# What ``JSRuntime.console`` keeps: the last lines, and this much text at most (chars).
CONSOLE_LIMIT = 1000
CONSOLE_CHARS = 1 << 20
# Calls into JS that deliver an event (a datagram, a result, a timer), not a user's call.
_EVENT_OPS = frozenset({"message", "fire", "fireClosed", "closed", "result", "timer"})
# The JS error names a JSError raised through a call from JS is thrown there as (the
# prelude's ERRORS); any other is an Error.
_RETHROWN = frozenset({"TypeError", "RangeError", "SyntaxError", "ReferenceError"})
# At most this many uncaught errors are kept in ``JSRuntime.errors`` (the first ones:
# the cause comes before its consequences); the rest are counted.
_MAX_ERRORS = 100


class ErrorList(List[JSError]):
    """``JSRuntime.errors``: the first uncaught errors, and how many more were dropped.

    ``clear()`` (a test saying it expected them) also forgets the dropped ones.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def clear(self) -> None:
        super().clear()
        self.dropped = 0


class ConsoleLine(NamedTuple):
    """One ``console.*`` call: ``level`` is ``"log"``, ``"info"``, ``"warn"``, ``"error"``
    or ``"debug"``; ``text`` is the formatted line, as Node would print it."""

    level: str
    text: str


def _random_bytes(count: int) -> str:
    # crypto.getRandomValues with no simulated network: the OS's random bytes.
    return base64.b64encode(os.urandom(count)).decode("ascii")


def _date_now() -> float:
    # A float: the binding turns a Python int into a JS int32, which cuts Date.now().
    return float(_clock.date_now())


class _Box:
    """The result of work posted to the event thread, for the thread that waits."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: Optional[BaseException] = None

    def run(self, work: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self.value = work(*args)
        except BaseException as exc:  # noqa: BLE001 - raised in the waiting thread
            self.error = exc
        self.done.set()


def _join_drive(
    clock: Any, done: threading.Event, timeout: Optional[float], what: str, wait: float
) -> None:
    """Drive the virtual ``clock`` until ``done`` (``timeout`` virtual seconds, or none).

    If another thread's drive is running (the test's ``run_until``), that drive runs the
    event thread: wait for ``done`` instead (``wait`` real seconds at most), as a call
    from another thread does in real time.
    """
    deadline = time.monotonic() + wait
    while not done.is_set():
        if getattr(clock, "_drive", None) is not None:
            if time.monotonic() >= deadline:
                return  # the caller's own wait reports it
            done.wait(0.005)
            continue
        try:
            clock.run_until(done.is_set, timeout, what)
        except RuntimeError:
            if getattr(clock, "_drive", None) is None:
                raise  # not a drive already running: a real failure


# Runtimes made so far on each simulated network: the second runtime of a test gets
# other numbers than the first, the same ones in every run.
_made_on: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()


def _random_seed() -> Optional[str]:
    """The seed of ``Math.random`` (128 bits, hex): from the active simulated network's
    seed, or ``None`` (the engine's own) when there is none."""
    network_module = sys.modules.get("taro_udp.testing._network")
    if network_module is None:  # never imported: no simulated network can be active
        return None
    network = network_module.active_network()
    if network is None:
        return None
    index = _made_on.get(network, 0)
    _made_on[network] = index + 1
    text = f"taro_udp.js Math.random|{network.seed!r}|{index}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class JSRuntime:
    """A JS context with the mini-program globals around UDP, on the event thread.

    ``root`` is the project's folder (``require`` and pages resolve in it; it must
    exist). ``script_timeout`` (seconds of wall clock, positive and finite) bounds each
    entry into JS, nested ones included: a script still running then is interrupted
    (``RunawayScriptError``, or reported as a listener failure) and the runtime goes on.
    ``memory_limit`` (bytes, or ``None``) bounds the JS heap. ``on_console(line)`` sees
    every console line as it is written (on the event thread); they are also logged on
    the ``taro_udp.js`` logger, and the last ``console_limit`` of them (1 MiB of text at
    most) are kept in ``console``. ``timeout`` bounds how long a method called from
    another thread waits for the event thread. ``host`` (a ``SimulatedNetwork`` host)
    runs the script on that host: its sockets are the host's, and
    ``wx.getLocalIPAddress``, ``wx.getNetworkType`` and ``wx.onNetworkStatusChange``
    follow its links. A bad argument raises ``TypeError`` or ``ValueError`` (a missing
    root ``FileNotFoundError``) here, naming it.

    An error nobody catches (thrown by a listener, a callback, a timer or a Promise job,
    or an unhandled rejection) is appended to ``errors`` as a ``JSError`` (and logged);
    the ``js_runtime`` fixture fails the test with those left in the list when it ends.
    A test that expects such errors inspects ``errors`` and clears it. ``on_error(error)``
    (on the event thread) sees each one as it happens (``taro-udp run`` stops there).
    What JS throws into a Python call (``eval``, ``page.call``...) is raised there instead.
    """

    def __init__(
        self,
        root: Union[str, Path, None] = None,
        *,
        script_timeout: float = 5.0,
        memory_limit: Optional[int] = 256 * 1024 * 1024,
        on_console: Optional[Callable[[ConsoleLine], object]] = None,
        timeout: float = 30.0,
        on_error: Optional[Callable[[JSError], object]] = None,
        console_limit: int = CONSOLE_LIMIT,
        host: Optional[Host] = None,
    ) -> None:
        self.root = _options.project_root(root)
        script_timeout = _options.seconds("script_timeout", script_timeout)
        memory_limit = _options.memory_limit(memory_limit)
        self.timeout = _options.seconds("timeout", timeout)
        if on_console is not None and not callable(on_console):
            raise TypeError("on_console must be callable or None")
        # The last lines only: a script that logs forever must not grow the host.
        self.console: Deque[ConsoleLine] = collections.deque(
            maxlen=_options.console_limit(console_limit)
        )
        self._console_chars = 0
        self._on_console = on_console
        self.errors: List[JSError] = ErrorList()
        self._on_error = on_error
        self._python_fns: Dict[int, Callable[..., Any]] = {}
        self._promises: Dict[int, JSPromise] = {}
        self._released: List[int] = []
        self._depth = 0  # entries into JS under way (event thread)
        self._stubs: Dict[str, Callable[..., Any]] = {}
        self._watchers: List[Callable[[], None]] = []
        self._watching = False
        self._closed = False
        self._logger = logging.getLogger(CONSOLE_LOGGER)
        self._bridge = Bridge(self._enter)
        self._ops: Dict[str, Callable[..., Any]] = {
            "createUDPSocket": self._bridge.createUDPSocket,
            "bind": self._bridge.bind,
            "send": self._bridge.send,
            "write": self._bridge.write,
            "connect": self._bridge.connect,
            "setTTL": self._bridge.setTTL,
            "close": self._bridge.close,
            "release": self._bridge.release,
            "on": self._bridge.on,
            "off": self._bridge.off,
            "setTimer": self._bridge.setTimer,
            "clearTimer": self._bridge.clearTimer,
            "console": self._console,
            "resolve": self._resolve,
            "load": self._load,
            "stub": self._call_stub,
            "hint": self._hint,
            "randomBytes": _random_bytes,
            "callPython": self._call_python,
            "settled": self._settled,
            "adopted": self._adopted,
        }
        self._resolver: Optional[Resolver] = None
        self._engine: Optional[Engine] = None
        self._on_loop(self._create, script_timeout, memory_limit)
        _netinfo.install(self, host)  # the simulated host's network APIs (host=, or a LAN)

    def _create(self, script_timeout: float, memory_limit: Optional[int]) -> None:
        self._engine = Engine(
            self._host,
            _date_now,
            _clock.performance_now,
            script_timeout,
            memory_limit,
            self._uncaught,
        )
        seed = _random_seed()
        if seed is not None:
            self._engine.call("seed", seed)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<JSRuntime {state} root={str(self.root) if self.root else None!r}>"

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    # -- the event thread ----------------------------------------------------------------

    def _on_loop(self, work: Callable[..., _T], *args: Any) -> _T:
        """Run ``work(*args)`` on the event thread and return its result (any thread)."""
        if _loop.in_event_thread():
            return work(*args)
        box = _Box()
        # OSError at once when the event thread cannot start (no fd left): nothing would
        # ever run the work, and waiting ``timeout`` for it would only hide the cause.
        _loop.call_soon_or_raise(box.run, work, args)
        clock: Any = _clock.current
        if clock.virtual:  # lockstep: nothing runs outside a drive (time does not move)
            _join_drive(clock, box.done, None, "the JS call", self.timeout)
        if not box.done.wait(self.timeout):
            raise TimeoutError(f"the event thread did not run the JS call within {self.timeout} s")
        if box.error is not None:
            raise box.error
        result: _T = box.value
        return result

    def _enter(self, op: str, *args: Any) -> str:
        """Call into JS (event thread), then let the waiters look at the new state.

        Returns the result as ``enc`` text (``_values.decode`` makes it Python). What an
        event (a datagram, a result, a timer) threw is an uncaught error: recorded in
        ``errors``, then raised for the core to report as it reports a Python listener.
        """
        engine = self._engine
        if engine is None:
            if op in _EVENT_OPS:
                return ""  # closed: events still queued for its sockets go nowhere
            raise JSError("the JS runtime is closed")
        if self._released:
            self._release_now(engine)
        self._depth += 1
        try:
            return engine.call(op, *args)
        except JSError as exc:
            if op in _EVENT_OPS:
                self._uncaught(exc)
            if sys.version_info < (3, 11) and exc.stack:  # no notes in the traceback
                _log.error("taro_udp.js: %s: %s\n%s", type(exc).__name__, exc, exc.stack)
            raise
        finally:
            self._depth -= 1
            self._notify_watchers()

    def _uncaught(self, error: JSError) -> None:
        # Event thread: an error no JS code caught.
        errors = self.errors
        if len(errors) < _MAX_ERRORS:
            errors.append(error)
        elif isinstance(errors, ErrorList):
            errors.dropped += 1
        if self._on_error is not None:
            try:
                self._on_error(error)
            except BaseException as exc:  # noqa: BLE001 - a hook must not break the runtime
                _log.error("taro_udp.js: the on_error hook raised %s", type(exc).__name__, exc=exc)

    @property
    def errors_dropped(self) -> int:
        """Uncaught errors past the first 100 (not kept in ``errors``; ``errors.clear()``
        resets it)."""
        errors = self.errors
        return errors.dropped if isinstance(errors, ErrorList) else 0

    # -- handles ---------------------------------------------------------------------------

    def _release_handle(self, handle_id: int) -> None:
        # A JSHandle's finalizer (any thread, any time, even inside a lock of the
        # loop): only noted here; the JS side lets go at the next entry.
        if not self._closed:
            self._released.append(handle_id)

    def _release_now(self, engine: Engine) -> None:
        released, self._released = self._released, []
        for handle_id in released:
            # A rejected Promise handed to Python and let go of without result(): it is
            # an unhandled rejection after all.
            self._report_unobserved(engine.call("release", handle_id))

    def _report_unobserved(self, text: str) -> None:
        found = json.loads(text) if text else []
        for thrown in found if isinstance(found, list) else [found]:
            error = js_error(str(thrown["name"]), str(thrown["message"]), str(thrown["stack"]))
            _log.error(
                "taro_udp.js: unhandled promise rejection (a JSPromise never awaited): %s",
                error.report.split(" ", 1)[1],
            )
            self._uncaught(error)

    def _call_handle(self, handle_id: int, args: tuple[Any, ...]) -> Any:
        text = encode(list(args), self)
        if _loop.in_event_thread() and self._depth == 0:
            # An event of the fake world (a Python timer, a device's listener calling a
            # JS listener it was given): what it throws, no JS code can catch.
            try:
                return decode(self._enter("callHandle", handle_id, text), self)
            except JSError as exc:
                self._uncaught(exc)
                raise
        return decode(self._on_loop(self._enter, "callHandle", handle_id, text), self)

    def _keep_python(self, fn: Callable[..., Any]) -> int:
        # A Python callable passed to JS: kept until the runtime is closed.
        key = id(fn)
        self._python_fns[key] = fn
        return key

    def _call_python(self, key: int, text: str) -> Any:
        fn = self._python_fns.get(key)
        if fn is None:
            raise TypeError("this Python function is no longer callable")
        return fn(*(decode(text, self) or []))

    def _await_promise(self, promise: JSPromise, timeout: float) -> None:
        if not promise._watched:
            promise._watched = True
            self._promises[promise.handle_id] = promise  # kept (not released) until settled
            self._on_loop(self._enter, "watch", promise.handle_id)
        if promise.settled:
            return
        if _loop.in_event_thread():
            raise JSError("a Promise cannot be waited for on the event thread: it settles later")
        clock: Any = _clock.current
        if clock.virtual:
            _join_drive(clock, promise._settled, timeout, "the Promise", timeout)
        if not promise._settled.wait(0 if clock.virtual else timeout):
            raise TimeoutError(f"the Promise did not settle within {timeout} s")

    def _adopted(self) -> int:
        return 0 if self._engine is None else self._engine.adopted

    def _settled(self, handle_id: int, ok: bool, text: Optional[str]) -> None:
        promise = self._promises.pop(handle_id, None)
        if promise is not None:
            promise._settle(ok, decode(text, self))

    def _notify_watchers(self) -> None:
        if self._watchers and not self._watching:
            self._watching = True  # a predicate that reads page.data enters JS too
            try:
                for watcher in list(self._watchers):
                    watcher()
            finally:
                self._watching = False

    def _host(self, op: str, text: str) -> str:
        # Every call from JS into Python. Nothing may escape into the binding (it would
        # become a SystemError): the JS side turns "e" + JSON into a thrown Error.
        try:
            args = json.loads(text) if text else []
            result = self._ops[op](*args)
            return "o" if result is None else "o" + encode(result, self)
        except BaseException as exc:  # noqa: BLE001 - thrown in JS instead
            name = "TypeError" if isinstance(exc, (TypeError, ValueError)) else "Error"
            if isinstance(exc, JSError) and exc.name in _RETHROWN:
                name = exc.name  # a nested entry's RangeError stays one in JS
            try:
                message = str(exc) or type(exc).__name__
            except BaseException:  # noqa: BLE001 - a hostile __str__
                message = type(exc).__name__
            return "e" + json.dumps({"name": name, "message": message})

    def _console(self, level: str, text: str) -> None:
        line = ConsoleLine(level, text)
        self._keep(line)
        self._logger.log(_LEVELS.get(level, logging.INFO), "%s", text)
        if self._on_console is not None:
            try:
                self._on_console(line)
            except BaseException as exc:  # noqa: BLE001 - console.log never throws in JS
                _log.error(
                    "taro_udp.js: the on_console hook raised %s", type(exc).__name__, exc=exc
                )

    def _keep(self, line: ConsoleLine) -> None:
        history = self.console
        if history.maxlen == 0:
            return
        if len(history) == history.maxlen:
            self._console_chars -= len(history[0].text)
        history.append(line)
        self._console_chars += len(line.text)
        # ...and no more than CONSOLE_CHARS of text (the newest line is always kept).
        while self._console_chars > CONSOLE_CHARS and len(history) > 1:
            self._console_chars -= len(history.popleft().text)

    def _resolve(self, directory: str, path: str, optional: bool = False) -> Any:
        # require(path) from the module in `directory` (_resolve.Resolver): the module's
        # id (its real path relative to the root) and folder; JS asks to `load` it only
        # if it is not loaded yet.
        if self.root is None:
            raise FileNotFoundError("require: this runtime has no project root")
        if self._resolver is None:
            self._resolver = Resolver(self.root)
        try:
            found = self._resolver.resolve(directory, path)
        except JSModuleNotFoundError:
            if optional:
                return None
            raise
        if found == BUILTIN_TARO:
            return {"path": found, "dir": "", "builtin": True}
        return {"path": found, "dir": posixpath.dirname(found)}

    def _hint(self, name: str) -> None:
        # The first read of an absent wx API (feature detection, or a call about to fail
        # with "wx.x is not a function"): say once how to provide it.
        self._logger.warning(
            "wx.%s is not provided by taro_udp.js (it reads as undefined); if the "
            "program needs it, provide it with runtime.stub(%r, fn) or "
            "runtime.stub(%r, js='...')",
            name,
            name,
            name,
        )

    def _load(self, path: str) -> Dict[str, Any]:
        """Read a resolved module; compile it under its path (``compile_module``).

        TypeScript and ES modules are first turned into CommonJS (``_transform``: same
        lines, cached for the process by content); a file the transform cannot parse is
        ``{"error": "<file>:<line>:<column>: <reason>", "name": "SyntaxError"}`` (a
        ``RangeError`` for one too big to transform), thrown in JS.
        """
        assert self._resolver is not None
        data = (self._resolver.root / path).read_bytes()
        try:
            source = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"cannot read {path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at {exc.start})"
            ) from None
        if path.endswith(".json"):
            return {"source": source}
        if needs_transform(path, source):
            try:
                source = transform(source, path)
            except TransformError as exc:
                return {"error": str(exc), "name": "SyntaxError" if exc.line else "RangeError"}
        engine = self._engine
        if engine is None:
            raise JSError("the JS runtime is closed")
        return {"compiled": engine.compile_module(source, path)}

    def _call_stub(self, name: str, text: str) -> Any:
        stub = self._stubs.get(name)
        if stub is None:
            raise TypeError(f"wx.{name} is not provided")
        return stub(*(decode(text, self) or []))

    # -- the Python API ------------------------------------------------------------------

    def eval(self, source: str) -> Any:
        """Run ``source`` as a script and return its completion value as Python.

        Its top-level declarations stay global (a later ``eval`` sees them). Values come
        back as ``taro_udp.js._values`` documents (objects and arrays as dicts and lists,
        of any size; an ``ArrayBuffer`` as ``bytes``; a function as a callable
        ``JSFunction``; a Promise as a ``JSPromise`` to ``.result()``); what JS throws
        is raised as ``JSError``. A top-level *string* completion value goes through the
        engine binding as it is: one with a NUL is cut there, and one the binding cannot
        convert (very long and built by concatenation, or with a lone surrogate) raises
        ``JSError``: return it inside an array or object to get it whole.
        """
        is_text, value = self._on_loop(self._run_script, source)
        return decode(value, self) if is_text else value

    def _run_script(self, source: str) -> Any:
        engine = self._engine
        if engine is None:
            raise JSError("the JS runtime is closed")
        self._depth += 1  # an entry into JS, as _enter's: what JS catches is not uncaught
        try:
            return engine.run_script(source)
        finally:
            self._depth -= 1
            self._notify_watchers()

    def require(self, path: str) -> Any:
        """``require(path)`` from the project root; returns ``module.exports`` as Python."""
        return decode(self._on_loop(self._call, "require", path), self)

    def run_file(self, path: Union[str, Path]) -> None:
        """Run a JS file as the main module: its folder becomes the project root."""
        file = Path(path).resolve()
        if self.root is None:
            self.root = file.parent
        self._on_loop(self._call, "require", "/" + file.relative_to(self.root).as_posix())

    def launch(self, query: Optional[Dict[str, Any]] = None) -> None:
        """Run ``app.js`` (if the project has one): ``App()``'s ``onLaunch``, ``onShow``."""
        self._on_loop(self._call, "launch", json.dumps(dict(query or {})))

    def open_page(self, route: str, query: Optional[Dict[str, Any]] = None) -> Page:
        """Open the page at ``route`` (``"pages/index/index"``, ``"...?id=3"`` too).

        Loads the route's file (which calls ``Page({...})`` or ``Component({...})``),
        makes the page with a copy of its ``data``, then runs ``onLoad(query)``,
        ``onShow()`` and ``onReady()``. Query values are strings, as in WeChat.
        """
        route, _, text = route.lstrip("/").partition("?")
        options: Dict[str, Any] = dict(parse_qsl(text))
        options.update({key: str(value) for key, value in (query or {}).items()})
        index = decode(self._on_loop(self._call, "open", route, json.dumps(options)), self)
        return Page(self, route, int(index))

    def _call(self, op: str, *args: Any) -> str:
        return self._enter(op, *args)

    def stub(
        self,
        name: str,
        fn: Optional[Callable[..., Any]] = None,
        *,
        js: Optional[str] = None,
        sync: Optional[bool] = None,
    ) -> None:
        """Provide ``wx.<name>``, with a Python function or with JS source.

        A Python ``fn`` gets the JS arguments as Python values: a JS function as a
        ``JSFunction`` it may call then or later (a listener given to an ``onXxx`` API),
        except the ``success``/``fail``/``complete`` of an async call's option, which
        are run here; it returns a value JS can take (see ``taro_udp.js._values``). For a
        synchronous API (``sync=True``; by default, a name ending in ``Sync``) the value
        is returned to JS (an exception is thrown there as an ``Error``):
        ``stub("canIUse", fn, sync=True)``. For any other, the JS callbacks run
        as WeChat runs them: ``success(value)`` (``{"errMsg": "<name>:ok"}`` for
        ``None``) or ``fail({"errMsg": "<name>:fail <exception text>"})``, then
        ``complete``; with no callback the call returns a Promise. ``js`` is the source of
        a JS function used as it is (``js="(opt) => opt.success({confirm: true})"``).
        """
        if (fn is None) == (js is None):
            raise TypeError("stub() takes a Python function or js= source, one of them")
        if not isinstance(name, str) or not name:
            raise TypeError("stub() name must be a non-empty str")
        if sync is not None and type(sync) is not bool:
            raise TypeError("stub() sync must be True, False or None")
        if fn is not None:
            if not callable(fn):
                raise TypeError("stub() fn must be callable")
            self._stubs[name] = fn
        blocking = name.endswith("Sync") if sync is None else sync
        self._on_loop(self._call, "stub", name, js, blocking)

    def unstub(self, name: str) -> None:
        """Take ``wx.<name>`` away again: absent once more (or the runtime's own API)."""
        self._stubs.pop(name, None)
        self._on_loop(self._call, "unstub", name)

    def console_text(self, level: Optional[str] = None) -> List[str]:
        """The console lines so far (of one level, if given), as text."""
        return [line.text for line in list(self.console) if level is None or line.level == level]

    def run(self, timeout: Optional[float] = None) -> None:
        """Wait until the program is idle: no socket open, no timer pending (``taro_udp.run``)."""
        taro_udp.run(None, timeout=timeout)

    def run_until(self, predicate: Callable[[], object], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` is true; it runs on the event thread, after every
        entry into JS and every 10 ms of the loop's clock. ``TimeoutError`` after
        ``timeout`` seconds (an exception from ``predicate`` is raised here)."""
        clock: Any = _clock.current
        if clock.virtual and not _loop.in_event_thread():
            # A drive of the virtual clock: the predicate runs on the event thread between
            # rounds, and ``timeout`` counts virtual seconds.
            clock.run_until(lambda: bool(predicate()), timeout, "run_until()'s condition")
            return
        done = threading.Event()
        failure: List[BaseException] = []

        def check() -> None:
            if done.is_set():
                return
            try:
                if predicate():
                    done.set()
            except BaseException as exc:  # noqa: BLE001 - raised in the waiting thread
                failure.append(exc)
                done.set()

        def start() -> int:
            self._watchers.append(check)
            check()
            return taro_udp.setInterval(check, 10)

        timer = self._on_loop(start)
        try:
            if not done.wait(timeout):
                raise TimeoutError(f"run_until(): the condition was not met within {timeout} s")
        finally:
            self._on_loop(self._stop_watching, check, timer)
        if failure:
            raise failure[0]

    def _stop_watching(self, check: Callable[[], None], timer: int) -> None:
        taro_udp.clearInterval(timer)
        if check in self._watchers:
            self._watchers.remove(check)

    def memory(self) -> Dict[str, int]:
        """The JS engine's memory counters (QuickJS's ``JS_ComputeMemoryUsage``)."""
        return self._on_loop(self._memory)

    def _memory(self) -> Dict[str, int]:
        if self._engine is None:
            return {}
        return self._engine.memory()

    @property
    def watchdog(self) -> bool:
        """Whether a runaway script is interrupted after ``script_timeout``."""
        return self._engine is not None and self._engine.watchdog

    def close(self) -> None:
        """Clear the runtime's timers, close its sockets and free the JS context.

        Idempotent. Events still queued for its sockets are dropped.
        """
        if self._closed:
            return
        self._closed = True
        self._on_loop(self._teardown)

    def _teardown(self) -> None:
        if self._engine is not None:
            try:
                self._report_unobserved(self._engine.call("unobserved"))
            except JSError as exc:  # the runtime closes whatever its JS does
                _log.error("taro_udp.js: reading the unobserved rejections failed: %s", exc)
        self._bridge.close_all()
        self._watchers.clear()
        self._python_fns.clear()
        promises, self._promises = list(self._promises.values()), {}
        for promise in promises:  # a thread waiting in result() learns it at once
            promise._settle(False, JSError("the JS runtime is closed"))
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()

    @property
    def closed(self) -> bool:
        return self._closed


class Page:
    """An open page (or component) of a ``JSRuntime``: its ``data`` and its methods."""

    def __init__(self, runtime: JSRuntime, route: str, index: int) -> None:
        self.runtime = runtime
        self.route = route
        self._index = index

    def __repr__(self) -> str:
        return f"<Page {self.route}>"

    @property
    def data(self) -> Dict[str, Any]:
        """A copy of the page's ``data``, as Python values (read on the event thread)."""
        runtime = self.runtime
        value = decode(runtime._on_loop(runtime._enter, "data", self._index), runtime)
        return value if isinstance(value, dict) else {}

    def call(self, method: str, *args: Any) -> Any:
        """Call the page's ``method`` with ``args``, as a tap or an input does.

        With no argument the method gets an empty event object ``{}``; otherwise the
        arguments as given (``{"detail": {"value": "x"}, "currentTarget": {"dataset":
        {...}}}``, any values ``taro_udp.js._values`` can pass). Returns what the method
        returned, as Python. What it throws is raised as ``JSError``.
        """
        runtime = self.runtime
        text = encode(list(args) if args else [{}], runtime)
        return decode(
            runtime._on_loop(runtime._enter, "method", self._index, method, text), runtime
        )

    def close(self) -> None:
        """Run ``onHide``/``onUnload`` and forget the page."""
        self.runtime._on_loop(self.runtime._enter, "closePage", self._index)
