"""Contract tests parametrized over the registries: a new entry is checked without editing this file."""


import inspect

import pytest
import torch

import attacks
import defenses
from benchmark.core.errors import BenchmarkError
from benchmark.core.registry import Registry, init_params
from benchmark.ssl.encoders import ENCODERS


@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_contract(name):

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
    for name in registry.names():
        entry = create(name)
        assert entry.name == name
        expected = [p for p in list(inspect.signature(type(entry).__init__).parameters)[1:]
                    if p not in ("args", "kwargs")]
        assert sorted(entry.params()) == sorted(expected)


def test_the_decorator_owns_the_name():
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

    class Kept:
        def __init__(self, size: int = 3, shape=(1, 2), *args, **kwargs):
            self.size, self.shape = size, shape

    class Unkept:
        def __init__(self, size: int = 3):
            self._size = size

    assert init_params(Kept(5)) == {"size": 5, "shape": [1, 2]}
    with pytest.raises(AttributeError):
        init_params(Unkept())
