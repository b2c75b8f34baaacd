"""The grid as a first-class object: dry-run plans, crash-safe resume (SIGKILL), two concurrent
runners, corrupted checkpoints, and the Ray executor."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import benchmark.executors as executors
from benchmark.core.config import load_tier
from benchmark.core.errors import BenchmarkError
from benchmark.core.settings import PretrainConfig
from benchmark.encoder_cache import MANIFEST, EncoderCache
from benchmark.executors import run_local
from benchmark.grid import format_plan, load_grid, plan
from benchmark.run import main
from benchmark.runner import Options, record_path, run_cell
from benchmark.ssl.methods import METHODS
from leaderboard.build import validate_record

ROOT = Path(__file__).resolve().parents[1]
# Only the clean encoder (attack none), 3 epochs: the smallest cell that pre-trains something.
SMALL = ["--attack", "none", "--set", "pretrain.epochs=3", "--set", "pretrain.checkpoint_epochs=[1,2,3]",
         "--no-progress", "--no-leaderboard", "--threads", "1"]
COMPARED = ("tasks", "targets", "metrics", "mean_clean_accuracy", "mean_poisoned_accuracy")


def _cmd(results, cache, *extra):
    return [sys.executable, "-m", "benchmark.run", "--results-dir", str(results), "--cache-dir", str(cache), *SMALL,
            *extra]


def _record(results):
    (path,) = Path(results).rglob("seed0.json")
    return json.loads(path.read_text())


def test_dry_run_plans_without_training(tmp_path, capsys):
    grid = load_grid("smoke")
    assert len(grid.jobs) == 4 and all(j.defense == "none" for j in grid.jobs if j.attack == "none")
    opts = Options(None, None, tmp_path / "cache", tmp_path / "results", "cpu", False)
    rows = plan(grid, opts)
    assert not any(r["record_cached"] for r in rows) and not any(e["cached"] for r in rows for e in r["encoders"])
    # The clean encoder is shared: only the first job pays for it.
    assert rows[0]["image_passes_to_spend"] > 0 and rows[1]["image_passes_to_spend"] < rows[1]["image_passes_needed"]
    assert "image-passes to spend" in format_plan(grid, rows)
    # Naive protocol by hand: per job, targets x (clean + defended pre-training).
    clean = rows[0]["encoders"][0]["image_passes"]
    n_targets = grid.tier.threat.targets_per_task * len(grid.tier.tasks)
    assert rows[0]["naive_image_passes"] == n_targets * 2 * clean  # no attack: the defended run is the clean one
    assert "x saved" in format_plan(grid, rows).splitlines()[-1]
    assert not (tmp_path / "cache" / "encoders").exists() or not list((tmp_path / "cache").rglob("*.safetensors"))
    assert main(["--grid", "smoke", "--dry-run", "--cache-dir", str(tmp_path / "c2"), "--results-dir",
                 str(tmp_path / "r2")]) == 0
    assert "4 jobs" in capsys.readouterr().out


@pytest.mark.parametrize("method", METHODS.names())
def test_killed_run_resumes_to_the_same_record(tmp_path, method):
    """A real SIGKILL mid-pre-training, for every method: its momentum networks and queue resume too."""
    method_set = ("--set", f"pretrain.method={method}")
    subprocess.run(_cmd(tmp_path / "a", tmp_path / "ca", *method_set), cwd=ROOT, check=True, capture_output=True)
    proc = subprocess.Popen(_cmd(tmp_path / "b", tmp_path / "cb", *method_set), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list((tmp_path / "cb").rglob("last.safetensors")):
        assert proc.poll() is None and time.time() < deadline, "run finished before it could be killed"
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not list((tmp_path / "b").rglob("*.json")), "a killed run left a record"
    subprocess.run(_cmd(tmp_path / "b", tmp_path / "cb", *method_set), cwd=ROOT, check=True, capture_output=True)
    a, b = _record(tmp_path / "a"), _record(tmp_path / "b")
    assert a["ssl"] == method
    assert {k: a[k] for k in COMPARED} == {k: b[k] for k in COMPARED}


def test_two_concurrent_runners_do_each_job_once(tmp_path):
    procs = [subprocess.Popen(_cmd(tmp_path / "r", tmp_path / "c"), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    text = "".join(o for o, _ in outs)
    assert text.count("wrote ") == 1 and text.count("skip") == 1
    rec = _record(tmp_path / "r")
    assert rec["cost"]["encoders"][0]["from_cache"] is False  # the writer trained it; the other only waited
    assert len(list((tmp_path / "c" / "encoders").glob("*/final.safetensors"))) == 1


def test_corrupted_checkpoint_is_detected_and_rebuilt(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (64, 32, 32, 3), dtype=np.uint8)
    cfg = PretrainConfig(width=4, blocks=(1, 1), epochs=1, batch_size=32)
    first = EncoderCache(tmp_path, progress=False).get(images, cfg, seed=0)
    final = first.final_path
    assert json.loads((final.parent / MANIFEST).read_text())["files"]["final.safetensors"]
    data = bytearray(final.read_bytes())
    data[-10] ^= 0xFF  # tamper with a weight
    final.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="corrupt or incomplete .*does not match its checksum"):
        again = EncoderCache(tmp_path, progress=False).get(images, cfg, seed=0)
    assert again.from_cache is False
    w1, w2 = first.encoder.state_dict(), again.encoder.state_dict()
    assert all(np.array_equal(w1[k].numpy(), w2[k].numpy()) for k in w1)  # rebuilt bit-identically
    assert EncoderCache(tmp_path, progress=False).get(images, cfg, seed=0).from_cache is True


def test_ray_executor_runs_a_grid(tmp_path):
    pytest.importorskip("ray")
    results = tmp_path / "results"
    grid = str(Path(__file__).parent / "grids" / "two_clean_encoders.toml")
    assert main(["--grid", grid, "--executor", "ray", "--ray-cpus", "2", "--results-dir", str(results),
                 "--cache-dir", str(tmp_path / "cache"), "--set", "pretrain.epochs=1", "--no-progress"]) == 0
    records = [json.loads(p.read_text()) for p in results.rglob("*.json")]
    assert sorted(r["seed"] for r in records) == [0, 1]
    for r in records:
        validate_record(r)


def _grid_file(tmp_path, order_line=""):
    path = tmp_path / "g.toml"
    path.write_text('[grid]\ntier = "smoke"\nattacks = ["none", "poisoned_encoder"]\n'
                    f'defenses = ["none", "kmeans"]\nseeds = [0, 1]\n{order_line}\n')
    return str(path)


def test_job_order_nests_as_declared_and_keeps_one_clean_row_per_seed(tmp_path):
    default = [(j.attack, j.defense, j.seed) for j in load_grid(_grid_file(tmp_path)).jobs]
    assert default == [("none", "none", 0), ("poisoned_encoder", "none", 0), ("poisoned_encoder", "kmeans", 0),
                       ("none", "none", 1), ("poisoned_encoder", "none", 1), ("poisoned_encoder", "kmeans", 1)]
    by_defense = load_grid(_grid_file(tmp_path, 'order = ["defense", "seed", "attack"]')).jobs
    assert [(j.attack, j.defense, j.seed) for j in by_defense] == [
        ("none", "none", 0), ("poisoned_encoder", "none", 0), ("none", "none", 1), ("poisoned_encoder", "none", 1),
        ("poisoned_encoder", "kmeans", 0), ("poisoned_encoder", "kmeans", 1)]
    assert sorted(default) == sorted((j.attack, j.defense, j.seed) for j in by_defense)


def test_bad_job_order_is_a_one_line_error(tmp_path):
    with pytest.raises(BenchmarkError, match="permutation"):
        load_grid(_grid_file(tmp_path, 'order = ["seed", "attack"]'))


def test_a_cell_locked_by_another_process_is_deferred_not_waited_for(tmp_path):
    cfg, opts = load_tier("smoke"), Options(None, None, tmp_path / "c", tmp_path / "r", "cpu", False)
    path = record_path(opts, cfg, "none", "none", 0)
    path.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time, filelock; l = filelock.FileLock(sys.argv[1]); "
                               "l.acquire(); print('held', flush=True); time.sleep(60)", str(path) + ".lock"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        logs = []
        assert run_cell(cfg, "none", "none", 0, opts, log=logs.append, wait=False) is None
        assert "busy" in logs[0] and not path.exists()
    finally:
        holder.kill()
        holder.wait()


def test_local_worker_takes_the_next_job_while_another_worker_holds_one(tmp_path, monkeypatch):
    grid = load_grid("smoke")
    busy_once, calls = {grid.jobs[0]}, []

    def fake_run_cell(tier, attack, defense, seed, options, data=None, log=print, wait=True):
        job = next(j for j in grid.jobs if (j.attack, j.defense, j.seed) == (attack, defense, seed))
        calls.append((job, wait))
        if job in busy_once and not wait:
            busy_once.discard(job)
            return None  # another worker is computing it
        return tmp_path / f"{attack}-{defense}-{seed}.json"

    monkeypatch.setattr(executors, "run_cell", fake_run_cell)
    monkeypatch.setattr(executors, "load_data", lambda *a: None)
    paths = run_local(grid, Options(), progress=False)
    # Every other job ran before the worker came back to wait for the busy one; no job ran twice.
    assert [c[0] for c in calls[1:-1]] == grid.jobs[1:] and calls[-1] == (grid.jobs[0], True)
    assert paths == [tmp_path / f"{j.attack}-{j.defense}-{j.seed}.json" for j in grid.jobs]
