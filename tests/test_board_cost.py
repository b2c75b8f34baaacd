"""The board's cost columns and cost line: image-passes saved, compute hours, a defense's clean subset."""

import pytest

from board_records import record
from leaderboard.aggregate import amortisation, compute_hours
from leaderboard.build import grid_cost_line, render_markdown


def test_amortisation_by_hand():
    clean = {"key": "c", "image_passes": 100}
    recs = [{"targets": [1, 2, 3], "cost": {"clean_pretrain_image_passes": 100, "pretrain_image_passes": 110,
                                             "encoders": [clean, {"key": "p", "image_passes": 110}]}},
            {"targets": [1, 2, 3], "cost": {"clean_pretrain_image_passes": 100, "pretrain_image_passes": 55,
                                             "encoders": [clean, {"key": "p", "image_passes": 110}]}}]
    out = amortisation(recs)
    assert out["executed_image_passes"] == 210 and out["naive_image_passes"] == 3 * 210 + 3 * 155
    assert out["saving"] == pytest.approx((630 + 465) / 210)


def test_compute_hours_counts_each_encoder_once_and_estimates_untimed_ones():
    timed = {"key": "c", "image_passes": 3600, "train_wall_seconds": 3600.0}   # 1 image-pass/s
    untimed = {"key": "p", "image_passes": 7200, "train_wall_seconds": None}
    stages = {"attack": {"wall_seconds": 360.0}, "evaluate": {"wall_seconds": 360.0}, "defense": {"wall_seconds": 9e9}}
    recs = [{"cost": {"encoders": [timed, untimed], "stages": stages}}, {"cost": {"encoders": [timed], "stages": stages}}]
    h = compute_hours(recs)
    assert h["training_hours"] == pytest.approx(3.0) and h["estimated_training_hours"] == pytest.approx(2.0)
    assert h["other_hours"] == pytest.approx(0.4) and h["hours"] == pytest.approx(3.4)
    assert compute_hours([{"cost": {"encoders": [untimed]}}])["hours"] != compute_hours([{"cost": {"encoders": [untimed]}}])["hours"]


def test_cpu_hours_read_the_cpu_clock_and_the_cost_line_states_both():
    enc = {"key": "c", "image_passes": 3600, "train_wall_seconds": 3600.0, "train_cpu_seconds": 7200.0}
    old = {"key": "p", "image_passes": 3600, "train_wall_seconds": 1800.0, "train_cpu_seconds": None}
    stages = {"evaluate": {"wall_seconds": 360.0, "cpu_seconds": 720.0}}
    recs = [{"cost": {"encoders": [enc, old], "stages": stages}, "targets": [{}]}]
    h = compute_hours(recs, "cpu")
    assert h["training_hours"] == pytest.approx(4.0) and h["estimated_training_hours"] == pytest.approx(2.0)
    assert h["other_hours"] == pytest.approx(0.2) and compute_hours(recs, "wall")["hours"] == pytest.approx(1.6)
    for r in recs:
        r["cost"].update(pretrain_image_passes=3600, clean_pretrain_image_passes=3600)
    line = grid_cost_line(recs)
    assert "Compute: 4.2 CPU-hours (4.0 h pre-training, of which 2.0 h estimated" in line
    assert "; 1.6 job wall-clock hours (1.5 h pre-training; 0.1 h crafting and evaluation)" in line


def test_a_post_stage_defenses_clean_subset_is_shown_in_its_cost_and_a_backdoor_row_has_no_flips():
    finetuned = [dict(record(s, [False], 0.7, 0.7), defense="finetune",
                      defense_info={"clean_subset_size": 2500}) for s in (0, 1)]
    plain = [dict(record(s, [False], 0.7, 0.7), defense_info={"clean_subset_size": 0}) for s in (0, 1)]
    board = render_markdown(finetuned + plain)
    rows = {line.split("|")[2].strip(): line for line in board.splitlines()
            if line.startswith("| ") and line.split("|")[1].strip().isdigit()}   # the ranked table, not per task
    assert rows["finetune"].rstrip(" |").endswith("1.00× + 2,500 clean")
    assert rows["none"].rstrip(" |").endswith("1.00×") and "0/2" in rows["none"]
    backdoor = [dict(r, attack="corrupt_encoder", attack_kind="backdoor", targets=[],
                     backdoor={"a": {"asr": 0.5, "clean_asr": 0.1, "hits": 5, "clean_hits": 1, "n_inputs": 10}})
                for r in plain]
    row = next(line for line in render_markdown(backdoor).splitlines()
               if line.startswith("| ") and line.split("|")[1].strip().isdigit())
    assert row.split("|")[7].strip() == "–"
