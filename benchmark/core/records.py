"""What a record is, torch-free: its schema name, the grid hash that groups records into one
board, and the per-target summary every table computes (RobustBench: results are data, and the
leaderboard reads them without importing the training code)."""

from __future__ import annotations

from typing import Any, Dict

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
