import numpy as np
import pytest

import attacks
from attacks.base import AttackTarget
from attacks.poisoned_encoder import LAYOUTS, combine, random_square_crop
from benchmark.core.errors import BenchmarkError

RED = np.zeros((32, 32, 3), np.uint8)
RED[..., 0] = 255
BLUE = np.zeros((32, 32, 3), np.uint8)
BLUE[..., 2] = 255


def _colour_at(img, rows, cols):
    return img[rows, cols].reshape(-1, 3).mean(0)


@pytest.mark.parametrize("layout,first_is_target,axis", [
    ("target_top", True, 0), ("reference_top", False, 0), ("target_left", True, 1), ("reference_left", False, 1)])
def test_layouts_place_target_and_reference(layout, first_is_target, axis):
    out = combine(RED, BLUE, layout)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    first = (slice(0, 12), slice(None)) if axis == 0 else (slice(None), slice(0, 12))
    second = (slice(20, 32), slice(None)) if axis == 0 else (slice(None), slice(20, 32))
    red_first = _colour_at(out, *first)[0] > 200 and _colour_at(out, *second)[2] > 200
    assert red_first == first_is_target


def test_random_square_crop_sizes():
    rng = np.random.default_rng(0)
    img = np.arange(32 * 32 * 3, dtype=np.int64).reshape(32, 32, 3).astype(np.uint8)
    assert random_square_crop(img, 1.0, rng) is img
    for scale, side in [(0.8, 26), (0.6, 19), (0.5, 16)]:
        crop = random_square_crop(img, scale, rng)
        assert crop.shape == (side, side, 3)


def _targets(n_targets=3, n_poisons=40):
    rng = np.random.default_rng(0)
    return [AttackTarget(np.full((32, 32, 3), 40 * (i + 1), np.uint8),
                         rng.integers(0, 255, (5, 32, 32, 3), dtype=np.uint8), n_poisons) for i in range(n_targets)]


def test_budget_per_target_and_bookkeeping():
    poisons = attacks.create_attack("poisoned_encoder").craft(_targets(), np.random.default_rng(0))
    assert poisons.images.shape == (120, 32, 32, 3)
    assert np.bincount(poisons.target_ids).tolist() == [40, 40, 40]


def test_all_four_layouts_are_used_and_a_subset_is_respected():
    targets = [AttackTarget(RED, BLUE[None], 200)]
    used = set()
    for img in attacks.create_attack("poisoned_encoder").craft(targets, np.random.default_rng(0)).images:
        top, left = img[:12].mean((0, 1)), img[:, :12].mean((0, 1))
        used.add(("top" if top[0] > 200 else "bottom" if top[2] > 200 else "") +
                 ("left" if left[0] > 200 else "right" if left[2] > 200 else ""))
    assert used == {"top", "bottom", "left", "right"}  # target top/bottom/left/right
    only = attacks.create_attack("poisoned_encoder", layouts=["target_left"])
    for img in only.craft(targets, np.random.default_rng(0)).images:
        assert img[:, :12, 0].mean() > 200 and img[:, 20:, 2].mean() > 200


def test_poisons_are_deterministic_for_a_seed():
    a = attacks.create_attack("poisoned_encoder", crop_scale=0.8).craft(_targets(), np.random.default_rng(3))
    b = attacks.create_attack("poisoned_encoder", crop_scale=0.8).craft(_targets(), np.random.default_rng(3))
    assert np.array_equal(a.images, b.images)


@pytest.mark.parametrize("params", [dict(layouts=[]), dict(layouts=["diagonal"]), dict(crop_scale=0.0),
                                    dict(crop_scale=1.2)])
def test_invalid_parameters(params):
    with pytest.raises(BenchmarkError):
        attacks.create_attack("poisoned_encoder", **params)


def test_layout_names():
    assert set(LAYOUTS) == {"target_top", "reference_top", "target_left", "reference_left"}
