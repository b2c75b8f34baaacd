"""python -m leaderboard.build — turn result records into the markdown leaderboard.

The output is a pure function of the records: same records, same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import jsonschema

from benchmark.core.errors import BenchmarkError, report
from benchmark.core.records import RECORD_SCHEMA, grid_hash
from benchmark.core.store import atomic_write_bytes

from . import plot
from .acting import acting_note, heading_line
from .aggregate import amortisation, compute_hours, summary_table, task_table
from .clean_copies import copies_note
from .coverage import coverage, declared_grid, inapplicable, pending_note
from .paper_comparison import paper_comparison
from .table import BACKDOOR_LEGEND, INDISCRIMINATE_LEGEND, RANK_RULE, attack_table, task_breakdown


SCHEMA_PATH = Path(__file__).with_name("record.schema.json")


def validate_record(rec: Any, where: str = "record") -> None:
    """One-line refusal of a record that does not follow ``record.schema.json``."""
    if not isinstance(rec, dict) or rec.get("schema") != RECORD_SCHEMA:
        found = rec.get("schema") if isinstance(rec, dict) else type(rec).__name__
        raise BenchmarkError(f"{where}: not a {RECORD_SCHEMA} record (schema: {found!r})")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    error = jsonschema.exceptions.best_match(validator.iter_errors(rec))
    if error is not None:
        at = "/".join(map(str, error.absolute_path)) or "(top level)"
        raise BenchmarkError(f"{where}: fails the record schema at {at}: {error.message}")
    if grid_hash(rec["config"]["tier"]) != rec["grid_hash"]:
        raise BenchmarkError(f"{where}: grid_hash {rec['grid_hash']} does not match the tier config it records")


def load_records(results_dir: Path) -> List[Dict[str, Any]]:
    """Every ``*.json`` under ``results_dir``, each validated against the record schema."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise BenchmarkError(f"results directory {results_dir} does not exist")
    records, seen = [], {}
    for path in sorted(results_dir.rglob("*.json")):
        if path.is_symlink():  # a link would count a cell twice (more seeds, a narrower interval)
            raise BenchmarkError(f"{path}: a symlinked record; copy or move it, do not link")
        try:
            rec = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BenchmarkError(f"{path}: not valid JSON ({exc})") from exc
        validate_record(rec, str(path))
        cell = (rec["tier"], rec["grid_hash"], rec["attack"], rec["defense"], rec["seed"], rec["config_hash"])
        if cell in seen:
            raise BenchmarkError(f"{path} and {seen[cell]} are the same cell (tier, grid, attack, defense, seed, "
                                 "config): one record per cell")
        seen[cell] = path
        records.append(rec)
    return records


def select_grid(records: List[Dict[str, Any]], grid: Optional[str]) -> List[Dict[str, Any]]:
    """A leaderboard compares one grid: refuse a mix unless ``grid`` (HASH or TIER/HASH) picks one."""
    grids = sorted({f"{r['tier']}/{r['grid_hash']}" for r in records})
    if grid is not None:
        chosen = [r for r in records if grid in (r["grid_hash"], f"{r['tier']}/{r['grid_hash']}")]
        if not chosen:
            raise BenchmarkError(f"no records of grid {grid} (found: {', '.join(grids) or 'none'})")
        return chosen
    if len(grids) > 1:
        raise BenchmarkError(f"records come from {len(grids)} grids ({', '.join(grids)}); "
                             "a leaderboard compares one: pass --grid")
    return records


def _provenance(records: List[Dict[str, Any]]) -> str:
    """Where the numbers come from, read off the records themselves (so the build stays pure)."""
    versions = sorted({(r["versions"].get("torch", "?"), r["versions"].get("cl-poisonbench", "?")) for r in records})
    machines = sorted({f"{r['machine'].get('processor', '?')}, {r['machine'].get('cpus', '?')} CPUs" for r in records})
    dates = sorted(r["created"][:10] for r in records)
    return (f"{len(records)} records, {dates[0]} to {dates[-1]}; torch "
            f"{', '.join(v[0] for v in versions)}; cl-poisonbench {', '.join(v[1] for v in versions)}; "
            f"machine: {'; '.join(machines)}.\n")


SSL_NAMES = {"simclr": "SimCLR", "moco_v2": "MoCo v2", "byol": "BYOL"}
def _ssl_name(records: List[Dict[str, Any]], tier: str, grid: str) -> str:
    """The grid's self-supervised method, as its records name it (one per grid: it is in the grid hash)."""
    name = next(r.get("ssl", "simclr") for r in records if r["tier"] == tier and r["grid_hash"] == grid)
    return SSL_NAMES.get(name, name)


