"""Datasets as uint8 arrays N×32×32×3 with labels and class names.

Sources, tried in this order by :func:`load_split`:
(a) ``synthetic`` — generated in code, deterministic, no download (the default);
(b) ``--data-root DIR`` holding ``NAME/{train,test}.tar`` or extracted ``NAME/{train,test}/``;
(c) torchvision download loaders for users with internet (``--download``).
"""

from .types import ImageDataset
from .sources import load_split

__all__ = ["ImageDataset", "load_split"]
