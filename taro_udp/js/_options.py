"""Validators of ``JSRuntime``'s arguments: the normalised value, or an error naming it.

A bad value is refused when the runtime is made, never at its first call: a NaN
``script_timeout`` would switch the watchdog off for good (``monotonic() >= nan`` is
never true), zero would interrupt every script, a string would fail deep inside.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Union

__all__ = ["console_limit", "memory_limit", "project_root", "seconds"]


def seconds(name: str, value: object) -> float:
    """A positive, finite number of seconds (``int`` or ``float``, not ``bool``)."""
    if type(value) is bool or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive finite number of seconds, not {value!r}")
    return number


def memory_limit(value: object) -> Optional[int]:
    """``None`` (no limit) or a positive number of bytes."""
    if value is None:
        return None
    if type(value) is bool or not isinstance(value, int):
        kind = type(value).__name__
        raise TypeError(f"memory_limit must be a number of bytes or None, not {kind}")
    if value <= 0:
        raise ValueError(f"memory_limit must be a positive number of bytes or None, not {value!r}")
    return value


def console_limit(value: object) -> int:
    """How many console lines ``JSRuntime.console`` keeps: an ``int`` >= 0."""
    if type(value) is bool or not isinstance(value, int):
        raise TypeError(f"console_limit must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"console_limit must be 0 or more, not {value!r}")
    return value


def project_root(value: Union[str, Path, None], base: Optional[Path] = None) -> Optional[Path]:
    """The project's folder, resolved (a relative one against ``base`` if given).

    Raises ``FileNotFoundError`` / ``NotADirectoryError`` naming it: a typo in the root
    would otherwise show only as "Cannot find module" at the first ``require``.
    """
    if value is None:
        return None
    if not isinstance(value, (str, Path)):
        raise TypeError(f"root must be a path (str or Path) or None, not {type(value).__name__}")
    path = Path(value)
    if base is not None and not path.is_absolute():
        path = base / path
    path = path.resolve()
    if not path.exists():
        raise FileNotFoundError(f"JSRuntime root {str(value)!r}: no such folder ({path})")
    if not path.is_dir():
        raise NotADirectoryError(f"JSRuntime root {str(value)!r} is not a folder ({path})")
    return path
