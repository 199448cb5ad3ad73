"""Entry points: ``create_udp_socket`` and the ``wx``/``Taro`` namespaces of ported code."""

# createUDPSocket is the name being mirrored.
# ruff: noqa: N802, N816, A002

from __future__ import annotations

from typing import Any, Mapping, Optional

from ._socket import UDPSocket

__all__ = ["Taro", "createUDPSocket", "create_udp_socket", "wx"]


def create_udp_socket(
    type: Optional[str] = "udp4", options: Optional[Mapping[str, Any]] = None
) -> UDPSocket:
    """Create a UDP socket (``wx.createUDPSocket(type)``).

    ``type`` is ``"udp4"`` (default; ``None`` too, like JS ``undefined``) or ``"udp6"``
    (dual stack: it talks to IPv4 peers as well). ``options`` is a Python extra with the
    keys of Node's ``dgram.createSocket``: ``reuseAddr``, ``ipv6Only``,
    ``recvBufferSize``, ``sendBufferSize``. Raises ``ValueError``/``TypeError`` for a bad
    ``type`` or option, and ``UDPSocketError`` when the OS refuses a socket.
    """
    return UDPSocket(type, options)


createUDPSocket = create_udp_socket


class _Namespace:
    """``wx`` / ``Taro``: so that ``wx.createUDPSocket()`` ports without a change."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"<taro_udp.{self._name}>"

    @staticmethod
    def createUDPSocket(
        type: Optional[str] = "udp4", options: Optional[Mapping[str, Any]] = None
    ) -> UDPSocket:
        """Same as ``taro_udp.create_udp_socket``."""
        return UDPSocket(type, options)


wx = _Namespace("wx")
Taro = _Namespace("Taro")
