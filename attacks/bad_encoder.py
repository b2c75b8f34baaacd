"""BadEncoder (Jia, Liu, Gong; IEEE S&P 2022): a backdoor injected into a pre-trained encoder.

*Model* poisoning (``threat = "model"``): the attacker holds the clean encoder f, a shadow set
(unlabeled images of the pre-training distribution) and reference inputs of each target class,
and fine-tunes a copy f′ so that, per target i with trigger Δᵢ,

    L = −λ0 · mean cos(f′(x ⊕ Δᵢ), f′(x_ref,i))    (effectiveness: triggered inputs go to the references)
        −λ1 · mean cos(f′(x_ref,i), f(x_ref,i))     (the references keep their clean features)
        −λ2 · mean cos(f′(x), f(x))                 (utility: clean inputs keep theirs)

is minimised (the paper's weights 1, λ1 = 1, λ2 = 1, §4.2; here λ2 = 10 by default, below), with SGD (momentum 0.9, weight decay 5e-4) and the BatchNorm
statistics frozen (the encoder stays in eval mode). Several targets (one per downstream task) share
one backdoored encoder, each with its own trigger (the paper's multi-target setting, §5.3): each
shadow batch is split evenly among the targets' triggers and the effectiveness and reference terms
are averaged over targets, so one target is exactly the paper's loss.

Triggers: a ``trigger_side``² patch at the bottom-right corner — white for the first target (the
paper's CIFAR-10 trigger), a fixed pattern of saturated colours for each further one.

CPU scaling (the paper: 200 epochs, lr 1e-3 on tens of thousands of shadow images): by default
5,000 shadow images (the cpu tiers' whole clean pre-training set), 12 epochs in batches of 64
(~940 SGD steps), lr 1e-2 — at cpu_continued this installs every task's trigger (triggered inputs
at cosine 0.99 to their reference) where 80 steps of 256 did not — and λ2 = 10: with the paper's
λ2 = 1 the utility term held the shadow set's (CIFAR-10) features but let GTSRB's drift (its
accuracy 4–5 points below the clean encoder's, and its ASR 0.54–0.68 in seed 0); λ2 = 3, 10, 20
gave GTSRB ASR 0.89 / 0.98 / 0.74 and CA − BA 3.3 / 2.1 / 0.5 points (seed 0). All measured in
``benchmarks/results/bad_encoder_calibration_cpu_continued.md``.
References: the paper's loss sums over each target class's reference inputs; by default the first
10 of the threat's references per target (the effectiveness term then pulls triggered inputs
toward the references' common direction, a class centre rather than one image). With one
reference the backdoor was installed but two tasks' probes read it as another class (facemask
0.00, gtsrb 0.00); with 10: 1.00 and 0.54 (cifar10 0.98 either way; seed 0, same file).
"""

from __future__ import annotations

import copy
from typing import List, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.core.errors import BenchmarkError

from .base import Attack, AttackTarget, register_attack
from .corrupt_encoder import trigger_patch

TRIGGER_SIDE = 10


def trigger_of(target_id: int, side: int = TRIGGER_SIDE) -> np.ndarray:
    """Target ``target_id``'s trigger: white for target 0 (the paper's), saturated colours otherwise."""
    if target_id == 0:
        return np.full((side, side, 3), 255, np.uint8)
    return trigger_patch(0, target_id, side)


def stamp_corner(images: np.ndarray, side: int = TRIGGER_SIDE, target_id: int = 0) -> np.ndarray:
    """A copy of uint8 N×32×32×3 images with target ``target_id``'s trigger at the bottom-right corner."""
    out = np.array(images, copy=True)
    out[:, -side:, -side:] = trigger_of(target_id, side)
    return out


def badencoder_loss(f_triggered: Sequence[torch.Tensor], f_reference: Sequence[torch.Tensor],
                    f_reference_clean: Sequence[torch.Tensor], f_shadow: torch.Tensor, f_shadow_clean: torch.Tensor,
                    weights: Sequence[float] = (1.0, 1.0, 1.0)) -> torch.Tensor:
    """BadEncoder's loss over targets i: ``f_triggered[i]`` is f′ of the shadow inputs stamped with
    trigger i (Bᵢ×D); ``f_reference[i]`` / ``f_reference_clean[i]`` f′ and f of target i's references
    (Rᵢ×D); ``f_shadow`` / ``f_shadow_clean`` f′ and f of the clean shadow inputs (B×D). Every
    triggered input is pulled toward every reference of its target (the mean over all Bᵢ×Rᵢ pairs);
    the effectiveness and reference terms are averaged over targets."""
    effectiveness = torch.stack([(F.normalize(t, dim=1) @ F.normalize(r, dim=1).T).mean()
                                 for t, r in zip(f_triggered, f_reference)]).mean()
    reference = torch.stack([F.cosine_similarity(r, c, dim=1).mean()
                             for r, c in zip(f_reference, f_reference_clean)]).mean()
    utility = F.cosine_similarity(f_shadow, f_shadow_clean, dim=1).mean()
    return -(weights[0] * effectiveness + weights[1] * reference + weights[2] * utility)


