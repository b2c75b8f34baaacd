"""Downstream evaluation (PoisonedEncoder paper §5.1): frozen encoder → features → one linear
layer trained with Adam (lr 1e-3, batch 512, 100 epochs). Model wiring only; the metrics
themselves are the pure functions of :mod:`benchmark.core.metrics`.
"""

from __future__ import annotations

import copy
import numpy as np
import torch
from torch import nn
from torch.fx.experimental.optimization import fuse

from .core.settings import ProbeConfig


def inference_copy(encoder: nn.Module) -> nn.Module:
    """An eval-mode copy with each BatchNorm folded into the convolution before it (torch.fx):
    1.3× faster feature extraction on CPU (benchmarks/results/pretrain_throughput.md), features equal
    to ~1e-8. Modules fx cannot trace are used as they are."""
    encoder.eval()
    try:
        return fuse(copy.deepcopy(encoder))
    except Exception:  # not traceable (data-dependent control flow in a plugin's encoder)
        return encoder


@torch.inference_mode()
def extract_features(encoder: nn.Module, images: np.ndarray, device: str = "cpu", batch_size: int = 1024) -> np.ndarray:
    """Features of uint8 N×32×32×3 images from a frozen encoder in eval mode (float32 N×D)."""
    encoder = inference_copy(encoder)
    out = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(images[start:start + batch_size]).to(device).permute(0, 3, 1, 2).float().div_(255)
        out.append(encoder(x.contiguous(memory_format=torch.channels_last)).float().cpu())
    if not out:
        return np.zeros((0, getattr(encoder, "feature_dim", 0)), np.float32)
    return torch.cat(out).numpy()


def _normalise(f: np.ndarray, how: str) -> np.ndarray:
    if how == "none":
        return f
    if how == "l2":
        return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    raise ValueError(f"unknown feature_norm {how!r}")


class LinearProbe:
    """One fully connected layer on frozen features."""

    def __init__(self, cfg: ProbeConfig, num_classes: int, seed: int, device: str = "cpu"):
        self.cfg, self.num_classes, self.seed, self.device = cfg, num_classes, seed, device
        self.layer: nn.Linear | None = None

    def fit(self, features: np.ndarray, labels: np.ndarray) -> "LinearProbe":
        torch.manual_seed(self.seed)
        g = torch.Generator().manual_seed(self.seed)
        x = torch.from_numpy(_normalise(features, self.cfg.feature_norm)).float().to(self.device)
        y = torch.from_numpy(np.asarray(labels, np.int64)).to(self.device)
        self.layer = nn.Linear(x.shape[1], self.num_classes).to(self.device)
        opt = torch.optim.Adam(self.layer.parameters(), lr=self.cfg.lr)
        loss_fn = nn.CrossEntropyLoss()
        for _ in range(self.cfg.epochs):
            perm = torch.randperm(len(x), generator=g).to(self.device)
            for start in range(0, len(x), self.cfg.batch_size):
                idx = perm[start:start + self.cfg.batch_size]
                loss = loss_fn(self.layer(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return self

    @torch.inference_mode()
    def predict(self, features: np.ndarray) -> np.ndarray:
        assert self.layer is not None, "fit first"
        x = torch.from_numpy(_normalise(features, self.cfg.feature_norm)).float().to(self.device)
        return self.layer(x).argmax(1).cpu().numpy()
