"""Aggregation checked on hand-made records: the leaderboard is a pure function of records."""

import pytest

from benchmark.report import RECORD_SCHEMA
from leaderboard.aggregate import summary_table, task_table
from leaderboard.build import render_markdown


def _target(task, hit, clean_hit, clean_correct):
    return {"task": task, "index": 0, "true_class": 0, "target_class": 1,
            "clean_prediction": 1 if clean_hit else (0 if clean_correct else 2),
            "poisoned_prediction": 1 if hit else 0, "clean_cosine": 0.2, "poisoned_cosine": 0.6,
            "n_references": 50}


def _record(seed, hits, ca, pa):
    return {"schema": RECORD_SCHEMA, "tier": "t", "grid_hash": "g", "pretrain_set": "p", "encoder": "e",
            "attack": "poisoned_encoder", "defense": "none", "seed": seed,
            "targets": [_target("a", h, False, True) for h in hits],
            "tasks": {"a": {"clean_accuracy": ca, "poisoned_accuracy": pa}},
            "mean_clean_accuracy": ca, "mean_poisoned_accuracy": pa,
            "cost": {"cost_multiple": 1.0, "pretrain_image_passes": 100},
            "versions": {"torch": "2.14.1", "cl-poisonbench": "0.1.0"}, "machine": {"processor": "x86_64", "cpus": 2},
            "created": f"2026-11-2{seed}T00:00:00+00:00"}


RECORDS = [_record(0, [True, True, False], 0.70, 0.68), _record(1, [True, False, False], 0.74, 0.74)]


def test_summary_pools_targets_over_seeds():
    row = summary_table(RECORDS).iloc[0]
    assert row["targets"] == 6 and row["seeds"] == 2
    assert row["asr"] == pytest.approx(3 / 6)
    assert row["asr_ci"] == pytest.approx((0.1876, 0.8124), abs=1e-4)   # Wilson 3/6
    assert row["clean_asr"] == 0 and row["flips"] == 3 and row["clean_correct"] == 6
    assert row["ca"] == pytest.approx(0.72) and row["pa"] == pytest.approx(0.71)
    assert row["utility_loss"] == pytest.approx(0.01)
    assert row["dropped_ratio"] == pytest.approx((0.02 / 0.70 + 0) / 2)


def test_task_table_and_markdown_are_deterministic():
    assert task_table(RECORDS).iloc[0]["asr"] == pytest.approx(0.5)
    assert render_markdown(RECORDS) == render_markdown(list(reversed(RECORDS)))
    assert "0.50 [0.19, 0.81]" in render_markdown(RECORDS)
    assert "2 records, 2026-11-20 to 2026-11-21; torch 2.14.1" in render_markdown(RECORDS)


def test_empty_results_render():
    assert "No result records" in render_markdown([])


def test_committed_leaderboard_is_rebuilt_byte_for_byte_from_committed_records():
    from pathlib import Path

    from leaderboard.build import load_records, select_grid

    root = Path(__file__).resolve().parents[1] / "leaderboard"
    loaded = load_records(root / "records")
    for board, grid in (("README.md", "cpu/5794453d7890"), ("cpu_continued.md", "cpu_continued/20985da90501")):
        assert (root / board).read_text() == render_markdown(select_grid(loaded, grid), stages_from=loaded)


def test_pareto_front_by_hand():
    from leaderboard.aggregate import pareto_front
    pts = [(0.8, 0.00), (0.2, 0.05), (0.3, 0.10), (0.2, 0.02), (0.0, 0.30), (0.0, 0.30)]
    # (0.2, 0.05) is dominated by (0.2, 0.02); (0.3, 0.10) by (0.2, 0.02); equal points both stay
    assert pareto_front(pts) == [4, 5, 3, 0]


def test_detection_and_certification_columns(tmp_path):
    recs = [dict(_record(0, [True], 0.7, 0.6), defense="kmeans", detection={"fpr": 0.1, "fnr": 0.25}),
            dict(_record(0, [False], 0.7, 0.5), defense="bagging", metrics={"certified_fraction": 0.5})]
    text = render_markdown(recs)
    assert "0.100 / 0.25" in text and "| 0.50 " in text
    row = summary_table(recs).set_index("defense")
    assert row.loc["kmeans", "certified_fraction"] != row.loc["kmeans", "certified_fraction"]  # nan
    from leaderboard.build import write_figures
    written = write_figures(recs, tmp_path)
    assert [p.name for p in written] == ["t-g-asr_vs_utility.png"] and written[0].stat().st_size > 1000


