"""CorruptEncoder(+): the poison layout of the paper at 32×32, the trigger, and the backdoor's numbers."""

import math

import numpy as np
import pytest

import attacks
from attacks.base import AttackTarget
from attacks.poisoned_encoder import combine
from attacks.corrupt_encoder import SIZE, half, layout, trigger_patch
from benchmark.core.metrics import mean_t_interval
from benchmark.core.records import backdoor_over_seeds, summarize_backdoor
from benchmark.report import triggered_inputs


def test_layout_follows_the_papers_placement_on_many_draws():
    rng, side, obj = np.random.default_rng(0), 5, SIZE // 2
    for _ in range(2000):
        ox, oy, tx, ty = layout(rng, side)
        on_left = ox < (SIZE - obj) // 2
        assert (ox <= 0.05 * SIZE) if on_left else (SIZE - obj - ox <= 0.05 * SIZE)   # flush with an edge
        assert 0 <= oy <= SIZE - obj
        other = SIZE // 2 if on_left else 0                                           # the trigger's half
        assert other + obj / 8 <= tx and tx + side <= other + 7 * obj / 8             # 1/8 .. 7/8 of that half
        assert SIZE / 4 <= ty and ty + side <= 3 * SIZE / 4                           # the middle half
    assert {layout(np.random.default_rng(s), side)[0] < 8 for s in range(50)} == {True, False}  # both edges


def test_half_averages_pixel_pairs():
    img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    assert half(img)[0, 0, 0] == round((0 + 3 + 12 + 15) / 4)
    assert half(img, axis=1).shape == (4, 2, 3) and half(img, axis=1)[0, 0, 0] == round((0 + 3) / 2)


def _targets(n=40):
    rng = np.random.default_rng(1)
    refs = [rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8) for _ in range(2)]
    return [AttackTarget(r[0], r, n) for r in refs]


def test_poisons_hold_a_reference_object_and_the_targets_trigger_within_budget():
    a = attacks.create_attack("corrupt_encoder")
    targets = _targets()
    poisons = a.craft(targets, np.random.default_rng(0))
    assert poisons.images.shape == (80, 32, 32, 3) and np.bincount(poisons.target_ids).tolist() == [40, 40]
    for img, tid in zip(poisons.images, poisons.target_ids):
        trig = trigger_patch(0, int(tid), 5)
        found = any(np.array_equal(img[y:y + 5, x:x + 5], trig) for y in range(8, 20) for x in range(0, 28))
        objs = [half(r) for r in targets[tid].references[:3]]
        has_obj = any(np.array_equal(img[y:y + 16, x:x + 16], o) for o in objs for y in range(17) for x in (0, 1, 15, 16))
        assert found and has_obj
    again = a.craft(targets, np.random.default_rng(0))
    assert np.array_equal(again.images, poisons.images)


def test_corrupt_encoder_plus_spends_a_fifth_on_support_poisons_without_trigger():
    plus = attacks.create_attack("corrupt_encoder_plus")
    poisons = plus.craft(_targets(), np.random.default_rng(0))
    assert poisons.meta["support_poisons"] == 16
    first = poisons.images[:8]   # each target's support poisons come first
    assert not any(np.array_equal(img[y:y + 5, x:x + 5], trigger_patch(0, 0, 5)) for img in first
                   for y in range(27) for x in range(27))


def test_stamp_puts_the_trigger_at_the_centre_of_a_copy():
    a = attacks.create_attack("corrupt_encoder", trigger_size=4)
    imgs = np.zeros((3, 32, 32, 3), np.uint8)
    out = a.stamp(imgs, 1)
    assert imgs.sum() == 0 and np.array_equal(out[2, 14:18, 14:18], trigger_patch(0, 1, 4))
    assert out[:, :14].sum() == 0 and out[:, 18:].sum() == 0


def test_triggered_inputs_leave_out_the_target_class_and_excluded_inputs():
    labels = np.array([0, 1, 2, 1, 0, 2])
    mask = np.array([True, True, True, True, False, True])
    assert triggered_inputs(labels, 1, mask).tolist() == [0, 2, 5]


def test_backdoor_numbers_by_hand():
    m = summarize_backdoor({"a": {"n_inputs": 10, "hits": 3, "clean_hits": 1}, "b": {"n_inputs": 30, "hits": 9, "clean_hits": 0}})
    assert m["asr"] == 12 / 40 and m["clean_asr"] == 1 / 40 and m["n_inputs"] == 40 and m["n_targets"] == 2
    seeds = [dict(m, asr=v) for v in (0.3, 0.4, 0.5)]
    out = backdoor_over_seeds(seeds)
    half_width = 4.302652729911275 * 0.1 / math.sqrt(3)   # t(0.975, 2) · sd / √n
    assert out["asr"] == pytest.approx(0.4) and out["asr_ci"] == pytest.approx((max(0.0, 0.4 - half_width), 0.4 + half_width))
    assert out["interval"] == "t over seeds" and backdoor_over_seeds(seeds[:1])["interval"] == "Wilson, one seed"
    assert mean_t_interval([0.0, 0.0, 0.1])[1][0] == 0.0   # a rate's interval stays in [0, 1]


def test_poisoned_encoder_as_a_backdoor_joins_a_triggered_background_with_a_reference():
    a = attacks.create_attack("poisoned_encoder_backdoor", layouts=["target_left"])
    targets = _targets(5)
    poisons = a.craft(targets, np.random.default_rng(0))
    assert poisons.images.shape == (10, 32, 32, 3) and poisons.target_ids.tolist() == [0] * 5 + [1] * 5
    imgs = np.zeros((2, 32, 32, 3), np.uint8)
    assert np.array_equal(a.stamp(imgs, 1), attacks.create_attack("corrupt_encoder").stamp(imgs, 1))  # the same trigger
    # target_left: the right half is one of the target's first 3 references, squeezed to half width
    # (bicubic, so compared up to a small mean difference); a fresh background on the left each time
    squeezed = {tid: [combine(np.zeros_like(r), r, "target_left")[:, 16:].astype(int) for r in t.references[:3]]
                for tid, t in enumerate(targets)}
    assert all(any(np.abs(img[:, 16:].astype(int) - r).mean() < 3 for r in squeezed[tid])
               for img, tid in zip(poisons.images, poisons.target_ids))
    assert not np.array_equal(poisons.images[0, :, :16], poisons.images[1, :, :16])
