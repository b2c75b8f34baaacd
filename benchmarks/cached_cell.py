"""An undefended cell's clean and poisoned encoders, read from the cache — nothing is trained.

The analyses in ``benchmarks/`` (the epoch axis of a continuation, the target-specificity of the
Eq.-3 shift) look inside a cell the runner has computed. They get its threat, poisons and encoder
keys from the one cell pipeline (:func:`benchmark.pipeline.run_pipeline` with the planning
trainer), so they can never disagree with the runner about which encoders a cell used.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Tuple

from benchmark.core.errors import BenchmarkError, report
from benchmark.core.settings import TierConfig
from benchmark.core.store import default_cache_dir
from benchmark.encoder_cache import CachedEncoder, EncoderCache
from benchmark.pipeline import CellRun, Data, PlannedPoisons, create_entries, load_config, load_data, run_pipeline
from benchmark.poison_store import PoisonStore
from benchmark.runner import Options

from benchmark.trainer import PlanningTrainer


@dataclass
class CachedCell:
    data: Data
    run: CellRun
    clean: CachedEncoder
    poisoned: CachedEncoder


def cached_cell(cfg: TierConfig, attack_name: str, seed: int, options: Any) -> CachedCell:
    """The (attack_name, none, seed) cell of ``cfg``; an encoder missing from the cache is an error."""
    data = load_data(cfg, options)
    attack, defense = create_entries(cfg, attack_name, "none")
    cache = EncoderCache(options.cache_dir, options.device, progress=False)
    trainer = PlanningTrainer(cache, seed, cfg.pretrain)
    run = run_pipeline(cfg, attack, defense, seed, data, trainer, PlannedPoisons(PoisonStore(options.cache_dir / "poisons")))
    missing = [r["key"] for r in [trainer.clean_request, *trainer.requests] if not r["cached"]]
    if missing:
        raise BenchmarkError(f"encoders {', '.join(missing)} of the cell are not in {options.cache_dir}: run the cell first")
    return CachedCell(data, run, cache.get(data.pretrain.images, cfg.pretrain, seed, "clean"),
                      cache.get(run.train_set, cfg.pretrain, seed, "poisoned"))


def analysis_parser(doc: str) -> argparse.ArgumentParser:
    """The options every cached-cell analysis takes (tier, overrides, seed, data, cache, device, output)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", required=True, metavar="DIR")
    p.add_argument("--tier", default="cpu_continued")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="tier overrides (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    p.add_argument("--device", default="cpu")
    p.add_argument("--output", type=Path, default=None, help="also write the table to this markdown file")
    return p


def analysis_inputs(args: argparse.Namespace) -> Tuple[dict, Options]:
    """(tier config, runner options) from :func:`analysis_parser`'s arguments."""
    return load_config(args.tier, args.set), Options(args.data_root, None, args.cache_dir, Path("."), args.device, False)


def run_analysis(args: argparse.Namespace, compute: Callable[[TierConfig, Options], Any],
                 render: Callable[[Any], str]) -> int:
    """An analysis's main: ``compute(cfg, options)`` on :func:`analysis_inputs`, a one-line error
    (exit 2) for bad input; the rendered markdown printed and, with ``--output``, written."""
    try:
        rows = compute(*analysis_inputs(args))
    except BenchmarkError as exc:
        return report(exc)
    text = render(rows)
    print(text)
    if args.output:
        args.output.write_text(text)
    return 0
