"""Defense registry. Importing this package registers the built-in defenses."""

from .base import DEFENSES, STAGES, Defense, create_defense, list_defenses, register_defense
from . import none  # noqa: F401  (registration side effects)

__all__ = ["DEFENSES", "STAGES", "Defense", "create_defense", "list_defenses", "register_defense"]
