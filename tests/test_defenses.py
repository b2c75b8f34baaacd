"""The five defenses of PoisonedEncoder §6: their math against hand-computed values, their hooks,
and each one end to end at the smoke tier (parametrized over the registry)."""

import dataclasses
import json

import numpy as np
import pytest

import defenses
from attacks.base import AttackTarget
from attacks.poisoned_encoder import PoisonedEncoder
from benchmark.core import metrics
from benchmark.core.errors import BenchmarkError
from benchmark.core.settings import AugmentConfig, PretrainConfig, ProbeConfig
from benchmark.data import load_split
from benchmark.defended import apply_sanitize, run_defense
from benchmark.downstream import majority_vote, vote_counts
from benchmark.run import main
from defenses.bagging import bootstrap_subsamples
from defenses.kmeans import duplicate_mask, mean_pairwise_distance, tightest_clusters


def test_duplicate_mask_keeps_first_copy():
    a, b = np.zeros((2, 2, 3), np.uint8), np.ones((2, 2, 3), np.uint8)
    keep = duplicate_mask(np.stack([a, b, a, a, b]))
    assert keep.tolist() == [True, True, False, False, False]


def test_mean_pairwise_distance_by_hand():
    # points 0, 3, 4 on a line... as 2-d vectors (0,0), (3,0), (0,4): distances 3, 4, 5 → mean 4
    x = np.array([[0, 0], [3, 0], [0, 4]], np.float32)
    assert mean_pairwise_distance(x) == pytest.approx(4.0)
    assert mean_pairwise_distance(x, chunk=1) == pytest.approx(4.0)
    assert mean_pairwise_distance(x[:1]) == float("inf")


def test_tightest_clusters_orders_by_spread():
    x = np.array([[0.0], [10.0], [0.0], [0.1], [5.0], [7.0]], np.float32)
    assign = np.array([0, 0, 1, 1, 2, 2])  # spreads 10, 0.1, 2
    assert tightest_clusters(x, assign, 2).tolist() == [1, 2]


def test_detection_rates_by_hand():
    keep = [True, False, True, True, False, True]
    poison = [False, False, False, True, True, True]
    fpr, fnr = metrics.detection_rates(keep, poison)
    assert fpr == pytest.approx(1 / 3) and fnr == pytest.approx(2 / 3)


def test_certified_fraction_by_hand():
    assert metrics.certified_fraction([5, 0, 9, -1], [True, True, False, True], 3) == pytest.approx(0.25)


def _poisoned_synthetic_set(crop_scale, n_refs, layouts=("target_top",)):
    pool = load_split("synthetic", "train", limit=700).images
    target = AttackTarget(pool[600], pool[601:601 + n_refs], 60)
    poisons = PoisonedEncoder(layouts=layouts, crop_scale=crop_scale).craft([target], np.random.default_rng(0)).images
    return np.concatenate([pool[:600], poisons]), 600


def test_kmeans_removes_repeated_uncropped_poisons():
    """crop_scale 1, one layout, 3 references: only 3 distinct poisons exist, so duplicate removal
    alone leaves at most 3 of the 60 (the paper's reason to dedupe first)."""
    images, n_clean = _poisoned_synthetic_set(1.0, 3)
    d = defenses.create_defense("kmeans", k=20)
    _, keep, _ = apply_sanitize(d, images, np.random.default_rng(1))
    fpr, fnr = metrics.detection_rates(keep, np.arange(len(images)) >= n_clean)
    assert d.detection_stats()["duplicates_removed"] >= 57 and fnr <= 3 / 60
    assert keep.sum() == len(images) - d.detection_stats()["duplicates_removed"] - sum(d.detection_stats()["flagged_cluster_sizes"])


def test_kmeans_cropped_poisons_are_not_duplicates():
    images, _ = _poisoned_synthetic_set(0.6, 3)
    d = defenses.create_defense("kmeans", k=20)
    apply_sanitize(d, images, np.random.default_rng(1))
    assert d.detection_stats()["duplicates_removed"] == 0


def test_sanitize_output_shape_is_checked():
    class Bad(defenses.Defense):
        name = "bad"
        stage = "pre"
        def sanitize(self, images, rng, trainer=None):
            return np.ones(3, bool)
    with pytest.raises(BenchmarkError, match="bool mask"):
        apply_sanitize(Bad(), np.zeros((5, 32, 32, 3), np.uint8), np.random.default_rng(0))


