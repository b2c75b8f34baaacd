"""The one override rule: ``--set`` (every command) and experiment cell changes accept exactly the
keys the typed sections and the registered entries' ``__init__`` take, and refuse the rest."""

import dataclasses

import pytest

from benchmark.core.errors import BenchmarkError

from benchmark.experiment import main as experiment_main
from benchmark.pipeline import changed_config, load_config
from benchmark.run import main as run_main

from benchmark.core.config import SECTION_KEYS, load_tier
from benchmark.core.records import grid_hash
from benchmark.core.settings import PretrainConfig, ProbeConfig, ThreatConfig


def test_the_typed_sections_know_exactly_the_config_dataclasses_fields():
    assert set(SECTION_KEYS["pretrain"]) == {f.name for f in dataclasses.fields(PretrainConfig)}
    assert set(SECTION_KEYS["probe"]) == {f.name for f in dataclasses.fields(ProbeConfig)}
    assert set(SECTION_KEYS["threat"]) == {f.name for f in dataclasses.fields(ThreatConfig)}


def test_a_loaded_tier_is_typed_and_frozen():
    cfg = load_tier("cpu", ["pretrain.epochs=7", "probe.lr=0.01"])
    assert isinstance(cfg.pretrain, PretrainConfig) and cfg.pretrain.epochs == 7 and cfg.pretrain.blocks == (2, 2, 2, 2)
    assert isinstance(cfg.probe, ProbeConfig) and cfg.probe.lr == 0.01
    assert cfg.pretrain_data.name == "cifar10" and [t.name for t in cfg.tasks] == ["gtsrb", "facemask", "cifar10"]
    assert cfg.seeds == (0, 1, 2)
    for obj, attr in [(cfg, "name"), (cfg.pretrain, "epochs"), (cfg.probe, "lr"), (cfg.threat, "poison_rate")]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, attr, 1)
    params = cfg.entry_params("defense", "bagging")
    params["n_models"] = 0  # a copy: the tier keeps its own
    assert cfg.entry_params("defense", "bagging")["n_models"] != 0


def test_the_grid_hash_is_the_files_whatever_defaults_the_dataclasses_fill_in():
    cfg = load_tier("smoke")
    assert cfg.grid_hash() == grid_hash(cfg.as_dict())
    assert load_tier("smoke", ["threat.only_target=-1"]).grid_hash() != cfg.grid_hash()  # set explicitly: recorded


def test_an_unknown_augment_key_is_a_one_line_error():
    with pytest.raises(BenchmarkError, match=r"\[pretrain\].*crop_scal"):
        load_tier("smoke", ['pretrain.augment={"crop_scal": [0.5, 1.0]}'])


def test_a_typed_key_the_file_omits_can_be_set_and_a_typo_cannot():
    assert "only_target" not in load_tier("smoke").as_dict()["threat"]
    assert load_tier("smoke").threat.only_target == -1  # the dataclass's default
    assert load_config("smoke", ["threat.only_target=0"]).threat.only_target == 0
    with pytest.raises(BenchmarkError, match="unknown key 'threat.only_targt'"):
        load_config("smoke", ["threat.only_targt=0"])
    with pytest.raises(BenchmarkError, match="unknown key"):
        load_config("smoke", ["tier.nme=x"])


def test_any_init_parameter_of_a_registered_entry_can_be_set_and_nothing_else():
    cfg = load_config("cpu", ["defense.bagging.alpha=0.01", "attack.poisoned_encoder.crop_scale=0.8"])
    assert cfg.entry_params("defense", "bagging")["alpha"] == 0.01
    assert cfg.entry_params("attack", "poisoned_encoder")["crop_scale"] == 0.8
    with pytest.raises(BenchmarkError, match="defense 'bagging' has no parameter alpah"):
        load_config("cpu", ["defense.bagging.alpah=0.01"])
    with pytest.raises(BenchmarkError, match="unknown defense 'bagginz'"):
        load_config("cpu", ["defense.bagginz.alpha=0.01"])
    with pytest.raises(BenchmarkError, match="NAME.PARAMETER"):
        load_config("cpu", ["defense.bagging=3"])


def test_experiment_changes_use_the_same_rule():
    with pytest.raises(BenchmarkError, match="no parameter"):
        changed_config(load_tier("smoke"), {"defense.finetune.clean_fractio": 0.1})


@pytest.mark.parametrize("main,argv", [(run_main, ["--dry-run", "--grid", "smoke"]),
                                       (run_main, ["--no-progress", "--attack", "none"]),
                                       (experiment_main, ["table1", "--tag", "x"])])
def test_every_command_refuses_the_same_typo_in_one_line(main, argv, tmp_path, capsys):
    code = main([*argv, "--set", "defense.bagging.alpah=0.01", "--results-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "no parameter alpah" in err and "\n" not in err
