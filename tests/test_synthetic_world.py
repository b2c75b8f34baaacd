"""The synthetic world is the installation's own: a plugin that regenerates it from the public code
finds the poisons in the public world and nothing in a run's."""

import sys

import numpy as np
import pytest

import defenses
from benchmark import plugins
from benchmark.conformance.context import make_world
from benchmark.core.errors import BenchmarkError
from benchmark.core.metrics import detection_rates
from benchmark.data import world_salt
from benchmark.data.sources import load_split
from benchmark.data.synthetic import load_synthetic
from benchmark.defended import apply_sanitize
from benchmark.sandbox import landlock
from benchmark.sandbox.child import CODE_PACKAGES
from benchmark.sandbox.process import ROOT

# A pre-stage plugin that "detects" by regeneration: it runs the benchmark's own generator (public
# world, and this process's salt if it can get one) and keeps only the images it regenerated.
REDERIVER = '''
import hashlib
import numpy as np
from defenses.base import Defense, register_defense
from benchmark.data.sources import load_split
from benchmark.data.world_salt import world_salt


@register_defense("sw_rederiver")
class Rederiver(Defense):
    stage = "pre"

    def sanitize(self, images, rng, trainer=None):
        salts = [""]
        try:
            salts.append(world_salt())
        except Exception:
            pass
        known = {hashlib.sha256(im.tobytes()).digest() for s in salts
                 for im in load_split("synthetic", "train", limit=400, salt=s).images}
        keep = np.array([hashlib.sha256(im.tobytes()).digest() in known for im in images])
        return keep if keep.any() else None
'''


@pytest.fixture
def own_installation(tmp_path, monkeypatch):
    """No world chosen in the environment, and a fresh cache home: as a new installation runs."""
    monkeypatch.delenv(world_salt.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "cl-poisonbench" / "synthetic-world.salt"


def test_an_installation_draws_its_salt_once_and_runs_in_its_own_world(own_installation):
    salt = world_salt.world_salt()
    assert own_installation.is_file() and len(salt) == 32 and world_salt.world_salt() == salt
    ours = load_split("synthetic", "train", limit=50)
    assert np.array_equal(ours.images, load_split("synthetic", "train", limit=50, salt=salt).images)
    public = load_split("synthetic", "train", limit=50, salt="")
    assert not np.array_equal(ours.images, public.images)
    assert ours.images.shape == public.images.shape and ours.images.dtype == np.uint8
    labelled = load_split("synth_shapes", "test", limit=60)
    assert set(np.unique(labelled.labels)) <= set(range(len(labelled.class_names)))


def test_the_public_world_and_a_chosen_salt_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(world_salt.ENV, "public")
    assert world_salt.world_salt() == ""
    assert np.array_equal(load_split("synthetic", "test").images[:20],      # the released bytes
                          load_synthetic("synthetic", "test", limit=20).images)
    monkeypatch.setenv(world_salt.ENV, "lab-7")
    assert world_salt.world_salt() == "lab-7"


def test_an_unusable_salt_location_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.delenv(world_salt.ENV, raising=False)
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    with pytest.raises(BenchmarkError, match=f"synthetic world's salt .*set {world_salt.ENV}=public"):
        world_salt.world_salt()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    (tmp_path / "empty" / "cl-poisonbench").mkdir(parents=True)
    (tmp_path / "empty" / "cl-poisonbench" / "synthetic-world.salt").write_text("\n")
    with pytest.raises(BenchmarkError, match="is empty"):
        world_salt.world_salt()


def test_the_default_salt_lies_outside_every_directory_a_confined_plugin_may_read():
    salt = world_salt.salt_path().resolve()
    readable = [p for p in landlock.code_paths(sys.path, ROOT, CODE_PACKAGES)]
    assert readable and not any(salt.is_relative_to(p) for p in readable)


def test_a_plugin_that_regenerates_the_world_finds_the_poisons_only_in_the_public_one(tmp_path, monkeypatch):
    folder = tmp_path / "sw_rederiver"
    folder.mkdir()
    (folder / "README.md").write_text("authors: tests\npaper: none\nthreat model: pre-processing\n")
    (folder / "defense.py").write_text(REDERIVER)
    plugins.load_submission(folder)
    cheat = defenses.create_defense("sw_rederiver")

    def rates(world):
        _, keep, _ = apply_sanitize(cheat, world.images, np.random.default_rng(0), None)
        keep = np.ones(len(world.images), bool) if keep is None else keep
        return detection_rates(keep, world.secrets["is_poison"])

    assert rates(make_world(0, "")) == (0.0, 0.0)       # the cheat is real: public world, every poison
    # A run's world: drawn with a salt held in the harness's environment, which the child is not given.
    monkeypatch.setenv(world_salt.ENV, "a secret of this test")
    fpr, fnr = rates(make_world(0, "a secret of this test"))
    assert fnr == 1.0 and fpr == 0.0                     # nothing regenerated: it keeps everything
