"""Named experiments: cell definitions, tier changes and the paper-vs-ours table."""

import json
from pathlib import Path

import pytest

import attacks
import benchmark.experiment as experiment
import defenses
from benchmark.core.config import load_tier, with_changes
from benchmark.core.errors import BenchmarkError
from benchmark.experiment import cell_options, cell_records, detection_trial, indiscriminate_metrics, main, render
from benchmark.named_experiments import EXPERIMENTS, LAYOUT_SETS
from benchmark.pipeline import changed_config, load_data
from benchmark.runner import Options, record_path, run_cell
from leaderboard.aggregate import target_shifts


def test_every_experiment_names_cells_with_registered_attacks():
    for exp in EXPERIMENTS.values():
        assert exp.cells and all(c.attack in attacks.list_attacks() for c in exp.cells)
        assert all(c.defense in defenses.list_defenses() for c in exp.cells)
        assert not exp.paired_with or exp.paired_with in {c.label for c in exp.cells}  # a typo would drop the column
    assert LAYOUT_SETS["1+2+3+4"] == ["target_top", "reference_top", "target_left", "reference_left"]


def test_cell_changes_follow_the_one_override_rule_without_touching_the_input():
    cfg = load_tier("smoke")
    out = changed_config(cfg, {"threat.n_references": 10, "attack.poisoned_encoder.crop_scale": 0.8})
    assert out.threat.n_references == 10 and out.entry_params("attack", "poisoned_encoder") == {"crop_scale": 0.8}
    assert cfg == load_tier("smoke")
    with pytest.raises(BenchmarkError, match="unknown key"):
        with_changes(cfg, {"threat.n_refs": 10})  # a typo in a tier section fails, as --set does
    with pytest.raises(BenchmarkError, match="no parameter crop_scal"):
        changed_config(cfg, {"attack.poisoned_encoder.crop_scal": 0.8})  # and in an entry's parameters


def test_render_puts_ours_next_to_the_paper():
    m = {"asr": 0.5, "asr_ci": (0.2, 0.8), "targets": 6, "clean_asr": 0.0, "clean_asr_ci": (0.0, 0.4),
         "outer": 0.7, "clean_outer": 0.6, "outer_shift": 0.1, "outer_shift_ci": (0.02, 0.18)}
    text = render("table1", "cpu", [(EXPERIMENTS["table1"].cells[0], dict(m, by_task={}))])
    assert ("| poisoned_encoder | 0.50 [0.20, 0.80] (6 targets); cos shift +0.100 [+0.020, +0.180] | 0.00 [0.00, 0.40] "
            "| – | 0.8 / 0.9 / 0.5 |") in text and "Student-t 95% CI" in text
    assert "| 0.700 (shift +0.100 [+0.020, +0.180]) | 0.600 | – |" in render("table2", "cpu", [(EXPERIMENTS["table2"].cells[3], m)])
    fig11 = render("fig11", "cpu", [(EXPERIMENTS["fig11"].cells[-1], dict(m, pa=0.41, ca=0.45))])
    assert "| clean fraction 1 | 0.50 [0.20, 0.80] (6 targets); cos 0.700 (clean 0.600); PA 0.410 (CA 0.450) |" in fig11


def test_paired_column_compares_cells_target_by_target():
    base = {"asr": 0.5, "asr_ci": (0.2, 0.8), "targets": 3, "clean_asr": 0.0, "clean_asr_ci": (0.0, 0.4),
            "outer": 0.7, "clean_outer": 0.6, "outer_shift": 0.1, "outer_shift_ci": (0.02, 0.18)}
    cells = {c.label: c for c in EXPERIMENTS["table4"].cells}
    ref = dict(base, shifts={(0, "a", 1): 0.5, (0, "a", 2): 0.6, (1, "a", 1): 0.7})
    # Differences 0.1, 0.2 on the two common targets (the third is not measured in this cell):
    # mean 0.15, sd 0.0707, t_{0.975,1} = 12.7062 → half-width 0.6353.
    single = dict(base, shifts={(0, "a", 1): 0.6, (0, "a", 2): 0.8, (2, "a", 9): 0.1})
    text = render("table4", "cpu", [(cells["1"], single), (cells["1+2+3+4"], ref)])
    assert "shift − 1+2+3+4's, same targets" in text and "shift − 1+2+3+4's: per target" in text
    assert "| 0.00 [0.00, 0.40] | +0.150 [-0.485, +0.785] | 0.4 |" in text
    assert "| 0.00 [0.00, 0.40] | – | 0.8 |" in text


