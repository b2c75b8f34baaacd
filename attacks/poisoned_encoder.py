"""PoisonedEncoder (Liu, Jia, Gong; USENIX Security 2022), Algorithm 1.

Each poison joins a target input and a reference input of its target class side by side or one
above the other, then resizes the pair to the input size (§4.3, Fig. 4). Two random crops of such
a poison are often one of the target and one of the reference, so SimCLR pulls their features
together — which is the outer objective (Eq. 3) the attacker wants.

``crop_scale`` < 1 first crops a random square of side ``crop_scale``·32 from each image, the
evasion knob against duplicate/K-means detection (§6.1, Fig. 8–9).
"""

from __future__ import annotations

from typing import List, Sequence

import numpy as np
from PIL import Image

from benchmark.core.errors import BenchmarkError

from .base import Attack, AttackTarget, PoisonSet, register_attack

LAYOUTS = ("target_top", "reference_top", "target_left", "reference_left")


def random_square_crop(image: np.ndarray, crop_scale: float, rng: np.random.Generator) -> np.ndarray:
    """A random square of side round(crop_scale·side) (crop_scale 1 returns the image)."""
    h, w = image.shape[:2]
    side = max(1, int(round(crop_scale * min(h, w))))
    if side >= min(h, w):
        return image
    top = int(rng.integers(0, h - side + 1))
    left = int(rng.integers(0, w - side + 1))
    return image[top:top + side, left:left + side]


def combine(target: np.ndarray, reference: np.ndarray, layout: str, size: int = 32) -> np.ndarray:
    """Concatenate per ``layout`` and resize (bicubic) to size×size: one poisoning input."""
    if layout == "target_top":
        joined = np.concatenate([target, reference], axis=0)
    elif layout == "reference_top":
        joined = np.concatenate([reference, target], axis=0)
    elif layout == "target_left":
        joined = np.concatenate([target, reference], axis=1)
    elif layout == "reference_left":
        joined = np.concatenate([reference, target], axis=1)
    else:
        raise ValueError(f"unknown layout {layout!r}")
    return np.asarray(Image.fromarray(joined).resize((size, size), Image.BICUBIC), dtype=np.uint8)


@register_attack("poisoned_encoder")
class PoisonedEncoder(Attack):

    def __init__(self, layouts: Sequence[str] = LAYOUTS, crop_scale: float = 1.0):
        bad = [name for name in layouts if name not in LAYOUTS]
        if bad or not layouts:
            raise BenchmarkError(f"poisoned_encoder layouts must be a non-empty subset of {list(LAYOUTS)}, got {list(layouts)}")
        if not 0 < crop_scale <= 1:
            raise BenchmarkError(f"poisoned_encoder crop_scale must be in (0, 1], got {crop_scale}")
        self.layouts = tuple(layouts)
        self.crop_scale = float(crop_scale)


    def craft(self, targets: List[AttackTarget], rng: np.random.Generator, context=None) -> PoisonSet:
        """Algorithm 1, per target: its budget of (target, random reference, random layout) pairs.

        The paper picks a target at random for each poison; giving each target exactly its
        budget instead is the same in expectation and makes the per-target rate exact.
        """
        images, ids = [], []
        for tid, t in enumerate(targets):
            size = t.image.shape[0]
            for _ in range(t.n_poisons):
                ref = t.references[int(rng.integers(len(t.references)))]
                layout = self.layouts[int(rng.integers(len(self.layouts)))]
                images.append(combine(random_square_crop(t.image, self.crop_scale, rng),
                                      random_square_crop(ref, self.crop_scale, rng), layout, size))
                ids.append(tid)
        if not images:
            return PoisonSet(np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, np.int64))
        return PoisonSet(np.stack(images), np.asarray(ids, np.int64))
