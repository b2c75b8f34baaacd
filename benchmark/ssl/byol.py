"""BYOL (Grill et al. NeurIPS 2020) as a method over the shared trainer.

An online encoder + projector + predictor regress the projection of the other view made by a target
encoder + projector, a momentum copy of the online ones (:func:`~benchmark.ssl.losses.byol_loss`,
symmetrised). No negatives. The target's momentum rises from ``momentum`` (0.99) to 1 on a cosine
over the run (:func:`~benchmark.ssl.losses.cosine_momentum`). Sizes (ALGORITHMS.md): projector and
predictor hidden 4096 and output 256 for a 512-d ResNet18 — here 8× and ½× the feature size, so the
cpu tier's narrow encoders get proportionate heads. Optimiser: the tier's (Adam for small runs,
ALGORITHMS.md's choice; LARS is not provided). The target networks are submodules: a checkpoint
holds them, so a resumed run is bit-identical.
"""

from __future__ import annotations

import torch
from torch import nn

from .losses import byol_loss, cosine_momentum, ema_update
from .methods import METHODS, Method, mlp, momentum_copy


@METHODS.register("byol")
class BYOL(Method):
    def __init__(self, encoder: nn.Module, cfg):
        super().__init__(encoder)
        d = encoder.feature_dim
        out = max(16, d // 2)
        self.head = mlp(d, 8 * d, out)           # the projector
        self.predictor = mlp(out, 8 * d, out)
        self.target_encoder, self.target_head = momentum_copy(self.encoder), momentum_copy(self.head)
        self.base_momentum = float(cfg.momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The online projection (what a surrogate-based attack differentiates)."""
        return self.head(self.encoder(x))

    def loss(self, views: torch.Tensor) -> torch.Tensor:
        b = views.shape[0] // 2
        p = self.predictor(self(views))
        with torch.no_grad():
            z = self.target_head(self.target_encoder(views))
        return (byol_loss(p[:b], z[b:]) + byol_loss(p[b:], z[:b])) / 2

    def sync_targets(self) -> None:
        self._copy_into(self.target_encoder, self.encoder)
        self._copy_into(self.target_head, self.head)

    def after_step(self, progress: float) -> None:
        m = cosine_momentum(self.base_momentum, progress)
        ema_update(self.target_encoder, self.encoder, m)
        ema_update(self.target_head, self.head, m)
