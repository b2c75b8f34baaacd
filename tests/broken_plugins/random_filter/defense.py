"""Broken on purpose: drops images with an unseeded global RNG (not deterministic for a seed)."""
import numpy as np

from defenses.base import Defense, register_defense


@register_defense("random_filter")
class Random(Defense):
    name, stage = "random_filter", "pre"

    def sanitize(self, images, rng, trainer=None):
        return np.random.random(len(images)) > 0.1
