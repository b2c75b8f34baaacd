"""python -m benchmark.check NAME_OR_PATH — run the defense conformance suite.

NAME_OR_PATH is a registered defense (built-in, installed plugin, or a repository submission), or
a path to a ``submissions/<name>/`` folder (with ``defense.py`` and ``README.md``) that is not in
this checkout. Prints one line per check (pass / fail / skip and why); exit code 0 if nothing
failed, 1 if a check failed, 2 for bad input (unknown name, broken plugin).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

import defenses
from defenses.plugins import load_plugins, load_submission, require_loaded
from .errors import BenchmarkError, report


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmark.check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="NAME_OR_PATH", help="defense name, or path to a submissions/<name>/ folder")
    p.add_argument("--budget-seconds", type=float, default=600,
                   help="wall-clock budget for the smoke-tier cell (default: 600)")
    p.add_argument("--fast", action="store_true", help="skip the smoke-tier check (seconds instead of a minute)")
    args = p.parse_args(argv)
    try:
        load_plugins()
        name = args.target
        if Path(args.target).is_dir():
            name = load_submission(Path(args.target))
        require_loaded(name)
        defenses.DEFENSES.get(name)
        from .conformance import FAIL, run_checks
        results = run_checks(name, budget_seconds=args.budget_seconds, smoke=not args.fast)
    except BenchmarkError as exc:
        return report(exc)
    width = max(len(r.name) for r in results)
    for r in results:
        print(f"{r.status:4}  {r.name:{width}}  {r.reason}".rstrip())
    failed = sum(r.status == FAIL for r in results)
    print(f"{name}: {len(results) - failed} of {len(results)} checks did not fail" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
