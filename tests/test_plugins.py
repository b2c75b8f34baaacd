"""Plugin discovery and the conformance suite, including deliberately broken plugins."""

import json
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import defenses
from benchmark import plugins
from benchmark.check import main as check_main
from benchmark.conformance import CHECK_NAMES, FAIL, PASS, pytest_params, run_checks
from benchmark.core.errors import BenchmarkError
from benchmark.defended import run_defense
from benchmark.run import main as run_main
from leaderboard.build import main as build_main

BROKEN = Path(__file__).parent / "broken_plugins"


def _load(name):
    return plugins.load_submission(BROKEN / name)


def _status(results):
    return {r.name: r.status for r in results}


@pytest.mark.parametrize("plugin,check", [("mutating_filter", "does_not_mutate_inputs"),
                                          ("random_filter", "deterministic_for_seed"),
                                          ("bad_shape_filter", "output_well_formed")])
def test_suite_catches_broken_plugin(plugin, check):
    _load(plugin)
    status = _status(run_checks(plugin, smoke=False))
    assert status[check] == FAIL
    assert status["constructible_from_defaults"] == PASS


def test_suite_catches_a_plugin_that_raises_on_the_smoke_tier():
    _load("smoke_crash")
    results = {r.name: r for r in run_checks("smoke_crash")}
    assert results["output_well_formed"].status == PASS      # fine on the small check set
    assert results["smoke_tier_within_budget"].status == FAIL
    assert "out of memory (simulated)" in results["smoke_tier_within_budget"].reason


def test_check_cli_exit_codes(capsys):
    assert check_main([str(BROKEN / "bad_shape_filter"), "--fast"]) == 1
    out = capsys.readouterr().out
    assert "fail  defense  output_well_formed" in out and "bool mask" in out
    assert check_main(["no_such_defense"]) == 2


@pytest.mark.parametrize("folder,message", [("import_error", "failed to import: ModuleNotFoundError"),
                                            ("no_readme", "README.md is missing")])
def test_broken_plugins_are_one_line_errors_naming_the_plugin(folder, message):
    with pytest.raises(BenchmarkError, match=message) as exc:
        _load(folder)
    assert f"plugin '{folder}'" in str(exc.value) and "\n" not in str(exc.value)


def test_name_clash_with_a_builtin_is_refused(tmp_path):
    folder = tmp_path / "kmeans"
    folder.mkdir()
    (folder / "defense.py").write_text("")
    (folder / "README.md").write_text("authors, paper, threat model")
    with pytest.raises(BenchmarkError, match="plugin 'kmeans'.*name clash"):
        plugins.load_submission(folder)


def test_entry_point_plugins_are_registered(monkeypatch):
    ep = metadata.EntryPoint(name="ep_spectral_copy", value="defenses.no_crop:NoRandomCrop",
                             group=plugins.KINDS["defense"].group)
    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group: [ep] if group == plugins.KINDS["defense"].group else [])
    assert "ep_spectral_copy" in plugins.load_entry_points()
    assert isinstance(defenses.create_defense("ep_spectral_copy"), defenses.Defense)
    bad = metadata.EntryPoint(name="ep_broken", value="no_such_module:X", group=plugins.KINDS["defense"].group)
    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group: [bad])
    assert plugins.load_entry_points() == []  # skipped, not fatal: built-ins and other plugins still load
    assert "failed to import" in plugins.failures()["ep_broken"]
    with pytest.raises(BenchmarkError, match="plugin 'ep_broken'.*failed to import"):
        plugins.require_loaded("ep_broken")


@pytest.mark.parametrize("result", pytest_params("example_spectral"))
def test_example_submission_conforms(result):
    assert result.status != FAIL, result.reason


def test_example_submission_reaches_the_leaderboard(tmp_path, smoke_cache):
    """Only submissions/example_spectral/ exists for it: run + build put it on the board."""
    results = tmp_path / "results"
    assert run_main(["--defense", "example_spectral", "--results-dir", str(results), "--cache-dir", str(smoke_cache),
                     "--no-progress", "--no-leaderboard"]) == 0
    (path,) = results.rglob("example_spectral/seed0.json")
    assert json.loads(path.read_text())["detection"]["flagged"] > 0
    assert build_main(["--results-dir", str(results), "--output", str(tmp_path / "board.md")]) == 0
    assert "| example_spectral" in (tmp_path / "board.md").read_text()
    assert set(CHECK_NAMES) >= {"no_leakage", "smoke_tier_within_budget"}


def _submission(root, name, source):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "defense.py").write_text(source)
    (folder / "README.md").write_text("authors: A. Author\npaper: https://example.org\nthreat model: none\n")
    return folder


def test_a_broken_or_exiting_submission_neither_silences_nor_blocks_the_others(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(plugins, "_failed", {})  # these failures stay in this test
    _submission(tmp_path, "syntax_error", "def (:\n")
    _submission(tmp_path, "exits_at_import", "raise SystemExit(0)\n")
    monkeypatch.setenv("CL_POISONBENCH_SUBMISSIONS", str(tmp_path))
    plugins.load_plugins()
    assert {"syntax_error", "exits_at_import"} <= set(plugins.failures())
    assert "SystemExit" in plugins.failures()["exits_at_import"]
    code = run_main(["--defense", "exits_at_import", "--results-dir", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "exits_at_import" in err and "\n" not in err
    assert check_main(["syntax_error", "--fast"]) == 2
    assert "SyntaxError" in capsys.readouterr().err
    # Built-ins and other submissions still check: the broken folders are skipped with a warning.
    assert "example_spectral" in defenses.list_defenses()


def test_a_hook_that_calls_exit_is_a_one_line_error(monkeypatch):

    class ExitsInAHook(defenses.Defense):
        name, stage = "exits_in_a_hook", "pre"

        def sanitize(self, images, rng, trainer=None):
            raise SystemExit(0)

    monkeypatch.setitem(defenses.DEFENSES._entries, "exits_in_a_hook", ExitsInAHook)  # registered for this test only

    images = np.zeros((8, 32, 32, 3), np.uint8)
    with pytest.raises(BenchmarkError, match="'exits_in_a_hook' called exit"):
        run_defense(ExitsInAHook(), images, images, {}, {}, None, 0)
    results = {r.name: r for r in run_checks("exits_in_a_hook", smoke=False)}
    assert results["output_well_formed"].status == FAIL and "called exit" in results["output_well_formed"].reason
