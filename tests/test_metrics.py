import math

import numpy as np
import pytest

from benchmark.core import metrics
from benchmark.core.metrics import wilson_interval


@pytest.mark.parametrize("k,n,lo,hi", [
    (0, 10, 0.0, 0.2775),      # hand-computed: z²=3.8415; centre=0.1612, half=0.1612
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (8, 10, 0.4902, 0.9433),
])
def test_wilson_interval_matches_hand_values(k, n, lo, hi):
    got = metrics.wilson_interval(k, n)
    assert got[0] == pytest.approx(lo, abs=1e-4)
    assert got[1] == pytest.approx(hi, abs=1e-4)


def test_wilson_interval_edge_cases():
    assert metrics.wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        metrics.wilson_interval(3, 2)


def test_asr_and_accuracy():
    assert metrics.attack_success_rate([1, 2, 3, 4], [1, 0, 3, 0]) == 0.5
    assert metrics.accuracy([0, 1, 1], [0, 1, 0]) == pytest.approx(2 / 3)
    assert math.isnan(metrics.attack_success_rate([], []))
    with pytest.raises(ValueError):
        metrics.accuracy([0, 1], [0])


def test_utility_loss_and_dropped_ratio():
    # Paper Table 1 headline: CA 0.718, PA 0.715.
    assert metrics.utility_loss(0.718, 0.715) == pytest.approx(0.003)
    assert metrics.dropped_ratio(0.8, 0.4) == pytest.approx(0.5)
    assert math.isnan(metrics.dropped_ratio(0.0, 0.0))


def test_outer_objective_hand_computed():
    t1 = np.array([1.0, 0.0])
    refs1 = np.array([[1.0, 0.0], [0.0, 2.0]])        # cos 1 and 0 → mean 0.5
    t2 = np.array([0.0, 3.0])
    refs2 = np.array([[0.0, -1.0], [1.0, 1.0], [0.0, 5.0], [-2.0, 0.0]])  # -1, 1/√2, 1, 0
    assert metrics.mean_cosine_similarity(t1, refs1) == pytest.approx(0.5)
    expected = (1 + 0 + (-1) + 1 / math.sqrt(2) + 1 + 0) / 6  # Eq. 3 averages over all pairs
    assert metrics.outer_objective([t1, t2], [refs1, refs2]) == pytest.approx(expected)


def test_wilson_bounds_are_exact_at_zero_and_all_successes():
    assert wilson_interval(0, 6)[0] == 0.0 and wilson_interval(6, 6)[1] == 1.0
    assert 0.0 < wilson_interval(1, 6)[0] < 1 / 6 < wilson_interval(1, 6)[1] < 1.0


def test_paired_shift_ci95_matches_hand_values():
    # d = (1, 2, 3): mean 2, sd 1, se 1/sqrt(3), t_{0.975, 2} = 4.302653 → half-width 2.484138.
    mean, (lo, hi) = metrics.paired_shift_ci95([1.5, 3.0, 4.5], [0.5, 1.0, 1.5])
    assert mean == pytest.approx(2.0) and lo == pytest.approx(2 - 2.484138, abs=1e-6)
    assert hi == pytest.approx(2 + 2.484138, abs=1e-6)
    assert metrics.paired_shift_ci95([0.3], [0.1])[1] == (-math.inf, math.inf)
    with pytest.raises(ValueError):
        metrics.paired_shift_ci95([], [])


@pytest.mark.parametrize("gained, lost, p", [
    (0, 0, 1.0),            # no discordant target: no evidence either way
    (5, 0, 2 / 32),         # 2 · ½⁵
    (6, 0, 2 / 64),
    (0, 6, 2 / 64),         # symmetric
    (3, 1, 2 * 5 / 16),     # 2 · (C(4,0) + C(4,1)) / 2⁴
    (2, 2, 1.0),            # 2 · 11/16 capped at 1
])
def test_mcnemar_exact_p_by_hand(gained, lost, p):
    assert metrics.mcnemar_exact_p(gained, lost) == pytest.approx(p)


def test_mcnemar_refuses_negative_counts():
    with pytest.raises(ValueError):
        metrics.mcnemar_exact_p(-1, 2)
