"""Broken on purpose: zeroes the first image of the set it is given (mutates its input)."""
from defenses.base import Defense, register_defense


@register_defense("mutating_filter")
class Mutating(Defense):
    name, stage = "mutating_filter", "pre"

    def sanitize(self, images, rng, trainer=None):
        images[0] = 0
        return None
