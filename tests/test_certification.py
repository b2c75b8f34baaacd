
import pytest
from scipy.stats import beta

from benchmark.core import certification
from benchmark.core.certification import (certified_poisoning_size, clopper_pearson_bounds, is_certified,
                                     min_unanimous_votes)


def test_k1_closed_form():
    # k = 1: the worst case is n' = n, giving −1 + 2r/n; certified iff r < n(p̲_A − p̄_B)/2.
    assert certified_poisoning_size(0.8, 0.2, n=100, k=1) == 29
    assert certified_poisoning_size(0.6, 0.3, n=1000, k=1) == 149


def _brute_force(pa, pb, n, k):
    best = -1
    for r in range(0, 3 * n):
        worst = max((m / n) ** k - 2 * ((m - r) / n) ** k for m in range(n, n + r + 1))
        if worst + 1 - pa + pb < 0:
            best = r
        else:
            break
    return best


@pytest.mark.parametrize("pa,pb,n,k", [(0.9, 0.1, 50, 2), (0.7, 0.25, 40, 5), (0.99, 0.005, 200, 20),
                                       (0.55, 0.45, 30, 3)])
def test_matches_brute_force_search(pa, pb, n, k):
    assert certified_poisoning_size(pa, pb, n, k) == _brute_force(pa, pb, n, k)


def test_abstain_and_monotonicity():
    assert certified_poisoning_size(0.4, 0.4, 100, 10) == -1
    assert certified_poisoning_size(0.4, 0.45, 100, 10) == -1
    assert is_certified(0.9, 0.05, 50_000, 500, 0)
    # Larger subsamples see more of the poison: certified size shrinks as k grows.
    sizes = [certified_poisoning_size(0.95, 0.04, 50_000, k) for k in (100, 500, 2000)]
    assert sizes[0] > sizes[1] > sizes[2] >= 0


def test_clopper_pearson_bounds_hand_computed():
    # 3 classes, 100 votes: [90, 8, 2]; level α/c = 0.001/3.
    top, pa, pb = clopper_pearson_bounds([90, 8, 2], alpha=0.001)
    level = 0.001 / 3
    assert top == 0
    assert pa == pytest.approx(beta.ppf(level, 90, 11))
    assert pb == pytest.approx(beta.ppf(1 - level, 9, 92))
    assert 0.75 < pa < 0.9 < 1 and 0.08 < pb < 0.25
    # All votes for one class: the runner-up bound is the zero-count upper bound 1 − level^(1/N).
    _, pa, pb = clopper_pearson_bounds([100, 0], alpha=0.001)
    assert pb == pytest.approx(1 - (0.001 / 2) ** (1 / 100))
    assert pa == pytest.approx((0.001 / 2) ** (1 / 100))


@pytest.mark.parametrize("classes, expected", [(2, 11), (10, 14), (43, 16)])
def test_min_unanimous_votes_by_hand(classes, expected):
    # log2(c / 0.001): 2 -> 10.97, 10 -> 13.29, 43 -> 15.39; the next integer is the first size
    # whose unanimous vote is certified.
    assert min_unanimous_votes(classes) == expected
    votes = lambda m: [m] + [0] * (classes - 1)
    _, lo, hi = clopper_pearson_bounds(votes(expected))
    assert certified_poisoning_size(lo, hi, n=5000, k=500) >= 0
    _, lo, hi = clopper_pearson_bounds(votes(expected - 1))
    assert certified_poisoning_size(lo, hi, n=5000, k=500) == -1


def test_subsample_size_to_certify_by_hand():
    # 1 − p̲_A + p̄_B = 0.1; at n' = n the bound needs (1 − r/n)^k > 0.55, i.e.
    # k < ln 0.55 / ln 0.99 = 59.48 for r = 50 of n = 5000.
    assert certification.subsample_size_to_certify(0.95, 0.05, 5000, 50) == 59
    assert certification.certified_poisoning_size(0.95, 0.05, 5000, 59) >= 50
    assert certification.certified_poisoning_size(0.95, 0.05, 5000, 60) < 50
    # and k = 500 certifies r < 5000·(1 − 0.55^(1/500)) = 5.97
    assert certification.certified_poisoning_size(0.95, 0.05, 5000, 500) == 5


def test_no_subsample_certifies_an_abstaining_vote():
    assert certification.subsample_size_to_certify(0.4, 0.6, 5000, 1) == 0
