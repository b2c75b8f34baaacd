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

import sys


from benchmark.core.errors import BenchmarkError, report
from benchmark.core.metrics import format_ci
from benchmark.core.settings import TierConfig
from benchmark.feature_store import FeatureStore
from benchmark.report import evaluate, summarize_targets
from benchmark.runner import Options
from cached_cell import analysis_inputs, analysis_parser, cached_cell
from defenses.base import Operating


def epoch_rows(cfg: TierConfig, seed: int, options: Options) -> list:
    cell = cached_cell(cfg, "poisoned_encoder", seed, options)
    data, threat, clean, poisoned = cell.data, cell.run.threat, cell.clean, cell.poisoned
    rows = []
    for epoch in sorted(set(clean.cfg.checkpoint_epochs) | {clean.cfg.epochs}):
        out = evaluate(Operating([clean.at_epoch(epoch)], cfg.probe), Operating([poisoned.at_epoch(epoch)], cfg.probe),
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
    args = analysis_parser(__doc__).parse_args(argv)
    try:
        cfg, options = analysis_inputs(args)
        rows = epoch_rows(cfg, args.seed, options)
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
