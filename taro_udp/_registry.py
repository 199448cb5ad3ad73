"""Listener registry: the listeners of one event of one socket.

Mutations happen under a lock and replace the tuple (copy on write); dispatch reads the
tuple without locking. A listener may therefore add or remove listeners, or close the
socket, while the event is being delivered: the delivery in progress keeps the snapshot
it started with, as Node's EventEmitter and pyee do.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, Optional, Tuple, TypeVar

__all__ = ["ListenerRegistry"]

L = TypeVar("L", bound=Callable[..., object])


class ListenerRegistry(Generic[L]):
    """An ordered set of listeners, compared by equality (bound methods compare equal)."""

    __slots__ = ("_lock", "listeners")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.listeners: Tuple[L, ...] = ()

    def add(self, listener: L) -> None:
        """Append ``listener``; adding one that is already registered changes nothing."""
        with self._lock:
            if listener not in self.listeners:
                self.listeners = (*self.listeners, listener)

    def has_listeners(self) -> bool:
        """Whether any listener is registered (read without the lock: a tuple swap)."""
        return bool(self.listeners)

    def remove(self, listener: Optional[object] = None) -> None:
        """Remove ``listener`` (``None``: every listener); an unknown one is a no-op."""
        with self._lock:
            if listener is None:
                self.listeners = ()
                return
            current = self.listeners
            for index, registered in enumerate(current):
                if registered == listener:
                    self.listeners = current[:index] + current[index + 1 :]
                    return
