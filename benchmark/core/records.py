"""What a record is, torch-free: its schema name, the grid hash that groups records into one
board, and the per-target summary every table computes (RobustBench: results are data, and the
leaderboard reads them without importing the training code)."""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from . import metrics
from .store import config_hash

RECORD_SCHEMA = "cl-poisonbench/record/v1"


def grid_hash(cfg: Dict[str, Any]) -> str:
    """Identifies the fixed encoder grid: the tier minus its seed list, descriptions and defense
    parameters (those change a defense's row, recorded in its config hash, not the grid)."""
    core = {k: v for k, v in cfg.items() if k not in ("run", "tier", "defense")}
    return config_hash(core, 12)


def summarize_targets(targets) -> Dict[str, Any]:
    """ASR with its Wilson CI, the clean-encoder baseline on the same targets, flip rate, Eq. 3."""
    n = len(targets)
    hits = sum(t["poisoned_prediction"] == t["target_class"] for t in targets)
    base = sum(t["clean_prediction"] == t["target_class"] for t in targets)
    correct = [t for t in targets if t["clean_prediction"] == t["true_class"]]
    flips = sum(t["poisoned_prediction"] == t["target_class"] for t in correct)
    gained = sum(t["poisoned_prediction"] == t["target_class"] != t["clean_prediction"] for t in targets)
    lost = sum(t["clean_prediction"] == t["target_class"] != t["poisoned_prediction"] for t in targets)
    weights = [t["n_references"] for t in targets]
    def weighted(key):
        return float(np.average([t[key] for t in targets], weights=weights)) if n else float("nan")
    return {"n_targets": n, "asr_hits": int(hits), "asr": hits / n if n else float("nan"),
            "asr_ci95": list(metrics.wilson_interval(int(hits), n)),
            "clean_asr_hits": int(base), "clean_asr": base / n if n else float("nan"),
            "clean_asr_ci95": list(metrics.wilson_interval(int(base), n)),
            "clean_correct_targets": len(correct), "flips_among_clean_correct": int(flips),
            "flip_rate": flips / len(correct) if correct else float("nan"),
            "discordant": [int(gained), int(lost)], "mcnemar_p": metrics.mcnemar_exact_p(int(gained), int(lost)),
            "outer_objective": weighted("poisoned_cosine"), "clean_outer_objective": weighted("clean_cosine")}


def summarize_backdoor(per_task: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """A backdoor's ASR pooled over its tasks' triggered inputs (one seed), with the clean encoder's
    rate on the same inputs; the Wilson interval here is within this seed only — the board's
    interval is over seeds (:func:`backdoor_over_seeds`)."""
    n = sum(t["n_inputs"] for t in per_task.values())
    hits = sum(t["hits"] for t in per_task.values())
    base = sum(t["clean_hits"] for t in per_task.values())
    return {"n_targets": len(per_task), "n_inputs": n, "asr_hits": hits, "asr": hits / n if n else float("nan"),
            "asr_ci95": list(metrics.wilson_interval(hits, n)), "clean_asr_hits": base,
            "clean_asr": base / n if n else float("nan"), "clean_asr_ci95": list(metrics.wilson_interval(base, n))}


def summarize_indiscriminate(tasks: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """An indiscriminate attack's outcome in one seed (Contrastive Poisoning, He et al. ICLR 2023):
    no target, no ASR — the accuracy the defended pipeline loses against the clean encoder's, CA − PA,
    per task and its mean over tasks; the board's interval is over seeds (:func:`drop_over_seeds`)."""
    drops = {k: float(v["clean_accuracy"] - v["poisoned_accuracy"]) for k, v in sorted(tasks.items())}
    return {"n_tasks": len(drops), "accuracy_drop": float(np.mean(list(drops.values()))) if drops else float("nan"),
            "accuracy_drop_per_task": drops}


def drop_over_seeds(drops: List[float]) -> Dict[str, Any]:
    """Mean accuracy drop over seeds with a Student-t 95% interval over them (one seed: no interval,
    nan at both ends, said so by ``interval``)."""
    if len(drops) > 1:
        mean, ci = metrics.mean_t_interval(drops, -1.0, 1.0)
    else:
        mean, ci = float(drops[0]), (float("nan"), float("nan"))
    return {"seeds": len(drops), "accuracy_drop": mean, "accuracy_drop_ci": tuple(ci),
            "interval": "t over seeds" if len(drops) > 1 else "one seed, no interval"}


def backdoor_over_seeds(seed_metrics: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Mean per-seed ASR with a Student-t 95% interval over seeds (the variation between seeds, not
    the count of triggered inputs); one seed: its Wilson interval, said so by ``interval``."""
    out: Dict[str, Any] = {"seeds": len(seed_metrics)}
    for key in ("asr", "clean_asr"):
        values = [m[key] for m in seed_metrics]
        if len(values) > 1:
            out[key], out[f"{key}_ci"] = metrics.mean_t_interval(values)
        else:
            out[key], out[f"{key}_ci"] = values[0], tuple(seed_metrics[0][f"{key}_ci95"])
    out["interval"] = "t over seeds" if len(seed_metrics) > 1 else "Wilson, one seed"
    out["n_inputs"] = int(sum(m["n_inputs"] for m in seed_metrics))
    return out
