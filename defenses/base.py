"""The defense API: a defense declares its stage and overrides that stage's hooks.

Stages (PoisonedEncoder paper §6):

- ``pre`` — :meth:`Defense.sanitize` sees the unlabeled pre-training set (poisons mixed in, no
  flags) and returns a keep-mask, or a sanitised copy of the images (same count and shape);
- ``in`` — :meth:`Defense.adjust_pretrain` changes the pre-training config (augmentations,
  epochs); :meth:`Defense.pretrain` may replace pre-training itself (an ensemble, a checkpoint);
- ``post`` — :meth:`Defense.post_process` gets a trained encoder and a clean subset of the
  pre-training set whose size the defense declares in :meth:`Defense.clean_subset_size`;
- ``downstream`` — :meth:`Defense.adjust_probe` changes how the downstream classifier is trained.

The harness calls the hooks in that order — the defense's own for its declared ``stage``, the base
implementations (which change nothing) for every other stage (:func:`hook`); a hook overridden
outside its stage is a conformance failure (:func:`hooks_outside_stage`). :meth:`Defense.operating` says how the result is used downstream
(one encoder or a voting ensemble); :meth:`Defense.curves` may name extra operating points (e.g.
other epochs) the harness evaluates into the record for plots.

Configs are frozen dataclasses (:mod:`benchmark.core.settings`): a hook returns a changed one made
with ``dataclasses.replace`` and cannot alter what the harness holds.

The threat model is enforced by what is passed: hooks receive plain arrays, configs, encoders and
the harness's :class:`~benchmark.trainer.EncoderTrainer` — never poison flags, targets, target
classes or references.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from benchmark.core.registry import Registry, init_params
from benchmark.core.settings import PretrainConfig, ProbeConfig

DEFENSES = Registry("defense")
STAGES = ("none", "pre", "in", "post", "downstream")
# The stage that owns each hook; ``operating`` and ``curves`` belong to every stage.
HOOK_STAGES = {"sanitize": "pre", "detection_stats": "pre", "adjust_pretrain": "in", "pretrain": "in",
               "clean_subset_size": "post", "post_process": "post", "adjust_probe": "downstream"}


@dataclass
class Operating:
    """What the downstream user gets from a defended pipeline: one encoder, or an ensemble whose
    base classifiers vote (bagging), and how their downstream classifiers are trained."""
    encoders: Sequence[Any]                    # CachedEncoder-like (``.encoder``) or nn.Module
    probe: ProbeConfig
    label: Dict[str, Any] = field(default_factory=dict)
    certify: Optional[Dict[str, Any]] = None   # bagging: {"n": training-set size, "k": subsample size, "alpha"}
    image_passes: Optional[int] = None         # pre-training cost if not what the trainer counted (early stopping)


class Defense:
    name = "defense"
    stage = "none"
    version = "1.0"                            # bump when the defense's behaviour changes
    authors = "CL-PoisonBench maintainers"     # plugins: who to credit on the leaderboard

    def params(self) -> Dict[str, Any]:
        """JSON-serialisable parameters, recorded with every result: those of ``__init__``, read
        back from the attributes of the same name (an entry stores each under its own name)."""
        return init_params(self)

    # --- pre: the unlabeled pre-training set (poisons mixed in, unflagged) ---
    def sanitize(self, images: np.ndarray, rng: np.random.Generator, trainer=None) -> Optional[np.ndarray]:
        """A boolean keep-mask over ``images``, a sanitised uint8 copy of the same shape, or None
        (keep all). Must not mutate ``images``. ``trainer`` lets a filter that works on learned
        features (e.g. a spectral signature) pre-train the encoder it needs."""
        return None

    def detection_stats(self) -> Dict[str, Any]:
        """Anything the last :meth:`sanitize` wants recorded (cluster sizes, duplicates, ...)."""
        return {}

    # --- in: pre-training configuration and pre-training itself ---
    def adjust_pretrain(self, pretrain: PretrainConfig) -> PretrainConfig:
        """The tier's pre-training config, changed (``dataclasses.replace``; e.g. without random cropping)."""
        return pretrain

    def pretrain(self, images: np.ndarray, pretrain: PretrainConfig, trainer, rng: np.random.Generator) -> List[Any]:
        """The encoders the downstream user will use; one unless the defense is an ensemble."""
        return [trainer.train(images, pretrain, label=self.name)]

    # --- post: repair a trained encoder with a clean subset ---
    def clean_subset_size(self, n_pretrain: int) -> int:
        """How many clean pre-training images :meth:`post_process` needs (0: none)."""
        return 0

    def post_process(self, trained: Any, clean_images: np.ndarray, pretrain: PretrainConfig, trainer,
                     rng: np.random.Generator) -> Any:
        return trained

    # --- downstream: how each downstream classifier is trained ---
    def adjust_probe(self, probe: ProbeConfig) -> ProbeConfig:
        return probe

    # --- the operating point the leaderboard row reports, and extra points for curves ---
    def operating(self, trained: List[Any], probe: ProbeConfig, n_train: int) -> Operating:
        """How the trained encoders are used downstream (early stopping picks a checkpoint,
        bagging declares its certification); ``n_train`` is the size of the set pre-trained on."""
        return Operating(trained, probe)

    def curves(self, trained: List[Any], probe: ProbeConfig) -> List[Operating]:
        """Other operating points (each with a ``label``) evaluated into the record's curves."""
        return []


def hooks_outside_stage(defense: Defense) -> List[str]:
    """The hooks ``defense`` overrides that belong to another stage than its declared one."""
    cls = type(defense)
    # An isolated plugin's proxy forwards every hook; its child says which ones the plugin overrides.
    overridden = getattr(defense, "overridden_hooks", None)
    if overridden is None:
        overridden = [h for h in HOOK_STAGES if getattr(cls, h) is not getattr(Defense, h)]
    return [h for h in overridden if h in HOOK_STAGES and HOOK_STAGES[h] != defense.stage]


def hook(defense: Defense, name: str):
    """The hook the harness calls: the defense's own when its stage owns ``name``, else the base one."""
    return getattr(defense, name) if HOOK_STAGES[name] == defense.stage else getattr(Defense, name).__get__(defense)


def register_defense(name: str):
    return DEFENSES.register(name)


def create_defense(name: str, **params: Any) -> Defense:
    return DEFENSES.create(name, **params)


def list_defenses() -> List[str]:
    return DEFENSES.names()
