"""Hand-made result records for the board's tests: the leaderboard is a pure function of records."""

from benchmark.core.records import summarize_backdoor
from benchmark.report import RECORD_SCHEMA


def target(task, hit, clean_hit, clean_correct):
    return {"task": task, "index": 0, "true_class": 0, "target_class": 1,
            "clean_prediction": 1 if clean_hit else (0 if clean_correct else 2),
            "poisoned_prediction": 1 if hit else 0, "clean_cosine": 0.2, "poisoned_cosine": 0.6,
            "n_references": 50}


def record(seed, hits, ca, pa):
    return {"schema": RECORD_SCHEMA, "tier": "t", "grid_hash": "g", "pretrain_set": "p", "encoder": "e",
            "attack": "poisoned_encoder", "defense": "none", "seed": seed,
            "targets": [target("a", h, False, True) for h in hits],
            "tasks": {"a": {"clean_accuracy": ca, "poisoned_accuracy": pa}},
            "mean_clean_accuracy": ca, "mean_poisoned_accuracy": pa,
            "cost": {"cost_multiple": 1.0, "pretrain_image_passes": 100},
            "versions": {"torch": "2.14.1", "cl-poisonbench": "0.1.0"}, "machine": {"processor": "x86_64", "cpus": 2},
            "created": f"2026-11-2{seed}T00:00:00+00:00"}


RECORDS = [record(0, [True, True, False], 0.70, 0.68), record(1, [True, False, False], 0.74, 0.74)]


def attack_row(attack, hits, n=10, defense="none"):
    r = record(0, [i < hits for i in range(n)], 0.7, 0.7)
    return dict(r, attack=attack, defense=defense, n_clean_pretrain=1000,
                config={"tier": {"pretrain": {"epochs": 20}}})


def backdoor_record(seed, hits, clean_hits, n=100):
    rec = dict(record(seed, [], 0.70, 0.69), attack="corrupt_encoder", attack_kind="backdoor")
    rec["backdoor"] = {"a": {"target_class": 1, "n_inputs": n, "hits": hits, "clean_hits": clean_hits,
                             "asr": hits / n, "clean_asr": clean_hits / n}}
    rec["metrics"] = summarize_backdoor(rec["backdoor"])
    return rec
