"""The board says when rows of one seed were measured against different copies of its clean encoder."""

import json

import pytest

from benchmark.report import RECORD_SCHEMA
from benchmark.run import main
from leaderboard.build import render_markdown
from leaderboard.clean_copies import clean_copies, copies_note


def _rec(seed, ca, kind="targeted", n_eval=100, digest=None, defense="none"):
    clean = {"role": "clean", "key": "k", "image_passes": 1, **({"weights_sha256": digest} if digest else {})}
    return {"seed": seed, "attack": "poisoned_encoder", "defense": defense, "attack_kind": kind,
            "tasks": {"a": {"clean_accuracy": ca, "poisoned_accuracy": ca, "n_eval": n_eval}},
            "cost": {"encoders": [clean]}}


def test_one_copy_per_seed_gives_no_note():
    recs = [_rec(0, 0.70), _rec(0, 0.70, defense="kmeans"), _rec(1, 0.72)]
    assert clean_copies(recs) == {0: {"copies": 1, "ca_spread": 0.0}, 1: {"copies": 1, "ca_spread": 0.0}}
    assert copies_note(recs) is None


def test_different_clean_accuracy_on_the_same_inputs_is_another_copy():
    recs = [_rec(0, 0.700), _rec(0, 0.712, defense="kmeans"), _rec(1, 0.72)]
    assert clean_copies(recs)[0] == {"copies": 2, "ca_spread": pytest.approx(0.012)}
    note = copies_note(recs)
    assert "seed 0: ≥ 2 copies, CA up to 1.2 points apart" in note and "seed 1" not in note


def test_different_inputs_differ_by_design_not_by_copy():
    # A backdoor holds out fewer drawn inputs than a targeted attack: its CA differs on one copy.
    recs = [_rec(0, 0.700), _rec(0, 0.705, kind="backdoor", n_eval=103)]
    assert clean_copies(recs)[0]["copies"] == 1 and copies_note(recs) is None


def test_weight_digests_tell_copies_apart_even_at_equal_accuracy():
    recs = [_rec(0, 0.70, digest="aa"), _rec(0, 0.70, digest="bb", defense="kmeans")]
    assert clean_copies(recs)[0]["copies"] == 2
    assert "Clean encoder copies" in copies_note(recs)


def _board_record(ca, defense):
    """A whole record, as the board reads one (no targets: an indiscriminate row)."""
    rec = _rec(0, ca, kind="indiscriminate", defense=defense)
    rec["cost"].update(cost_multiple=1.0, pretrain_image_passes=1)
    return {**rec, "schema": RECORD_SCHEMA, "tier": "t", "grid_hash": "g", "pretrain_set": "p", "encoder": "e",
            "attack": "contrastive_poisoning", "targets": [], "mean_clean_accuracy": ca, "mean_poisoned_accuracy": ca,
            "metrics": {"accuracy_drop": 0.0}, "versions": {"torch": "2.14.1"}, "machine": {"cpus": 2},
            "created": "2026-12-04T00:00:00+00:00"}


def test_the_board_prints_the_note_only_when_copies_differ():
    one, other = _board_record(0.70, "none"), _board_record(0.71, "kmeans")
    assert "Clean encoder copies" not in render_markdown([one])
    assert "Clean encoder copies" in render_markdown([one, other])


def test_a_record_carries_its_clean_encoders_weight_digest_and_threads(tmp_path, smoke_cache):
    assert main(["--results-dir", str(tmp_path), "--cache-dir", str(smoke_cache), "--no-progress",
                 "--attack", "none", "--defense", "none"]) == 0
    rec = json.loads(next(tmp_path.rglob("*.json")).read_text())
    clean = next(e for e in rec["cost"]["encoders"] if e["role"] == "clean")
    manifest = json.loads((smoke_cache / "encoders" / clean["key"] / "manifest.json").read_text())
    assert clean["weights_sha256"] == manifest["files"]["final.safetensors"]
    assert clean["train_threads"] == manifest["train_threads"] >= 1
