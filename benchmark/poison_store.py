"""Crafted poisons on disk, for attacks whose crafting is an optimisation worth doing once.

Why: Witches' Brew brews its poisons by gradient matching against the seed's clean encoder
(minutes on a CPU even at the cpu tier's 40 steps x 1 restart), and the same poisons serve every
defense of that (attack, seed) — 7 jobs per seed on the cpu grid, plus the named experiments'
cells. The poisons are a pure function of the attack (name, parameters, code version), what the
attacker is given (target images, references, budgets), the random stream (the cell's seed) and
the surrogate encoder (its content key), so they are content-addressed like encoders and
features: crafted once, verified by sha256 on every read, recrafted with a warning when the
checksum does not match, written atomically.

Only attacks that set ``cache_poisons = True`` are stored; cheap, closed-form attacks
(PoisonedEncoder, ICP) are recomputed, so a change to their code can never meet stale poisons.
An attack that stores its poisons must bump its ``version`` whenever its output changes.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from filelock import FileLock

from attacks.base import PoisonSet

from .core.store import ChecksumMismatch, config_hash, read_verified, update_with_array, write_verified

POISON_CODE_VERSION = "poisons-v1"  # bump when the stored layout changes


def dataset_sha256(images: np.ndarray, labels: np.ndarray) -> str:
    """Digest of what a release attacker is given: the victim's whole set and its labels."""
    h = hashlib.sha256()
    update_with_array(h, images)
    update_with_array(h, np.asarray(labels, np.int64))
    return h.hexdigest()


def targets_sha256(targets) -> str:
    """Digest of what the attacker is given, in order: each target image, its references, its budget."""
    h = hashlib.sha256()
    for t in targets:
        update_with_array(h, t.image)
        update_with_array(h, t.references)
        h.update(str(int(t.n_poisons)).encode())
    return h.hexdigest()


class PoisonStore:
    """``get(attack, given, seed, surrogate_key, craft)`` → the attack's PoisonSet, from disk when
    the attack stores its poisons and a verified copy exists. ``given`` is the digest of what the
    attacker was given: :func:`targets_sha256` of its targets, or :func:`dataset_sha256` of the set
    a release attack perturbs."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def key(self, attack, given: str, seed: int, surrogate_key: Optional[str]) -> str:
        # The field keeps its first name, "targets", so poisons stored before release attacks keep their keys.
        return config_hash({"attack": attack.name, "params": attack.params(), "version": getattr(attack, "version", "1"),
                            "targets": given, "seed": int(seed), "surrogate": surrogate_key,
                            "code": POISON_CODE_VERSION}, 20)

    def path(self, attack, given: str, seed: int, surrogate_key: Optional[str]) -> Path:
        return self.root / attack.name / f"{self.key(attack, given, seed, surrogate_key)}.npz"

    def lookup(self, attack, given: str, seed: int, surrogate_key: Optional[str]):
        """The stored PoisonSet, or None when the attack does not store its poisons or none is stored
        (a copy failing its checksum counts as none, with a warning)."""
        if not getattr(attack, "cache_poisons", False):
            return None
        path = self.path(attack, given, seed, surrogate_key)
        try:
            data = read_verified(path)
        except ChecksumMismatch:
            warnings.warn(f"poison cache {path} fails its checksum; crafting the poisons again", RuntimeWarning,
                          stacklevel=2)
            return None
        if data is None:
            return None
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return PoisonSet(z["images"], z["target_ids"], dict(json.loads(str(z["meta"])), from_cache=True))

    def get(self, attack, given: str, seed: int, surrogate_key: Optional[str], craft: Callable):
        """``lookup``, else ``craft()`` — stored when the attack stores its poisons."""
        if not getattr(attack, "cache_poisons", False):
            return craft()
        path = self.path(attack, given, seed, surrogate_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.with_suffix(".lock"))):  # two runners on one cache brew once
            hit = self.lookup(attack, given, seed, surrogate_key)
            if hit is not None:
                return hit
            poisons = craft()
            buf = io.BytesIO()
            np.savez(buf, images=poisons.images, target_ids=poisons.target_ids,
                     meta=np.array(json.dumps(poisons.meta, sort_keys=True, default=str)))
            write_verified(path, buf.getvalue())
        return PoisonSet(poisons.images, poisons.target_ids, dict(poisons.meta, from_cache=False))
