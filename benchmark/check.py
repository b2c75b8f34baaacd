"""python -m benchmark.check NAME_OR_PATH — run the conformance suite of an attack or a defense.

NAME_OR_PATH is a registered defense or attack (built-in, installed plugin, or a repository
submission), or a path to a ``submissions/<name>/`` folder (with ``defense.py`` and/or ``attack.py``,
and ``README.md``) that is not in this checkout. A name registered as both runs both suites.
Prints one line per check (pass / fail / skip and why); exit code 0 if nothing failed, 1 if a
check failed, 2 for bad input (unknown name, broken plugin).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

import attacks
import defenses
from .conformance import FAIL, run_checks
from .core.errors import BenchmarkError, report, require_positive
from .plugins import load_plugins, load_submission, require_loaded


def kinds_of(name: str, kind: Optional[str]) -> List[str]:
    """Which suites apply to ``name``: the one asked for, else every registry that holds it."""
    found = [k for k, reg in (("defense", defenses.DEFENSES), ("attack", attacks.ATTACKS)) if name in reg]
    if kind is not None:
        require_loaded(name, kind)
        (defenses.DEFENSES if kind == "defense" else attacks.ATTACKS).get(name)
        return [kind]
    if not found:
        require_loaded(name, "defense")
        require_loaded(name, "attack")
        raise BenchmarkError(f"unknown attack or defense '{name}' (defenses: {', '.join(defenses.list_defenses())}; "
                             f"attacks: {', '.join(attacks.list_attacks())})")
    return found


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmark.check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="NAME_OR_PATH", help="attack or defense name, or path to a submissions/<name>/ folder")
    p.add_argument("--kind", choices=["defense", "attack"], default=None,
                   help="which suite (default: every registry the name is in)")
    p.add_argument("--budget-seconds", type=float, default=600,
                   help="wall-clock budget for the smoke-tier cell (default: 600)")
    p.add_argument("--check-seconds", type=float, default=300,
                   help="wall-clock budget of every other check; a hook still running is stopped (default: 300)")
    p.add_argument("--fast", action="store_true", help="skip the smoke-tier check (seconds instead of a minute)")
    args = p.parse_args(argv)
    try:
        require_positive("--budget-seconds", args.budget_seconds)
        require_positive("--check-seconds", args.check_seconds)
        load_plugins()
        name = load_submission(Path(args.target)) if Path(args.target).is_dir() else args.target
        results = [(kind, r) for kind in kinds_of(name, args.kind)
                   for r in run_checks(name, kind, budget_seconds=args.budget_seconds, smoke=not args.fast,
                                       check_seconds=args.check_seconds)]
    except BenchmarkError as exc:
        return report(exc)
    width = max(len(r.name) for _, r in results)
    for kind, r in results:
        print(f"{r.status:4}  {kind:7}  {r.name:{width}}  {r.reason}".rstrip())
    for kind in dict(results):
        isolation = getattr((defenses.DEFENSES if kind == "defense" else attacks.ATTACKS).get(name), "isolation", "")
        if isolation:
            print(f"{kind} {name} ran in a child process; {isolation}")
    failed = sum(r.status == FAIL for _, r in results)
    print(f"{name}: {len(results) - failed} of {len(results)} checks did not fail" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
