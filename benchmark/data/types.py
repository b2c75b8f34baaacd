"""The one in-memory dataset type every part of the benchmark exchanges."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import numpy as np


@dataclass(frozen=True)
class ImageDataset:
    """Images as uint8 ``N×H×W×3`` plus integer labels (``-1`` when unlabeled)."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise ValueError(f"{self.name}: images must be uint8 N×H×W×3, got "
                             f"{self.images.dtype} {self.images.shape}")
        if len(self.labels) != len(self.images):
            raise ValueError(f"{self.name}: {len(self.labels)} labels for {len(self.images)} images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, indices: np.ndarray, name: str | None = None) -> "ImageDataset":
        idx = np.asarray(indices)
        return ImageDataset(name or self.name, self.images[idx], self.labels[idx], list(self.class_names))
