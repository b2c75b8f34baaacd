"""One grid cell, run and recorded: :func:`benchmark.pipeline.run_pipeline` (threat → craft → defend
→ train) with the real trainer, then evaluate → record. This file is only wiring: locking, skipping
what is recorded, timing the stages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from filelock import FileLock, Timeout

from defenses.base import Operating
from .plugins import plugin_origin
from .encoder_cache import EncoderCache
from .feature_store import FeatureStore
from .pipeline import Data, StoredPoisons, create_entries, load_data, not_applicable, run_pipeline
from .poison_store import PoisonStore
from .core.errors import BenchmarkError
from .core.settings import TierConfig
from .report import CellResult, build_record, evaluate
from .core.store import atomic_write_json, config_hash, read_json
from .trainer import EncoderTrainer


@dataclass
class Options:
    data_root: Optional[str] = None
    download_root: Optional[str] = None
    cache_dir: Path = Path(".cache")
    results_dir: Path = Path("results")
    device: str = "cpu"
    progress: bool = True


def record_path(options: Options, cfg: TierConfig, attack: str, defense: str, seed: int) -> Path:
    return options.results_dir / cfg.name / cfg.grid_hash() / attack / defense / f"seed{seed}.json"


def resolved_config(cfg: TierConfig, attack, defense, seed: int) -> Dict[str, Any]:
    return {"tier": cfg.as_dict(), "attack": {"name": attack.name, "params": attack.params()},
            "defense": {"name": defense.name, "stage": defense.stage, "params": defense.params()}, "seed": seed}


def existing_record(path: Path, log=print) -> Optional[Dict[str, Any]]:
    """The record at ``path``, or None; one that cannot be read as a record object is moved aside
    (``NAME.corrupt``, never read as a record again) so its cell is recomputed, with a warning."""
    if not path.exists():
        return None
    try:
        record = read_json(path)
        if isinstance(record, dict):
            return record
    except (OSError, ValueError) as exc:
        log(f"warning: {path} is not a readable record ({type(exc).__name__}); moved aside, recomputing")
    else:
        log(f"warning: {path} holds no record object; moved aside, recomputing")
    aside = path.with_name(path.name + ".corrupt")
    n = 1
    while aside.exists():
        aside, n = path.with_name(f"{path.name}.corrupt{n}"), n + 1
    path.rename(aside)
    return None


def run_cell(cfg: TierConfig, attack_name: str, defense_name: str, seed: int, options: Options,
             data: Optional[Data] = None, log=print, wait: bool = True) -> Optional[Path]:
    """Run one (attack, defense, seed) cell of a tier and write its record; skip if it exists, and
    return None for a pair that is no cell (:func:`~benchmark.pipeline.not_applicable`).

    Another runner computing the same cell holds its lock: with ``wait`` this runner waits and then
    skips; without, it returns None at once so a grid worker can take the next job meanwhile."""
    attack, defense = create_entries(cfg, attack_name, defense_name)
    reason = not_applicable(attack, defense)
    if reason:
        log(f"not applicable, no record: {reason}")
        return None
    resolved = resolved_config(cfg, attack, defense, seed)
    path = record_path(options, cfg, attack_name, defense_name, seed)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # the results directory (or a parent) is a file, read-only, ...
        raise BenchmarkError(f"cannot use results directory {options.results_dir}: {exc}") from exc
    lock = FileLock(str(path.with_name(path.name + ".lock")))
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout:
        log(f"busy: {path} is being computed by another runner; coming back to it")
        return None
    try:
        existing = existing_record(path, log)
        if existing is not None and existing.get("config_hash") == config_hash(resolved):
            log(f"skip: {path} exists")
            return path
        _compute_cell(cfg, attack, defense, seed, options, data, log, resolved, path)
    finally:
        lock.release()
    return path


def _compute_cell(cfg, attack, defense, seed, options, data, log, resolved, path) -> None:
    timings: Dict[str, Dict[str, float]] = {}

    def timed(stage: str, fn, *a, **kw):
        w, c = time.perf_counter(), time.process_time()
        result = fn(*a, **kw)
        timings[stage] = {"wall_seconds": time.perf_counter() - w, "cpu_seconds": time.process_time() - c}
        return result

    data = data or timed("load_data", load_data, cfg, options)
    trainer = EncoderTrainer(EncoderCache(options.cache_dir, options.device, options.progress), seed, cfg.pretrain)
    poisons = StoredPoisons(PoisonStore(options.cache_dir / "poisons"), options.device)
    run = run_pipeline(cfg, attack, defense, seed, data, trainer, poisons, timed)
    results = timed("evaluate", evaluate, Operating([run.clean], cfg.probe), run.defended.operating,
                    data.tasks, run.threat, seed, options.device, options.progress, run.defended.curves,
                    FeatureStore(options.cache_dir / "features"), attack.stamp if attack.kind == "backdoor" else None)
    record = build_record(CellResult(cfg, resolved, cfg.grid_hash(), attack, defense,
                                     plugin_origin(defense.name) or "built-in", seed, run, trainer, results, timings))
    atomic_write_json(path, record)
    log(f"wrote {path}")
