"""Submitted defenses run in a child process: what crosses, what is refused, what a cheat gains."""

import io
import json
import struct
import time

import numpy as np
import pytest

import attacks
import defenses
from benchmark import conformance, plugins
from benchmark.conformance.context import make_world, surrogate_context
from benchmark.core.errors import BenchmarkError
from benchmark.core.metrics import detection_rates
from benchmark.core.settings import PretrainConfig, ProbeConfig
from benchmark.defended import apply_sanitize, run_defense
from benchmark.encoder_cache import EncoderCache
from benchmark.sandbox import codec, landlock, wire
from benchmark.sandbox.defense import content_order
from benchmark.sandbox.process import ROOT
from benchmark.sandbox.remote import set_hook_seconds
from benchmark.trainer import PlanningTrainer
from defenses.base import Operating

README = "authors: tests\npaper: none\nthreat model: pre-processing, the unlabeled set only\n"


def _plugin(tmp_path, name, body, stage="pre"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "README.md").write_text(README)
    (folder / "defense.py").write_text(
        "import os, sys, time\nimport numpy as np\nfrom defenses.base import Defense, register_defense\n\n"
        f"@register_defense({name!r})\nclass Plugin(Defense):\n    stage = {stage!r}\n{body}")
    plugins.load_submission(folder)
    return defenses.create_defense(name)


def test_the_wire_carries_json_and_numeric_arrays_and_nothing_else():
    buf = io.BytesIO()
    wire.send(buf, {"op": "x", "n": 3}, {"a": np.arange(6, dtype=np.int64).reshape(2, 3)})
    buf.seek(0)
    header, arrays = wire.receive(buf)
    assert header == {"op": "x", "n": 3} and np.array_equal(arrays["a"], np.arange(6).reshape(2, 3))
    with pytest.raises(BenchmarkError, match="cannot cross"):
        wire.send(io.BytesIO(), {}, {"o": np.array([object()])})
    for head in [b"not json", json.dumps({"arrays": [["a", "object", [1]]]}).encode(),
                 json.dumps({"arrays": [["a", "float64", [1 << 40]]]}).encode()]:
        with pytest.raises(BenchmarkError):
            wire.receive(io.BytesIO(struct.pack(">Q", len(head)) + head))


def test_the_codec_round_trips_configs_generators_and_operating_points():
    rng = np.random.default_rng(5)
    value = [PretrainConfig(epochs=3, blocks=(1, 1)), ProbeConfig(lr=0.5), rng, {"k": (1, 2)},
             Operating(["ENC"], ProbeConfig(), {"m": 1})]
    arrays = {}
    packed = json.loads(json.dumps(codec.pack(value, arrays, lambda o: {"key": o} if o == "ENC" else None)))
    back = codec.unpack(packed, arrays, lambda h: h["key"])
    assert back[0] == value[0] and back[1] == value[1] and back[3] == {"k": [1, 2]}
    assert back[2].integers(1 << 30) == rng.integers(1 << 30)   # the same stream
    assert back[4].encoders == ["ENC"] and back[4].probe == ProbeConfig()
    with pytest.raises(BenchmarkError, match="cannot cross"):
        codec.pack(object(), {}, lambda o: None)


def test_content_order_does_not_depend_on_positions():
    images = make_world().images
    perm = np.random.default_rng(0).permutation(len(images))
    assert np.array_equal(images[content_order(images)], images[perm][content_order(images[perm])])


def test_a_tail_dropping_or_heap_reading_plugin_gains_nothing(tmp_path):
    w = make_world()
    tail = _plugin(tmp_path, "sb_tail", "    def sanitize(self, images, rng, trainer=None):\n"
                   "        keep = np.ones(len(images), bool); keep[-len(images) // 10:] = False; return keep\n")
    heap = _plugin(tmp_path, "sb_heap", "    def sanitize(self, images, rng, trainer=None):\n"
                   "        objs = getattr(__import__('g' + 'c'), 'get_' + 'objects')()\n"
                   "        flags = [o for o in objs if isinstance(o, np.ndarray) and o.dtype == bool and o.shape == (len(images),)]\n"
                   "        return ~flags[0] if flags else None\n")
    for d in (tail, heap):
        _, keep, _ = apply_sanitize(d, w.images, np.random.default_rng([0, 2]), None)
        keep = np.ones(len(w.images), bool) if keep is None else keep
        fpr, fnr = detection_rates(keep, w.secrets["is_poison"])
        assert fnr >= 0.6, f"{d.name} found the poisons (FNR {fnr:.2f})"   # chance: about 0.9 and 1.0


