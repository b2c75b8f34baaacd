"""The README's main command at the smoke tier, its records, the leaderboard, and bad input."""

import json
import subprocess
import sys

import pytest

from benchmark.run import main
from leaderboard.build import main as build_main

REQUIRED = {"schema", "tier", "grid_hash", "pretrain_set", "encoder", "attack", "defense", "seed", "config",
            "config_hash", "threat", "tasks", "targets", "metrics", "cost", "versions", "created"}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, smoke_cache):
    root = tmp_path_factory.mktemp("smoke")
    args = ["--results-dir", str(root / "results"), "--cache-dir", str(smoke_cache), "--no-progress",
            "--attack", "poisoned_encoder", "none"]
    assert main(args) == 0
    return root, args


def _records(root):
    return sorted((root / "results").rglob("*.json"))


def test_smoke_run_writes_complete_records(smoke_run):
    root, _ = smoke_run
    paths = _records(root)
    assert len(paths) == 2
    rec = json.loads(next(p for p in paths if "poisoned_encoder" in str(p)).read_text())
    assert REQUIRED <= set(rec)
    assert rec["threat"]["total_poisons"] == rec["threat"]["poisons_per_target"] * len(rec["targets"]) > 0
    assert rec["metrics"]["n_targets"] == 4
    lo, hi = rec["metrics"]["asr_ci95"]
    assert 0 <= lo <= rec["metrics"]["asr"] <= hi <= 1
    for task, t in rec["tasks"].items():
        excluded = {i for x in rec["threat"]["spec"]["targets"] if x["task"] == task
                    for i in [x["index"], *x["reference_indices"]]}
        assert t["n_eval"] == 600 - len(excluded)          # targets and references left out of CA/PA
        assert 0 <= t["clean_accuracy"] <= 1 and 0 <= t["poisoned_accuracy"] <= 1
    assert rec["cost"]["pretrain_image_passes"] > 0
    clean = json.loads(next(p for p in paths if "/none/none/" in str(p)).read_text())
    assert clean["threat"]["total_poisons"] == 0
    # The clean encoder is shared: the no-attack record's PA is the attack record's CA.
    assert clean["mean_poisoned_accuracy"] == pytest.approx(rec["mean_clean_accuracy"])


def test_rerun_skips_existing_records(smoke_run, capsys):
    root, args = smoke_run
    before = {p: p.stat().st_mtime_ns for p in _records(root)}
    assert main(args) == 0
    assert {p: p.stat().st_mtime_ns for p in _records(root)} == before
    assert "skip" in capsys.readouterr().out


def test_leaderboard_build_is_a_pure_function_of_records(smoke_run, tmp_path):
    root, _ = smoke_run
    out1, out2 = tmp_path / "a.md", tmp_path / "b.md"
    assert build_main(["--results-dir", str(root / "results"), "--output", str(out1)]) == 0
    assert build_main(["--results-dir", str(root / "results"), "--output", str(out2)]) == 0
    text = out1.read_text()
    assert text == out2.read_text()
    assert "| poisoned_encoder | none" in text and "ASR [95% CI]" in text


def _bad_data_root(tmp_path):
    for name in ("cifar10", "gtsrb", "facemask"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for split in ("train", "test"):
            (tmp_path / "data" / name / f"{split}.tar").write_bytes(b"\x00garbage" * 64)
    return str(tmp_path / "data")


@pytest.mark.parametrize("extra,needs_bad_root", [
    (["--attack", "nope"], False),
    (["--defense", "nope"], False),
    (["--tier", "nope"], False),
    (["--tier", "cpu", "--data-root", "/nonexistent/dir"], False),
    (["--tier", "cpu"], False),                                  # real data needed, none given
    (["--tier", "cpu", "--data-root", "BAD"], True),              # malformed tars
    (["--set", "pretrain.epochs=0"], False),
    (["--set", "threat.poison_rate=2"], False),
    (["--set", "pretrain.nosuchkey=1"], False),
    (["--set", "pretrain.lr=Infinity"], False),                 # would train a NaN encoder
    (["--set", "pretrain.epochs=true"], False),                 # a bool is an int to Python
    (["--set", "pretrain.weight_decay=-1"], False),
    (["--set", "probe.lr=NaN"], False),
    (["--set", "pretrain=5"], False),
    (["--set", "threat.targets_per_task=100000000"], False),
    (["--set", "pretrain.width=100000"], False),
    (["--seeds", "-1"], False),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, extra, needs_bad_root):
    if needs_bad_root:
        extra = [_bad_data_root(tmp_path) if a == "BAD" else a for a in extra]
    code = main(extra + ["--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"),
                         "--no-progress", "--no-leaderboard"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))


def test_module_entry_points_have_help():
    for module in ("benchmark.run", "leaderboard.build"):
        out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=True)
        assert "--results-dir" in out.stdout
