import os
from pathlib import Path

import pytest

from benchmark.data.world_salt import ENV, PUBLIC

# The suite runs in the public synthetic world: the same bytes on every machine, so no threshold
# depends on an installation's secret salt (tests of the salt itself unset this).
os.environ[ENV] = PUBLIC

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The offline real-data root when this checkout sits beside ../shared/data; skip otherwise."""
    if not (SHARED_DATA / "cifar10" / "test.tar").is_file():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def smoke_cache(tmp_path_factory) -> Path:
    """One encoder cache for every smoke-tier run in the session: the clean and undefended
    poisoned encoders are trained once and shared, as the benchmark itself shares them."""
    return tmp_path_factory.mktemp("smoke-cache")


def pytest_configure(config):
    # Submissions join the registry before collection, so registry-parametrized tests check them too.
    from benchmark.plugins import load_plugins
    load_plugins()
