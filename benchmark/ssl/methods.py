"""Self-supervised learning methods (registry ``METHODS``): each a small model object over the one
trainer (:func:`benchmark.ssl.simclr.pretrain`) — solo-learn's and lightly's split.

A method is an ``nn.Module`` built from an encoder and the tier's ``[pretrain]`` config. Its extra
networks (projection head, momentum encoder, predictor) are submodules and its state (MoCo's queue)
buffers, so the trainer's checkpoint of ``state_dict()`` holds all of it and a resumed run is
bit-identical on CPU. What the trainer calls:

- ``loss(views)`` — the loss of a batch of stacked views ``[view 1; view 2]``;
- ``after_step(progress)`` — the update after each optimiser step (momentum networks, the queue);
  ``progress`` is the share of the run's steps done, for schedules;
- ``encoder`` — what every consumer (probes, defenses, attacks) uses afterwards.

The losses are the pure functions of :mod:`benchmark.ssl.losses`, tested against hand-computed values.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..core.registry import Registry

METHODS = Registry("method")


def projection_dim(feature_dim: int) -> int:
    """The head's output size: 128 for the paper's 512-d ResNet18, scaled with the width (≥ 16)."""
    return max(16, feature_dim // 4)


def mlp(d_in: int, d_hidden: int, d_out: int, bias: bool = True) -> nn.Sequential:
    """Linear → BatchNorm → ReLU → Linear: the projection head / predictor of SimCLR, MoCo v2 and BYOL."""
    return nn.Sequential(nn.Linear(d_in, d_hidden, bias=bias), nn.BatchNorm1d(d_hidden), nn.ReLU(),
                         nn.Linear(d_hidden, d_out))


def momentum_copy(module: nn.Module) -> nn.Module:
    """A frozen copy of ``module``: the target of an exponential moving average, never back-propagated."""
    twin = copy.deepcopy(module)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin


class Method(nn.Module):
    """Base class: ``encoder``; subclasses add their networks and implement :meth:`loss`."""

    name = "method"

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def loss(self, views: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def after_step(self, progress: float) -> None:
        """Nothing to update after an optimiser step (SimCLR)."""

    def sync_targets(self) -> None:
        """Make the momentum networks copies of the online ones again: after the encoder alone was
        loaded (a published backbone, another method's run). Nothing to do without them (SimCLR)."""

    @staticmethod
    def _copy_into(target: nn.Module, online: nn.Module) -> None:
        target.load_state_dict(online.state_dict())
