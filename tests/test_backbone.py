"""The public clean backbone and continued pre-training from it (issue 18)."""

import dataclasses

import numpy as np
import pytest
import torch

from benchmark import backbone
from benchmark.core.config import load_tier
from benchmark.core.errors import BenchmarkError
from benchmark.core.settings import PretrainConfig
from benchmark.data import load_split
from benchmark.data.sources import stratified_indices, stratified_subset
from benchmark.encoder_cache import EncoderCache
from benchmark.experiment import tier_changes
from benchmark.named_experiments import EXPERIMENTS
from benchmark.run import main
from benchmark.ssl.simclr import SimCLRModel, build_encoder, frozen_modules, load_init, pretrain

RECIPE = """[backbone]
method = "supervised"
dataset = "synth_shapes"
exclude_limit = 5800
width = 4
blocks = [1, 1]
epochs = 2
batch_size = 64
lr = 0.05
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("backbone")
    (root / "tiny.toml").write_text(RECIPE)
    bb = backbone.build(str(root / "tiny.toml"), None, root / "cache", root / "out", progress=False, probe_epochs=2)
    return root, bb


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_stratified_indices_are_the_rows_stratified_subset_takes():
    ds = load_split("synth_shapes", "train")
    idx = stratified_indices(ds.labels, 1000)
    assert np.array_equal(ds.images[idx], stratified_subset(ds, 1000).images)
    assert len(idx) == 1000 and np.all(np.diff(idx) > 0)


def test_backbone_images_are_disjoint_from_every_victim_and_probe_subset():
    recipe = backbone.BackboneRecipe(dataset="synth_shapes", exclude_limit=3000)
    ds = load_split("synth_shapes", "train")
    rest = backbone.backbone_images(recipe, None)
    assert len(rest) == len(ds) - 3000
    rest_rows = {r.tobytes() for r in rest.images.reshape(len(rest), -1)}
    for limit in (1500, 3000):  # the victim set (first of the draw) sits inside the probe's subset
        used = stratified_subset(ds, limit).images
        assert not rest_rows & {r.tobytes() for r in used.reshape(len(used), -1)}


def test_build_writes_a_verified_checkpoint_with_its_competence(built):
    root, bb = built
    assert bb.path == root / "out" / "tiny.safetensors" and len(bb.sha256) == 64
    assert bb.info["train_images"] == 200 and 0 <= bb.info["linear_probe_accuracy"] <= 1
    assert bb.info["train_seconds"]["cpu"] > 0
    assert backbone.resolve(str(bb.path)).sha256 == bb.sha256


def test_a_tampered_or_missing_backbone_is_refused(built, tmp_path):
    _, bb = built
    copy = tmp_path / "tiny.safetensors"
    data = bytearray(bb.path.read_bytes())
    data[-1] ^= 1
    copy.write_bytes(bytes(data))
    (tmp_path / "tiny.json").write_text(bb.path.with_suffix(".json").read_text())
    with pytest.raises(BenchmarkError, match="sha256"):
        backbone.resolve(str(copy))
    with pytest.raises(BenchmarkError, match="not built"):
        backbone.resolve("no-such-backbone")


def test_an_interrupted_backbone_resumes_to_the_same_weights(tmp_path, monkeypatch):
    (tmp_path / "tiny.toml").write_text(RECIPE)
    _, recipe = backbone.load_recipe(str(tmp_path / "tiny.toml"))
    ds = backbone.backbone_images(recipe, None)
    whole = backbone.train_supervised(ds, recipe, tmp_path / "a", progress=False)
    real_save, calls = backbone.save_checkpoint, []

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        calls.append(1)
        raise KeyboardInterrupt  # killed right after the first epoch's checkpoint

    monkeypatch.setattr(backbone, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        backbone.train_supervised(ds, recipe, tmp_path / "b", progress=False)
    monkeypatch.setattr(backbone, "save_checkpoint", real_save)
    resumed = backbone.train_supervised(ds, recipe, tmp_path / "b", progress=False)
    assert calls == [1]
    a, b = _state(whole), _state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_continued_pretraining_starts_from_the_backbone_and_keys_its_bytes(built, tmp_path):
    _, bb = built
    cfg = PretrainConfig(width=4, blocks=(1, 1), epochs=1, batch_size=32, init=str(bb.path))
    model = SimCLRModel(build_encoder(cfg))
    load_init(bb.path, model, "cpu")
    reference = build_encoder(cfg)
    backbone.load_checkpoint(bb.path, reference)
    ref = _state(reference)
    assert all(torch.equal(v, ref[k]) for k, v in _state(model.encoder).items())
    cache = EncoderCache(tmp_path, progress=False)
    images = np.random.default_rng(0).integers(0, 255, (64, 32, 32, 3), dtype=np.uint8)
    scratch = PretrainConfig(width=4, blocks=(1, 1), epochs=1, batch_size=32)
    assert cache.key(images, cfg, 0) != cache.key(images, scratch, 0)
    assert "init" not in scratch.to_dict() and cfg.to_dict()["init"] == str(bb.path)


def test_frozen_stages_keep_the_backbone_weights_and_statistics(built):
    _, bb = built
    cfg = PretrainConfig(width=4, blocks=(1, 1), epochs=1, batch_size=32, init=str(bb.path), frozen_stages=1)
    images = np.random.default_rng(1).integers(0, 255, (96, 32, 32, 3), dtype=np.uint8)
    result = pretrain(images, cfg, seed=0, progress=False, init=bb.path)
    start = SimCLRModel(build_encoder(cfg))
    load_init(bb.path, start, "cpu")
    trained = SimCLRModel(result.encoder)
    frozen_before = [_state(m) for m in frozen_modules(start, 1)]
    frozen_after = [_state(m) for m in frozen_modules(trained, 1)]
    for before, after in zip(frozen_before, frozen_after):
        assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN running stats
    last_before = _state(start.encoder.backbone.layers[-1])
    last_after = _state(trained.encoder.backbone.layers[-1])
    assert any(not torch.equal(last_before[k], last_after[k]) for k in last_before)


def test_the_continued_tier_names_a_committed_backbone_and_validates_its_knobs():
    cfg = load_tier("cpu_continued")
    assert backbone.load_recipe(cfg.pretrain.init)[1].exclude_limit >= cfg.pretrain_data.limit
    with pytest.raises(BenchmarkError, match="frozen_stages"):
        load_tier("cpu_continued", ["pretrain.frozen_stages=9"])
    with pytest.raises(BenchmarkError, match="backbone"):
        load_tier("cpu_continued", ["pretrain.init=5"])


def test_a_run_naming_a_missing_backbone_is_a_one_line_error_before_any_work(tmp_path, capsys):
    code = main(["--tier", "cpu_continued", "--set", "pretrain.init=no-such-backbone", "--results-dir",
                 str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c"), "--no-progress", "--no-leaderboard"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "not built" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "c").exists()


def test_table6_cells_continue_the_backbone_of_their_own_architecture_or_none():
    continued, scratch = load_tier("cpu_continued"), load_tier("cpu")
    inits = {c.label: tier_changes(c, continued).get("pretrain.init") for c in EXPERIMENTS["table6"].cells}
    assert inits == {"resnet18": "cifar10-sup-w16", "vgg11": "cifar10-sup-vgg11-w16",
                     "mobilenetv2": "cifar10-sup-mobilenetv2-w16"}
    base = backbone.load_recipe(continued.pretrain.init)[1]
    for name in inits.values():  # each committed recipe is the tier's with only the architecture changed
        recipe = backbone.load_recipe(name)[1]
        assert recipe == dataclasses.replace(base, arch=recipe.arch)
    assert backbone.same_recipe("cifar10-simclr-w16", "vgg11") == ""  # no SimCLR VGG11: from scratch
    assert all("pretrain.init" not in tier_changes(c, scratch) for c in EXPERIMENTS["table6"].cells)
