"""Conformance suites for attacks and defenses, in the spirit of scikit-learn's ``check_estimator``.

Each suite is a tuple of functions, one per named property (``defense_checks.DEFENSE_CHECKS``,
``attack_checks.ATTACK_CHECKS``); :func:`run_checks` runs one suite on one registered entry —
built-in, installed plugin or submission — and reports pass / fail / skip with a one-line reason.
``python -m benchmark.check NAME_OR_PATH`` runs it from the command line; the test suite runs it
over every registered entry; :func:`pytest_params` parametrizes a submitter's own pytest file.

Defense properties: constructible from defaults, parameters serialisable, stage declared, hooks
only in the declared stage, output well formed, does not mutate inputs, deterministic for a seed,
decisions follow the images (not their positions), no leakage (of poison flags or targets), a
smoke-tier cell within budget. Attack properties:
constructible, serialisable, output well formed, respects each target's budget, does not mutate
inputs, deterministic, no leakage (of the victim's data), a smoke-tier cell within budget.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Sequence

from ..deadline import deadline
from .attack_checks import ATTACK_CHECKS
from .context import FAIL, PASS, SKIP, CheckContext, CheckResult
from .defense_checks import DEFENSE_CHECKS

SUITES: Dict[str, Sequence[Callable]] = {"defense": DEFENSE_CHECKS, "attack": ATTACK_CHECKS}
CHECK_NAMES = tuple(c.__name__ for c in DEFENSE_CHECKS)
ATTACK_CHECK_NAMES = tuple(c.__name__ for c in ATTACK_CHECKS)

__all__ = ["ATTACK_CHECK_NAMES", "CHECK_NAMES", "FAIL", "PASS", "SKIP", "SUITES", "CheckResult", "pytest_params",
           "run_check", "run_checks"]


def run_check(check: Callable, ctx: CheckContext) -> CheckResult:
    """One property: pass, skip (the check said why) or fail (an assertion, a crash, an exit or the
    time budget, in one line)."""
    seconds = ctx.budget_seconds if check.__name__ == "smoke_tier_within_budget" else ctx.check_seconds
    try:
        with deadline(seconds, f"check {check.__name__}"):
            skip = check(ctx)
        return CheckResult(check.__name__, SKIP, skip) if skip else CheckResult(check.__name__, PASS)
    except AssertionError as exc:
        return CheckResult(check.__name__, FAIL, str(exc) or "assertion failed")
    except (Exception, SystemExit) as exc:  # a crash (or an exit) is a failure of that property, in one line
        return CheckResult(check.__name__, FAIL, f"{type(exc).__name__}: {' '.join(str(exc).split())}")


def run_checks(name: str, kind: str = "defense", budget_seconds: float = 600, smoke: bool = True,
               check_seconds: float = 300) -> List[CheckResult]:
    """Every check of ``kind``'s suite on the registered entry ``name``; nothing more runs once it
    cannot be constructed. ``budget_seconds`` bounds the smoke-tier cell, ``check_seconds`` every
    other check."""
    ctx = CheckContext(name, kind, budget_seconds, smoke, check_seconds)
    checks = SUITES[kind]
    first = run_check(checks[0], ctx)
    if first.status == FAIL:
        return [first] + [CheckResult(c.__name__, SKIP, "not constructible") for c in checks[1:]]
    return [first] + [run_check(c, ctx) for c in checks[1:]]


def pytest_params(name: str, kind: str = "defense", smoke: bool = False):
    """``@pytest.mark.parametrize("result", pytest_params("my_defense"))`` then
    ``assert result.status != "fail", result.reason`` — one test per named check."""
    import pytest  # why: only a submitter's pytest run needs it; the harness does not depend on pytest
    return [pytest.param(r, id=f"{name}-{r.name}") for r in run_checks(name, kind, smoke=smoke)]
