import math

import pytest
import torch

from benchmark.ssl.losses import nt_xent


def test_nt_xent_hand_computed_two_pairs():
    # Unit vectors: pair 0 = (e1, e1), pair 1 = (e2, e2); e1 ⟂ e2, temperature 0.5.
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = z1.clone()
    # Each view: positive logit 1/0.5 = 2, two negatives with logit 0.
    expected = -math.log(math.exp(2) / (math.exp(2) + 2))
    assert nt_xent(z1, z2, 0.5).item() == pytest.approx(expected, rel=1e-6)


def test_nt_xent_is_scale_invariant_and_prefers_aligned_pairs():
    torch.manual_seed(0)
    z = torch.randn(8, 16)
    aligned = nt_xent(z, 3 * z)
    shuffled = nt_xent(z, z[torch.randperm(8)])
    assert aligned.item() == pytest.approx(nt_xent(z, z).item(), rel=1e-5)
    assert aligned < shuffled


def test_nt_xent_shape_check():
    with pytest.raises(ValueError):
        nt_xent(torch.zeros(4, 3), torch.zeros(5, 3))
