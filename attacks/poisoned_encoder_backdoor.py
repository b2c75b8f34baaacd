"""PoisonedEncoder used as a backdoor — CorruptEncoder's baseline (Zhang, Liu, Jia, Gong; CVPR 2024, §5).

Algorithm 1 of PoisonedEncoder (Liu, Jia, Gong; USENIX Security 2022) joins a target input with a
reference of its target class. As a backdoor, the "target input" is a triggered input: a fresh
background (CorruptEncoder's random low-frequency colour field) with the task's trigger at its
centre, one per poison, so that the only thing the poisons' target halves share is the trigger.
Same trigger, references (the first ``n_references``), budget and test-time stamp as
``corrupt_encoder``, so the two are compared on identical triggered inputs; the CorruptEncoder
paper reports this baseline far weaker (ASR 35.5% vs 92.9% on ImageNet-100, MoCo v2, 0.5%).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from benchmark.core.errors import BenchmarkError

from .base import PoisonSet, register_attack
from .corrupt_encoder import SIZE, background, stamp_centre, trigger_patch
from .poisoned_encoder import LAYOUTS, PoisonedEncoder, combine, random_square_crop


@register_attack("poisoned_encoder_backdoor")
class PoisonedEncoderBackdoor(PoisonedEncoder):
    kind = "backdoor"

    def __init__(self, layouts: Sequence[str] = LAYOUTS, crop_scale: float = 1.0, n_references: int = 3,
                 trigger_size: int = 5, trigger_seed: int = 0):
        super().__init__(layouts, crop_scale)
        if not 1 <= int(n_references) <= 100 or not 2 <= int(trigger_size) <= 12:
            raise BenchmarkError(f"poisoned_encoder_backdoor needs 1 <= n_references <= 100 and "
                                 f"2 <= trigger_size <= 12, got {n_references}, {trigger_size}")
        self.n_references, self.trigger_size, self.trigger_seed = int(n_references), int(trigger_size), int(trigger_seed)

    def stamp(self, images: np.ndarray, target_id: int) -> np.ndarray:
        return stamp_centre(images, trigger_patch(self.trigger_seed, target_id, self.trigger_size))

    def craft(self, targets, rng, context=None) -> PoisonSet:
        images, ids = [], []
        for tid, t in enumerate(targets):
            refs, patch = t.references[:self.n_references], trigger_patch(self.trigger_seed, tid, self.trigger_size)
            for _ in range(t.n_poisons):
                triggered = stamp_centre(background(rng)[None], patch)[0]
                ref = refs[int(rng.integers(len(refs)))]
                layout = self.layouts[int(rng.integers(len(self.layouts)))]
                images.append(combine(random_square_crop(triggered, self.crop_scale, rng),
                                      random_square_crop(ref, self.crop_scale, rng), layout, SIZE))
                ids.append(tid)
        return PoisonSet(np.stack(images) if images else np.zeros((0, SIZE, SIZE, 3), np.uint8),
                         np.asarray(ids, np.int64), {"trigger_size": self.trigger_size,
                                                     "background": "random low-frequency colour field"})
