"""User-facing errors: the CLI turns these into one line on stderr and exit code 2."""


class BenchmarkError(Exception):
    """Bad input from the user (unknown name, missing data, invalid number, malformed file)."""
