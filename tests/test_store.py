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
        "config_hash": experiment.config_hash(), "procedure": store.PROCEDURE,
        "metrics": {split: {"loss": 0.3, "accuracy": accuracy} for split in ("train", "val", "test")},
        "history": [
            {"loss": 1.0, "accuracy": 0.6, "val_loss": 0.9, "val_accuracy": 0.65, "seconds": 2.0},
            {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.78, "seconds": 1.5},
        ],
        "wall_seconds": 3.5,
    }


def make_predictions(n=100, seed=0, accuracy=0.9):
    """Probabilities and labels whose test accuracy is exactly `accuracy` (what `make_record` stores)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 10))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    predicted = probabilities.argmax(axis=1)
    correct = rng.permutation(n) < round(accuracy * n)
    return probabilities.astype(np.float32), np.where(correct, predicted, (predicted + 1) % 10)


def leftovers(folder):
    """Temporary files left behind (the folder's `.lock` is meant to stay)."""
    return sorted(p.name for p in folder.iterdir() if _is_temporary(p.name))


def _is_temporary(name):
    return name.endswith(".tmp") or name.startswith(".") and name != ".lock"


def stored_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name != ".lock")


def test_save_then_load_round_trip(tmp_path):
    experiment = get("fashion-base")
    probabilities, y_true = make_predictions()
    saved = store.save(make_record(experiment), probabilities, y_true, root=tmp_path)
    folder = tmp_path / "fashion-base" / "seed-0"
    assert saved.folder == folder
    names = stored_files(folder)
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


def test_near_ties_that_float16_would_break_are_stored_in_float32(tmp_path):
    """Two disagreeing views averaged: float16 rounds 0.50005 and 0.49995 to 0.5, and argmax picks the first."""
    experiment = get("fashion-base")
    probabilities, y_true = make_predictions()
    tied = probabilities.copy()
    tied[:10] = 0.0
    tied[:10, 3], tied[:10, 7] = 0.49995, 0.50005  # class 7 predicted
    y_true = np.where(np.arange(100) < 10, 7, y_true)
    assert np.array_equal(tied.astype(np.float16)[:10, 3], tied.astype(np.float16)[:10, 7])  # float16 ties them
    accuracy = float((tied.argmax(1) == y_true).mean())
    store.save(make_record(experiment, accuracy=accuracy), tied, y_true, root=tmp_path)
    run = store.load("fashion-base", 0, root=tmp_path)  # checks the stored predictions against the accuracy
    np.testing.assert_array_equal(run.y_pred, tied.argmax(axis=1))
    assert store.compact(tied).dtype == np.float32 and store.compact(probabilities).dtype == np.float16


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
    store.save(make_record(experiment, accuracy=0.8), *make_predictions(seed=1, accuracy=0.8), root=tmp_path)
    probabilities, y_true = make_predictions(seed=2, accuracy=0.85)
    store.save(make_record(experiment, accuracy=0.85), probabilities, y_true, root=tmp_path)
    folder = tmp_path / "fashion-base" / "seed-0"
    assert len(list(folder.glob("predictions-*.npz"))) == 1  # the old predictions are removed
    run = store.load("fashion-base", root=tmp_path)
    assert run.accuracy("test") == 0.85
    np.testing.assert_array_equal(run.y_true, y_true)
    assert leftovers(folder) == []


def test_crash_while_replacing_run_json_keeps_the_previous_run(tmp_path, monkeypatch):
    experiment = get("fashion-base")
    first_probabilities, first_y = make_predictions(seed=1, accuracy=0.8)
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
        store.save(make_record(experiment, accuracy=0.85), *make_predictions(seed=2, accuracy=0.85), root=tmp_path)
    monkeypatch.undo()

    assert (folder / "run.json").read_bytes() == first_json
    run = store.load("fashion-base", root=tmp_path)
    assert run.accuracy("test") == 0.8
    np.testing.assert_allclose(run.probabilities, first_probabilities, atol=1e-3)
    np.testing.assert_array_equal(run.y_true, first_y)
    assert leftovers(folder) == []
    # the next complete save cleans up the predictions the interrupted one left behind
    store.save(make_record(experiment, accuracy=0.86), *make_predictions(seed=3, accuracy=0.86), root=tmp_path)
    assert len(list(folder.glob("predictions-*.npz"))) == 1
    assert store.load("fashion-base", root=tmp_path).accuracy("test") == 0.86


