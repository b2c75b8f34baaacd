"""Encoders built from timm (registry ``ENCODERS``): VGG11 and MobileNetV2, the PoisonedEncoder
paper's Table 6 architectures beside ResNet18 — and timm's ResNet18, unregistered, as a cross-check
of the hand-written one (:mod:`benchmark.ssl.encoders`).

Every entry takes the registry's ``(width, blocks)`` and returns a module mapping N×3×32×32 to
N×``feature_dim`` pooled features. ImageNet networks downsample 32× before their heads; at 32×32
inputs that leaves a 1×1 map, so each is adapted as CIFAR implementations adapt it:

- ``vgg11``: timm's VGG with batch norm (``vgg11_bn``'s layout) and its five max-pools kept — the
  CIFAR VGG of the literature ends at 1×1 too — but not its ImageNet classifier stand-in (a 7×7
  ConvMlp of 4096 channels, built tiny and dropped): features are the last convolution's channels,
  average-pooled. ``width`` scales every stage (64 = VGG11's 64-128-256-512-512); ``blocks`` does
  not apply.
- ``mobilenetv2``: timm's MobileNetV2 with its stem stride and the first stride-2 stage set to
  stride 1 (total stride 8: a 4×4 map before the head, as 224×224 inputs get 7×7), features after
  its 1×1 head convolution (1280). timm ships fixed width multipliers, so ``width`` picks one:
  16 → 0.35 (the cpu tier's), 32 → 0.5, 48 → 0.75, 64 → 1.0, 90 → 1.4 (``width / 64``, nearest).
- :func:`timm_resnet18_cifar`: timm's ResNet18 with the CIFAR stem, for the cross-check.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .encoders import ENCODERS

VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
MOBILENET_MULTIPLIERS = {0.35: "mobilenetv2_035", 0.5: "mobilenetv2_050", 0.75: "mobilenetv2_075",
                         1.0: "mobilenetv2_100", 1.4: "mobilenetv2_140"}


class PooledTrunk(nn.Module):
    """A convolutional trunk followed by global average pooling: N×3×H×W → N×feature_dim."""

    def __init__(self, trunk: nn.Module, feature_dim: int):
        super().__init__()
        self.trunk, self.feature_dim = trunk, feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.trunk(x), 1), 1)


@ENCODERS.register("vgg11")
def vgg11(width: int = 64, blocks: Sequence[int] = (2, 2, 2, 2)) -> PooledTrunk:
    if width < 1:
        raise ValueError(f"vgg11 needs width >= 1, got {width}")
    from timm.models.vgg import VGG  # here, not at the top: importing timm costs seconds every command would pay
    cfg = [v if v == "M" else max(1, int(v) * width // 64) for v in VGG11]
    # mlp_ratio: the ImageNet pre-logits ConvMlp is built with one hidden channel, then dropped.
    net = VGG(cfg, num_classes=0, norm_layer=nn.BatchNorm2d, mlp_ratio=1 / 4096)
    return PooledTrunk(net.features, int(cfg[-2]))


@ENCODERS.register("mobilenetv2")
def mobilenetv2(width: int = 16, blocks: Sequence[int] = (2, 2, 2, 2)) -> PooledTrunk:
    import timm  # here, not at the top: importing timm costs seconds every command would pay
    multiplier = min(MOBILENET_MULTIPLIERS, key=lambda m: abs(m - width / 64))
    net = timm.create_model(MOBILENET_MULTIPLIERS[multiplier], num_classes=0, global_pool="")
    net.conv_stem.stride = (1, 1)                 # 32×32 inputs: keep resolution in the stem ...
    net.blocks[1][0].conv_dw.stride = (1, 1)      # ... and in the first stride-2 stage
    return PooledTrunk(net, int(net.num_features))


def timm_resnet18_cifar() -> PooledTrunk:
    """timm's ResNet18 with the CIFAR stem (3×3 stride-1 first convolution, no max-pool), 512-d: the
    cross-check of the hand-written ``resnet18`` at width 64 (same topology and parameter count,
    tested). Not registered: timm's ResNet has no width multiplier, so it cannot meet the registry's
    ``(width, blocks)`` contract."""
    import timm  # here, not at the top: importing timm costs seconds every command would pay
    net = timm.create_model("resnet18", num_classes=0, global_pool="")
    net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    net.maxpool = nn.Identity()
    return PooledTrunk(net, 512)
