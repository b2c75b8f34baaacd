"""The attack conformance suite: one function per property, run over every registered attack.

An attack gets what the paper's threat model gives (§3.1): per target, the target image, its
references and a poison budget — plus, for attacks that optimise against one, a surrogate model
(here a random tiny one). A model-poisoning attack (BadEncoder) gets a clean encoder (the same
random tiny one) and a shadow slice of the clean set instead, and its output is the backdoored
encoder; a release attack (Contrastive Poisoning) gets the clean set with its labels, and its
output is that set perturbed within its declared L∞ budget. These checks hold for built-ins and
submitted attacks alike.
"""

from __future__ import annotations

import inspect
import json
from typing import Optional

import numpy as np
import torch

from attacks.base import KINDS, THREATS, Attack
from ..core.config import load_tier
from .context import CheckContext, surrogate_context
from .shared_checks import constructible_from_defaults, parameters_serialisable, smoke_tier_within_budget

# Names through which an attack could reach what the threat model does not give it: the victim's
# clean pre-training set, the harness's draw, the stack or the heap.
FORBIDDEN_NAMES = ("load_split", "benchmark.data", "benchmark.runner", "benchmark.pipeline", "draw_threat",
                   "_getframe", "inspect.stack", "inspect.currentframe", "gc.get_objects")


def _attack(ctx: CheckContext):
    """The entry with the smoke tier's parameters for it (an optimising attack's defaults take
    minutes per craft; the properties checked do not depend on the step count)."""
    return ctx.create(**load_tier("smoke").entry_params("attack", ctx.name))


SHADOW = 64  # the shadow images a model-poisoning attack gets here


def _threat(ctx: CheckContext) -> str:
    return _attack(ctx).threat


def _is_model(ctx: CheckContext) -> bool:
    return _threat(ctx) == "model"


def _clean_encoder(ctx: CheckContext):
    """The world's clean encoder for a model-poisoning attack (random, tiny, the same on every call)."""
    return surrogate_context(ctx.world).surrogate().encoder.eval()


def _output(ctx: CheckContext, attack=None, encoder=None):
    """What the attack makes on the world, seed 0: poisons, or the backdoored copy of the clean encoder."""
    attack = attack or _attack(ctx)
    if attack.threat == "model":
        return attack.poison_model(encoder or _clean_encoder(ctx), ctx.world.clean[:SHADOW], ctx.world.targets, 0)
    if attack.threat == "release":
        return attack.poison_release(ctx.world.clean, ctx.world.clean_labels, np.random.default_rng(0), ctx.context)
    return attack.craft(ctx.world.targets, np.random.default_rng(0), ctx.context)


def _craft(ctx: CheckContext):
    """A fresh output; the first one is kept for the checks that only read it."""
    out = _output(ctx)
    ctx.notes.setdefault("poisons", out)
    return out


def _crafted(ctx: CheckContext):
    return ctx.notes["poisons"] if "poisons" in ctx.notes else _craft(ctx)


def _weights(module) -> list:
    return [v.detach().clone() for v in module.state_dict().values()]


def kind_and_threat_declared(ctx: CheckContext) -> Optional[str]:
    a = _attack(ctx)
    assert a.kind in KINDS, f"kind {a.kind!r} is not one of {KINDS}"
    assert a.threat in THREATS, f"threat {a.threat!r} is not one of {tuple(THREATS)}"
    method = THREATS[a.threat]
    assert getattr(type(a), method) is not getattr(Attack, method), \
        f"threat {a.threat!r} but {method} is not implemented (the harness calls it for that threat)"


def backdoor_stamps_a_trigger(ctx: CheckContext) -> Optional[str]:
    a = _attack(ctx)
    if a.kind != "backdoor":
        return f"a {a.kind} attack has no trigger"
    given = ctx.world.clean[:8]
    before = given.copy()
    for target_id in range(len(ctx.world.targets)):
        out = a.stamp(given, target_id)
        assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == given.shape, \
            f"stamp must return uint8 images of the given shape {given.shape}"
        assert not np.array_equal(out, given), f"stamp(·, {target_id}) left every image unchanged: no trigger"
        assert np.array_equal(given, before), "stamp mutated the images it was given"
    return None


