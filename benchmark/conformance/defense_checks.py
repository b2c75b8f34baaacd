"""The defense conformance suite: one function per property (scikit-learn's ``check_estimator`` shape).

Each check takes a :class:`~.context.CheckContext`, returns None (pass) or a skip reason, and
raises AssertionError (or anything) to fail. The hooks run against the planning trainer (random
encoders under real content keys, nothing trained), so every check but the smoke-tier cell takes
seconds.
"""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
import torch

import defenses
from defenses.base import hooks_outside_stage
from ..core.metrics import detection_rates
from ..defended import apply_sanitize, run_defense
from ..encoder_cache import EncoderCache

from ..ssl.simclr import build_encoder
from ..core.store import canonical_json
from ..trainer import PlanningTrainer
from .context import CheckContext, World
from .shared_checks import constructible_from_defaults, parameters_serialisable, smoke_tier_within_budget
from ..core.settings import PretrainConfig, ProbeConfig

# Names through which a defense could reach what the threat model hides from it.
FORBIDDEN_NAMES = ("target_ids", "ThreatSpec", "draw_threat", "evaluation_mask", "poison_flags", "is_poison",
                   "reference_indices", "_getframe", "inspect.stack", "inspect.currentframe", "gc.get_objects",
                   "benchmark.runner", "benchmark.core.threat", "benchmark.pipeline")


def _trainer(world: World, seed: int = 0) -> PlanningTrainer:
    # A cache directory that never holds anything: the planner only computes keys.
    return PlanningTrainer(EncoderCache(Path(tempfile.gettempdir()) / "cl-poisonbench-conformance"), seed, world.pretrain)


def _run(ctx: CheckContext, seed: int = 0):
    w = ctx.world
    trainer = _trainer(w, seed)
    return run_defense(ctx.create(), w.images, w.clean, w.pretrain, w.probe, trainer, seed), trainer


def _decisions(out, trainer) -> str:
    """Everything a defense decided, as one string: kept images, encoders asked for, probe, features."""
    keep = None if out.keep is None else np.flatnonzero(out.keep).tolist()
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        feats = [getattr(e, "encoder", e).eval()(x).sum().item() for e in out.operating.encoders]
    return canonical_json({"keep": keep, "calls": [r["key"] for r in trainer.requests], "probe": out.operating.probe.to_dict(),
                           "label": out.operating.label, "features": [round(f, 5) for f in feats]})


def stage_declared(ctx: CheckContext) -> Optional[str]:
    d = ctx.create()
    assert d.stage in defenses.STAGES, f"stage {d.stage!r} is not one of {defenses.STAGES}"


def hooks_in_declared_stage(ctx: CheckContext) -> Optional[str]:
    d = ctx.create()
    outside = hooks_outside_stage(d)
    assert not outside, (f"stage {d.stage!r} but overrides {', '.join(outside)} (another stage's hooks; "
                         "the harness would not call them)")


def output_well_formed(ctx: CheckContext) -> Optional[str]:
    w = ctx.world
    out, _ = _run(ctx)
    if out.keep is not None:
        assert out.keep.dtype == bool and out.keep.shape == (len(w.images),), "keep-mask of the wrong shape"
    assert len(out.operating.encoders) >= 1, "no encoder for the downstream user"
    dim = build_encoder(w.pretrain).feature_dim
    x = torch.rand(2, 3, 32, 32)
    for e in out.operating.encoders:
        with torch.inference_mode():
            f = getattr(e, "encoder", e).eval()(x)
        assert tuple(f.shape) == (2, dim), f"encoder outputs {tuple(f.shape)}, expected (2, {dim})"
    assert isinstance(out.operating.probe, ProbeConfig), "the operating point's probe is not a ProbeConfig"
    assert isinstance(ctx.create().adjust_pretrain(w.pretrain), PretrainConfig), "adjust_pretrain returned no PretrainConfig"


def _weights(trained) -> list:
    return [canonical_json({k: v.sum().item() for k, v in getattr(t, "encoder", t).state_dict().items()}) for t in trained]


