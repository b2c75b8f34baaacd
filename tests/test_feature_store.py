"""The on-disk feature cache: reused by content, verified on read, rebuilt when tampered."""

import warnings

import numpy as np
import pytest
import torch

from benchmark.downstream import FeatureMemo
from benchmark.evaluate import extract_features
from benchmark.feature_store import FeatureStore
from benchmark.ssl.encoders import resnet18


class Counter:
    def __init__(self, value):
        self.calls, self.value = 0, value

    def __call__(self):
        self.calls += 1
        return self.value


def _images(seed=0, n=6):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def test_second_read_comes_from_disk_in_a_new_store(tmp_path):
    images, feats = _images(), np.arange(12, dtype=np.float32).reshape(6, 2)
    first = Counter(feats)
    np.testing.assert_array_equal(FeatureStore(tmp_path).get("enc-a", images, first), feats)
    again = Counter(feats * 0)
    np.testing.assert_array_equal(FeatureStore(tmp_path).get("enc-a", images, again), feats)
    assert (first.calls, again.calls) == (1, 0)


def test_key_and_images_both_address_the_entry(tmp_path):
    store, feats = FeatureStore(tmp_path), np.ones((6, 2), np.float32)
    store.get("enc-a", _images(0), Counter(feats))
    other_key, other_images = Counter(feats), Counter(feats)
    store.get("enc-b", _images(0), other_key)
    store.get("enc-a", _images(1), other_images)
    assert other_key.calls == 1 and other_images.calls == 1


def test_no_key_is_never_cached(tmp_path):
    c = Counter(np.zeros((6, 2), np.float32))
    FeatureStore(tmp_path).get(None, _images(), c)
    FeatureStore(tmp_path).get(None, _images(), c)
    assert c.calls == 2 and not any(tmp_path.iterdir())


def test_tampered_entry_is_detected_and_rebuilt(tmp_path):
    images, feats = _images(), np.full((6, 2), 3.0, np.float32)
    store = FeatureStore(tmp_path)
    store.get("enc-a", images, Counter(feats))
    path = store.path("enc-a", images)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    c = Counter(feats)
    with pytest.warns(RuntimeWarning, match="checksum"):
        out = FeatureStore(tmp_path).get("enc-a", images, c)
    assert c.calls == 1
    np.testing.assert_array_equal(out, feats)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FeatureStore(tmp_path).get("enc-a", images, Counter(feats))  # repaired: no warning now


def test_memo_uses_the_members_key_and_matches_fresh_extraction(tmp_path):
    torch.manual_seed(0)
    enc = resnet18(width=4, blocks=(1, 1, 1, 1))

    class Member:  # what the encoder cache hands out: a module plus its content key
        encoder, key = enc, "enc-key"

    images = _images(n=5)
    got = FeatureMemo("cpu", FeatureStore(tmp_path))(Member(), "task/test", images)
    assert FeatureStore(tmp_path).path("enc-key", images).exists()
    np.testing.assert_allclose(got, extract_features(enc, images), rtol=0, atol=1e-5)


def test_an_ensemble_members_features_are_not_held_by_the_memo():
    """keep=False (bagging's members, each probed once): the same features, none held in memory —
    100 members' features of every split would otherwise hold gigabytes (measured 7 GB at cpu_continued)."""
    torch.manual_seed(0)
    enc = resnet18(width=4, blocks=(1, 1, 1, 1))
    images, memo = _images(n=5), FeatureMemo("cpu")
    transient = memo(enc, "task/test", images, keep=False)
    assert memo._store == {}
    np.testing.assert_array_equal(transient, memo(enc, "task/test", images))
    assert len(memo._store) == 1


def test_folded_batchnorm_extraction_matches_the_eager_encoder():
    torch.manual_seed(1)
    enc = resnet18(width=4, blocks=(1, 1, 1, 1))
    enc.train()(torch.rand(8, 3, 32, 32))  # non-trivial running statistics to fold
    images = _images(n=4)
    with torch.inference_mode():
        eager = enc.eval()(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).numpy()
    np.testing.assert_allclose(extract_features(enc, images), eager, rtol=1e-4, atol=1e-5)
