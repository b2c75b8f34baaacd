"""The self-supervised methods (registry METHODS: SimCLR, MoCo v2, BYOL) over the one trainer: their
losses as pure functions against hand-computed values, and the trainer's contract — deterministic,
bit-identical after a crash and resume (momentum networks and queue included) — for every entry."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import benchmark.ssl.simclr as S
from benchmark.core.errors import BenchmarkError
from benchmark.core.settings import PretrainConfig
from benchmark.core.config import load_tier
from benchmark.core.grid_spec import Job
from benchmark.experiment import tier_changes
from benchmark.grid import list_grids, load_grid
from benchmark.named_experiments import EXPERIMENTS
from benchmark.pipeline import changed_config, check_backbone_shape, load_config
from benchmark.ssl.checkpoint import save_checkpoint
from benchmark.ssl.encoders import ENCODERS
from benchmark.ssl.losses import byol_loss, cosine_momentum, ema_update, enqueue, moco_infonce
from benchmark.ssl.methods import METHODS
from benchmark.ssl.simclr import build_encoder, build_model, load_init, pretrain
from benchmark.ssl.timm_encoders import timm_resnet18_cifar

CFG = PretrainConfig(width=4, blocks=(1, 1), epochs=2, batch_size=32, checkpoint_epochs=(1,), queue_size=48)


def _images(n=96):
    return np.random.default_rng(0).integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)


def test_moco_infonce_against_a_hand_computed_value():
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[2.0, 0.0]])             # normalised: the positive has cosine 1
    queue = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])  # negatives: cosines 0 and −1
    t = 0.5
    want = -math.log(math.exp(1 / t) / (math.exp(1 / t) + math.exp(0) + math.exp(-1 / t)))
    assert float(moco_infonce(q, k, queue, t)) == pytest.approx(want)


def test_byol_loss_is_two_minus_twice_the_cosine():
    p = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    z = torch.tensor([[3.0, 0.0], [-1.0, 1.0]])   # cosines 1 and 0
    assert float(byol_loss(p, z)) == pytest.approx((0.0 + 2.0) / 2)


def test_ema_and_the_cosine_momentum_schedule():
    online, target = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    online.weight.data.fill_(1.0)
    target.weight.data.fill_(0.0)
    ema_update(target, online, 0.9)
    assert float(target.weight.detach()) == pytest.approx(0.1)
    assert cosine_momentum(0.99, 0.0) == pytest.approx(0.99) and cosine_momentum(0.99, 1.0) == pytest.approx(1.0)
    assert cosine_momentum(0.99, 0.5) == pytest.approx(0.995)


def test_the_queue_is_a_ring_and_its_pointer_wraps():
    queue, pointer = torch.zeros(4, 2), torch.zeros(1, dtype=torch.long)
    enqueue(queue, pointer, torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]))
    assert int(pointer) == 3 and torch.equal(queue[:3], torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))
    enqueue(queue, pointer, torch.tensor([[0.0, -1.0], [-1.0, 0.0]]))
    assert int(pointer) == 1 and torch.equal(queue[3], torch.tensor([0.0, -1.0])) and torch.equal(queue[0], torch.tensor([-1.0, 0.0]))
    enqueue(queue, pointer, torch.eye(2).repeat(3, 1))   # 6 keys into 4 slots: the last 4 stay
    assert int(pointer) == 3 and torch.equal(F.normalize(queue, dim=1), queue)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("method", METHODS.names())
def test_a_method_trains_deterministically_and_moves_its_momentum_networks(method):
    cfg = replace(CFG, method=method)
    a, b = pretrain(_images(), cfg, seed=3, progress=False), pretrain(_images(), cfg, seed=3, progress=False)
    assert all(torch.equal(v, w) for v, w in zip(_state(a.encoder).values(), _state(b.encoder).values()))
    assert len(a.losses) == 2 and all(np.isfinite(a.losses))
    torch.manual_seed(3)
    fresh = build_model(cfg)
    assert any(not torch.equal(v, w) for v, w in zip(_state(fresh.encoder).values(), _state(a.encoder).values()))


@pytest.mark.parametrize("method", METHODS.names())
def test_a_crashed_run_resumes_bit_identically(tmp_path, monkeypatch, method):
    cfg = replace(CFG, method=method, optimizer="sgd" if method == "moco_v2" else "adam",
                  schedule="cosine" if method == "moco_v2" else "constant", lr=0.03 if method == "moco_v2" else 1e-3)
    full = pretrain(_images(), cfg, seed=2, workdir=tmp_path / "full", progress=False)
    original = S.save_checkpoint

    def crash_after_resume_point(path, model, optimizer=None, meta=None):
        original(path, model, optimizer, meta)
        if path.name == "last.safetensors":
            raise KeyboardInterrupt  # the process dies right after epoch 1 was saved

    monkeypatch.setattr(S, "save_checkpoint", crash_after_resume_point)
    with pytest.raises(KeyboardInterrupt):
        pretrain(_images(), cfg, seed=2, workdir=tmp_path / "cut", progress=False)
    assert (tmp_path / "cut" / "last.safetensors").exists() and not (tmp_path / "cut" / "final.safetensors").exists()
    monkeypatch.setattr(S, "save_checkpoint", original)
    resumed = pretrain(_images(), cfg, seed=2, workdir=tmp_path / "cut", progress=False)
    assert resumed.losses == full.losses
    # The whole model — momentum networks and MoCo's queue too — as the uninterrupted run left it.
    whole = {}
    for name in ("full", "cut"):
        model = build_model(cfg)
        load_init(tmp_path / name / "final.safetensors", model, "cpu")
        whole[name] = _state(model)
    assert whole["full"].keys() == whole["cut"].keys()
    assert all(torch.equal(whole["full"][k], whole["cut"][k]) for k in whole["full"])


@pytest.mark.parametrize("method", ["moco_v2", "byol"])
def test_starting_from_a_bare_encoder_copies_it_into_the_momentum_networks(tmp_path, method):
    cfg = replace(CFG, method=method)
    torch.manual_seed(7)
    backbone = build_encoder(cfg)
    save_checkpoint(tmp_path / "backbone.safetensors", backbone)
    torch.manual_seed(0)
    model = build_model(cfg)
    load_init(tmp_path / "backbone.safetensors", model, "cpu")
    target = model.key_encoder if method == "moco_v2" else model.target_encoder
    want = _state(backbone)
    assert all(torch.equal(want[k], v) for k, v in _state(model.encoder).items())
    assert all(torch.equal(want[k], v) for k, v in _state(target).items())


def test_an_unknown_method_or_optimiser_is_a_one_line_error():
    with pytest.raises(BenchmarkError, match="unknown method 'simsiam'"):
        load_config("smoke", ["pretrain.method=simsiam"])
    with pytest.raises(BenchmarkError, match="pretrain.optimizer"):
        load_config("smoke", ["pretrain.optimizer=lars"])


def test_the_hand_written_resnet18_matches_timms_with_the_cifar_stem():
    ours, theirs = ENCODERS.create("resnet18", width=64), timm_resnet18_cifar()
    shapes = lambda m: sorted(tuple(p.shape) for p in m.parameters())
    assert shapes(ours) == shapes(theirs) and ours.feature_dim == theirs.feature_dim == 512
    x = torch.rand(2, 3, 32, 32)
    assert ours(x).shape == theirs(x).shape == (2, 512)


@pytest.mark.parametrize("arch", ["vgg11", "mobilenetv2"])
def test_a_timm_encoder_pretrains_and_keeps_resolution_at_32_pixels(arch):
    enc = ENCODERS.create(arch, width=16)
    trunk = enc.trunk
    feature_map = trunk(torch.rand(1, 3, 32, 32))
    assert feature_map.shape[-1] == (1 if arch == "vgg11" else 4)   # VGG's five pools; MobileNetV2 at stride 8
    out = pretrain(_images(64), replace(CFG, arch=arch, width=16, epochs=1), seed=0, progress=False)
    assert np.isfinite(out.losses[0])


def test_grid_files_name_the_method_and_encoder_axes_through_their_set_list():
    moco, vgg, base = load_grid("cpu_continued_moco"), load_grid("cpu_continued_vgg11"), load_grid("cpu_continued")
    assert moco.tier.pretrain.method == "moco_v2" and moco.tier.pretrain.temperature == 0.2
    assert vgg.tier.pretrain.arch == "vgg11" and vgg.tier.pretrain.init == "cifar10-sup-vgg11-w16"
    assert len({moco.tier.grid_hash(), base.tier.grid_hash(), vgg.tier.grid_hash()}) == 3
    assert {j.defense for j in moco.jobs} >= {"none", "bagging", "kmeans", "finetune"}


@pytest.mark.parametrize("name", list_grids())
def test_every_grid_file_loads_and_declares_jobs(name):
    grid = load_grid(name)
    assert grid.name == name and grid.jobs


@pytest.mark.parametrize("table", ["table5", "table6"])
def test_the_paper_tier_grids_hold_each_cell_of_the_papers_tables_5_and_6(table):
    """A GPU user running the paper grids gets the paper's own Table 5/6 cells (those with a paper
    number), each with the same configuration — so the same cache — as the named experiment's."""
    paper, grids = load_tier("paper"), [load_grid(n) for n in list_grids()]
    cells = [c for c in EXPERIMENTS[table].cells if c.paper]
    assert len(cells) >= 2
    for cell in cells:
        want = changed_config(paper, tier_changes(cell, paper))
        assert any(g.tier == want and Job(cell.attack, "none", 0) in g.jobs for g in grids), cell.label


def test_continuing_a_backbone_of_another_shape_is_a_one_line_error():
    recipe = {"arch": "resnet18", "width": 16, "blocks": [2, 2, 2, 2]}
    check_backbone_shape(recipe, PretrainConfig(width=16, init="b"))
    with pytest.raises(BenchmarkError, match="holds a resnet18 .* asks for vgg11"):
        check_backbone_shape(recipe, PretrainConfig(arch="vgg11", width=16, init="b"))
