"""Conformance suite for defense plugins, in the spirit of scikit-learn's ``check_estimator``.

Each check tests one named property and returns pass / fail / skip with a reason:

- ``constructible_from_defaults`` — ``create_defense(name)`` works with no parameters;
- ``parameters_serialisable`` — ``params()`` is JSON and rebuilds an equal defense;
- ``stage_declared`` — the stage is one of :data:`defenses.base.STAGES`;
- ``output_well_formed`` — a keep-mask over the given set (or same-shape uint8 images), a
  non-empty list of encoders with the feature dimension of the configured encoder, valid
  pre-training and probe configs;
- ``does_not_mutate_inputs`` — images, configs and encoders handed to the hooks are unchanged;
- ``deterministic_for_seed`` — two fresh instances with the same seed make the same decisions;
- ``no_leakage`` — the defense's source names none of the harness's secrets, and its output does
  not change when only the secrets (poison flags, targets, references held by the caller) change;
- ``smoke_tier_within_budget`` — a full smoke-tier cell completes within ``budget_seconds``.

The hooks run against a stub trainer (random encoders, no training) so every check but the last
takes seconds. ``python -m benchmark.check NAME_OR_PATH`` runs the suite; :func:`pytest_params`
parametrizes a submitter's own pytest file.
"""

from __future__ import annotations

import copy
import inspect
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

import defenses
from attacks import create_attack
from attacks.base import AttackTarget
from .errors import BenchmarkError
from .store import canonical_json, config_hash

PASS, FAIL, SKIP = "pass", "fail", "skip"
# Names through which a defense could reach what the threat model hides from it.
FORBIDDEN_NAMES = ("target_ids", "ThreatSpec", "draw_threat", "evaluation_mask", "poison_flags", "is_poison",
                   "reference_indices", "_getframe", "inspect.stack", "inspect.currentframe", "gc.get_objects",
                   "benchmark.runner", "benchmark.threat")


@dataclass
class CheckResult:
    name: str
    status: str
    reason: str = ""


class StubTrained:
    """What the harness's trainer returns, without training: a random encoder seeded by the call."""

    def __init__(self, images: np.ndarray, pretrain: Dict[str, Any], salt: str):
        from .store import images_sha256
        from .ssl.simclr import PretrainConfig, build_encoder
        self.cfg = PretrainConfig.from_dict(pretrain)
        self.key = config_hash([images_sha256(images), self.cfg.to_dict(), salt], 20)
        torch.manual_seed(int(self.key[:8], 16))
        self.encoder = build_encoder(self.cfg).eval()
        self.image_passes = self.cfg.epochs * len(images) * 2
        self.epoch_checkpoints = {int(e): None for e in self.cfg.checkpoint_epochs}
        self.from_cache = True

    def at_epoch(self, epoch: int):
        if epoch != self.cfg.epochs and epoch not in self.epoch_checkpoints:
            raise BenchmarkError(f"no checkpoint at pre-training epoch {epoch}")
        return self.encoder


class StubTrainer:
    """Records every training request (content hashes), so decisions can be compared."""

    def __init__(self, seed: int = 0, base_pretrain: Optional[Dict[str, Any]] = None):
        self.seed, self.calls, self.image_passes, self.encoders_trained = seed, [], 0, 0
        self.base_pretrain = dict(base_pretrain or {})

    def train(self, images, pretrain, *, init=None, label="defense", seed_offset=0):
        salt = f"{self.seed}/{seed_offset}/{getattr(init, 'key', '')}"
        out = StubTrained(images, pretrain, salt)
        self.calls.append(out.key)
        self.image_passes += out.image_passes
        self.encoders_trained += 1
        return out


