"""The harness's SimCLR trainer as a defense sees it: images and a config in, a cached encoder out.

A defense that trains encoders (bagging's base encoders, fine-tuning) asks this object instead of
calling the training code itself, so every encoder it needs is content-addressed and trained once,
and the image-passes it costs are counted for the leaderboard's cost column — whether or not the
cache served them (cost is what the defense needs, not what this run happened to recompute).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from .encoder_cache import CachedEncoder, EncoderCache
from .ssl.simclr import PretrainConfig


def member_seed(seed: int, seed_offset: int) -> int:
    """The seed of an ensemble member (offset 0 = the run's own seed). The dry-run planner uses
    the same rule, so its cache keys are the ones training will use."""
    return int(seed) if seed_offset == 0 else int(seed) * 100_003 + int(seed_offset)


class EncoderTrainer:
    def __init__(self, cache: EncoderCache, seed: int, base_pretrain: Optional[Dict[str, Any]] = None):
        self.cache, self.seed = cache, int(seed)
        # The tier's [pretrain] section, for defenses that derive their own config from it
        # (a short warm-up encoder for a feature-space filter, say). A copy: read-only in effect.
        self.base_pretrain = dict(base_pretrain or {})
        self.image_passes = 0
        self.encoders_trained = 0
        self.requests: list = []  # every encoder asked for: key, image-passes, served from cache?

    def train(self, images: np.ndarray, pretrain: Dict[str, Any], *, init: Optional[CachedEncoder] = None,
              label: str = "defense", seed_offset: int = 0) -> CachedEncoder:
        """SimCLR on ``images`` (uint8 N×32×32×3) with the tier's ``[pretrain]`` dict (possibly
        changed); ``init`` continues from another encoder; ``seed_offset`` gives ensemble members
        their own initialisation and augmentation stream."""
        result = self.cache.get(images, PretrainConfig.from_dict(pretrain), member_seed(self.seed, seed_offset),
                                label, init)
        self.image_passes += result.image_passes
        self.encoders_trained += 1
        self.requests.append({"role": label, "key": result.key, "image_passes": result.image_passes,
                              "from_cache": result.from_cache, "train_wall_seconds": result.train_wall_seconds,
                              "train_cpu_seconds": result.train_cpu_seconds})
        return result
