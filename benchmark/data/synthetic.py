"""A deterministic synthetic image world that needs no download.

Every image is a textured shape on a smooth, noisy background — enough class structure that
contrastive pre-training learns features a linear probe can read. Factors of variation:

* shape (6): disc, square, triangle, ring, cross, diamond — the label of ``synth_shapes``;
* pattern (5): solid, horizontal stripes, vertical stripes, checker, dots — the label of
  ``synth_patterns``;
* nuisance: position, size, rotation, foreground/background colours, background gradient, noise.

``synthetic`` (the pre-training pool) mixes all factors and is unlabeled. Images depend only on
(salt, dataset name, split, index range): the empty salt is the public world, the same bytes on
every machine; runs use their installation's secret salt (``world_salt.py`` says why).
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np

from .types import ImageDataset

SHAPES = ["disc", "square", "triangle", "ring", "cross", "diamond"]
PATTERNS = ["solid", "hstripes", "vstripes", "checker", "dots"]
SIZE = 32
CHUNK = 500

# Default split sizes; tiers take subsets with ``limit``.
SPLIT_SIZES = {
    ("synthetic", "train"): 20000,
    ("synthetic", "test"): 2000,
    ("synth_shapes", "train"): 6000,
    ("synth_shapes", "test"): 2000,
    ("synth_patterns", "train"): 5000,
    ("synth_patterns", "test"): 2000,
}
NAMES = sorted({name for name, _ in SPLIT_SIZES})


def _shape_mask(shape: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Soft-edged masks for a batch; u, v are rotated, scaled coordinates (B×S×S)."""
    r = np.sqrt(u * u + v * v)
    masks = np.zeros_like(u)
    sel = {name: shape == i for i, name in enumerate(SHAPES)}
    masks[sel["disc"]] = (r < 1.0)[sel["disc"]]
    masks[sel["square"]] = (np.maximum(abs(u), abs(v)) < 0.85)[sel["square"]]
    tri = (v < 0.8) & (v > -0.8 + 1.6 * abs(u) * 1.15 - 0.0) & (abs(u) < 0.95)
    masks[sel["triangle"]] = tri[sel["triangle"]]
    masks[sel["ring"]] = ((r < 1.0) & (r > 0.55))[sel["ring"]]
    cross = ((abs(u) < 0.3) & (abs(v) < 1.0)) | ((abs(v) < 0.3) & (abs(u) < 1.0))
    masks[sel["cross"]] = cross[sel["cross"]]
    masks[sel["diamond"]] = ((abs(u) + abs(v)) < 1.05)[sel["diamond"]]
    return masks


def _pattern(pattern: np.ndarray, x: np.ndarray, y: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """Pattern intensity in [0, 1] for a batch (B×S×S), in image coordinates."""
    f = freq[:, None, None]
    out = np.ones_like(x)
    stripes_h = (np.sin(y * f) > 0).astype(x.dtype)
    stripes_v = (np.sin(x * f) > 0).astype(x.dtype)
    checker = ((np.sin(x * f) > 0) ^ (np.sin(y * f) > 0)).astype(x.dtype)
    dots = ((np.sin(x * f) * np.sin(y * f)) > 0.5).astype(x.dtype)
    for i, pat in enumerate([None, stripes_h, stripes_v, checker, dots]):
        if pat is not None:
            sel = pattern == i
            out[sel] = 0.35 + 0.65 * pat[sel]
    return out


def render(shape: np.ndarray, pattern: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Render a batch of images (uint8 B×32×32×3) for the given shape and pattern ids."""
    b = len(shape)
    grid = (np.arange(SIZE) + 0.5) / SIZE * 2 - 1  # pixel centres in [-1, 1]
    y, x = np.meshgrid(grid, grid, indexing="ij")
    x = np.broadcast_to(x, (b, SIZE, SIZE)).astype(np.float32)
    y = np.broadcast_to(y, (b, SIZE, SIZE)).astype(np.float32)

    cx, cy = rng.uniform(-0.3, 0.3, b), rng.uniform(-0.3, 0.3, b)
    scale = rng.uniform(0.45, 0.7, b)
    angle = rng.uniform(0, 2 * np.pi, b)
    dx, dy = x - cx[:, None, None], y - cy[:, None, None]
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u = (c * dx + s * dy) / scale[:, None, None]
    v = (-s * dx + c * dy) / scale[:, None, None]
    mask = _shape_mask(shape, u, v)

    fg = rng.uniform(0.25, 1.0, (b, 3))
    bg = rng.uniform(0.0, 0.75, (b, 3))
    # Keep foreground and background apart so the shape is always visible.
    bg = np.where(np.abs(fg - bg).sum(1, keepdims=True) < 0.6, 1.0 - fg * 0.8, bg)
    grad_dir = rng.uniform(0, 2 * np.pi, b)
    grad = (np.cos(grad_dir)[:, None, None] * x + np.sin(grad_dir)[:, None, None] * y) * 0.15
    freq = rng.uniform(7.0, 12.0, b)
    pat = _pattern(pattern, x, y, freq)

    fg_img = fg[:, None, None, :] * pat[..., None]
    bg_img = bg[:, None, None, :] + grad[..., None]
    img = mask[..., None] * fg_img + (1 - mask[..., None]) * bg_img
    img = img + rng.normal(0, 0.04, img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _seed(name: str, split: str, salt: str = "") -> int:
    if not salt:  # the public world keeps the seeds every earlier release used
        return zlib.crc32(f"cl-poisonbench/{name}/{split}".encode())
    return int.from_bytes(hashlib.sha256(f"{salt}/cl-poisonbench/{name}/{split}".encode()).digest()[:16], "big")


def load_synthetic(name: str, split: str, limit: int | None = None, salt: str = "") -> ImageDataset:
    """Generate a synthetic split. Deterministic: the same (salt, name, split) gives the same bytes."""
    key = (name, split)
    if key not in SPLIT_SIZES:
        raise KeyError(key)
    n = SPLIT_SIZES[key] if limit is None else min(limit, SPLIT_SIZES[key])
    rng = np.random.default_rng(_seed(name, split, salt))
    shape_all = rng.integers(0, len(SHAPES), SPLIT_SIZES[key])
    pattern_all = rng.integers(0, len(PATTERNS), SPLIT_SIZES[key])
    shape, pattern = shape_all[:n], pattern_all[:n]
    chunks = []
    # Fixed-size chunks, each with its own seed, so a prefix (``limit``) has the same bytes as
    # the full split, and memory stays bounded.
    for start in range(0, n, CHUNK):
        stop = min(SPLIT_SIZES[key], start + CHUNK)
        chunk_rng = np.random.default_rng([_seed(name, split, salt), start])
        chunks.append(render(shape_all[start:stop], pattern_all[start:stop], chunk_rng))
    images = np.concatenate(chunks)[:n] if chunks else np.zeros((0, SIZE, SIZE, 3), np.uint8)
    if name == "synth_shapes":
        return ImageDataset(name, images, shape.astype(np.int64), list(SHAPES))
    if name == "synth_patterns":
        return ImageDataset(name, images, pattern.astype(np.int64), list(PATTERNS))
    return ImageDataset(name, images, np.full(n, -1, np.int64), [])
