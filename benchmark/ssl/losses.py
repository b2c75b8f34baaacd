"""Contrastive losses as pure tensor functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's NT-Xent loss (Chen et al., 2020), the loss PoisonedEncoder's victim minimises.

    ``z1[i]`` and ``z2[i]`` are the projections of two views of image ``i``. Each of the 2B views
    has one positive (its partner) and 2B−2 negatives; the loss is the mean cross-entropy.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"expected two B×D tensors, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / temperature
    # A view is never its own negative.
    logits = logits.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
    targets = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return F.cross_entropy(logits, targets)
