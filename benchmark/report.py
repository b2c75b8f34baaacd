"""Turn encoders into measured numbers and numbers into a record (RobustBench: results are data)."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, Optional

import numpy as np
from tqdm.auto import tqdm

from . import metrics
from .evaluate import LinearProbe, ProbeConfig, extract_features
from .store import config_hash, machine_description, package_versions
from .threat import ThreatSpec, evaluation_mask

RECORD_SCHEMA = "cl-poisonbench/record/v1"


def _probe_task(encoder, splits, probe: ProbeConfig, seed: int, device: str):
    train, test = splits["train"], splits["test"]
    f_train = extract_features(encoder, train.images, device)
    f_test = extract_features(encoder, test.images, device)
    model = LinearProbe(probe, train.num_classes, seed, device).fit(f_train, train.labels)
    return model.predict(f_test), f_test


def evaluate_pair(clean_encoder, poisoned_encoder, tasks, threat: ThreatSpec, probe: ProbeConfig,
                  seed: int, device: str = "cpu", progress: bool = False) -> Dict[str, Any]:
    """Per task: CA (clean encoder), PA (poisoned/defended encoder), and every target's outcome."""
    out: Dict[str, Any] = {"tasks": {}, "targets": []}
    for name, splits in tqdm(tasks.items(), desc="downstream probes", disable=not progress, leave=False, unit="task"):
        test = splits["test"]
        clean_pred, clean_feat = _probe_task(clean_encoder, splits, probe, seed, device)
        if poisoned_encoder is clean_encoder:
            pois_pred, pois_feat = clean_pred, clean_feat
        else:
            pois_pred, pois_feat = _probe_task(poisoned_encoder, splits, probe, seed, device)
        mask = evaluation_mask(len(test), threat, name)
        ca = metrics.accuracy(clean_pred[mask], test.labels[mask])
        pa = metrics.accuracy(pois_pred[mask], test.labels[mask])
        out["tasks"][name] = {"clean_accuracy": ca, "poisoned_accuracy": pa,
                              "utility_loss": metrics.utility_loss(ca, pa),
                              "dropped_ratio": metrics.dropped_ratio(ca, pa),
                              "n_eval": int(mask.sum()), "n_train": len(splits["train"]),
                              "num_classes": splits["train"].num_classes}
        for t in threat.targets:
            if t.task != name:
                continue
            refs = list(t.reference_indices)
            out["targets"].append({
                "task": name, "index": t.index, "true_class": t.true_class, "target_class": t.target_class,
                "clean_prediction": int(clean_pred[t.index]), "poisoned_prediction": int(pois_pred[t.index]),
                "clean_cosine": metrics.mean_cosine_similarity(clean_feat[t.index], clean_feat[refs]),
                "poisoned_cosine": metrics.mean_cosine_similarity(pois_feat[t.index], pois_feat[refs]),
                "n_references": len(refs)})
    return out


def summarize_targets(targets) -> Dict[str, Any]:
    """ASR with its Wilson CI, the clean-encoder baseline on the same targets, flip rate, Eq. 3."""
    n = len(targets)
    hits = sum(t["poisoned_prediction"] == t["target_class"] for t in targets)
    base = sum(t["clean_prediction"] == t["target_class"] for t in targets)
    correct = [t for t in targets if t["clean_prediction"] == t["true_class"]]
    flips = sum(t["poisoned_prediction"] == t["target_class"] for t in correct)
    weights = [t["n_references"] for t in targets]
    def weighted(key):
        return float(np.average([t[key] for t in targets], weights=weights)) if n else float("nan")
    return {"n_targets": n, "asr_hits": int(hits), "asr": hits / n if n else float("nan"),
            "asr_ci95": list(metrics.wilson_interval(int(hits), n)),
            "clean_asr_hits": int(base), "clean_asr": base / n if n else float("nan"),
            "clean_asr_ci95": list(metrics.wilson_interval(int(base), n)),
            "clean_correct_targets": len(correct), "flips_among_clean_correct": int(flips),
            "flip_rate": flips / len(correct) if correct else float("nan"),
            "outer_objective": weighted("poisoned_cosine"), "clean_outer_objective": weighted("clean_cosine")}


def build_record(cfg, resolved, grid_hash: str, attack: str, defense: str, seed: int, threat: ThreatSpec,
                 poisons, n_clean: int, keep: Optional[np.ndarray], results, timings, cost) -> Dict[str, Any]:
    p = cfg["pretrain"]
    tasks = results["tasks"]
    record = {
        "schema": RECORD_SCHEMA,
        "tier": cfg["tier"]["name"], "grid_hash": grid_hash,
        "pretrain_set": cfg["data"]["pretrain"]["name"], "n_clean_pretrain": n_clean,
        "encoder": f"{p['arch']}-w{p['width']}-b{''.join(map(str, p['blocks']))}", "ssl": "simclr",
        "attack": attack, "defense": defense, "seed": seed,
        "config": resolved, "config_hash": config_hash(resolved),
        "threat": {
            "targets_per_task": cfg["threat"]["targets_per_task"], "n_references": cfg["threat"]["n_references"],
            "poison_rate_per_target": cfg["threat"]["poison_rate"],
            "poisons_per_target": threat.poisons_per_target(n_clean) if len(poisons) else 0,
            "total_poisons": len(poisons),
            "shared_pretraining_run": True,
            "note": "all targets of all tasks share one poisoned pre-training run, each with its own "
                    "poisons at the per-target rate",
            "spec": threat.to_dict()},
        "tasks": tasks,
        "targets": results["targets"],
        "metrics": summarize_targets(results["targets"]),
        "mean_clean_accuracy": float(np.mean([t["clean_accuracy"] for t in tasks.values()])),
        "mean_poisoned_accuracy": float(np.mean([t["poisoned_accuracy"] for t in tasks.values()])),
        "cost": dict(cost, stages=timings,
                     cost_multiple=cost["pretrain_image_passes"] / max(cost["undefended_pretrain_image_passes"], 1)),
        "versions": package_versions(), "machine": machine_description(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if keep is not None:
        record["kept_pretrain_images"] = int(np.sum(keep))
    return record
