"""Broken on purpose: returns a keep-mask one entry short."""
import numpy as np

from defenses.base import Defense, register_defense


@register_defense("bad_shape_filter")
class BadShape(Defense):
    name, stage = "bad_shape_filter", "pre"

    def sanitize(self, images, rng, trainer=None):
        return np.ones(len(images) - 1, bool)
