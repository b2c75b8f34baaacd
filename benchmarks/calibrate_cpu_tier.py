"""Calibration of the cpu tier (issue: "a CPU tier that is fast and faithful").

    python benchmarks/calibrate_cpu_tier.py --data-root ../shared/data [--tier cpu_continued] [--configs A B ...] [--seeds 0]

Each named configuration overrides its tier (``cpu``: from-scratch; ``cpu_continued``: continued
pre-training of the public backbone, issue 18) (pre-training set size, width/depth, epochs,
targets per task, ...). For each, the PoisonedEncoder cell runs through the normal runner (so
encoders and records are cached and the script resumes), and one table row reports ASR with its
Wilson CI, the clean encoder's ASR on the *same* targets, the flip rate among targets the clean
pipeline gets right, CA/PA, the outer objective (Eq. 3) and the minutes per encoder. Targets,
target classes and references stay randomly drawn; nothing here is tuned on the evaluation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmark.core.errors import BenchmarkError, report
from benchmark.core.metrics import format_ci
from benchmark.core.settings import TierConfig
from benchmark.core.store import default_cache_dir
from benchmark.runner import Options, run_cell
from benchmark.pipeline import load_config
from leaderboard.aggregate import pooled_targets

CONTINUED = {
    # name: (--set overrides on the cpu_continued tier, what it probes)
    "c5k-e10": ([], "the tier file: 5k victim images, 10 epochs, lr 1e-3, all stages train"),
    "c5k-e10-lr1e-4": (["pretrain.lr=1e-4"], "a gentler continuation"),
    "c5k-e10-f2": (["pretrain.frozen_stages=2"], "only the last two stages train (cheaper backward)"),
    "c5k-e20": (["pretrain.epochs=20", "pretrain.checkpoint_epochs=[5,10,20]"], "twice the continuation"),
    "c10k-e10": (["data.pretrain.limit=10000"], "a 10k victim set: 100 poisons per target at 1%"),
    "c5k-e5": (["pretrain.epochs=5", "pretrain.checkpoint_epochs=[2,5]"], "half the continuation"),
    "c10k-e20-f2": (["data.pretrain.limit=10000", "pretrain.epochs=20", "pretrain.checkpoint_epochs=[5,10,20]",
                     "pretrain.frozen_stages=2"], "4x the poison views per target of c5k-e10, last two stages"),
    "c10k-e40-f3": (["data.pretrain.limit=10000", "pretrain.epochs=40", "pretrain.checkpoint_epochs=[10,20,40]",
                     "pretrain.frozen_stages=3"], "8x the poison views per target, last stage only"),
    "c10k-e10-t7": (["data.pretrain.limit=10000", "threat.targets_per_task=7"],
                    "c10k-e10 with 21 targets per run (63 over 3 seeds: the bar's power)"),
    "c10k-e20": (["data.pretrain.limit=10000", "pretrain.epochs=20", "pretrain.checkpoint_epochs=[5,10,20]"],
                 "c10k-e10 continued twice as long, all stages"),
    "c10k-e40": (["data.pretrain.limit=10000", "pretrain.epochs=40", "pretrain.checkpoint_epochs=[10,20,30,40]"],
                 "c10k-e10 continued 4x as long, all stages (its checkpoints give the epoch axis)"),
    "diag-c5k-e10-f2-r10": (["pretrain.frozen_stages=2", "threat.poison_rate=0.1", "threat.targets_per_task=1"],
                            "DIAGNOSTIC, not a tier candidate: 10% per target (500 poisons) — does the mechanism act at all?"),
    "diag-c5k-e10-r10": (["threat.poison_rate=0.1", "threat.targets_per_task=1"],
                         "DIAGNOSTIC, not a tier candidate: 10% per target, all stages train — does the mechanism act at all?"),
    "c10k-e10-lr3e-3": (["data.pretrain.limit=10000", "pretrain.lr=3e-3"], "c10k-e10, a more plastic continuation"),
    "c10k-e10-lr1e-4": (["data.pretrain.limit=10000", "pretrain.lr=1e-4"], "c10k-e10, a gentler continuation"),
    "c10k-e10-b64": (["data.pretrain.limit=10000", "pretrain.batch_size=64"],
                     "c10k-e10 at batch 64: 4x the steps, ~0.6 same-target poisons per batch instead of 2.6"),
    # From the SimCLR backbone (benchmark/backbones/cifar10-simclr-w16.toml; built across sessions).
    "s-c10k-e10": (["data.pretrain.limit=10000", "pretrain.init=cifar10-simclr-w16"],
                   "c10k-e10 continuing a SimCLR backbone (the victim's own objective: less drift?)"),
    "s-c10k-e10-t7": (["data.pretrain.limit=10000", "pretrain.init=cifar10-simclr-w16", "threat.targets_per_task=7"],
                      "s-c10k-e10 with 21 targets per run"),
}

CONFIGS = {
    # name: (--set overrides on the cpu tier, what it probes)
    "tier": ([], "the cpu tier as committed"),
    "full38k-b1111-e15": (["data.pretrain.limit=38000", "pretrain.blocks=[1,1,1,1]", "pretrain.epochs=15",
                           "threat.targets_per_task=5"], "more poisons per target from the full set"),
    "10k-b2222-e40": (["data.pretrain.limit=10000", "pretrain.epochs=40", "threat.targets_per_task=5"],
                      "more epochs at moderate size"),
    "full38k-w32-b1111-e10": (["data.pretrain.limit=38000", "pretrain.width=32", "pretrain.blocks=[1,1,1,1]",
                               "pretrain.epochs=10", "threat.targets_per_task=5"], "more capacity"),
    "5k-e80": (["pretrain.epochs=80", "pretrain.checkpoint_epochs=[10,20,40,60,80]", "threat.targets_per_task=5"],
               "4x the tier's epochs (checkpoints give the epoch axis)"),
    "5k-e80-r3": (["pretrain.epochs=80", "pretrain.checkpoint_epochs=[10,20,40,60,80]", "threat.targets_per_task=2",
                   "threat.poison_rate=0.03"], "3x the poisons per target (same clean encoder as 5k-e80)"),
    "5k-w32-b1111-e20": (["pretrain.width=32", "pretrain.blocks=[1,1,1,1]", "threat.targets_per_task=5"],
                         "2x width at the tier's set and epochs (~2x its compute per epoch)"),
}


TIER_CONFIGS = {"cpu": CONFIGS, "cpu_continued": CONTINUED}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", required=True)
    p.add_argument("--tier", default="cpu", choices=list(TIER_CONFIGS), help="tier the configurations override")
    p.add_argument("--configs", nargs="+", default=None, choices=[*CONFIGS, *CONTINUED],
                   help="named configurations (default: every one of the tier)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--results-dir", type=Path, default=Path("results/calibration"))
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    p.add_argument("--output", type=Path, default=None,
                   help="table (default: benchmarks/results/calibration.md, or calibration_<tier>.md)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args()
    configs = TIER_CONFIGS[args.tier]
    names = args.configs or list(configs)
    unknown = [n for n in names if n not in configs]
    if unknown:
        p.error(f"not configurations of tier {args.tier}: {', '.join(unknown)}")
    output = args.output or Path("benchmarks/results") / ("calibration.md" if args.tier == "cpu" else f"calibration_{args.tier}.md")
    try:
        calibrate(args, configs, names, output)
    except BenchmarkError as exc:
        sys.exit(report(exc))


def calibrate(args, configs: dict, names: list, output: Path) -> None:
    """Run each named configuration's undefended cells, then rewrite the table from every record."""
    for name in names:
        cfg = load_config(args.tier, configs[name][0])
        opts = Options(args.data_root, None, args.cache_dir, args.results_dir / name, "cpu", not args.no_progress)
        for seed in args.seeds:
            run_cell(cfg, "poisoned_encoder", "none", seed, opts)
        print(table_row(name, configs[name][1], records_of(args.results_dir / name, cfg)), flush=True)
    # The table holds every configuration with records, run now or earlier: calibration spans sessions.
    rows = [table_row(n, why, recs) for n, (sets, why) in configs.items()
            if (recs := records_of(args.results_dir / n, load_config(args.tier, sets)))]
    output.parent.mkdir(parents=True, exist_ok=True)
    # Prose written by hand below the NOTES marker (readings, commands) survives a regenerated table.
    notes = output.read_text().split(NOTES, 1)[1] if output.exists() and NOTES in output.read_text() else "\n"
    output.write_text(f"# {args.tier} calibration (PoisonedEncoder, no defense)\n\n" + HEADER + "\n".join(rows)
                      + "\n\n" + NOTES + notes)
    print(f"wrote {output}")


