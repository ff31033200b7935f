"""Store and read training runs under `results/<experiment>/seed-<n>/`.

A run is two files: `run.json` (configuration, metrics, history, provenance) and
`predictions-<digest>.npz` (test-set probabilities, float16, and the true labels).
`run.json` names its predictions file, whose name carries a digest of its content.
Each file is written to a temporary name and renamed into place, predictions
first: a run killed at any moment leaves either the previous complete result or
the new one, never a mix of the two.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS_DIR_VARIABLE = "LAB_RESULTS_DIR"
PRESENT, STALE, MISSING = "present", "stale", "missing"


class StoredResultError(RuntimeError):
    """A stored result that is missing, stale or unreadable where one is required."""


def results_dir() -> Path:
    """`$LAB_RESULTS_DIR`, else the repository's `results/` folder."""
    value = os.environ.get(RESULTS_DIR_VARIABLE)
    return Path(value) if value else Path(__file__).resolve().parent.parent / "results"


def run_dir(name: str, seed: int, root: Path | None = None) -> Path:
    return (root or results_dir()) / name / f"seed-{seed}"


class Run:
    """A stored run: its `run.json` record, and its test predictions read on demand."""

    def __init__(self, record: dict, folder: Path):
        self.record, self.folder = record, folder

    def __getitem__(self, key):
        return self.record[key]

    def __repr__(self):
        return f"Run({self.name!r}, seed={self.seed}, test accuracy={self.accuracy('test'):.4f})"

    name = property(lambda self: self.record["experiment"])
    seed = property(lambda self: self.record["seed"])
    config = property(lambda self: self.record["config"])

    def accuracy(self, split: str) -> float:
        return self.record["metrics"][split]["accuracy"]

    def loss(self, split: str) -> float:
        return self.record["metrics"][split]["loss"]

    @cached_property
    def history(self) -> pd.DataFrame:
        """One row per epoch (from 1): loss, accuracy, val_loss, val_accuracy, seconds."""
        table = pd.DataFrame(self.record["history"])
        table.index = pd.RangeIndex(1, len(table) + 1, name="epoch")
        return table

    @cached_property
    def _predictions(self):
        with np.load(self.folder / self.record["predictions"]) as stored:
            return stored["probabilities"].astype(np.float32), stored["y_true"].astype(np.int64)

    @property
    def probabilities(self) -> np.ndarray:
        return self._predictions[0]

    @property
    def y_true(self) -> np.ndarray:
        return self._predictions[1]

    @property
    def y_pred(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)


# Writing


def _write_atomically(path: Path, write) -> None:
    """Call `write(file)` on a temporary file beside `path`, then rename it into place."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; results are shared files
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save(record: dict, probabilities: np.ndarray, y_true: np.ndarray, root: Path | None = None) -> Run:
    """Store a run atomically; the previous run of the same experiment and seed is replaced."""
    folder = run_dir(record["experiment"], record["seed"], root)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = _npz_bytes(probabilities.astype(np.float16), y_true.astype(np.uint8))
    predictions = f"predictions-{hashlib.sha256(buffer).hexdigest()[:12]}.npz"
    _write_atomically(folder / predictions, lambda file: file.write(buffer))
    record = {**record, "predictions": predictions}
    text = json.dumps(record, indent=1, ensure_ascii=False) + "\n"
    _write_atomically(folder / "run.json", lambda file: file.write(text.encode()))
    for old in folder.glob("predictions-*.npz"):
        if old.name != predictions:
            old.unlink()
    return Run(record, folder)


def _npz_bytes(probabilities, y_true) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, probabilities=probabilities, y_true=y_true)
    return buffer.getvalue()


# Reading


def load(name: str, seed: int = 0, root: Path | None = None) -> Run:
    """The stored run, whatever its freshness; `StoredResultError` if there is none."""
    folder = run_dir(name, seed, root)
    path = folder / "run.json"
    if not path.is_file():
        raise StoredResultError(f"no stored result for {name!r} seed {seed} (looked for {path}); "
                                f"train it with: lab train {name} --seeds {seed}")  # fmt: skip
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise StoredResultError(f"{path} is not valid JSON ({error}); retrain with: lab train {name}") from None
    if not isinstance(record, dict) or "experiment" not in record:
        raise StoredResultError(f"{path} is not a run record; retrain with: lab train {name}")
    if not (folder / record.get("predictions", "")).is_file():
        raise StoredResultError(f"{path} names a predictions file that is missing; retrain with: lab train {name}")
    return Run(record, folder)


def status(experiment, seed: int = 0, root: Path | None = None) -> str:
    """`present` (fresh), `stale` (stored under another configuration) or `missing`."""
    try:
        run = load(experiment.name, seed, root)
    except StoredResultError:
        return MISSING
    return PRESENT if run["config_hash"] == experiment.config_hash() else STALE


def stored_seeds(name: str, root: Path | None = None) -> list[int]:
    folder = (root or results_dir()) / name
    seeds = [p.name.removeprefix("seed-") for p in folder.glob("seed-*") if (p / "run.json").is_file()]
    return sorted(int(seed) for seed in seeds if seed.isdigit())
