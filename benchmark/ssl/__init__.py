"""Self-supervised pre-training: encoders, batched augmentation, losses, the methods (SimCLR, MoCo v2,
BYOL) and their one trainer."""

# Registration side effects: importing any part of the package fills the METHODS and ENCODERS registries.
from . import byol, moco, simclr, timm_encoders  # noqa: F401
