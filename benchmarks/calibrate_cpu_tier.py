"""Calibration of the cpu tier (issue: "a CPU tier that is fast and faithful").

    python benchmarks/calibrate_cpu_tier.py --data-root ../shared/data [--configs A B ...] [--seeds 0]

Each named configuration overrides the cpu tier (pre-training set size, width/depth, epochs,
targets per task, ...). For each, the PoisonedEncoder cell runs through the normal runner (so
encoders and records are cached and the script resumes), and one table row reports ASR with its
Wilson CI, the clean encoder's ASR on the *same* targets, the flip rate among targets the clean
pipeline gets right, CA/PA, the outer objective (Eq. 3) and the minutes per encoder. Targets,
target classes and references stay randomly drawn; nothing here is tuned on the evaluation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmark.run import default_cache_dir
from benchmark.runner import Options, run_cell
from benchmark.tiers import load_tier
from leaderboard.aggregate import pooled_targets

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", required=True)
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--results-dir", type=Path, default=Path("results/calibration"))
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    p.add_argument("--output", type=Path, default=Path("benchmarks/results/calibration.md"))
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args()

    rows = []
    for name in args.configs:
        overrides, why = CONFIGS[name]
        cfg = load_tier("cpu", overrides)
        opts = Options(args.data_root, None, args.cache_dir, args.results_dir / name, "cpu", not args.no_progress)
        recs = [json.loads(run_cell(cfg, "poisoned_encoder", "none", s, opts).read_text()) for s in args.seeds]
        m = pooled_targets([t for r in recs for t in r["targets"]])
        # Training time of the poisoned encoder as the cache recorded it (also when this run reused it).
        walls = [e.get("train_wall_seconds") for r in recs for e in r["cost"].get("encoders", [])[1:]]
        minutes = sum(w for w in walls if w) / 60 / max(1, sum(1 for w in walls if w))
        tasks = " ".join(f"{k}:{v['clean_accuracy']:.3f}/{v['poisoned_accuracy']:.3f}"
                         for k, v in sorted(recs[0]["tasks"].items()))
        rows.append(f"| {name} | {why} | {m['targets']} | {m['asr']:.2f} [{m['asr_ci'][0]:.2f}, {m['asr_ci'][1]:.2f}] "
                    f"| {m['clean_asr']:.2f} [{m['clean_asr_ci'][0]:.2f}, {m['clean_asr_ci'][1]:.2f}] "
                    f"| {m['flips']}/{m['clean_correct']} | {tasks} | {m['clean_outer']:.3f} → {m['outer']:.3f} "
                    f"| {minutes:.1f} |")
        print(rows[-1], flush=True)
    header = ("| config | probes | targets | ASR [95% CI] | clean ASR [95% CI] | flips | CA/PA per task "
              "| cos(t, refs) clean → poisoned | min/encoder |\n|---|---|---|---|---|---|---|---|---|\n")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("# cpu-tier calibration (PoisonedEncoder, no defense)\n\n" + header + "\n".join(rows) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
