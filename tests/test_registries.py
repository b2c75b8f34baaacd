"""Contract tests parametrized over the registries: a new entry is checked without editing this file."""

import json

import numpy as np
import pytest

import attacks
import defenses
from attacks.base import AttackTarget
from benchmark.errors import BenchmarkError
from benchmark.ssl.encoders import ENCODERS


@pytest.mark.parametrize("name", attacks.list_attacks())
def test_attack_contract(name):
    attacks.create_attack(name)  # constructible from the paper's defaults
    from benchmark.tiers import load_tier
    attack = attacks.create_attack(name, **load_tier("smoke").get("attack", {}).get(name, {}))
    json.dumps(attack.params())
    targets = [AttackTarget(np.full((32, 32, 3), 50 * i, np.uint8), np.full((4, 32, 32, 3), 200, np.uint8), 7)
               for i in range(2)]
    before = [t.image.copy() for t in targets]
    from attacks.base import AttackContext
    from benchmark.ssl.simclr import PretrainConfig, SimCLRModel, build_encoder
    tiny = AttackContext(surrogate=lambda: SimCLRModel(build_encoder(PretrainConfig(width=4, blocks=(1, 1)))))
    poisons = attack.craft(targets, np.random.default_rng(0), tiny)
    assert poisons.images.dtype == np.uint8 and poisons.images.shape[1:] == (32, 32, 3)
    assert len(poisons.target_ids) == len(poisons.images)
    assert all(np.array_equal(b, t.image) for b, t in zip(before, targets))


@pytest.mark.parametrize("name", defenses.list_defenses())
def test_defense_contract(name):
    defense = defenses.create_defense(name)
    assert defense.stage in defenses.STAGES
    json.dumps(defense.params())
    images = np.random.default_rng(0).integers(0, 255, (40, 32, 32, 3), dtype=np.uint8)
    copy = images.copy()
    from benchmark.conformance import StubTrainer
    keep = defense.sanitize(images, np.random.default_rng(0), StubTrainer(0, {"arch": "resnet18", "width": 4,
                                                                              "blocks": [1, 1], "epochs": 1,
                                                                              "batch_size": 16}))
    assert np.array_equal(images, copy)
    assert keep is None or (np.asarray(keep).dtype == bool and np.asarray(keep).shape == (40,))


@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_contract(name):
    import torch

    enc = ENCODERS.create(name, width=4, blocks=(1, 1))
    out = enc(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, enc.feature_dim)


@pytest.mark.parametrize("registry,create", [(attacks.ATTACKS, attacks.create_attack),
                                             (defenses.DEFENSES, defenses.create_defense)])
def test_unknown_names_and_parameters_are_user_errors(registry, create):
    with pytest.raises(BenchmarkError, match="unknown"):
        create("no_such_entry")
    with pytest.raises(BenchmarkError, match="bad parameters"):
        create(registry.names()[0], no_such_parameter=1)


@pytest.mark.parametrize("registry,create", [(attacks.ATTACKS, attacks.create_attack),
                                             (defenses.DEFENSES, defenses.create_defense)])
def test_every_entry_is_named_by_its_registration_and_records_its_init_parameters(registry, create):
    import inspect
    for name in registry.names():
        entry = create(name)
        assert entry.name == name
        expected = [p for p in list(inspect.signature(type(entry).__init__).parameters)[1:]
                    if p not in ("args", "kwargs")]
        assert sorted(entry.params()) == sorted(expected)


def test_the_decorator_owns_the_name():
    from benchmark.registry import Registry
    reg = Registry("thing")

    @reg.register("plain")
    class Plain:
        def __init__(self, size: int = 3, shape=(1, 2)):
            self.size, self.shape = size, shape

    assert Plain.name == "plain"
    with pytest.raises(BenchmarkError, match="owns the name"):
        @reg.register("other")
        class Disagrees:
            name = "something_else"


def test_init_params_reads_init_back_and_fails_loudly_on_an_unkept_parameter():
    from benchmark.registry import init_params

    class Kept:
        def __init__(self, size: int = 3, shape=(1, 2), *args, **kwargs):
            self.size, self.shape = size, shape

    class Unkept:
        def __init__(self, size: int = 3):
            self._size = size

    assert init_params(Kept(5)) == {"size": 5, "shape": [1, 2]}
    with pytest.raises(AttributeError):
        init_params(Unkept())
