"""Pre-processing defense: matrix completion (ME-Net, Yang et al. ICML 2019), Contrastive Poisoning's
answer (He, Zha, Katabi, ICLR 2023).

Every pre-training image is rebuilt from a random subset of its pixels by a low-rank estimate: each
colour channel is a 32×32 matrix; a random ``keep`` fraction of its pixels is observed, and the
matrix is estimated by soft-impute (Mazumder, Hastie, Tibshirani 2010): fill the unobserved entries
with the current estimate, project on its top ``rank`` singular directions, shrink the singular
values by ``shrink`` × the largest, repeat ``iterations`` times. The image returned is the low-rank
estimate everywhere (ME-Net's output), so a small ‖δ‖∞ perturbation — CP's 8/255, Witches' Brew's
16/255 — mostly high-rank, is removed on observed pixels too, while the image's coarse structure
survives. A sanitised copy of the same shape (nothing removed); its time is the defense stage's cost.

Speed: a full batched SVD of every 32×32 matrix per iteration would take ~2 h per 10k images at 100
iterations on 2 cores, so the top-``rank`` subspace is tracked by one warm-started power step per
iteration (two batched matmuls and a thin QR) and only the rank×32 projection is decomposed: 14×
faster (benchmarks/results/matrix_completion_speed.md: ~8 min per 10k images on a shared machine;
the estimate is an approximation of the full-SVD soft-impute, 0.19 apart after 20 iterations).

Defaults *(chosen; the papers do not pin them for 32×32 SimCLR)*: keep 0.5 (ME-Net's CIFAR-10 range
0.3–0.8), rank 8, shrink 0.01, 100 iterations — on a smooth image with a ±8/255 perturbation that
ends closer to the clean image than the perturbed input (tests/test_matrix_completion.py); without
shrinkage a rank-8 estimate over-fits the observed pixels, with fewer iterations it stays blurred.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from benchmark.core.errors import BenchmarkError
from .base import Defense, register_defense


def complete_low_rank(x: torch.Tensor, observed: torch.Tensor, rank: int, iterations: int, shrink: float = 0.0,
                      generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Soft-impute of a batch of matrices (B×H×W) from the entries where ``observed`` is True: the
    rank-≤``rank`` estimate, everywhere. ``shrink`` = 0 is hard impute."""
    fill = torch.where(observed, x, torch.zeros_like(x))
    basis = torch.linalg.qr(fill @ torch.randn(x.shape[-1], rank, generator=generator)).Q
    low = fill
    for _ in range(iterations):
        basis = torch.linalg.qr(fill @ (fill.transpose(1, 2) @ basis)).Q  # one power step on the subspace
        coeff = basis.transpose(1, 2) @ fill                               # rank × W
        if shrink > 0:
            u, s, vh = torch.linalg.svd(coeff, full_matrices=False)
            coeff = (u * (s - shrink * s[:, :1]).clamp_min(0)[:, None, :]) @ vh
        low = basis @ coeff
        fill = torch.where(observed, x, low)
    return low


@register_defense("matrix_completion")
class MatrixCompletion(Defense):
    stage = "pre"

    def __init__(self, keep: float = 0.5, rank: int = 8, shrink: float = 0.01, iterations: int = 100,
                 batch_size: int = 2048):
        if (not 0 < float(keep) <= 1 or not 1 <= int(rank) <= 32 or not 0 <= float(shrink) < 1
                or not 1 <= int(iterations) <= 10_000 or int(batch_size) < 1):
            raise BenchmarkError("matrix_completion needs 0 < keep <= 1, 1 <= rank <= 32, 0 <= shrink < 1, "
                                 f"1 <= iterations <= 10000, batch_size >= 1; got {keep}, {rank}, {shrink}, "
                                 f"{iterations}, {batch_size}")
        self.keep, self.rank, self.shrink = float(keep), int(rank), float(shrink)
        self.iterations, self.batch_size = int(iterations), int(batch_size)

    def sanitize(self, images: np.ndarray, rng: np.random.Generator, trainer=None) -> Optional[np.ndarray]:
        out = np.empty_like(images)
        g = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
        for start in range(0, len(images), self.batch_size):
            x = torch.from_numpy(images[start:start + self.batch_size]).permute(0, 3, 1, 2).float()  # N×3×H×W
            n, c, h, w = x.shape
            # One pixel mask per image, shared by its channels (a pixel is observed or not).
            observed = (torch.rand(n, 1, h, w, generator=g) < self.keep).expand(n, c, h, w).reshape(n * c, h, w)
            low = complete_low_rank(x.reshape(n * c, h, w), observed, self.rank, self.iterations, self.shrink, g)
            out[start:start + n] = low.reshape(n, c, h, w).permute(0, 2, 3, 1).round().clamp(0, 255).to(torch.uint8).numpy()
        return out
