"""Turn encoders into measured numbers and numbers into a record (RobustBench: results are data)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
from tqdm.auto import tqdm

from defenses.base import Operating
from .core import certification, metrics
from .downstream import FeatureMemo, TaskPredictions, module_of, predict_task
from .core.records import RECORD_SCHEMA, summarize_backdoor, summarize_indiscriminate, summarize_targets
from .core.settings import TierConfig
from .core.store import config_hash, machine_description, package_versions
from .core.threat import ThreatSpec, evaluation_mask


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
             progress: bool = False, curves: Sequence[Operating] = (), feature_store=None,
             stamp: Optional[Callable[[np.ndarray, int], np.ndarray]] = None) -> Dict[str, Any]:
    """Per task: CA (clean pipeline), PA (defended pipeline on the poisoned set), every target's
    outcome; then the same for each curve point (summarised). The clean pipeline is the paper's:
    the clean encoder with the tier's probe. With ``stamp`` (a backdoor attack's trigger), the
    outcome is the backdoor's instead: each task's triggered inputs (:func:`_backdoor_task`)."""
    if stamp is not None:
        return _evaluate_backdoor(clean, defended, tasks, threat, seed, FeatureMemo(device, feature_store), stamp)
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
        out["curves"].append({"label": point.label, "probe_epochs": point.probe.epochs,
                              "asr": m["asr"], "asr_hits": m["asr_hits"], "n_targets": m["n_targets"],
                              "outer_objective": m["outer_objective"],
                              "poisoned_accuracy": {k: v["poisoned_accuracy"] for k, v in tk.items()}})
    return out


def triggered_inputs(labels: np.ndarray, target_class: int, mask: np.ndarray) -> np.ndarray:
    """Indices of the test inputs a backdoor is measured on: counted for CA/PA, not of the target class."""
    return np.flatnonzero(mask & (labels != target_class))


def _evaluate_backdoor(clean: Operating, defended: Operating, tasks, threat: ThreatSpec, seed: int, memo, stamp):
    """CA/PA per task as for every attack, and the backdoor's per-task outcome: the share of
    triggered inputs (true class ≠ target class) the clean and the defended pipelines send to the
    target class (CorruptEncoder, Zhang et al. CVPR 2024, §5.1)."""
    out: Dict[str, Any] = {"tasks": {}, "targets": [], "curves": [], "backdoor": {}}
    for target_id, t in enumerate(threat.targets):
        splits = tasks[t.task]
        mask = evaluation_mask(len(splits["test"]), threat, t.task)
        idx = triggered_inputs(splits["test"].labels, t.target_class, mask)
        triggered = stamp(splits["test"].images[idx], target_id)
        ref = predict_task(clean.encoders, clean.probe, t.task, splits, seed, memo, triggered)
        got = predict_task(defended.encoders, defended.probe, t.task, splits, seed, memo, triggered)
        out["tasks"][t.task] = _task_summary(ref, got, splits, mask)
        out["backdoor"][t.task] = {"target_class": t.target_class, "n_inputs": int(len(idx)),
                                   "hits": int(np.sum(got.extra_prediction == t.target_class)),
                                   "clean_hits": int(np.sum(ref.extra_prediction == t.target_class))}
        b = out["backdoor"][t.task]
        b["asr"], b["clean_asr"] = b["hits"] / max(1, b["n_inputs"]), b["clean_hits"] / max(1, b["n_inputs"])
    return out


@dataclass
class CellResult:
    """Everything one computed cell knows; :func:`build_record` turns it into the record."""
    cfg: TierConfig                  # the tier, as run
    resolved: Dict[str, Any]         # tier + the entries' parameters + seed: what the record's hash covers
    grid_hash: str
    attack: Any                      # the attack object (its name, and :meth:`meta` of its poisons)
    defense: Any                     # the defense object
    origin: str                      # "built-in" or where the defense's plugin came from
    seed: int
    run: Any                         # benchmark.pipeline.CellRun
    trainer: Any                     # the trainer the defense used (its requests are the cell's cost)
    results: Dict[str, Any]          # :func:`evaluate`'s output
    timings: Dict[str, Dict[str, float]] = field(default_factory=dict)


def _threat(r: CellResult, n_clean: int) -> Dict[str, Any]:
    t = r.cfg.threat
    only = t.only_target
    n_poisons = len(r.run.poisons)
    return {"targets_per_task": t.targets_per_task, "n_references": t.n_references,
            "poison_rate_per_target": t.poison_rate,
            "poisons_per_target": r.run.threat.poisons_per_target(n_clean) if n_poisons else 0,
            "total_poisons": n_poisons,
            "shared_pretraining_run": only < 0,
            **({"released_images": len(r.run.train_set)} if r.run.released else {}),
            "note": _threat_note(r.run.released, only), "spec": r.run.threat.to_dict()}


def _threat_note(released: bool, only: int) -> str:
    if released:
        return "the attacker released the victim's whole set, every image perturbed; no target"
    if only < 0:
        return "all targets of all tasks share one poisoned pre-training run, each with its own poisons at the per-target rate"
    return f"one target per poisoned run: target {only} of the seed's draw"


def _cost(r: CellResult) -> Dict[str, Any]:
    clean, defended, trainer = r.run.clean, r.run.defended, r.trainer
    passes = trainer.image_passes if defended.operating.image_passes is None else defended.operating.image_passes
    undefended = clean.image_passes_for(len(r.run.train_set))
    if r.run.delivered is not None:  # model poisoning: the delivered encoder's pre-training, then the defense's
        passes += r.run.delivered.image_passes
    return {"pretrain_image_passes": passes, "clean_pretrain_image_passes": clean.image_passes,
            "undefended_pretrain_image_passes": undefended,
            "encoder_from_cache": all(getattr(e, "from_cache", True) for e in defended.operating.encoders),
            # Every encoder this cell used, by cache key: what the grid's amortisation is computed from.
            "encoders": [trainer.clean_request] + trainer.requests,
            "stages": r.timings, "cost_multiple": passes / max(undefended, 1)}


def _defense_info(r: CellResult) -> Dict[str, Any]:
    d = r.run.defended
    return {"version": r.defense.version, "authors": r.defense.authors, "origin": r.origin,
            "train_size": d.train_size, "sanitized_inputs": d.sanitized_inputs, "clean_subset_size": d.clean_subset_size,
            "encoders": len(d.operating.encoders), "encoders_requested": r.trainer.encoders_trained,
            "probe": d.operating.probe.to_dict()}


def _metrics(r: CellResult) -> Dict[str, Any]:
    """The record's headline outcome, by attack kind."""
    if "backdoor" in r.results:
        return summarize_backdoor(r.results["backdoor"])
    if r.attack.kind == "indiscriminate":
        return summarize_indiscriminate(r.results["tasks"])
    return summarize_targets(r.results["targets"])