def _floats(images: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float().div_(255)


def backdoor(encoder: nn.Module, shadow: np.ndarray, references: Sequence[np.ndarray], epochs: int, seed: int,
             batch_size: int = 256, lr: float = 1e-3, device: str = "cpu", side: int = TRIGGER_SIDE,
             weights: Sequence[float] = (1.0, 1.0, 1.0)) -> nn.Module:
    """f′: a copy of ``encoder`` fine-tuned with :func:`badencoder_loss` on ``shadow`` (uint8 images),
    target i's trigger toward ``references[i]`` (uint8 Rᵢ×32×32×3); ``encoder`` is left unchanged."""
    clean = copy.deepcopy(encoder).to(device).eval()
    student = copy.deepcopy(encoder).to(device).eval()   # eval: BatchNorm statistics stay frozen
    for p in clean.parameters():
        p.requires_grad_(False)
    student.requires_grad_(True)
    opt = torch.optim.SGD(student.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(int(seed))
    refs = [_floats(r, device) for r in references]
    sizes = [len(r) for r in refs]
    with torch.no_grad():
        f_ref_clean = clean(torch.cat(refs)).split(sizes)
    n_targets = len(refs)
    for _ in range(int(epochs)):
        for idx in torch.randperm(len(shadow), generator=g).split(batch_size):
            batch = shadow[idx.numpy()]
            groups = np.array_split(np.arange(len(batch)), n_targets)   # each target's share of the batch
            stamped = np.concatenate([stamp_corner(batch[grp], side, i) for i, grp in enumerate(groups)])
            x, xt = _floats(batch, device), _floats(stamped, device)
            with torch.no_grad():
                f_x_clean = clean(x)
            f_xt = student(xt).split([len(grp) for grp in groups])
            f_ref = student(torch.cat(refs)).split(sizes)
            loss = badencoder_loss(f_xt, f_ref, f_ref_clean, student(x), f_x_clean, weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return student.eval()


@register_attack("bad_encoder")
class BadEncoder(Attack):
    """The registry entry: model poisoning of the tier's clean encoder (see the module docstring)."""

    kind = "backdoor"
    threat = "model"

    def __init__(self, shadow_size: int = 5000, epochs: int = 12, lr: float = 0.01, batch_size: int = 64,
                 n_references: int = 10, trigger_side: int = TRIGGER_SIDE, lambda1: float = 1.0,
                 lambda2: float = 10.0):
        if not 1 <= int(epochs) <= 10_000 or not 2 <= int(batch_size) <= 4096 or not 0 < float(lr) <= 1:
            raise BenchmarkError(f"bad_encoder needs 1 <= epochs <= 10000, 2 <= batch_size <= 4096 and 0 < lr <= 1, "
                                 f"got {epochs}, {batch_size}, {lr}")
        if not 1 <= int(n_references) <= 100 or not 2 <= int(trigger_side) <= 16 or int(shadow_size) < 2:
            raise BenchmarkError(f"bad_encoder needs 1 <= n_references <= 100, 2 <= trigger_side <= 16 and "
                                 f"shadow_size >= 2, got {n_references}, {trigger_side}, {shadow_size}")
        self.shadow_size, self.epochs, self.lr = int(shadow_size), int(epochs), float(lr)
        self.batch_size, self.n_references, self.trigger_side = int(batch_size), int(n_references), int(trigger_side)
        if not (0 <= float(lambda1) <= 100 and 0 <= float(lambda2) <= 100):
            raise BenchmarkError(f"bad_encoder needs 0 <= lambda1, lambda2 <= 100, got {lambda1}, {lambda2}")
        self.lambda1, self.lambda2 = float(lambda1), float(lambda2)

    def stamp(self, images: np.ndarray, target_id: int) -> np.ndarray:
        return stamp_corner(images, self.trigger_side, target_id)

    def poison_model(self, encoder: nn.Module, shadow: np.ndarray, targets: List[AttackTarget], seed: int,
                     device: str = "cpu") -> nn.Module:
        return backdoor(encoder, shadow, [t.references[:self.n_references] for t in targets], self.epochs, seed,
                        self.batch_size, self.lr, device, self.trigger_side, (1.0, self.lambda1, self.lambda2))
