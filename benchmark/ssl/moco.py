"""MoCo v2 (He et al. CVPR 2020; Chen, Fan, Girshick, He 2020) as a method over the shared trainer.

A query encoder + 2-layer MLP head (Linear → ReLU → Linear, MoCo v2's) and a momentum copy of both
that makes the keys; InfoNCE of each query against its key and a queue of ``queue_size`` past keys
(:func:`~benchmark.ssl.losses.moco_infonce`). Symmetrised, as CIFAR-scale implementations do: both
views serve once as queries, and both views' keys are queued. After each step the momentum networks
move toward the query networks by ``momentum`` (ALGORITHMS.md: queue 4096, momentum 0.99,
temperature 0.2, SGD lr 0.3 with a cosine schedule — the tier's ``pretrain.temperature``,
``optimizer``, ``lr`` and ``schedule`` set those). The queue and its pointer are buffers, the
momentum networks submodules: a checkpoint holds them, so a resumed run is bit-identical.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .losses import ema_update, enqueue, moco_infonce
from .methods import METHODS, Method, momentum_copy, projection_dim


@METHODS.register("moco_v2")
class MoCoV2(Method):
    def __init__(self, encoder: nn.Module, cfg):
        super().__init__(encoder)
        d = encoder.feature_dim
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, projection_dim(d)))
        self.key_encoder, self.key_head = momentum_copy(self.encoder), momentum_copy(self.head)
        self.temperature, self.momentum = float(cfg.temperature), float(cfg.momentum)
        self.register_buffer("queue", F.normalize(torch.randn(int(cfg.queue_size), projection_dim(d)), dim=1))
        self.register_buffer("queue_pointer", torch.zeros(1, dtype=torch.long))
        self._keys: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The query projection (what a surrogate-based attack differentiates)."""
        return self.head(self.encoder(x))

    def loss(self, views: torch.Tensor) -> torch.Tensor:
        b = views.shape[0] // 2
        q = self(views)
        with torch.no_grad():
            k = self.key_head(self.key_encoder(views))
        self._keys = k
        queue = self.queue.clone()  # this step's negatives: the queue before its own keys join
        return (moco_infonce(q[:b], k[b:], queue, self.temperature) + moco_infonce(q[b:], k[:b], queue, self.temperature)) / 2

    def sync_targets(self) -> None:
        self._copy_into(self.key_encoder, self.encoder)
        self._copy_into(self.key_head, self.head)

    def after_step(self, progress: float) -> None:
        ema_update(self.key_encoder, self.encoder, self.momentum)
        ema_update(self.key_head, self.head, self.momentum)
        if self._keys is not None:
            enqueue(self.queue, self.queue_pointer, self._keys)
            self._keys = None
