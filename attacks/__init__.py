"""Attack registry. Importing this package registers the built-in attacks."""

from .base import ATTACKS, Attack, AttackContext, AttackTarget, PoisonSet, create_attack, list_attacks, register_attack
from . import bad_encoder, contrastive_poisoning, corrupt_encoder, icp, none, poisoned_encoder, poisoned_encoder_backdoor, witches_brew  # noqa: F401  (registration side effects)

__all__ = ["ATTACKS", "Attack", "AttackContext", "AttackTarget", "PoisonSet", "create_attack", "list_attacks", "register_attack"]