def test_no_crop_only_turns_cropping_off():
    cfg = PretrainConfig(epochs=3, augment=AugmentConfig(flip_p=0.25))
    out = defenses.create_defense("no_crop").adjust_pretrain(cfg)
    assert out == PretrainConfig(epochs=3, augment=AugmentConfig(flip_p=0.25, crop=False)) and cfg.augment.crop


def test_a_hook_returning_a_dict_instead_of_a_config_is_a_one_line_error():
    class DictHook(defenses.base.Defense):
        name, stage = "dict_hook", "in"
        def adjust_pretrain(self, pretrain):
            return dataclasses.asdict(pretrain)  # the pre-typed API: refused, not half-used
    with pytest.raises(BenchmarkError, match="adjust_pretrain must return a PretrainConfig.*got dict"):
        run_defense(DictHook(), np.zeros((4, 32, 32, 3), np.uint8), np.zeros((4, 32, 32, 3), np.uint8),
                    PretrainConfig(), ProbeConfig(), None, 0)


def test_bootstrap_subsamples_are_with_replacement_and_reproducible():
    a = bootstrap_subsamples(10, 50, 4, np.random.default_rng(3))
    assert a.shape == (4, 50) and a.min() >= 0 and a.max() < 10
    assert any(len(np.unique(r)) < 50 for r in a)  # 50 draws from 10: repeats are certain
    assert np.array_equal(a, bootstrap_subsamples(10, 50, 4, np.random.default_rng(3)))


def test_vote_counts_and_ties_go_to_smallest_label():
    preds = np.array([[0, 2, 1], [1, 2, 1], [1, 0, 0], [0, 0, 2]])  # 4 models × 3 inputs
    votes = vote_counts(preds, 3)
    assert votes.tolist() == [[2, 2, 0], [2, 0, 2], [1, 2, 1]]
    assert majority_vote(votes).tolist() == [0, 0, 1]


def test_early_stopping_rejects_an_epoch_without_checkpoint():
    class Fake:
        epoch_checkpoints = {5: None}
        class cfg:
            epochs = 20
        image_passes = 100
    d = defenses.create_defense("early_stopping", pretrain_epoch=7)
    with pytest.raises(BenchmarkError, match="no checkpoint at pre-training epoch 7"):
        d.operating([Fake()], {"epochs": 100}, 10)


@pytest.fixture(scope="module")
def defended_smoke(tmp_path_factory, smoke_cache):
    root = tmp_path_factory.mktemp("defended")
    return root, ["--results-dir", str(root / "results"), "--cache-dir", str(smoke_cache), "--no-progress",
                  "--no-leaderboard"]


@pytest.mark.parametrize("name", [d for d in defenses.list_defenses() if d != "none"])
def test_defense_runs_at_smoke_tier(defended_smoke, name):
    root, args = defended_smoke
    assert main(args + ["--defense", name]) == 0
    (path,) = (root / "results").rglob(f"poisoned_encoder/{name}/seed0.json")
    rec = json.loads(path.read_text())
    assert rec["defense"] == name and rec["config"]["defense"]["name"] == name
    assert 0 <= rec["metrics"]["asr"] <= 1 and rec["cost"]["cost_multiple"] > 0
    stage = defenses.create_defense(name).stage
    if stage == "pre" and not rec["defense_info"]["sanitized_inputs"]:  # a filter, not a sanitiser: detection rates
        assert 0 <= rec["detection"]["fpr"] <= 1 and 0 <= rec["detection"]["fnr"] <= 1
    if name == "bagging":
        assert rec["defense_info"]["encoders"] == 3
        assert all(sum(t["votes"]) == 3 and "certified_poisoning_size" in t for t in rec["targets"])
        assert all(t["subsample_size_to_certify"] >= 0 and len(t["vote_bounds"]) == 2 for t in rec["targets"])
        assert 0 <= rec["metrics"]["certified_fraction"] <= 1
    if name == "early_stopping":
        axes = {c["label"]["axis"] for c in rec["curves"]}
        assert axes == {"pretrain_epochs", "probe_epochs"}
        assert rec["cost"]["cost_multiple"] < 1  # stopped at epoch 1 of 2
    if name == "finetune":
        assert rec["defense_info"]["clean_subset_size"] > 0 and rec["cost"]["cost_multiple"] > 1
    if name == "matrix_completion":
        assert rec["defense_info"]["sanitized_inputs"] and "detection" not in rec
    if name == "localized_cropping":
        assert rec["config"]["defense"]["params"] == {"enlarge": 0.2}
