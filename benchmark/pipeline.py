"""One grid cell, written once: threat → craft → defend → train (→ evaluate → record: the runner's).

:func:`run_pipeline` is the only implementation of a cell. Its three callers differ only in the
trainer and the poison source they hand it:

- the runner (``benchmark/runner.py``): :class:`~benchmark.trainer.EncoderTrainer` and
  :class:`StoredPoisons` (crafted, and stored when the attack asks) — then evaluates and records;
- the dry-run planner (``benchmark/grid.py``): :class:`~benchmark.trainer.PlanningTrainer` and
  :class:`PlannedPoisons` (a stored brew, or stand-ins of the right count) — then sums costs;
- detection experiments (``benchmark/experiment.py``): the planning trainer — then score the
  pre-processing defense's keep-mask.

The random streams are fixed here for all three: the threat from ``seed``, crafting from
``[seed, 1]``, the defense's from ``[seed, 2..4]`` (:mod:`benchmark.defended`) and a model-poisoning
attack's shadow set from ``[seed, 5]`` (:mod:`benchmark.model_store`).

Three threats: *data* poisoning appends the crafted poisons to the victim's pre-training set, and
every defense stage applies; *release* poisoning (Contrastive Poisoning) replaces the victim's set by
the attacker's perturbed copy of it — every stage applies too; *model* poisoning (BadEncoder)
delivers a backdoored copy of the clean encoder in its place — there is no poisoned data to sanitise
or pre-train on, so only post-processing and downstream defenses apply (:func:`not_applicable`), and
they act on the delivered encoder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

import attacks
import defenses
from attacks.base import AttackContext, AttackTarget, PoisonSet
from .backbone import resolve as resolve_backbone
from .data import ImageDataset, load_split
from .defended import DefendedPipeline, run_defense
from .core.errors import BenchmarkError, NotApplicable
from .model_store import ModelStore, model_key, shadow_set
from .poison_store import PoisonStore, dataset_sha256, targets_sha256
from .core.registry import check_entry_sections
from .ssl.encoders import ENCODERS
from .ssl.methods import METHODS
from .ssl.simclr import load_simclr_model
from .core.threat import ThreatSpec, draw_threat
from .core.config import load_tier, with_changes
from .core.protocols import TrainedEncoder, Trainer
from .trainer import PlannedEncoder
from .core.settings import TierConfig
from .core.settings import PretrainConfig


@dataclass
class Data:
    pretrain: ImageDataset
    tasks: Dict[str, Dict[str, ImageDataset]]  # task → {"train", "test"}


@dataclass
class CellRun:
    """Everything a cell produced before evaluation."""
    threat: ThreatSpec
    clean: TrainedEncoder        # the seed's clean encoder (no attack, no defense)
    poisons: PoisonSet
    train_set: np.ndarray        # clean set + poisons, poisons appended (what the provider holds)
    defended: DefendedPipeline
    delivered: Optional[TrainedEncoder] = None   # model poisoning: the encoder the attacker handed over
    released: bool = False       # release poisoning: train_set is the attacker's perturbed copy of the clean set


# The registries whose entries' parameters a tier's [attack.NAME] / [defense.NAME] tables hold.
ENTRY_REGISTRIES = {"attack": attacks.ATTACKS, "defense": defenses.DEFENSES}


def load_config(name_or_path: str, overrides=()) -> TierConfig:
    """A tier with ``--set`` overrides, validated, its entry tables checked against the registries
    (load plugins first): what every command runs on."""
    cfg = check_entry_sections(load_tier(name_or_path, overrides), ENTRY_REGISTRIES)
    METHODS.get(cfg.pretrain.method)  # an unknown method or encoder is a one-line error before any work
    ENCODERS.get(cfg.pretrain.arch)
    return cfg


def changed_config(cfg: TierConfig, changes: Dict[str, Any]) -> TierConfig:
    """``cfg`` with an experiment cell's ``{dotted path: value}`` changes, by the same rule as ``--set``."""
    return check_entry_sections(with_changes(cfg, changes), ENTRY_REGISTRIES)


def load_data(cfg: TierConfig, options) -> Data:
    if cfg.pretrain.init:  # a missing, tampered or differently shaped backbone fails before any work
        check_backbone_shape(resolve_backbone(cfg.pretrain.init).info.get("recipe", {}), cfg.pretrain)
    src = dict(data_root=options.data_root, download_root=options.download_root)
    pre = load_split(cfg.pretrain_data.name, cfg.pretrain_data.split, limit=cfg.pretrain_data.limit, **src)
    tasks = {t.name: {"train": load_split(t.name, "train", limit=t.train_limit, **src),
                      "test": load_split(t.name, "test", limit=t.test_limit, **src)}
             for t in cfg.tasks}
    return Data(pre, tasks)


