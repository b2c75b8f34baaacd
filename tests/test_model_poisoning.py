"""The model-poisoning threat (BadEncoder): the delivered encoder replaces the clean one, is made once
and kept by content, post-stage defenses act on it, pre- and in-stage pairs are no cell."""

import json
import warnings

import numpy as np
import pytest
import torch

import attacks
import defenses
from attacks.base import AttackTarget
from benchmark.core.errors import BenchmarkError, NotApplicable
from benchmark.encoder_cache import EncoderCache
from benchmark.grid import load_grid
from benchmark.model_store import ModelStore, shadow_set
from benchmark.pipeline import not_applicable, run_pipeline
from benchmark.run import main
from benchmark.core.settings import PretrainConfig
from leaderboard.build import render_markdown
from leaderboard.coverage import inapplicable

@pytest.mark.parametrize("name", defenses.list_defenses())
def test_only_post_and_downstream_defenses_meet_a_delivered_model(name):
    stage = defenses.DEFENSES.get(name).stage
    reason = not_applicable(attacks.ATTACKS.get("bad_encoder"), defenses.DEFENSES.get(name))
    assert (reason is not None) == (stage in ("pre", "in"))
    assert not_applicable(attacks.ATTACKS.get("poisoned_encoder"), defenses.DEFENSES.get(name)) is None


def test_a_grid_leaves_out_the_pairs_that_are_no_cell(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('[grid]\nname = "g"\ntier = "smoke"\nattacks = ["bad_encoder", "poisoned_encoder"]\n'
                    'defenses = ["none", "kmeans", "finetune"]\nseeds = [0, 1]\n')
    jobs = {(j.attack, j.defense) for j in load_grid(str(path)).jobs}
    assert jobs == {("bad_encoder", "none"), ("bad_encoder", "finetune"), ("poisoned_encoder", "none"),
                    ("poisoned_encoder", "kmeans"), ("poisoned_encoder", "finetune")}


def test_the_shadow_set_is_a_seeded_slice_of_the_clean_set():
    images = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1) * np.ones((1, 32, 32, 3), np.uint8)
    a, b = shadow_set(images, 10, 3), shadow_set(images, 10, 3)
    assert np.array_equal(a, b) and len({int(x[0, 0, 0]) for x in a}) == 10
    assert not np.array_equal(a, shadow_set(images, 10, 4))
    with pytest.raises(BenchmarkError, match="shadow"):
        shadow_set(images, 51, 0)


def test_the_backdoored_encoder_is_made_once_and_remade_when_its_file_is_corrupt(tmp_path):
    cfg = PretrainConfig(epochs=1, batch_size=32, width=4)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    clean = EncoderCache(tmp_path, progress=False).get(images, cfg, 0, "clean")
    attack = attacks.create_attack("bad_encoder", epochs=1, batch_size=32, shadow_size=32)
    targets = [AttackTarget(images[0], images[1:3], 0)]
    store = ModelStore(tmp_path / "models")
    first = store.get(attack, targets, 0, clean, images[:32])
    again = ModelStore(tmp_path / "models").get(attack, targets, 0, clean, images[:32])
    assert not first.from_cache and again.from_cache and again.key == first.key != clean.key
    for (k, v), w in zip(first.encoder.state_dict().items(), again.encoder.state_dict().values()):
        assert torch.equal(v, w), k
    changed = any(not torch.equal(v, w) for v, w in zip(first.encoder.state_dict().values(),
                                                        clean.encoder.state_dict().values()))
    assert changed
    (first.workdir / "final.safetensors").write_bytes(b"not a checkpoint")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        remade = ModelStore(tmp_path / "models").get(attack, targets, 0, clean, images[:32])
    assert not remade.from_cache and any("corrupt" in str(w.message) for w in caught)


@pytest.fixture(scope="module")
def model_smoke(tmp_path_factory, smoke_cache):
    root = tmp_path_factory.mktemp("model-smoke")
    args = ["--results-dir", str(root), "--cache-dir", str(smoke_cache), "--no-progress", "--attack", "bad_encoder"]
    assert main(args + ["--defense", "none"]) == 0
    assert main(args + ["--defense", "finetune", "--set", "defense.finetune.epochs=1"]) == 0
    return root, args


def test_a_model_poisoning_record_measures_the_delivered_encoder(model_smoke):
    root, _ = model_smoke
    recs = {p.parent.name: json.loads(p.read_text()) for p in root.rglob("seed0.json")}
    none, ft = recs["none"], recs["finetune"]
    assert none["attack_threat"] == "model" and none["attack_kind"] == "backdoor"
    assert none["threat"]["total_poisons"] == 0 and set(none["backdoor"]) == set(none["tasks"])
    assert none["cost"]["cost_multiple"] == pytest.approx(1.0)          # no defense: the delivered encoder as is
    # fine-tuning starts from the delivered encoder (its key), on a clean subset, at an extra cost
    roles = [e["role"] for e in ft["cost"]["encoders"]]
    assert "clean" in roles and len(ft["cost"]["encoders"]) == 2 and ft["cost"]["cost_multiple"] > 1.0
    assert ft["defense_info"]["clean_subset_size"] > 0


def test_a_pre_stage_defense_against_a_delivered_model_writes_nothing(model_smoke, capsys):
    root, args = model_smoke
    before = sorted(root.rglob("*.json"))
    assert main(args + ["--defense", "kmeans"]) == 0
    assert sorted(root.rglob("*.json")) == before and "not applicable" in capsys.readouterr().out


def test_run_pipeline_refuses_the_pair_before_any_work():
    with pytest.raises(NotApplicable):
        run_pipeline(None, attacks.create_attack("bad_encoder"), defenses.create_defense("no_crop"), 0, None, None, None)


def test_the_board_marks_pre_stage_defenses_not_applicable_to_model_rows(model_smoke):
    root, _ = model_smoke
    recs = [json.loads(p.read_text()) for p in root.rglob("seed0.json")]
    kmeans = dict(recs[0], attack="poisoned_encoder", defense="kmeans", attack_threat="data",
                  config=dict(recs[0]["config"], defense={"name": "kmeans", "stage": "pre", "params": {}}))
    kmeans.pop("attack_threat")
    assert inapplicable(recs + [kmeans]) == {("bad_encoder", "kmeans")}
    md = render_markdown(recs + [kmeans], figures=False)
    section = md.split("### Attack `bad_encoder`")[1].split("###")[0]
    assert "| kmeans" in section and "not applicable" in section


def test_the_board_marks_only_the_grids_own_defenses_not_applicable(model_smoke):
    """A defense whose stage is learnt from another grid's records is no cell of a grid that
    neither declares nor measured it: no 'not applicable' row for it there."""
    root, _ = model_smoke
    recs = [json.loads(p.read_text()) for p in root.rglob("seed0.json")]

    def elsewhere(name, stage):  # a record of another grid, only to teach the board the stage
        return dict(recs[0], attack="poisoned_encoder", defense=name, grid_hash="0" * 12,
                    config=dict(recs[0]["config"], defense={"name": name, "stage": stage, "params": {}}))
    others = [elsewhere("no_crop", "in"), elsewhere("localized_cropping", "in")]
    md = render_markdown(recs, figures=False, stages_from=recs + others)
    section = md.split("### Attack `bad_encoder`")[1].split("###")[0]
    assert "| no_crop" in section and "not applicable" in section      # the smoke grid declares no_crop
    assert "localized_cropping" not in section                          # ... but not localized cropping
