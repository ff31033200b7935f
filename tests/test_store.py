"""Storing runs: round trip, atomic replacement, freshness, unreadable results."""

import json
import os
import re

import numpy as np
import pandas as pd
import pytest

import lab
from lab import store
from lab.experiments import get
from lab.store import StoredResultError


def make_record(experiment, seed=0, accuracy=0.9):
    return {
        "experiment": experiment.name,
        "seed": seed,
        "config": experiment.config(),
        "config_hash": experiment.config_hash(),
        "metrics": {split: {"loss": 0.3, "accuracy": accuracy} for split in ("train", "val", "test")},
        "history": [
            {"loss": 1.0, "accuracy": 0.6, "val_loss": 0.9, "val_accuracy": 0.65, "seconds": 2.0},
            {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.78, "seconds": 1.5},
        ],
        "wall_seconds": 3.5,
    }


def make_predictions(n=50, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 10))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probabilities.astype(np.float32), rng.integers(0, 10, size=n)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith("."))


def test_save_then_load_round_trip(tmp_path):
    experiment = get("fashion-base")
    probabilities, y_true = make_predictions()
    saved = store.save(make_record(experiment), probabilities, y_true, root=tmp_path)
    folder = tmp_path / "fashion-base" / "seed-0"
    assert saved.folder == folder
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2 and names[1] == "run.json"
    assert re.fullmatch(r"predictions-[0-9a-f]{12}\.npz", names[0])

    run = store.load("fashion-base", 0, root=tmp_path)
    assert run.record == {**make_record(experiment), "predictions": names[0]}
    assert run.record == json.loads((folder / "run.json").read_text())
    assert (run.name, run.seed, run.config) == ("fashion-base", 0, experiment.config())
    assert run["config_hash"] == experiment.config_hash()
    assert run.accuracy("test") == 0.9 and run.loss("val") == 0.3
    np.testing.assert_allclose(run.probabilities, probabilities, atol=1e-3)  # stored as float16
    assert run.probabilities.dtype == np.float32
    np.testing.assert_array_equal(run.y_true, y_true)
    np.testing.assert_array_equal(run.y_pred, probabilities.argmax(axis=1))
    assert "fashion-base" in repr(run) and "0.9000" in repr(run)


