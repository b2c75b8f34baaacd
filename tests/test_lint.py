"""ruff, configured in pyproject.toml, passes on the whole tree (skipped where ruff is not installed;
the dev extra installs it, so CI runs it)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed (pip install -e '.[dev]')")
def test_ruff_is_clean():
    done = subprocess.run(["ruff", "check", "--no-cache", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("mypy") is None, reason="mypy is not installed (pip install -e '.[dev]')")
def test_mypy_is_clean_on_the_core():
    """The torch-free core is typed and checked (configured in pyproject.toml's [tool.mypy])."""
    done = subprocess.run(["mypy", "benchmark/core"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
