"""Fault injection: hostile or broken inputs and files give one-line errors (or a warning and a
recovery), never a traceback, a silent partial result or a record from a diverged encoder."""

import io
import json
import tarfile
import time
import warnings

import numpy as np
import pytest
from PIL import Image

import benchmark.ssl.simclr as simclr
import defenses
from benchmark.conformance import FAIL, run_checks
from benchmark.core.config import load_tier
from benchmark.core.errors import BenchmarkError
from benchmark.data import load_split
from benchmark.data.image_folder import load_image_folder
from benchmark.deadline import deadline
from benchmark.encoder_cache import EncoderCache, write_manifest
from benchmark.backbone import main as backbone_main
from benchmark.check import main as check_main
from benchmark.experiment import main as experiment_main
from benchmark.run import main as run_main
from leaderboard.build import main as build_main
from benchmark.runner import Options, run_cell
from benchmark.core.settings import PretrainConfig


TINY = PretrainConfig(width=4, blocks=(1, 1), epochs=1, batch_size=32)


def _png(size=(32, 32), mode="RGB"):
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format="PNG")
    return buf.getvalue()


def _tar(path, members):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("name", ["../escape/00000.png", "/abs/cls/00000.png", "cls/../../x.png"])
def test_a_member_outside_the_archive_is_refused(tmp_path, name):
    _tar(tmp_path / "toy" / "train.tar", [("ok/00000.png", _png()), (name, _png())])
    with pytest.raises(BenchmarkError, match="outside the archive") as exc:
        load_image_folder(tmp_path, "toy", "train")
    assert "\n" not in str(exc.value)


def test_an_archive_cut_at_a_member_boundary_is_refused(tmp_path):
    path = tmp_path / "toy" / "train.tar"
    _tar(path, [(f"cls/{i:05d}.png", _png()) for i in range(3)])
    whole = path.read_bytes()
    with tarfile.open(path) as tar:
        members = tar.getmembers()
    path.write_bytes(whole[:members[2].offset])  # the third member and the end marker gone
    with pytest.raises(BenchmarkError, match="truncated"):
        load_image_folder(tmp_path, "toy", "train")


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path):
    _tar(tmp_path / "toy" / "train.tar", [("cls/00000.png", _png((5000, 5000), "1"))])
    with pytest.raises(BenchmarkError, match="5000x5000 pixels: refused"):
        load_image_folder(tmp_path, "toy", "train")


def test_a_checkpoint_with_a_recomputed_checksum_around_garbage_is_retrained(tmp_path):
    images = load_split("synthetic", "train", limit=64).images
    cache = EncoderCache(tmp_path, progress=False)
    first = cache.get(images, TINY, 0)
    (first.workdir / "final.safetensors").write_bytes(b"not a safetensors payload" * 10)
    write_manifest(first.workdir)  # the checksum now matches the garbage
    with pytest.warns(UserWarning, match="does not load"):
        again = EncoderCache(tmp_path, progress=False).get(images, TINY, 0)
    assert not again.from_cache
    for a, b in zip(first.encoder.state_dict().values(), again.encoder.state_dict().values()):
        assert torch_equal(a, b)


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


def test_a_diverged_pretraining_stops_with_an_error_and_no_final_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(simclr, "train_step", lambda *a, **k: float("nan"))
    images = load_split("synthetic", "train", limit=64).images
    with pytest.raises(BenchmarkError, match="diverged"):
        EncoderCache(tmp_path, progress=False).get(images, TINY, 0)
    assert not list(tmp_path.rglob("final.safetensors"))


def test_a_corrupt_record_at_a_cells_path_is_moved_aside_and_recomputed(tmp_path, smoke_cache):
    opts = Options(None, None, smoke_cache, tmp_path / "results", "cpu", False)
    cfg, logs = load_tier("smoke"), []
    path = run_cell(cfg, "none", "none", 0, opts, log=logs.append)
    path.write_text("{ truncated")
    assert run_cell(cfg, "none", "none", 0, opts, log=logs.append) == path
    assert json.loads(path.read_text())["attack"] == "none"
    assert path.with_name(path.name + ".corrupt").read_text() == "{ truncated"
    assert any("moved aside" in m for m in logs)


