"""Does BadEncoder act on a tier's clean encoder? The positive control, measured before it joins the grid.

    PYTHONPATH=. python benchmarks/bad_encoder_probe.py --data-root ../shared/data --tier cpu_continued \
        [--seed 0] [--shadow 1000] [--epochs 20] [--output FILE]

Takes the seed's cached clean encoder of the tier (nothing is pre-trained), the backdoor's target
class and reference of each downstream task from the seed's threat draw (one reference input per
target class, as in the paper), a shadow set of ``--shadow`` clean pre-training images (the paper's
attacker holds a slice of the pre-training data), and fine-tunes a copy with BadEncoder's loss
(``attacks/bad_encoder.py``). Then, per task, with the tier's linear probe: CA (clean encoder),
BA (backdoored encoder, clean inputs) and ASR — the share of test inputs outside the target class,
trigger stamped on, sent to the target class — for both encoders. One trigger (the paper's white
10×10 patch at the bottom-right) for every task's target class here, each task probed on its own.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from attacks.bad_encoder import backdoor, stamp_corner
from benchmark.core.settings import TierConfig
from benchmark.downstream import FeatureMemo, module_of, predict_task
from benchmark.pipeline import backdoor_threat
from benchmark.report import triggered_inputs
from benchmark.runner import Options
from cached_cell import analysis_parser, cached_cell, run_analysis


def measure(cfg: TierConfig, seed: int, options: Options, n_shadow: int, epochs: int, lr: float):
    cell = cached_cell(cfg, "none", seed, options)
    threat = backdoor_threat(cell.run.threat)
    rng = np.random.default_rng([seed, 77])
    shadow = cell.data.pretrain.images[np.sort(rng.choice(len(cell.data.pretrain), n_shadow, replace=False))]
    rows, clean = [], module_of(cell.clean)
    memo = FeatureMemo(options.device)
    for t in threat.targets:
        splits = cell.data.tasks[t.task]
        ref = splits["test"].images[list(t.reference_indices[:1])]
        start = time.perf_counter()
        bad = backdoor(clean, shadow, [ref], epochs, seed, lr=lr, device=options.device)
        took = time.perf_counter() - start
        mask = np.ones(len(splits["test"]), bool)
        mask[list(threat.excluded_indices(t.task))] = False
        idx = triggered_inputs(splits["test"].labels, t.target_class, mask)
        triggered = stamp_corner(splits["test"].images[idx])
        out = []
        for enc in (clean, bad):
            p = predict_task([enc], cfg.probe, t.task, splits, seed, memo, triggered)
            out.append((float(np.mean(p.prediction[mask] == splits["test"].labels[mask])),
                        float(np.mean(p.extra_prediction == t.target_class))))
        rows.append((t.task, t.target_class, len(idx), out[0], out[1], took))
    return rows


def render(rows, title: str) -> str:
    lines = [f"# {title}\n", "| task | target class | triggered inputs | CA (clean) | BA (backdoored) | ASR clean encoder "
             "| ASR backdoored | fine-tuning s |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {task} | {tc} | {n} | {c[0]:.3f} | {b[0]:.3f} | {c[1]:.3f} | {b[1]:.3f} | {s:.0f} |"
              for task, tc, n, c, b, s in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = analysis_parser(__doc__)
    p.add_argument("--shadow", type=int, default=1000, help="shadow images (default 1000)")
    p.add_argument("--epochs", type=int, default=20, help="BadEncoder fine-tuning epochs (paper: 200)")
    p.add_argument("--lr", type=float, default=1e-3, help="SGD learning rate (paper: 1e-3)")
    args = p.parse_args(argv)
    return run_analysis(args, lambda cfg, options: measure(cfg, args.seed, options, args.shadow, args.epochs, args.lr),
                        lambda rows: render(rows, f"{args.tier} — BadEncoder on the seed-{args.seed} clean encoder "
                                                  f"({args.shadow} shadow images, {args.epochs} epochs, lr {args.lr:g}; "
                                                  f"overrides: {', '.join(args.set) or 'none'})"))


if __name__ == "__main__":
    sys.exit(main())
