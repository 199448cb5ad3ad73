"""The states of a socket, in one place (as Node's dgram keeps them)."""

from __future__ import annotations

__all__ = ["BOUND", "CLOSED", "CLOSED_REASON", "CONNECTED", "UNBOUND"]

UNBOUND = "unbound"
BOUND = "bound"
CONNECTED = "connected"
CLOSED = "closed"

# The reason every call on a closed socket reports (``<method>:fail socket is closed``).
CLOSED_REASON = "socket is closed"