def test_crash_while_writing_predictions_keeps_the_previous_run(tmp_path, monkeypatch):
    experiment = get("fashion-base")
    store.save(make_record(experiment, accuracy=0.8), *make_predictions(seed=1, accuracy=0.8), root=tmp_path)
    folder = tmp_path / "fashion-base" / "seed-0"
    before = {name: (folder / name).read_bytes() for name in stored_files(folder)}

    def interrupted(fd):
        raise KeyboardInterrupt  # killed in the middle of writing a file

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.save(make_record(experiment, accuracy=0.85), *make_predictions(seed=2, accuracy=0.85), root=tmp_path)
    monkeypatch.undo()

    assert {name: (folder / name).read_bytes() for name in stored_files(folder)} == before
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
    assert str(path) in message and "is not valid UTF-8 JSON" in message
    assert "lab train cifar-norm --seeds 0" in message
    assert store.status(experiment, 0, root=tmp_path) == store.CORRUPT


def test_run_json_that_is_not_a_record(tmp_path):
    experiment = get("cifar-norm")
    store.save(make_record(experiment), *make_predictions(), root=tmp_path)
    (tmp_path / "cifar-norm" / "seed-0" / "run.json").write_text("[]")
    with pytest.raises(StoredResultError, match="is not a run record; retrain it with: lab train cifar-norm"):
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
    store.save(make_record(experiment, accuracy=0.7), *make_predictions(accuracy=0.7))
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


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("0", False), ("false", False), ("No", False), ("off", False), (" OFF ", False),
     ("1", True), ("true", True), ("Yes", True), ("on", True)],
)  # fmt: skip
def test_training_allowed(monkeypatch, value, allowed):
    monkeypatch.setenv("LAB_ALLOW_TRAINING", value)
    assert lab.training_allowed() is allowed


def test_training_allowed_when_the_variable_is_unset(monkeypatch):
    monkeypatch.delenv("LAB_ALLOW_TRAINING")
    assert lab.training_allowed() is True


@pytest.mark.parametrize("value", ["", "n", "maybe", "2", "disabled"])
def test_an_unknown_spelling_is_refused_rather_than_read_as_allowed(monkeypatch, value):
    monkeypatch.setenv("LAB_ALLOW_TRAINING", value)
    with pytest.raises(lab.ConfigurationError, match=r"\$LAB_ALLOW_TRAINING is .*0, false, no, off"):
        lab.training_allowed()


def test_the_suite_never_trains_on_demand(results_root):
    """With the suite's settings, a missing result raises instead of starting a training."""
    with pytest.raises(StoredResultError, match="training is not allowed"):
        lab.result("cifar-conv6-bn-leaky", seed=7)
    assert not (results_root / "cifar-conv6-bn-leaky").exists()


# Corrupt results: never served, reported as corrupt


def test_predictions_of_another_run_are_refused(tmp_path):
    """The attack of the issue: another run's predictions copied under this run's file name."""
    experiment, other = get("cifar-raw"), get("cifar-norm")
    mine = store.save(make_record(experiment, accuracy=0.5), *make_predictions(seed=1, accuracy=0.5), root=tmp_path)
    theirs = store.save(make_record(other, accuracy=0.6), *make_predictions(seed=2, accuracy=0.6), root=tmp_path)
    (mine.folder / mine["predictions"]).write_bytes((theirs.folder / theirs["predictions"]).read_bytes())
    with pytest.raises(store.CorruptResultError, match="does not have the digest its name says"):
        store.load("cifar-raw", root=tmp_path)
    assert store.status(experiment, 0, root=tmp_path) == store.CORRUPT


def test_predictions_that_disagree_with_the_stored_accuracy_are_refused(tmp_path):
    experiment = get("cifar-raw")
    store.save(make_record(experiment, accuracy=0.48), *make_predictions(accuracy=0.62), root=tmp_path)
    with pytest.raises(store.CorruptResultError, match=r"test accuracy of 0.6200 but .* says 0.4800"):
        store.load("cifar-raw", root=tmp_path)


def test_a_truncated_predictions_file_is_corrupt_not_present(tmp_path):
    experiment = get("cifar-raw")
    saved = store.save(make_record(experiment), *make_predictions(), root=tmp_path)
    path = saved.folder / saved["predictions"]
    path.write_bytes(path.read_bytes()[:100])
    assert store.status(experiment, 0, root=tmp_path) == store.CORRUPT
    with pytest.raises(store.CorruptResultError, match="lab train cifar-raw --seeds 0"):
        store.load("cifar-raw", root=tmp_path)


