"""A grid file as data (torch-free): which (attack, defense, seed) jobs a tier's fixed grid declares.

``benchmark/grids/<name>.toml`` names a tier (with ``set``, changes to it by the one override rule:
the grid's method or encoder) and the attacks, defenses, seeds, job order and per-job resources. :func:`read_grid` parses it without touching the attack and defense registries,
so the leaderboard (a pure function of records and committed files) can list a grid's cells.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

from .errors import BenchmarkError
from .config import load_tier, read_named_toml
from .settings import TierConfig, check_seeds

GRID_DIR = Path(__file__).parents[1] / "grids"


@dataclass(frozen=True)
class Job:
    attack: str
    defense: str
    seed: int


@dataclass
class Grid:
    name: str
    tier: TierConfig
    attacks: List[str]
    defenses: List[str]
    seeds: List[int]
    cpus_per_job: float = 2
    gpus_per_job: float = 0
    jobs: List[Job] = field(default_factory=list)


def list_grids() -> List[str]:
    return sorted(p.stem for p in GRID_DIR.glob("*.toml"))


def read_grid(name_or_path: str, overrides=()) -> Grid:
    """A grid file parsed, its tier loaded and its jobs ordered — without importing a registry, so
    the leaderboard can read which cells a grid declares without torch or plugin code. The names it
    lists are checked against the registries by :func:`benchmark.grid.load_grid`."""
    path, spec = read_named_toml(name_or_path, GRID_DIR, "grid")
    try:
        g, res = spec["grid"], spec.get("resources", {})
        # ``set``: the grid's own changes to its tier (a method or encoder axis), before the command line's.
        tier = load_tier(g["tier"], [*g.get("set", []), *overrides])
        grid = Grid(g.get("name", path.stem), tier, list(g["attacks"]), list(g["defenses"]),
                    [int(s) for s in g.get("seeds", tier.seeds)],
                    float(res.get("cpus_per_job", 2)), float(res.get("gpus_per_job", 0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise BenchmarkError(f"grid file {path} is malformed: {type(exc).__name__}: {exc}") from exc
    check_seeds(grid.seeds, f"grid {grid.name}: seeds")
    grid.jobs = job_order(grid, g.get("order", list(ORDER)), path)
    return grid


ORDER = ("seed", "attack", "defense")


def job_order(grid: Grid, order, path) -> List[Job]:
    """Every (attack, defense, seed) job, nested in the grid's ``order`` (outermost first). The
    default finishes one seed at a time; ``["defense", "seed", "attack"]`` finishes one defense —
    listed cheapest first — on every seed before the next, so an unfinished grid still gives
    complete rows."""
    if sorted(order) != sorted(ORDER):
        raise BenchmarkError(f"grid file {path}: order must be a permutation of {list(ORDER)}, got {order}")
    axes: Dict[str, List[Any]] = {"seed": list(grid.seeds), "attack": list(grid.attacks), "defense": list(grid.defenses)}
    jobs = []
    for combo in itertools.product(*(axes[k] for k in order)):
        c = dict(zip(order, combo))
        if c["attack"] != "none" or c["defense"] == "none":  # the no-attack row is the clean baseline, once
            jobs.append(Job(c["attack"], c["defense"], int(c["seed"])))
    return jobs
