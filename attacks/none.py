"""No attack: zero poisons. Its records give the clean encoder's numbers."""

from __future__ import annotations

from typing import List

import numpy as np

from .base import Attack, AttackTarget, PoisonSet, register_attack


@register_attack("none")
class NoAttack(Attack):

    def craft(self, targets: List[AttackTarget], rng: np.random.Generator, context=None) -> PoisonSet:
        size = targets[0].image.shape if targets else (32, 32, 3)
        return PoisonSet(np.zeros((0, *size), np.uint8), np.zeros(0, np.int64))
