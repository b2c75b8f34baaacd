"""One grid cell: poison → defend → pre-train → evaluate → record (see ARCHITECTURE's diagram).

Everything called here is a registry entry or a pure function; this file is only wiring.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
from filelock import FileLock, Timeout

import attacks
import defenses
from attacks.base import AttackContext, AttackTarget
from .data import ImageDataset, load_split
from .backbone import resolve as resolve_backbone
from .encoder_cache import EncoderCache
from .errors import BenchmarkError
from .feature_store import FeatureStore
from .poison_store import PoisonStore
from defenses.base import Operating
from defenses.plugins import plugin_origin
from .defended import run_defense
from .records import grid_hash
from .report import build_record, evaluate
from .ssl.simclr import PretrainConfig, load_simclr_model
from .trainer import EncoderTrainer
from .store import atomic_write_json, config_hash, read_json
from .threat import ThreatSpec, draw_threat


@dataclass
class Options:
    data_root: Optional[str] = None
    download_root: Optional[str] = None
    cache_dir: Path = Path(".cache")
    results_dir: Path = Path("results")
    device: str = "cpu"
    progress: bool = True


@dataclass
class Data:
    pretrain: ImageDataset
    tasks: Dict[str, Dict[str, ImageDataset]]  # task → {"train", "test"}


def record_path(options: Options, cfg: Dict[str, Any], attack: str, defense: str, seed: int) -> Path:
    return options.results_dir / cfg["tier"]["name"] / grid_hash(cfg) / attack / defense / f"seed{seed}.json"


def load_data(cfg: Dict[str, Any], options: Options) -> Data:
    if cfg["pretrain"].get("init"):
        resolve_backbone(cfg["pretrain"]["init"])  # a missing or tampered backbone fails before any work
    d = cfg["data"]
    src = dict(data_root=options.data_root, download_root=options.download_root)
    pre = load_split(d["pretrain"]["name"], d["pretrain"].get("split", "train"), limit=d["pretrain"].get("limit"), **src)
    tasks = {t["name"]: {"train": load_split(t["name"], "train", limit=t.get("train_limit"), **src),
                         "test": load_split(t["name"], "test", limit=t.get("test_limit"), **src)}
             for t in d["tasks"]}
    return Data(pre, tasks)


def attack_targets(threat: ThreatSpec, data: Data, n_clean: int) -> List[AttackTarget]:
    """What the attacker knows: each target image, its references and its budget."""
    out = []
    for t in threat.targets:
        test = data.tasks[t.task]["test"]
        out.append(AttackTarget(test.images[t.index], test.images[list(t.reference_indices)],
                                threat.poisons_per_target(n_clean)))
    return out


def cell_threat(cfg: Dict[str, Any], data: Data, seed: int) -> ThreatSpec:
    """The seed's targets, target classes and references, drawn at random as the paper does."""
    t = cfg["threat"]
    threat = draw_threat({name: splits["test"].labels for name, splits in data.tasks.items()},
                         t["targets_per_task"], t["n_references"], t["poison_rate"], np.random.default_rng(seed))
    only = t.get("only_target", -1)
    if only < 0:
        return threat
    # One target per poisoned run (the paper's protocol): the same draw, only target ``only`` poisoned,
    # so a shared run and per-target runs are compared on identical targets.
    if only >= len(threat.targets):
        raise BenchmarkError(f"threat.only_target={only}, but the seed draws {len(threat.targets)} targets")
    return dataclasses.replace(threat, targets=threat.targets[only:only + 1])


def surrogate_of(cfg: PretrainConfig, clean_path, clean_key: str):
    """(checkpoint, content key) an optimising attack (Witches' Brew) crafts against: from scratch,
    the grid's clean encoder of the seed (the strongest possible); continuing a public backbone,
    that backbone — what the attacker can download (its projection head, never published, starts
    fresh from the seed)."""
    if not cfg.init:
        return clean_path, clean_key
    public = resolve_backbone(cfg.init)
    return public.path, public.sha256


def resolved_config(cfg: Dict[str, Any], attack, defense, seed: int) -> Dict[str, Any]:
    return {"tier": cfg, "attack": {"name": attack.name, "params": attack.params()},
            "defense": {"name": defense.name, "stage": defense.stage, "params": defense.params()}, "seed": seed}


