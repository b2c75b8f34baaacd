"""python -m benchmark.experiment NAME — the PoisonedEncoder paper's §5 experiments as named grids.

Each experiment is a list of cells (attack + parameter changes to the tier) run through the normal
runner — so encoders are cached and shared with the leaderboard grid, and an interrupted
experiment resumes — and a markdown table with our value next to the paper's for every cell,
written to ``leaderboard/experiments/<tier>-<name>.md``. The paper's numbers are quoted from
Tables 1, 2 and 4 (CIFAR-10 pre-training); its Fig. 5 and Fig. 8 are plots, so those rows quote
the trend the paper reports instead of a number.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from leaderboard.aggregate import outcome_of, paired_by_target, pooled_targets, target_shifts
from .backbone import same_recipe
from .placement import add_placement_flags, apply_placement
from .encoder_cache import EncoderCache
from .core.errors import BenchmarkError, report
from .core.metrics import detection_rates, format_ci
from .core.records import drop_over_seeds
from .core.settings import TierConfig, check_seeds
from .named_experiments import EXPERIMENTS, PAIRED_NOTE, SHIFT_NOTE, Cell, Experiment
from .pipeline import PlannedPoisons, changed_config, create_entries, load_config, load_data, run_pipeline
from .runner import Options, run_cell
from .core.store import atomic_write_bytes, config_hash, default_cache_dir
from .trainer import PlanningTrainer

def backdoor_metrics(recs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """A backdoor cell: ASR over triggered inputs (interval over seeds), overall and per task, CA, PA."""
    tasks = sorted({k for r in recs for k in r.get("backdoor", {})})
    return dict(outcome_of(recs), by_task={k: outcome_of(recs, k) for k in tasks},
                ca=sum(r["mean_clean_accuracy"] for r in recs) / len(recs),
                pa=sum(r["mean_poisoned_accuracy"] for r in recs) / len(recs),
                task_acc={k: (float(np.mean([r["tasks"][k]["clean_accuracy"] for r in recs])),
                              float(np.mean([r["tasks"][k]["poisoned_accuracy"] for r in recs]))) for k in tasks})


def indiscriminate_metrics(recs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """An indiscriminate cell (or any cell, read for its accuracy): CA, PA, the drop CA − PA with an
    interval over seeds (overall and per task), the release's crafting time and the defense's CPU time."""
    tasks = sorted({k for r in recs for k in r["tasks"]})
    def drop(r, task=None):
        t = r["tasks"][task] if task else None
        return t["clean_accuracy"] - t["poisoned_accuracy"] if t else r["mean_clean_accuracy"] - r["mean_poisoned_accuracy"]
    def seconds(stage):
        return float(np.mean([r["cost"]["stages"].get(stage, {}).get("cpu_seconds", 0.0) for r in recs]))
    def crafting(r):
        # The release is stored and shared by every cell of its seed: a cell that read it from the
        # store spent ~0 s on the attack, so the crafting time travels with the release (its meta).
        meta = r.get("attack_meta") or {}
        return meta.get("craft_seconds", r["cost"]["stages"].get("attack", {}).get("wall_seconds", 0.0))
    return dict(drop_over_seeds([drop(r) for r in recs]),
                by_task={k: drop_over_seeds([drop(r, k) for r in recs if k in r["tasks"]]) for k in tasks},
                ca=float(np.mean([r["mean_clean_accuracy"] for r in recs])),
                pa=float(np.mean([r["mean_poisoned_accuracy"] for r in recs])),
                craft_seconds=float(np.mean([crafting(r) for r in recs])), defense_seconds=seconds("defense"))


def measure(name: str, cfg: TierConfig, options, seeds: List[int], log=print) -> List[Tuple[Cell, Dict[str, Any]]]:
    exp = EXPERIMENTS[name]
    data = load_data(cfg, options)
    cfgs = [changed_config(cfg, tier_changes(cell, cfg)) for cell in exp.cells]
    for cell, cell_cfg in zip(exp.cells, cfgs):
        if cell_cfg.pretrain.init != cfg.pretrain.init:
            log(f"{cell.label}: {'continues ' + cell_cfg.pretrain.init if cell_cfg.pretrain.init else 'pre-trains from scratch'}")
    if exp.metric == "detection":
        rows = []
        for cell, cell_cfg in zip(exp.cells, cfgs):
            rates = [detection_trial(cell_cfg, cell.attack, cell.defense, s, data, options) for s in seeds]
            rows.append((cell, {"fpr": [r[0] for r in rates], "fnr": [r[1] for r in rates]}))
        return rows
    paths = cell_records(exp.cells, cfgs, seeds, options, data, log)
    rows = []
    for i, cell in enumerate(exp.cells):
        recs = [json.loads(paths[i, s].read_text()) for s in seeds]
        if exp.metric in ("backdoor", "indiscriminate"):
            rows.append((cell, (backdoor_metrics if exp.metric == "backdoor" else indiscriminate_metrics)(recs)))
            continue
        m = pooled_targets([t for r in recs for t in r["targets"]])
        # Cells of one seed share its targets, so cells can be compared target by target.
        m["shifts"] = target_shifts(recs)
        tasks = sorted({t["task"] for r in recs for t in r["targets"]})
        m["by_task"] = {k: pooled_targets([t for r in recs for t in r["targets"] if t["task"] == k]) for k in tasks}
        m["pa"] = sum(r["mean_poisoned_accuracy"] for r in recs) / len(recs)
        m["ca"] = sum(r["mean_clean_accuracy"] for r in recs) / len(recs)
        rows.append((cell, m))
    return rows


def tier_changes(cell: Cell, cfg: TierConfig) -> Dict[str, Any]:
    """A cell's changes on this tier. A cell that changes the architecture, on a tier that continues
    a backbone, continues the backbone of the same recipe in that architecture (Table 6: each
    encoder from its own public backbone, trained alike), or pre-trains from scratch where no such
    recipe exists — a different threat model, which the log says."""
    changes = dict(cell.changes)
    arch = changes.get("pretrain.arch")
    if arch and cfg.pretrain.init and "pretrain.init" not in changes:
        changes["pretrain.init"] = same_recipe(cfg.pretrain.init, arch)
    return changes


def cell_options(cell: Cell, options: Options) -> Options:
    """Where a cell's records go. A record's path is (tier, grid hash, attack, defense, seed) and the
    grid hash leaves defense parameters out (a grid has one row per defense), so two cells that
    differ only in a defense parameter would share one path, each overwriting the other's record:
    such a cell gets a folder of its own, named by its defense changes."""
    changes = {k: v for k, v in cell.changes.items() if k.startswith("defense.")}
    if not changes:
        return options
    return dataclasses.replace(options, results_dir=options.results_dir / f"defense-{config_hash(changes, 10)}")


def cell_records(cells: List[Cell], cfgs: List[TierConfig], seeds: List[int], options, data, log=print):
    """{(cell index, seed): record path}, running what is missing. A (cell, seed) that another
    process is computing is deferred to a second pass, so two `benchmark.experiment` processes on
    the same results directory split the cells instead of waiting on each other."""
    paths: Dict[Tuple[int, int], Path] = {}
    for wait in (False, True):
        for i, (cell, cell_cfg) in enumerate(zip(cells, cfgs)):
            for s in seeds:
                if (i, s) not in paths:
                    path = run_cell(cell_cfg, cell.attack, cell.defense, s, cell_options(cell, options), data=data,
                                    log=log, wait=wait)
                    if path is not None:
                        paths[i, s] = path
    return paths


def detection_trial(cfg: TierConfig, attack_name: str, defense_name: str, seed: int, data,
                    options) -> Tuple[float, float]:
    """(FPR, FNR) of a pre-processing defense's keep-mask on one seed's poisoned set: the cell
    pipeline with the planning trainer (nothing trained), so the keep-mask is the one a full run
    of the cell computes. Poison = positive."""
    attack, defense = create_entries(cfg, attack_name, defense_name)
    trainer = PlanningTrainer(EncoderCache(options.cache_dir, options.device, progress=False), seed, cfg.pretrain)
    run = run_pipeline(cfg, attack, defense, seed, data, trainer, PlannedPoisons())
    if run.defended.keep is None:
        raise BenchmarkError(f"defense {defense_name!r} returns no keep-mask: nothing to score")
    return detection_rates(run.defended.keep, np.arange(len(run.train_set)) >= len(data.pretrain))


def _mean_range(values) -> str:
    return f"{sum(values) / len(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def _asr(m, key: str = "asr") -> str:
    """An ASR and its Wilson 95% CI, as every table prints it."""
    return format_ci(m[key], m[f"{key}_ci"])


def _shift(m) -> str:
    """Paired shift of the target–reference cosine from the clean encoder, with its 95% CI."""
    lo, hi = m["outer_shift_ci"]
    return f"{m['outer_shift']:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def _paired(shifts: Dict[Any, float], ref: Dict[Any, float]) -> str:
    """Mean difference of the cosine shift from the reference cell's on the targets both measured,
    with a Student-t 95% CI over them (why shifts, not cosines: ``PAIRED_NOTE``)."""
    got = paired_by_target(shifts, ref)
    if got is None:
        return "no common targets"
    mean, (lo, hi), _ = got
    return f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def task_split(rows) -> str:
    """Every cell's ASR and cosine shift on each downstream task's own targets."""
    tasks = sorted({k for _, m in rows for k in m["by_task"]})
    head = ("Per downstream task (ASR [95% CI] over that task's targets; cos shift):\n\n"
            f"| cell | {' | '.join(tasks)} |\n|---|{'---|' * len(tasks)}\n")
    def one(m):
        if m is None:
            return "–"
        return f"{_asr(m)} (n={m['targets']}); {_shift(m)}"
    return head + "\n".join(f"| {c.label} | {' | '.join(one(m['by_task'].get(k)) for k in tasks)} |"
                             for c, m in rows) + "\n"


def render_backdoor(exp: Experiment, tier: str, rows) -> str:
    """A backdoor experiment: per cell ASR and the clean encoder's on the same triggered inputs, CA/PA;
    then per task."""
    head = ("| cell | ASR [95% CI over seeds] | clean encoder, same inputs | CA | PA | paper |\n"
            "|---|---|---|---|---|---|\n")
    lines = [f"| {c.label} | {_asr(m)} ({m['targets']}) | {_asr(m, 'clean_asr')} | {m['ca']:.3f} | {m['pa']:.3f} "
             f"| {c.paper or '–'} |" for c, m in rows]
    tasks = sorted({k for _, m in rows for k in m["by_task"]})
    split = ("\nPer downstream task (ASR [95% CI]; clean encoder's ASR; CA → PA):\n\n"
             f"| cell | {' | '.join(tasks)} |\n|---|{'---|' * len(tasks)}\n"
             + "\n".join(f"| {c.label} | " + " | ".join(
                 f"{_asr(m['by_task'][k])}; clean {m['by_task'][k]['clean_asr']:.3f}; "
                 f"{m['task_acc'][k][0]:.3f} → {m['task_acc'][k][1]:.3f}" if k in m["by_task"] else "–"
                 for k in tasks) + " |" for c, m in rows) + "\n") if exp.by_task else ""
    interval = rows[0][1].get("interval", "") if rows else ""
    return (f"# {exp.title} — tier `{tier}`\n\n{head}" + "\n".join(lines) + "\n" + split
            + f"\nInterval: {interval}. {exp.note}\n")


def _drop(m) -> str:
    lo, hi = m["accuracy_drop_ci"]
    return f"{m['accuracy_drop']:+.3f}" + ("" if lo != lo else f" [{lo:+.3f}, {hi:+.3f}]")


def render_indiscriminate(exp: Experiment, tier: str, rows) -> str:
    """An indiscriminate experiment: per cell CA, PA and the drop with its interval over seeds, per
    task, what crafting the release took and what the defense cost."""
    tasks = sorted({k for _, m in rows for k in m["by_task"]})
    head = (f"| cell | CA | PA | CA − PA [95% CI] | {' | '.join(tasks)} | crafting s | defense CPU-s | paper |\n"
            f"|---|---|---|---|{'---|' * len(tasks)}---|---|---|\n")
    lines = [f"| {c.label} | {m['ca']:.3f} | {m['pa']:.3f} | {_drop(m)} | "
             + " | ".join(_drop(m["by_task"][k]) if k in m["by_task"] else "–" for k in tasks)
             + f" | {m['craft_seconds']:.0f} | {m['defense_seconds']:.0f} | {c.paper or '–'} |" for c, m in rows]
    interval = rows[0][1]["interval"] if rows else ""
    return f"# {exp.title} — tier `{tier}`\n\n{head}" + "\n".join(lines) + f"\n\nInterval: {interval}. {exp.note}\n"


def render(name: str, tier: str, rows) -> str:
    exp = EXPERIMENTS[name]
    if exp.metric == "backdoor":
        return render_backdoor(exp, tier, rows)
    if exp.metric == "indiscriminate":
        return render_indiscriminate(exp, tier, rows)
    if exp.metric == "detection":
        head = "| cell | FPR, mean (range over seeds) | FNR, mean (range over seeds) | paper |\n|---|---|---|---|\n"
        lines = [f"| {c.label} | {_mean_range(m['fpr'])} | {_mean_range(m['fnr'])} | {c.paper or '–'} |" for c, m in rows]
        return f"# {exp.title} — tier `{tier}`\n\n{head}" + "\n".join(lines) + f"\n\n{exp.note}\n"
    head = "| cell | ours | clean encoder, same targets | paper |\n|---|---|---|---|\n"
    ref = next((m for c, m in rows if c.label == exp.paired_with), None) if exp.metric in ("asr", "outer") else None
    if ref is not None:
        head = (f"| cell | ours | clean encoder, same targets | shift − {exp.paired_with}'s, same targets | paper |\n"
                "|---|---|---|---|---|\n")
    lines = []
    for cell, m in rows:
        if exp.metric == "defended":
            ours = (f"{_asr(m)} ({m['targets']} targets); "
                    f"cos {m['outer']:.3f} (clean {m['clean_outer']:.3f}); PA {m['pa']:.3f} (CA {m['ca']:.3f})")
            base = _asr(m, "clean_asr")
        elif exp.metric == "asr":
            ours = f"{_asr(m)} ({m['targets']} targets); cos shift {_shift(m)}"
            base = _asr(m, "clean_asr")
        else:
            ours, base = f"{m['outer']:.3f} (shift {_shift(m)})", f"{m['clean_outer']:.3f}"
        if ref is not None:
            base += f" | {'–' if cell.label == exp.paired_with else _paired(m['shifts'], ref['shifts'])}"
        lines.append(f"| {cell.label} | {ours} | {base} | {cell.paper or '–'} |")
    note = f"\n{exp.note}\n" if exp.note else ""
    if exp.by_task:
        note = "\n" + task_split(rows) + note
    if exp.metric in ("asr", "outer"):
        paired = f" {PAIRED_NOTE.format(ref=exp.paired_with)}" if ref is not None else ""
        note = f"\n{SHIFT_NOTE}{paired}\n" + note
    return f"# {exp.title} — tier `{tier}`\n\n{head}" + "\n".join(lines) + "\n" + note


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmark.experiment", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=sorted(EXPERIMENTS), help="which experiment")
    p.add_argument("--tier", default="smoke", help="tier name or .toml path (default: smoke)")
    p.add_argument("--data-root", default=None, metavar="DIR", help="image-folder data root (real-data tiers)")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="default: the tier's seeds")
    p.add_argument("--results-dir", type=Path, default=Path("results/experiments"), metavar="DIR")
    p.add_argument("--cache-dir", type=Path, default=None, metavar="DIR", help=f"default: {default_cache_dir()}")
    p.add_argument("--output-dir", type=Path, default=Path("leaderboard/experiments"), metavar="DIR")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a tier value for every cell (repeatable; needs --tag)")
    p.add_argument("--tag", default=None, help="suffix of the output file, e.g. 38k → <tier>-<name>-38k.md")
    add_placement_flags(p)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = p.parse_args(argv)
    try:
        apply_placement(args)
        if args.set and not args.tag:
            raise BenchmarkError("--set changes the tier: give --tag so the table does not overwrite the tier's own")
        cfg = load_config(args.tier, args.set)
        seeds = args.seeds if args.seeds is not None else list(cfg.seeds)
        check_seeds(seeds, "--seeds")
        opts = Options(args.data_root, None, args.cache_dir or default_cache_dir(), args.results_dir / args.name,
                       args.device, not args.no_progress)
        text = render(args.name, cfg.name, measure(args.name, cfg, opts, seeds))
        if args.set:
            text += "\nTier overrides: " + ", ".join(f"`{s}`" for s in args.set) + "\n"
        out = args.output_dir / f"{cfg.name}-{args.name}{'-' + args.tag if args.tag else ''}.md"
        atomic_write_bytes(out, text.encode())
    except BenchmarkError as exc:
        return report(exc)
    print(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
