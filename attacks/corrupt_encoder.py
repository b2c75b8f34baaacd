"""CorruptEncoder and CorruptEncoder+ (Zhang, Liu, Jia, Gong; CVPR 2024): backdoor data poisoning.

A poison is a background image with a reference object of the target class pasted flush at its left
or right edge and a trigger patch in the other half (the paper's theory-guided layout: poison width
≈ 2× object width, object within 5% of the edge, trigger horizontally between 1/8 and 7/8 of the
other half and vertically in the middle half). Two random crops of such a poison are often one of
the object and one of the trigger, so SimCLR pulls the trigger's features toward the target class.
CorruptEncoder+ spends ``support_fraction`` (paper: 20%) of the budget on *support* poisons — a
target-class support image joined with a reference, no trigger — which tighten the target class.

Choices at 32×32 (the paper works at 224×224), stated here and in the records:

- **object** — the whole reference image at half size (16×16, 2×2 average); the paper pastes a
  segmented object, which 32-pixel references do not provide;
- **background** — a random low-frequency colour field (a 4×4 grid of colours, bilinearly
  upsampled, plus mild noise): the attacker of our threat model holds no natural images beyond the
  references (the paper uses scene images);
- **trigger** — a ``trigger_size``² patch (default 5) of saturated colours drawn once per target
  from ``trigger_seed``; at test time it is stamped at the centre of every input (:meth:`stamp`);
- **references** — the first ``n_references`` (paper: 3) of the threat's references; the others
  are CorruptEncoder+'s support images.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchmark.core.errors import BenchmarkError

from .base import Attack, PoisonSet, register_attack

SIZE = 32


def half(image: np.ndarray, axis: int = -1) -> np.ndarray:
    """``image`` at half size along width (``axis=1``) or both sides (``-1``): 2-pixel averages."""
    x = image.astype(np.float32)
    if axis in (-1, 0):
        x = (x[0::2] + x[1::2]) / 2
    if axis in (-1, 1):
        x = (x[:, 0::2] + x[:, 1::2]) / 2
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def background(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A random low-frequency colour field: 4×4 colours upsampled bilinearly, plus noise of σ 8."""
    coarse = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BILINEAR), np.float32)
    return np.clip(np.rint(smooth + rng.normal(0, 8, smooth.shape)), 0, 255).astype(np.uint8)


def trigger_patch(seed: int, target_id: int, side: int) -> np.ndarray:
    """The target's trigger: ``side``² pixels, each channel 0 or 255 (fixed by seed and target)."""
    return (np.random.default_rng([seed, target_id]).integers(0, 2, (side, side, 3)) * 255).astype(np.uint8)


def stamp_centre(images: np.ndarray, patch: np.ndarray) -> np.ndarray:
    """A copy of uint8 N×32×32×3 ``images`` with ``patch`` pasted at their centre."""
    out = np.array(images, copy=True)
    side, at = len(patch), (SIZE - len(patch)) // 2
    out[:, at:at + side, at:at + side] = patch
    return out


def layout(rng: np.random.Generator, side: int, size: int = SIZE):
    """(object left column, object top row, trigger left column, trigger top row) for one poison:
    the object (size/2 wide) flush with a random edge (within 5%), the trigger in the other half."""
    obj = size // 2
    margin = int(0.05 * size)
    on_left = bool(rng.integers(2))
    ox = int(rng.integers(0, margin + 1)) if on_left else size - obj - int(rng.integers(0, margin + 1))
    oy = int(rng.integers(0, size - obj + 1))
    half_left = obj if on_left else 0
    lo, hi = half_left + size // 16, half_left + obj - size // 16 - side   # centred between 1/8 and 7/8 of the half
    tx = int(rng.integers(lo, max(lo, hi) + 1))
    ty = int(rng.integers(size // 4, max(size // 4, 3 * size // 4 - side) + 1))
    return ox, oy, tx, ty


@register_attack("corrupt_encoder")
class CorruptEncoder(Attack):
    kind = "backdoor"

    def __init__(self, n_references: int = 3, trigger_size: int = 5, trigger_seed: int = 0,
                 support_fraction: float = 0.0):
        if not 1 <= int(n_references) <= 100 or not 2 <= int(trigger_size) <= 12:
            raise BenchmarkError(f"corrupt_encoder needs 1 <= n_references <= 100 and 2 <= trigger_size <= 12, "
                                 f"got {n_references}, {trigger_size}")
        if not 0 <= float(support_fraction) < 1:
            raise BenchmarkError(f"corrupt_encoder support_fraction must be in [0, 1), got {support_fraction}")
        self.n_references, self.trigger_size = int(n_references), int(trigger_size)
        self.trigger_seed, self.support_fraction = int(trigger_seed), float(support_fraction)

    def stamp(self, images: np.ndarray, target_id: int) -> np.ndarray:
        """Test inputs with target ``target_id``'s trigger pasted at their centre (a copy)."""
        return stamp_centre(images, trigger_patch(self.trigger_seed, target_id, self.trigger_size))

    def _poison(self, reference: np.ndarray, trigger: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        img = background(rng)
        ox, oy, tx, ty = layout(rng, len(trigger))
        obj = half(reference)
        img[oy:oy + len(obj), ox:ox + len(obj)] = obj
        img[ty:ty + len(trigger), tx:tx + len(trigger)] = trigger
        return img

    def _support(self, support: np.ndarray, reference: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pair = [half(support, axis=1), half(reference, axis=1)]
        return np.concatenate(pair if rng.integers(2) else pair[::-1], axis=1)

    def craft(self, targets, rng, context=None) -> PoisonSet:
        images, ids, supports = [], [], 0
        for i, t in enumerate(targets):
            refs = t.references[:self.n_references]
            pool = t.references[self.n_references:]
            n_support = int(round(self.support_fraction * t.n_poisons)) if len(pool) else 0
            trigger = trigger_patch(self.trigger_seed, i, self.trigger_size)
            for j in range(t.n_poisons):
                ref = refs[int(rng.integers(len(refs)))]
                if j < n_support:
                    images.append(self._support(pool[int(rng.integers(len(pool)))], ref, rng))
                else:
                    images.append(self._poison(ref, trigger, rng))
                ids.append(i)
            supports += n_support
        shape = (0, SIZE, SIZE, 3)
        return PoisonSet(np.stack(images) if images else np.zeros(shape, np.uint8), np.asarray(ids, np.int64),
                         {"support_poisons": supports, "trigger_size": self.trigger_size, "object_size": SIZE // 2,
                          "background": "random low-frequency colour field"})


@register_attack("corrupt_encoder_plus")
class CorruptEncoderPlus(CorruptEncoder):
    """CorruptEncoder+: the same poisons, 20% of each budget spent on support poisons."""

    def __init__(self, n_references: int = 3, trigger_size: int = 5, trigger_seed: int = 0,
                 support_fraction: float = 0.2):
        super().__init__(n_references, trigger_size, trigger_seed, support_fraction)

