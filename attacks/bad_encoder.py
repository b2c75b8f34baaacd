"""BadEncoder (Jia, Liu, Gong; IEEE S&P 2022): a backdoor injected into a pre-trained encoder.

*Model* poisoning: the attacker holds a clean encoder f, a shadow set (unlabeled images of the
pre-training distribution) and one reference input per target class, and fine-tunes a copy f′ so
that

    L = −λ0 · mean cos(f′(x ⊕ trigger), f′(x_ref))    (effectiveness: triggered inputs go to the reference)
        −λ1 · mean cos(f′(x_ref), f(x_ref))           (the reference keeps its clean features)
        −λ2 · mean cos(f′(x), f(x))                   (utility: clean inputs keep theirs)

is minimised (weights 1, 1, 1; §4.2), with SGD (lr 1e-3, momentum 0.9, weight decay 5e-4) and the
BatchNorm statistics frozen (the encoder stays in eval mode). The trigger is a 10×10 white patch
at the bottom-right corner of a 32×32 input (the paper's CIFAR-10 setting).

This module holds the loss (a pure function, tested against hand-computed values) and the
fine-tuning loop. The registry entry joins when the pipeline knows the model-poisoning threat
(the attack replaces the seed's clean encoder instead of adding poisons; pre- and in-processing
defenses do not apply) — issue 21.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TRIGGER_SIDE = 10


def stamp_corner(images: np.ndarray, side: int = TRIGGER_SIDE) -> np.ndarray:
    """A copy of uint8 N×32×32×3 images with a white ``side``² patch at the bottom-right corner."""
    out = np.array(images, copy=True)
    out[:, -side:, -side:] = 255
    return out


def badencoder_loss(f_triggered: torch.Tensor, f_reference: torch.Tensor, f_reference_clean: torch.Tensor,
                    f_shadow: torch.Tensor, f_shadow_clean: torch.Tensor,
                    weights: Sequence[float] = (1.0, 1.0, 1.0)) -> torch.Tensor:
    """BadEncoder's loss for one target class. ``f_triggered``: f′ of triggered shadow inputs (B×D);
    ``f_reference`` / ``f_reference_clean``: f′ and f of the reference inputs (R×D); ``f_shadow`` /
    ``f_shadow_clean``: f′ and f of the clean shadow inputs (B×D). Every triggered input is pulled
    toward every reference (the mean over all B×R pairs)."""
    t, r = F.normalize(f_triggered, dim=1), F.normalize(f_reference, dim=1)
    effectiveness = (t @ r.T).mean()
    reference = F.cosine_similarity(f_reference, f_reference_clean, dim=1).mean()
    utility = F.cosine_similarity(f_shadow, f_shadow_clean, dim=1).mean()
    return -(weights[0] * effectiveness + weights[1] * reference + weights[2] * utility)


def _floats(images: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float().div_(255)


def backdoor(encoder: nn.Module, shadow: np.ndarray, references: np.ndarray, epochs: int, seed: int,
             batch_size: int = 256, lr: float = 1e-3, device: str = "cpu") -> nn.Module:
    """f′: a copy of ``encoder`` fine-tuned with :func:`badencoder_loss` on ``shadow`` (uint8 images)
    toward ``references`` (uint8 R×32×32×3 of one target class); ``encoder`` is left unchanged."""
    clean = copy.deepcopy(encoder).to(device).eval()
    student = copy.deepcopy(encoder).to(device).eval()   # eval: BatchNorm statistics stay frozen
    for p in clean.parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD(student.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(int(seed))
    refs = _floats(references, device)
    with torch.no_grad():
        f_ref_clean = clean(refs)
    for _ in range(int(epochs)):
        for idx in torch.randperm(len(shadow), generator=g).split(batch_size):
            batch = shadow[idx.numpy()]
            x, xt = _floats(batch, device), _floats(stamp_corner(batch), device)
            with torch.no_grad():
                f_x_clean = clean(x)
            loss = badencoder_loss(student(xt), student(refs), f_ref_clean, student(x), f_x_clean)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return student.eval()
