"""Aggregate records over seeds and targets (pure: records in, data frames out)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from benchmark.core.metrics import dropped_ratio, paired_shift_ci95
from benchmark.core.records import backdoor_over_seeds, drop_over_seeds, summarize_backdoor, summarize_targets

GROUP = ["tier", "grid_hash", "pretrain_set", "encoder", "attack", "defense"]


def pooled_targets(targets: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Target outcomes pooled over seeds, with the record's own summary function."""
    m = summarize_targets(targets)
    shift, shift_ci = (paired_shift_ci95([t["poisoned_cosine"] for t in targets], [t["clean_cosine"] for t in targets])
                       if targets else (float("nan"), (float("nan"), float("nan"))))
    return {"targets": m["n_targets"], "asr": m["asr"], "asr_ci": tuple(m["asr_ci95"]),
            "clean_asr": m["clean_asr"], "clean_asr_ci": tuple(m["clean_asr_ci95"]),
            "flips": m["flips_among_clean_correct"], "clean_correct": m["clean_correct_targets"],
            "outer": m["outer_objective"], "clean_outer": m["clean_outer_objective"],
            "outer_shift": shift, "outer_shift_ci": shift_ci, "mcnemar_p": m["mcnemar_p"],
            "discordant": tuple(m["discordant"])}


def pooled_backdoor(seed_metrics: List[Dict[str, Any]]) -> Dict[str, Any]:
    """A backdoor group's ASR columns: the mean of per-seed ASR with an interval over seeds
    (:func:`benchmark.core.records.backdoor_over_seeds`); target-input columns do not apply."""
    b = backdoor_over_seeds(seed_metrics)
    return {"targets": f"{b['n_inputs']} triggered", "asr": b["asr"], "asr_ci": tuple(b["asr_ci"]),
            "clean_asr": b["clean_asr"], "clean_asr_ci": tuple(b["clean_asr_ci"]), "interval": b["interval"],
            **_no_target_columns()}


def _no_target_columns() -> Dict[str, Any]:
    """The columns about chosen target inputs, empty for the kinds that have none (backdoor, indiscriminate)."""
    nan = float("nan")
    return {"flips": None, "clean_correct": None, "outer": nan, "clean_outer": nan, "outer_shift": nan,
            "outer_shift_ci": (nan, nan), "mcnemar_p": nan, "discordant": (0, 0)}


def pooled_indiscriminate(recs: List[Dict[str, Any]], task: Optional[str] = None) -> Dict[str, Any]:
    """An indiscriminate group's columns: no ASR (nan, printed "–"), the accuracy drop CA − PA (of one
    task, or the mean over tasks) with an interval over seeds."""
    drops = [r["tasks"][task]["clean_accuracy"] - r["tasks"][task]["poisoned_accuracy"] if task else
             r["metrics"]["accuracy_drop"] for r in recs if task is None or task in r["tasks"]]
    d = drop_over_seeds(drops)
    nan = float("nan")
    return {"targets": "–", "asr": nan, "asr_ci": (nan, nan), "clean_asr": nan, "clean_asr_ci": (nan, nan),
            "interval": d["interval"], "drop": d["accuracy_drop"], "drop_ci": d["accuracy_drop_ci"],
            **_no_target_columns()}


def outcome_of(recs: List[Dict[str, Any]], task: Optional[str] = None) -> Dict[str, Any]:
    """The ASR columns of one group's records (of one downstream task, if given), by attack kind."""
    if recs and recs[0].get("attack_kind") == "indiscriminate":
        return pooled_indiscriminate(recs, task)
    if recs and recs[0].get("attack_kind") == "backdoor":
        per_seed = [summarize_backdoor({k: v for k, v in r["backdoor"].items() if task in (None, k)}) for r in recs]
        return pooled_backdoor([m for m in per_seed if m["n_inputs"]] or per_seed)
    return pooled_targets([t for r in recs for t in r["targets"] if task in (None, t["task"])])


def _mean_of(records: List[Dict[str, Any]], get) -> float:
    """Mean of a per-record value over the records that have it (nan when none does)."""
    values = [v for v in map(get, records) if v is not None]
    return float(np.mean(values)) if values else float("nan")


def pareto_front(points: List[tuple]) -> List[int]:
    """Indices of the points (asr, utility_loss) not dominated by another: lower is better on both.
    Sorted by ASR, then utility loss."""
    front = []
    for i, (a, u) in enumerate(points):
        if not any((a2 <= a and u2 <= u) and (a2 < a or u2 < u) for j, (a2, u2) in enumerate(points) if j != i):
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], points[i][1], i))


