"""The one override rule: ``--set`` (every command) and experiment cell changes accept exactly the
keys the typed sections and the registered entries' ``__init__`` take, and refuse the rest."""

import dataclasses

import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.evaluate import ProbeConfig
from benchmark.experiment import main as experiment_main
from benchmark.pipeline import changed_config, load_config
from benchmark.run import main as run_main
from benchmark.ssl.simclr import PretrainConfig
from benchmark.core.config import SECTION_KEYS, load_tier


def test_the_typed_sections_know_exactly_the_config_dataclasses_fields():
    assert set(SECTION_KEYS["pretrain"]) == {f.name for f in dataclasses.fields(PretrainConfig)}
    assert set(SECTION_KEYS["probe"]) == {f.name for f in dataclasses.fields(ProbeConfig)}


def test_a_typed_key_the_file_omits_can_be_set_and_a_typo_cannot():
    assert "only_target" not in load_tier("smoke")["threat"]
    assert load_config("smoke", ["threat.only_target=0"])["threat"]["only_target"] == 0
    with pytest.raises(BenchmarkError, match="unknown key 'threat.only_targt'"):
        load_config("smoke", ["threat.only_targt=0"])
    with pytest.raises(BenchmarkError, match="unknown key"):
        load_config("smoke", ["tier.nme=x"])


def test_any_init_parameter_of_a_registered_entry_can_be_set_and_nothing_else():
    cfg = load_config("cpu", ["defense.bagging.alpha=0.01", "attack.poisoned_encoder.crop_scale=0.8"])
    assert cfg["defense"]["bagging"]["alpha"] == 0.01 and cfg["attack"]["poisoned_encoder"]["crop_scale"] == 0.8
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
