"""Train an experiment reproducibly and store its run.

Setup, prepare the data, build the model, train, evaluate, store: in that order,
as in the keras-io examples. The seed fixes the initial weights, the shuffling and
the dropout masks (`keras.utils.set_random_seed` with TensorFlow op determinism).
"""

from __future__ import annotations

import datetime
import functools
import os
import platform
import time

import numpy as np

from lab import backend, data, models, params, store


@functools.lru_cache(maxsize=2)
def _load(dataset: str):
    return data.load(dataset)


def prepared_data(experiment):
    """(x_train, y_train), (x_val, y_val), (x_test, y_test), provenance, for a CNN."""
    loaded = _load(experiment.dataset)
    (x_train, y_train), (x_test, y_test) = loaded
    if experiment.train_limit:
        x_train, y_train = x_train[: experiment.train_limit], y_train[: experiment.train_limit]
    x_train, x_test = (data.prepare_images(x, experiment.normalize) for x in (x_train, x_test))
    y_train, y_test = data.prepare_labels(y_train), data.prepare_labels(y_test)
    train, val = data.split_validation(x_train, y_train, experiment.validation_fraction)
    return train, val, (x_test, y_test), loaded.provenance


def set_seed(seed: int) -> None:
    keras, tf = backend.keras(), backend.tensorflow()

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def compile_model(experiment, model) -> None:
    keras = backend.keras()

    optimizers = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    if experiment.optimizer not in optimizers:
        raise ValueError(f"unknown optimizer {experiment.optimizer!r}; valid: {', '.join(optimizers)}")
    optimizer = optimizers[experiment.optimizer](learning_rate=experiment.learning_rate)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def _callbacks(on_epoch):
    keras = backend.keras()

    class EpochTimer(keras.callbacks.Callback):
        """Record each epoch's wall time in the logs, and report progress."""

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs["seconds"] = time.perf_counter() - self.started
            if on_epoch:
                on_epoch(epoch + 1, logs)

    return [EpochTimer()]


def environment() -> dict:
    keras, tf = backend.keras(), backend.tensorflow()

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "gpus": [gpu.name for gpu in tf.config.list_physical_devices("GPU")],
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        return names[0] if names else platform.processor()
    except OSError:
        return platform.processor()


def _evaluate(model, x, y, batch_size) -> dict:
    loss, accuracy = model.evaluate(x, y, batch_size=batch_size, verbose=0)
    return {"loss": float(loss), "accuracy": float(accuracy)}


def train(experiment, seed: int = 0, root=None, on_epoch=None) -> store.Run:
    """Train `experiment` with `seed`, evaluate it on train, validation and test, store it."""
    # Setup
    set_seed(seed)
    started = time.perf_counter()
    # Prepare the data
    (x_train, y_train), (x_val, y_val), (x_test, y_test), provenance = prepared_data(experiment)
    # Build the model
    model = models.build(experiment)
    compile_model(experiment, model)
    # Train
    fit = model.fit(
        x_train, y_train, validation_data=(x_val, y_val), epochs=experiment.epochs,
        batch_size=experiment.batch_size, shuffle=True, verbose=0, callbacks=_callbacks(on_epoch),
    )  # fmt: skip
    # Evaluate
    splits = {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}
    metrics = {name: _evaluate(model, x, y, 512) for name, (x, y) in splits.items()}
    probabilities = model.predict(x_test, batch_size=512, verbose=0)
    record = {
        "experiment": experiment.name,
        "seed": seed,
        "config": experiment.config(),
        "config_hash": experiment.config_hash(),
        "data": {
            **provenance.as_dict(),
            "train_size": len(x_train),
            "val_size": len(x_val),
            "test_size": len(x_test),
        },  # fmt: skip
        "params_total": int(model.count_params()),
        "params_expected": params.count_params(experiment),
        "metrics": metrics,
        "history": _history_rows(fit.history),
        "wall_seconds": time.perf_counter() - started,
        "environment": environment(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return store.save(record, probabilities, y_test, root)


def _history_rows(history: dict) -> list[dict]:
    keys = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")
    return [{key: float(history[key][i]) for key in keys} for i in range(len(history["loss"]))]
