"""ICP's interpolation path and Witches' Brew's gradient matching (PoisonedEncoder §5.1 baselines)."""

import numpy as np
import pytest
import torch

from attacks.base import AttackContext, AttackTarget
from attacks.icp import InterpolationPoisoning, interpolate, interpolation_alphas, split_budget
from attacks.witches_brew import WitchesBrew, brew
from benchmark.core.errors import BenchmarkError
from benchmark.core.settings import PretrainConfig
from benchmark.ssl.simclr import SimCLRModel, build_encoder


def test_alphas_uniform_by_hand():
    assert interpolation_alphas(3, "uniform").tolist() == pytest.approx([0.25, 0.5, 0.75])
    assert interpolation_alphas(0).size == 0


def test_alphas_target_dense_crowd_the_target():
    a = interpolation_alphas(4, "target_dense")
    assert a.tolist() == pytest.approx([1 - 0.8 ** 2, 1 - 0.6 ** 2, 1 - 0.4 ** 2, 1 - 0.2 ** 2])
    gaps = np.diff(np.concatenate([[0.0], a, [1.0]]))
    assert np.all(gaps > 0) and np.all(np.diff(gaps) < 0)  # ever closer together towards α = 1


def test_interpolation_endpoints_and_midpoint():
    ref, tgt = np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 200, np.uint8)
    assert np.array_equal(interpolate(ref, tgt, 0.0), ref) and np.array_equal(interpolate(ref, tgt, 1.0), tgt)
    assert np.all(interpolate(ref, tgt, 0.5) == 100)


def test_icp_spends_the_budget_along_paths():
    rng = np.random.default_rng(0)
    t = AttackTarget(np.full((32, 32, 3), 255, np.uint8), np.zeros((5, 32, 32, 3), np.uint8), 7)
    p = InterpolationPoisoning(schedule="uniform", paths=2).craft([t], rng)
    assert len(p) == 7 and split_budget(7, 2) == [4, 3]
    levels = sorted(int(img[0, 0, 0]) for img in p.images)
    assert levels == sorted([round(255 * a) for a in [0.2, 0.4, 0.6, 0.8, 0.25, 0.5, 0.75]])


def _tiny_model(seed=0):
    torch.manual_seed(seed)
    return SimCLRModel(build_encoder(PretrainConfig(width=4, blocks=(1, 1)))).eval()


def _target(n=6):
    rng = np.random.default_rng(1)
    return AttackTarget(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
                        rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8), n)


def test_witches_brew_stays_in_the_eps_ball_and_in_range():
    t = _target()
    eps = 8 / 255
    p = WitchesBrew(eps=eps, steps=6, restarts=2).craft([t], np.random.default_rng(0),
                                                        AttackContext(surrogate=_tiny_model))
    base = t.references[np.arange(t.n_poisons) % len(t.references)].astype(int)
    assert p.images.dtype == np.uint8 and len(p) == 6
    assert np.abs(p.images.astype(int) - base).max() <= 8
    assert p.meta["brew_double_backward_passes"] == 2 * 6 * 6


def test_witches_brew_matching_loss_decreases():
    t = _target(8)
    to = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float().div(255)
    base = to(t.references[np.arange(8) % 4])
    _, hist = brew(_tiny_model(), base, to(t.image[None])[0], to(t.references), 16 / 255, steps=30, restarts=1,
                   lr=0.1, g=torch.Generator().manual_seed(0))
    assert len(hist) == 31
    assert np.mean(hist[-5:]) < hist[0] - 0.02, hist


def test_witches_brew_refuses_to_run_without_surrogate():
    with pytest.raises(BenchmarkError, match="surrogate"):
        WitchesBrew(steps=1, restarts=1).craft([_target()], np.random.default_rng(0))
