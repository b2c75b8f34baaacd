"""Encoders keyed by the content that determines them, so each is trained once.

The key hashes the pre-training config, the sha256 of the exact training images (clean,
poisoned or sanitised — content-addressed, so the clean encoder is shared by every attack and
defense that trains on the clean set) and the seed. A file lock keeps two runners from training
the same encoder at once; the second waits and then loads it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import numpy as np
from filelock import FileLock

from .ssl.simclr import Encoder, PretrainConfig, pretrain
from .store import config_hash

# Bump when a change to the training code changes what a given config produces.
SSL_CODE_VERSION = "simclr-v1"


@dataclass
class CachedEncoder:
    encoder: Encoder
    cfg: PretrainConfig
    image_passes: int
    from_cache: bool
    losses: list
    epoch_checkpoints: Dict[int, Path]
    workdir: Path

    def image_passes_for(self, n_images: int) -> int:
        """Image-passes this config would spend on a set of ``n_images`` (2 views, full batches)."""
        batch = min(self.cfg.batch_size, n_images)
        return self.cfg.epochs * (n_images // batch) * batch * 2


def images_sha256(images: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str(images.shape).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    return h.hexdigest()


class EncoderCache:
    def __init__(self, cache_dir: Path, device: str = "cpu", progress: bool = True):
        self.root = Path(cache_dir) / "encoders"
        self.device, self.progress = device, progress
        # Same key within one cache object → the same encoder object, so callers can tell that
        # two encoders are one (e.g. no attack and no defense) and evaluate it once.
        self._memo: Dict[str, CachedEncoder] = {}

    def key(self, images: np.ndarray, cfg: PretrainConfig, seed: int) -> str:
        return config_hash({"pretrain": cfg.to_dict(), "data": images_sha256(images), "seed": seed,
                            "code": SSL_CODE_VERSION}, 20)

    def get(self, images: np.ndarray, cfg: PretrainConfig, seed: int, label: str = "encoder") -> CachedEncoder:
        key = self.key(images, cfg, seed)
        if key in self._memo:
            return self._memo[key]
        workdir = self.root / key
        workdir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(workdir / ".lock")):
            res = pretrain(images, cfg, seed, self.device, workdir, self.progress, desc=f"pre-train {label}")
        self._memo[key] = CachedEncoder(res.encoder, cfg, res.image_passes, res.from_cache, res.losses,
                                        res.epoch_checkpoints, workdir)
        return self._memo[key]
