"""Shared set-up of the test suite.

- Training on demand is switched off: `lab.result()` must find stored results, never
  train them (`$LAB_ALLOW_TRAINING=0`, forced before `lab` is imported).
- `$LAB_DATA_DIR` defaults to `../shared/datasets` beside the repository root, the
  offline copies of the datasets (see shared/datasets/README.md).
- The real datasets are loaded once per session, from the default Keras home, so
  that the arrays rebuilt from the CIFAR-10 JPEG copy are cached there and shared.
  Where no network and no offline folder can provide them, the tests that need them
  (and every chapter execution) are skipped with the reason, unless
  `$LAB_REQUIRE_DATA` is 1: CI sets it, so that a skip there is a failure.
"""

from __future__ import annotations

import os
import urllib.error
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

os.environ["LAB_ALLOW_TRAINING"] = "0"
if not os.environ.get("LAB_DATA_DIR") and (SHARED / "datasets").is_dir():
    os.environ["LAB_DATA_DIR"] = str(SHARED / "datasets")


def pytest_configure(config):
    """`$LAB_TEST_OFFLINE=1`: behave as a machine without network (every Keras download fails)."""
    if os.environ.get("LAB_TEST_OFFLINE") == "1":
        from keras.src.utils import file_utils

        def refuse(url, *args, **kwargs):
            raise urllib.error.URLError("no network ($LAB_TEST_OFFLINE=1)")

        file_utils.urlretrieve = refuse


def shared_dir() -> Path | None:
    """The `shared/` folder: beside the repository root, else the parent of `$LAB_DATA_DIR`."""
    candidates = [SHARED]
    if os.environ.get("LAB_DATA_DIR"):
        candidates.append(Path(os.environ["LAB_DATA_DIR"]).expanduser().resolve().parent)
    return next((c for c in candidates if c.is_dir()), None)


def _load_or_skip(loader):
    from lab import data

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loaded = loader()
        except data.DatasetUnavailableError as error:
            reason = f"dataset unavailable (no network and no offline copy): {error}"
            if os.environ.get("LAB_REQUIRE_DATA", "").strip().lower() in ("1", "true", "yes", "on"):
                pytest.fail(f"{reason}\n($LAB_REQUIRE_DATA is set: the datasets must be there)")
            pytest.skip(reason)
    return loaded, [w for w in caught if issubclass(w.category, data.NotGenuineDataWarning)]


@pytest.fixture(scope="session")
def shared():
    """The `shared/` folder (brief and datasets), or None where there is none."""
    return shared_dir()


@pytest.fixture(scope="session")
def fashion():
    """Fashion-MNIST as `lab.data.load_fashion_mnist()` returns it, loaded once."""
    from lab import data

    return _load_or_skip(data.load_fashion_mnist)[0]


@pytest.fixture(scope="session")
def cifar_with_warnings():
    """CIFAR-10 as `lab.data.load_cifar10()` returns it, and the NotGenuineDataWarnings emitted."""
    from lab import data

    return _load_or_skip(data.load_cifar10)


@pytest.fixture(scope="session")
def cifar(cifar_with_warnings):
    return cifar_with_warnings[0]


@pytest.fixture
def fresh_keras_home(tmp_path, monkeypatch):
    """An empty Keras home for one test.

    Keras reads `$KERAS_HOME` once, at import, into `keras.src.backend.config._KERAS_DIR`;
    both `keras.utils.get_file` and `lab.data.keras_home()` read that variable.
    """
    from keras.src.backend import config

    home = tmp_path / "keras-home"
    home.mkdir()
    monkeypatch.setattr(config, "_KERAS_DIR", str(home))
    return home


@pytest.fixture
def no_network(monkeypatch):
    """Make every Keras download fail at once, as on a machine without internet."""
    from keras.src.utils import file_utils

    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError("no network in the tests")

    monkeypatch.setattr(file_utils, "urlretrieve", refuse)


@pytest.fixture
def results_root(tmp_path, monkeypatch):
    """An empty results folder, also set as `$LAB_RESULTS_DIR`."""
    root = tmp_path / "results"
    root.mkdir()
    monkeypatch.setenv("LAB_RESULTS_DIR", str(root))
    return root