def _with_method(desc: Optional[str], method: Optional[str]) -> Optional[str]:
    """The tier's description with the SSL method it names replaced by the grid's own: a grid that sets
    ``pretrain.method`` keeps its tier's description, which names the tier's default method."""
    if desc and method:
        for other in SSL_NAMES.values():
            if other != method and other in desc:
                desc = desc.replace(other, method)
    return desc


def threat_model(records: List[Dict[str, Any]]) -> str:
    """The grid's data-poisoning threat model in one line, read from its records (the board never reads
    a tier file): from-scratch pre-training, or continued pre-training of a named public backbone."""
    tier = records[0].get("config", {}).get("tier", {})
    init = tier.get("pretrain", {}).get("init")
    how = (f"the victim continues pre-training from the public clean backbone `{init}` (the attacker knows it) "
           if init else "the victim pre-trains from random weights ")
    desc = _with_method(tier.get("tier", {}).get("description"), SSL_NAMES.get(records[0].get("ssl", "simclr")))
    model = sorted({r["attack"] for r in records if r.get("attack_threat") == "model"})
    return (f"Threat model: {how}on a set holding the attacker's poisons" + (f" — {desc}" if desc else "")
            + (f"; model poisoning ({', '.join(model)}): the attacker delivers a backdoored copy of the clean "
               "encoder instead" if model else "") + ".\n")


def write_figures(records: List[Dict[str, Any]], figures_dir: Path) -> List[Path]:
    """The PNGs the markdown links to, one set per (tier, grid)."""
    written = []
    summary = summary_table(records)
    for (tier, grid), grp in (summary.groupby(["tier", "grid_hash"], sort=True) if len(summary) else []):
        if (grp.attack != "none").any():
            path = figures_dir / f"{tier}-{grid}-asr_vs_utility.png"
            plot.asr_vs_utility(grp, path)
            written.append(path)
        path = figures_dir / f"{tier}-{grid}-early_stopping.png"
        if plot.early_stopping_curves([r for r in records if r["tier"] == tier and r["grid_hash"] == grid], path):
            written.append(path)
    return written


def _hours_clause(h: Dict[str, float], unit: str) -> str:
    untimed = int(h["encoders"] - h["encoders_timed"])
    est = (f", of which {h['estimated_training_hours']:.1f} h estimated at the timed encoders' rate for the "
           f"{untimed} encoders whose records carry no time" if untimed else "")
    return (f"{h['hours']:.1f} {unit} ({h['training_hours']:.1f} h pre-training{est}; "
            f"{h['other_hours']:.1f} h crafting and evaluation)")


def grid_cost_line(records: List[Dict[str, Any]]) -> str:
    """What the grid cost: CPU-hours and job wall-clock hours, and the image-passes the shared cache saved."""
    a, wall, cpu = amortisation(records), compute_hours(records, "wall"), compute_hours(records, "cpu")
    line = (f"Cost of these records: {int(a['distinct_encoders'])} distinct encoders, "
            f"{a['executed_image_passes']:,.0f} pre-training image-passes executed against "
            f"{a['naive_image_passes']:,.0f} for the naive protocol (a fresh clean and defended pre-training "
            f"per target and defense): {a['saving']:.1f}× saved by sharing runs and the cache.")
    if wall["hours"] != wall["hours"]:
        return line + " No encoder here recorded its training time, so compute hours are not stated.\n"
    if cpu["hours"] == cpu["hours"]:
        line += f" Compute: {_hours_clause(cpu, 'CPU-hours')} of process CPU time;"
    else:
        line += " Compute: CPU time not recorded for these encoders (records before it was kept);"
    return (line + f" {_hours_clause(wall, 'job wall-clock hours')} on the machine above, each encoder counted "
            "once (jobs sometimes shared the cores, so wall time overstates an idle machine's).\n")


TARGETED_LEGEND = (
    "ASR: fraction of target inputs classified as their target class, pooled over seeds and targets, with a "
    "95% Wilson interval. Clean ASR: the same targets on the clean encoder. Flips: targets the clean pipeline "
    "got right that the poisoned one sends to the target class. CA/PA: mean over downstream tasks, mean ± sd "
    "over seeds (CA: clean encoder, no defense; PA: the defended pipeline on the poisoned set). Dropped: "
    "(CA − PA) / CA per seed, averaged — the paper's \"dropped ratio\" (Tables 9–10), taken against the clean "
    "encoder. cos(t, refs): mean cosine between a target's features and its references' (the attack's outer "
    "objective, Table 2), clean encoder → defended pipeline. FPR / FNR: detection rates of a pre-processing "
    "defense (poison = positive). Certified: share of targets whose correct bagging vote is certified against "
    "the run's number of poisons. Bagging's PA is its members' majority vote, an ensemble, which can beat CA "
    "(one clean encoder): a negative CA − PA there is the vote's gain, not a repaired encoder. Cost: "
    "pre-training image-passes as a multiple of undefended pre-training, plus the clean images a "
    "post-processing defense was given (capped at the tier's `threat.max_clean_fraction` of the clean set). ")


