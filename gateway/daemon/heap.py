"""Handing the C allocator's free memory back to the system.

The daemon's main process allocates and frees in many threads (journal
writer, batcher, dispatcher, the thread pool): SQLite pages, the bytes of
inbound files, rendered documents. glibc keeps what was freed inside its
heaps, and a few long-lived blocks near a heap's top keep it from shrinking,
so the free part grows with the peaks a long run goes through (measured
before this: heap in use 19.7 -> 21.7 MB, free 14.1 -> 20.1 MB from 20k to
200k messages; benchmarks/README.md, branch ``leak``). ``malloc_trim(0)`` returns every
free page inside the heaps, not only the top; the daemon calls it now and
then (:attr:`gateway.daemon.DaemonOptions.trim_every`). Elsewhere than glibc
it does nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
_looked = False


def _malloc_trim() -> Callable[[int], int] | None:
    global _trim, _looked
    if not _looked:
        _looked = True
        if sys.platform.startswith("linux"):
            import ctypes  # here: importing the daemon costs nothing more

            try:
                fn = ctypes.CDLL(None).malloc_trim  # glibc; musl has none
                fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
                _trim = fn
            except (AttributeError, OSError):
                _trim = None
    return _trim


def trim_heap() -> bool:
    """Return the allocator's free pages to the system; True when some were."""
    fn = _malloc_trim()
    return bool(fn(0)) if fn is not None else False


def can_trim() -> bool:
    return _malloc_trim() is not None
