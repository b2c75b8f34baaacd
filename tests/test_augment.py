
import pytest
import torch
import torchvision.transforms.functional as TF

from benchmark.ssl import augment as A

N = 4000


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_crop_boxes_respect_scale_and_ratio():
    cfg = A.AugmentConfig()
    w, h, cx, cy = A.sample_crop_boxes(N, cfg, _gen(), "cpu")
    area, ratio = w * h, w / h
    assert (area >= 0.08 - 1e-6).all() and (area <= 1 + 1e-6).all()
    assert (ratio >= 3 / 4 - 1e-5).all() and (ratio <= 4 / 3 + 1e-5).all()
    assert (cx - w / 2 >= -1e-6).all() and (cx + w / 2 <= 1 + 1e-6).all()
    # Uniform area on [0.08, 1] has mean 0.54; rejecting boxes that do not fit lowers it a little.
    assert 0.45 < area.mean().item() < 0.56


def test_flip_rate_and_no_crop_identity():
    cfg = A.AugmentConfig(crop=False, flip_p=0.5)
    ramp = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(N, 3, 32, 32).contiguous()
    out = A.crop_and_flip(ramp, cfg, _gen())
    flipped = out[:, 0, 0, 0] > out[:, 0, 0, -1]
    assert abs(flipped.float().mean().item() - 0.5) < 0.03
    assert torch.allclose(out[~flipped], ramp[~flipped], atol=1e-5)   # no crop: pixels unchanged


def test_grayscale_rate():
    cfg = A.AugmentConfig(grayscale_p=0.2)
    x = torch.rand(N, 3, 4, 4)
    out = A.random_grayscale(x, cfg, _gen())
    gray = (out[:, 0] == out[:, 1]).all(-1).all(-1) & (out[:, 1] == out[:, 2]).all(-1).all(-1)
    assert abs(gray.float().mean().item() - 0.2) < 0.03


def test_jitter_probability():
    cfg = A.AugmentConfig(jitter_p=0.8)
    x = torch.rand(N, 3, 4, 4) * 0.5 + 0.25
    out = A.color_jitter(x, cfg, _gen())
    changed = (out - x).abs().flatten(1).max(1).values > 1e-6
    assert abs(changed.float().mean().item() - 0.8) < 0.03


def test_hsv_round_trip_and_hue_matches_torchvision():
    x = torch.rand(64, 3, 8, 8)
    assert torch.allclose(A.hsv_to_rgb(A.rgb_to_hsv(x)), x, atol=1e-5)
    hsv = A.rgb_to_hsv(x)
    shifted = A.hsv_to_rgb(torch.stack([(hsv[:, 0] + 0.07) % 1.0, hsv[:, 1], hsv[:, 2]], 1))
    assert torch.allclose(shifted, TF.adjust_hue(x, 0.07), atol=1e-4)


@pytest.mark.parametrize("op,fn", [(1, TF.adjust_contrast), (2, TF.adjust_saturation), (0, TF.adjust_brightness)])
def test_colour_ops_match_torchvision_definitions(op, fn):
    x = torch.rand(8, 3, 8, 8)
    factor = 1.3
    if op == 0:
        ours = (x * factor).clamp(0, 1)
    elif op == 1:
        mean = A.grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
        ours = (x * factor + mean * (1 - factor)).clamp(0, 1)
    else:
        ours = (x * factor + A.grayscale(x) * (1 - factor)).clamp(0, 1)
    assert torch.allclose(ours, fn(x, factor), atol=1e-5)


def test_augment_is_deterministic_for_a_generator_and_in_range():
    x = torch.rand(16, 3, 32, 32)
    a = A.augment(x, A.AugmentConfig(), _gen(7))
    b = A.augment(x, A.AugmentConfig(), _gen(7))
    assert torch.equal(a, b) and a.shape == x.shape
    assert a.min() >= 0 and a.max() <= 1
