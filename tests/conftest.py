"""Shared pytest set-up.

Every test session uses one persistent kernel cache, separate from the user's
(``~/.cache/taylorjit-tests``, or ``$TAYLORJIT_TEST_CACHE_DIR``), so compiled
kernels are shared across test runs and sessions without touching
``~/.cache/taylorjit``.  Build kernels inside tests or fixtures (not at import
time) so that they land in this directory.  A test that needs an empty cache
uses its own ``tmp_path`` (see ``tests/test_kernels.py``).
"""
import os
from pathlib import Path

import pytest
from hypothesis import settings

# property tests draw the same examples on every run: CI must be reproducible (a random new
# example once hit an ill-conditioned expression and failed an accuracy bound); explore more
# with HYPOTHESIS_PROFILE=explore
settings.register_profile("taylorjit", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "taylorjit"))


def _test_cache_dir() -> Path:
    env = os.environ.get("TAYLORJIT_TEST_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "taylorjit-tests"


@pytest.fixture(scope="session", autouse=True)
def no_background_builds():
    """No background builds of faster kernels (``TAYLORJIT_TIERING=0``): every kernel
    kind computes the same bits, so they would change nothing but the suite's CPU time,
    and how much depends on what the cache already holds.  ``tests/test_tiering.py``
    turns them on where it tests them."""
    old = os.environ.get("TAYLORJIT_TIERING")
    os.environ["TAYLORJIT_TIERING"] = "0"
    yield
    if old is None:
        os.environ.pop("TAYLORJIT_TIERING", None)
    else:
        os.environ["TAYLORJIT_TIERING"] = old


@pytest.fixture(scope="session", autouse=True)
def tj_cache_dir():
    """Point ``TAYLORJIT_CACHE_DIR`` at the persistent test cache for the session."""
    path = _test_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("TAYLORJIT_CACHE_DIR")
    os.environ["TAYLORJIT_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("TAYLORJIT_CACHE_DIR", None)
    else:
        os.environ["TAYLORJIT_CACHE_DIR"] = old


# the files whose first tests compile the most (cold cache: numba builds of the specialised
# kernels and the Taylor VM) run first, so that with ``-n 2 --dist loadfile`` (the README's
# test command) the two workers finish together instead of one waiting for a late heavy file
_HEAVY_FIRST = ("test_functions.py", "test_kernels.py", "test_unrolled.py", "test_gvm.py",
                "test_notebooks.py", "test_examples.py")


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        name = item.path.name
        return _HEAVY_FIRST.index(name) if name in _HEAVY_FIRST else len(_HEAVY_FIRST)

    items.sort(key=rank)      # stable: the order inside a file is kept
