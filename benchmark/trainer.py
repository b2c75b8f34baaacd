"""The harness's trainers as a defense sees them: images and a config in, an encoder out.

Two implementations of one protocol (:class:`benchmark.core.protocols.Trainer`), side by side:

- :class:`EncoderTrainer` trains (or loads from the content-addressed cache) — what a grid cell uses;
- :class:`PlanningTrainer` trains nothing: it answers with a :class:`PlannedEncoder` carrying the
  *real* cache key and cost (the dry-run planner), or a random stand-in (the conformance suite).

A defense that trains encoders (bagging's base encoders, fine-tuning) asks its trainer instead of
calling the training code, so every encoder it needs is content-addressed and trained once, and the
image-passes it costs are counted for the leaderboard's cost column — whether or not the cache
served them (cost is what the defense needs, not what this run happened to recompute).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import torch

from .encoder_cache import CachedEncoder, EncoderCache
from .core.errors import BenchmarkError
from .core.protocols import TrainedEncoder, Trainer  # noqa: F401  (re-exported: the interfaces these implement)
from .ssl.simclr import build_encoder, pretrain_image_passes
from .core.settings import PretrainConfig


def member_seed(seed: int, seed_offset: int) -> int:
    """The seed of an ensemble member (offset 0 = the run's own seed); both trainers use this rule,
    so the planner's cache keys are the ones training will use."""
    return int(seed) if seed_offset == 0 else int(seed) * 100_003 + int(seed_offset)


class _Counting:
    """The bookkeeping both trainers share: who asked for which encoder, at what cost."""

    def __init__(self, seed: int, base_pretrain: Optional[PretrainConfig]):
        self.seed = int(seed)
        self.base_pretrain = base_pretrain or PretrainConfig()
        self.image_passes = 0
        self.encoders_trained = 0
        self.requests: List[Dict[str, Any]] = []
        self.clean_request: Dict[str, Any] = {}

    def clean(self, images: np.ndarray):
        """The tier's clean encoder of this seed: the reference every cell is measured against, not a
        cost of the defense (kept out of ``requests`` and ``image_passes``)."""
        result = self._get(images, self.base_pretrain, self.seed, "clean", None)
        self.clean_request = self._describe("clean", result)
        return result

    def train(self, images: np.ndarray, pretrain: PretrainConfig, *, init=None, label: str = "defense",
              seed_offset: int = 0):
        """SimCLR on ``images`` (uint8 N×32×32×3) with the tier's pre-training config (possibly
        changed); ``init`` continues from another encoder; ``seed_offset`` gives ensemble members
        their own initialisation and augmentation stream."""
        if not isinstance(pretrain, PretrainConfig):
            raise BenchmarkError(f"trainer.train takes a PretrainConfig, got {type(pretrain).__name__}")
        result = self._get(images, pretrain, member_seed(self.seed, seed_offset), label, init)
        self.image_passes += result.image_passes
        self.encoders_trained += 1
        self.requests.append(self._describe(label, result))
        return result


class EncoderTrainer(_Counting):
    """Trains through the encoder cache (or loads what it already holds)."""

    def __init__(self, cache: EncoderCache, seed: int, base_pretrain: Optional[PretrainConfig] = None):
        super().__init__(seed, base_pretrain)
        self.cache = cache

    def _get(self, images, cfg, seed, label, init) -> CachedEncoder:
        return self.cache.get(images, cfg, seed, label, init)

    @staticmethod
    def _describe(label: str, result: CachedEncoder) -> Dict[str, Any]:
        return {"role": label, "key": result.key, "image_passes": result.image_passes, "from_cache": result.from_cache,
                "train_wall_seconds": result.train_wall_seconds, "train_cpu_seconds": result.train_cpu_seconds,
                "weights_sha256": result.weights_sha256, "train_threads": result.train_threads}


class PlannedEncoder:
    """An encoder that was not trained: the real content key and cost, and a random stand-in module
    (seeded by the key, built on first use) so hooks that look at features still run."""

    def __init__(self, cfg: PretrainConfig, key: str, image_passes: int):
        self.cfg, self.key, self.image_passes = cfg, key, image_passes
        self.epoch_checkpoints = {int(e): None for e in cfg.checkpoint_epochs}
        self.from_cache = True
        self._module: Optional[torch.nn.Module] = None

    @property
    def encoder(self) -> torch.nn.Module:
        if self._module is None:
            torch.manual_seed(int(self.key[:8], 16))
            self._module = build_encoder(self.cfg).eval()
        return self._module

    def at_epoch(self, epoch: int) -> torch.nn.Module:
        if epoch != self.cfg.epochs and epoch not in self.epoch_checkpoints:
            raise BenchmarkError(f"no checkpoint at pre-training epoch {epoch}")
        return self.encoder


class PlanningTrainer(_Counting):
    """Answers every request with a :class:`PlannedEncoder` under the key the cache would use, and
    notes whether that key is already trained there."""

    def __init__(self, cache: EncoderCache, seed: int, base_pretrain: Optional[PretrainConfig] = None):
        super().__init__(seed, base_pretrain)
        self.cache = cache

    def _get(self, images, cfg, seed, label, init) -> PlannedEncoder:
        return PlannedEncoder(cfg, self.cache.key(images, cfg, seed, init),
                              pretrain_image_passes(len(images), cfg.epochs, cfg.batch_size))

    def _describe(self, label: str, result: PlannedEncoder) -> Dict[str, Any]:
        cached = (self.cache.root / result.key / "final.safetensors").exists()
        return {"role": label, "key": result.key, "image_passes": result.image_passes, "cached": cached}
