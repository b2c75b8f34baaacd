"""Run a defense's hooks in stage order on an (unflagged) pre-training set — wiring only.

pre (sanitise) → in (adjust config, pre-train) → post (repair on a clean subset) → downstream
(adjust the probe) → the operating point the leaderboard reports, plus any curve points. Only
the declared stage's hooks are the defense's own (:func:`defenses.base.hook`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from defenses.base import Defense, Operating, hook
from .core.errors import BenchmarkError
from .core.protocols import TrainedEncoder, Trainer
from .core.settings import PretrainConfig, ProbeConfig


@dataclass
class DefendedPipeline:
    operating: Operating
    curves: List[Operating]
    keep: Optional[np.ndarray]           # keep-mask over the poisoned set (pre-processing defenses)
    sanitized_inputs: bool               # the defense returned cleaned images rather than a mask
    train_size: int                      # images the (first) encoder was pre-trained on
    clean_subset_size: int               # clean images a post-processing defense used
    detection: Dict[str, Any] = field(default_factory=dict)


def apply_sanitize(defense: Defense, images: np.ndarray, rng: np.random.Generator, trainer=None):
    """(images to pre-train on, keep-mask or None, sanitised?) — with the output's shape checked."""
    out = hook(defense, "sanitize")(images.copy(), rng, trainer)  # a copy: a mutation cannot leak back into the harness
    if out is None:
        return images, None, False
    out = np.asarray(out)
    if out.dtype == bool and out.shape == (len(images),):
        if not out.any():
            raise BenchmarkError(f"defense {defense.name!r} removed every pre-training image")
        return images[out], out, False
    if out.dtype == np.uint8 and out.shape == images.shape:
        return out, None, True
    raise BenchmarkError(f"defense {defense.name!r}: sanitize must return a bool mask of shape ({len(images)},) "
                         f"or uint8 images of shape {images.shape}, got {out.dtype} {out.shape}")


def run_defense(defense: Defense, train_set: np.ndarray, clean_pool: np.ndarray, pretrain: PretrainConfig,
                probe: ProbeConfig, trainer: Trainer, seed: int, max_clean_fraction: float = 0.5,
                delivered: Optional[TrainedEncoder] = None) -> DefendedPipeline:
    """The defense's hooks in stage order (:func:`_run_hooks`); a hook that calls ``exit`` is a
    one-line error naming the defense, never a silent exit 0 of the harness. ``delivered``: the
    encoder a model-poisoning attacker handed over — the pre- and in-stage hooks are then skipped
    and the later ones act on it."""
    try:
        return _run_hooks(defense, train_set, clean_pool, pretrain, probe, trainer, seed, max_clean_fraction,
                          delivered)
    except SystemExit as exc:
        raise BenchmarkError(f"defense {defense.name!r} called exit({exc.code!r}) in a hook") from exc


def _typed(defense: Defense, hook_name: str, value, cls):
    """A hook's returned config, refused in one line unless it is the config type it was given."""
    if not isinstance(value, cls):
        raise BenchmarkError(f"defense {defense.name!r}: {hook_name} must return a {cls.__name__} "
                             f"(dataclasses.replace of its argument), got {type(value).__name__}")
    return value


def _run_hooks(defense: Defense, train_set: np.ndarray, clean_pool: np.ndarray, pretrain: PretrainConfig,
               probe: ProbeConfig, trainer: Trainer, seed: int, max_clean_fraction: float,
               delivered: Optional[TrainedEncoder]) -> DefendedPipeline:
    """``train_set`` = clean + poisons (what the encoder provider holds); ``clean_pool`` = the clean
    part, from which a post-processing defense's clean subset is drawn (the paper's assumption
    that the provider can collect that many clean images)."""
    if delivered is not None:
        kept, keep, sanitized, cfg, trained = train_set, None, False, pretrain, [delivered]
    else:
        kept, keep, sanitized = apply_sanitize(defense, train_set, np.random.default_rng([seed, 2]), trainer)
        cfg = _typed(defense, "adjust_pretrain", hook(defense, "adjust_pretrain")(pretrain), PretrainConfig)
        trained = hook(defense, "pretrain")(kept, cfg, trainer, np.random.default_rng([seed, 3]))
    n_clean = int(hook(defense, "clean_subset_size")(len(clean_pool)))
    if n_clean > 0:
        cap = int(max_clean_fraction * len(clean_pool))
        if n_clean > cap:
            raise BenchmarkError(f"defense {defense.name!r} asks for {n_clean} clean images; the tier allows at most "
                                 f"{cap} ({max_clean_fraction:g} of the clean set, threat.max_clean_fraction)")
        rng = np.random.default_rng([seed, 4])
        subset = clean_pool[np.sort(rng.choice(len(clean_pool), n_clean, replace=False))]
        trained = [hook(defense, "post_process")(t, subset, cfg, trainer, rng) for t in trained]
    probe_cfg = _typed(defense, "adjust_probe", hook(defense, "adjust_probe")(probe), ProbeConfig)
    return DefendedPipeline(defense.operating(trained, probe_cfg, len(kept)), defense.curves(trained, probe_cfg),
                            keep, sanitized, len(kept), n_clean, hook(defense, "detection_stats")())