def legend(records: List[Dict[str, Any]]) -> str:
    """The board's legend: the targeted columns, then a paragraph per other attack kind present."""
    kinds = {r.get("attack_kind") for r in records}
    return (TARGETED_LEGEND + (BACKDOOR_LEGEND if "backdoor" in kinds else "")
            + (INDISCRIMINATE_LEGEND if "indiscriminate" in kinds else "")
            + "– : not applicable. Pending (·): a cell of the grid file with no record yet. " + RANK_RULE + "\n")


def grid_section(records: List[Dict[str, Any]], grp, tasks, figures: bool,
                 stages_from: List[Dict[str, Any]]) -> List[str]:
    """One grid's part of the board: heading, threat model, a table per attack, notes, per-task table.
    ``grp`` is the grid's rows of the summary table, ``tasks`` the whole per-task table."""
    first = grp.iloc[0]
    tier, grid = first["tier"], first["grid_hash"]
    out = [f"## Tier `{tier}` — grid `{grid}` ({first['pretrain_set']} pre-training, "
           f"{first['encoder']}, {_ssl_name(records, tier, grid)})\n"]
    mine = [r for r in records if r["tier"] == tier and r["grid_hash"] == grid]
    out += [threat_model(mine), _provenance(mine)]
    out += [n for n in [acting_note(grp)] if n]
    declared = declared_grid(tier, grid)
    # A defense this grid neither declares nor measured is no cell of it, applicable or not.
    own = {r["defense"] for r in mine} | ({j.defense for j in declared.jobs} if declared else set())
    na = {(a, d) for a, d in inapplicable(mine, stages_from) if d in own}
    cov = {c: v for c, v in coverage(mine, declared.jobs).items() if c not in na} if declared else {}
    for attack in sorted(set(grp.attack) | {a for a, _ in cov}):
        rows = grp[grp.attack == attack]
        said = [heading_line(rows)] if attack != "none" else []
        out += [f"### Attack `{attack}`\n", *said, attack_table(rows, attack, cov, na), ""]
    if figures and (grp.attack != "none").any():
        out.append(f"![ASR against utility loss, Pareto front](figures/{tier}-{grid}-asr_vs_utility.png)\n")
    if figures and any(r.get("curves") for r in mine):
        out.append(f"![Early stopping curves](figures/{tier}-{grid}-early_stopping.png)\n")
    out += [n for n in [pending_note(declared.name, cov) if declared else None, copies_note(mine)] if n]
    out.append(grid_cost_line(mine))
    sub = tasks[(tasks.tier == tier) & (tasks.grid_hash == grid)]
    out += ["Per downstream task:\n", task_breakdown(sub), ""]
    if (grp.attack != "none").any():
        out.append(paper_comparison(grp, mine))
    return out


def render_markdown(records: List[Dict[str, Any]], title: Optional[str] = "CL-PoisonBench leaderboard",
                    figures: bool = True, stages_from: Optional[List[Dict[str, Any]]] = None) -> str:
    """The board as markdown; ``figures=False`` leaves out the image links (a terminal print, where
    :func:`write_figures` has not run). ``stages_from``: records (default ``records``) from which a
    defense's stage is learnt for the not-applicable cells — a defense's stage is the same in every
    grid, so a grid whose pre-/in-processing cells have not run yet still shows them as such."""
    out = [f"# {title}\n"] if title else []
    if not records:
        return "\n".join(out + ["No result records found.\n"])
    summary, tasks = summary_table(records), task_table(records)
    out.append(legend(records))
    for _, grp in summary.groupby(["tier", "grid_hash"], sort=True):
        out += grid_section(records, grp, tasks, figures, stages_from or records)
    return "\n".join(out) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m leaderboard.build", description=__doc__)
    p.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR",
                   help="directory searched recursively for result records (default: ./results)")
    p.add_argument("--output", type=Path, default=Path("leaderboard/README.md"), metavar="FILE",
                   help="markdown file to write (default: leaderboard/README.md)")
    p.add_argument("--grid", default=None, metavar="[TIER/]HASH",
                   help="build the board of this grid when the results hold several (they are refused otherwise)")
    args = p.parse_args(argv)
    try:
        if args.output.is_dir():
            raise BenchmarkError(f"--output {args.output} is a directory; give the markdown file to write")
        loaded = load_records(args.results_dir)
        records = select_grid(loaded, args.grid)
        text = render_markdown(records, stages_from=loaded)
    except BenchmarkError as exc:
        return report(exc)
    atomic_write_bytes(args.output, text.encode())
    print(f"wrote {args.output}")
    for path in write_figures(records, args.output.parent / "figures"):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
