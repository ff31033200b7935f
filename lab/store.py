"""Store and read training runs under `results-next/<experiment>/seed-<n>/` (`DEFAULT_RESULTS_FOLDER`).

A run is two files: `run.json` (configuration, metrics, history, provenance) and
`predictions-<digest>.npz` (test-set probabilities, float16, and the true labels;
since the chapter "Aller plus loin", the validation split's too), and, for the runs
trained since then, a third: `weights-<digest>.npz`, the trained model's weights
(float32). `run.json` names these files, whose names carry a digest of their content.
Each file is written to a temporary name and renamed into place, predictions
first: a run killed at any moment leaves either the previous complete result or
the new one, never a mix of the two. Writers of one run folder take its lock
(`.lock`), so that two processes saving the same run cannot delete each other's
predictions.

Reading checks what was written: `run.json` must be UTF-8 JSON with the fields of a
run, the predictions file must carry the digest its name says, and the accuracy it
gives must be the stored test accuracy. A run that fails a check is `corrupt`: it is
never served, `lab status` reports it and `lab train --missing` retrains it. Every field a
reader uses is checked against what it must be (`check_record`): the experiment and seed of
its folder, finite accuracies between 0 and 1 and finite non-negative losses on every split,
a history of such rows. A file that cannot be written (a full disk, a read-only folder) is
a `ResultsNotWritableError` that names it; what was stored before stays as it was.

Imports from lab: nothing (every other module may import this one).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import math
import numbers
import os
import tempfile
import zipfile
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS_DIR_VARIABLE = "LAB_RESULTS_DIR"
PRESENT, STALE, MISSING, CORRUPT = "present", "stale", "missing", "corrupt"
STATES = (PRESENT, STALE, MISSING, CORRUPT)
# The fields every reader of a run relies on.
REQUIRED_FIELDS = ("experiment", "seed", "config", "config_hash", "metrics", "history", "predictions")
SPLITS = ("train", "val", "test")
SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test"}
# One row of a run's history per epoch: its metrics, and its wall time.
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")
# How this lab trains, recorded in every run it stores and in each results folder (`PROCEDURE_FILE`):
# 2: a new batch order every epoch, drawn from (seed, epoch) (`lab.train.batch_order`);
# 1: one batch order for all epochs (Keras' seeded shuffle), the runs stored until 2026-12-04.
# A run is fresh only in a folder of its own procedure: the book never mixes runs of the two.
PROCEDURE = 2
PROCEDURE_FILE = "procedure.json"
PROCEDURES = {1: "one batch order for all epochs (Keras' seeded shuffle)",
              2: "a new batch order every epoch, drawn from (seed, epoch)"}  # fmt: skip
# Probabilities are stored as float16: rounding may flip the argmax of a near tie.
ACCURACY_TOLERANCE = 2e-3


class StoredResultError(RuntimeError):
    """A stored result that is missing, stale or unreadable where one is required."""


class CorruptResultError(StoredResultError):
    """A stored result whose files are unreadable or disagree with each other."""


class ResultsNotWritableError(OSError):
    """The results folder cannot be written: training there would be lost at the end."""


# The repository's folder of stored runs, those of this lab's procedure, which the book reads. (The runs of
# procedure 1 lived in results/ and were deleted on 2026-12-06; this folder takes that name in a later session,
# a move being up to 215 MiB of diff where rename detection is off.)
DEFAULT_RESULTS_FOLDER = "results-next"


def results_dir() -> Path:
    """`$LAB_RESULTS_DIR`, else the repository's `DEFAULT_RESULTS_FOLDER`."""
    value = os.environ.get(RESULTS_DIR_VARIABLE)
    return Path(value) if value else Path(__file__).resolve().parent.parent / DEFAULT_RESULTS_FOLDER


def run_dir(name: str, seed: int, root: Path | None = None) -> Path:
    return (root or results_dir()) / name / f"seed-{seed}"