def test_cells_with_their_own_clean_encoder_are_compared_by_shift_not_by_raw_cosine():
    # Table 6: two architectures, two feature spaces. The VGG target sits at 0.9 from its references
    # in its own clean space and 0.95 after poisoning; the ResNet target at 0.5 and 0.6. Raw cosines
    # differ by +0.35 whatever the poisons did; the pulls are +0.05 and +0.10.
    def record(clean, poisoned):
        return {"seed": 0, "targets": [{"task": "gtsrb", "index": 3, "clean_cosine": clean, "poisoned_cosine": poisoned}]}
    vgg, resnet = target_shifts([record(0.9, 0.95)]), target_shifts([record(0.5, 0.6)])
    assert vgg[0, "gtsrb", 3] - resnet[0, "gtsrb", 3] == pytest.approx(-0.05)


def test_table1_splits_every_cell_by_downstream_task():
    m = {"asr": 0.5, "asr_ci": (0.2, 0.8), "targets": 6, "clean_asr": 0.0, "clean_asr_ci": (0.0, 0.4),
         "outer": 0.7, "clean_outer": 0.6, "outer_shift": 0.1, "outer_shift_ci": (0.02, 0.18)}
    gtsrb = dict(m, asr=0.25, asr_ci=(0.05, 0.7), targets=4, outer_shift=-0.02, outer_shift_ci=(-0.05, 0.01))
    pe, icp = EXPERIMENTS["table1"].cells[:2]
    text = render("table1", "cpu", [(pe, dict(m, shifts={}, by_task={"gtsrb": gtsrb, "cifar10": m})),
                                    (icp, dict(m, shifts={}, by_task={"gtsrb": gtsrb}))])
    assert "| cell | cifar10 | gtsrb |" in text
    assert ("| poisoned_encoder | 0.50 [0.20, 0.80] (n=6); +0.100 [+0.020, +0.180] | "
            "0.25 [0.05, 0.70] (n=4); -0.020 [-0.050, +0.010] |") in text
    assert "| icp | – | 0.25 [0.05, 0.70] (n=4); -0.020 [-0.050, +0.010] |" in text  # no cifar10 targets: a dash


def test_unknown_experiment_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(["table99"])
    assert exc.value.code == 2


def test_detection_experiment_equals_the_full_kmeans_runs_detection(tmp_path):
    cell = EXPERIMENTS["fig9"].cells[0]
    cfg = changed_config(load_tier("smoke"), cell.changes)
    opts = Options(cache_dir=tmp_path / "cache", results_dir=tmp_path / "results", progress=False)
    data = load_data(cfg, opts)
    fpr, fnr = detection_trial(cfg, cell.attack, cell.defense, 0, data, opts)
    record = json.loads(run_cell(cfg, cell.attack, "kmeans", 0, opts, data=data, log=lambda *_: None).read_text())
    assert (fpr, fnr) == (record["detection"]["fpr"], record["detection"]["fnr"])
    text = render("fig9", "smoke", [(cell, {"fpr": [fpr, 0.0], "fnr": [fnr, 1.0]})])
    assert f"| {cell.label} | {(fpr + 0.0) / 2:.3f}" in text and "| FNR low: detected |" in text
    one_cell = EXPERIMENTS["fig9"].cells[3]  # the same crop scale, one target per run
    one = detection_trial(changed_config(load_tier("smoke"), one_cell.changes), cell.attack, cell.defense, 0, data, opts)
    assert all(0.0 <= r <= 1.0 for r in one)