def build_record(r: CellResult) -> Dict[str, Any]:
    cfg, p, run = r.cfg, r.cfg.pretrain, r.run
    n_clean = len(run.train_set) - len(run.poisons)
    tasks, targets = r.results["tasks"], r.results["targets"]
    info = _defense_info(r)
    record = {
        "schema": RECORD_SCHEMA,
        "tier": cfg.name, "grid_hash": r.grid_hash,
        "pretrain_set": cfg.pretrain_data.name, "n_clean_pretrain": n_clean,
        "encoder": f"{p.arch}-w{p.width}-b{''.join(map(str, p.blocks))}", "ssl": p.method,
        "attack": r.attack.name, "defense": r.defense.name, "seed": r.seed,
        "config": r.resolved, "config_hash": config_hash(r.resolved),
        "threat": _threat(r, n_clean),
        "attack_meta": r.attack.meta(run.poisons),
        "defense_info": info,
        "defense_meta": {k: str(info.get(k, "")) for k in ("version", "authors", "origin")},
        "tasks": tasks,
        "targets": targets,
        "metrics": _metrics(r),
        "mean_clean_accuracy": float(np.mean([t["clean_accuracy"] for t in tasks.values()])),
        "mean_poisoned_accuracy": float(np.mean([t["poisoned_accuracy"] for t in tasks.values()])),
        "cost": _cost(r),
        "versions": package_versions(), "machine": machine_description(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if "backdoor" in r.results:  # the field is absent for targeted attacks: their records are as before
        record["attack_kind"], record["backdoor"] = "backdoor", r.results["backdoor"]
    elif r.attack.kind == "indiscriminate":
        record["attack_kind"] = "indiscriminate"
    if r.attack.threat != "data":  # absent: data poisoning
        record["attack_threat"] = r.attack.threat
    # Poisons follow the clean set; a release perturbed every image, so every image is a poison.
    _add_detection(record, run.defended, 0 if run.released else n_clean)
    _add_certification(record, run, n_clean)
    if r.results.get("curves"):
        record["curves"] = r.results["curves"]
    return record


def _add_detection(record: Dict[str, Any], defended, n_clean: int) -> None:
    keep, detection = defended.keep, defended.detection
    if keep is not None:
        record["kept_pretrain_images"] = int(np.sum(keep))
        fpr, fnr = metrics.detection_rates(keep, np.arange(len(keep)) >= n_clean)  # poisons follow the clean set
        record["detection"] = dict(detection or {}, fpr=fpr, fnr=fnr, flagged=int(len(keep) - np.sum(keep)))
    elif detection:
        record["detection"] = dict(detection)


def _add_certification(record: Dict[str, Any], run, n_clean: int) -> None:
    certified = [t for t in record["targets"] if "certified_poisoning_size" in t]
    if not certified:
        return
    n_poisons = len(run.poisons)
    record["metrics"]["certified_fraction"] = metrics.certified_fraction(
        [t["certified_poisoning_size"] for t in certified],
        [t["poisoned_prediction"] == t["true_class"] for t in certified], max(n_poisons, 1))
    record["metrics"]["median_certified_poisoning_size"] = float(np.median([t["certified_poisoning_size"] for t in certified]))
    # What bagging would need: per target, the largest subsample size whose bound certifies this
    # run's poisons per target under the votes observed (0: no subsample size would).
    per_target = run.threat.poisons_per_target(n_clean) if n_poisons else 0
    for t in certified:
        t["subsample_size_to_certify"] = certification.subsample_size_to_certify(*t["vote_bounds"], n_clean + n_poisons,
                                                                                 per_target)