def test_a_hanging_hook_is_killed_by_the_harness_and_the_plugin_recovers(tmp_path):
    d = _plugin(tmp_path, "sb_sleeper", "    def sanitize(self, images, rng, trainer=None):\n"
                "        time.sleep(600)\n")
    set_hook_seconds(3)
    try:
        start = time.monotonic()
        with pytest.raises(BenchmarkError, match="exceeded its 3 s budget"):
            apply_sanitize(d, np.zeros((4, 32, 32, 3), np.uint8), np.random.default_rng(0))
        assert time.monotonic() - start < 30 and d.process.proc.poll() is not None
        assert defenses.create_defense("sb_sleeper").params() == {}   # a fresh child serves the next instance
    finally:
        set_hook_seconds(4 * 3600)


def test_an_exiting_or_crashing_hook_is_a_one_line_error_never_an_exit(tmp_path):
    exits = _plugin(tmp_path, "sb_exit", "    def sanitize(self, images, rng, trainer=None):\n        sys.exit(0)\n")
    dies = _plugin(tmp_path, "sb_die", "    def sanitize(self, images, rng, trainer=None):\n        os._exit(3)\n")
    images = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(BenchmarkError, match=r"called exit\(0\)"):
        apply_sanitize(exits, images, np.random.default_rng(0))
    with pytest.raises(BenchmarkError, match="process ended during sanitize .exit code 3"):
        apply_sanitize(dies, images, np.random.default_rng(0))


def test_a_plugin_cannot_reach_the_harness_or_the_clean_encoder(tmp_path):
    d = _plugin(tmp_path, "sb_meddler", "    def adjust_pretrain(self, pretrain):\n"
                "        import benchmark.conformance as c; c.run_check = lambda *a: None\n"
                "        return pretrain\n"
                "    def pretrain(self, images, pretrain, trainer, rng):\n"
                "        return [trainer.train(images, pretrain)]\n", stage="in")
    cfg = PretrainConfig(width=4, blocks=(1, 1), epochs=1, batch_size=64)
    assert d.adjust_pretrain(cfg) == cfg and conformance.run_check.__module__ == "benchmark.conformance"
    trainer = PlanningTrainer(EncoderCache(tmp_path / "cache"), 0, cfg)
    clean = make_world().clean
    ordered = clean[content_order(clean)]
    trainer.clean(ordered)
    with pytest.raises(BenchmarkError, match="clean encoder is not available"):
        d.pretrain(ordered, cfg, trainer, np.random.default_rng(0))


def test_the_clean_subset_a_defense_may_ask_for_is_capped(tmp_path):
    class Greedy(defenses.Defense):
        name, stage = "greedy", "post"
        def clean_subset_size(self, n_pretrain):
            return n_pretrain
    images = np.zeros((10, 32, 32, 3), np.uint8)
    with pytest.raises(BenchmarkError, match="at most 5 .0.5 of the clean set"):
        cfg = PretrainConfig(width=4, blocks=(1, 1), epochs=1)
        run_defense(Greedy(), images, images, cfg, ProbeConfig(), PlanningTrainer(EncoderCache(tmp_path), 0, cfg), 0)


