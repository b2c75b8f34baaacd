"""Every registered attack and defense — built-ins and the submissions loaded before collection —
meets every property of its conformance suite (scikit-learn's ``check_estimator`` shape): a new
entry is checked without editing this file. The smoke-tier cell is left to the end-to-end tests."""

import numpy as np
import pytest

import attacks
import defenses
from benchmark.conformance import FAIL, SUITES, run_check
from benchmark.conformance.context import CheckContext
from benchmark.defended import apply_sanitize
from defenses.base import Defense, hooks_outside_stage

CASES = [pytest.param(kind, name, check, id=f"{kind}-{name}-{check.__name__}")
         for kind, registry in (("defense", defenses.DEFENSES), ("attack", attacks.ATTACKS))
         for name in registry.names() for check in SUITES[kind] if check.__name__ != "smoke_tier_within_budget"]


@pytest.mark.parametrize("kind,name,check", CASES)
def test_every_entry_meets_its_conformance_suite(kind, name, check):
    result = run_check(check, CheckContext(name, kind, smoke=False))
    assert result.status != FAIL, result.reason


def test_a_hook_outside_the_declared_stage_fails_and_is_not_called():
    class Confused(Defense):
        stage = "in"

        def sanitize(self, images, rng, trainer=None):
            return np.zeros(len(images), bool)  # would drop everything, were it called

    d = Confused()
    assert hooks_outside_stage(d) == ["sanitize"]
    images = np.zeros((4, 32, 32, 3), np.uint8)
    kept, keep, _ = apply_sanitize(d, images, np.random.default_rng(0))
    assert keep is None and len(kept) == 4
