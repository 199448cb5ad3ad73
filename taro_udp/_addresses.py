"""Addresses: turn the ``address`` of a call into a socket address for one family.

IP literals are parsed once and cached (sending to the same peer again costs a dict
lookup); host names are resolved on every call, on the caller's thread, as Node's dgram
does, so a changed DNS record is seen at once.
"""

from __future__ import annotations

import socket
from typing import Any, Dict, Tuple

from ._errors import ERR_INVALID_ADDRESS, ArgumentError
from ._validators import address as address_text
from ._validators import peer_port

__all__ = [
    "Host",
    "SockAddr",
    "family_name",
    "peer",
    "resolve",
    "resolve_host",
    "sockaddr",
    "wildcard",
]

SockAddr = Tuple[Any, ...]
# A resolved host: (address text for the sockaddr, flowinfo, scope_id).
Host = Tuple[str, int, int]

_INVALID = "invalid address"
# Parsed literals per (text, family): (host for the sockaddr, flowinfo, scope_id).
_literals: Dict[Tuple[str, int], Host] = {}
# A bound, not a policy: a program that talks to more distinct literal addresses than
# this simply parses them again; the cache never grows past it.
_LITERAL_CACHE_MAX = 4096
# Socket addresses of the peers that send() was given, per (literal host, port, family):
# sending to the same peer again is one dict lookup. Bounded like _literals.
_peers: Dict[Tuple[str, int, int], SockAddr] = {}


def family_name(family: int) -> str:
    """WeChat's ``family`` text for an address family."""
    return "IPv6" if family == socket.AF_INET6 else "IPv4"


def wildcard(family: int) -> str:
    """The all-interfaces address WeChat binds to."""
    return "::" if family == socket.AF_INET6 else "0.0.0.0"


def resolve_host(host: object, family: int) -> Host:
    """Resolve the ``address`` of a call for a socket of ``family``.

    ``host`` may be an IP literal (IPv6 with a ``%zone``) or a host name. On a udp6
    socket (dual-stack) IPv4 addresses become IPv4-mapped IPv6 addresses; on a udp4
    socket an IPv6 address is the wrong family. Anything that does not resolve raises
    ``ArgumentError("invalid address", 1)``. A ``str`` subclass counts by its text (see
    ``_validators.address``): only exact ``str`` reaches the cache and the resolver.
    """
    text = host if type(host) is str else address_text(host)
    parsed = _literals.get((text, family))
    if parsed is None:
        parsed = _parse(text, family)
    return parsed


def sockaddr(host: Host, port: int, family: int) -> SockAddr:
    """The socket address of a resolved host and a port."""
    if family == socket.AF_INET6:
        return (host[0], port, host[1], host[2])
    return (host[0], port)


def peer(host: object, port: object, family: int) -> SockAddr:
    """The socket address of a ``send``/``connect`` target, checked in that order.

    ``ArgumentError`` "invalid address" (1) first, then "invalid port" (2).
    """
    # The fast path takes exact types only: type() rather than isinstance(), so that
    # True == 1 does not find port 1's entry and no subclass's __eq__/__hash__ runs.
    if type(host) is str and type(port) is int:
        found = _peers.get((host, port, family))
        if found is not None:
            return found
    # Normalised to exact str/int first: the cache is keyed by the values the datagram
    # goes to, never by the caller's objects (an int subclass equal to one port must not
    # leave an entry that sends the next plain int somewhere else).
    text = host if type(host) is str else address_text(host)
    resolved = resolve_host(text, family)
    number = peer_port(port)
    address = sockaddr(resolved, number, family)
    if (text, family) in _literals:  # a literal (names are resolved at every call)
        if len(_peers) >= _LITERAL_CACHE_MAX:
            _peers.clear()
        _peers[(text, number, family)] = address
    return address


def resolve(host: object, port: int, family: int) -> SockAddr:
    """``sockaddr(resolve_host(host, family), port, family)``."""
    return sockaddr(resolve_host(host, family), port, family)


def _parse(host: str, family: int) -> Host:
    if not host or "\x00" in host:
        raise ArgumentError(_INVALID, ERR_INVALID_ADDRESS)
    if _is_ipv4_literal(host):
        # The common case needs no resolver (which may need a file descriptor).
        parsed = (f"::ffff:{host}", 0, 0) if family == socket.AF_INET6 else (host, 0, 0)
        _remember(host, family, parsed)
        return parsed
    flags = socket.AI_V4MAPPED if family == socket.AF_INET6 else 0
    try:
        infos = socket.getaddrinfo(
            host, None, family, socket.SOCK_DGRAM, 0, flags | socket.AI_NUMERICHOST
        )
        literal = True
    except socket.gaierror:
        literal = False
        infos = []
    except (UnicodeError, ValueError):
        raise ArgumentError(_INVALID, ERR_INVALID_ADDRESS) from None
    # Any other OSError (no file descriptor left, say) is the OS's failure, not a bad
    # address: it propagates and is reported with errCode -2.
    if not literal:
        try:
            infos = socket.getaddrinfo(host, None, family, socket.SOCK_DGRAM, 0, flags)
        except (socket.gaierror, UnicodeError, ValueError):
            # Unknown names, the wrong family, names too long or not valid IDNA.
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
        _remember(host, family, parsed)
    return parsed


def _is_ipv4_literal(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET, host)
    except (OSError, ValueError):  # UnicodeEncodeError for lone surrogates
        return False
    return True


def _remember(host: str, family: int, parsed: Host) -> None:
    if len(_literals) >= _LITERAL_CACHE_MAX:
        _literals.clear()
    _literals[(host, family)] = parsed