def check_world(seed: int = 0):
    """A small poisoned pre-training set, its secrets and tiny configs (synthetic, no download)."""
    from .data import load_split
    from .tiers import load_tier
    cfg = load_tier("smoke", ["pretrain.width=4", "pretrain.blocks=[1,1]"])
    pool = load_split("synthetic", "train", limit=400).images
    rng = np.random.default_rng(seed)
    targets = [AttackTarget(pool[300 + i], pool[310 + 10 * i: 320 + 10 * i], 12) for i in range(2)]
    poisons = create_attack("poisoned_encoder").craft(targets, rng)
    images = np.concatenate([pool[:300], poisons.images])
    secrets = {"is_poison": np.arange(len(images)) >= 300, "target_ids": poisons.target_ids}
    return images, pool[:300], cfg["pretrain"], cfg["probe"], secrets


def _run(defense, images, clean, pretrain, probe, seed=0):
    from .defended import run_defense
    trainer = StubTrainer(seed, pretrain)
    out = run_defense(defense, images, clean, pretrain, probe, trainer, seed)
    return out, trainer


def _decisions(out, trainer) -> str:
    keep = None if out.keep is None else np.flatnonzero(out.keep).tolist()
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        feats = [getattr(e, "encoder", e).eval()(x).sum().item() for e in out.operating.encoders]
    return canonical_json({"keep": keep, "calls": trainer.calls, "probe": out.operating.probe,
                           "label": out.operating.label, "features": [round(f, 5) for f in feats]})


