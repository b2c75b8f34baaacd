"""Pre-processing defense: duplicate removal + K-means detection (PoisonedEncoder paper §6.1).

The paper's reasoning: poisons built from one target input share its pixels, so they are exact
duplicates of each other (same reference and layout) or lie unusually close together. The
defense (1) removes exact duplicates, keeping one copy; (2) clusters the pixel vectors with
K-means (K = 100, L2; faiss); (3) flags the ``n_flagged`` clusters whose average pairwise L2
distance is smallest and pre-trains on the rest. Fig. 9: it catches poisons built with
crop_scale 1 and misses those with crop_scale 0.8.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
import torch

from benchmark.core.errors import BenchmarkError

from .base import Defense, register_defense


def duplicate_mask(images: np.ndarray) -> np.ndarray:
    """Keep-mask that keeps the first copy of every exactly repeated image."""
    flat = np.ascontiguousarray(images.reshape(len(images), -1))
    _, first = np.unique(flat, axis=0, return_index=True)
    keep = np.zeros(len(images), bool)
    keep[first] = True
    return keep


def mean_pairwise_distance(x: np.ndarray, chunk: int = 1024) -> float:
    """Average L2 distance over unordered pairs of rows (inf for fewer than two rows)."""
    n = len(x)
    if n < 2:
        return float("inf")
    t = torch.from_numpy(np.asarray(x, np.float32))
    total = 0.0
    for start in range(0, n, chunk):
        total += float(torch.cdist(t[start:start + chunk], t).double().sum())
    return total / (n * (n - 1))  # the diagonal is 0; each pair was counted twice


def tightest_clusters(vectors: np.ndarray, assignment: np.ndarray, n_flagged: int) -> np.ndarray:
    """Cluster ids with the smallest average pairwise distance (ties: smaller id first)."""
    ids = np.unique(assignment)
    spread = np.array([mean_pairwise_distance(vectors[assignment == c]) for c in ids])
    order = np.lexsort((ids, spread))
    return ids[order[:n_flagged]]


def kmeans_assign(vectors: np.ndarray, k: int, niter: int, seed: int) -> np.ndarray:
    """faiss K-means (L2) on float32 rows; returns each row's cluster."""
    import faiss  # imported here: only this defense needs it

    k = min(k, len(vectors))
    km = faiss.Kmeans(vectors.shape[1], k, niter=niter, seed=int(seed), verbose=False)
    km.train(vectors)
    _, assign = km.index.search(vectors, 1)
    return assign[:, 0].astype(np.int64)


@register_defense("kmeans")
class KMeansDetection(Defense):
    stage = "pre"

    def __init__(self, k: int = 100, n_flagged: int = 4, niter: int = 20, remove_duplicates: bool = True):
        if int(k) < 1 or int(n_flagged) < 0 or int(niter) < 1:
            raise BenchmarkError(f"kmeans needs k >= 1, n_flagged >= 0, niter >= 1; got {k}, {n_flagged}, {niter}")
        self.k, self.n_flagged, self.niter = int(k), int(n_flagged), int(niter)
        self.remove_duplicates = bool(remove_duplicates)
        self._stats: Dict[str, Any] = {}


    def sanitize(self, images: np.ndarray, rng: np.random.Generator, trainer=None) -> Optional[np.ndarray]:
        keep = duplicate_mask(images) if self.remove_duplicates else np.ones(len(images), bool)
        rest = np.flatnonzero(keep)
        vectors = images[rest].reshape(len(rest), -1).astype(np.float32) / 255.0
        assign = kmeans_assign(vectors, self.k, self.niter, int(rng.integers(2**31 - 1)))
        flagged = tightest_clusters(vectors, assign, self.n_flagged)
        in_flagged = np.isin(assign, flagged)
        keep[rest[in_flagged]] = False
        self._stats = {"duplicates_removed": int(len(images) - len(rest)),
                       "flagged_cluster_sizes": sorted(int((assign == c).sum()) for c in flagged)}
        return keep

    def detection_stats(self) -> Dict[str, Any]:
        return dict(self._stats)
