"""Contrastive Poisoning, CP (He, Zha, Katabi, "Indiscriminate Poisoning Attacks on Unsupervised
Contrastive Learning", ICLR 2023) — an *indiscriminate* attack by the publisher of the data.

The attacker releases the victim's pre-training set with a perturbation δ, ‖δ‖∞ ≤ ε = 8/255, that
*minimises* the contrastive loss: the perturbations become a shortcut that aligns the two views of
an image, so the encoder learns δ instead of the images' content and its features lose downstream
accuracy (paper: SimCLR on CIFAR-10, linear probe ~91% → ~45% sample-wise; class-wise CP-C 68.0).

The paper's alternation (its Alg. 1, ALGORITHMS.md): ``encoder_epochs`` of SimCLR on the poisoned
set, then, batch by batch over the whole set, ``pgd_steps`` signed-gradient steps on δ (step
``step`` × ε) that lower the NT-Xent loss of two views drawn through the victim's own augmentation —
crop, flip, colour jitter and grayscale are ``grid_sample`` and arithmetic
(:mod:`benchmark.ssl.augment`), so the gradient reaches δ through them — δ kept in the ε-ball and
x + δ a valid image; ``rounds`` times.

Variants (``mode``): ``"sample"`` — one δ per image (CP-S); ``"class"`` — one δ per class (CP-C; the
publisher knows its labels), whose gradient sums over the class's images in the batch. One code
path: a δ table and the row each image reads (its index, or its label). ``"random"`` is the control,
not an attack: each pixel of each image moved by ±ε with a fair coin and no optimisation (the corners
of the ball, where CP's signed steps end up) — what the same budget costs when it is not a shortcut.

Adaptation *(chosen; the paper trains its surrogate from scratch for hundreds of epochs)*: the
surrogate starts from the harness's (the public backbone with a fresh projection head under
continued pre-training; the seed's clean encoder from scratch) and the schedule is short — 4 rounds
of 1 encoder epoch and 5 δ steps per batch, about 24 SimCLR epochs of compute. Its cost is in the
record (``craft_seconds``, ``image_passes``).
"""

from __future__ import annotations

import time
from typing import Any, Dict

import numpy as np
import torch

from benchmark.core.errors import BenchmarkError
from benchmark.ssl.augment import view_pair
from benchmark.ssl.losses import nt_xent

from .base import Attack, PoisonSet, register_attack

MODES = ("sample", "class", "random")


def contrastive_loss(model, x: torch.Tensor, cfg, g: torch.Generator) -> torch.Tensor:
    """NT-Xent of two augmented views of the float batch ``x`` (differentiable in ``x``)."""
    v1, v2 = view_pair(x, cfg.augment, g)
    z = model(torch.cat([v1, v2]).contiguous(memory_format=torch.channels_last))
    return nt_xent(z[:len(x)], z[len(x):], cfg.temperature)


def delta_step(model, x: torch.Tensor, deltas: torch.Tensor, rows: torch.Tensor, cfg, g: torch.Generator,
               alpha: float, eps: float) -> float:
    """One signed step of the δ rows ``rows`` (one per image of ``x``) *down* the contrastive loss,
    projected on the ε-ball, in place; returns the loss before the step. Rows shared by several
    images (class-wise) step along their summed gradient."""
    table = deltas.detach().requires_grad_(True)
    loss = contrastive_loss(model, (x + table[rows]).clamp(0, 1), cfg, g)
    (grad,) = torch.autograd.grad(loss, table)
    with torch.no_grad():
        touched = torch.unique(rows)
        deltas[touched] = (deltas[touched] - alpha * grad[touched].sign()).clamp(-eps, eps)
    return float(loss.detach())


def encoder_epoch(model, opt, data: torch.Tensor, deltas: torch.Tensor, rows: torch.Tensor, cfg,
                  g: torch.Generator, batch: int) -> float:
    """One SimCLR epoch of the surrogate on the currently poisoned set; the mean loss."""
    model.train()
    perm = torch.randperm(len(data), generator=g, device=data.device)
    total, steps = 0.0, len(data) // batch
    for s in range(steps):
        idx = perm[s * batch:(s + 1) * batch]
        loss = contrastive_loss(model, (data[idx] + deltas[rows[idx]]).clamp(0, 1), cfg, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach())
    return total / max(steps, 1)