def run_checks(name: str, budget_seconds: float = 600, smoke: bool = True) -> List[CheckResult]:
    results: List[CheckResult] = []

    def record(check: str, fn: Callable[[], Optional[str]]) -> None:
        try:
            skip = fn()
            results.append(CheckResult(check, SKIP, skip) if skip else CheckResult(check, PASS))
        except AssertionError as exc:
            results.append(CheckResult(check, FAIL, str(exc) or "assertion failed"))
        except (Exception, SystemExit) as exc:  # a crash (or an exit) is a failure of that property, in one line
            results.append(CheckResult(check, FAIL, f"{type(exc).__name__}: {' '.join(str(exc).split())}"))

    state: Dict[str, Any] = {}

    def constructible():
        state["defense"] = defenses.create_defense(name)

    record("constructible_from_defaults", constructible)
    if "defense" not in state:
        return results + [CheckResult(c, SKIP, "not constructible") for c in
                          ("parameters_serialisable", "stage_declared", "output_well_formed", "does_not_mutate_inputs",
                           "deterministic_for_seed", "no_leakage", "smoke_tier_within_budget")]
    d = state["defense"]
    world = check_world()
    images, clean, pretrain, probe, secrets = world

    def serialisable():
        params = d.params()
        text = json.dumps(params)
        again = defenses.create_defense(name, **json.loads(text))
        assert json.dumps(again.params(), sort_keys=True) == json.dumps(params, sort_keys=True), \
            "params() does not rebuild the same defense"

    def stage():
        assert d.stage in defenses.STAGES, f"stage {d.stage!r} is not one of {defenses.STAGES}"

    def well_formed():
        out, _ = _run(defenses.create_defense(name), images, clean, pretrain, probe)
        if out.keep is not None:
            assert out.keep.dtype == bool and out.keep.shape == (len(images),), "keep-mask of the wrong shape"
        assert len(out.operating.encoders) >= 1, "no encoder for the downstream user"
        from .ssl.simclr import PretrainConfig, build_encoder
        from .evaluate import ProbeConfig
        dim = build_encoder(PretrainConfig.from_dict(pretrain)).feature_dim
        x = torch.rand(2, 3, 32, 32)
        for e in out.operating.encoders:
            with torch.inference_mode():
                f = getattr(e, "encoder", e).eval()(x)
            assert tuple(f.shape) == (2, dim), f"encoder outputs {tuple(f.shape)}, expected (2, {dim})"
        ProbeConfig.from_dict(out.operating.probe)
        PretrainConfig.from_dict(d.adjust_pretrain(copy.deepcopy(pretrain)))

    def no_mutation():
        fresh = defenses.create_defense(name)
        imgs, cfg_p, cfg_q = images.copy(), copy.deepcopy(pretrain), copy.deepcopy(probe)
        trainer = StubTrainer(0, pretrain)
        fresh.sanitize(imgs, np.random.default_rng(0), trainer)
        assert np.array_equal(imgs, images), "sanitize mutated the images it was given"
        fresh.adjust_pretrain(cfg_p)
        fresh.adjust_probe(cfg_q)
        assert cfg_p == pretrain and cfg_q == probe, "a hook mutated the config dict it was given"
        trained = fresh.pretrain(imgs, cfg_p, trainer, np.random.default_rng(0))
        assert np.array_equal(imgs, images) and cfg_p == pretrain, "pretrain mutated its inputs"
        before = [canonical_json({k: v.sum().item() for k, v in getattr(t, "encoder", t).state_dict().items()}) for t in trained]
        sub = clean[:50].copy()
        for t in trained:
            fresh.post_process(t, sub, cfg_p, trainer, np.random.default_rng(0))
        after = [canonical_json({k: v.sum().item() for k, v in getattr(t, "encoder", t).state_dict().items()}) for t in trained]
        assert before == after and np.array_equal(sub, clean[:50]), "post_process mutated the encoder or clean subset"

    def deterministic():
        a = _decisions(*_run(defenses.create_defense(name), images, clean, pretrain, probe))
        b = _decisions(*_run(defenses.create_defense(name), images, clean, pretrain, probe))
        assert a == b, "two runs with the same seed made different decisions"

    def no_leakage():
        cls = type(d)
        source = inspect.getsource(inspect.getmodule(cls))
        hits = [n for n in FORBIDDEN_NAMES if n in source]
        assert not hits, f"the defense's module refers to {', '.join(hits)}"
        outcomes = []
        for flip in (False, True):
            # The caller holds the secrets, as the harness does; a defense that walked the stack or
            # the heap to find them would decide differently when only they change.
            is_poison = ~secrets["is_poison"] if flip else secrets["is_poison"]  # noqa: F841
            target_ids = secrets["target_ids"][::-1] if flip else secrets["target_ids"]  # noqa: F841
            outcomes.append(_decisions(*_run(defenses.create_defense(name), images, clean, pretrain, probe)))
        assert outcomes[0] == outcomes[1], "the output changed when only the hidden poison flags/targets changed"

    def smoke_cell():
        if not smoke:
            return "smoke tier skipped (--fast)"
        from .runner import Options, run_cell
        from .tiers import load_tier
        with tempfile.TemporaryDirectory() as tmp:
            opts = Options(None, None, Path(tmp) / "cache", Path(tmp) / "results", "cpu", False)
            start = time.perf_counter()
            path = run_cell(load_tier("smoke"), "poisoned_encoder", name, 0, opts, log=lambda *_: None)
            took = time.perf_counter() - start
            rec = json.loads(path.read_text())
            assert rec["defense"] == name, "record names another defense"
            assert took <= budget_seconds, f"smoke tier took {took:.0f} s > budget {budget_seconds:.0f} s"

    for check, fn in [("parameters_serialisable", serialisable), ("stage_declared", stage),
                      ("output_well_formed", well_formed), ("does_not_mutate_inputs", no_mutation),
                      ("deterministic_for_seed", deterministic), ("no_leakage", no_leakage),
                      ("smoke_tier_within_budget", smoke_cell)]:
        record(check, fn)
    return results


CHECK_NAMES = ("constructible_from_defaults", "parameters_serialisable", "stage_declared", "output_well_formed",
               "does_not_mutate_inputs", "deterministic_for_seed", "no_leakage", "smoke_tier_within_budget")


def pytest_params(name: str, smoke: bool = False):
    """``@pytest.mark.parametrize("result", pytest_params("my_defense"))`` then
    ``assert result.status != "fail", result.reason`` — one test per named check."""
    import pytest
    return [pytest.param(r, id=f"{name}-{r.name}") for r in run_checks(name, smoke=smoke)]
