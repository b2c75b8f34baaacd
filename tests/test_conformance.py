"""Every registered attack and defense — built-ins and the submissions loaded before collection —
meets every property of its conformance suite (scikit-learn's ``check_estimator`` shape): a new
entry is checked without editing this file. The smoke-tier cell is left to the end-to-end tests."""

import numpy as np
import pytest

import attacks
import defenses
from attacks.base import Attack, PoisonSet
from benchmark.conformance import FAIL, SKIP, SUITES, run_check
from benchmark.conformance.attack_checks import backdoor_stamps_a_trigger, kind_and_threat_declared
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


class _Given(CheckContext):
    """A check context whose entry is a class defined in a test, not a registered one."""

    def __init__(self, cls):
        super().__init__(cls.__name__, "attack", smoke=False)
        self.cls = cls

    def create(self, **params):
        return self.cls(**params)


def _poisonless(self, targets, rng, context=None):
    return PoisonSet(np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, np.int64))


def test_an_attacks_declared_kind_threat_and_trigger_are_checked():
    unknown_kind = type("UnknownKind", (Attack,), {"kind": "sabotage", "craft": _poisonless})
    no_method = type("NoMethod", (Attack,), {"threat": "model", "craft": _poisonless})
    no_trigger = type("NoTrigger", (Attack,), {"kind": "backdoor", "craft": _poisonless,
                                               "stamp": lambda self, images, target_id: images.copy()})
    failures = {cls.__name__: run_check(check, _Given(cls)) for cls, check in (
        (unknown_kind, kind_and_threat_declared), (no_method, kind_and_threat_declared),
        (no_trigger, backdoor_stamps_a_trigger))}
    assert all(r.status == FAIL for r in failures.values()), failures
    assert "sabotage" in failures["UnknownKind"].reason and "poison_model" in failures["NoMethod"].reason
    assert "no trigger" in failures["NoTrigger"].reason
    fine = type("Fine", (Attack,), {"craft": _poisonless})
    assert run_check(kind_and_threat_declared, _Given(fine)).status != FAIL
    assert run_check(backdoor_stamps_a_trigger, _Given(fine)).status == SKIP