def test_a_results_directory_that_is_a_file_is_a_one_line_error(tmp_path, capsys, smoke_cache):
    (tmp_path / "results").write_text("a file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = run_main(["--attack", "none", "--results-dir", str(tmp_path / "results"), "--cache-dir", str(smoke_cache),
                         "--no-progress", "--no-leaderboard"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--results-dir" in err and "not a directory" in err and "\n" not in err


def test_tier_numbers_are_refused_before_any_work():
    for bad in ["pretrain.lr=Infinity", "pretrain.lr=NaN", "pretrain.epochs=true", "pretrain.weight_decay=-1",
                "probe.lr=NaN", "threat.targets_per_task=100000000", "pretrain.width=100000", "pretrain.batch_size=1"]:
        with pytest.raises(BenchmarkError):
            load_tier("smoke", [bad])
    assert np.isfinite(load_tier("smoke").pretrain.lr)


@pytest.mark.parametrize("bad, message", [
    ("defense.kmeans.k=NaN", "must be a finite number"), ("defense.kmeans.k=true", "must be an integer"),
    ("defense.kmeans.k=2.5", "must be an integer"), ("defense.bagging.alpha=Infinity", "must be a finite number"),
    ("defense.bagging.alpha=false", "must be a number"), ("attack.poisoned_encoder.crop_scale=[0.5, NaN]", "finite")])
def test_entry_parameters_are_refused_before_any_work(tmp_path, capsys, bad, message):
    """An attack's or defense's parameter reaches its ``__init__`` only if it is finite and of its
    default's type: one line, exit 2, nothing written (``defense.kmeans.k=NaN`` was a traceback)."""
    code = run_main(["--defense", "kmeans", "--set", bad, "--results-dir", str(tmp_path / "r"),
                     "--cache-dir", str(tmp_path / "c"), "--no-progress", "--no-leaderboard"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err and not (tmp_path / "r").exists()


@pytest.mark.parametrize("main, args, message", [
    (run_main, ["--threads", "0"], "--threads must be a positive integer"),
    (run_main, ["--threads", "-2", "--grid", "smoke"], "--threads must be a positive integer"),
    (run_main, ["--ray-cpus", "0", "--grid", "smoke", "--executor", "ray"], "--ray-cpus must be a positive integer"),
    (run_main, ["--device", "bogus"], "--device must be cpu or cuda[:N]"),
    (run_main, ["--device", "cuda:99", "--grid", "smoke"], "no such CUDA device"),
    (experiment_main, ["table1", "--threads", "0"], "--threads must be a positive integer"),
    (experiment_main, ["table1", "--device", "mps"], "--device must be cpu or cuda[:N]"),
    (backbone_main, ["cifar10-sup-w16", "--data-root", "d", "--threads", "0"], "--threads must be a positive integer"),
    (run_main, ["--hook-seconds", "0"], "--hook-seconds must be a positive number"),
    (check_main, ["none", "--budget-seconds", "-1"], "--budget-seconds must be a positive number"),
    (check_main, ["none", "--check-seconds", "nan"], "--check-seconds must be a positive number"),
    (build_main, ["--output", "."], "is a directory"),
    (run_main, ["--seeds", str(2**70)], "--seeds must be integers from 0 to 2147483647"),
    (run_main, ["--set", "run.seeds=3"], "[run] seeds must be a list of integers"),
    (run_main, ["--set", "run.seeds=[]"], "at least one seed"),
    (experiment_main, ["table1", "--seeds", "2147483648"], "--seeds must be integers from 0 to")])
def test_a_bad_device_or_count_is_a_one_line_error_before_any_work(tmp_path, capsys, main, args, message):
    """``--threads 0`` reached torch.set_num_threads and ``--device bogus`` torch.device, each a traceback
    (the latter after locking a record's path); ``--ray-cpus 0`` reached Ray; a NaN or negative check
    budget failed a check instead of the command line; an --output directory failed at the rename."""
    results, cache = ["--results-dir", str(tmp_path / "r")], ["--cache-dir", str(tmp_path / "c"), "--no-progress"]
    where = {backbone_main: cache, check_main: [], build_main: results}.get(main, results + cache)
    code = main(args + where)
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err and not (tmp_path / "r").exists()


def test_a_hanging_hook_is_stopped_within_its_budget(monkeypatch):
    class Hangs(defenses.Defense):
        stage = "pre"

        def sanitize(self, images, rng, trainer=None):
            time.sleep(1000)

    Hangs.name = "hangs"
    monkeypatch.setitem(defenses.DEFENSES._entries, "hangs", Hangs)  # registered for this test only
    start = time.monotonic()
    results = {r.name: r for r in run_checks("hangs", smoke=False, check_seconds=1)}
    assert time.monotonic() - start < 30
    assert results["output_well_formed"].status == FAIL and "exceeded its 1 s budget" in results["output_well_formed"].reason
    with deadline(5, "outer"):  # a deadline restores the enclosing one
        with pytest.raises(BenchmarkError, match="inner exceeded"):
            with deadline(0.2, "inner"):
                time.sleep(2)