def pareto_ranks(points: List[tuple]) -> List[int]:
    """Non-dominated sorting of (asr, utility_loss) points, lower better on both: rank 1 is the
    Pareto front, rank 2 the front of the rest, and so on."""
    remaining, ranks, layer = set(range(len(points))), [0] * len(points), 1
    while remaining:
        sub = sorted(remaining)
        front = {sub[i] for i in pareto_front([points[j] for j in sub])}
        for i in front:
            ranks[i] = layer
        remaining -= front
        layer += 1
    return ranks


def summary_table(records: List[Dict[str, Any]]) -> pd.DataFrame:
    """One row per (tier, grid, pre-training set, encoder, attack, defense)."""
    rows = []
    frame = pd.DataFrame([{k: r[k] for k in GROUP} | {"i": i} for i, r in enumerate(records)])
    if frame.empty:
        return pd.DataFrame()
    for key, grp in frame.groupby(GROUP, sort=True):
        recs = [records[i] for i in grp["i"]]
        ca = np.array([r["mean_clean_accuracy"] for r in recs])
        pa = np.array([r["mean_poisoned_accuracy"] for r in recs])
        row = dict(zip(GROUP, key))
        row.update(outcome_of(recs))
        row.update({"seeds": len(recs), "ca": ca.mean(), "ca_sd": ca.std(ddof=1) if len(ca) > 1 else 0.0,
                    "pa": pa.mean(), "pa_sd": pa.std(ddof=1) if len(pa) > 1 else 0.0,
                    "utility_loss": float(np.mean(ca - pa)),
                    "dropped_ratio": float(np.mean([dropped_ratio(c, p) for c, p in zip(ca, pa)])),
                    "cost_multiple": float(np.mean([r["cost"]["cost_multiple"] for r in recs])),
                    "pretrain_image_passes": float(np.mean([r["cost"]["pretrain_image_passes"] for r in recs])),
                    "fpr": _mean_of(recs, lambda r: r.get("detection", {}).get("fpr")),
                    "fnr": _mean_of(recs, lambda r: r.get("detection", {}).get("fnr")),
                    "certified_fraction": _mean_of(recs, lambda r: r.get("metrics", {}).get("certified_fraction")),
                    "clean_subset": _mean_of(recs, lambda r: r.get("defense_info", {}).get("clean_subset_size") or None)})
        rows.append(row)
    return pd.DataFrame(rows)


def paired_cosine(records: List[Dict[str, Any]], attack: str, other: str, defense: str = "none"):
    """(mean, 95% CI, n) of cos(target, references) under ``attack``'s encoder minus under ``other``'s,
    over the targets both records of a seed carry (a seed draws the same targets for every attack),
    or None when no target is shared. Table 2's outer objective, compared target by target."""
    def cosines(name):
        return target_cosines([r for r in records if r["attack"] == name and r["defense"] == defense])
    return paired_by_target(cosines(attack), cosines(other))


def target_cosines(records: List[Dict[str, Any]]) -> Dict[tuple, float]:
    """{(seed, task, target index): cos(target, references)} under each record's encoder."""
    return {(r["seed"], t["task"], t["index"]): t["poisoned_cosine"] for r in records for t in r["targets"]}


def target_shifts(records: List[Dict[str, Any]]) -> Dict[tuple, float]:
    """{(seed, task, target index): cos(target, references) under the record's encoder minus under
    its own clean encoder} — the poisons' pull, which stays comparable between records whose clean
    encoders differ (another algorithm or architecture: another feature space), where raw cosines
    are not."""
    return {(r["seed"], t["task"], t["index"]): t["poisoned_cosine"] - t["clean_cosine"]
            for r in records for t in r["targets"]}


def paired_by_target(a: Dict[tuple, float], b: Dict[tuple, float]):
    """(mean of a − b, 95% CI, n) over the keys both have, or None when they share none."""
    common = sorted(set(a) & set(b), key=str)
    if not common:
        return None
    mean, ci = paired_shift_ci95([a[k] for k in common], [b[k] for k in common])
    return mean, ci, len(common)


