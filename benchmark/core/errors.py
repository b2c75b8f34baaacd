"""User-facing errors: the CLI turns these into one line on stderr and exit code 2."""

import math
import sys


class BenchmarkError(Exception):
    """Bad input from the user (unknown name, missing data, invalid number, malformed file)."""


class NotApplicable(BenchmarkError):
    """An (attack, defense) pair that is no cell: the defense has nothing to act on under the
    attack's threat (a pre-training defense against a delivered, poisoned model)."""


def report(exc: BenchmarkError) -> int:
    """Print ``exc`` as the one line every command shows for bad input; the exit status to return."""
    print("error: " + " ".join(str(exc).split()), file=sys.stderr)
    return 2


def require_positive(flag: str, value: float) -> float:
    """``value`` if it is a finite number above zero; otherwise the one-line refusal naming ``flag``
    (a NaN or negative budget reached the code that uses it and failed there, or silently)."""
    if not (math.isfinite(value) and value > 0):
        raise BenchmarkError(f"{flag} must be a positive number, got {value}")
    return value