def test_a_run_json_that_is_not_utf8_is_corrupt(tmp_path):
    experiment = get("cifar-raw")
    saved = store.save(make_record(experiment), *make_predictions(), root=tmp_path)
    (saved.folder / "run.json").write_bytes(b"\xff\xfe{not json")
    assert store.status(experiment, 0, root=tmp_path) == store.CORRUPT
    with pytest.raises(store.CorruptResultError, match="is not valid UTF-8 JSON"):
        store.load("cifar-raw", root=tmp_path)


def test_a_run_json_without_config_hash_is_corrupt(tmp_path):
    experiment = get("cifar-raw")
    saved = store.save(make_record(experiment), *make_predictions(), root=tmp_path)
    record = json.loads((saved.folder / "run.json").read_text())
    del record["config_hash"]
    (saved.folder / "run.json").write_text(json.dumps(record))
    assert store.status(experiment, 0, root=tmp_path) == store.CORRUPT
    with pytest.raises(store.CorruptResultError, match=r"is not a run record \(no config_hash\)"):
        store.load("cifar-raw", root=tmp_path)


def test_result_refuses_a_corrupt_run_even_where_training_is_allowed(results_root, monkeypatch):
    monkeypatch.setenv("LAB_ALLOW_TRAINING", "1")
    saved = store.save(make_record(get("cifar-raw")), *make_predictions())
    (saved.folder / "run.json").write_text("{")
    with pytest.raises(store.CorruptResultError):
        lab.result("cifar-raw")


# Writing where it cannot be written


def test_a_results_folder_that_is_a_file_is_refused_before_training(tmp_path, monkeypatch):
    target = tmp_path / "results"
    target.write_text("not a folder")
    monkeypatch.setenv("LAB_RESULTS_DIR", str(target))
    with pytest.raises(store.ResultsNotWritableError, match=r"is a file, not a folder.*LAB_RESULTS_DIR"):
        store.check_writable()


def test_a_read_only_results_folder_is_refused_before_training(tmp_path, monkeypatch):
    """Where writing is refused (simulated: the suite may run as root, who writes anywhere)."""
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store.tempfile, "NamedTemporaryFile", refuse)
    with pytest.raises(store.ResultsNotWritableError, match="Permission denied; make it writable"):
        store.check_writable(tmp_path)


def test_training_fails_before_the_first_epoch_when_results_cannot_be_written(tmp_path, monkeypatch):
    from lab import train

    target = tmp_path / "results"
    target.write_text("")

    def no_data(experiment):
        raise AssertionError("training started although its result could not be stored")

    monkeypatch.setattr(train, "prepared_data", no_data)
    with pytest.raises(store.ResultsNotWritableError):
        train.train(get("fashion-base"), 0, root=target)


# Concurrent writers


