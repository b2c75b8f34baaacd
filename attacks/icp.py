"""ICP — interpolation consistency poisoning (Carlini, "Poisoning the Unlabeled Dataset of
Semi-Supervised Learning", USENIX Security 2021), adapted to contrastive learning as in the
PoisonedEncoder paper's §5.1 comparison.

The poisons form a path of interpolations x_α = (1−α)·x_ref + α·x_t between reference inputs of
the target class and the target input, so that an encoder that maps nearby inputs to nearby
features is pulled to connect the target with the target class. Same targets, references and
budget as PoisonedEncoder (the harness hands both the same :class:`AttackTarget`).

Parameters: ``schedule`` — ``uniform`` spacing of α in (0, 1) or ``target_dense`` (denser near
the target, α = 1 − (1 − u)², the variant Carlini found stronger); ``paths`` — how many
references the budget is spread over (one path per reference, 1 = Carlini's single path).
"""

from __future__ import annotations

from typing import List

import numpy as np

from benchmark.core.errors import BenchmarkError

from .base import Attack, AttackTarget, PoisonSet, register_attack

SCHEDULES = ("uniform", "target_dense")


def interpolation_alphas(k: int, schedule: str = "uniform") -> np.ndarray:
    """k mixing weights strictly inside (0, 1), increasing; α = 1 is the target itself."""
    if k < 0:
        raise ValueError("k must be >= 0")
    u = np.arange(1, k + 1, dtype=np.float64) / (k + 1)
    if schedule == "uniform":
        return u
    if schedule == "target_dense":
        return 1.0 - (1.0 - u) ** 2
    raise ValueError(f"unknown schedule {schedule!r}")


def interpolate(reference: np.ndarray, target: np.ndarray, alpha: float) -> np.ndarray:
    """(1−α)·reference + α·target as uint8 (rounded)."""
    mixed = (1.0 - alpha) * reference.astype(np.float64) + alpha * target.astype(np.float64)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def split_budget(n: int, parts: int) -> List[int]:
    """n poisons over ``parts`` paths as evenly as possible (the first paths get the remainder)."""
    base, extra = divmod(n, parts)
    return [base + (i < extra) for i in range(parts)]


@register_attack("icp")
class InterpolationPoisoning(Attack):

    def __init__(self, schedule: str = "target_dense", paths: int = 1):
        if schedule not in SCHEDULES:
            raise BenchmarkError(f"icp schedule must be one of {list(SCHEDULES)}, got {schedule!r}")
        if int(paths) < 1:
            raise BenchmarkError(f"icp paths must be >= 1, got {paths}")
        self.schedule, self.paths = schedule, int(paths)


    def craft(self, targets: List[AttackTarget], rng: np.random.Generator, context=None) -> PoisonSet:
        images, ids = [], []
        for tid, t in enumerate(targets):
            paths = min(self.paths, len(t.references), max(t.n_poisons, 1))
            refs = rng.choice(len(t.references), size=paths, replace=False)
            for ref_index, k in zip(refs, split_budget(t.n_poisons, paths)):
                for a in interpolation_alphas(k, self.schedule):
                    images.append(interpolate(t.references[ref_index], t.image, a))
                    ids.append(tid)
        if not images:
            return PoisonSet(np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, np.int64))
        return PoisonSet(np.stack(images), np.asarray(ids, np.int64))
