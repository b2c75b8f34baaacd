"""Backdoored encoders on disk: what a model-poisoning attack delivers, content-addressed like encoders.

A model-poisoning attack (BadEncoder, Jia et al. S&P 2022) turns the seed's clean encoder into a
backdoored one. That encoder is a pure function of the attack (name, parameters, code version), the
clean encoder (its content key), the attacker's shadow set and references, and the seed — so it is
keyed by those, made once (minutes on a CPU) and served to every defense of the (attack, seed):
the post-processing defenses fine-tune *it*. Each entry is a folder with ``final.safetensors``
(the encoder's weights, no projection head: what an attacker publishes) and the same checksum
manifest as the encoder cache; an entry that fails its manifest is remade with a warning.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import List

import numpy as np
from filelock import FileLock

from .core.errors import BenchmarkError
from .core.store import config_hash, images_sha256
from .downstream import module_of
from .encoder_cache import MANIFEST, CachedEncoder, discard, verify_manifest, write_manifest
from .poison_store import targets_sha256
from .ssl.checkpoint import save_checkpoint
from .ssl.simclr import load_encoder_checkpoint

MODEL_CODE_VERSION = "models-v1"  # bump when the stored layout changes
SHADOW_STREAM = 5                 # the shadow draw's random stream: [seed, 5] (pipeline uses 1..4)


def shadow_set(clean_images: np.ndarray, size: int, seed: int) -> np.ndarray:
    """The attacker's shadow set: ``size`` images drawn without replacement from the clean
    pre-training set (the paper's attacker holds a slice of the pre-training distribution)."""
    if size > len(clean_images):
        raise BenchmarkError(f"the attack asks for {size} shadow images; the pre-training set has {len(clean_images)}")
    rng = np.random.default_rng([seed, SHADOW_STREAM])
    return clean_images[np.sort(rng.choice(len(clean_images), size, replace=False))]


def model_key(attack, targets: List, seed: int, clean_key: str, shadow: np.ndarray) -> str:
    return config_hash({"attack": attack.name, "params": attack.params(), "version": getattr(attack, "version", "1"),
                        "targets": targets_sha256(targets), "seed": int(seed), "clean": clean_key,
                        "shadow": images_sha256(shadow), "code": MODEL_CODE_VERSION}, 20)


class ModelStore:
    """``get(attack, targets, seed, clean, shadow)`` → the backdoored encoder as a :class:`CachedEncoder`
    (the clean encoder's config and cost: it is what the victim would have pre-trained)."""

    def __init__(self, root: Path, device: str = "cpu"):
        self.root, self.device = Path(root), device

    def get(self, attack, targets: List, seed: int, clean, shadow: np.ndarray) -> CachedEncoder:
        key = model_key(attack, targets, seed, clean.key, shadow)
        workdir = self.root / attack.name / key
        workdir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(workdir / ".lock")):   # two runners on one cache poison the model once
            problem = verify_manifest(workdir) if (workdir / MANIFEST).exists() else None
            if problem:
                warnings.warn(f"backdoored encoder {key} is corrupt or incomplete ({problem}); making it again",
                              stacklevel=2)
                discard(workdir)
            made = not (workdir / MANIFEST).exists()
            if made:
                wall, cpu = time.perf_counter(), time.process_time()
                module = attack.poison_model(module_of(clean), shadow, targets, seed, self.device)
                save_checkpoint(workdir / "final.safetensors", module, meta={"attack": attack.name, "key": key})
                write_manifest(workdir, {"key": key, "attack": attack.name, "clean": clean.key,
                                         "train_wall_seconds": time.perf_counter() - wall,
                                         "train_cpu_seconds": time.process_time() - cpu})
        encoder = load_encoder_checkpoint(workdir / "final.safetensors", clean.cfg, self.device)
        return CachedEncoder(encoder, clean.cfg, clean.image_passes, not made, [], {}, workdir, key, self.device)
