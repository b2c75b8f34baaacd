"""Attack registry. Importing this package registers the built-in attacks."""

from .base import ATTACKS, Attack, AttackTarget, PoisonSet, create_attack, list_attacks, register_attack
from . import none, poisoned_encoder  # noqa: F401  (registration side effects)

__all__ = ["ATTACKS", "Attack", "AttackTarget", "PoisonSet", "create_attack", "list_attacks", "register_attack"]
