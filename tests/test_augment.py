
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


def _edges(boxes):
    w, h, cx, cy = boxes
    return cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2


@pytest.mark.parametrize("enlarge", [0.2, 0.0001, 1.0])
def test_localized_crops_lie_in_the_enlarged_first_box_and_always_overlap_it(enlarge):
    cfg = A.AugmentConfig(localized=enlarge)
    g = _gen(3)
    first = A.sample_crop_boxes(N, cfg, g, "cpu")
    second = A.localized_boxes(first, cfg, g, "cpu")
    (ax0, ax1, ay0, ay1), (bx0, bx1, by0, by1) = _edges(first), _edges(second)
    w1, h1 = first[0], first[1]
    eps = 1e-5
    # inside the first box enlarged by `enlarge` of its size per side, and inside the image
    assert (bx0 >= torch.clamp(ax0 - enlarge * w1, 0, 1) - eps).all() and (bx1 <= torch.clamp(ax1 + enlarge * w1, 0, 1) + eps).all()
    assert (by0 >= torch.clamp(ay0 - enlarge * h1, 0, 1) - eps).all() and (by1 <= torch.clamp(ay1 + enlarge * h1, 0, 1) + eps).all()
    # the two views of every pair overlap: view 2's centre lies in view 1's box
    overlap = (torch.minimum(ax1, bx1) - torch.maximum(ax0, bx0)).clamp_min(0) * \
              (torch.minimum(ay1, by1) - torch.maximum(ay0, by0)).clamp_min(0)
    assert (overlap > 0).all()
    # still a random resized crop: sizes vary (not the whole region every time)
    assert second[0].std() > 0.05


def test_independent_crops_overlap_less_and_localized_views_draw_like_before_when_off():
    cfg = A.AugmentConfig()
    x = torch.rand(64, 3, 32, 32)
    v1, v2 = A.view_pair(x, cfg, _gen(5))
    g = _gen(5)
    assert torch.equal(v1, A.augment(x, cfg, g)) and torch.equal(v2, A.augment(x, cfg, g))  # SimCLR's draws unchanged
    first = A.sample_crop_boxes(N, cfg, _gen(7), "cpu")
    other = A.sample_crop_boxes(N, cfg, _gen(8), "cpu")
    (ax0, ax1, ay0, ay1), (bx0, bx1, by0, by1) = _edges(first), _edges(other)
    disjoint = ((torch.minimum(ax1, bx1) - torch.maximum(ax0, bx0)) <= 0) | ((torch.minimum(ay1, by1) - torch.maximum(ay0, by0)) <= 0)
    assert disjoint.float().mean() > 0.005  # independent crops are sometimes disjoint (~1.4%) — what localized cropping removes
