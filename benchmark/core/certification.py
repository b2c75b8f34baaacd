"""Certified poisoning size of bagging (Jia, Cao, Gong — "Intrinsic Certified Robustness of
Bagging against Data Poisoning Attacks", AAAI 2021), as pure functions.

Bagging trains base models on subsamples of size ``k`` drawn with replacement from ``n``
training inputs and predicts by majority vote. With p̲_A a lower bound on the probability of the
top label and p̄_B an upper bound on the runner-up's, the vote cannot change under ``r`` inserted,
deleted or modified training inputs if

    max_{n' ∈ [n, n+r]}  (n'/n)^k − 2·((n' − r)/n)^k + 1 − p̲_A + p̄_B  <  0.

(For n' < n the first term is capped at 1, so the maximum is reached on [n, n+r].) The
certified poisoning size is the largest such ``r``; the classifier abstains (−1) when
p̲_A ≤ p̄_B. Probability bounds come from vote counts with one-sided Clopper–Pearson intervals
at level α/c (Bonferroni over c classes), α = 0.001 by default.
"""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np
from scipy.stats import beta


def _gap(n: int, k: int, r: int, n_prime: int) -> float:
    """(n'/n)^k − 2((n'−r)/n)^k, computed in log space so large k does not overflow early."""
    a = k * math.log(n_prime / n)
    first = math.exp(a) if a < 700 else math.inf
    second = 2 * math.exp(k * math.log((n_prime - r) / n)) if n_prime > r else 0.0
    return first - second


def _worst_gap(n: int, k: int, r: int) -> float:
    """max over n' ∈ [n, n+r] of the gap; it is unimodal in n', so endpoints and the stationary
    point (n'/(n'−r))^(k−1) = 2 are the only candidates."""
    candidates = {n, n + r}
    if k > 1 and r > 0:
        c = 2 ** (1 / (k - 1))
        stationary = r * c / (c - 1)
        for m in (math.floor(stationary), math.ceil(stationary)):
            if n <= m <= n + r:
                candidates.add(m)
    return max(_gap(n, k, r, m) for m in candidates)


def is_certified(p_a_lower: float, p_b_upper: float, n: int, k: int, r: int) -> bool:
    return _worst_gap(n, k, r) + 1 - p_a_lower + p_b_upper < 0


def _last_holding(holds, lo: int, cap: int) -> int:
    """Largest x >= ``lo`` with ``holds(x)``, for a predicate that holds at ``lo`` and, once false,
    stays false: double, then bisect the boundary. Past ``cap`` the last doubling is returned."""
    hi = max(2 * lo, 1)
    while holds(hi):
        lo, hi = hi, hi * 2
        if hi > cap:
            return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if holds(mid) else (lo, mid)
    return lo


def certified_poisoning_size(p_a_lower: float, p_b_upper: float, n: int, k: int) -> int:
    """Largest r for which the prediction provably does not change; −1 means abstain."""
    if n < 1 or k < 1:
        raise ValueError("n and k must be >= 1")
    if p_a_lower <= p_b_upper:
        return -1
    # The condition only gets harder as r grows (and r = 0 holds when p̲_A > p̄_B).
    return _last_holding(lambda r: is_certified(p_a_lower, p_b_upper, n, k, r), 0, 10 * n)


def subsample_size_to_certify(p_a_lower: float, p_b_upper: float, n: int, r: int) -> int:
    """Largest subsample size k whose bound certifies ``r`` poisons for these vote bounds (0 when
    even k = 1 cannot): smaller subsamples certify more, since fewer base models see a poison.
    Used to say what bagging would need to certify a run's poisons per target."""
    if n < 1 or r < 0:
        raise ValueError("need n >= 1 and r >= 0")
    if not is_certified(p_a_lower, p_b_upper, n, 1, r):
        return 0
    return _last_holding(lambda k: is_certified(p_a_lower, p_b_upper, n, k, r), 1, 100 * n)


def clopper_pearson_bounds(votes: Sequence[int], alpha: float = 0.001) -> Tuple[int, float, float]:
    """Top label A, lower bound p̲_A and upper bound p̄_B from per-class vote counts.

    One-sided Clopper–Pearson bounds at level α/c for each of the c classes (Bonferroni), so all
    hold simultaneously with probability ≥ 1 − α; p̄_B is the largest runner-up upper bound,
    capped by 1 − p̲_A.
    """
    counts = np.asarray(votes, dtype=np.int64)
    total, c = int(counts.sum()), len(counts)
    if total == 0 or c < 2:
        raise ValueError("need at least one vote and two classes")
    level = alpha / c
    top = int(np.argmax(counts))
    n_a = int(counts[top])
    p_a_lower = float(beta.ppf(level, n_a, total - n_a + 1)) if n_a > 0 else 0.0
    uppers = [float(beta.ppf(1 - level, v + 1, total - v)) if v < total else 1.0
              for i, v in enumerate(counts.tolist()) if i != top]
    return top, p_a_lower, min(max(uppers), 1 - p_a_lower)


def min_unanimous_votes(n_classes: int, alpha: float = 0.001) -> int:
    """Fewest base models whose *unanimous* vote escapes abstention (p̲_A > p̄_B).

    A unanimous vote of M gives p̲_A = (α/c)^(1/M) and p̄_B = 1 − p̲_A, so it is certified (at
    r = 0) iff (α/c)^(1/M) > 1/2, i.e. M > log2(c/α). Below this size bagging certifies nothing,
    whatever the base models agree on — why a small ensemble reports a certified fraction of 0.
    """
    if n_classes < 2 or not 0 < alpha < 1:
        raise ValueError("need n_classes >= 2 and 0 < alpha < 1")
    return math.floor(math.log2(n_classes / alpha)) + 1