def test_cell_records_defer_a_cell_another_process_holds(monkeypatch):
    cells = EXPERIMENTS["table4"].cells[:2]
    busy, calls = {(cells[0].label, 0)}, []

    def fake_run_cell(cfg, attack, defense, seed, options, data=None, log=print, wait=True):
        key = (cfg["label"], seed)
        calls.append((key, wait))
        if key in busy and not wait:
            busy.discard(key)
            return None  # another experiment process is computing it
        return Path(f"{cfg['label']}-{seed}.json")

    monkeypatch.setattr(experiment, "run_cell", fake_run_cell)
    paths = cell_records(cells, [{"label": c.label} for c in cells], [0, 1], options=None, data=None)
    assert [k for k, _ in calls[1:4]] == [("1", 1), ("2", 0), ("2", 1)] and calls[-1] == (("1", 0), True)
    assert paths == {(i, s): Path(f"{c.label}-{s}.json") for i, c in enumerate(cells) for s in (0, 1)}


def test_a_backdoor_experiment_quotes_asr_over_triggered_inputs_and_ba_per_task():
    out = {"asr": 0.9, "asr_ci": (0.8, 1.0), "targets": "300 triggered", "clean_asr": 0.05, "clean_asr_ci": (0.0, 0.1),
           "interval": "t over seeds"}
    m = dict(out, ca=0.6, pa=0.59, by_task={"a": out}, task_acc={"a": (0.6, 0.59)})
    text = render("badencoder", "cpu_continued", [(EXPERIMENTS["badencoder"].cells[0], m)])
    assert "| undefended | 0.90 [0.80, 1.00] (300 triggered) | 0.05 [0.00, 0.10] | 0.600 | 0.590 |" in text
    assert "| undefended | 0.90 [0.80, 1.00]; clean 0.050; 0.600 → 0.590 |" in text and "Interval: t over seeds" in text


def test_an_indiscriminate_experiment_reads_the_drop_over_seeds_from_the_records():
    def rec(ca, pa):
        return {"tasks": {"a": {"clean_accuracy": ca, "poisoned_accuracy": pa}}, "mean_clean_accuracy": ca,
                "mean_poisoned_accuracy": pa, "cost": {"stages": {"attack": {"cpu_seconds": 0.1, "wall_seconds": 0.1}}},
                "attack_meta": {"craft_seconds": 30.0, "from_cache": True}}
    # Read from the store, the cell spent ~0 s on the attack: the release's own crafting time is reported.
    m = indiscriminate_metrics([rec(0.6, 0.5), rec(0.6, 0.4), rec(0.6, 0.3)])   # drops 0.1, 0.2, 0.3
    assert m["accuracy_drop"] == pytest.approx(0.2) and m["pa"] == pytest.approx(0.4) and m["defense_seconds"] == 0
    text = render("cp", "cpu_continued", [(EXPERIMENTS["cp"].cells[1], m)])
    # t(2) = 4.303, sd 0.1: half-width 0.248
    assert "| CP class-wise | 0.600 | 0.400 | +0.200 [-0.048, +0.448] | +0.200 [-0.048, +0.448] | 30 | 0 |" in text
    assert "Interval: t over seeds" in text


def test_cells_that_differ_only_in_a_defense_parameter_get_distinct_record_paths(tmp_path):
    """The grid hash leaves defense parameters out, so without their own folders the fine-tuning
    fractions of one experiment would overwrite one record and every row would read the last one."""
    cfg, options = load_tier("smoke"), Options(results_dir=tmp_path)
    cells = EXPERIMENTS["badencoder"].cells
    paths = [record_path(cell_options(c, options), changed_config(cfg, c.changes), c.attack, c.defense, 0) for c in cells]
    assert len(set(paths)) == len(cells)
    assert paths[0] == record_path(options, cfg, "bad_encoder", "none", 0)   # no defense change: the grid's own path