def _committed_records(tmp_path, n=2):
    import shutil
    from pathlib import Path
    src = sorted((Path(__file__).resolve().parents[1] / "leaderboard" / "records").rglob("*.json"))[:n]
    out = []
    for i, p in enumerate(src):
        dst = tmp_path / "results" / f"r{i}.json"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dst)
        out.append(dst)
    return out


def test_build_refuses_records_that_fail_the_schema(tmp_path, capsys):
    import json
    from leaderboard.build import main
    first, _ = _committed_records(tmp_path)
    rec = json.loads(first.read_text())
    rec["metrics"]["asr"] = 1.5
    first.write_text(json.dumps(rec))
    assert main(["--results-dir", str(tmp_path / "results"), "--output", str(tmp_path / "b.md")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fails the record schema at metrics/asr" in err
    assert not (tmp_path / "b.md").exists()


def test_build_refuses_mixed_grids_unless_one_is_chosen(tmp_path, capsys):
    import json
    from leaderboard.build import main
    first, second = _committed_records(tmp_path)
    from benchmark.core.records import grid_hash
    rec = json.loads(second.read_text())
    rec["config"]["tier"]["pretrain"]["epochs"] += 1   # a genuinely different grid
    other = rec["grid_hash"] = grid_hash(rec["config"]["tier"])
    second.write_text(json.dumps(rec))
    args = ["--results-dir", str(tmp_path / "results"), "--output", str(tmp_path / "b.md")]
    assert main(args) == 2 and "records come from 2 grids" in capsys.readouterr().err
    assert main(args + ["--grid", other]) == 0
    assert f"grid `{other}`" in (tmp_path / "b.md").read_text()


def test_amortisation_by_hand():
    from leaderboard.aggregate import amortisation
    clean = {"key": "c", "image_passes": 100}
    recs = [{"targets": [1, 2, 3], "cost": {"clean_pretrain_image_passes": 100, "pretrain_image_passes": 110,
                                             "encoders": [clean, {"key": "p", "image_passes": 110}]}},
            {"targets": [1, 2, 3], "cost": {"clean_pretrain_image_passes": 100, "pretrain_image_passes": 55,
                                             "encoders": [clean, {"key": "p", "image_passes": 110}]}}]
    out = amortisation(recs)
    assert out["executed_image_passes"] == 210 and out["naive_image_passes"] == 3 * 210 + 3 * 155
    assert out["saving"] == pytest.approx((630 + 465) / 210)


def test_pareto_ranks_by_hand():
    from leaderboard.aggregate import pareto_ranks
    pts = [(0.8, 0.00), (0.2, 0.05), (0.3, 0.10), (0.2, 0.02), (0.5, 0.20)]
    # front: (0.8,0) and (0.2,0.02); then (0.2,0.05); then (0.3,0.10); then (0.5,0.20)
    assert pareto_ranks(pts) == [1, 2, 3, 1, 4]


def test_build_refuses_a_record_whose_grid_hash_does_not_match_its_config(tmp_path, capsys):
    import json
    from leaderboard.build import main
    first, _ = _committed_records(tmp_path)
    rec = json.loads(first.read_text())
    rec["config"]["tier"]["pretrain"]["epochs"] += 1   # the grid it claims is not the grid it ran
    first.write_text(json.dumps(rec))
    assert main(["--results-dir", str(tmp_path / "results"), "--output", str(tmp_path / "b.md")]) == 2
    assert "does not match the tier config" in capsys.readouterr().err


def _attack_row(attack, hits, n=10, defense="none"):
    r = _record(0, [i < hits for i in range(n)], 0.7, 0.7)
    return dict(r, attack=attack, defense=defense, n_clean_pretrain=1000,
                config={"tier": {"pretrain": {"epochs": 20}}})


def test_paper_comparison_reads_the_attack_ordering_off_the_intervals():
    from leaderboard.paper_comparison import attack_sentence
    strong = [_attack_row("poisoned_encoder", 30, 30), _attack_row("icp", 0, 30), _attack_row("witches_brew", 0, 30)]
    assert "lies above both baselines', as in the paper" in attack_sentence(summary_table(strong))
    tied = [_attack_row("poisoned_encoder", 3), _attack_row("icp", 2), _attack_row("witches_brew", 0)]
    text = attack_sentence(summary_table(tied))
    assert "does **not** lie above ICP and Witches' Brew's" in text and "paper 0.8 / 0.9 / 0.5, ours 0.30" in text
    assert "cannot be read" in attack_sentence(summary_table(tied[:2]))
    board = render_markdown(tied)
    assert "### How this compares with the paper" in board and "1,000 p images for 20 epochs, 10 targets" in board


def test_compute_hours_counts_each_encoder_once_and_estimates_untimed_ones():
    from leaderboard.aggregate import compute_hours
    timed = {"key": "c", "image_passes": 3600, "train_wall_seconds": 3600.0}   # 1 image-pass/s
    untimed = {"key": "p", "image_passes": 7200, "train_wall_seconds": None}
    stages = {"attack": {"wall_seconds": 360.0}, "evaluate": {"wall_seconds": 360.0}, "defense": {"wall_seconds": 9e9}}
    recs = [{"cost": {"encoders": [timed, untimed], "stages": stages}}, {"cost": {"encoders": [timed], "stages": stages}}]
    h = compute_hours(recs)
    assert h["training_hours"] == pytest.approx(3.0) and h["estimated_training_hours"] == pytest.approx(2.0)
    assert h["other_hours"] == pytest.approx(0.4) and h["hours"] == pytest.approx(3.4)
    assert compute_hours([{"cost": {"encoders": [untimed]}}])["hours"] != compute_hours([{"cost": {"encoders": [untimed]}}])["hours"]


def test_cpu_hours_read_the_cpu_clock_and_the_cost_line_states_both():
    from leaderboard.aggregate import compute_hours
    from leaderboard.build import grid_cost_line
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


def test_coverage_counts_declared_seeds_with_records():
    from benchmark.grid import Job
    from leaderboard.coverage import coverage, pending_note

    jobs = [Job("none", "none", s) for s in (0, 1)] + [Job("poisoned_encoder", d, s) for d in ("none", "kmeans") for s in (0, 1)]
    cov = coverage(RECORDS + [dict(RECORDS[0], attack="icp")], jobs)   # the icp record is outside the grid
    assert cov == {("none", "none"): (0, 2), ("poisoned_encoder", "kmeans"): (0, 2), ("poisoned_encoder", "none"): (2, 2)}
    assert pending_note("g", cov).startswith("Grid `g` declares 6 jobs; 2 have records and 4 are still to run.")
    assert pending_note("g", {("a", "d"): (3, 3)}) is None


def test_board_lists_every_declared_cell_and_marks_the_missing_ones_pending(monkeypatch):
    from types import SimpleNamespace

    from benchmark.grid import Job
    from leaderboard import build

    grid = SimpleNamespace(name="g", jobs=[Job("poisoned_encoder", d, s) for d in ("none", "bagging") for s in (0, 1, 2)]
                           + [Job("icp", "none", 0)])
    monkeypatch.setattr(build, "declared_grid", lambda tier, grid_hash: grid)
    text = build.render_markdown(RECORDS)
    assert "### Attack `icp`" in text                                     # an attack with no record still gets its table
    assert "| ·      | bagging   | 0/3     | ·         | pending " in text
    assert "| none      | 2/3     | 6 " in text                           # 2 of the grid's 3 seeds measured
    assert "declares 7 jobs; 2 have records and 5 are still to run" in text
    assert "pending" not in build.render_markdown(RECORDS).split("Grid `g`")[0].split("### Attack `poisoned_encoder`")[0] \
        .split("### Attack `icp`")[0]                                     # nothing pending before the first table


def test_early_stopping_curves_are_pooled_over_seeds_and_quoted():
    from leaderboard.aggregate import early_stopping_table
    from leaderboard.paper_comparison import curve_sentence

    def curve(axis, x, hits, pa):
        label = {"axis": axis, "pretrain_epoch": x} if axis == "pretrain_epochs" else {"axis": axis, "probe_epochs": x}
        return {"label": label, "probe_epochs": x if axis == "probe_epochs" else 100, "asr": hits / 3, "asr_hits": hits,
                "n_targets": 3, "outer_objective": 0.5, "poisoned_accuracy": {"a": pa, "b": pa + 0.2}}

    recs = [dict(_record(s, [True, False, False], 0.7, 0.7), defense="early_stopping",
                 curves=[curve("pretrain_epochs", 5, h5, 0.4), curve("pretrain_epochs", 10, 2, 0.6), curve("probe_epochs", 20, 1, 0.5)])
            for s, h5 in ((0, 0), (1, 1))]
    df = early_stopping_table(recs)
    row = df[(df.axis == "pretrain_epochs") & (df.x == 5)].iloc[0]
    assert (row.hits, row.n) == (1, 6) and row.asr == pytest.approx(1 / 6) and row.pa == pytest.approx(0.5)
    assert curve_sentence(recs) == (" Curves (6 targets per point): pre-training epochs 5/10: ASR 0.17/0.67, "
                                    "PA 0.500/0.700; downstream epochs 20: ASR 0.33, PA 0.600.")
    assert curve_sentence(RECORDS) == ""


def test_pooled_targets_pairs_each_targets_cosine_with_the_clean_encoders():
    from leaderboard.aggregate import pooled_targets
    t = dict(clean_prediction=0, poisoned_prediction=1, target_class=1, true_class=0, n_references=50, task="a")
    m = pooled_targets([dict(t, clean_cosine=c, poisoned_cosine=c + d) for c, d in ((0.1, 0.01), (0.9, 0.03))])
    # Shifts 0.01 and 0.03: mean 0.02, sd 0.01414, t_{0.975,1} = 12.7062 → half-width 0.12706.
    assert m["outer_shift"] == pytest.approx(0.02) and m["outer_shift_ci"][1] == pytest.approx(0.02 + 0.12706, abs=1e-4)
    assert m["outer"] == pytest.approx(0.52) and m["clean_outer"] == pytest.approx(0.5)
    assert pooled_targets([])["outer_shift"] != pooled_targets([])["outer_shift"]  # nan


def test_cosine_sentence_pairs_the_attacks_on_the_targets_they_share():
    from leaderboard.paper_comparison import cosine_sentence

    def rec(attack, seed, cosines):
        r = dict(_attack_row(attack, 0, n=len(cosines)), seed=seed)
        r["targets"] = [dict(t, index=i, poisoned_cosine=c) for i, (t, c) in enumerate(zip(r["targets"], cosines))]
        return r
    pe, icp = rec("poisoned_encoder", 0, [0.5, 0.6, 0.7]), rec("icp", 0, [0.4, 0.5, 0.6])
    # WB differences −0.1, +0.1, −0.1: mean −0.0333, se 0.0667, t_{0.975,2} = 4.3027 → ±0.2868 (+0.2535 rounds up).
    wb = rec("witches_brew", 0, [0.6, 0.5, 0.8])
    text = cosine_sentence([pe, icp, wb])
    assert "ICP's by +0.100 [+0.100, +0.100] (above; 3 targets)" in text
    assert "Witches' Brew's by -0.033 [-0.320, +0.254] (not separable from; 3 targets)" in text
    # Another seed's targets are other targets: nothing to pair.
    assert cosine_sentence([pe, rec("icp", 1, [0.1, 0.1, 0.1])]) == ""


def test_plot_labels_of_coinciding_points_are_stacked_apart():
    from leaderboard.plot import label_offsets
    # x span 0.1: 0.016 → 0.023 is 7% of it (within 20%), same ASR → stacked; 0.06 is 44% away;
    # the last point shares the first's x but sits 0.5 higher in ASR.
    assert label_offsets([0.016, 0.023, 0.06, 0.016, 0.116], [0.0, 0.0, 0.0, 0.5, 0.3]) == \
        [(4, 4), (4, 14), (4, 4), (4, 4), (4, 4)]
    # Three points within both thresholds of each other: the third label goes two steps up.
    assert label_offsets([0.0, 0.01, 0.005, 1.0], [0.1, 0.12, 0.11, 0.0]) == [(4, 4), (4, 14), (4, 24), (4, 4)]


def test_bagging_sentence_states_the_ensemble_and_the_votes_a_certificate_needs():
    from leaderboard.paper_comparison import bagging_sentence
    rec = dict(_record(0, [False], 0.7, 0.6), defense="bagging", n_clean_pretrain=5000,
               config={"defense": {"params": {"n_models": 10, "subsample_size": 500, "alpha": 0.001}}})
    rec["targets"] = [dict(rec["targets"][0], task="two", votes=[6, 4]), dict(rec["targets"][0], task="ten", votes=[1] * 10)]
    # log2(2 / 0.001) = 10.97 -> 11 votes; log2(10 / 0.001) = 13.29 -> 14 votes.
    assert bagging_sentence([rec], 0.0) == (" Here 10 base encoders on 500 of 5,000 inputs each, certified fraction "
                                            "0.00: a certificate (Clopper–Pearson, alpha 0.001) needs at least this "
                                            "many unanimous votes — ten (10 classes) 14, two (2 classes) 11.")
    assert bagging_sentence(RECORDS, 0.0) == ""


def test_certified_sizes_are_stated_over_the_targets_the_vote_gets_right():
    from leaderboard.paper_comparison import certified_sizes_sentence
    rec = dict(_record(0, [False] * 4, 0.7, 0.6), defense="bagging", threat={"poisons_per_target": 50})
    # (certified size, subsample size that would certify 50, voted right?): the wrong vote is left out
    for t, (size, k, right) in zip(rec["targets"], [(3, 35, True), (6, 60, True), (0, 0, True), (-1, 0, False)]):
        t.update(certified_poisoning_size=size, subsample_size_to_certify=k, true_class=0 if right else 1)
    assert certified_sizes_sentence([rec]) == (
        " Certified poisoning size of the 3 targets the vote gets right: median 3 (range 0–6; non-zero for 2) against "
        "the run's 50 poisons per target; by the same bound, base encoders on at most 35–60 inputs would certify "
        "that many for 2 of them.")
    assert certified_sizes_sentence(RECORDS) == ""


@pytest.mark.parametrize("how", ["copy", "symlink"])
def test_build_refuses_a_record_counted_twice(tmp_path, capsys, how):
    from leaderboard.build import main
    first, _ = _committed_records(tmp_path)
    twin = first.parent / "extra" / first.name
    twin.parent.mkdir()
    if how == "copy":
        twin.write_bytes(first.read_bytes())
    else:
        twin.symlink_to(first)
    assert main(["--results-dir", str(tmp_path / "results"), "--output", str(tmp_path / "b.md")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("same cell" in err if how == "copy" else "symlinked record" in err)
    assert not (tmp_path / "b.md").exists()


def test_building_the_board_imports_neither_torch_nor_any_attack_defense_or_plugin(tmp_path):
    """RobustBench's rule: the board is a pure function of records and committed files."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    code = ("import sys; from leaderboard.build import main; "
            f"assert main(['--results-dir', {str(root / 'leaderboard' / 'records')!r}, '--output', "
            f"{str(tmp_path / 'b.md')!r}, '--grid', 'cpu/5794453d7890']) == 0; "
            "bad = [m for m in sys.modules if m == 'torch' or m.split('.')[0] in ('attacks', 'defenses', 'submissions')"
            " or m.startswith('cl_poisonbench_submissions')]; print(bad); assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "b.md").read_bytes() == (root / "leaderboard" / "README.md").read_bytes()


def _backdoor_record(seed, hits, clean_hits, n=100):
    from benchmark.core.records import summarize_backdoor
    rec = dict(_record(seed, [], 0.70, 0.69), attack="corrupt_encoder", attack_kind="backdoor")
    rec["backdoor"] = {"a": {"target_class": 1, "n_inputs": n, "hits": hits, "clean_hits": clean_hits,
                             "asr": hits / n, "clean_asr": clean_hits / n}}
    rec["metrics"] = summarize_backdoor(rec["backdoor"])
    return rec


def test_a_backdoor_rows_interval_is_over_seeds_not_over_triggered_inputs():
    recs = [_backdoor_record(0, 30, 10), _backdoor_record(1, 50, 10), _backdoor_record(2, 40, 12)]
    row = summary_table(recs).iloc[0]
    # mean 0.40 of (0.3, 0.5, 0.4); t(0.975, 2) · 0.1 / √3 = 0.248 — far wider than a Wilson interval on 300 inputs
    assert row["asr"] == pytest.approx(0.40) and row["asr_ci"] == pytest.approx((0.152, 0.648), abs=1e-3)
    assert row["targets"] == "300 triggered" and row["flips"] is None
    md = render_markdown(recs)
    assert "0.40 [0.15, 0.65]" in md and "Backdoor attacks (CorruptEncoder, BadEncoder)" in md
    assert "Backdoor attacks" not in render_markdown(RECORDS)   # the legend only where a backdoor row is
    assert task_table(recs).iloc[0]["asr"] == pytest.approx(0.40)


def test_the_threat_model_line_follows_the_records():
    from leaderboard.build import threat_model

    def rec(init=None, threat="data", attack="poisoned_encoder"):
        return {"attack": attack, "attack_threat": threat,
                "config": {"tier": {"pretrain": {"init": init}, "tier": {"description": "d"}}}}
    assert threat_model([rec()]).startswith("Threat model: the victim pre-trains from random weights")
    line = threat_model([rec("bb"), rec("bb", "model", "bad_encoder")])
    assert "continues pre-training from the public clean backbone `bb`" in line and " — d;" in line
    assert "model poisoning (bad_encoder)" in line and "model poisoning" not in threat_model([rec("bb")])


def test_a_post_stage_defenses_clean_subset_is_shown_in_its_cost_and_a_backdoor_row_has_no_flips():
    finetuned = [dict(_record(s, [False], 0.7, 0.7), defense="finetune",
                      defense_info={"clean_subset_size": 2500}) for s in (0, 1)]
    plain = [dict(_record(s, [False], 0.7, 0.7), defense_info={"clean_subset_size": 0}) for s in (0, 1)]
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