NOTES = "<!-- notes: kept when the table is regenerated -->"
HEADER = ("| config | probes | seeds × targets | ASR [95% CI] | clean ASR [95% CI] | McNemar p (gained/lost) | flips "
          "| CA/PA per task | cos(t, refs) clean → poisoned (paired shift [95% CI]) | min/encoder |\n|---|---|---|---|---|---|---|---|---|---|\n")


def records_of(directory: Path, cfg: TierConfig) -> list:
    """The configuration's undefended PoisonedEncoder records (of its current grid), by seed."""
    paths = sorted((directory / cfg.name / cfg.grid_hash() / "poisoned_encoder" / "none").glob("seed*.json"))
    return [json.loads(p.read_text()) for p in paths]


def table_row(name: str, why: str, recs: list) -> str:
    """One calibration row: the seeds' targets pooled; CA/PA averaged over seeds."""
    m = pooled_targets([t for r in recs for t in r["targets"]])
    # Training time of the poisoned encoder as the cache recorded it (also when this run reused it).
    walls = [e.get("train_wall_seconds") for r in recs for e in r["cost"].get("encoders", [])[1:]]
    minutes = sum(w for w in walls if w) / 60 / max(1, sum(1 for w in walls if w))
    tasks = " ".join(f"{k} {np.mean([r['tasks'][k]['clean_accuracy'] for r in recs]):.3f}/"
                     f"{np.mean([r['tasks'][k]['poisoned_accuracy'] for r in recs]):.3f}" for k in sorted(recs[0]["tasks"]))
    return (f"| {name} | {why} | {len(recs)} × {m['targets'] // len(recs)} | {format_ci(m['asr'], m['asr_ci'])} "
            f"| {format_ci(m['clean_asr'], m['clean_asr_ci'])} | {m['mcnemar_p']:.3g} ({m['discordant'][0]}/{m['discordant'][1]}) "
            f"| {m['flips']}/{m['clean_correct']} | {tasks} | {m['clean_outer']:.3f} → {m['outer']:.3f} ({m['outer_shift']:+.3f} [{m['outer_shift_ci'][0]:+.3f}, {m['outer_shift_ci'][1]:+.3f}]) "
            f"| {minutes:.1f} |")


if __name__ == "__main__":
    main()
