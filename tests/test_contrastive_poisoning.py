"""Contrastive Poisoning (He et al. ICLR 2023) and the release threat: the attacker's δ lowers the
contrastive loss within its L∞ budget, class-wise δ is shared by a class, the victim pre-trains on
the released copy, and the record and board report an accuracy drop instead of an ASR."""

import json

import numpy as np
import pytest
import torch

import attacks
from attacks.contrastive_poisoning import contrastive_loss, delta_step
from benchmark.core.records import drop_over_seeds, summarize_indiscriminate
from benchmark.core.settings import PretrainConfig
from benchmark.data import ImageDataset
from benchmark.pipeline import PlannedPoisons
from benchmark.run import main
from benchmark.ssl.simclr import SimCLRModel, build_encoder
from leaderboard.aggregate import outcome_of
from leaderboard.build import render_markdown, validate_record

CFG = PretrainConfig(width=4, blocks=[1, 1], batch_size=16)


def _model():
    torch.manual_seed(0)
    return SimCLRModel(build_encoder(CFG)).train()


def _images(n=16, seed=0):
    return np.random.default_rng(seed).integers(40, 216, (n, 32, 32, 3), dtype=np.uint8)


def test_signed_steps_lower_the_contrastive_loss_and_stay_in_the_ball():
    model, eps = _model(), 8 / 255
    x = torch.from_numpy(_images()).permute(0, 3, 1, 2).float() / 255
    deltas, rows = torch.zeros_like(x), torch.arange(len(x))
    for p in model.parameters():
        p.requires_grad_(False)

    def loss_at(d):  # the same augmentation draws for both evaluations
        with torch.no_grad():
            return float(contrastive_loss(model, (x + d).clamp(0, 1), CFG, torch.Generator().manual_seed(7)))
    before = loss_at(deltas)
    g = torch.Generator().manual_seed(1)
    for _ in range(10):
        delta_step(model, x, deltas, rows, CFG, g, 0.1 * eps, eps)
    assert loss_at(deltas) < before
    assert float(deltas.abs().max()) <= eps + 1e-7


def test_one_step_moves_every_touched_row_by_alpha_and_leaves_the_others():
    model = _model()
    x = torch.from_numpy(_images(8)).permute(0, 3, 1, 2).float() / 255
    deltas = torch.zeros(5, *x.shape[1:])
    rows = torch.tensor([0, 0, 1, 1, 3, 3, 3, 0])   # class-wise: rows 2 and 4 have no image in the batch
    delta_step(model, x, deltas, rows, CFG, torch.Generator().manual_seed(0), 0.01, 1.0)
    moved = deltas[[0, 1, 3]].abs()
    assert torch.all((moved == 0) | torch.isclose(moved, torch.tensor(0.01))) and float(moved.mean()) > 0.005
    assert torch.count_nonzero(deltas[[2, 4]]) == 0


def _context(cfg):
    return attacks.AttackContext(surrogate=lambda: _model(), surrogate_cfg=cfg)


@pytest.mark.parametrize("mode", ["sample", "class"])
def test_the_release_stays_within_its_budget_and_class_wise_delta_is_shared(mode):
    attack = attacks.create_attack("contrastive_poisoning", mode=mode, rounds=1, pgd_steps=3, step=0.5)
    images, labels = _images(32), np.arange(32) % 4
    out = attack.poison_release(images, labels, np.random.default_rng(0), _context(CFG))
    change = out.images.astype(np.int16) - images
    assert out.images.shape == images.shape and np.abs(change).max() <= attack.linf_budget == 8
    assert np.abs(change).max() >= 4 and out.meta["image_passes"] == 2 * 32 * (1 + 3)
    same_class = [np.array_equal(change[i], change[i + 4]) for i in range(28)]
    assert all(same_class) if mode == "class" else not any(same_class)


