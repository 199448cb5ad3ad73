"""Broadcast: which destinations are the limited broadcast address.

WeChat lets a mini-program send to the limited broadcast address ``255.255.255.255``
with no flag (base library 2.9.0); ``setBroadcast`` (2.24.0) is only for a *directed*
broadcast such as ``192.168.1.255``. The OS wants ``SO_BROADCAST`` for both, so the
socket turns it on by itself for a limited broadcast; a directed broadcast without the
flag still fails with ``EACCES`` (errCode -3), as on WeChat.

Only the limited broadcast address is recognised here: whether any other address is a
directed broadcast depends on the host's interfaces, and the OS already answers that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # no runtime import: this module stays a leaf
    from ._addresses import SockAddr

__all__ = ["is_limited_broadcast"]

# The host part of every socket address ``_addresses`` makes for 255.255.255.255: the
# IPv4 text on udp4, the IPv4-mapped text on a dual-stack udp6 socket. The texts come
# from inet_pton-checked literals or getaddrinfo, so each has exactly one spelling
# ("::FFFF:FFFF:FFFF" or "0xffffffff" come back in these canonical forms).
_LIMITED_BROADCAST_HOSTS = frozenset({"255.255.255.255", "::ffff:255.255.255.255"})


def is_limited_broadcast(sockaddr: SockAddr) -> bool:
    """Whether ``sockaddr`` (from ``_addresses.peer``) is the limited broadcast address.

    ``("255.255.255.255", port)`` on udp4, ``("::ffff:255.255.255.255", port, flowinfo,
    scope_id)`` on udp6. Called on every send: one set lookup.
    """
    return sockaddr[0] in _LIMITED_BROADCAST_HOSTS
