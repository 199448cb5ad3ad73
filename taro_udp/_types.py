"""Payload types: the dicts WeChat's UDPSocket hands to listeners and callbacks.

The names and camelCase keys are those of ``wechat-miniprogram/api-typings``
(``UDPSocketOnMessageListenerResult`` is exported as ``OnMessageCallbackResult``, Taro's
name), so ported code can index them exactly as it did in JS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal, TypedDict, Union

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


# The type checker's fallback for option dicts built as ``Dict[str, Any]`` (or any
# ``Mapping[str, Any]``): ``Any`` fits ``Never``, so such dicts type-check as in 0.2.0,
# while a dict literal fits none of its values and is checked against ``SendOption`` /
# ``ConnectOption`` instead (a misspelt key or a mistyped value is an error). mypy's
# message for a bad literal then reads 'expected "str": "Never"'. For type checkers
# only: typing_extensions is not imported at run time (import taro_udp stays fast).
if TYPE_CHECKING:
    from typing import Mapping

    from typing_extensions import Never, TypeAlias

    UncheckedOption: TypeAlias = Mapping[str, Never]
