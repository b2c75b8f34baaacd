"""In-processing defense: pre-training without random resized cropping (PoisonedEncoder §6.2).

The attack needs two crops of one poison to show the target and the reference separately; with
no cropping both views show the whole poison, so SimCLR no longer pulls target and reference
features together. The other augmentations (flip, colour jitter, grayscale) stay; the paper finds
the encoder loses utility, since cropping is SimCLR's most important augmentation.
"""

from __future__ import annotations

from dataclasses import replace

from benchmark.core.settings import PretrainConfig
from .base import Defense, register_defense


@register_defense("no_crop")
class NoRandomCrop(Defense):
    stage = "in"

    def adjust_pretrain(self, pretrain: PretrainConfig) -> PretrainConfig:
        return replace(pretrain, augment=replace(pretrain.augment, crop=False))