def delta_epoch(model, data: torch.Tensor, deltas: torch.Tensor, rows: torch.Tensor, cfg, g: torch.Generator,
                batch: int, pgd_steps: int, alpha: float, eps: float) -> float:
    """``pgd_steps`` δ steps on every batch of the set (in order); the mean loss before the last step."""
    model.train()  # BatchNorm as the victim trains it: batch statistics
    for p in model.parameters():
        p.requires_grad_(False)
    total, batches = 0.0, 0
    for start in range(0, len(data), batch):
        x, r = data[start:start + batch], rows[start:start + batch]
        if len(x) < 2:  # NT-Xent needs a negative
            continue
        for _ in range(pgd_steps):
            last = delta_step(model, x, deltas, r, cfg, g, alpha, eps)
        total, batches = total + last, batches + 1
    for p in model.parameters():
        p.requires_grad_(True)
    return total / max(batches, 1)


@register_attack("contrastive_poisoning")
class ContrastivePoisoning(Attack):
    kind = "indiscriminate"
    threat = "release"
    needs_surrogate = True
    cache_poisons = True  # minutes of alternating optimisation; every defense of the seed reuses it

    def __init__(self, mode: str = "sample", eps: float = 8 / 255, step: float = 0.1, rounds: int = 4,
                 encoder_epochs: int = 1, pgd_steps: int = 5):
        if (mode not in MODES or not 0 < float(eps) <= 1 or not 0 < float(step) <= 1 or int(rounds) < 1
                or int(encoder_epochs) < 0 or int(pgd_steps) < 1):
            raise BenchmarkError(f"contrastive_poisoning needs mode in {MODES}, 0 < eps <= 1, 0 < step <= 1, "
                                 f"rounds >= 1, encoder_epochs >= 0, pgd_steps >= 1; got {mode!r}, {eps}, {step}, "
                                 f"{rounds}, {encoder_epochs}, {pgd_steps}")
        self.mode, self.eps, self.step = mode, float(eps), float(step)
        self.rounds, self.encoder_epochs, self.pgd_steps = int(rounds), int(encoder_epochs), int(pgd_steps)

    @property
    def linf_budget(self) -> int:
        """The largest change of a pixel value (0–255) the release may make: ε, rounded."""
        return int(round(self.eps * 255))

    def poison_release(self, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                       context=None) -> PoisonSet:
        if context is None or getattr(context, "surrogate", None) is None:
            raise BenchmarkError("contrastive_poisoning needs a surrogate SimCLR model (the harness lends one)")
        cfg = context.surrogate_cfg
        model = context.surrogate()
        dev = next(model.parameters()).device
        g = torch.Generator(device=dev).manual_seed(int(rng.integers(2**62)))
        data = torch.from_numpy(np.ascontiguousarray(images)).to(dev).permute(0, 3, 1, 2).float().div(255)
        labels = np.asarray(labels, np.int64)
        rows = torch.from_numpy(labels if self.mode == "class" else np.arange(len(images))).to(dev)
        deltas = torch.zeros(int(rows.max()) + 1 if len(rows) else 0, *data.shape[1:], device=dev)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        batch = min(cfg.batch_size, len(images))
        start, history = time.perf_counter(), []
        if self.mode == "random":
            signs = torch.randint(0, 2, deltas.shape, generator=g, device=dev, dtype=torch.int8)
            deltas = (signs.float() * 2 - 1) * self.eps
        for _ in range(self.rounds if self.mode != "random" else 0):
            enc = [encoder_epoch(model, opt, data, deltas, rows, cfg, g, batch) for _ in range(self.encoder_epochs)]
            poisoned = delta_epoch(model, data, deltas, rows, cfg, g, batch, self.pgd_steps, self.step * self.eps, self.eps)
            history.append({"encoder_loss": enc[-1] if enc else None, "poison_loss": poisoned})
        released = (data + deltas[rows]).clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        passes = 2 * len(images) * len(history) * (self.encoder_epochs + self.pgd_steps)
        meta: Dict[str, Any] = {"mode": self.mode, "craft_seconds": time.perf_counter() - start,
                                "image_passes": passes, "rounds": history,
                                "max_change": int(np.abs(released.astype(np.int16) - images).max()) if len(images) else 0}
        return PoisonSet(released, np.full(len(images), -1, np.int64), meta)
