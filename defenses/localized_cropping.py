"""In-processing defense: localized cropping (CorruptEncoder's defense; Zhang, Liu, Jia, Gong, CVPR 2024).

A data-poisoning attack on contrastive pre-training needs the two random crops of one poison to
show *different* things — the target (or trigger) in one view, the reference object in the other —
so that SimCLR pulls them together. Localized cropping draws view 2 inside view 1's box enlarged by
``enlarge`` of its size per side (the paper: 20%), centred inside view 1's box: the views of every
pair overlap, which keeps most of random cropping's augmentation while making it unlikely that one
view holds only the reference and the other only the target. Implemented in the batched
augmentation (``benchmark/ssl/augment.py:localized_boxes``).
"""

from __future__ import annotations

from dataclasses import replace

from benchmark.core.errors import BenchmarkError
from benchmark.core.settings import PretrainConfig
from .base import Defense, register_defense


@register_defense("localized_cropping")
class LocalizedCropping(Defense):
    stage = "in"

    def __init__(self, enlarge: float = 0.2):
        if not 0 < float(enlarge) <= 10:
            raise BenchmarkError(f"localized_cropping needs 0 < enlarge <= 10, got {enlarge}")
        self.enlarge = float(enlarge)

    def adjust_pretrain(self, pretrain: PretrainConfig) -> PretrainConfig:
        return replace(pretrain, augment=replace(pretrain.augment, localized=self.enlarge))
