"""Pure metric functions (PoisonedEncoder paper §5.1 and Eq. 3), tested against hand values.

Nothing here touches a model: inputs are counts, predictions or feature arrays.
"""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np
from scipy.stats import t as student_t

# Two-sided 95% normal quantile, used by the Wilson score interval.
Z_95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> Tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Preferred over the normal (Wald) interval because ASR is estimated from few targets and is
    often 0 or 1, where Wald collapses to a zero-width interval.
    """
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    # At 0 (or all) successes the bound is exactly 0 (1); the formula leaves ~1e-17 of rounding.
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == trials else min(1.0, centre + half)
    return (lo, hi)


def format_ci(p: float, ci: Sequence[float]) -> str:
    """A rate and its 95% interval as every table prints it: ``0.22 [0.09, 0.45]``."""
    return f"{p:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _match_rate(predictions: Sequence[int], wanted: Sequence[int], what: str) -> float:
    pred, want = np.asarray(predictions), np.asarray(wanted)
    if pred.shape != want.shape:
        raise ValueError(f"predictions and {what} differ in shape")
    return float("nan") if pred.size == 0 else float(np.mean(pred == want))


def attack_success_rate(predictions: Sequence[int], target_classes: Sequence[int]) -> float:
    """ASR: fraction of target inputs predicted as their attacker-chosen target class (§5.1)."""
    return _match_rate(predictions, target_classes, "target classes")


def accuracy(predictions: Sequence[int], labels: Sequence[int]) -> float:
    """Top-1 accuracy; CA on a clean encoder, PA on a poisoned or defended one."""
    return _match_rate(predictions, labels, "labels")


def utility_loss(clean_accuracy: float, poisoned_accuracy: float) -> float:
    """CA − PA: accuracy points lost by poisoning (or by a defense)."""
    return clean_accuracy - poisoned_accuracy


def dropped_ratio(clean_accuracy: float, poisoned_accuracy: float) -> float:
    """(CA − PA) / CA, the relative drop the paper reports for defenses (§6)."""
    if clean_accuracy == 0:
        return float("nan")
    return (clean_accuracy - poisoned_accuracy) / clean_accuracy


def mean_cosine_similarity(target_feature: np.ndarray, reference_features: np.ndarray) -> float:
    """Mean cosine similarity between one target's features and each reference's features."""
    t = np.asarray(target_feature, dtype=np.float64).reshape(-1)
    r = np.asarray(reference_features, dtype=np.float64).reshape(len(reference_features), -1)
    t = t / max(float(np.linalg.norm(t)), 1e-12)
    r = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12)
    return float(np.mean(r @ t))


def outer_objective(target_features: np.ndarray, reference_features: Sequence[np.ndarray]) -> float:
    """Eq. 3 of the paper: mean over all (target, reference) pairs of cos(f(x_t), f(x_r)).

    ``reference_features[i]`` holds the references of target ``i``; pairs are weighted
    equally, so targets with more references count more, exactly as in Eq. 3.
    """
    total, pairs = 0.0, 0
    for t, refs in zip(target_features, reference_features):
        total += mean_cosine_similarity(t, refs) * len(refs)
        pairs += len(refs)
    return total / pairs if pairs else float("nan")


def paired_shift_ci95(after: Sequence[float], before: Sequence[float]) -> Tuple[float, Tuple[float, float]]:
    """Mean of ``after − before`` over paired items with a Student-t 95% interval.

    Used for a target's cosine to its references with the poisoned vs the clean encoder: pairing
    removes how far each target starts from its references, so a small shift that the
    6–18-target ASR cannot resolve still has a readable interval. One pair: (−inf, inf)."""
    d = np.asarray(after, dtype=np.float64) - np.asarray(before, dtype=np.float64)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError(f"need equally long, non-empty 1-d sequences, got shapes {np.shape(after)} and {np.shape(before)}")
    mean = float(d.mean())
    if len(d) == 1:
        return mean, (-math.inf, math.inf)
    half = float(student_t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))
    return mean, (mean - half, mean + half)


def mcnemar_exact_p(gained: int, lost: int) -> float:
    """Two-sided exact McNemar test on paired binary outcomes (the same targets, clean vs poisoned
    encoder): ``gained`` = targets hit only by the poisoned pipeline, ``lost`` = hit only by the clean
    one. Under no effect each discordant pair is a fair coin, so p = 2·P(Binomial(b + c, ½) ≤ min),
    capped at 1. No discordant pair: p = 1."""
    if gained < 0 or lost < 0:
        raise ValueError(f"counts must be non-negative, got {gained}, {lost}")
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(gained, lost) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def detection_rates(keep: Sequence[bool], is_poison: Sequence[bool]) -> Tuple[float, float]:
    """(FPR, FNR) of a filter, poison = positive, flagged = removed (paper §6.1):
    FPR = clean inputs removed / clean inputs, FNR = poisons kept / poisons (nan if none)."""
    kept, pos = np.asarray(keep, bool), np.asarray(is_poison, bool)
    if kept.shape != pos.shape:
        raise ValueError("keep and is_poison must have the same length")
    neg = ~pos
    fpr = float((~kept & neg).sum() / neg.sum()) if neg.any() else float("nan")
    fnr = float((kept & pos).sum() / pos.sum()) if pos.any() else float("nan")
    return fpr, fnr


def certified_fraction(certified_sizes: Sequence[int], correct: Sequence[bool], budget: int) -> float:
    """Share of inputs whose (correct) bagging prediction is certified against ``budget`` poisons:
    for them no attack with that many poisoning inputs can change the vote (Jia et al. 2021)."""
    sizes, ok = np.asarray(certified_sizes), np.asarray(correct, bool)
    if len(sizes) == 0:
        return float("nan")
    return float(np.mean(ok & (sizes >= budget)))


def mean_t_interval(values: Sequence[float], lo: float = 0.0, hi: float = 1.0) -> Tuple[float, Tuple[float, float]]:
    """Mean of per-seed rates with a Student-t 95% interval over them, clipped to [lo, hi] (a rate's
    range): the interval of a backdoor's ASR, which pools thousands of inputs within a seed, so its
    uncertainty is the variation between seeds."""
    mean, (a, b) = paired_shift_ci95(values, [0.0] * len(values))
    return mean, (max(lo, a), min(hi, b))
