"""Listener registry: the listeners of one event of one socket.

Mutations replace the tuple (copy on write) under a lock, one for every registry of
the process (mutations are rare and quick; a socket then costs no lock of its own);
dispatch reads the tuple without locking. A listener may therefore add or remove
listeners, or close the socket, while the event is being delivered: the delivery in
progress keeps the snapshot it started with, as Node's EventEmitter and pyee do.

Listeners are the caller's objects, so comparing them may run the caller's code (a
callable class's ``__eq__``). The comparison is made on a snapshot *outside* the lock
(an ``__eq__`` that itself calls ``onMessage`` cannot deadlock), identity first, and an
``__eq__`` that raises, or answers anything but ``True``, means "not equal": one odd
listener never breaks ``on*``/``off*`` for the others. Nothing is hashed.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, Optional, Tuple, TypeVar

__all__ = ["ListenerRegistry"]

L = TypeVar("L", bound=Callable[..., object])


def _find(listeners: Tuple[object, ...], listener: object) -> int:
    """The index of ``listener`` in ``listeners`` (identity, then equality), or -1."""
    for index, registered in enumerate(listeners):
        if registered is listener:
            return index
    # Equality, for bound methods: ``obj.handler`` is a new object at every access, and
    # two of them compare equal when they bind the same function to the same object.
    for index, registered in enumerate(listeners):
        try:
            if (registered == listener) is True:
                return index
        except Exception:  # noqa: BLE001 - the caller's __eq__: raising means "not equal"
            continue
    return -1


# Held only to swap a tuple: never while caller code runs (comparisons are made outside).
# Re-entrant: a finalizer the garbage collector runs inside the swap may change listeners.
_lock = threading.RLock()


class ListenerRegistry(Generic[L]):
    """An ordered set of listeners, compared by identity, then equality (bound methods)."""

    __slots__ = ("listeners",)

    def __init__(self) -> None:
        self.listeners: Tuple[L, ...] = ()

    def add(self, listener: L) -> None:
        """Append ``listener``; adding one that is already registered changes nothing."""
        while True:
            current = self.listeners
            if _find(current, listener) >= 0:
                return
            with _lock:
                # Compared outside the lock: commit only if nothing changed meanwhile.
                if self.listeners is current:
                    self.listeners = (*current, listener)
                    return

    def has_listeners(self) -> bool:
        """Whether any listener is registered (read without the lock: a tuple swap)."""
        return bool(self.listeners)

    def remove(self, listener: Optional[object] = None) -> None:
        """Remove ``listener`` (``None``: every listener); an unknown one is a no-op.

        A non-callable was never registered: a no-op that runs none of its code.
        """
        if listener is None:
            with _lock:
                self.listeners = ()
            return
        if not callable(listener):
            return
        while True:
            current = self.listeners
            index = _find(current, listener)
            if index < 0:
                return
            with _lock:
                if self.listeners is current:
                    self.listeners = current[:index] + current[index + 1 :]
                    return
