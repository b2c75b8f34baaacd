"""Is the Eq.-3 shift of a poisoned cell *about the targets*? Targets against controls (issue 18).

    python benchmarks/target_specificity.py --data-root ../shared/data --tier cpu_continued \
        --set data.pretrain.limit=10000 [--seed 0] [--output FILE]

The outer objective (paper Eq. 3) is a target's mean cosine to its references; the calibration
reads its *shift* from the clean to the poisoned encoder of a cell. A poisoned continuation could
raise that cosine for reasons that have nothing to do with the target — the encoder's feature
space as a whole becoming more anisotropic after training on composite images, say. This script
separates the two on an undefended PoisonedEncoder cell the runner has computed (nothing is
trained): for each target, the same shift measured on up to ``--controls`` test images of the
target's true class that are neither targets nor references (seeded choice), toward the *same*
references. The attack's target-specific effect is the target's shift minus its controls' mean
shift, paired per target, with a Student-t 95% interval over targets.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmark.core.metrics import mean_cosine_similarity, paired_shift_ci95
from benchmark.core.settings import TierConfig
from benchmark.downstream import FeatureMemo
from benchmark.feature_store import FeatureStore
from benchmark.runner import Options
from cached_cell import analysis_parser, cached_cell, run_analysis


def shifts(cfg: TierConfig, seed: int, options: Options, n_controls: int):
    """Per target: (task, target shift, mean control shift) from the clean to the poisoned encoder."""
    cell = cached_cell(cfg, "poisoned_encoder", seed, options)
    memo = FeatureMemo(options.device, FeatureStore(options.cache_dir / "features"))
    rng = np.random.default_rng([seed, 99])
    out = []
    for t in cell.run.threat.targets:
        test = cell.data.tasks[t.task]["test"]
        taken = cell.run.threat.excluded_indices(t.task)
        pool = np.array([i for i in np.flatnonzero(test.labels == t.true_class) if int(i) not in taken])
        controls = rng.choice(pool, min(n_controls, len(pool)), replace=False)
        refs = list(t.reference_indices)
        row = []
        for enc in (cell.clean, cell.poisoned):
            f = memo(enc, f"{t.task}/test", test.images)
            row.append((mean_cosine_similarity(f[t.index], f[refs]),
                        float(np.mean([mean_cosine_similarity(f[c], f[refs]) for c in controls]))))
        (t0, c0), (t1, c1) = row
        out.append((t.task, t1 - t0, c1 - c0, t0, c0))
    return out


def render(rows, title: str) -> str:
    tgt, ctl = [r[1] for r in rows], [r[2] for r in rows]
    ms, cs = paired_shift_ci95(tgt, [0.0] * len(tgt)), paired_shift_ci95(ctl, [0.0] * len(ctl))
    d = paired_shift_ci95(tgt, ctl)
    fmt = lambda m: f"{m[0]:+.3f} [{m[1][0]:+.3f}, {m[1][1]:+.3f}]"
    lines = [f"# {title}\n", "| task | target shift | control shift (mean) | target − control | clean cos: target / controls |",
             "|---|---|---|---|---|"]
    lines += [f"| {task} | {a:+.3f} | {b:+.3f} | {a - b:+.3f} | {t0:.3f} / {c0:.3f} |" for task, a, b, t0, c0 in rows]
    lines += ["", f"{len(rows)} targets. Mean target shift {fmt(ms)}; mean control shift {fmt(cs)}; "
              f"target-specific effect (paired) {fmt(d)}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = analysis_parser(__doc__)
    p.add_argument("--controls", type=int, default=50, help="control images per target (default 50)")
    args = p.parse_args(argv)
    return run_analysis(args, lambda cfg, options: shifts(cfg, args.seed, options, args.controls),
                        lambda rows: render(rows, f"{args.tier} — Eq.-3 shift, targets vs controls (seed {args.seed}; "
                                                  f"overrides: {', '.join(args.set) or 'none'})"))


if __name__ == "__main__":
    sys.exit(main())
