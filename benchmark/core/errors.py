"""User-facing errors: the CLI turns these into one line on stderr and exit code 2."""

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
