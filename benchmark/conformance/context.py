"""What every conformance check receives: the entry's name and kind, and a small poisoned world.

The world is synthetic (no download) and tiny (a 4-wide encoder, 300 clean images, 2 targets), so
every check but the smoke-tier cell runs in seconds; it is built once per suite run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Dict, List, Optional

import numpy as np
import torch

import attacks
import defenses
from attacks.base import AttackContext, AttackTarget
from ..data import load_split
from ..ssl.simclr import SimCLRModel, build_encoder
from ..core.config import load_tier
from ..core.settings import PretrainConfig, ProbeConfig

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass
class CheckResult:
    name: str
    status: str
    reason: str = ""


@dataclass(frozen=True)
class World:
    images: np.ndarray            # clean + poisons, poisons appended (what a defense is given)
    clean: np.ndarray             # the clean part (a post-processing defense's pool)
    clean_labels: np.ndarray      # its labels (what a release attacker, the data's publisher, knows)
    pretrain: PretrainConfig      # a tiny [pretrain] section
    probe: ProbeConfig
    targets: List[AttackTarget]   # what an attack is given
    secrets: Dict[str, np.ndarray]  # what the harness hides from a defense: poison flags, target ids


@lru_cache(maxsize=2)
def make_world(seed: int = 0, salt: str = "") -> World:
    """Built once per process, seed and synthetic-world salt (checks only read it: hooks get copies)."""
    cfg = load_tier("smoke", ["pretrain.width=4", "pretrain.blocks=[1,1]"])
    # The checks use the public world (salt ""): a verdict must not depend on the machine. A plugin
    # that re-derives it can pass them, and gains nothing in a run, drawn with the installation's salt.
    split = load_split("synthetic", "train", limit=400, salt=salt)
    pool = split.images
    targets = [AttackTarget(pool[300 + i], pool[310 + 10 * i: 320 + 10 * i], 12) for i in range(2)]
    poisons = attacks.create_attack("poisoned_encoder").craft(targets, np.random.default_rng(seed))
    images = np.concatenate([pool[:300], poisons.images])
    secrets = {"is_poison": np.arange(len(images)) >= 300, "target_ids": poisons.target_ids}
    return World(images, pool[:300], split.labels[:300], cfg.pretrain, cfg.probe, targets, secrets)


def surrogate_context(world: World) -> AttackContext:
    """A random SimCLR model of the world's size (the same one on every call, as a trained
    surrogate would be), lent to attacks that optimise against one."""
    cfg = world.pretrain

    def surrogate() -> SimCLRModel:
        torch.manual_seed(0)
        return SimCLRModel(build_encoder(cfg))
    return AttackContext(surrogate=surrogate, surrogate_cfg=cfg)


@dataclass
class CheckContext:
    name: str
    kind: str                      # "attack" or "defense"
    budget_seconds: float = 600    # the smoke-tier cell
    smoke: bool = True
    check_seconds: float = 300     # every other check (a hanging hook is stopped after this)
    notes: Dict[str, Any] = field(default_factory=dict)

    def create(self, **params: Any):
        """A fresh entry (built-ins and plugins alike), with ``params`` over its defaults."""
        registry = attacks.ATTACKS if self.kind == "attack" else defenses.DEFENSES
        return registry.create(self.name, **params)

    @cached_property
    def world(self) -> World:
        return make_world()

    @cached_property
    def context(self) -> Optional[AttackContext]:
        return surrogate_context(self.world)
