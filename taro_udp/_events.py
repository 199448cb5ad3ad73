"""The listeners of a socket: ``on*``/``off*``, and every call into listener code.

A mixin of ``UDPSocket``: one registry per event (``_registry``), and the one guard
every listener and callback runs under (STYLE habit 4): it catches anything, logs it
once, reports it to ``onError`` and never feeds a failing ``onError`` listener back to
itself. Everything here that calls a listener runs on the event thread.
"""

# WeChat's method names are the API being mirrored.
# ruff: noqa: N802

from __future__ import annotations

from typing import Any, Callable, Optional, Union

from . import _log, _loop, _validators
from ._errors import ERR_SYSTEM
from ._registry import ListenerRegistry
from ._results import listener_failure
from ._types import (
    CallbackResult,
    CloseListener,
    ErrorListener,
    ListeningListener,
    MessageListener,
    OnErrorCallbackResult,
)

__all__ = ["Listeners"]

_Result = Union[CallbackResult, OnErrorCallbackResult]


class Listeners:
    """``onMessage``/``onError``/``onListening``/``onClose`` and their ``off*``."""

    def __init__(self) -> None:
        self._on_message: ListenerRegistry[MessageListener] = ListenerRegistry()
        self._on_error: ListenerRegistry[ErrorListener] = ListenerRegistry()
        self._on_listening: ListenerRegistry[ListeningListener] = ListenerRegistry()
        self._on_close: ListenerRegistry[CloseListener] = ListenerRegistry()

    def onMessage(self, listener: MessageListener) -> None:
        """Listen for datagrams (``UDPSocket.onMessage``); payload ``OnMessageCallbackResult``.

        Runs on the event thread. Adding the same listener twice has no further effect.
        """
        _validators.listener(listener, "onMessage")
        self._on_message.add(listener)

    def offMessage(self, listener: Optional[MessageListener] = None) -> None:
        """Remove ``listener``, or every ``onMessage`` listener when called without one."""
        self._on_message.remove(listener)

    def onError(self, listener: ErrorListener) -> None:
        """Listen for errors (``UDPSocket.onError``); payload ``{"errMsg", "errCode"}``.

        Runs on the event thread. With no ``onError`` listener, errors are logged as
        warnings on the ``taro_udp`` logger.
        """
        _validators.listener(listener, "onError")
        self._on_error.add(listener)

    def offError(self, listener: Optional[ErrorListener] = None) -> None:
        """Remove ``listener``, or every ``onError`` listener when called without one."""
        self._on_error.remove(listener)

    def onListening(self, listener: ListeningListener) -> None:
        """Listen for the socket starting to receive (``UDPSocket.onListening``).

        Payload ``{"errMsg": "bind:ok"}``; runs on the event thread after a bind.
        """
        _validators.listener(listener, "onListening")
        self._on_listening.add(listener)
        _loop.wake_if_pending()  # a listening event may wait without a wake-up

    def offListening(self, listener: Optional[ListeningListener] = None) -> None:
        """Remove ``listener``, or every ``onListening`` listener when called without one."""
        self._on_listening.remove(listener)

    def onClose(self, listener: CloseListener) -> None:
        """Listen for the close (``UDPSocket.onClose``); payload ``{"errMsg": "close:ok"}``.

        Runs on the event thread, exactly once per socket.
        """
        _validators.listener(listener, "onClose")
        self._on_close.add(listener)
        _loop.wake_if_pending()  # a close event may wait without a wake-up

    def offClose(self, listener: Optional[CloseListener] = None) -> None:
        """Remove ``listener``, or every ``onClose`` listener when called without one."""
        self._on_close.remove(listener)

    # -- calling listeners (event thread) ----------------------------------------------

    def _emit(self, registry: ListenerRegistry[Any], name: str, payload: CallbackResult) -> None:
        for listener in registry.listeners:
            try:
                listener(payload)
            except BaseException as exc:  # noqa: BLE001
                self._listener_failed(name, exc)

    def _emit_error(self, payload: OnErrorCallbackResult) -> None:
        listeners = self._on_error.listeners
        if not listeners:
            _log.warning(
                "%s (errCode %d); no onError listener", payload["errMsg"], payload["errCode"]
            )
            return
        for listener in listeners:
            try:
                listener(payload)
            except BaseException as exc:  # noqa: BLE001 - logged once, never fed back to onError
                # The type only: the text may carry received data (the traceback has it).
                _log.error("taro_udp: an onError listener raised %s", type(exc).__name__, exc=exc)

    def _listener_failed(self, name: str, exc: BaseException) -> None:
        # The log line names the exception's type only: its text may carry received
        # data (the traceback has it). onError listeners get the whole report.
        if self._on_error.listeners:
            _log.error("taro_udp: %s listener raised %s", name, type(exc).__name__, exc=exc)
            self._emit_error(listener_failure(name, exc))
        else:  # one record that says both: what raised, and that nobody heard it
            _log.error(
                "taro_udp: %s:fail %s (errCode %d); no onError listener",
                name,
                type(exc).__name__,
                ERR_SYSTEM,
                exc=exc,
            )

    def _call_result(self, callback: Callable[[Any], Any], name: str, result: _Result) -> None:
        try:
            callback(result)
        except BaseException as exc:  # noqa: BLE001
            self._listener_failed(name, exc)