def run_cell(cfg: Dict[str, Any], attack_name: str, defense_name: str, seed: int, options: Options,
             data: Optional[Data] = None, log=print, wait: bool = True) -> Optional[Path]:
    """Run one (attack, defense, seed) cell of a tier and write its record; skip if it exists.

    Another runner computing the same cell holds its lock: with ``wait`` this runner waits and then
    skips; without, it returns None at once so a grid worker can take the next job meanwhile."""
    attack = attacks.create_attack(attack_name, **cfg.get("attack", {}).get(attack_name, {}))
    defense = defenses.create_defense(defense_name, **cfg.get("defense", {}).get(defense_name, {}))
    resolved = resolved_config(cfg, attack, defense, seed)
    path = record_path(options, cfg, attack_name, defense_name, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path.with_name(path.name + ".lock")))
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout:
        log(f"busy: {path} is being computed by another runner; coming back to it")
        return None
    try:
        if path.exists() and read_json(path).get("config_hash") == config_hash(resolved):
            log(f"skip: {path} exists")
            return path
        _compute_cell(cfg, attack, defense, attack_name, defense_name, seed, options, data, log, resolved, path)
    finally:
        lock.release()
    return path


def _compute_cell(cfg, attack, defense, attack_name, defense_name, seed, options, data, log, resolved, path) -> None:
    timings: Dict[str, Dict[str, float]] = {}

    def timed(stage: str, fn, *a, **kw):
        w, c = time.perf_counter(), time.process_time()
        result = fn(*a, **kw)
        timings[stage] = {"wall_seconds": time.perf_counter() - w, "cpu_seconds": time.process_time() - c}
        return result

    data = data or timed("load_data", load_data, cfg, options)
    threat = cell_threat(cfg, data, seed)
    n_clean = len(data.pretrain)
    cache = EncoderCache(options.cache_dir, options.device, options.progress)
    base_pretrain = cfg["pretrain"]

    clean = timed("pretrain_clean", cache.get, data.pretrain.images, PretrainConfig.from_dict(base_pretrain),
                  seed, "clean")
    surrogate_path, surrogate_key = surrogate_of(clean.cfg, clean.final_path, clean.key)
    context = AttackContext(surrogate=lambda: load_simclr_model(surrogate_path, clean.cfg, options.device, seed))
    targets = attack_targets(threat, data, n_clean)
    poisons = timed("attack", PoisonStore(options.cache_dir / "poisons").get, attack, targets, seed, surrogate_key,
                    lambda: attack.craft(targets, np.random.default_rng([seed, 1]), context))
    train_set = np.concatenate([data.pretrain.images, poisons.images]) if len(poisons) else data.pretrain.images

    # The defense gets what an encoder provider holds: the unflagged poisoned set (a copy), the
    # clean part only for drawing a post-processing defense's clean subset, and the trainer.
    trainer = EncoderTrainer(cache, seed, base_pretrain)
    defended = timed("defense", run_defense, defense, train_set, data.pretrain.images, base_pretrain,
                     cfg["probe"], trainer, seed)
    clean_op = Operating([clean], dict(cfg["probe"]))
    results = timed("evaluate", evaluate, clean_op, defended.operating, data.tasks, threat, seed,
                    options.device, options.progress, defended.curves, FeatureStore(options.cache_dir / "features"))
    undefended_passes = clean.image_passes_for(len(train_set))
    info = {"version": defense.version, "authors": defense.authors,
            "origin": plugin_origin(defense_name) or "built-in", "train_size": defended.train_size, "sanitized_inputs": defended.sanitized_inputs,
            "clean_subset_size": defended.clean_subset_size, "encoders": len(defended.operating.encoders),
            "encoders_requested": trainer.encoders_trained, "probe": defended.operating.probe}
    record = build_record(cfg, resolved, grid_hash(cfg), attack_name, defense_name, seed, threat, poisons,
                          n_clean, defended.keep, results, timings,
                          {"pretrain_image_passes": (trainer.image_passes if defended.operating.image_passes is None
                                                     else defended.operating.image_passes),
                           "clean_pretrain_image_passes": clean.image_passes,
                           "undefended_pretrain_image_passes": undefended_passes,
                           "encoder_from_cache": all(getattr(e, "from_cache", True) for e in defended.operating.encoders),
                           # Every encoder this cell used, by cache key: what the grid's amortisation is computed from.
                           "encoders": [{"role": "clean", "key": clean.key, "image_passes": clean.image_passes,
                                         "from_cache": clean.from_cache, "train_wall_seconds": clean.train_wall_seconds,
                                         "train_cpu_seconds": clean.train_cpu_seconds}]
                                       + trainer.requests},
                          info, defended.detection)
    atomic_write_json(path, record)
    log(f"wrote {path}")