def test_concurrent_saves_of_one_run_leave_a_consistent_result(tmp_path):
    """Processes saving the same run at once: the last complete save wins, nothing dangles."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_save_many, args=(tmp_path, worker)) for worker in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    run = store.load("cifar-raw", root=tmp_path)  # checks its predictions: digest and accuracy
    assert len(stored_files(run.folder)) == 2


def _save_many(root, worker):
    experiment = get("cifar-raw")
    for i in range(15):
        accuracy = 0.5 + 0.01 * (worker * 15 + i) % 0.4
        store.save(make_record(experiment, accuracy=accuracy), *make_predictions(seed=i, accuracy=accuracy), root=root)
        store.load("cifar-raw", root=root)


def test_the_training_lock_is_exclusive_between_processes(tmp_path):
    import multiprocessing

    folder = tmp_path / "run"
    folder.mkdir()
    context = multiprocessing.get_context("fork")
    holding, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(folder, holding, release))
    holder.start()
    assert holding.wait(30)
    with pytest.raises(BlockingIOError):
        with store.folder_lock(folder, blocking=False, name=".training.lock"):
            pass
    release.set()
    holder.join(30)
    with store.folder_lock(folder, blocking=False, name=".training.lock"):
        pass


def _hold_lock(folder, holding, release):
    with store.folder_lock(folder, blocking=False, name=".training.lock"):
        holding.set()
        release.wait(30)


def test_validation_predictions_and_weights_round_trip(tmp_path):
    experiment = get("fashion-base")
    probabilities, y_true = make_predictions()
    val_probabilities, y_val = make_predictions(n=20, seed=1)
    weights = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3, dtype=np.float32)]
    store.save(make_record(experiment), probabilities, y_true, tmp_path, validation=(val_probabilities, y_val),
               weights=weights)  # fmt: skip
    run = store.load("fashion-base", 0, tmp_path)
    np.testing.assert_allclose(run.validation[0], val_probabilities, atol=1e-3)
    np.testing.assert_array_equal(run.validation[1], y_val)
    assert [w.tolist() for w in run.weights()] == [w.tolist() for w in weights]
    assert stored_files(run.folder) == sorted(["run.json", run["predictions"], run["weights"]])
    store.save(make_record(experiment), probabilities, y_true, tmp_path)  # retrained without weights: no leftover
    assert stored_files(run.folder) == sorted(["run.json", store.load("fashion-base", 0, tmp_path)["predictions"]])
    assert store.load("fashion-base", 0, tmp_path).validation is None


def test_the_predictions_of_each_split_come_from_one_place(tmp_path):
    experiment = get("fashion-base")
    probabilities, y_true = make_predictions()
    val = make_predictions(n=20, seed=1)
    run = store.save(make_record(experiment), probabilities, y_true, tmp_path, validation=val)
    for split, (expected, labels) in {"test": (probabilities, y_true), "val": val}.items():
        stored, stored_labels = run.predictions(split)
        np.testing.assert_allclose(stored, expected, atol=1e-3)
        np.testing.assert_array_equal(stored_labels, labels)
    bare = store.save(make_record(experiment), probabilities, y_true, tmp_path)
    assert bare.predictions("val") is None


@pytest.mark.parametrize("damage", ["delete", "replace"])
def test_missing_or_damaged_weights_make_the_run_corrupt(tmp_path, damage):
    experiment = get("fashion-base")
    run = store.save(make_record(experiment), *make_predictions(), tmp_path, weights=[np.ones(3, dtype=np.float32)])
    weights = run.folder / run["weights"]
    weights.unlink() if damage == "delete" else weights.write_bytes(b"not the weights")
    assert store.status(experiment, 0, tmp_path) == store.CORRUPT
    with pytest.raises(store.CorruptResultError, match="weights-.*lab train fashion-base --seeds 0"):
        store.load("fashion-base", 0, tmp_path)


def test_seed_runs_reads_the_book_s_seeds_stored_so_far(results_root):
    five = get("fashion-base")  # planned with five seeds, as every model of the brief: the book reads them
    assert five.seeds == lab.SEEDS == (0, 1, 2, 3, 4)
    for seed in (0, 2, 3, 4):  # seed 1 not trained yet
        store.save(make_record(five, seed), *make_predictions(seed=seed), root=results_root)
    assert [run.seed for run in lab.seed_runs("fashion-base")] == [0, 2, 3, 4]
    assert [run.seed for run in lab.seed_runs("fashion-base", wanted=(0, 1, 2))] == [0, 2]
    three = get("fashion-vgg")  # a step of chapter 6, planned with three seeds
    for seed in (0, 1, 2):
        store.save(make_record(three, seed), *make_predictions(seed=seed), root=results_root)
    assert [run.seed for run in lab.seed_runs("fashion-vgg")] == [0, 1, 2]


def test_planned_runs_reads_every_seed_an_experiment_is_planned_with(results_root):
    eight = get("cifar-conv6-bn")  # question 5.3's model: the book's five seeds and three more
    assert eight.seeds == (0, 1, 2, 3, 4, 5, 6, 7)
    for seed in (0, 1, 2, 3, 4, 6, 7):  # seed 5 not trained yet
        store.save(make_record(eight, seed), *make_predictions(seed=seed), root=results_root)
    assert [run.seed for run in lab.planned_runs("cifar-conv6-bn")] == [0, 1, 2, 3, 4, 6, 7]
    assert [run.seed for run in lab.seed_runs("cifar-conv6-bn")] == [0, 1, 2, 3, 4]  # the book's five alone


def test_brief_runs_are_the_brief_s_models_of_one_data_set_in_its_order(results_root):
    fashion = [name for name, experiment in lab.BRIEF.items() if experiment.dataset == "fashion_mnist"]
    for name in [*fashion, "cifar-raw"]:
        for seed in lab.SEEDS:
            store.save(make_record(get(name), seed), *make_predictions(seed=seed), root=results_root)
    runs = lab.brief_runs("fashion_mnist")
    assert list(runs) == fashion and fashion[0] == "fashion-base" and "fashion-dropout-norm" in fashion  # ours too
    assert all([run.seed for run in seeds] == list(lab.SEEDS) for seeds in runs.values())
    with pytest.raises(lab.StoredResultError, match="cifar-norm"):  # a model not stored is said, not left out
        lab.brief_runs("cifar10")
