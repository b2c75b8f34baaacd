"""The Landlock allow-list a plugin's child confines itself with (pure parts; the kernel's side is
exercised by tests/test_sandbox.py with real plugins)."""

import tempfile
from pathlib import Path

import pytest

from benchmark.sandbox import landlock


def test_code_paths_keep_code_and_drop_every_directory_that_holds_results_caches_or_temp_files(tmp_path):
    root = tmp_path / "repo"
    (root / "benchmark").mkdir(parents=True)
    site = tmp_path / "py" / "site-packages"
    site.mkdir(parents=True)
    tmp = Path(tempfile.gettempdir()).resolve()
    entries = ["", str(root), str(site), str(root / "missing"), "/", str(Path.home()), str(tmp)]
    got = landlock.code_paths(entries, root, ["benchmark", "attacks"])
    # kept: the code packages and a directory *below* the temp dir; dropped: the root, /, home, temp
    assert got == [str(root.resolve() / "benchmark"), str(root.resolve() / "attacks"), str(site.resolve())]


def test_the_rights_handled_grow_with_the_abi():
    assert landlock.handled_fs(1) == (1 << 13) - 1
    assert landlock.handled_fs(2) == landlock.handled_fs(1) | landlock.REFER
    assert landlock.handled_fs(3) & landlock.TRUNCATE and not landlock.handled_fs(3) & landlock.IOCTL_DEV
    assert landlock.handled_fs(7) == (1 << 16) - 1
    assert landlock.READ & landlock.WRITE_FILE == 0


def test_without_landlock_confining_is_an_error_not_a_silent_pass():
    with pytest.raises(OSError, match="not available"):
        landlock.confine([], [], abi=0)