def output_well_formed(ctx: CheckContext) -> Optional[str]:
    targets = ctx.world.targets
    poisons = _crafted(ctx)
    if _is_model(ctx):
        x = torch.from_numpy(ctx.world.clean[:4]).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            got, want = poisons(x), _clean_encoder(ctx)(x)
        assert got.shape == want.shape and bool(torch.isfinite(got).all()), \
            f"the backdoored encoder must map inputs to finite features of shape {tuple(want.shape)}"
        return None
    if _threat(ctx) == "release":
        given = ctx.world.clean
        assert poisons.images.dtype == np.uint8 and poisons.images.shape == given.shape, \
            f"a release must be uint8 of the given set's shape {given.shape}, got {poisons.images.dtype} {poisons.images.shape}"
        json.dumps(_attack(ctx).meta(poisons))
        return None
    assert poisons.images.dtype == np.uint8 and poisons.images.shape[1:] == (32, 32, 3), \
        f"poisons must be uint8 N×32×32×3, got {poisons.images.dtype} {poisons.images.shape}"
    assert len(poisons.target_ids) == len(poisons.images), "one target id per poison"
    ids = np.asarray(poisons.target_ids)
    assert ids.size == 0 or (ids.min() >= 0 and ids.max() < len(targets)), "target ids out of range"
    json.dumps(_attack(ctx).meta(poisons))
    return None


def respects_budget(ctx: CheckContext) -> Optional[str]:
    if _is_model(ctx):
        return "a model-poisoning attack adds no poisons"
    if _threat(ctx) == "release":  # its budget is the L∞ change of every image, declared by the attack
        budget = _attack(ctx).linf_budget
        assert isinstance(budget, int) and 0 <= budget <= 255, f"a release attack declares linf_budget (0–255), got {budget!r}"
        change = np.abs(_crafted(ctx).images.astype(np.int16) - ctx.world.clean).max()
        assert change <= budget, f"the release changes a pixel value by {change}, over its L∞ budget {budget}"
        return None
    targets = ctx.world.targets
    counts = np.bincount(np.asarray(_crafted(ctx).target_ids, np.int64), minlength=len(targets))
    budgets = [t.n_poisons for t in targets]
    assert all(c <= b for c, b in zip(counts, budgets)), f"poisons per target {counts.tolist()} exceed budgets {budgets}"
    return None


def does_not_mutate_inputs(ctx: CheckContext) -> Optional[str]:
    targets = ctx.world.targets
    before = [(t.image.copy(), t.references.copy()) for t in targets]
    clean = (ctx.world.clean.copy(), ctx.world.clean_labels.copy())
    crafter, encoder = _attack(ctx), _clean_encoder(ctx)
    weights = _weights(encoder)
    _output(ctx, crafter, encoder)
    assert np.array_equal(clean[0], ctx.world.clean) and np.array_equal(clean[1], ctx.world.clean_labels), \
        "poison_release mutated the set it was given"
    # An isolated plugin mutates only its own copies; its child still reports it, and it is a failure.
    assert not getattr(crafter, "mutations", None), "craft mutated the target or reference images it was given"
    assert all(np.array_equal(i, t.image) and np.array_equal(r, t.references) for (i, r), t in zip(before, targets)), \
        "craft mutated a target or reference image"
    assert all(torch.equal(a, b) for a, b in zip(weights, _weights(encoder))), "poison_model changed the clean encoder"


def deterministic_for_seed(ctx: CheckContext) -> Optional[str]:
    a, b = _crafted(ctx), _craft(ctx)
    if _is_model(ctx):
        assert all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(b))), \
            "two backdoorings with the same seed made different encoders"
        return None
    assert np.array_equal(a.images, b.images) and np.array_equal(a.target_ids, b.target_ids), \
        "two crafts with the same seed made different poisons"
    return None


def no_leakage(ctx: CheckContext) -> Optional[str]:
    a = ctx.create()  # an isolated plugin's proxy carries its module's text; a built-in is read here
    source = getattr(a, "plugin_source", "") or inspect.getsource(inspect.getmodule(type(a)))
    hits = [n for n in FORBIDDEN_NAMES if n in source]
    assert not hits, f"the attack's module refers to {', '.join(hits)}"


ATTACK_CHECKS = (constructible_from_defaults, parameters_serialisable, kind_and_threat_declared,
                 backdoor_stamps_a_trigger, output_well_formed, respects_budget,
                 does_not_mutate_inputs, deterministic_for_seed, no_leakage, smoke_tier_within_budget)