def check_backbone_shape(recipe: Dict[str, Any], cfg: PretrainConfig) -> None:
    """Continuing a backbone needs the encoder it holds: same architecture, width and blocks."""
    want = {"arch": cfg.arch, "width": cfg.width, "blocks": list(cfg.blocks)}
    has = {k: recipe.get(k) for k in want}
    if has != want:
        raise BenchmarkError(f"backbone {cfg.init!r} holds a {has['arch']} (width {has['width']}, blocks {has['blocks']}); "
                             f"pretrain asks for {cfg.arch} (width {cfg.width}, blocks {list(cfg.blocks)}): set "
                             "pretrain.init=\"\" to pre-train from scratch, or build a backbone of that shape")


def create_entries(cfg: TierConfig, attack_name: str, defense_name: str):
    """(attack, defense) built from the registries with the tier's parameters for each."""
    attack = attacks.create_attack(attack_name, **cfg.entry_params("attack", attack_name))
    defense = defenses.create_defense(defense_name, **cfg.entry_params("defense", defense_name))
    return attack, defense


def cell_threat(cfg: TierConfig, data: Data, seed: int) -> ThreatSpec:
    """The seed's targets, target classes and references, drawn at random as the paper does."""
    t = cfg.threat
    threat = draw_threat({name: splits["test"].labels for name, splits in data.tasks.items()},
                         t.targets_per_task, t.n_references, t.poison_rate, np.random.default_rng(seed))
    only = t.only_target
    if only < 0:
        return threat
    # One target per poisoned run (the paper's protocol): the same draw, only target ``only`` poisoned,
    # so a shared run and per-target runs are compared on identical targets.
    if only >= len(threat.targets):
        raise BenchmarkError(f"threat.only_target={only}, but the seed draws {len(threat.targets)} targets")
    return dataclasses.replace(threat, targets=threat.targets[only:only + 1])


def backdoor_threat(threat: ThreatSpec) -> ThreatSpec:
    """A backdoor's threat: one target class per downstream task — that of the task's first drawn
    target, with its references (the same draw as the targeted attacks'; the target input itself
    is not the objective, only kept out of CA/PA)."""
    first: Dict[str, Any] = {}
    for t in threat.targets:
        first.setdefault(t.task, t)
    return dataclasses.replace(threat, targets=tuple(first.values()))


def attack_targets(threat: ThreatSpec, data: Data, n_clean: int) -> List[AttackTarget]:
    """What the attacker knows: each target image, its references and its budget."""
    out = []
    for t in threat.targets:
        test = data.tasks[t.task]["test"]
        out.append(AttackTarget(test.images[t.index], test.images[list(t.reference_indices)],
                                threat.poisons_per_target(n_clean)))
    return out


def surrogate_of(cfg: PretrainConfig, clean_path, clean_key: str) -> Tuple[Any, str]:
    """(checkpoint, content key) an optimising attack (Witches' Brew) crafts against: from scratch,
    the grid's clean encoder of the seed (the strongest possible); continuing a public backbone,
    that backbone — what the attacker can download (its projection head, never published, starts
    fresh from the seed)."""
    if not cfg.init:
        return clean_path, clean_key
    public = resolve_backbone(cfg.init)
    return public.path, public.sha256


def craft_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1])


class StoredPoisons:
    """Poisons as the runner gets them: crafted (against the surrogate when the attack needs one)
    and kept in the poison store when the attack stores its poisons."""

    def __init__(self, store: PoisonStore, device: str = "cpu", models: Optional[ModelStore] = None):
        self.store, self.device = store, device
        self.models = models or ModelStore(store.root.parent / "models", device)

    def _surrogate(self, clean: TrainedEncoder, seed: int) -> Tuple[str, AttackContext]:
        """(the surrogate's content key, the context lending it) for an attack that optimises."""
        path, key = surrogate_of(clean.cfg, clean.final_path, clean.key)
        return key, AttackContext(surrogate=lambda: load_simclr_model(path, clean.cfg, self.device, seed),
                                  surrogate_cfg=clean.cfg)

    def __call__(self, attack, targets: List[AttackTarget], seed: int, clean: TrainedEncoder) -> PoisonSet:
        key, context = self._surrogate(clean, seed)
        return self.store.get(attack, targets_sha256(targets), seed, key,
                              lambda: attack.craft(targets, craft_rng(seed), context))

    def release(self, attack, pretrain: ImageDataset, seed: int, clean: TrainedEncoder) -> PoisonSet:
        """A release attack's perturbed copy of the victim's set (crafted once, kept in the poison store)."""
        key, context = self._surrogate(clean, seed)
        return self.store.get(attack, dataset_sha256(pretrain.images, pretrain.labels), seed, key,
                              lambda: attack.poison_release(pretrain.images, pretrain.labels, craft_rng(seed), context))

    def model(self, attack, targets: List[AttackTarget], seed: int, clean: TrainedEncoder, shadow: np.ndarray):
        """A model-poisoning attack's backdoored encoder (made once, kept in the model store)."""
        return self.models.get(attack, targets, seed, clean, shadow)


