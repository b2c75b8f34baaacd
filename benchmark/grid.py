"""The fixed encoder grid of a tier as a first-class object: which jobs, what each costs, what is cached.

A grid file (``benchmark/grids/<name>.toml``) names a tier and the attacks, defenses, seeds and
per-job resources to run on it. Every (attack, defense, seed) is one job writing one record; the
no-attack row is run once, undefended. :func:`plan` resolves every job against the caches
without training anything: it crafts the poisons, runs the defense's hooks with a trainer that
only computes the content-addressed keys of the encoders the job would ask for, and reports for
each job whether its record and each of its encoders are cached, and the image-passes still to
spend.
"""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

import attacks
import defenses
from attacks.base import PoisonSet
from .conformance import StubTrained
from .defended import run_defense
from .encoder_cache import EncoderCache
from .grid_spec import GRID_DIR, ORDER, Grid, Job, job_order, list_grids, read_grid
from .poison_store import PoisonStore
from .runner import attack_targets, cell_threat, load_data, record_path, surrogate_of
from .ssl.simclr import PretrainConfig, pretrain_image_passes
from .trainer import member_seed

__all__ = ["GRID_DIR", "ORDER", "Grid", "Job", "format_plan", "job_order", "list_grids", "load_grid", "plan", "read_grid"]


def load_grid(name_or_path: str, overrides=()) -> Grid:
    """:func:`read_grid`, with every attack and defense it names checked against the registries."""
    grid = read_grid(name_or_path, overrides)
    for a in grid.attacks:
        attacks.ATTACKS.get(a)
    for d in grid.defenses:
        defenses.DEFENSES.get(d)
    return grid


class PlanningTrainer:
    """Answers a defense's training requests with untrained stand-ins carrying the *real* cache
    key, and notes whether that key is already trained."""

    def __init__(self, cache, seed: int, base_pretrain: Dict[str, Any]):
        self.cache, self.seed, self.base_pretrain = cache, seed, dict(base_pretrain)
        self.requests: List[Dict[str, Any]] = []
        self.image_passes = 0
        self.encoders_trained = 0

    def train(self, images, pretrain, *, init=None, label="defense", seed_offset=0):
        cfg = PretrainConfig.from_dict(pretrain)
        key = self.cache.key(images, cfg, member_seed(self.seed, seed_offset), init)
        stub = StubTrained(images[:1], pretrain, key)
        stub.key = key
        stub.image_passes = pretrain_image_passes(len(images), cfg.epochs, cfg.batch_size)
        cached = (self.cache.root / key / "final.safetensors").exists()
        self.requests.append({"role": label, "key": key, "image_passes": stub.image_passes, "cached": cached})
        self.image_passes += stub.image_passes
        self.encoders_trained += 1
        return stub


def plan(grid: Grid, options, log=print) -> List[Dict[str, Any]]:
    """One row per job: record cached?, encoders (key, cached?), image-passes still to spend."""
    cfg = grid.tier
    data = load_data(cfg, options)
    cache = EncoderCache(options.cache_dir, options.device, progress=False)
    store = PoisonStore(options.cache_dir / "poisons")
    rows, seen = [], set()
    for job in grid.jobs:
        threat = cell_threat(cfg, data, job.seed)
        attack = attacks.create_attack(job.attack, **cfg.get("attack", {}).get(job.attack, {}))
        defense = defenses.create_defense(job.defense, **cfg.get("defense", {}).get(job.defense, {}))
        targets = attack_targets(threat, data, len(data.pretrain))
        trainer = PlanningTrainer(cache, job.seed, cfg["pretrain"])
        clean = trainer.train(data.pretrain.images, cfg["pretrain"], label="clean")
        if getattr(attack, "needs_surrogate", False):
            # Its poisons exist only after brewing against the surrogate: the stored brew if there
            # is one, else stand-ins of the right count (right cost; the poisoned encoders' keys are
            # then unknown → "todo").
            poisons = store.lookup(attack, targets, job.seed, surrogate_of(PretrainConfig.from_dict(cfg["pretrain"]),
                                                                           None, clean.key)[1])
            if poisons is None:
                n = sum(t.n_poisons for t in targets)
                poisons = PoisonSet(np.full((n, *data.pretrain.images.shape[1:]), job.seed % 251, np.uint8),
                                    np.zeros(n, np.int64))
        else:
            poisons = attack.craft(targets, np.random.default_rng([job.seed, 1]))
        train_set = np.concatenate([data.pretrain.images, poisons.images]) if len(poisons) else data.pretrain.images
        pipe = run_defense(defense, train_set, data.pretrain.images, cfg["pretrain"], cfg["probe"], trainer, job.seed)
        clean_passes = trainer.requests[0]["image_passes"]
        defended = (pipe.operating.image_passes if pipe.operating.image_passes is not None
                    else sum(r["image_passes"] for r in trainer.requests[1:]))
        todo = 0
        for r in trainer.requests:
            if not r["cached"] and r["key"] not in seen:
                todo += r["image_passes"]
            seen.add(r["key"])  # a later job reuses what an earlier one will train
        rows.append({"job": job, "record_cached": record_path(options, cfg, job.attack, job.defense, job.seed).exists(),
                     "encoders": trainer.requests, "image_passes_to_spend": todo,
                     "image_passes_needed": sum(r["image_passes"] for r in trainer.requests),
                     # the naive protocol: a fresh clean and defended pre-training per target (ASR trial)
                     "naive_image_passes": max(1, len(threat.targets)) * (clean_passes + defended)})
    return rows


def format_plan(grid: Grid, rows: List[Dict[str, Any]]) -> str:
    lines = [f"grid {grid.name}: tier {grid.tier['tier']['name']}, {len(rows)} jobs "
             f"({grid.cpus_per_job:g} CPUs, {grid.gpus_per_job:g} GPUs each)",
             f"{'attack':18} {'defense':16} {'seed':>4}  {'record':7} {'encoders cached':>15}  {'image-passes to spend':>22}"]
    for r in rows:
        j, encs = r["job"], r["encoders"]
        lines.append(f"{j.attack:18} {j.defense:16} {j.seed:>4}  {'cached' if r['record_cached'] else 'todo':7} "
                     f"{sum(e['cached'] for e in encs):>7} of {len(encs):<5}  {r['image_passes_to_spend']:>22,}")
    todo = sum(r["image_passes_to_spend"] for r in rows)
    naive = sum(r["image_passes_needed"] for r in rows)
    distinct = {e["key"]: e["image_passes"] for r in rows for e in r["encoders"]}
    protocol = sum(r["naive_image_passes"] for r in rows)
    lines.append(f"total: {todo:,} image-passes to spend; {naive:,} if no encoder were shared between jobs")
    lines.append(f"whole grid: {len(distinct)} distinct encoders, {sum(distinct.values()):,} image-passes; the naive "
                 f"protocol (fresh clean + defended pre-training per target and defense) would spend {protocol:,}: "
                 f"{protocol / max(1, sum(distinct.values())):.1f}x saved")
    return "\n".join(lines)
