"""Addresses on the simulated network: the types and the few facts every module shares.

A leaf module: the port table, the hosts, the transports and the network all import it,
and it imports none of them (so the simulated network has no import circle).
"""

from __future__ import annotations

import ipaddress
import os
from typing import Dict, Tuple, Union

__all__ = [
    "IPV4_LOOPBACK",
    "IPV4_WILDCARD",
    "IPV6_LOOPBACK",
    "LIMITED_BROADCAST",
    "LOOPBACK_BROADCAST",
    "Address",
    "IPAddress",
    "Interface",
    "as_interface",
    "is_limited_broadcast",
    "is_loopback",
    "is_multicast",
    "os_error",
    "parse_ip",
    "same",
]

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
# (IP, port), IPv4-mapped IPv6 addresses stored as IPv4.
Address = Tuple[IPAddress, int]
Interface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]

IPV4_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
IPV6_LOOPBACK = ipaddress.IPv6Address("::1")
IPV4_WILDCARD = ipaddress.IPv4Address("0.0.0.0")
LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
# The directed broadcast of 127.0.0.0/8: Linux delivers it on the loopback interface.
LOOPBACK_BROADCAST = ipaddress.IPv4Address("127.255.255.255")
_IPV4_MULTICAST = ipaddress.IPv4Network("224.0.0.0/4")
# Parsed address texts kept; a bound, not a policy (the cache is just cleared when full).
_IP_CACHE_MAX = 4096
_ip_cache: Dict[str, IPAddress] = {}


def os_error(code: int) -> OSError:
    """The ``OSError`` subclass the OS raises for ``code``, with the OS's text."""
    return OSError(code, os.strerror(code))


def parse_ip(text: str) -> IPAddress:
    """``text`` as an address (scope id dropped), IPv4-mapped IPv6 shown as IPv4."""
    host = _ip_cache.get(text)
    if host is None:
        parsed = ipaddress.ip_address(text.split("%", 1)[0])
        if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
            parsed = parsed.ipv4_mapped
        if len(_ip_cache) >= _IP_CACHE_MAX:
            _ip_cache.clear()
        host = _ip_cache[text] = parsed
    return host


# The tests below run for every datagram: on the address's integer, because the
# ``ipaddress`` properties (and its __eq__ and __hash__) are Python code, much slower.


def is_loopback(host: IPAddress) -> bool:
    """Whether ``host`` is on the loopback interface every host has (127.0.0.0/8, ::1)."""
    if host.__class__ is ipaddress.IPv4Address:
        return int(host) >> 24 == 127
    return int(host) == 1


def is_multicast(host: IPAddress) -> bool:
    """Whether ``host`` is a multicast group address (224.0.0.0/4, ff00::/8)."""
    if host.__class__ is ipaddress.IPv4Address:
        return int(host) >> 28 == 14
    return int(host) >> 120 == 0xFF


def is_limited_broadcast(host: IPAddress) -> bool:
    """Whether ``host`` is 255.255.255.255."""
    return host.__class__ is ipaddress.IPv4Address and int(host) == 0xFFFFFFFF


def same(one: IPAddress, other: IPAddress) -> bool:
    """``one == other``, fast."""
    return one.__class__ is other.__class__ and int(one) == int(other)


def as_interface(text: str) -> Interface:
    """``"192.168.1.50/24"`` as an interface; a clear error without a prefix."""
    if not isinstance(text, str):
        raise TypeError(f"an interface address is a str like '192.168.1.50/24', got {text!r}")
    if "/" not in text:
        raise ValueError(f"an interface address needs its prefix, e.g. '{text}/24'")
    interface = ipaddress.ip_interface(text)
    if interface.ip.is_loopback or interface.ip.is_multicast or interface.ip.is_unspecified:
        raise ValueError(f"{text!r} cannot be an interface address of a simulated host")
    return interface
