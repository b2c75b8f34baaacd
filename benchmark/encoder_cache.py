"""Encoders keyed by the content that determines them, so each is trained once.

The key hashes the pre-training config, the sha256 of the exact training images (clean,
poisoned or sanitised — content-addressed, so the clean encoder is shared by every attack and
defense that trains on the clean set) and the seed. A file lock keeps two runners from training
the same encoder at once; the second waits and then loads it.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch
from filelock import FileLock

from .core.errors import BenchmarkError
from .core.memory import release_freed_memory
from .ssl.simclr import Encoder, load_encoder_checkpoint, pretrain, pretrain_image_passes
from .backbone import resolve as resolve_backbone
from .core.store import atomic_write_json, config_hash, file_sha256, images_sha256
from .core.settings import PretrainConfig

MANIFEST = "manifest.json"


def write_manifest(workdir: Path, extra: Optional[Dict] = None) -> None:
    """sha256 of every finished checkpoint in ``workdir``, written last (atomically): an entry
    without a manifest is unfinished or foreign and is never trusted."""
    files = sorted(p.name for p in workdir.glob("*.safetensors") if p.name != "last.safetensors")
    atomic_write_json(workdir / MANIFEST, {"files": {n: file_sha256(workdir / n) for n in files}, **(extra or {})})


def verify_manifest(workdir: Path) -> Optional[str]:
    """None if every file the manifest lists exists with its checksum, else what is wrong."""
    try:
        manifest = json.loads((workdir / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"no readable manifest ({type(exc).__name__})"
    if "final.safetensors" not in manifest:
        return "manifest lacks final.safetensors"
    for name, digest in manifest.items():
        path = workdir / name
        if not path.is_file():
            return f"{name} is missing"
        if file_sha256(path) != digest:
            return f"{name} does not match its checksum"
    return None


def discard(workdir: Path) -> None:
    for p in list(workdir.glob("*.safetensors")) + [workdir / MANIFEST]:
        p.unlink(missing_ok=True)

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
    key: str = ""
    device: str = "cpu"
    train_wall_seconds: Optional[float] = None   # when it was trained (kept in the manifest), if known
    train_cpu_seconds: Optional[float] = None    # process CPU time of that training, if known
    # sha256 of final.safetensors and the intra-op threads it was trained with: CPU training is
    # bit-reproducible only for one torch build, CPU and thread count, so one key can name two copies.
    weights_sha256: Optional[str] = None
    train_threads: Optional[int] = None

    @property
    def final_path(self) -> Path:
        return self.workdir / "final.safetensors"

    def at_epoch(self, epoch: int) -> Encoder:
        """The encoder as it was after ``epoch`` pre-training epochs (a saved checkpoint)."""
        if epoch == self.cfg.epochs:
            return self.encoder
        if epoch not in self.epoch_checkpoints:
            raise BenchmarkError(f"no checkpoint at pre-training epoch {epoch} "
                                 f"(saved: {sorted(self.epoch_checkpoints)}; set pretrain.checkpoint_epochs)")
        module = load_encoder_checkpoint(self.epoch_checkpoints[epoch], self.cfg, self.device)
        module.key = f"{self.key}@epoch{epoch}"  # content key of the checkpoint (feature cache)
        return module

    def image_passes_for(self, n_images: int) -> int:
        """Image-passes this config would spend on a set of ``n_images`` (2 views, full batches)."""
        return pretrain_image_passes(n_images, self.cfg.epochs, self.cfg.batch_size)


class EncoderCache:
    def __init__(self, cache_dir: Path, device: str = "cpu", progress: bool = True):
        self.root = Path(cache_dir) / "encoders"
        self.device, self.progress = device, progress
        # Same key within one cache object → the same encoder object, so callers can tell that
        # two encoders are one (e.g. no attack and no defense) and evaluate it once.
        self._memo: Dict[str, CachedEncoder] = {}

    def key(self, images: np.ndarray, cfg: PretrainConfig, seed: int, init: Optional[CachedEncoder] = None) -> str:
        content = {"pretrain": cfg.to_dict(), "data": images_sha256(images), "seed": seed, "code": SSL_CODE_VERSION}
        if init is not None:  # fine-tuning: the starting encoder is part of what determines the result
            content["init"] = init.key
        elif cfg.init:  # continued pre-training: the backbone's bytes, not just its name
            content["backbone"] = resolve_backbone(cfg.init).sha256
        return config_hash(content, 20)

    @staticmethod
    def init_path(cfg: PretrainConfig, init: Optional["CachedEncoder"]) -> Optional[Path]:
        """The checkpoint training starts from: another encoder, the tier's backbone, or none."""
        if init is not None:
            return init.final_path
        return resolve_backbone(cfg.init).path if cfg.init else None

    def _pretrain(self, images, cfg, seed, label, init, workdir: Path):
        """Train or load; a stored checkpoint that fails to load for any reason (its checksum
        recomputed around another payload, say) is discarded and the encoder retrained."""
        def run():
            return pretrain(images, cfg, seed, self.device, workdir, self.progress, desc=f"pre-train {label}",
                            init=self.init_path(cfg, init))
        if not (workdir / "final.safetensors").exists():
            return run()
        try:
            return run()
        except BenchmarkError:
            raise
        except Exception as exc:  # unreadable as a checkpoint of this config: retrain, as for a bad checksum
            warnings.warn(f"encoder cache entry {workdir.name} does not load ({type(exc).__name__}); retraining it",
                          stacklevel=3)
            discard(workdir)
            return run()

    def get(self, images: np.ndarray, cfg: PretrainConfig, seed: int, label: str = "encoder",
            init: Optional[CachedEncoder] = None) -> CachedEncoder:
        key = self.key(images, cfg, seed, init)
        if key in self._memo:
            return self._memo[key]
        workdir = self.root / key
        workdir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(workdir / ".lock")):
            # A final checkpoint without any manifest predates manifests (writes were atomic, so it is
            # complete): adopt it. With a manifest, every listed file must match its checksum.
            if (workdir / MANIFEST).exists():
                problem = verify_manifest(workdir)
                if problem:
                    warnings.warn(f"encoder cache entry {key} is corrupt or incomplete ({problem}); retraining it",
                                  stacklevel=2)
                    discard(workdir)
            res = self._pretrain(images, cfg, seed, label, init, workdir)
            release_freed_memory()  # the run's activations and optimiser state, before the next encoder
            if not res.from_cache or not (workdir / MANIFEST).exists():
                write_manifest(workdir, {"key": key, "config": cfg.to_dict(), "seed": seed, "code": SSL_CODE_VERSION,
                                         "train_wall_seconds": None if res.from_cache else res.wall_seconds,
                                         "train_cpu_seconds": None if res.from_cache else res.cpu_seconds,
                                         "train_threads": None if res.from_cache else torch.get_num_threads()})
        try:
            manifest = json.loads((workdir / MANIFEST).read_text())
        except (OSError, ValueError):
            manifest = {}
        self._memo[key] = CachedEncoder(res.encoder, cfg, res.image_passes, res.from_cache, res.losses,
                                        res.epoch_checkpoints, workdir, key, self.device,
                                        manifest.get("train_wall_seconds"), manifest.get("train_cpu_seconds"),
                                        manifest.get("files", {}).get("final.safetensors"), manifest.get("train_threads"))
        return self._memo[key]
