"""The fixed encoder grid of a tier as a first-class object: which jobs, what each costs, what is cached.

A grid file (``benchmark/grids/<name>.toml``) names a tier and the attacks, defenses, seeds and
per-job resources to run on it. Every (attack, defense, seed) is one job writing one record; the
no-attack row is run once, undefended. :func:`plan` resolves every job against the caches
without training anything: it runs the cell pipeline (:func:`benchmark.pipeline.run_pipeline`)
with the planning trainer, which only computes the content-addressed keys of the encoders the
job would ask for, and reports for
each job whether its record and each of its encoders are cached, and the image-passes still to
spend.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List

import attacks
import defenses
from .encoder_cache import EncoderCache
from .core.grid_spec import GRID_DIR, ORDER, Grid, Job, job_order, list_grids, read_grid
from .pipeline import ENTRY_REGISTRIES, PlannedPoisons, create_entries, load_data, not_applicable, run_pipeline
from .poison_store import PoisonStore
from .core.registry import check_entry_sections
from .runner import record_path
from .trainer import PlanningTrainer

__all__ = ["GRID_DIR", "ORDER", "Grid", "Job", "format_plan", "job_order", "list_grids", "load_grid", "plan", "read_grid"]


def load_grid(name_or_path: str, overrides=()) -> Grid:
    """:func:`read_grid`, with every attack and defense it names checked against the registries, and
    the pairs that are no cell (a pre-training defense against a delivered model) left out of its jobs."""
    grid = read_grid(name_or_path, overrides)
    for a in grid.attacks:
        attacks.ATTACKS.get(a)
    for d in grid.defenses:
        defenses.DEFENSES.get(d)
    check_entry_sections(grid.tier, ENTRY_REGISTRIES)
    # The classes say it (``threat``, ``stage`` are class attributes): no entry is created here.
    return dataclasses.replace(grid, jobs=[j for j in grid.jobs if not not_applicable(
        attacks.ATTACKS.get(j.attack), defenses.DEFENSES.get(j.defense))])


def plan(grid: Grid, options, log=print) -> List[Dict[str, Any]]:
    """One row per job: record cached?, encoders (key, cached?), image-passes still to spend."""
    cfg = grid.tier
    data = load_data(cfg, options)
    cache = EncoderCache(options.cache_dir, options.device, progress=False)
    store = PoisonStore(options.cache_dir / "poisons")
    rows, seen = [], set()
    for job in grid.jobs:
        attack, defense = create_entries(cfg, job.attack, job.defense)
        trainer = PlanningTrainer(cache, job.seed, cfg.pretrain)
        run = run_pipeline(cfg, attack, defense, job.seed, data, trainer, PlannedPoisons(store))
        encoders = [trainer.clean_request] + trainer.requests
        defended = (run.defended.operating.image_passes if run.defended.operating.image_passes is not None
                    else trainer.image_passes)
        todo = 0
        for r in encoders:
            if not r["cached"] and r["key"] not in seen:
                todo += r["image_passes"]
            seen.add(r["key"])  # a later job reuses what an earlier one will train
        rows.append({"job": job, "record_cached": record_path(options, cfg, job.attack, job.defense, job.seed).exists(),
                     "encoders": encoders, "image_passes_to_spend": todo,
                     "image_passes_needed": sum(r["image_passes"] for r in encoders),
                     # the naive protocol: a fresh clean and defended pre-training per target (ASR trial)
                     "naive_image_passes": max(1, len(run.threat.targets)) * (trainer.clean_request["image_passes"]
                                                                               + defended)})
    return rows


def format_plan(grid: Grid, rows: List[Dict[str, Any]]) -> str:
    lines = [f"grid {grid.name}: tier {grid.tier.name}, {len(rows)} jobs "
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
