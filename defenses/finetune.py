"""Post-processing defense: contrastive fine-tuning on clean data (PoisonedEncoder paper §6.3).

The provider continues SimCLR training of the (possibly poisoned) encoder, projection head
included, on a random ``clean_fraction`` of the pre-training set that it has verified to be
clean; the paper uses 300 epochs at lr 1e-4 and sweeps the fraction (Fig. 11): fine-tuning lowers
ASR without hurting utility, but needs a large clean set.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np

from benchmark.core.errors import BenchmarkError
from benchmark.core.settings import PretrainConfig

from .base import Defense, register_defense


@register_defense("finetune")
class CleanFineTuning(Defense):
    stage = "post"

    def __init__(self, clean_fraction: float = 0.5, epochs: int = 300, lr: float = 1e-4,
                 batch_size: Optional[int] = None):
        if not 0 < float(clean_fraction) <= 1:
            raise BenchmarkError(f"finetune clean_fraction must be in (0, 1], got {clean_fraction}")
        if int(epochs) < 1 or float(lr) <= 0:
            raise BenchmarkError(f"finetune needs epochs >= 1 and lr > 0, got {epochs}, {lr}")
        self.clean_fraction, self.epochs, self.lr = float(clean_fraction), int(epochs), float(lr)
        self.batch_size = None if batch_size is None else int(batch_size)


    def clean_subset_size(self, n_pretrain: int) -> int:
        return max(1, int(round(self.clean_fraction * n_pretrain)))

    def post_process(self, trained, clean_images: np.ndarray, pretrain: PretrainConfig, trainer,
                     rng: np.random.Generator):
        cfg = replace(pretrain, epochs=self.epochs, lr=self.lr, checkpoint_epochs=(),
                      batch_size=pretrain.batch_size if self.batch_size is None else self.batch_size)
        return trainer.train(clean_images, cfg, init=trained, label="finetune")
