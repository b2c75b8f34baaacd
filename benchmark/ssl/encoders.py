"""Encoder architectures (registry ``ENCODERS``).

``resnet18``: ResNet18 with the CIFAR stem (3×3 conv, stride 1, no max-pool; fc removed), as in
the PoisonedEncoder paper's SimCLR setup (§5.1). ``width`` scales every stage (64 = the paper's
network, 512-d features); ``blocks`` sets basic blocks per stage, so the CPU tier can run the
same topology narrower or shallower.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..core.registry import Registry

ENCODERS = Registry("encoder")


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet with the CIFAR stem; ``forward`` returns pooled features of size ``feature_dim``."""

    def __init__(self, width: int = 64, blocks: Sequence[int] = (2, 2, 2, 2)):
        super().__init__()
        if width < 1 or not blocks or any(b < 1 for b in blocks):
            raise ValueError(f"invalid ResNet shape width={width} blocks={list(blocks)}")
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers, cin = [], width
        for stage, n in enumerate(blocks):
            cout = width * 2 ** stage
            for i in range(n):
                layers.append(BasicBlock(cin, cout, 2 if (i == 0 and stage > 0) else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.feature_dim = cin
        self.stage_blocks = tuple(blocks)  # lets continued pre-training freeze whole stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1)


@ENCODERS.register("resnet18")
def resnet18(width: int = 64, blocks: Sequence[int] = (2, 2, 2, 2)) -> CifarResNet:
    return CifarResNet(width=width, blocks=tuple(blocks))
