"""python -m benchmark.run — run a tier's cells for the given attacks, defense and seeds.

Each (attack, defense, seed) cell writes one JSON record; existing records are skipped, so an
interrupted run resumes where it stopped. Encoders are cached in --cache-dir and shared by
every cell that trains on the same data with the same config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from tqdm.auto import tqdm

import attacks
import defenses
from .plugins import failures, load_plugins, require_loaded
from leaderboard.build import load_records, render_markdown
from . import executors
from .placement import add_placement_flags, apply_placement
from .core.errors import BenchmarkError, report, require_positive
from .grid import format_plan, load_grid, plan
from .pipeline import load_config, load_data
from .sandbox.remote import set_hook_seconds
from .runner import Options, run_cell
from .core.store import default_cache_dir
from .core.config import list_tiers
from .core.settings import check_seeds


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:

    p = argparse.ArgumentParser(prog="python -m benchmark.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tier", default="smoke",
                   help=f"built-in tier ({', '.join(list_tiers())}) or a path to a tier .toml (default: smoke)")
    p.add_argument("--defense", default="none",
                   help=f"registered defense to evaluate (known: {', '.join(defenses.list_defenses())}; default: none)")
    p.add_argument("--attack", nargs="+", default=["poisoned_encoder"], metavar="NAME",
                   help=f"attacks to run (known: {', '.join(attacks.list_attacks())}; default: poisoned_encoder; "
                        "'none' records the clean encoder)")
    p.add_argument("--seeds", nargs="+", type=int, default=None, metavar="N",
                   help="seeds (encoder init, augmentation, threat draw); default: the tier's [run] seeds")
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="directory with NAME/{train,test}.tar image-folder archives (or extracted folders)")
    p.add_argument("--download-root", default=None, metavar="DIR",
                   help="download missing datasets with torchvision into DIR (needs internet)")
    p.add_argument("--results-dir", default="results", type=Path, metavar="DIR",
                   help="where result records go (default: ./results)")
    p.add_argument("--cache-dir", default=None, type=Path, metavar="DIR",
                   help=f"encoder checkpoint cache (default: {default_cache_dir()})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a tier value, e.g. --set pretrain.epochs=40 or --set defense.bagging.alpha=0.01 (an entry's __init__ parameter); repeatable; JSON values")
    p.add_argument("--grid", default=None, metavar="NAME",
                   help="run a whole grid file (benchmark/grids/NAME.toml or a path) instead of --tier/--attack/"
                        "--defense/--seeds; --set still overrides its tier")
    p.add_argument("--dry-run", action="store_true",
                   help="with --grid: print each job, whether its record and encoders are cached, and the "
                        "pre-training image-passes still to spend; train nothing")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="with --grid: run jobs here one by one (local, default) or on Ray (needs '.[ray]')")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="with --executor ray: address of an existing Ray cluster (default: start a local one)")
    p.add_argument("--ray-cpus", type=int, default=None, metavar="N",
                   help="with --executor ray and no --address: CPUs of the local Ray instance")
    p.add_argument("--hook-seconds", type=float, default=None, metavar="S",
                   help="wall-clock budget of each hook call of a submitted defense, which runs in its own "
                        "process (default: 14400, or CL_POISONBENCH_HOOK_SECONDS); training it asks for is not counted")
    add_placement_flags(p)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--no-leaderboard", action="store_true", help="do not print the leaderboard table at the end")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    load_plugins()  # submissions/<name>/ folders and installed entry points join the registry (and --help)
    args = parse_args(argv)
    try:
        require_loaded(args.defense)  # the requested plugin is broken: its reason, not "unknown"
        for name, why in sorted(failures().items()):
            print(f"warning: plugin '{name}' skipped: " + " ".join(why.split()), file=sys.stderr)
        return _run(args)
    except BenchmarkError as exc:
        return report(exc)


def _run(args: argparse.Namespace) -> int:
    if args.hook_seconds is not None:
        set_hook_seconds(require_positive("--hook-seconds", args.hook_seconds))
    if args.ray_cpus is not None and args.ray_cpus < 1:
        raise BenchmarkError(f"--ray-cpus must be a positive integer, got {args.ray_cpus}")
    apply_placement(args)
    if args.grid is not None:
        return _run_grid(args)
    if args.dry_run or args.executor != "local":
        raise BenchmarkError("--dry-run and --executor apply to --grid runs")
    cfg = load_config(args.tier, args.overrides)
    for name in args.attack:
        attacks.ATTACKS.get(name)  # unknown names fail before any work
    defenses.DEFENSES.get(args.defense)
    seeds = args.seeds if args.seeds is not None else list(cfg.seeds)
    check_seeds(seeds, "--seeds")

    options = _options(args)
    data = load_data(cfg, options)  # load once, validate before training anything
    cells = [(a, s) for s in seeds for a in args.attack]
    bar = tqdm(cells, desc=f"{cfg.name} cells", disable=args.no_progress, unit="cell")
    for attack, seed in bar:
        bar.set_postfix(attack=attack, seed=seed)
        run_cell(cfg, attack, args.defense, seed, options, data=data, log=tqdm.write)
    if not args.no_leaderboard:
        mine = [r for r in load_records(args.results_dir)
                if r["tier"] == cfg.name and r["grid_hash"] == cfg.grid_hash()]
        print(render_markdown(mine, title=None, figures=False))
    return 0


def _options(args: argparse.Namespace):
    """Runner options, every directory checked before any work: one line for each unusable one."""
    if args.data_root is not None and not Path(args.data_root).is_dir():
        raise BenchmarkError(f"--data-root {args.data_root} is not a directory")
    for flag, path in (("--results-dir", args.results_dir), ("--cache-dir", args.cache_dir or default_cache_dir())):
        if Path(path).exists() and not Path(path).is_dir():
            raise BenchmarkError(f"{flag} {path} exists and is not a directory")
    return Options(args.data_root, args.download_root, args.cache_dir or default_cache_dir(),
                   args.results_dir, args.device, not args.no_progress)


def _run_grid(args: argparse.Namespace) -> int:
    grid = load_grid(args.grid, args.overrides)
    options = _options(args)
    if args.dry_run:
        print(format_plan(grid, plan(grid, options)))
        return 0
    if args.executor == "ray":
        paths = executors.run_ray(grid, options, args.address, args.ray_cpus, not args.no_progress)
    else:
        paths = executors.run_local(grid, options, not args.no_progress)
    print(f"{len(paths)} records under {args.results_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
