"""No defense: the undefended baseline every other defense is compared with."""

from .base import Defense, register_defense


@register_defense("none")
class NoDefense(Defense):
    stage = "none"
