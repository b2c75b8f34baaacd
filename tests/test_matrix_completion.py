"""Matrix completion (ME-Net): the low-rank estimate is exact where the math says it must be."""

import numpy as np
import torch

import defenses
from defenses.matrix_completion import complete_low_rank


def _rank_4(g):
    return torch.randn(16, 32, 4, generator=g) @ torch.randn(16, 4, 32, generator=g)


def test_a_typical_rank_4_matrix_is_recovered_from_half_its_entries():
    g = torch.Generator().manual_seed(0)
    truth = torch.cat([_rank_4(g) for _ in range(3)])
    observed = torch.rand(48, 32, 32, generator=g) < 0.5

    def errors(iterations):
        est = complete_low_rank(truth, observed, 4, iterations, generator=torch.Generator().manual_seed(5))
        return (est - truth).norm(dim=(1, 2)) / truth.norm(dim=(1, 2))
    # Hard impute recovers the typical matrix exactly (median over 48); a warm-started power step can
    # stall on an occasional one, which is why the defense shrinks (soft-impute) by default.
    assert errors(300).median() < 1e-2
    assert errors(1).median() > 0.2  # ... and it takes the iterations: not trivially


def test_a_fully_observed_low_rank_matrix_is_returned():
    g = torch.Generator().manual_seed(1)
    truth = _rank_4(g)
    full = torch.ones(16, 32, 32, dtype=torch.bool)
    assert torch.allclose(complete_low_rank(truth, full, 4, 3, generator=g), truth, atol=1e-3)


def test_the_defense_returns_a_same_shape_copy_closer_to_the_clean_image():
    rng = np.random.default_rng(0)
    smooth = np.linspace(0, 255, 32)[None, :, None, None] * np.ones((8, 1, 32, 3))
    noise = rng.integers(-8, 9, (8, 32, 32, 3))  # a ±8/255 perturbation, CP's budget
    images = np.clip(smooth + noise, 0, 255).astype(np.uint8)
    before = images.copy()
    out = defenses.create_defense("matrix_completion").sanitize(images, np.random.default_rng(1))
    assert out.shape == images.shape and out.dtype == np.uint8 and np.array_equal(images, before)
    assert np.abs(out - smooth).mean() < np.abs(images - smooth).mean()
    again = defenses.create_defense("matrix_completion").sanitize(images, np.random.default_rng(1))
    assert np.array_equal(out, again)  # deterministic for the rng
