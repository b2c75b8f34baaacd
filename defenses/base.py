"""The defense API: a defense declares its stage and overrides that stage's hook.

Stages (PoisonedEncoder paper §6): ``pre`` (sanitise the unlabeled pre-training set), ``in``
(change how pre-training runs), ``post`` (repair a trained encoder with a clean subset),
``downstream`` (change how the downstream classifier is trained). The harness calls every hook;
the base implementations leave things unchanged, so a defense overrides only its own.

The threat model is enforced by what is passed: hooks receive plain arrays and encoders —
never poison flags, targets, target classes or references.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from benchmark.registry import Registry

DEFENSES = Registry("defense")
STAGES = ("none", "pre", "in", "post", "downstream")


class Defense:
    name = "defense"
    stage = "none"

    def params(self) -> Dict[str, Any]:
        """JSON-serialisable parameters, recorded with every result."""
        return {}

    # --- pre: the unlabeled pre-training set (poisons mixed in, unflagged) ---
    def sanitize(self, images: np.ndarray, rng: np.random.Generator) -> Optional[np.ndarray]:
        """Return a boolean keep-mask over ``images`` (or None to keep all). Must not mutate."""
        return None

    # --- in: pre-training configuration (a dict of the tier's [pretrain] section) ---
    def adjust_pretrain(self, pretrain: Dict[str, Any]) -> Dict[str, Any]:
        return pretrain


def register_defense(name: str):
    return DEFENSES.register(name)


def create_defense(name: str, **params: Any) -> Defense:
    return DEFENSES.create(name, **params)


def list_defenses() -> List[str]:
    return DEFENSES.names()
