"""In-processing defense: bagging with certified robustness (PoisonedEncoder §6.2; Jia, Cao, Gong,
AAAI 2021).

M base encoders, each pre-trained on its own random subsample of k inputs drawn with replacement
from the (possibly poisoned) pre-training set; a linear downstream classifier per base encoder;
the ensemble predicts the majority vote. A poison reaches only the base encoders whose subsample
contains it, so with k ≪ n most base encoders never see it, and the vote is provably unchanged by
up to the certified poisoning size of inserted inputs (``benchmark.core.certification``).

Paper: k = 500, M = 100 (and base encoders trained like the full one). Tier files set what a
tier can afford and say why.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, List, Optional

import numpy as np

from benchmark.core.errors import BenchmarkError
from benchmark.core.settings import PretrainConfig, ProbeConfig

from .base import Defense, Operating, register_defense


def bootstrap_subsamples(n: int, k: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """M×k indices into a set of n, drawn uniformly with replacement (the certified bagging
    scheme); each row sorted so a subsample's content hash does not depend on draw order."""
    return np.sort(rng.integers(0, n, size=(m, k)), axis=1)


@register_defense("bagging")
class Bagging(Defense):
    stage = "in"

    def __init__(self, n_models: int = 100, subsample_size: int = 500, epochs: Optional[int] = None,
                 batch_size: Optional[int] = None, alpha: float = 0.001):
        if int(n_models) < 1 or int(subsample_size) < 2:
            raise BenchmarkError(f"bagging needs n_models >= 1 and subsample_size >= 2, got {n_models}, {subsample_size}")
        if not 0 < float(alpha) < 1:
            raise BenchmarkError(f"bagging alpha must be in (0, 1), got {alpha}")
        self.n_models, self.subsample_size = int(n_models), int(subsample_size)
        self.epochs = None if epochs is None else int(epochs)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.alpha = float(alpha)


    def base_config(self, pretrain: PretrainConfig) -> PretrainConfig:
        return replace(pretrain, checkpoint_epochs=(), epochs=pretrain.epochs if self.epochs is None else self.epochs,
                       batch_size=min(self.batch_size or pretrain.batch_size, self.subsample_size))

    def pretrain(self, images: np.ndarray, pretrain: PretrainConfig, trainer, rng: np.random.Generator) -> List[Any]:
        cfg = self.base_config(pretrain)
        subsamples = bootstrap_subsamples(len(images), self.subsample_size, self.n_models, rng)
        return [trainer.train(images[idx], cfg, label=f"bagging {i + 1}/{self.n_models}", seed_offset=i + 1)
                for i, idx in enumerate(subsamples)]

    def operating(self, trained: List[Any], probe: ProbeConfig, n_train: int) -> Operating:
        return Operating(trained, probe, {"n_models": len(trained)},
                         certify={"n": n_train, "k": self.subsample_size, "alpha": self.alpha})