def does_not_mutate_inputs(ctx: CheckContext) -> Optional[str]:
    w, d = ctx.world, ctx.create()
    # The configs are frozen dataclasses: only the arrays and encoders a hook gets can be mutated.
    imgs, cfg_p = w.images.copy(), w.pretrain
    trainer = _trainer(w)
    d.sanitize(imgs, np.random.default_rng(0), trainer)
    assert np.array_equal(imgs, w.images), "sanitize mutated the images it was given"
    trained = d.pretrain(imgs, cfg_p, trainer, np.random.default_rng(0))
    assert np.array_equal(imgs, w.images), "pretrain mutated the images it was given"
    before, sub = _weights(trained), w.clean[:50].copy()
    for t in trained:
        d.post_process(t, sub, cfg_p, trainer, np.random.default_rng(0))
    assert before == _weights(trained) and np.array_equal(sub, w.clean[:50]), \
        "post_process mutated the encoder or clean subset"
    # An isolated plugin mutates only its own copies; its child still reports it, and it is a failure.
    assert not getattr(d, "mutations", None), f"{', '.join(d.mutations)} mutated the arrays it was given"


# How far detection rates may move when only the order of the set changes (a legitimate filter with
# a randomly initialised clustering moves a little; one that reads positions moves by most of 1).
ORDER_TOLERANCE = {"fpr": 0.1, "fnr": 0.25}


def decisions_follow_images(ctx: CheckContext) -> Optional[str]:
    """The same images in two other orders (poisons no longer at the tail, the permutation kept
    here): the keep-mask, mapped back, must detect about as well — a filter that reads positions
    instead of pixels fails."""
    w = ctx.world
    rates = []
    for p in (None, 1, 2):
        order = np.arange(len(w.images)) if p is None else np.random.default_rng([p, 7]).permutation(len(w.images))
        _, keep, _ = apply_sanitize(ctx.create(), w.images[order], np.random.default_rng([0, 2]), _trainer(w))
        if keep is None:
            return "returns no keep-mask"
        back = np.empty_like(keep)
        back[order] = keep
        rates.append(dict(zip(("fpr", "fnr"), detection_rates(back, w.secrets["is_poison"]))))
    for r in rates[1:]:
        for k, tol in ORDER_TOLERANCE.items():
            assert abs(r[k] - rates[0][k]) <= tol, (f"{k.upper()} {rates[0][k]:.2f} with the poisons at the end, "
                                                    f"{r[k]:.2f} with them shuffled: decisions follow positions")
    return None


def deterministic_for_seed(ctx: CheckContext) -> Optional[str]:
    assert _decisions(*_run(ctx)) == _decisions(*_run(ctx)), "two runs with the same seed made different decisions"


def no_leakage(ctx: CheckContext) -> Optional[str]:
    d = ctx.create()  # an isolated plugin's proxy carries its module's text; a built-in is read here
    source = getattr(d, "plugin_source", "") or inspect.getsource(inspect.getmodule(type(d)))
    hits = [n for n in FORBIDDEN_NAMES if n in source]
    assert not hits, f"the defense's module refers to {', '.join(hits)}"
    secrets, outcomes = ctx.world.secrets, []
    for flip in (False, True):
        # The caller holds the secrets, as the harness does; a defense that walked the stack or
        # the heap to find them would decide differently when only they change.
        is_poison = ~secrets["is_poison"] if flip else secrets["is_poison"]  # noqa: F841
        target_ids = secrets["target_ids"][::-1] if flip else secrets["target_ids"]  # noqa: F841
        outcomes.append(_decisions(*_run(ctx)))
    assert outcomes[0] == outcomes[1], "the output changed when only the hidden poison flags/targets changed"


DEFENSE_CHECKS = (constructible_from_defaults, parameters_serialisable, stage_declared, hooks_in_declared_stage,
                  output_well_formed, does_not_mutate_inputs, deterministic_for_seed, decisions_follow_images, no_leakage,
                  smoke_tier_within_budget)
