"""Broken on purpose: fine on small sets, raises on the smoke tier's pre-training set."""
from defenses.base import Defense, register_defense


@register_defense("smoke_crash")
class SmokeCrash(Defense):
    name, stage = "smoke_crash", "pre"

    def sanitize(self, images, rng, trainer=None):
        if len(images) > 500:
            raise RuntimeError("out of memory (simulated)")
        return None
