"""The interfaces the cell pipeline and the defense hooks rely on, declared once (PEP 544 protocols).

Two trainers implement :class:`Trainer` (``benchmark/trainer.py``: the real one and the planning
one); what they return implements :class:`TrainedEncoder`. Module types are ``Any`` here so the
core stays torch-free; at run time they are ``torch.nn.Module`` objects.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Protocol

import numpy as np

from .settings import PretrainConfig


class TrainedEncoder(Protocol):
    """What a trainer returns and a defense's later hooks receive."""
    encoder: Any                   # the feature extractor (N×3×32×32 floats in [0, 1] → N×D)
    cfg: PretrainConfig            # the config it was trained with
    key: str                       # content key: same key, same encoder
    image_passes: int              # pre-training it cost (2 views per image per epoch)

    def at_epoch(self, epoch: int) -> Any: ...


class Trainer(Protocol):
    """What the cell pipeline and a defense's hooks are given."""
    seed: int
    base_pretrain: PretrainConfig   # the tier's pre-training config, for defenses deriving their own
    image_passes: int               # pre-training the defense asked for (the clean encoder excluded)
    encoders_trained: int
    requests: List[Dict[str, Any]]  # every encoder asked for: role, key, image-passes, ...
    clean_request: Dict[str, Any]   # the same for the seed's clean encoder

    def clean(self, images: np.ndarray) -> TrainedEncoder: ...

    def train(self, images: np.ndarray, pretrain: PretrainConfig, *, init: Optional[TrainedEncoder] = None,
              label: str = "defense", seed_offset: int = 0) -> TrainedEncoder: ...