class PlannedPoisons:
    """Poisons without optimising: closed-form attacks craft (it is free); an attack that needs a
    surrogate gets its stored brew if there is one, else stand-ins of the right count (right cost;
    the poisoned encoders' keys are then unknown). Without a store, such an attack is refused."""

    def __init__(self, store: Optional[PoisonStore] = None):
        self.store = store

    def __call__(self, attack, targets: List[AttackTarget], seed: int, clean: TrainedEncoder) -> PoisonSet:
        if not getattr(attack, "needs_surrogate", False):
            return attack.craft(targets, craft_rng(seed))
        if self.store is None:
            raise BenchmarkError(f"{attack.name} optimises against a surrogate: it cannot be planned without crafting")
        poisons = self.store.lookup(attack, targets_sha256(targets), seed, surrogate_of(clean.cfg, None, clean.key)[1])
        if poisons is not None:
            return poisons
        n = sum(t.n_poisons for t in targets)
        shape = targets[0].image.shape if targets else (32, 32, 3)
        return PoisonSet(np.full((n, *shape), seed % 251, np.uint8), np.zeros(n, np.int64))

    def release(self, attack, pretrain: ImageDataset, seed: int, clean: TrainedEncoder) -> PoisonSet:
        """The stored release if there is one, else a stand-in of the right shape (right cost; it
        differs from the clean set, so its encoder is never mistaken for the cached clean one)."""
        stored = self.store.lookup(attack, dataset_sha256(pretrain.images, pretrain.labels), seed,
                                   surrogate_of(clean.cfg, None, clean.key)[1]) if self.store else None
        if stored is not None:
            return stored
        return PoisonSet(np.bitwise_xor(pretrain.images, np.uint8(1)), np.full(len(pretrain), -1, np.int64))

    def model(self, attack, targets: List[AttackTarget], seed: int, clean: TrainedEncoder, shadow: np.ndarray):
        """The backdoored encoder's real key and the clean encoder's cost, nothing made."""
        return PlannedEncoder(clean.cfg, model_key(attack, targets, seed, clean.key, shadow), clean.image_passes)


PoisonSource = Union[StoredPoisons, PlannedPoisons]


def not_applicable(attack, defense) -> Optional[str]:
    """Why the (attack, defense) pair is no cell of a grid, or None: a defense that sanitises or
    re-runs pre-training has nothing to act on when the attacker delivers a model (BadEncoder).
    Entries or their classes (``threat`` and ``stage`` are class attributes)."""
    if attack.threat == "model" and defense.stage in ("pre", "in"):
        return (f"defense {defense.name!r} acts on the pre-training data ({defense.stage}-processing); "
                f"attack {attack.name!r} delivers a poisoned encoder, not data")
    return None


def _poison(attack, targets, seed: int, data: Data, clean: TrainedEncoder, poisons_for: PoisonSource, timed):
    """(poisons, the victim's pre-training set, the encoder delivered by a model-poisoning attack or None)."""
    if attack.threat == "release":  # the victim pre-trains on the attacker's copy; nothing is appended
        released = timed("attack", poisons_for.release, attack, data.pretrain, seed, clean)
        return PoisonSet(np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, np.int64), released.meta), released.images, None
    if attack.threat == "model":
        shadow = shadow_set(data.pretrain.images, attack.shadow_size, seed)
        delivered = timed("attack", poisons_for.model, attack, targets, seed, clean, shadow)
        return PoisonSet(np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, np.int64)), data.pretrain.images, delivered
    poisons = timed("attack", poisons_for, attack, targets, seed, clean)
    train_set = np.concatenate([data.pretrain.images, poisons.images]) if len(poisons) else data.pretrain.images
    return poisons, train_set, None


def _untimed(stage: str, fn, *args, **kwargs):
    return fn(*args, **kwargs)


def run_pipeline(cfg: TierConfig, attack, defense, seed: int, data: Data, trainer: Trainer,
                 poisons_for: PoisonSource, timed=_untimed) -> CellRun:
    """The cell: draw the threat, train (or plan) the clean encoder, craft the poisons, append them
    to the victim's set and run the defense's hooks in stage order. ``timed(stage, fn, *args)``
    lets the runner measure each stage. A pair that is no cell (:func:`not_applicable`) is refused
    before any work."""
    reason = not_applicable(attack, defense)
    if reason:
        raise NotApplicable(reason)
    threat = cell_threat(cfg, data, seed)
    if attack.kind == "backdoor":
        threat = backdoor_threat(threat)
    elif attack.kind == "indiscriminate":  # no target: the accuracy every task loses is the outcome
        threat = dataclasses.replace(threat, targets=())
    targets = attack_targets(threat, data, len(data.pretrain))
    clean = timed("pretrain_clean", trainer.clean, data.pretrain.images)
    poisons, train_set, delivered = _poison(attack, targets, seed, data, clean, poisons_for, timed)
    # The defense gets what an encoder provider holds: the unflagged poisoned set (a copy), the
    # clean part only for drawing a post-processing defense's clean subset, and the trainer — or,
    # under model poisoning, the delivered encoder.
    defended = timed("defense", run_defense, defense, train_set, data.pretrain.images, cfg.pretrain,
                     cfg.probe, trainer, seed, cfg.threat.max_clean_fraction, delivered)
    return CellRun(threat, clean, poisons, train_set, defended, delivered, attack.threat == "release")
