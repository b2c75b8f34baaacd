from dataclasses import replace

import numpy as np
import torch

from benchmark.core.settings import PretrainConfig
from benchmark.encoder_cache import EncoderCache
from benchmark.ssl.simclr import load_encoder_checkpoint, pretrain

CFG = PretrainConfig(width=4, blocks=(1, 1), epochs=2, batch_size=32, checkpoint_epochs=(1, 2))


def _images(n=96):
    return np.random.default_rng(0).integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)


def _weights(encoder):
    return {k: v.clone() for k, v in encoder.state_dict().items()}


def test_pretraining_is_deterministic_for_a_seed_and_changes_weights():
    a = pretrain(_images(), CFG, seed=3, progress=False)
    b = pretrain(_images(), CFG, seed=3, progress=False)
    c = pretrain(_images(), CFG, seed=4, progress=False)
    wa, wb, wc = _weights(a.encoder), _weights(b.encoder), _weights(c.encoder)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)
    assert a.image_passes == 2 * 3 * 32 * 2          # epochs × steps × batch × 2 views
    assert len(a.losses) == 2 and all(np.isfinite(a.losses))


def test_a_trained_encoder_keeps_no_gradients():
    # Bagging keeps 100 of these: gradient buffers would double each one's memory for nothing.
    enc = pretrain(_images(), CFG, seed=3, progress=False).encoder
    assert all(p.grad is None for p in enc.parameters())


def test_checkpoints_are_saved_and_a_finished_run_is_loaded(tmp_path):
    first = pretrain(_images(), CFG, seed=1, workdir=tmp_path, progress=False)
    assert sorted(first.epoch_checkpoints) == [1, 2]
    assert all(p.exists() for p in first.epoch_checkpoints.values())
    assert not (tmp_path / "last.safetensors").exists()
    again = pretrain(_images(), CFG, seed=1, workdir=tmp_path, progress=False)
    assert again.from_cache and not first.from_cache
    w1, w2 = _weights(first.encoder), _weights(again.encoder)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    mid = load_encoder_checkpoint(first.epoch_checkpoints[2], CFG)
    assert all(torch.equal(w1[k], v) for k, v in _weights(mid).items())


def test_fine_tuning_starts_from_the_given_encoder(tmp_path):
    """init= continues from another run's weights: with a negligible learning rate the result
    stays at the start point, and the cache key of a fine-tuned encoder depends on its start."""


    cache = EncoderCache(tmp_path, progress=False)
    base = cache.get(_images(), CFG, seed=1)
    tiny = replace(CFG, epochs=1, lr=1e-12, weight_decay=0.0, checkpoint_epochs=())
    tuned = cache.get(_images(64), tiny, seed=2, init=base)
    wb, wt = _weights(base.encoder), _weights(tuned.encoder)
    convs = [k for k in wb if k.endswith("weight") and wb[k].dim() == 4]
    assert convs and all(torch.allclose(wb[k], wt[k], atol=1e-6) for k in convs)
    fresh = cache.get(_images(64), tiny, seed=2)
    assert any(not torch.allclose(wb[k], _weights(fresh.encoder)[k], atol=1e-3) for k in convs)
    assert cache.key(_images(64), tiny, 2, base) != cache.key(_images(64), tiny, 2)