def task_table(records: List[Dict[str, Any]]) -> pd.DataFrame:
    """One row per (group, downstream task): ASR over that task's targets, CA and PA."""
    rows = []
    by_key: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in records:
        by_key.setdefault(tuple(r[k] for k in GROUP), []).append(r)
    for key in sorted(by_key):
        recs = by_key[key]
        for task in sorted({t for r in recs for t in r["tasks"]}):
            ca = np.array([r["tasks"][task]["clean_accuracy"] for r in recs if task in r["tasks"]])
            pa = np.array([r["tasks"][task]["poisoned_accuracy"] for r in recs if task in r["tasks"]])
            row = dict(zip(GROUP, key), task=task)
            row.update(outcome_of(recs, task))
            row.update({"ca": ca.mean(), "pa": pa.mean(), "utility_loss": float(np.mean(ca - pa))})
            rows.append(row)
    return pd.DataFrame(rows)


def amortisation(records: List[Dict[str, Any]]) -> Dict[str, float]:
    """Pre-training image-passes a set of records actually needed vs the naive protocol.

    Executed: every distinct encoder (by cache key) the records used, counted once. Naive: one
    fresh clean and one fresh defended pre-training per ASR trial (target) and per defense — what
    a protocol without shared runs and a shared cache would spend for the same trials.
    """
    executed: Dict[str, int] = {}
    naive = 0
    for r in records:
        encoders = r["cost"].get("encoders", [])
        for e in encoders:
            executed[e["key"]] = int(e["image_passes"])
        per_trial = r["cost"].get("clean_pretrain_image_passes", 0) + r["cost"]["pretrain_image_passes"]
        naive += max(1, len(r["targets"])) * per_trial
    done = sum(executed.values())
    return {"executed_image_passes": float(done), "naive_image_passes": float(naive),
            "saving": naive / done if done else float("nan"), "distinct_encoders": float(len(executed))}


def compute_hours(records: List[Dict[str, Any]], clock: str = "wall") -> Dict[str, float]:
    """Hours the records needed on ``clock`` ("wall" or "cpu": process CPU time, i.e. core-hours),
    each encoder counted once (by key) wherever it was trained: the training time of every distinct
    encoder, plus each record's own attack (crafting, brewing) and evaluation stages. Encoders whose
    records carry no such time (trained before it was kept) are estimated at the timed encoders'
    image-passes per second; nan when none is timed."""
    field = f"train_{clock}_seconds"
    trained: Dict[str, Dict[str, Any]] = {}
    for r in records:
        for e in r["cost"].get("encoders", []):
            if trained.get(e["key"], {}).get(field) is None:
                trained[e["key"]] = e
    timed = [e for e in trained.values() if e.get(field)]
    rate = (sum(e["image_passes"] for e in timed) / sum(e[field] for e in timed)) if timed else float("nan")
    untimed = [e for e in trained.values() if not e.get(field)]
    estimated = sum(e["image_passes"] / rate for e in untimed) if timed else float("nan") if untimed else 0.0
    measured = sum(e[field] for e in timed)
    other = sum(r["cost"].get("stages", {}).get(s, {}).get(f"{clock}_seconds", 0.0)
                for r in records for s in ("attack", "evaluate"))
    return {"hours": (measured + estimated + other) / 3600, "training_hours": (measured + estimated) / 3600,
            "estimated_training_hours": estimated / 3600, "other_hours": other / 3600,
            "encoders": float(len(trained)), "encoders_timed": float(len(timed))}


def early_stopping_table(records: List[Dict[str, Any]]) -> pd.DataFrame:
    """The curves early-stopping records carry (paper Fig. 10), pooled over seeds: one row per
    (attack, axis, x) with ASR hits/targets pooled and PA the mean over tasks and seeds; ``axis`` is
    ``pretrain_epochs`` (x = the checkpoint's epoch) or ``probe_epochs`` (x = downstream epochs)."""
    rows = []
    for r in records:
        for c in r.get("curves", []):
            axis = c["label"].get("axis")
            x = c["label"].get("pretrain_epoch") if axis == "pretrain_epochs" else c["probe_epochs"]
            pa = sum(c["poisoned_accuracy"].values()) / len(c["poisoned_accuracy"])
            rows.append({"attack": r["attack"], "axis": axis, "x": x, "hits": c["asr_hits"], "n": c["n_targets"], "pa": pa})
    if not rows:
        return pd.DataFrame(columns=["attack", "axis", "x", "hits", "n", "pa", "asr"])
    df = pd.DataFrame(rows).groupby(["attack", "axis", "x"], as_index=False).agg(
        hits=("hits", "sum"), n=("n", "sum"), pa=("pa", "mean"))
    df["asr"] = df["hits"] / df["n"]
    return df