def checkpoints_dir(root: Path | None = None) -> Path:
    """Where interrupted trainings keep their state (not committed; see lab.train)."""
    return (root or results_dir()) / ".checkpoints"


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

    @cached_property
    def validation(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The validation split's (probabilities, true labels), for the runs that stored them."""
        return self._stored_split("val_probabilities", "y_val")

    def predictions(self, split: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The (probabilities, true labels) of `split`: "test", or "val" where stored (else None, as for "train")."""
        if split == "test":
            return self.probabilities, self.y_true
        return self.validation if split == "val" else None

    def _stored_split(self, probabilities: str, labels: str) -> tuple[np.ndarray, np.ndarray] | None:
        with np.load(self.folder / self.record["predictions"]) as stored:
            if probabilities not in stored.files:
                return None
            return stored[probabilities].astype(np.float32), stored[labels].astype(np.int64)

    def weights(self) -> list[np.ndarray] | None:
        """The trained model's weights, in `model.get_weights()` order, for the runs that stored them."""
        if "weights" not in self.record:
            return None
        with np.load(self.folder / self.record["weights"]) as stored:
            return [stored[f"w{i:03d}"] for i in range(len(stored.files))]


# Writing


# The errors of a folder or a disk that refuses a file: reported in one line, not as a traceback.
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST,
                errno.EISDIR, errno.EFBIG)  # fmt: skip


def write_atomically(path: Path, write) -> None:
    """Call `write(file)` on a temporary file beside `path`, then rename it into place.

    Where the file cannot be written (a full disk, a folder that refuses it), nothing is replaced
    and `ResultsNotWritableError` says which file and why.
    """
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise _not_writable(path, error) from None
    try:
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; results are shared files
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, ResultsNotWritableError) \
                and error.errno in WRITE_ERRORS:  # fmt: skip
            raise _not_writable(path, error) from None
        raise


def _not_writable(path: Path, error: OSError) -> ResultsNotWritableError:
    return ResultsNotWritableError(
        f"cannot write {path}: {error.strerror or error}; nothing stored before was changed. Free some space or "
        "make the folder writable, then run the same command again (a training resumes after its last epoch)"
    )


def save(record: dict, probabilities: np.ndarray, y_true: np.ndarray, root: Path | None = None,
         validation: tuple[np.ndarray, np.ndarray] | None = None, weights: list | None = None) -> Run:
    """Store a run atomically; the previous run of the same experiment and seed is replaced.

    `validation` (probabilities, labels of the validation split) and `weights` (the model's
    `get_weights()`) are stored too when given.
    """
    folder = run_dir(record["experiment"], record["seed"], root)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"probabilities": compact(probabilities), "y_true": y_true.astype(np.uint8)}
    if validation is not None:
        arrays |= {"val_probabilities": compact(validation[0]), "y_val": validation[1].astype(np.uint8)}
    files = {"predictions": _npz_bytes(arrays)}
    if weights is not None:
        files["weights"] = _npz_bytes({f"w{i:03d}": np.asarray(w) for i, w in enumerate(weights)})
    names = {kind: f"{kind}-{_digest(content)}.npz" for kind, content in files.items()}
    record = {key: value for key, value in record.items() if key not in ("predictions", "weights")} | names
    text = json.dumps(record, indent=1, ensure_ascii=False) + "\n"
    with folder_lock(folder):
        for kind, content in files.items():  # the files run.json names first: it never names a missing one
            write_atomically(folder / names[kind], lambda file, content=content: file.write(content))
        write_atomically(folder / "run.json", lambda file: file.write(text.encode()))
        for old in [*folder.glob("predictions-*.npz"), *folder.glob("weights-*.npz")]:
            if old.name not in names.values():
                old.unlink(missing_ok=True)
    return Run(record, folder)


