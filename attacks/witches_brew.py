"""Witches' Brew — gradient matching (Geiping et al., ICLR 2021), adapted to contrastive learning
as in the PoisonedEncoder paper's §5.1 comparison (ALGORITHMS.md).

With a clean surrogate encoder θ (the grid's clean encoder of the same seed), the attacker wants
training on the poisons to move θ the way the outer objective would: the target gradient is
g_t = ∇θ[−mean_r cos(f(x_t), f(x_r))]. Poisons are base images (the target's references, cycled)
plus δ with ‖δ‖∞ ≤ ε = 16/255, chosen to minimise 1 − cos(g_t, g_p), where g_p = ∇θ of the
NT-Xent loss on two differentiably augmented views (flip, small translation) of the poisons.
δ follows signed Adam (step ``lr``·ε, ×0.1 at 3/8, 5/8 and 7/8 of the steps); of ``restarts``
random starts the lowest final loss wins. Cost ≈ restarts × steps double-backward passes per
target; tiers scale steps and restarts down (paper: 250 steps, 8 restarts).
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.core.errors import BenchmarkError
from benchmark.ssl.losses import nt_xent

from .base import Attack, AttackTarget, PoisonSet, register_attack


def differentiable_view(x: torch.Tensor, g: torch.Generator, max_shift: float = 2 / 32) -> torch.Tensor:
    """Random horizontal flip and translation by up to ``max_shift`` of the side, differentiable in x."""
    n = x.shape[0]
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * max_shift * 2  # grid units span [-1, 1]
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def flat_cosine(a: List[torch.Tensor], b: List[torch.Tensor]) -> torch.Tensor:
    """Cosine similarity of two gradient lists, each flattened and concatenated."""
    dot = sum((x * y).sum() for x, y in zip(a, b))
    na = torch.sqrt(sum((x * x).sum() for x in a))
    nb = torch.sqrt(sum((y * y).sum() for y in b))
    return dot / (na * nb + 1e-12)


def target_gradient(encoder, params, target: torch.Tensor, refs: torch.Tensor) -> List[torch.Tensor]:
    """∇θ of −mean_r cos(f(x_t), f(x_r)) — the direction the outer objective (Eq. 3) wants."""
    f_t = encoder(target.unsqueeze(0))
    f_r = encoder(refs)
    loss = -F.cosine_similarity(f_t, f_r).mean()
    return [g.detach() for g in torch.autograd.grad(loss, params)]


def brew(model, base: torch.Tensor, target: torch.Tensor, refs: torch.Tensor, eps: float, steps: int,
         restarts: int, lr: float, g: torch.Generator) -> Tuple[torch.Tensor, List[float]]:
    """Poisons (float in [0, 1], base + δ with ‖δ‖∞ ≤ eps) and the best restart's loss per step."""
    params = [p for p in model.encoder.parameters() if p.requires_grad]
    g_t = target_gradient(model.encoder, params, target, refs)
    best, best_hist = None, None
    milestones = {int(steps * f) for f in (3 / 8, 5 / 8, 7 / 8)}
    for _ in range(restarts):
        delta = ((torch.rand(base.shape, generator=g) * 2 - 1) * eps).requires_grad_(True)
        opt = torch.optim.Adam([delta], lr=lr * eps)
        hist: List[float] = []
        for step in range(steps + 1):
            x = base + delta
            v1, v2 = differentiable_view(x, g), differentiable_view(x, g)
            z = model(torch.cat([v1, v2]))
            g_p = torch.autograd.grad(nt_xent(z[:len(x)], z[len(x):]), params, create_graph=True)
            loss = 1 - flat_cosine(g_p, g_t)
            hist.append(float(loss.detach()))
            if step == steps:  # the last entry measures the final δ
                break
            opt.zero_grad(set_to_none=True)
            (grad,) = torch.autograd.grad(loss, delta)
            delta.grad = grad.sign()
            opt.step()
            if step + 1 in milestones:
                for group in opt.param_groups:
                    group["lr"] *= 0.1
            with torch.no_grad():  # project: inside the ε-ball and a valid image
                delta.clamp_(-eps, eps)
                delta.copy_((base + delta).clamp(0, 1) - base)
        if best_hist is None or hist[-1] < best_hist[-1]:
            best, best_hist = (base + delta).detach().clamp(0, 1), hist
    return best, best_hist


@register_attack("witches_brew")
class WitchesBrew(Attack):
    needs_surrogate = True
    cache_poisons = True  # brewing takes minutes; every defense of the same seed reuses the brew

    def __init__(self, eps: float = 16 / 255, steps: int = 250, restarts: int = 8, lr: float = 0.1):
        if not 0 < float(eps) <= 1 or int(steps) < 1 or int(restarts) < 1 or float(lr) <= 0:
            raise BenchmarkError("witches_brew needs 0 < eps <= 1, steps >= 1, restarts >= 1, lr > 0")
        self.eps, self.steps, self.restarts, self.lr = float(eps), int(steps), int(restarts), float(lr)

    def meta(self, poisons: PoisonSet) -> Dict[str, Any]:
        """The brew's bookkeeping, each restart's matching-loss curve reduced to its first and last value."""
        meta = dict(poisons.meta)
        if "matching_loss" in meta:
            meta["matching_loss"] = [[h[0], h[-1]] for h in meta["matching_loss"] if h]
        return meta

    def craft(self, targets: List[AttackTarget], rng: np.random.Generator, context=None) -> PoisonSet:
        if context is None or getattr(context, "surrogate", None) is None:
            raise BenchmarkError("witches_brew needs a clean surrogate encoder (the harness passes the grid's clean encoder)")
        model = context.surrogate().eval()  # eval: BatchNorm uses its running statistics while brewing
        for p in model.parameters():
            p.requires_grad_(True)
        g = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
        images, ids, losses = [], [], []
        start = time.perf_counter()

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div(255)

        for tid, t in enumerate(targets):
            if t.n_poisons == 0:
                continue
            base = tensor(t.references[np.arange(t.n_poisons) % len(t.references)])
            poisons, hist = brew(model, base, tensor(t.image[None])[0], tensor(t.references), self.eps,
                                 self.steps, self.restarts, self.lr, g)
            images.append(np.rint(poisons.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8))
            ids += [tid] * t.n_poisons
            losses.append(hist)
        meta = {"brew_seconds": time.perf_counter() - start, "matching_loss": losses,
                "brew_double_backward_passes": self.restarts * self.steps * sum(t.n_poisons for t in targets)}
        if not images:
            return PoisonSet(np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, np.int64), meta)
        return PoisonSet(np.concatenate(images), np.asarray(ids, np.int64), meta)
