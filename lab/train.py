"""Train an experiment reproducibly and store its run.

Setup, prepare the data, build the model, train, evaluate, store: in that order,
as in the keras-io examples. The seed fixes the initial weights and the dropout masks
(`keras.utils.set_random_seed` with TensorFlow op determinism), and, with the epoch, the
order of the training images (`batch_order`: a new one every epoch).

An interrupted training resumes from its last completed epoch (one killed while it was
evaluated, after its last epoch, is only evaluated). After every epoch a
checkpoint (`<results>/.checkpoints/<experiment>/seed-<n>/state.npz`) keeps every
variable of the model (weights, BatchNormalization statistics, the dropout layers'
random state), the optimizer's variables and the history so far. Resuming restores
them; each epoch's batch order depends on the seed and the epoch alone (`batch_order`),
so the resumed run stores exactly the result of an uninterrupted one: same history,
metrics and predictions.

An experiment that differs from a stored one only in how it predicts (test-time
flipping, see `lab.experiments.EVALUATION_FIELDS`) is not trained again: its run is
made by evaluating the stored run's weights (`trained_twin`), and says so (`weights_from`).

What a training needs and is not training lives elsewhere: the data in `lab.data`
(`prepared_data`), the prediction with test-time views in `lab.predict`, the machine's
facts and the seeding in `lab.backend`. Their names stay importable from here.

Imports from lab: backend, data, experiments, models, params, predict, store.
"""

from __future__ import annotations

import datetime
import io
import json
import math
import shutil
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from lab import backend, models, params, store
from lab.backend import SPEED_FLAGS, check_seed, cpu_flags, environment, set_seed
from lab.data import prepared_data
from lab.experiments import EXPERIMENTS, OPTIMIZERS
from lab.predict import predict, probability_metrics, shifted, test_time_views, view_count

# Names that moved out of this module and are still read through it (tests, chapters).
__all__ = ["SPEED_FLAGS", "Checkpoint", "RunInProgressError", "batch_order", "check_seed", "compile_model",
           "cpu_flags", "environment", "predict", "prepared_data", "probability_metrics", "set_seed", "shifted",
           "test_time_views", "train", "trained_twin", "view_count"]  # fmt: skip


def compile_model(experiment, model, steps_per_epoch: int | None = None) -> None:
    """The experiment's optimizer at its learning rate, constant or cosine-decayed, with its weight decay.

    A cosine schedule decays over `epochs × steps_per_epoch` optimizer steps.
    """
    keras = backend.keras()

    rate = experiment.learning_rate
    if experiment.lr_schedule == "cosine":
        if not steps_per_epoch:
            raise ValueError("a cosine schedule needs the number of steps per epoch")
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=experiment.epochs * steps_per_epoch)
    chosen = optimizer(experiment, rate)  # refuses an unknown optimizer before touching the model
    model.compile(optimizer=chosen, loss=training_loss(experiment), metrics=["accuracy"])


def optimizer(experiment, rate):
    """Adam (AdamW with weight decay), SGD (with Nesterov momentum and its own weight decay) or RMSprop."""
    keras = backend.keras()
    name, decay = experiment.optimizer, experiment.weight_decay or None
    if name == "sgd":
        momentum = {"momentum": experiment.momentum, "nesterov": True} if experiment.momentum else {}
        return keras.optimizers.SGD(learning_rate=rate, weight_decay=decay, **momentum)
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    if decay and name != "adam":
        raise ValueError(f"weight decay is implemented with AdamW and SGD, not {name}")
    if decay:
        return keras.optimizers.AdamW(learning_rate=rate, weight_decay=decay)
    return (keras.optimizers.Adam if name == "adam" else keras.optimizers.RMSprop)(learning_rate=rate)


def training_loss(experiment):
    """Cross-entropy on the integer labels; with label smoothing, against the smoothed one-hot targets.

    Keras' sparse cross-entropy has no `label_smoothing`, so the labels are one-hot encoded here.
    """
    keras = backend.keras()
    if not experiment.label_smoothing:
        return "sparse_categorical_crossentropy"
    smoothed = keras.losses.CategoricalCrossentropy(label_smoothing=experiment.label_smoothing)
    classes = experiment.layers[-1]["units"]

    def smoothed_cross_entropy(y_true, y_pred):
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        return smoothed(keras.ops.one_hot(labels, classes), y_pred)

    return smoothed_cross_entropy