def compact(probabilities: np.ndarray) -> np.ndarray:
    """The probabilities in float16 (half the size on disk), or in float32 where float16 would change a prediction.

    Averaged views that disagree leave near-ties (0.49995 against 0.50005) that float16 rounds to
    equal values: the stored predictions would then no longer give the accuracy that was measured.
    """
    half = probabilities.astype(np.float16)
    if np.array_equal(half.argmax(axis=1), probabilities.argmax(axis=1)):
        return half
    return probabilities.astype(np.float32)


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:12]


@contextlib.contextmanager
def folder_lock(folder: Path, blocking: bool = True, name: str = ".lock", shared: bool = False):
    """A lock on a run folder, held by this process until the block ends.

    Writers take it exclusive, readers shared (so that no writer swaps the files while a
    reader reads them). Raises `BlockingIOError` at once if `blocking` is false and
    another process holds it. A folder where no lock file can be made (a read-only copy
    of the results) is read without one: nobody can write there either.
    """
    try:
        handle = open(folder / name, "a")
    except OSError:
        if not shared:
            raise
        yield
        return
    with handle:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        fcntl.flock(handle, mode | (0 if blocking else fcntl.LOCK_NB))
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_writable(root: Path | None = None) -> Path:
    """Make sure runs can be stored under `root` (or `results_dir()`), before hours of training."""
    root = root or results_dir()
    variable = f" (${RESULTS_DIR_VARIABLE})" if os.environ.get(RESULTS_DIR_VARIABLE) else ""
    if root.exists() and not root.is_dir():
        raise ResultsNotWritableError(f"the results folder {root}{variable} is a file, not a folder; "
                                      f"point {RESULTS_DIR_VARIABLE} at a folder")  # fmt: skip
    try:
        root.mkdir(parents=True, exist_ok=True)
        _write_a_test_file(root)
    except OSError as error:
        raise ResultsNotWritableError(
            f"cannot write in the results folder {root}{variable}: {error.strerror or error}; "
            f"make it writable or set {RESULTS_DIR_VARIABLE} to a writable folder"
        ) from None
    return root


def check_run_writable(name: str, seed: int, root: Path | None = None) -> None:
    """Make sure every folder a training of `name` and `seed` writes can be written, before its first epoch:
    its run folder and its checkpoint folder (nothing is created)."""
    for folder in (run_dir(name, seed, root), checkpoints_dir(root) / name / f"seed-{seed}"):
        check_folder_writable(folder)


