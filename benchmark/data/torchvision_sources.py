"""Download loaders for users with internet (never used by tests or the offline tiers).

STL10 and EuroSAT — the paper's downstream sets — exist only here; images are resized to
32×32 like the paper does (§5.1). EuroSAT has no official split: we split it evenly at random
(seed 0), as the paper did.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import BenchmarkError
from .types import ImageDataset

DOWNLOADABLE = ("cifar10", "stl10", "eurosat", "gtsrb", "svhn")


def _to_uint8(ds) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image  # why: only downloads decode PIL images; local data are uint8 tars

    images, labels = [], []
    for img, label in ds:
        if not isinstance(img, Image.Image):
            img = Image.fromarray(np.asarray(img))
        img = img.convert("RGB")
        if img.size != (32, 32):
            img = img.resize((32, 32), Image.BICUBIC)
        images.append(np.asarray(img, dtype=np.uint8))
        labels.append(int(label))
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def load_torchvision(name: str, split: str, root: str | Path) -> ImageDataset:
    """Download (if needed) and load one split through torchvision."""
    import torchvision.datasets as tvd  # why: ~1 s to import, and only a --download-root run needs it

    root = str(root)
    train = split == "train"
    try:
        if name == "cifar10":
            ds = tvd.CIFAR10(root, train=train, download=True)
            classes = list(ds.classes)
        elif name == "stl10":
            ds = tvd.STL10(root, split="train" if train else "test", download=True)
            classes = list(ds.classes)
        elif name == "svhn":
            ds = tvd.SVHN(root, split="train" if train else "test", download=True)
            classes = [str(i) for i in range(10)]
        elif name == "gtsrb":
            ds = tvd.GTSRB(root, split="train" if train else "test", download=True)
            classes = [str(i) for i in range(43)]
        elif name == "eurosat":
            full = tvd.EuroSAT(root, download=True)
            perm = np.random.default_rng(0).permutation(len(full))
            half = len(full) // 2
            idx = perm[:half] if train else perm[half:]
            import torch.utils.data as tud  # why: EuroSAT alone needs a Subset

            ds = tud.Subset(full, idx.tolist())
            classes = list(full.classes)
        else:
            raise BenchmarkError(f"no download loader for '{name}' (have: {', '.join(DOWNLOADABLE)})")
    except (RuntimeError, OSError) as exc:
        raise BenchmarkError(f"could not download {name}: {exc}") from exc
    images, labels = _to_uint8(ds)
    return ImageDataset(name, images, labels, classes)
