"""Clean vs PoisonedEncoder-poisoned continuation at every saved epoch, on the same targets (issue 18).

    python benchmarks/continuation_epochs.py --data-root ../shared/data --tier cpu_continued \
        --set data.pretrain.limit=10000 --set pretrain.epochs=40 --set "pretrain.checkpoint_epochs=[10,20,30,40]"

One undefended PoisonedEncoder cell of the tier (run it first: ``calibrate_cpu_tier.py`` does) has
trained a clean and a poisoned continuation with checkpoints; training draws each epoch's shuffling
and augmentation from (seed, epoch) at a constant learning rate, so the epoch-e checkpoint of a
run of E epochs *is* the encoder a run of e epochs would give. This script evaluates both at
every checkpoint — the tier's probe, the paper's metrics — and prints one calibration row per
epoch: the epoch axis for the price of one run. Nothing is trained here (a missing encoder is an
error, not a silent retraining).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import attacks
from benchmark.encoder_cache import EncoderCache
from benchmark.errors import BenchmarkError, report
from benchmark.feature_store import FeatureStore
from benchmark.metrics import format_ci
from benchmark.report import evaluate, summarize_targets
from benchmark.run import default_cache_dir
from benchmark.runner import Options, attack_targets, cell_threat, load_data
from benchmark.ssl.simclr import PretrainConfig
from benchmark.tiers import load_tier
from defenses.base import Operating


def cached(cache: EncoderCache, images: np.ndarray, cfg: PretrainConfig, seed: int, role: str):
    """The finished encoder from the cache; refuses to train one."""
    key = cache.key(images, cfg, seed)
    if not (cache.root / key / "final.safetensors").exists():
        raise BenchmarkError(f"the {role} continuation (key {key}) is not in the cache: run the cell first")
    return cache.get(images, cfg, seed, role)


def epoch_rows(cfg: dict, seed: int, options: Options) -> list:
    data = load_data(cfg, options)
    threat = cell_threat(cfg, data, seed)
    attack = attacks.create_attack("poisoned_encoder", **cfg.get("attack", {}).get("poisoned_encoder", {}))
    # The runner's own random stream for crafting, so these are the cell's poisons.
    poisons = attack.craft(attack_targets(threat, data, len(data.pretrain)), np.random.default_rng([seed, 1]))
    pcfg = PretrainConfig.from_dict(cfg["pretrain"])
    cache = EncoderCache(options.cache_dir, options.device, progress=False)
    clean = cached(cache, data.pretrain.images, pcfg, seed, "clean")
    poisoned = cached(cache, np.concatenate([data.pretrain.images, poisons.images]), pcfg, seed, "poisoned")
    rows = []
    for epoch in sorted(set(pcfg.checkpoint_epochs) | {pcfg.epochs}):
        probe = dict(cfg["probe"])
        out = evaluate(Operating([clean.at_epoch(epoch)], probe), Operating([poisoned.at_epoch(epoch)], probe),
                       data.tasks, threat, seed, options.device, False, (), FeatureStore(options.cache_dir / "features"))
        m = summarize_targets(out["targets"])
        tasks = " ".join(f"{k} {v['clean_accuracy']:.3f}/{v['poisoned_accuracy']:.3f}" for k, v in sorted(out["tasks"].items()))
        rows.append(f"| {epoch} | {m['n_targets']} | {format_ci(m['asr'], m['asr_ci95'])} "
                    f"| {format_ci(m['clean_asr'], m['clean_asr_ci95'])} | {m['mcnemar_p']:.3g} "
                    f"({m['discordant'][0]}/{m['discordant'][1]}) | {m['flips_among_clean_correct']}/{m['clean_correct_targets']} "
                    f"| {tasks} | {m['clean_outer_objective']:.3f} → {m['outer_objective']:.3f} |")
        print(rows[-1], flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", required=True, metavar="DIR")
    p.add_argument("--tier", default="cpu_continued")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="tier overrides (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    p.add_argument("--device", default="cpu")
    p.add_argument("--output", type=Path, default=None, help="also write the table to this markdown file")
    args = p.parse_args(argv)
    try:
        cfg = load_tier(args.tier, args.set)
        rows = epoch_rows(cfg, args.seed, Options(args.data_root, None, args.cache_dir, Path("."), args.device, False))
    except BenchmarkError as exc:
        return report(exc)
    table = ("| epoch | targets | ASR [95% CI] | clean ASR [95% CI] | McNemar p (gained/lost) | flips | CA/PA per task "
             "| cos(t, refs) clean → poisoned |\n|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    if args.output:
        args.output.write_text(f"# {args.tier} — the epoch axis of one continuation (seed {args.seed})\n\n"
                               f"Overrides: {', '.join(f'`{s}`' for s in args.set) or 'none'}\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
