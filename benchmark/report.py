"""Turn encoders into measured numbers and numbers into a record (RobustBench: results are data)."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from tqdm.auto import tqdm

from defenses.base import Operating
from . import certification, metrics
from .downstream import FeatureMemo, TaskPredictions, module_of, predict_task
from .records import RECORD_SCHEMA, summarize_targets
from .store import config_hash, machine_description, package_versions
from .threat import ThreatSpec, evaluation_mask


def _target_outcome(t, clean: TaskPredictions, defended: TaskPredictions, certify) -> Dict[str, Any]:
    refs = list(t.reference_indices)
    cos = [metrics.mean_cosine_similarity(f[t.index], f[refs]) for f in defended.test_features]
    out = {"task": t.task, "index": t.index, "true_class": t.true_class, "target_class": t.target_class,
           "clean_prediction": int(clean.prediction[t.index]), "poisoned_prediction": int(defended.prediction[t.index]),
           "clean_cosine": metrics.mean_cosine_similarity(clean.test_features[0][t.index], clean.test_features[0][refs]),
           "poisoned_cosine": float(np.mean(cos)), "n_references": len(refs)}
    if defended.votes is not None and certify is not None:
        votes = defended.votes[t.index]
        _, p_a, p_b = certification.clopper_pearson_bounds(votes, certify.get("alpha", 0.001))
        out["votes"] = votes.tolist()
        out["vote_bounds"] = [p_a, p_b]  # Clopper–Pearson p̲_A, p̄_B behind the certificate
        out["certified_poisoning_size"] = certification.certified_poisoning_size(p_a, p_b, certify["n"], certify["k"])
    return out


def _task_summary(clean: TaskPredictions, defended: TaskPredictions, splits, mask) -> Dict[str, Any]:
    labels = splits["test"].labels
    ca = metrics.accuracy(clean.prediction[mask], labels[mask])
    pa = metrics.accuracy(defended.prediction[mask], labels[mask])
    return {"clean_accuracy": ca, "poisoned_accuracy": pa, "utility_loss": metrics.utility_loss(ca, pa),
            "dropped_ratio": metrics.dropped_ratio(ca, pa), "n_eval": int(mask.sum()),
            "n_train": len(splits["train"]), "num_classes": splits["train"].num_classes}


def evaluate(clean: Operating, defended: Operating, tasks, threat: ThreatSpec, seed: int, device: str = "cpu",
             progress: bool = False, curves: Sequence[Operating] = (), feature_store=None) -> Dict[str, Any]:
    """Per task: CA (clean pipeline), PA (defended pipeline on the poisoned set), every target's
    outcome; then the same for each curve point (summarised). The clean pipeline is the paper's:
    the clean encoder with the tier's probe."""
    memo = FeatureMemo(device, feature_store)
    out: Dict[str, Any] = {"tasks": {}, "targets": [], "curves": []}
    curve_targets: List[List[Dict[str, Any]]] = [[] for _ in curves]
    curve_tasks: List[Dict[str, Any]] = [{} for _ in curves]
    for name, splits in tqdm(tasks.items(), desc="downstream probes", disable=not progress, leave=False, unit="task"):
        mask = evaluation_mask(len(splits["test"]), threat, name)
        ref = predict_task(clean.encoders, clean.probe, name, splits, seed, memo)
        same = list(map(module_of, defended.encoders)) == list(map(module_of, clean.encoders)) and defended.probe == clean.probe
        got = ref if same else predict_task(defended.encoders, defended.probe, name, splits, seed, memo)
        out["tasks"][name] = _task_summary(ref, got, splits, mask)
        mine = [t for t in threat.targets if t.task == name]
        out["targets"] += [_target_outcome(t, ref, got, defended.certify) for t in mine]
        for i, point in enumerate(curves):
            cp = predict_task(point.encoders, point.probe, name, splits, seed, memo)
            curve_tasks[i][name] = _task_summary(ref, cp, splits, mask)
            curve_targets[i] += [_target_outcome(t, ref, cp, None) for t in mine]
    for point, tk, tg in zip(curves, curve_tasks, curve_targets):
        m = summarize_targets(tg)
        out["curves"].append({"label": point.label, "probe_epochs": point.probe["epochs"],
                              "asr": m["asr"], "asr_hits": m["asr_hits"], "n_targets": m["n_targets"],
                              "outer_objective": m["outer_objective"],
                              "poisoned_accuracy": {k: v["poisoned_accuracy"] for k, v in tk.items()}})
    return out


def _attack_meta(poisons) -> Dict[str, Any]:
    """The attack's own bookkeeping, kept small: loss curves reduced to first and last value."""
    meta = dict(getattr(poisons, "meta", {}) or {})
    if "matching_loss" in meta:
        meta["matching_loss"] = [[h[0], h[-1]] for h in meta["matching_loss"] if h]
    return meta


def build_record(cfg, resolved, grid_hash: str, attack: str, defense: str, seed: int, threat: ThreatSpec,
                 poisons, n_clean: int, keep: Optional[np.ndarray], results, timings, cost,
                 defense_info: Optional[Dict[str, Any]] = None, detection: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    p = cfg["pretrain"]
    tasks = results["tasks"]
    shared = cfg["threat"].get("only_target", -1) < 0
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
            "shared_pretraining_run": shared,
            "note": ("all targets of all tasks share one poisoned pre-training run, each with its own "
                     "poisons at the per-target rate") if shared else
                    f"one target per poisoned run: target {cfg['threat']['only_target']} of the seed's draw",
            "spec": threat.to_dict()},
        "attack_meta": _attack_meta(poisons),
        "defense_info": defense_info or {},
        "defense_meta": {k: str((defense_info or {}).get(k, "")) for k in ("version", "authors", "origin")},
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
        fpr, fnr = metrics.detection_rates(keep, np.arange(len(keep)) >= n_clean)  # poisons follow the clean set
        record["detection"] = dict(detection or {}, fpr=fpr, fnr=fnr, flagged=int(len(keep) - np.sum(keep)))
    elif detection:
        record["detection"] = dict(detection)
    certified = [t for t in results["targets"] if "certified_poisoning_size" in t]
    if certified:
        record["metrics"]["certified_fraction"] = metrics.certified_fraction(
            [t["certified_poisoning_size"] for t in certified],
            [t["poisoned_prediction"] == t["true_class"] for t in certified], max(len(poisons), 1))
        record["metrics"]["median_certified_poisoning_size"] = float(np.median([t["certified_poisoning_size"] for t in certified]))
        # What bagging would need: per target, the largest subsample size whose bound certifies this
        # run's poisons per target under the votes observed (0: no subsample size would).
        per_target = threat.poisons_per_target(n_clean) if len(poisons) else 0
        for t in certified:
            t["subsample_size_to_certify"] = certification.subsample_size_to_certify(*t["vote_bounds"], n_clean + len(poisons),
                                                                                     per_target)
    if results.get("curves"):
        record["curves"] = results["curves"]
    return record
