"""BadEncoder's loss by hand, its triggers, and its fine-tuning moving triggered inputs toward the reference."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attacks import create_attack
from attacks.base import AttackTarget
from attacks.bad_encoder import backdoor, badencoder_loss, stamp_corner, trigger_of


def test_loss_by_hand():
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])      # two triggered inputs
    r = torch.tensor([[2.0, 0.0]])                   # one reference (norm does not matter)
    r_clean = torch.tensor([[1.0, 1.0]])             # cos(r, r_clean) = 1/√2
    x = torch.tensor([[0.0, 3.0]])
    x_clean = torch.tensor([[0.0, -1.0]])            # cos = −1
    effectiveness = (1.0 + 0.0) / 2                  # mean over the 2×1 pairs
    want = -(effectiveness + 1 / math.sqrt(2) - 1.0)
    assert badencoder_loss([t], [r], [r_clean], x, x_clean).item() == pytest.approx(want, abs=1e-6)
    assert badencoder_loss([t], [r], [r_clean], x, x_clean, (2, 0, 0)).item() == pytest.approx(-1.0)


def test_two_targets_average_their_effectiveness_and_reference_terms():
    t1, r1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]])          # cos 1, reference kept: cos 1
    t2, r2 = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])          # cos 0
    r2_clean = torch.tensor([[-1.0, 0.0]])                                   # reference moved: cos −1
    x = torch.tensor([[1.0, 1.0]])
    got = badencoder_loss([t1, t2], [r1, r2], [r1, r2_clean], x, x).item()
    assert got == pytest.approx(-((1 + 0) / 2 + (1 - 1) / 2 + 1), abs=1e-6)


def test_stamp_corner_whitens_the_bottom_right_patch_of_a_copy():
    imgs = np.zeros((2, 32, 32, 3), np.uint8)
    out = stamp_corner(imgs)
    assert imgs.sum() == 0 and (out[:, 22:, 22:] == 255).all() and out[:, :22].sum() == 0 and out[:, :, :22].sum() == 0


def test_each_target_has_its_own_trigger_at_the_same_corner():
    triggers = [trigger_of(i) for i in range(3)]
    assert (triggers[0] == 255).all() and not np.array_equal(triggers[1], triggers[2])
    assert not (triggers[1] == 255).all() and set(np.unique(triggers[1])) <= {0, 255}
    out = stamp_corner(np.zeros((1, 32, 32, 3), np.uint8), 6, 2)
    assert np.array_equal(out[0, 26:, 26:], trigger_of(2, 6)) and out[0, :26].sum() == 0


class Linear(nn.Module):
    """Random linear features of centred pixels: directions that are not all alike, unlike a random
    ReLU network's on noise images, so the test can see the backdoor move them."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3072, 32)

    def forward(self, x):
        return self.fc((x - 0.5).flatten(1))


def test_fine_tuning_pulls_triggered_inputs_to_the_reference_and_keeps_clean_features():
    torch.manual_seed(0)
    enc = Linear().eval()
    rng = np.random.default_rng(0)
    shadow = rng.integers(0, 256, (256, 32, 32, 3), dtype=np.uint8)
    refs = rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    bad = backdoor(enc, shadow, [refs], epochs=10, seed=0, batch_size=64, lr=0.05)
    assert all(torch.equal(before[k], v) for k, v in enc.state_dict().items())   # the clean encoder is untouched

    def feats(model, imgs):
        with torch.no_grad():
            return model(torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255)
    probe = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)                  # inputs it never saw
    to_ref = [F.cosine_similarity(feats(m, stamp_corner(probe)), feats(m, refs)).mean() for m in (enc, bad)]
    kept = F.cosine_similarity(feats(bad, probe), feats(enc, probe)).mean()
    assert to_ref[0] < 0.2 and to_ref[1] > 0.9 and kept > 0.5                     # measured: −0.04 → 0.98, 0.60


def test_the_utility_weight_keeps_the_shadow_sets_features():
    """λ2 (the paper's weight of the utility term) is the attack's parameter and reaches the loss:
    with λ2 = 0 nothing holds the shadow inputs' features, with λ2 = 5 they stay the clean encoder's."""
    torch.manual_seed(0)
    enc = Linear().eval()
    rng = np.random.default_rng(0)
    shadow = rng.integers(0, 256, (256, 32, 32, 3), dtype=np.uint8)
    refs = rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    x = torch.from_numpy(shadow[:64]).permute(0, 3, 1, 2).float() / 255
    kept = []
    for lambda2 in (0.0, 5.0):
        bad = create_attack("bad_encoder", epochs=10, batch_size=64, lr=0.01, n_references=1, lambda2=lambda2)
        model = bad.poison_model(enc, shadow, [AttackTarget(image=refs[0], references=refs, n_poisons=0)], seed=0)
        with torch.no_grad():
            kept.append(F.cosine_similarity(model(x), enc(x)).mean().item())
    assert kept[0] < 0.9 and kept[1] > 0.99, kept                 # measured: 0.864, 0.999
