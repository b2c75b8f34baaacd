"""Which cells of a declared grid have records — so an unfinished grid shows its gaps, with a reason.

The records say what was measured; the committed grid file (``benchmark/grids/<name>.toml``) says
what the grid promises. A board built from both lists every promised (attack, defense) cell: the
measured ones with their seed count, the rest as *pending* — except the pairs that are no cell at
all (:func:`inapplicable`: a pre-training defense against a delivered, poisoned model), shown as
*not applicable*. Both inputs are committed files, so the board stays a pure function of the
repository.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Set, Tuple

from benchmark.core.errors import BenchmarkError
from benchmark.core.grid_spec import list_grids, read_grid

Cell = Tuple[str, str]  # (attack, defense)


def declared_grid(tier: str, grid_hash: str):
    """The committed grid file whose tier config hashes to ``grid_hash`` (first by name), or None
    — records of an ad-hoc run (``--tier``/``--defense``) or of a hand-made tier declare no grid."""
    for name in list_grids():
        try:
            grid = read_grid(name)  # the file as data: no registry, no plugin code runs here
        except BenchmarkError:  # a malformed grid file declares nothing
            continue
        if grid.tier.name == tier and grid.tier.grid_hash() == grid_hash:
            return grid
    return None


def inapplicable(records: List[Dict[str, Any]], stages_from: Optional[List[Dict[str, Any]]] = None) -> Set[Cell]:
    """(attack, defense) pairs the harness never runs, read from the records alone: every attack whose
    records say it poisons the model (``attack_threat``) with every defense recorded at the pre- or
    in-processing stage — in ``stages_from`` (default: the same records; a defense's stage is the same
    in every grid) — (:func:`benchmark.pipeline.not_applicable` is the harness's side of the rule)."""
    model = {r["attack"] for r in records if r.get("attack_threat") == "model"}
    data = {r["defense"] for r in (records if stages_from is None else stages_from)
            if r.get("config", {}).get("defense", {}).get("stage") in ("pre", "in")}
    return {(a, d) for a in model for d in data}


def coverage(records: List[Dict[str, Any]], jobs) -> Dict[Cell, Tuple[int, int]]:
    """(attack, defense) → (seeds with a record, seeds the grid declares), for every declared cell.

    ``jobs`` are the grid's (attack, defense, seed) jobs; records outside them are ignored here
    (they still appear on the board as measured rows)."""
    declared: Dict[Cell, set] = {}
    for job in jobs:
        declared.setdefault((job.attack, job.defense), set()).add(job.seed)
    done: Dict[Cell, set] = {}
    for r in records:
        done.setdefault((r["attack"], r["defense"]), set()).add(r["seed"])
    return {cell: (len(seeds & done.get(cell, set())), len(seeds)) for cell, seeds in sorted(declared.items())}


def pending_note(grid_name: str, cov: Dict[Cell, Tuple[int, int]]) -> Optional[str]:
    """One sentence saying how much of the declared grid has no record yet, or None when complete."""
    missing = sum(n - k for k, n in cov.values())
    total = sum(n for _, n in cov.values())
    if not missing:
        return None
    done = total - missing
    return (f"Grid `{grid_name}` declares {total} jobs; {done} {'has a record' if done == 1 else 'have records'} and "
            f"{missing} {'is' if missing == 1 else 'are'} still to run. A *pending* row is a cell of the grid with no "
            f"record yet; a seeds entry `k/n` means k of the grid's n seeds are in the row. Resume with "
            f"`python -m benchmark.run --grid {grid_name}` (plus `--data-root DIR` on a real-data tier).\n")
