"""Give freed heap memory back to the operating system between encoders.

A job that trains or evaluates many small encoders one after another (bagging's 100 members) frees
large activation and feature buffers after each, while the member it keeps — a few megabytes of
weights — is allocated among them. glibc cannot return a heap region that still holds a live block,
so the resident set of a cpu_continued bagging job grew with every member (5.5 GB after ~20). Most of
that was the members' last gradients, now dropped by the trainer; the trim takes the rest, 1.4 GiB
down to 0.8 (benchmarks/results/member_memory.md). ``malloc_trim(0)`` returns every free page
inside the heap, live neighbours or not. Elsewhere (macOS, musl) it does not exist and
this is a no-op: those allocators return memory on their own terms.
"""

from __future__ import annotations

import ctypes
import sys


def _load_malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _load_malloc_trim()


def release_freed_memory() -> bool:
    """Return freed heap pages to the OS; True if the allocator supports it (glibc)."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