def _attack_folder(tmp_path, name: str, source: str):
    """A submission folder holding ``attack.py`` with ``source`` (not loaded yet)."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "README.md").write_text(README)
    (folder / "attack.py").write_text(source)
    return folder


def test_a_submitted_attack_crafts_in_its_own_process_and_may_ask_for_the_surrogate(tmp_path):
    folder = _attack_folder(
        tmp_path, "sb_copier",
        "import numpy as np\nfrom attacks.base import Attack, PoisonSet, register_attack\n\n"
        "@register_attack('sb_copier')\nclass Copier(Attack):\n    needs_surrogate = True\n"
        "    def __init__(self, shift: int = 1):\n        self.shift = int(shift)\n"
        "    def craft(self, targets, rng, context=None):\n"
        "        dim = context.surrogate().encoder.feature_dim\n"
        "        imgs = [np.roll(t.image, self.shift + int(rng.integers(2)), 0) for t in targets for _ in range(t.n_poisons)]\n"
        "        ids = [i for i, t in enumerate(targets) for _ in range(t.n_poisons)]\n"
        "        return PoisonSet(np.stack(imgs), np.array(ids), {'feature_dim': dim})\n")
    plugins.load_submission(folder)
    attack = attacks.create_attack("sb_copier", shift=2)
    assert attack.params() == {"shift": 2} and attack.needs_surrogate
    results = {r.name: r for r in conformance.run_checks("sb_copier", kind="attack", smoke=False)}
    assert all(r.status != conformance.FAIL for r in results.values()), results
    w = make_world()
    rng = np.random.default_rng(0)
    poisons = attack.craft(w.targets, rng, surrogate_context(w))
    assert len(poisons) == sum(t.n_poisons for t in w.targets) and poisons.meta["feature_dim"] > 0
    same = np.random.default_rng(0)
    for _ in range(len(poisons)):
        same.integers(2)
    assert rng.integers(1 << 30) == same.integers(1 << 30)  # the harness's stream advanced as in-process


def test_a_submitted_model_poisoning_attack_is_refused_in_one_line(tmp_path):
    folder = _attack_folder(
        tmp_path, "sb_modeller",
        "from attacks.base import Attack, register_attack\n\n"
        "@register_attack('sb_modeller')\nclass Modeller(Attack):\n    kind = 'backdoor'\n    threat = 'model'\n")
    with pytest.raises(BenchmarkError, match="model-poisoning or release attacks .* not supported"):
        plugins.load_submission(folder)


@pytest.mark.skipif(landlock.abi_version() < 1, reason="this kernel has no Landlock")
def test_a_confined_plugin_cannot_open_files_outside_its_folder_or_signal_the_harness(tmp_path):
    """The cheats that need the disk — the cache's clean checkpoint, earlier records, the data — and
    a plugin that would kill the harness: refused by the kernel, each a one-line error."""
    secret = tmp_path / "cache" / "clean.safetensors"
    secret.parent.mkdir()
    secret.write_text("the clean encoder")
    images = np.zeros((4, 32, 32, 3), np.uint8)
    reader = _plugin(tmp_path, "sb_reader", "    def sanitize(self, images, rng, trainer=None):\n"
                     f"        open({str(secret)!r}).read()\n")
    with pytest.raises(BenchmarkError, match="PermissionError.*Permission denied"):
        apply_sanitize(reader, images, np.random.default_rng(0))
    lister = _plugin(tmp_path, "sb_lister", "    def sanitize(self, images, rng, trainer=None):\n"
                     f"        os.listdir({str(ROOT)!r})\n")
    with pytest.raises(BenchmarkError, match="Permission denied"):
        apply_sanitize(lister, images, np.random.default_rng(0))
    scratch = _plugin(tmp_path, "sb_scratch", "    def sanitize(self, images, rng, trainer=None):\n"
                      "        import tempfile\n        with tempfile.TemporaryFile() as f: f.write(b'x')\n"
                      "        return np.ones(len(images), bool)\n")
    assert apply_sanitize(scratch, images, np.random.default_rng(0))[1].all()   # its own scratch space works
    assert "Landlock" in type(scratch).isolation
    if landlock.abi_version() >= 6:
        killer = _plugin(tmp_path, "sb_killer", "    def sanitize(self, images, rng, trainer=None):\n"
                         "        os.kill(os.getppid(), 9)\n")
        with pytest.raises(BenchmarkError, match="Operation not permitted"):
            apply_sanitize(killer, images, np.random.default_rng(0))