def check_folder_writable(folder: Path) -> None:
    """`folder`, or the deepest of its parents that exists, is a folder where a file can be written."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ResultsNotWritableError(f"cannot write in {folder}: {existing} is a file, not a folder; "
                                      f"move it away or set {RESULTS_DIR_VARIABLE} to another folder")  # fmt: skip
    try:
        _write_a_test_file(existing)
    except OSError as error:
        raise ResultsNotWritableError(f"cannot write in {existing}: {error.strerror or error}; make it writable "
                                      f"or set {RESULTS_DIR_VARIABLE} to a writable folder") from None  # fmt: skip


def _write_a_test_file(folder: Path) -> None:
    """Create and delete a file in `folder`: raises OSError where nothing can be written."""
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
        pass


def procedure(root: Path | None = None) -> int:
    """The training procedure of the runs under `root` (`PROCEDURES`): its `PROCEDURE_FILE`, else this lab's."""
    path = (root or results_dir()) / PROCEDURE_FILE
    if not path.is_file():
        return PROCEDURE
    try:
        value = json.loads(path.read_text())["procedure"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise StoredResultError(f"{path} cannot be read ({error!r}); it must hold {{\"procedure\": <n>}}, "
                                f"n one of {sorted(PROCEDURES)}") from None  # fmt: skip
    if value not in PROCEDURES:
        raise StoredResultError(f"{path} names an unknown training procedure {value!r}; known: {sorted(PROCEDURES)}")
    return value


def check_trainable(root: Path | None = None) -> Path:
    """`check_writable`, and a folder whose runs are trained as this lab trains (marked so if it is new)."""
    root = check_writable(root)
    found = procedure(root)
    if found != PROCEDURE:
        raise ResultsNotWritableError(
            f"the runs in {root} were trained with {PROCEDURES[found]} (procedure {found}); this lab trains with "
            f"{PROCEDURES[PROCEDURE]} (procedure {PROCEDURE}), and one folder never mixes the two: set "
            f"{RESULTS_DIR_VARIABLE} to a folder of procedure {PROCEDURE} (the repository's {DEFAULT_RESULTS_FOLDER}/)"
        )
    path = root / PROCEDURE_FILE
    if not path.is_file():
        text = json.dumps({"procedure": PROCEDURE, "batch_order": PROCEDURES[PROCEDURE]}, indent=1) + "\n"
        write_atomically(path, lambda file: file.write(text.encode()))
    return root


def _npz_bytes(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


# Reading


def load(name: str, seed: int = 0, root: Path | None = None) -> Run:
    """The stored run, whatever its freshness, checked; `StoredResultError` if there is none.

    `CorruptResultError` (a `StoredResultError`) if its files are unreadable or disagree.
    """
    folder = run_dir(name, seed, root)
    path = folder / "run.json"
    retrain = f"retrain it with: lab train {name} --seeds {seed}"
    if not path.is_file():
        raise StoredResultError(f"no stored result for {name!r} seed {seed} (looked for {path}); "
                                f"train it with: lab train {name} --seeds {seed}")  # fmt: skip
    with folder_lock(folder, shared=True):
        record = _read_record(path, retrain)
        problem = check_record(record, name, seed)
        if problem:
            raise CorruptResultError(f"{path}: {problem}; {retrain}")
        run = Run(record, folder)
        _check_predictions(run, path, retrain)  # reads the predictions now, while no writer can swap them
    return run


def _read_record(path: Path, retrain: str) -> dict:
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptResultError(f"{path} is not valid UTF-8 JSON ({error}); {retrain}") from None
    if not isinstance(record, dict):
        raise CorruptResultError(f"{path} is not a run record; {retrain}")
    missing = [key for key in REQUIRED_FIELDS if key not in record]
    if missing:
        raise CorruptResultError(f"{path} is not a run record (no {', '.join(missing)}); {retrain}")
    return record


def check_record(record: dict, name: str, seed: int) -> str | None:
    """What is wrong with the record of the run `name` seed `seed` (None: every field a reader uses is sound).

    Its experiment and seed are those of its folder; its accuracies are finite numbers between 0
    and 1 and its losses finite non-negative numbers, on every split (`metrics`, and
    `single_view_metrics` where stored); its history is one such row per epoch, with its seconds.
    """
    if record["experiment"] != name:
        return f"it is a run of {record['experiment']!r}, stored in the folder of {name} (copied over it?)"
    if not _is_integer(record["seed"]) or record["seed"] != seed:
        return f"it is the run of seed {record['seed']!r}, stored in the folder seed-{seed} (copied over it?)"
    types = {"config": dict, "config_hash": str, "predictions": str, "weights": str, "data": dict,
             "environment": dict}  # fmt: skip
    for key, kind in types.items():
        if key in record and not isinstance(record[key], kind):
            return f"its {key} is not a {'table' if kind is dict else 'text'} ({record[key]!r})"
    for key in ("wall_seconds", "evaluation_seconds"):
        if key in record and not _is_number(record[key], 0):
            return f"its {key} is not a finite number of seconds ({record[key]!r})"
    if "params_total" in record and not (_is_integer(record["params_total"]) and record["params_total"] >= 0):
        return f"its params_total is not a count ({record['params_total']!r})"
    for key in ("metrics", "single_view_metrics"):
        if key in record:
            problem = _check_metrics(record[key], SPLITS if key == "metrics" else ())
            if problem:
                return f"its {key} {problem}"
    return _check_history(record["history"])


def _check_metrics(metrics, required) -> str | None:
    if not isinstance(metrics, dict):
        return f"are not a table of splits ({metrics!r})"
    for split in (*required, *(split for split in metrics if split not in required)):
        values = metrics.get(split)
        if not isinstance(values, dict):
            return f"have no {split} split ({values!r})"
        if not _is_number(values.get("accuracy"), 0, 1):
            return f"give a {split} accuracy that is not a number between 0 and 1 ({values.get('accuracy')!r})"
        if not _is_number(values.get("loss"), 0):
            return f"give a {split} loss that is not a finite non-negative number ({values.get('loss')!r})"
    return None


def _check_history(history) -> str | None:
    if not isinstance(history, list) or not history:
        return f"its history is not a list of epochs ({history!r:.60})"
    for epoch, row in enumerate(history, start=1):
        if not isinstance(row, dict) or any(key not in row for key in HISTORY_KEYS):
            return f"its history's epoch {epoch} is not a row of {', '.join(HISTORY_KEYS)} ({row!r:.100})"
        for key in HISTORY_KEYS:
            upper = 1 if "accuracy" in key else math.inf
            if not _is_number(row[key], 0, upper):
                return f"its history's epoch {epoch} has a {key} out of range ({row[key]!r})"
    return None


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value, lower: float = -math.inf, upper: float = math.inf) -> bool:
    """A real number (not a boolean, not text), finite, within [lower, upper]."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            and lower <= value <= upper)  # fmt: skip


def _check_predictions(run: Run, path: Path, retrain: str) -> None:
    """The predictions file exists, carries the digest of its name, and gives the stored accuracy."""
    predictions = run.folder / str(run.record["predictions"])
    _check_digest(predictions, path, retrain)
    for split in SPLITS:  # every split whose predictions are stored (test always; validation for « Aller plus loin »)
        try:
            pair = run.predictions(split)
            measured = None if pair is None else float(np.mean(pair[0].argmax(axis=1) == pair[1]))
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
            raise CorruptResultError(f"{predictions} cannot be read ({error}); {retrain}") from None
        stored = run.accuracy(split)  # a number between 0 and 1 (`check_record`)
        if measured is not None and abs(measured - stored) > ACCURACY_TOLERANCE:
            raise CorruptResultError(
                f"{predictions} gives a {SPLIT_WORDS[split]} accuracy of {measured:.4f} but {path} says {stored:.4f}: "
                f"the predictions belong to another run; {retrain}"
            )
    if "weights" in run.record:
        _check_digest(run.folder / str(run.record["weights"]), path, retrain)


def _check_digest(file: Path, path: Path, retrain: str) -> None:
    """`file` (`<kind>-<digest>.npz`, named by `path`) exists and carries the digest its name says."""
    kind, _, rest = file.name.partition("-")
    if not file.is_file():
        raise CorruptResultError(f"{path} names a {kind} file that is missing ({file.name}); {retrain}")
    expected = rest.removesuffix(".npz")
    if _digest(file.read_bytes()) != expected:
        raise CorruptResultError(f"{file} does not have the digest its name says (replaced or damaged); {retrain}")


def status(experiment, seed: int = 0, root: Path | None = None) -> str:
    """`present` (fresh), `stale` (another configuration), `missing` or `corrupt`."""
    try:
        run = load(experiment.name, seed, root)
    except CorruptResultError:
        return CORRUPT
    except StoredResultError:
        return MISSING
    return PRESENT if is_fresh(run, experiment, root) else STALE


def is_fresh(run: Run, experiment, root: Path | None = None) -> bool:
    """Whether `run` was trained as `experiment` is defined, by the procedure of its folder (`procedure`)."""
    return run["config_hash"] == experiment.config_hash() and run.record.get("procedure", 1) == procedure(root)


def stored_seeds(name: str, root: Path | None = None) -> list[int]:
    folder = (root or results_dir()) / name
    seeds = [p.name.removeprefix("seed-") for p in folder.glob("seed-*") if (p / "run.json").is_file()]
    return sorted(int(seed) for seed in seeds if seed.isdigit())
