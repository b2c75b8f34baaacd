"""Contrastive losses as pure tensor functions."""

from __future__ import annotations

import math

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


def moco_infonce(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """MoCo's InfoNCE (He et al. 2020; v2: Chen et al. 2020): each query ``q[i]``'s positive is its key
    ``k[i]``, its negatives the K past keys in ``queue`` (K×D, already normalised); ``q`` and ``k``
    are normalised here. Mean cross-entropy with the positive as class 0."""
    if q.shape != k.shape or q.ndim != 2 or queue.ndim != 2 or queue.shape[1] != q.shape[1]:
        raise ValueError(f"expected B×D queries and keys and a K×D queue, got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(queue.shape)}")
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL's regression loss (Grill et al. 2020): 2 − 2·cos(p, z), the squared distance of the
    normalised prediction ``p`` and target projection ``z``, averaged over the batch."""
    if p.shape != z.shape or p.ndim != 2:
        raise ValueError(f"expected two B×D tensors, got {tuple(p.shape)} and {tuple(z.shape)}")
    return (2 - 2 * F.cosine_similarity(p, z, dim=1)).mean()


@torch.no_grad()
def ema_update(target: torch.nn.Module, online: torch.nn.Module, momentum: float) -> None:
    """target ← momentum · target + (1 − momentum) · online, parameter by parameter (buffers — BatchNorm
    statistics — are the target's own, gathered in its forward passes)."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.mul_(momentum).add_(o.detach(), alpha=1 - momentum)


@torch.no_grad()
def enqueue(queue: torch.Tensor, pointer: torch.Tensor, keys: torch.Tensor) -> None:
    """Write ``keys`` (normalised) into the ring ``queue`` from ``pointer`` on, wrapping, and advance
    the pointer (a 1-element long tensor: a buffer, so a checkpoint holds it)."""
    n, size = len(keys), len(queue)
    kept = F.normalize(keys.detach(), dim=1)[-size:]  # more keys than slots: the first would be overwritten
    start = (int(pointer) + n - len(kept)) % size
    queue[(start + torch.arange(len(kept), device=queue.device)) % size] = kept
    pointer.fill_((int(pointer) + n) % size)


def cosine_momentum(base: float, progress: float) -> float:
    """BYOL's target-momentum schedule: from ``base`` at the start to 1 at the end, on a cosine."""
    return 1 - (1 - base) * (math.cos(math.pi * min(max(progress, 0.0), 1.0)) + 1) / 2
