"""The C allocator's hold on freed memory, for long runs on glibc.

Much of a run's RSS is memory already freed: lxml trees, HTML strings and query rows die by
the thousand, but glibc keeps their pages in the arena that served them (each thread pool
adds arenas). `release_free_memory` hands the free pages of every arena back to the system.
It is a no-op (and says so) where the C library has no such call: musl, macOS, Windows.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def _call(function: str, *args: int) -> bool:
    libc = _libc()
    call = getattr(libc, function, None) if libc is not None else None
    if call is None:
        return False
    call.argtypes = [ctypes.c_int] * len(args)
    call.restype = ctypes.c_int
    return call(*args) == 1  # malloc_trim: 1 if some memory was released


def release_free_memory() -> bool:
    """Return the free pages of every malloc arena to the system (glibc `malloc_trim(0)`).
    True if any memory was released; False if none was, or the C library cannot."""
    return _call("malloc_trim", 0)
