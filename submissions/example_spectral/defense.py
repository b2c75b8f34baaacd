"""Spectral-signature filter on warm-up features — the template submission.

Tran, Li, Madry, "Spectral Signatures in Backdoor Attacks" (NeurIPS 2018) score each training
input by its squared projection on the top singular vector of its class's centred feature matrix;
poisons that share a feature direction stand out. Pre-training data has no labels, so this plugin
(1) pre-trains a short warm-up encoder on the unlabeled set through the harness's trainer,
(2) groups its features with K-means in place of classes, (3) removes the ``remove_fraction`` of
each group with the largest spectral score, and hands the rest to normal pre-training.

A PoisonedEncoder poison shares half its pixels with its target, so the poisons of one target may
share such a direction; whether a warm-up encoder already sees it is what the leaderboard measures.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Optional

import numpy as np

from benchmark.core.errors import BenchmarkError
from benchmark.evaluate import extract_features
from defenses.base import Defense, register_defense


def spectral_scores(features: np.ndarray) -> np.ndarray:
    """Squared projection of each centred row on the top right-singular vector."""
    centred = features - features.mean(axis=0, keepdims=True)
    if len(features) < 2 or not np.any(centred):
        return np.zeros(len(features))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[0]) ** 2


def cluster(features: np.ndarray, k: int, seed: int) -> np.ndarray:
    import faiss  # imported here, as the built-in kmeans defense does: only this step needs it
    k = max(1, min(k, len(features) // 2))
    km = faiss.Kmeans(features.shape[1], k, niter=20, seed=seed, verbose=False)
    km.train(np.ascontiguousarray(features, np.float32))
    return km.index.search(np.ascontiguousarray(features, np.float32), 1)[1][:, 0]


@register_defense("example_spectral")
class SpectralSignature(Defense):
    stage = "pre"
    version = "1.0"
    authors = "CL-PoisonBench maintainers (template)"

    def __init__(self, warmup_epochs: int = 2, groups: int = 10, remove_fraction: float = 0.05):
        if int(warmup_epochs) < 1 or int(groups) < 1 or not 0 <= float(remove_fraction) < 1:
            raise BenchmarkError("example_spectral needs warmup_epochs >= 1, groups >= 1, 0 <= remove_fraction < 1")
        self.warmup_epochs, self.groups, self.remove_fraction = int(warmup_epochs), int(groups), float(remove_fraction)


    def sanitize(self, images: np.ndarray, rng: np.random.Generator, trainer=None) -> Optional[np.ndarray]:
        if trainer is None:
            raise BenchmarkError("example_spectral needs the harness's trainer for its warm-up encoder")
        cfg = replace(trainer.base_pretrain, epochs=self.warmup_epochs, checkpoint_epochs=())
        warm = trainer.train(images, cfg, label="spectral warm-up")
        feats = extract_features(warm.encoder, images)
        groups = cluster(feats, self.groups, int(rng.integers(2**31 - 1)))
        keep = np.ones(len(images), bool)
        for g in np.unique(groups):
            idx = np.flatnonzero(groups == g)
            n_remove = math.floor(self.remove_fraction * len(idx))
            if n_remove:
                keep[idx[np.argsort(-spectral_scores(feats[idx]), kind="stable")[:n_remove]]] = False
        return keep