HISTORY_KEYS = store.HISTORY_KEYS
# What reading a damaged checkpoint raises: a truncated archive, a bad CRC, a meta that is not JSON.
DAMAGED_CHECKPOINT_ERRORS = (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile, zlib.error)


class RunInProgressError(RuntimeError):
    """Another process is training the same experiment and seed."""


def _callbacks(on_epoch, checkpoint):
    keras = backend.keras()

    class EpochTimer(keras.callbacks.Callback):
        """Record each epoch's wall time in the logs, checkpoint, and report progress."""

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs["seconds"] = time.perf_counter() - self.started
            checkpoint.save(self.model, epoch + 1, {key: float(logs[key]) for key in HISTORY_KEYS})
            if on_epoch:
                on_epoch(epoch + 1, logs)

    return [EpochTimer()]


class Checkpoint:
    """The state of a training after its last completed epoch, kept beside the results."""

    def __init__(self, experiment, seed: int, root: Path | None = None):
        self.experiment, self.seed = experiment, seed
        self.folder = store.checkpoints_dir(root) / experiment.name / f"seed-{seed}"
        self.path = self.folder / "state.npz"
        self.rows: list[dict] = []
        self.elapsed = 0.0  # training seconds spent before this process
        self.damaged = False  # set by `saved_epoch`: the checkpoint there cannot be read
        self.started = time.perf_counter()

    @property
    def epoch(self) -> int:
        return len(self.rows)

    def save(self, model, epoch: int, row: dict) -> None:
        self.rows.append(row)
        meta = {"config_hash": self.experiment.config_hash(), "seed": self.seed, "procedure": store.PROCEDURE,
                "epoch": epoch,
                "history": self.rows, "elapsed": self.elapsed + time.perf_counter() - self.started}  # fmt: skip
        arrays = {f"model_{i}": np.asarray(v) for i, v in enumerate(model.variables)}
        arrays |= {f"optimizer_{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)}
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
        self.folder.mkdir(parents=True, exist_ok=True)
        store.write_atomically(self.path, lambda file: file.write(buffer.getvalue()))

    def _read(self) -> tuple[dict, dict] | None:
        """The checkpoint's meta and arrays, every byte read (so that a bad CRC shows); None if there is none.

        `DAMAGED_CHECKPOINT_ERRORS` if it cannot be read to the end.
        """
        if not self.path.exists():
            return None
        with np.load(self.path) as saved:
            arrays = {name: saved[name] for name in saved.files}
        meta = json.loads(str(arrays.pop("meta")))
        if not isinstance(meta, dict) or not isinstance(meta.get("history"), list):
            raise ValueError(f"its meta is not a checkpoint's ({str(meta)[:60]})")
        meta["epoch"], meta["elapsed"] = int(meta["epoch"]), float(meta["elapsed"])  # what a resume reads
        return meta, arrays

    def saved_epoch(self) -> int | None:
        """The last completed epoch kept for this run's configuration and seed, if any.

        None for a damaged checkpoint too; `damaged` then says so.
        """
        self.damaged = False
        try:
            state = self._read()
        except DAMAGED_CHECKPOINT_ERRORS:
            self.damaged = True
            return None
        if state is None or not self._same_run(state[0]):
            return None
        return int(state[0]["epoch"])

    def _same_run(self, meta: dict) -> bool:
        """Whether a checkpoint's `meta` is of this run, trained by this lab's procedure (a batch order per epoch)."""
        kept = (meta.get("config_hash"), meta.get("seed"), meta.get("procedure", 1))
        return kept == (self.experiment.config_hash(), self.seed, store.PROCEDURE)

    def restore(self, model) -> bool:
        """Load the saved state into `model` (built and compiled); False if there is none that fits.

        A checkpoint that cannot be read is set aside (renamed `state.npz.damaged-<time>`, with a
        warning): the training starts from epoch 0.
        """
        model.optimizer.build(model.trainable_variables)
        variables = list(model.variables) + list(model.optimizer.variables)
        try:
            state = self._read()
        except DAMAGED_CHECKPOINT_ERRORS as error:
            self._set_aside(error)
            return False
        if state is None:
            return False
        meta, saved = state
        names = [f"model_{i}" for i in range(len(model.variables))]
        names += [f"optimizer_{i}" for i in range(len(model.optimizer.variables))]
        values = [saved[name] for name in names] if set(saved) == set(names) else []
        same_run = self._same_run(meta)
        same_shapes = len(values) == len(variables) and all(
            np.shape(value) == tuple(variable.shape) for value, variable in zip(values, variables, strict=True)
        )
        # a checkpoint of the last epoch is a training killed while it was evaluated: only evaluate it
        if not (same_run and same_shapes and 0 < meta["epoch"] <= self.experiment.epochs):
            return False
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
        self.rows, self.elapsed = list(meta["history"]), float(meta["elapsed"])
        return True

    def _set_aside(self, error: Exception) -> None:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        self.path.replace(aside)
        warnings.warn(f"the checkpoint {self.path} cannot be read ({type(error).__name__}: {error}); it is set aside "
                      f"as {aside.name} and {self.experiment.name} seed {self.seed} trains from epoch 0",
                      stacklevel=3)  # fmt: skip

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def batch_order(seed: int, epoch: int, size: int) -> np.ndarray:
    """The order of the `size` training images in `epoch` (from 0): a permutation drawn from (seed, epoch) alone.

    Not Keras' `shuffle=True`: under a global seed, Keras 3 / TensorFlow re-create its seeded shuffle
    op for every epoch and feed the same permutation each time (tensorflow/tensorflow#26179). Drawn
    from the seed and the epoch, the order differs between epochs, is the same on every machine, and
    a resumed training needs no replay of the epochs already done.
    """
    return np.random.default_rng([seed, epoch]).permutation(size)


def _evaluate(model, x, y, batch_size) -> dict:
    loss, accuracy = model.evaluate(x, y, batch_size=batch_size, verbose=0)
    return {"loss": float(loss), "accuracy": float(accuracy)}


def _evaluation(experiment, model, splits: dict) -> tuple[dict, dict]:
    """The metrics of every split, and the validation and test probabilities, as the experiment predicts.

    With test-time flipping or shifting the single-view metrics are kept too (`single_view_metrics`),
    so that the gain of the averaged views is measured on the same weights.
    """
    single = {}  # single-view probabilities, where they were computed already
    if experiment.label_smoothing:  # the stored loss is the plain cross-entropy, comparable with other runs
        single = {name: predict(model, x) for name, (x, _) in splits.items()}
        metrics = {name: probability_metrics(single[name], y) for name, (_, y) in splits.items()}
    else:
        metrics = {name: _evaluate(model, x, y, 512) for name, (x, y) in splits.items()}
    if not (experiment.test_time_flip or experiment.test_time_shift):
        probabilities = {name: single[name] if single else predict(model, splits[name][0]) for name in ("val", "test")}
        return {"metrics": metrics}, probabilities
    views = {"flip": experiment.test_time_flip, "shift": experiment.test_time_shift}
    averaged = {name: predict(model, x, **views) for name, (x, _) in splits.items()}
    averaged_metrics = {name: probability_metrics(averaged[name], y) for name, (_, y) in splits.items()}
    return {"metrics": averaged_metrics, "single_view_metrics": metrics}, averaged


def train(experiment, seed: int = 0, root=None, on_epoch=None) -> store.Run:
    """Train `experiment` with `seed`, evaluate it on train, validation and test, store it.

    Resumes from the checkpoint of an interrupted training of the same run, if any. When
    another experiment's stored run was trained exactly as this one would be (they differ
    only in evaluation, see `trained_twin`), its weights are evaluated instead of trained again.
    """
    check_before_training(experiment, seed, root)
    folder = store.run_dir(experiment.name, seed, root)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with store.folder_lock(folder, blocking=False, name=".training.lock"):
            twin = trained_twin(experiment, seed, root)
            return _evaluate_twin(experiment, seed, twin, root) if twin else _train(experiment, seed, root, on_epoch)
    except BlockingIOError:
        raise RunInProgressError(
            f"{experiment.name} seed {seed} is being trained by another process (lock {folder}/.training.lock); "
            "wait for it to finish, or stop it first"
        ) from None


def check_before_training(experiment, seed: int, root=None) -> None:
    """Refuse, before any epoch, a training whose result could not be stored: a seed that no run can
    have, a results folder of another procedure, or a folder it writes (its run's, its checkpoint's)
    that cannot be written."""
    check_seed(experiment, seed)
    store.check_trainable(root)
    store.check_run_writable(experiment.name, seed, root)


def experiments_registry() -> dict:
    """Every experiment lab knows, by name (where `trained_twin` looks)."""
    return EXPERIMENTS


def trained_twin(experiment, seed: int, root=None) -> store.Run | None:
    """A fresh stored run, with its weights, of another experiment trained exactly as `experiment` is."""
    for other in experiments_registry().values():
        if other.name == experiment.name or other.training_hash() != experiment.training_hash():
            continue
        try:
            run = store.load(other.name, seed, root)
        except store.StoredResultError:  # missing or corrupt
            continue
        if store.is_fresh(run, other, root) and "weights" in run.record:
            return run
    return None


def _train(experiment, seed, root, on_epoch) -> store.Run:
    # Setup
    set_seed(seed)
    checkpoint = Checkpoint(experiment, seed, root)
    # Prepare the data
    data = prepared_data(experiment)
    (x_train, y_train), (x_val, y_val), _, _ = data
    # Build the model
    model = models.build(experiment)
    compile_model(experiment, model, steps_per_epoch=math.ceil(len(x_train) / experiment.batch_size))
    resumed_after = checkpoint.epoch if checkpoint.restore(model) else 0
    # Train
    callbacks = _callbacks(on_epoch, checkpoint)
    for epoch in range(checkpoint.epoch, experiment.epochs):  # one fit per epoch: its own batch order
        order = batch_order(seed, epoch, len(x_train))
        model.fit(
            x_train[order], y_train[order], validation_data=(x_val, y_val), initial_epoch=epoch,
            epochs=epoch + 1, batch_size=experiment.batch_size, shuffle=False, verbose=0, callbacks=callbacks,
        )  # fmt: skip
    # Evaluate and store
    training = {"history": checkpoint.rows, "environment": environment()}
    if resumed_after:
        training["resumed_after_epoch"] = resumed_after
    def seconds():  # every session's training time, up to the moment the run is stored
        return checkpoint.elapsed + time.perf_counter() - checkpoint.started

    run = _store(experiment, seed, model, data, root, training, seconds)
    checkpoint.discard()
    return run


def _evaluate_twin(experiment, seed, twin: store.Run, root) -> store.Run:
    """Store the run of `experiment` from the weights of `twin`, trained exactly as it would be.

    The history, training time and environment are the twin's (its `wall_seconds` plus this
    evaluation's), and `weights_from` names it.
    """
    started = time.perf_counter()
    data = prepared_data(experiment)
    model = models.build(experiment)
    model.set_weights(twin.weights())
    compile_model(experiment, model, steps_per_epoch=math.ceil(len(data[0][0]) / experiment.batch_size))
    training = {key: twin[key] for key in ("history", "environment", "resumed_after_epoch") if key in twin.record}
    training["weights_from"] = {"experiment": twin.name, "seed": twin.seed, "config_hash": twin["config_hash"]}
    def seconds():  # the twin's training, then this evaluation
        return twin["wall_seconds"] + time.perf_counter() - started

    return _store(experiment, seed, model, data, root, training, seconds)


def _store(experiment, seed, model, data, root, training: dict, seconds) -> store.Run:
    """Evaluate the trained `model` on every split of `data` (`prepared_data`) and store its run.

    `seconds()` is the time spent so far.
    """
    (x_train, y_train), (x_val, y_val), (x_test, y_test), provenance = data
    splits = {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}
    metrics, probabilities = _evaluation(experiment, model, splits)
    record = {
        "experiment": experiment.name,
        "seed": seed,
        "config": experiment.config(),
        "config_hash": experiment.config_hash(),
        "procedure": store.PROCEDURE,
        "data": {
            **provenance.as_dict(),
            "train_size": len(x_train),
            "val_size": len(x_val),
            "test_size": len(x_test),
        },  # fmt: skip
        "params_total": int(model.count_params()),
        "params_expected": params.count_params(experiment),
        **metrics,
        "history": training.pop("history"),
        "wall_seconds": seconds(),
        "environment": training.pop("environment"),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **training,
    }
    return store.save(record, probabilities["test"], y_test, root, validation=(probabilities["val"], y_val),
                      weights=model.get_weights())

