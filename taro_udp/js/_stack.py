"""How much C stack the calling thread has, for the JS engine's recursion limit.

QuickJS throws ``RangeError: Maximum call stack size exceeded`` once a script's C stack
passes a fixed budget (1 MiB by default), counted from where each entry into JS starts.
A thread whose whole stack is 1 MiB or less (``threading.stack_size(1 << 20)``, or any
thread under ``ulimit -s 1024``) runs out of real stack first and the process dies of
SIGSEGV. So the budget is sized from the thread's real stack, measured here with
``pthread_getattr_np`` (glibc, musl) or ``pthread_get_stacksize_np`` (macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Optional

__all__ = ["DEFAULT_BUDGET", "js_stack_budget", "thread_stack_size"]

# QuickJS's own default (JS_DEFAULT_STACK_SIZE): kept whenever the thread has room for it.
DEFAULT_BUDGET = 1024 * 1024
# The smallest budget given to JS: below it, ordinary code (a few dozen nested calls)
# would fail, and a thread that small has bigger problems than deep recursion.
MIN_BUDGET = 32 * 1024

_libc: Optional[ctypes.CDLL] = None
_failed = False


def _load() -> Optional[ctypes.CDLL]:
    global _libc, _failed
    if _libc is None and not _failed:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        except OSError:  # pragma: no cover - no C library to ask
            _failed = True
    return _libc


def thread_stack_size() -> Optional[int]:
    """The calling thread's stack size in bytes, or ``None`` where it cannot be measured."""
    libc = _load()
    if libc is None:
        return None
    try:
        self_ = libc.pthread_self
        self_.restype = ctypes.c_void_p
        self_.argtypes = []
        thread = self_()
        if sys.platform == "darwin":  # pragma: no cover - not tested on Linux CI
            get = libc.pthread_get_stacksize_np
            get.restype = ctypes.c_size_t
            get.argtypes = [ctypes.c_void_p]
            return int(get(thread)) or None
        getattr_np = libc.pthread_getattr_np
        getattr_np.restype = ctypes.c_int
        getattr_np.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        getstack = libc.pthread_attr_getstack
        getstack.restype = ctypes.c_int
        getstack.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        destroy = libc.pthread_attr_destroy
        destroy.argtypes = [ctypes.c_void_p]
    except AttributeError:  # pragma: no cover - a C library without these
        return None
    attr = ctypes.create_string_buffer(256)  # pthread_attr_t: 56 bytes on x86-64 glibc
    if getattr_np(thread, attr) != 0:
        return None
    try:
        address = ctypes.c_void_p()
        size = ctypes.c_size_t()
        if getstack(attr, ctypes.byref(address), ctypes.byref(size)) != 0:
            return None
        return int(size.value) or None
    finally:
        destroy(attr)


def js_stack_budget(stack_size: Optional[int]) -> int:
    """The engine's stack budget for a thread with ``stack_size`` bytes of stack.

    Half the thread's stack at most: the other half holds the Python frames below the
    entry into JS, a Python callback JS makes at its deepest point, and the building of
    the ``RangeError`` itself. Never more than QuickJS's default, which is what a thread
    with a normal (8 MiB) stack keeps.
    """
    if stack_size is None:
        return DEFAULT_BUDGET
    return max(MIN_BUDGET, min(DEFAULT_BUDGET, stack_size // 2))