def test_the_random_control_moves_every_pixel_by_the_budget_without_optimising():
    attack = attacks.create_attack("contrastive_poisoning", mode="random")
    images = _images(32)   # values 40–215: no pixel is clamped at 0 or 255
    out = attack.poison_release(images, np.arange(32) % 4, np.random.default_rng(0), _context(CFG))
    change = out.images.astype(np.int16) - images
    assert set(np.unique(change)) == {-8, 8} and 0.45 < float((change > 0).mean()) < 0.55
    assert out.meta["image_passes"] == 0 and out.meta["rounds"] == []
    again = attack.poison_release(images, np.arange(32) % 4, np.random.default_rng(1), _context(CFG))
    assert not np.array_equal(again.images, out.images)


def test_the_planner_stands_in_a_set_of_the_right_shape_that_is_not_the_clean_one():
    images = _images(8)
    pretrain = ImageDataset("set", images, np.zeros(8, np.int64))
    out = PlannedPoisons(None).release(attacks.create_attack("contrastive_poisoning"), pretrain, 0, None)
    assert out.images.shape == images.shape and not np.array_equal(out.images, images)


def test_the_drop_is_ca_minus_pa_per_task_and_its_interval_is_over_seeds():
    tasks = {"a": {"clean_accuracy": 0.8, "poisoned_accuracy": 0.5}, "b": {"clean_accuracy": 0.6, "poisoned_accuracy": 0.6}}
    m = summarize_indiscriminate(tasks)
    assert m["accuracy_drop"] == pytest.approx(0.15) and m["accuracy_drop_per_task"] == pytest.approx({"a": 0.3, "b": 0.0})
    d = drop_over_seeds([0.1, 0.2, 0.3])   # mean 0.2, sd 0.1, t(2) = 4.303: half-width 0.2484
    assert d["accuracy_drop"] == pytest.approx(0.2)
    assert d["accuracy_drop_ci"] == pytest.approx((0.2 - 0.24841, 0.2 + 0.24841), abs=1e-4)
    one = drop_over_seeds([0.1])
    assert one["interval"].startswith("one seed") and one["accuracy_drop_ci"][0] != one["accuracy_drop_ci"][0]


@pytest.fixture(scope="module")
def cp_smoke(tmp_path_factory, smoke_cache):
    root = tmp_path_factory.mktemp("cp-smoke")
    args = ["--results-dir", str(root), "--cache-dir", str(smoke_cache), "--no-progress", "--no-leaderboard",
            "--attack", "contrastive_poisoning"]
    assert main(args + ["--defense", "none"]) == 0
    assert main(args + ["--defense", "kmeans"]) == 0
    return {p.parent.name: json.loads(p.read_text()) for p in root.rglob("seed0.json")}


def test_a_release_record_reports_the_drop_and_no_target(cp_smoke):
    rec, km = cp_smoke["none"], cp_smoke["kmeans"]
    validate_record(rec)
    assert rec["attack_kind"] == "indiscriminate" and rec["attack_threat"] == "release" and rec["targets"] == []
    drops = [t["clean_accuracy"] - t["poisoned_accuracy"] for t in rec["tasks"].values()]
    assert rec["metrics"]["accuracy_drop"] == pytest.approx(np.mean(drops)) and "asr" not in rec["metrics"]
    assert rec["threat"]["released_images"] == rec["n_clean_pretrain"] and rec["threat"]["total_poisons"] == 0
    assert rec["attack_meta"]["image_passes"] > 0 and rec["cost"]["stages"]["attack"]["wall_seconds"] > 0
    # the second defense of the seed reads the release back; every released image counts as a poison
    assert km["attack_meta"]["from_cache"] is True and km["detection"]["fpr"] != km["detection"]["fpr"]
    assert km["detection"]["fnr"] == pytest.approx(km["kept_pretrain_images"] / rec["n_clean_pretrain"])


def test_the_board_prints_no_asr_for_an_indiscriminate_row(cp_smoke):
    recs = list(cp_smoke.values())
    assert outcome_of(recs[:1])["asr"] != outcome_of(recs[:1])["asr"]
    md = render_markdown(recs, figures=False)
    section = md.split("### Attack `contrastive_poisoning`")[1].split("###")[0]
    row = next(line for line in section.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 "))
    assert "nan" not in section and row.split("|")[5].strip() == "–" and "CA − PA" in md
