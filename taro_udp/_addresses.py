"""Addresses: turn the ``address`` of a call into a socket address for one family.

IP literals are parsed once and cached (sending to the same peer again costs a dict
lookup); host names are resolved on every call, on the caller's thread, as Node's dgram
does, so a changed DNS record is seen at once.
"""

from __future__ import annotations

import socket
from typing import Any, Dict, Tuple

from ._errors import ERR_INVALID_ADDRESS, ArgumentError

__all__ = ["SockAddr", "family_name", "resolve", "wildcard"]

SockAddr = Tuple[Any, ...]

_INVALID = "invalid address"
# Parsed literals per (text, family): (host for the sockaddr, flowinfo, scope_id).
_literals: Dict[Tuple[str, int], Tuple[str, int, int]] = {}
# A bound, not a policy: a program that talks to more distinct literal addresses than
# this simply parses them again; the cache never grows past it.
_LITERAL_CACHE_MAX = 4096


def family_name(family: int) -> str:
    """WeChat's ``family`` text for an address family."""
    return "IPv6" if family == socket.AF_INET6 else "IPv4"


def wildcard(family: int) -> str:
    """The all-interfaces address WeChat binds to."""
    return "::" if family == socket.AF_INET6 else "0.0.0.0"


def resolve(host: object, port: int, family: int) -> SockAddr:
    """Return the sockaddr for ``host``/``port`` on a socket of ``family``.

    ``host`` may be an IP literal (IPv6 with a ``%zone``) or a host name. On a udp6
    socket (dual-stack) IPv4 addresses become IPv4-mapped IPv6 addresses; on a udp4
    socket an IPv6 address is the wrong family. Anything that does not resolve raises
    ``ArgumentError("invalid address", 1)``.
    """
    if not isinstance(host, str):
        raise ArgumentError(_INVALID, ERR_INVALID_ADDRESS)
    parsed = _literals.get((host, family))
    if parsed is None:
        parsed = _parse(host, family)
    if family == socket.AF_INET6:
        return (parsed[0], port, parsed[1], parsed[2])
    return (parsed[0], port)


def _parse(host: str, family: int) -> Tuple[str, int, int]:
    if not host or "\x00" in host:
        raise ArgumentError(_INVALID, ERR_INVALID_ADDRESS)
    flags = socket.AI_V4MAPPED if family == socket.AF_INET6 else 0
    try:
        infos = socket.getaddrinfo(
            host, None, family, socket.SOCK_DGRAM, 0, flags | socket.AI_NUMERICHOST
        )
        literal = True
    except socket.gaierror:
        literal = False
        infos = []
    except (UnicodeError, ValueError, OSError):
        raise ArgumentError(_INVALID, ERR_INVALID_ADDRESS) from None
    if not literal:
        try:
            infos = socket.getaddrinfo(host, None, family, socket.SOCK_DGRAM, 0, flags)
        except (UnicodeError, ValueError, OSError):
            # gaierror is an OSError: unknown names, wrong family, names too long.
            raise ArgumentError(_INVALID, ERR_INVALID_ADDRESS) from None
    sockaddr = next((info[4] for info in infos if info[0] == family), None)
    if sockaddr is None:
        raise ArgumentError(_INVALID, ERR_INVALID_ADDRESS)
    if family == socket.AF_INET6:
        # Keep the caller's text for zoned literals (CPython parses "fe80::1%eth0" itself);
        # the scope_id from getaddrinfo travels in the sockaddr either way.
        parsed = (str(sockaddr[0]), int(sockaddr[2]), int(sockaddr[3]))  # type: ignore[misc]
    else:
        parsed = (str(sockaddr[0]), 0, 0)
    if literal:
        if len(_literals) >= _LITERAL_CACHE_MAX:
            _literals.clear()
        _literals[(host, family)] = parsed
    return parsed
