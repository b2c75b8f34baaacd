"""A wall-clock budget for code the harness does not trust (plugin hooks, conformance checks).

``with deadline(seconds, "what"):`` raises :class:`~benchmark.core.errors.BenchmarkError` in the
calling thread once ``seconds`` have passed — a hook that sleeps or spins in Python is stopped
within its budget with a one-line error instead of hanging the harness. It uses ``SIGALRM``, so
it acts in the main thread on POSIX systems and is a no-op elsewhere (said, not hidden: code
blocked inside one long C call is interrupted when that call returns). Deadlines nest: the inner
one is restored to the outer's remaining time when it exits.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from .core.errors import BenchmarkError


def available() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    if not available() or seconds <= 0:
        yield
        return

    def expire(signum, frame):
        raise BenchmarkError(f"{what} exceeded its {seconds:g} s budget and was stopped")

    start = time.monotonic()
    outer_handler = signal.signal(signal.SIGALRM, expire)
    outer_left, _ = signal.getitimer(signal.ITIMER_REAL)
    signal.setitimer(signal.ITIMER_REAL, seconds if not outer_left else min(seconds, outer_left))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if outer_left:  # give the enclosing deadline what is left of its time
            signal.setitimer(signal.ITIMER_REAL, max(1e-3, outer_left - (time.monotonic() - start)))
