"""Defense registry. Importing this package registers the built-in defenses."""

from .base import DEFENSES, STAGES, Defense, Operating, create_defense, list_defenses, register_defense
from . import bagging, early_stopping, finetune, kmeans, localized_cropping, matrix_completion, no_crop, none  # noqa: F401  (registration side effects)

__all__ = ["DEFENSES", "STAGES", "Defense", "Operating", "create_defense", "list_defenses", "register_defense"]
