"""Resolve a (dataset name, split) to an :class:`ImageDataset` from the configured source."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from ..core.errors import BenchmarkError
from . import synthetic
from .image_folder import load_image_folder
from .torchvision_sources import DOWNLOADABLE, load_torchvision
from .types import ImageDataset
from .world_salt import world_salt


def stratified_indices(labels: np.ndarray, limit: Optional[int], seed: int = 0) -> np.ndarray:
    """Sorted row indices of a deterministic subset of at most ``limit`` rows, balanced over
    labels when labeled (every row when ``limit`` is None or not smaller than the set)."""
    n = len(labels)
    if limit is None or limit >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if (labels < 0).all():
        return np.sort(rng.permutation(n)[:limit])
    classes = np.unique(labels)
    per_class = limit // len(classes)
    chosen = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        chosen.append(rng.permutation(members)[:per_class])
    idx = np.concatenate(chosen)
    remaining = np.setdiff1d(np.arange(n), idx)
    idx = np.concatenate([idx, rng.permutation(remaining)[: limit - len(idx)]])
    return np.sort(idx)


def stratified_subset(ds: ImageDataset, limit: Optional[int], seed: int = 0) -> ImageDataset:
    """A deterministic subset of at most ``limit`` images, balanced over labels when labeled.

    The seed is fixed (not the run seed) so every run of a tier sees the same data: seeds vary
    training randomness and the threat draw, not the dataset.
    """
    if limit is None or limit >= len(ds):
        return ds
    return ds.subset(stratified_indices(ds.labels, limit, seed))


@lru_cache(maxsize=16)
def _load_full(name: str, split: str, data_root: Optional[str], download_root: Optional[str], salt: str) -> ImageDataset:
    if name in synthetic.NAMES:
        return synthetic.load_synthetic(name, split, salt=salt)
    if data_root is not None:
        return load_image_folder(data_root, name, split)
    if download_root is not None:
        return load_torchvision(name, split, download_root)
    raise BenchmarkError(
        f"dataset '{name}' needs --data-root DIR (with {name}/{split}.tar) or --download-root DIR "
        f"(downloads {', '.join(DOWNLOADABLE)}); offline, use the synthetic tier")


def load_split(name: str, split: str, data_root: Optional[str | Path] = None,
               download_root: Optional[str | Path] = None, limit: Optional[int] = None,
               salt: Optional[str] = None) -> ImageDataset:
    """Load one split; ``limit`` takes a fixed stratified subset. A synthetic split is drawn with
    ``salt`` ("" the public world; None this installation's secret one, :func:`world_salt`)."""
    if split not in ("train", "test"):
        raise BenchmarkError(f"unknown split '{split}' (train or test)")
    if salt is None:
        salt = world_salt() if name in synthetic.NAMES else ""
    ds = _load_full(name, split, None if data_root is None else str(Path(data_root).resolve()),
                    None if download_root is None else str(download_root), salt)
    return stratified_subset(ds, limit)
