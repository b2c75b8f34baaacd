"""Aggregation, rendering and the build's refusals, checked on hand-made and committed records."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.core.records import grid_hash
from board_records import RECORDS, backdoor_record, record
from leaderboard.aggregate import pareto_front, pareto_ranks, summary_table, task_table
from leaderboard.build import load_records, main, render_markdown, select_grid, threat_model, write_figures
from leaderboard.plot import label_offsets

ROOT = Path(__file__).resolve().parents[1]


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
    root = ROOT / "leaderboard"
    loaded = load_records(root / "records")
    for board, grid in (("README.md", "cpu/5794453d7890"), ("cpu_continued.md", "cpu_continued/20985da90501"),
                        ("cpu_continued_moco.md", "cpu_continued/70f29710febf"),
                        ("cpu_continued_vgg11.md", "cpu_continued/3b913da9fea2")):
        assert (root / board).read_text() == render_markdown(select_grid(loaded, grid), stages_from=loaded)


def test_pareto_front_by_hand():
    pts = [(0.8, 0.00), (0.2, 0.05), (0.3, 0.10), (0.2, 0.02), (0.0, 0.30), (0.0, 0.30)]
    # (0.2, 0.05) is dominated by (0.2, 0.02); (0.3, 0.10) by (0.2, 0.02); equal points both stay
    assert pareto_front(pts) == [4, 5, 3, 0]


def test_pareto_ranks_by_hand():
    pts = [(0.8, 0.00), (0.2, 0.05), (0.3, 0.10), (0.2, 0.02), (0.5, 0.20)]
    # front: (0.8,0) and (0.2,0.02); then (0.2,0.05); then (0.3,0.10); then (0.5,0.20)
    assert pareto_ranks(pts) == [1, 2, 3, 1, 4]


def test_plot_labels_of_coinciding_points_are_stacked_apart():
    # x span 0.1: 0.016 → 0.023 is 7% of it (within 20%), same ASR → stacked; 0.06 is 44% away;
    # the last point shares the first's x but sits 0.5 higher in ASR.
    assert label_offsets([0.016, 0.023, 0.06, 0.016, 0.116], [0.0, 0.0, 0.0, 0.5, 0.3]) == \
        [(4, 4), (4, 14), (4, 4), (4, 4), (4, 4)]
    # Three points within both thresholds of each other: the third label goes two steps up.
    assert label_offsets([0.0, 0.01, 0.005, 1.0], [0.1, 0.12, 0.11, 0.0]) == [(4, 4), (4, 14), (4, 24), (4, 4)]


def test_detection_and_certification_columns(tmp_path):
    recs = [dict(record(0, [True], 0.7, 0.6), defense="kmeans", detection={"fpr": 0.1, "fnr": 0.25}),
            dict(record(0, [False], 0.7, 0.5), defense="bagging", metrics={"certified_fraction": 0.5})]
    text = render_markdown(recs)
    assert "0.100 / 0.25" in text and "| 0.50 " in text
    row = summary_table(recs).set_index("defense")
    assert row.loc["kmeans", "certified_fraction"] != row.loc["kmeans", "certified_fraction"]  # nan
    written = write_figures(recs, tmp_path)
    assert [p.name for p in written] == ["t-g-asr_vs_utility.png"] and written[0].stat().st_size > 1000


def _committed_records(tmp_path, n=2):
    src = sorted((ROOT / "leaderboard" / "records").rglob("*.json"))[:n]
    out = []
    for i, p in enumerate(src):
        dst = tmp_path / "results" / f"r{i}.json"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dst)
        out.append(dst)
    return out


def test_build_refuses_records_that_fail_the_schema(tmp_path, capsys):
    first, _ = _committed_records(tmp_path)
    rec = json.loads(first.read_text())
    rec["metrics"]["asr"] = 1.5
    first.write_text(json.dumps(rec))
    assert main(["--results-dir", str(tmp_path / "results"), "--output", str(tmp_path / "b.md")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fails the record schema at metrics/asr" in err
    assert not (tmp_path / "b.md").exists()


def test_build_refuses_mixed_grids_unless_one_is_chosen(tmp_path, capsys):
    first, second = _committed_records(tmp_path)
    rec = json.loads(second.read_text())
    rec["config"]["tier"]["pretrain"]["epochs"] += 1   # a genuinely different grid
    other = rec["grid_hash"] = grid_hash(rec["config"]["tier"])
    second.write_text(json.dumps(rec))
    args = ["--results-dir", str(tmp_path / "results"), "--output", str(tmp_path / "b.md")]
    assert main(args) == 2 and "records come from 2 grids" in capsys.readouterr().err
    assert main(args + ["--grid", other]) == 0
    assert f"grid `{other}`" in (tmp_path / "b.md").read_text()


def test_build_refuses_a_record_whose_grid_hash_does_not_match_its_config(tmp_path, capsys):
    first, _ = _committed_records(tmp_path)
    rec = json.loads(first.read_text())
    rec["config"]["tier"]["pretrain"]["epochs"] += 1   # the grid it claims is not the grid it ran
    first.write_text(json.dumps(rec))
    assert main(["--results-dir", str(tmp_path / "results"), "--output", str(tmp_path / "b.md")]) == 2
    assert "does not match the tier config" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["copy", "symlink"])
def test_build_refuses_a_record_counted_twice(tmp_path, capsys, how):
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
    root = ROOT
    code = ("import sys; from leaderboard.build import main; "
            f"assert main(['--results-dir', {str(root / 'leaderboard' / 'records')!r}, '--output', "
            f"{str(tmp_path / 'b.md')!r}, '--grid', 'cpu/5794453d7890']) == 0; "
            "bad = [m for m in sys.modules if m == 'torch' or m.split('.')[0] in ('attacks', 'defenses', 'submissions')"
            " or m.startswith('cl_poisonbench_submissions')]; print(bad); assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "b.md").read_bytes() == (root / "leaderboard" / "README.md").read_bytes()


def test_a_backdoor_rows_interval_is_over_seeds_not_over_triggered_inputs():
    recs = [backdoor_record(0, 30, 10), backdoor_record(1, 50, 10), backdoor_record(2, 40, 12)]
    row = summary_table(recs).iloc[0]
    # mean 0.40 of (0.3, 0.5, 0.4); t(0.975, 2) · 0.1 / √3 = 0.248 — far wider than a Wilson interval on 300 inputs
    assert row["asr"] == pytest.approx(0.40) and row["asr_ci"] == pytest.approx((0.152, 0.648), abs=1e-3)
    assert row["targets"] == "300 triggered" and row["flips"] is None
    md = render_markdown(recs)
    assert "0.40 [0.15, 0.65]" in md and "Backdoor attacks (CorruptEncoder, BadEncoder)" in md
    assert "Backdoor attacks" not in render_markdown(RECORDS)   # the legend only where a backdoor row is
    assert task_table(recs).iloc[0]["asr"] == pytest.approx(0.40)


def test_the_threat_model_line_follows_the_records():
    def rec(init=None, threat="data", attack="poisoned_encoder"):
        return {"attack": attack, "attack_threat": threat,
                "config": {"tier": {"pretrain": {"init": init}, "tier": {"description": "d"}}}}
    assert threat_model([rec()]).startswith("Threat model: the victim pre-trains from random weights")
    line = threat_model([rec("bb"), rec("bb", "model", "bad_encoder")])
    assert "continues pre-training from the public clean backbone `bb`" in line and " — d;" in line
    assert "model poisoning (bad_encoder)" in line and "model poisoning" not in threat_model([rec("bb")])
    # A grid that sets another method keeps its tier's description: the line names the grid's method.
    moco = dict(rec("bb"), ssl="moco_v2")
    moco["config"]["tier"]["tier"]["description"] = "continued SimCLR pre-training"
    assert " — continued MoCo v2 pre-training." in threat_model([moco])
