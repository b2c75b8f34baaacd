"""Stored poisons: crafted once per (attack, params, version, threat, seed, surrogate), verified on read."""

import json

import numpy as np
import pytest

import attacks
from attacks.base import Attack, AttackTarget, PoisonSet
from benchmark.poison_store import PoisonStore, dataset_sha256, targets_sha256
from benchmark.run import main


class Brewer(Attack):
    name = "brewer"
    cache_poisons = True

    def __init__(self, steps=3):
        self.steps, self.calls = steps, 0

    def params(self):
        return {"steps": self.steps}

    def craft(self, targets, rng, context=None):
        self.calls += 1
        n = sum(t.n_poisons for t in targets)
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        return PoisonSet(images, np.repeat(np.arange(len(targets)), [t.n_poisons for t in targets]),
                         {"brew_seconds": 1.5, "matching_loss": [[0.9, 0.5]]})


def _targets(value=7):
    img = np.full((32, 32, 3), value, np.uint8)
    return [AttackTarget(img, np.stack([img, img + 1]), 4), AttackTarget(img + 2, np.stack([img]), 3)]


def _get(store, attack, targets=None, seed=0, surrogate="clean-key"):
    targets = targets or _targets()
    return store.get(attack, targets_sha256(targets), seed, surrogate, lambda: attack.craft(targets, np.random.default_rng([seed, 1])))


def test_a_stored_brew_is_crafted_once_and_read_back_identically(tmp_path):
    store, attack = PoisonStore(tmp_path), Brewer()
    first, second = _get(store, attack), _get(store, attack)
    assert attack.calls == 1
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.target_ids, second.target_ids)
    assert first.meta["from_cache"] is False and second.meta["from_cache"] is True
    assert second.meta["brew_seconds"] == 1.5 and second.meta["matching_loss"] == [[0.9, 0.5]]   # the brew's own cost


@pytest.mark.parametrize("change", ["seed", "surrogate", "params", "version", "targets"])
def test_anything_the_poisons_depend_on_changes_the_key(tmp_path, change):
    store, attack = PoisonStore(tmp_path), Brewer()
    _get(store, attack)
    other = Brewer(steps=4) if change == "params" else attack
    if change == "version":
        other.version = "2"
    _get(store, other, targets=_targets(9) if change == "targets" else None,
         seed=1 if change == "seed" else 0, surrogate="other-key" if change == "surrogate" else "clean-key")
    assert attack.calls + (other.calls if other is not attack else 0) == 2


def test_a_tampered_brew_is_crafted_again_with_a_warning(tmp_path):
    store, attack = PoisonStore(tmp_path), Brewer()
    first = _get(store, attack)
    path = store.path(attack, targets_sha256(_targets()), 0, "clean-key")
    raw = bytearray(path.read_bytes())
    raw[-20] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match="fails its checksum"):
        again = _get(store, attack)
    assert attack.calls == 2 and again.meta["from_cache"] is False
    np.testing.assert_array_equal(first.images, again.images)
    assert _get(store, attack).meta["from_cache"] is True                      # the rewritten copy verifies


def test_attacks_that_do_not_store_their_poisons_are_always_crafted(tmp_path):
    store, attack = PoisonStore(tmp_path), Brewer()
    attack.cache_poisons = False
    _get(store, attack), _get(store, attack)
    assert attack.calls == 2 and not any(tmp_path.rglob("*.npz"))
    assert store.lookup(attack, targets_sha256(_targets()), 0, "clean-key") is None


def test_a_release_is_keyed_by_every_image_and_label_of_the_set_it_perturbs():
    images = np.zeros((4, 32, 32, 3), np.uint8)
    labels = np.arange(4)
    changed = images.copy()
    changed[3, 31, 31, 2] = 1
    digests = {dataset_sha256(images, labels), dataset_sha256(changed, labels), dataset_sha256(images, labels[::-1])}
    assert len(digests) == 3 and dataset_sha256(images, labels) == dataset_sha256(images.copy(), list(labels))


def test_witches_brew_stores_its_poisons_and_the_closed_form_attacks_do_not():
    assert attacks.create_attack("witches_brew").cache_poisons is True
    assert attacks.create_attack("contrastive_poisoning").cache_poisons is True
    assert not attacks.create_attack("poisoned_encoder").cache_poisons and not attacks.create_attack("icp").cache_poisons


def test_a_second_defense_of_the_same_seed_reuses_the_brew(tmp_path, smoke_cache):
    """Through the runner: the smoke tier's Witches' Brew brewed for one defense is read back for
    another, and the record says so while keeping the brew's own cost."""

    common = ["--cache-dir", str(smoke_cache), "--no-progress", "--no-leaderboard", "--attack", "witches_brew",
              "--results-dir", str(tmp_path)]
    assert main(common + ["--defense", "none"]) == 0
    assert main(common + ["--defense", "early_stopping"]) == 0
    first, second = (json.loads(next(tmp_path.rglob(f"witches_brew/{d}/seed0.json")).read_text())
                     for d in ("none", "early_stopping"))
    assert second["attack_meta"]["from_cache"] is True and "from_cache" in first["attack_meta"]
    assert second["attack_meta"]["brew_seconds"] == first["attack_meta"]["brew_seconds"] > 0
    assert second["cost"]["stages"]["attack"]["wall_seconds"] < first["attack_meta"]["brew_seconds"]
    # Same poisons → same poisoned training set → the very encoder the undefended cell trained.
    keys = [{e["key"] for e in r["cost"]["encoders"] if e["role"] != "clean"} for r in (first, second)]
    assert keys[0] == keys[1] and len(keys[0]) == 1