def test_history_is_a_table_indexed_by_epoch(tmp_path):
    experiment = get("fashion-base")
    store.save(make_record(experiment), *make_predictions(), root=tmp_path)
    history = store.load("fashion-base", root=tmp_path).history
    assert isinstance(history, pd.DataFrame)
    assert list(history.index) == [1, 2] and history.index.name == "epoch"
    assert list(history.columns) == ["loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
    assert history.loc[2, "val_accuracy"] == 0.78


def test_a_second_save_replaces_the_first(tmp_path):
    experiment = get("fashion-base")
    store.save(make_record(experiment, accuracy=0.8), *make_predictions(seed=1), root=tmp_path)
    probabilities, y_true = make_predictions(seed=2)
    store.save(make_record(experiment, accuracy=0.85), probabilities, y_true, root=tmp_path)
    folder = tmp_path / "fashion-base" / "seed-0"
    assert len(list(folder.glob("predictions-*.npz"))) == 1  # the old predictions are removed
    run = store.load("fashion-base", root=tmp_path)
    assert run.accuracy("test") == 0.85
    np.testing.assert_array_equal(run.y_true, y_true)
    assert leftovers(folder) == []


def test_crash_while_replacing_run_json_keeps_the_previous_run(tmp_path, monkeypatch):
    experiment = get("fashion-base")
    first_probabilities, first_y = make_predictions(seed=1)
    store.save(make_record(experiment, accuracy=0.8), first_probabilities, first_y, root=tmp_path)
    folder = tmp_path / "fashion-base" / "seed-0"
    first_json = (folder / "run.json").read_bytes()

    real_replace = os.replace

    def crash_on_run_json(source, target):
        if os.path.basename(target) == "run.json":
            raise OSError("simulated crash while writing run.json")
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", crash_on_run_json)
    with pytest.raises(OSError, match="simulated crash"):
        store.save(make_record(experiment, accuracy=0.85), *make_predictions(seed=2), root=tmp_path)
    monkeypatch.undo()

    assert (folder / "run.json").read_bytes() == first_json
    run = store.load("fashion-base", root=tmp_path)
    assert run.accuracy("test") == 0.8
    np.testing.assert_allclose(run.probabilities, first_probabilities, atol=1e-3)
    np.testing.assert_array_equal(run.y_true, first_y)
    assert leftovers(folder) == []
    # the next complete save cleans up the predictions the interrupted one left behind
    store.save(make_record(experiment, accuracy=0.86), *make_predictions(seed=3), root=tmp_path)
    assert len(list(folder.glob("predictions-*.npz"))) == 1
    assert store.load("fashion-base", root=tmp_path).accuracy("test") == 0.86


def test_crash_while_writing_predictions_keeps_the_previous_run(tmp_path, monkeypatch):
    experiment = get("fashion-base")
    store.save(make_record(experiment, accuracy=0.8), *make_predictions(seed=1), root=tmp_path)
    folder = tmp_path / "fashion-base" / "seed-0"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def interrupted(fd):
        raise KeyboardInterrupt  # killed in the middle of writing a file

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.save(make_record(experiment, accuracy=0.85), *make_predictions(seed=2), root=tmp_path)
    monkeypatch.undo()

    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert store.load("fashion-base", root=tmp_path).accuracy("test") == 0.8


def test_status_present_stale_missing(tmp_path):
    experiment = get("cifar-norm")
    assert store.status(experiment, 0, root=tmp_path) == store.MISSING
    store.save(make_record(experiment), *make_predictions(), root=tmp_path)
    assert store.status(experiment, 0, root=tmp_path) == store.PRESENT
    assert store.status(experiment, 1, root=tmp_path) == store.MISSING
    assert store.status(experiment.replace(epochs=11), 0, root=tmp_path) == store.STALE
    assert store.status(experiment.replace(title="reworded"), 0, root=tmp_path) == store.PRESENT


def test_stored_seeds(tmp_path):
    experiment = get("cifar-norm")
    assert store.stored_seeds("cifar-norm", root=tmp_path) == []
    for seed in (2, 0, 10):
        store.save(make_record(experiment, seed=seed), *make_predictions(), root=tmp_path)
    (tmp_path / "cifar-norm" / "seed-7").mkdir()  # no run.json: not a stored seed
    assert store.stored_seeds("cifar-norm", root=tmp_path) == [0, 2, 10]


def test_results_dir_follows_the_environment(results_root):
    assert store.results_dir() == results_root
    assert store.run_dir("cifar-norm", 3) == results_root / "cifar-norm" / "seed-3"


def test_missing_result_names_the_command(tmp_path):
    with pytest.raises(StoredResultError) as raised:
        store.load("cifar-norm", 1, root=tmp_path)
    assert "no stored result for 'cifar-norm' seed 1" in str(raised.value)
    assert "lab train cifar-norm --seeds 1" in str(raised.value)


def test_corrupt_run_json(tmp_path):
    experiment = get("cifar-norm")
    store.save(make_record(experiment), *make_predictions(), root=tmp_path)
    path = tmp_path / "cifar-norm" / "seed-0" / "run.json"
    path.write_text(path.read_text()[:40])  # truncated
    with pytest.raises(StoredResultError) as raised:
        store.load("cifar-norm", root=tmp_path)
    message = str(raised.value)
    assert str(path) in message and "is not valid JSON" in message
    assert "lab train cifar-norm" in message
    assert store.status(experiment, 0, root=tmp_path) == store.MISSING


def test_run_json_that_is_not_a_record(tmp_path):
    experiment = get("cifar-norm")
    store.save(make_record(experiment), *make_predictions(), root=tmp_path)
    (tmp_path / "cifar-norm" / "seed-0" / "run.json").write_text("[]")
    with pytest.raises(StoredResultError, match="is not a run record; retrain with: lab train cifar-norm"):
        store.load("cifar-norm", root=tmp_path)


def test_missing_predictions_file(tmp_path):
    experiment = get("cifar-norm")
    saved = store.save(make_record(experiment), *make_predictions(), root=tmp_path)
    (saved.folder / saved["predictions"]).unlink()
    with pytest.raises(StoredResultError, match="names a predictions file that is missing"):
        store.load("cifar-norm", root=tmp_path)


# lab.result(): what the chapters call


def test_result_returns_a_present_run(results_root):
    experiment = get("cifar-dropout")
    store.save(make_record(experiment, accuracy=0.7), *make_predictions())
    assert (results_root / "cifar-dropout" / "seed-0" / "run.json").is_file()
    assert lab.result("cifar-dropout").accuracy("test") == 0.7


def test_result_missing_without_training_raises(results_root, monkeypatch):
    monkeypatch.setenv("LAB_ALLOW_TRAINING", "0")
    assert not lab.training_allowed()
    with pytest.raises(StoredResultError) as raised:
        lab.result("cifar-dropout", seed=2)
    message = str(raised.value)
    assert "lab train cifar-dropout --seeds 2" in message
    assert "missing" in message and "LAB_ALLOW_TRAINING=0" in message


def test_result_stale_without_training_raises(results_root):
    experiment = get("cifar-dropout")
    store.save(make_record(experiment.replace(epochs=1)), *make_predictions())
    with pytest.raises(StoredResultError, match=r"is stale .*lab train cifar-dropout"):
        lab.result("cifar-dropout")


def test_result_unknown_name():
    with pytest.raises(KeyError, match="valid names"):
        lab.result("nope")


@pytest.mark.parametrize(("value", "allowed"), [("0", False), ("false", False), ("No", False), ("1", True), ("", True)])
def test_training_allowed(monkeypatch, value, allowed):
    monkeypatch.setenv("LAB_ALLOW_TRAINING", value)
    assert lab.training_allowed() is allowed


def test_the_suite_never_trains_on_demand():
    assert os.environ["LAB_ALLOW_TRAINING"] == "0"
    assert not lab.training_allowed()
