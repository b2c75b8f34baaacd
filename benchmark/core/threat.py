"""The attacker's choices (PoisonedEncoder paper §3.1, §5.1 "Parameter settings").

Per target downstream task the attacker draws target inputs from its test split, gives each a
random target class different from its true class, and draws ``n_references`` reference inputs
of the target class from the same test split (never one of the targets). The poisoning budget
is a rate *per target*: each target gets ``round(rate × |clean pre-training set|)`` poisons, so
several targets — over several tasks — share one poisoned pre-training run, each with the
paper's budget. Targets and references are excluded from utility evaluation.

A ThreatSpec holds indices only; the runner hands attacks the images and never hands a
defense any of this.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Mapping, Sequence, Set

import numpy as np

from .errors import BenchmarkError


@dataclass(frozen=True)
class Target:
    task: str
    index: int                      # into the task's test split
    true_class: int
    target_class: int
    reference_indices: tuple        # into the task's test split, all of class target_class


@dataclass(frozen=True)
class ThreatSpec:
    targets: tuple
    poison_rate: float              # per target, as a fraction of the clean pre-training set

    def poisons_per_target(self, n_clean: int) -> int:
        return max(1, int(round(self.poison_rate * n_clean)))

    def excluded_indices(self, task: str) -> Set[int]:
        """Test indices that must not count toward CA/PA: the targets and their references."""
        out: Set[int] = set()
        for t in self.targets:
            if t.task == task:
                out.add(t.index)
                out.update(t.reference_indices)
        return out

    def to_dict(self) -> Dict:
        return {"poison_rate": self.poison_rate,
                "targets": [dict(asdict(t), reference_indices=list(t.reference_indices)) for t in self.targets]}


def draw_threat(test_labels: Mapping[str, np.ndarray], targets_per_task: int, n_references: int,
                poison_rate: float, rng: np.random.Generator) -> ThreatSpec:
    """Draw targets, target classes and references for each task, uniformly at random."""
    if targets_per_task < 1 or n_references < 1:
        raise BenchmarkError("targets_per_task and n_references must be >= 1")
    if not 0 < poison_rate <= 1:
        raise BenchmarkError(f"poison_rate must be in (0, 1], got {poison_rate}")
    targets: List[Target] = []
    for task in sorted(test_labels):
        labels = np.asarray(test_labels[task])
        classes = np.unique(labels)
        if len(classes) < 2:
            raise BenchmarkError(f"task '{task}' has fewer than 2 classes: no target class possible")
        chosen = rng.choice(len(labels), size=targets_per_task, replace=False)
        taken = set(int(i) for i in chosen)
        # Classes too small to supply the references cannot be target classes (e.g. rare GTSRB
        # signs have 20 test images); the draw is uniform over the rest.
        available = {int(c): int(np.sum(labels == c)) - sum(int(labels[i] == c) for i in taken) for c in classes}
        for idx in chosen:
            true = int(labels[idx])
            eligible = [c for c in classes if c != true and available[int(c)] >= n_references]
            if not eligible:
                raise BenchmarkError(f"task '{task}': no class other than {true} has {n_references} test "
                                     f"inputs to serve as references")
            target_class = int(rng.choice(eligible))
            pool = np.array([i for i in np.flatnonzero(labels == target_class) if int(i) not in taken])
            refs = np.sort(rng.choice(pool, size=n_references, replace=False))
            targets.append(Target(task, int(idx), true, target_class, tuple(int(r) for r in refs)))
    return ThreatSpec(tuple(targets), float(poison_rate))


def evaluation_mask(n_test: int, threat: ThreatSpec, task: str) -> np.ndarray:
    """Boolean mask over a task's test split: True where the input counts for CA/PA."""
    mask = np.ones(n_test, dtype=bool)
    excluded: Sequence[int] = sorted(threat.excluded_indices(task))
    mask[list(excluded)] = False
    return mask
