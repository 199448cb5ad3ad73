"""Payload types: the dicts WeChat's UDPSocket hands to listeners and callbacks.

The names and camelCase keys are those of ``wechat-miniprogram/api-typings``
(``UDPSocketOnMessageListenerResult`` is exported as ``OnMessageCallbackResult``, Taro's
name), so ported code can index them exactly as it did in JS.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, TypedDict, Union

__all__ = [
    "BinaryMessage",
    "CallbackResult",
    "CloseListener",
    "ConnectOption",
    "ErrorListener",
    "ListeningListener",
    "LocalInfo",
    "Message",
    "MessageListener",
    "OnErrorCallbackResult",
    "OnMessageCallbackResult",
    "RemoteInfo",
    "ResultCallback",
    "SendOption",
    "SocketType",
]

SocketType = Literal["udp4", "udp6"]
BinaryMessage = Union[bytes, bytearray, memoryview]
Message = Union[str, BinaryMessage]


class RemoteInfo(TypedDict):
    """Where a datagram came from (WeChat ``RemoteInfo``)."""

    address: str
    family: str
    port: int
    size: int


class LocalInfo(TypedDict):
    """Where a datagram arrived: the real local address, not the wildcard (``LocalInfo``)."""

    address: str
    family: str
    port: int


class OnMessageCallbackResult(TypedDict):
    """Payload of ``onMessage`` listeners."""

    message: bytes
    remoteInfo: RemoteInfo
    localInfo: LocalInfo


class CallbackResult(TypedDict, total=False):
    """Payload of ``onListening``/``onClose`` listeners and of send/write callbacks.

    ``errCode`` is present on failures only.
    """

    errMsg: str
    errCode: int


class OnErrorCallbackResult(TypedDict):
    """Payload of ``onError`` listeners."""

    errMsg: str
    errCode: int


ResultCallback = Callable[[CallbackResult], Any]
MessageListener = Callable[[OnMessageCallbackResult], Any]
ErrorListener = Callable[[OnErrorCallbackResult], Any]
ListeningListener = Callable[[CallbackResult], Any]
CloseListener = Callable[[CallbackResult], Any]


class SendOption(TypedDict, total=False):
    """Option of ``send``/``write``. ``data`` is Taro's legacy name for ``message``."""

    address: str
    port: int
    message: Message
    data: Message
    offset: int
    length: int
    setBroadcast: bool
    success: ResultCallback
    fail: ResultCallback
    complete: ResultCallback


class ConnectOption(TypedDict):
    """Option of ``connect``."""

    address: str
    port: int
