import numpy as np
import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.pipeline import cell_threat, load_data
from benchmark.runner import Options
from benchmark.core.threat import draw_threat, evaluation_mask
from benchmark.core.config import load_tier


def _labels():
    rng = np.random.default_rng(0)
    return {"a": rng.integers(0, 5, 600), "b": rng.integers(0, 2, 300)}


def test_targets_references_and_classes_follow_the_threat_model():
    labels = _labels()
    threat = draw_threat(labels, targets_per_task=4, n_references=30, poison_rate=0.01,
                         rng=np.random.default_rng(1))
    assert len(threat.targets) == 8
    for task in labels:
        targets = [t for t in threat.targets if t.task == task]
        target_idx = {t.index for t in targets}
        assert len(target_idx) == 4
        for t in targets:
            assert t.true_class == labels[task][t.index]
            assert t.target_class != t.true_class
            assert len(t.reference_indices) == 30 == len(set(t.reference_indices))
            assert all(labels[task][r] == t.target_class for r in t.reference_indices)
            assert not target_idx & set(t.reference_indices)


def test_evaluation_mask_excludes_targets_and_references():
    labels = _labels()
    threat = draw_threat(labels, 3, 20, 0.01, np.random.default_rng(2))
    mask = evaluation_mask(600, threat, "a")
    excluded = set()
    for t in threat.targets:
        if t.task == "a":
            excluded |= {t.index, *t.reference_indices}
    assert set(np.flatnonzero(~mask)) == excluded
    assert mask.sum() == 600 - len(excluded)


def test_draw_is_reproducible_and_seed_dependent():
    labels = _labels()
    a = draw_threat(labels, 3, 20, 0.01, np.random.default_rng(5))
    b = draw_threat(labels, 3, 20, 0.01, np.random.default_rng(5))
    c = draw_threat(labels, 3, 20, 0.01, np.random.default_rng(6))
    assert a == b and a != c


def test_poison_budget_is_per_target_rate_of_clean_set():
    threat = draw_threat(_labels(), 2, 10, 0.01, np.random.default_rng(0))
    assert threat.poisons_per_target(50_000) == 500   # the paper's 1% of CIFAR10
    assert threat.poisons_per_target(10) == 1         # never zero


def test_small_classes_are_not_target_classes():
    labels = {"t": np.array([0] * 100 + [1] * 100 + [2] * 5)}
    threat = draw_threat(labels, 10, 50, 0.01, np.random.default_rng(0))
    assert all(t.target_class in (0, 1) for t in threat.targets)


@pytest.mark.parametrize("kwargs", [dict(targets_per_task=0), dict(n_references=0), dict(poison_rate=0.0),
                                    dict(poison_rate=1.5), dict(n_references=500)])
def test_bad_threat_parameters_are_user_errors(kwargs):
    args = dict(targets_per_task=2, n_references=10, poison_rate=0.01) | kwargs
    with pytest.raises(BenchmarkError):
        draw_threat(_labels(), rng=np.random.default_rng(0), **args)


def test_only_target_poisons_one_target_of_the_same_draw():
    cfg = load_tier("smoke")
    data = load_data(cfg, Options())
    shared = cell_threat(cfg, data, 3)
    one = cell_threat(load_tier("smoke", ["threat.only_target=1"]), data, 3)
    assert one.targets == shared.targets[1:2] and one.poison_rate == shared.poison_rate
    with pytest.raises(BenchmarkError, match="only_target"):
        cell_threat(load_tier("smoke", [f"threat.only_target={len(shared.targets)}"]), data, 3)
