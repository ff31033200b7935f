"""Damaged or mistyped files never stop the lab, and never pass for good data (issue 30).

Each test is a case of a probe of hostile files: a damaged checkpoint, a run.json whose fields
lie or have the wrong type, folders that cannot be written, a full disk, odd seeds and signals.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import signal

import pytest

import lab
from lab import cli, store
from lab import train as train_module
from lab.experiments import EXPERIMENTS
from tests.test_cli import fake_training, store_fake  # noqa: F401 - the fixture, used by name
from tests.test_store import make_predictions, make_record

BASE = EXPERIMENTS["fashion-base"]
ROW = {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5, "seconds": 1.0}


# A damaged checkpoint: reported, set aside, the training starts from epoch 0


def _checkpoint(experiment, seed=0, root=None, epoch=1):
    """A real checkpoint of `experiment` after `epoch`, as `lab train` leaves it (a built and compiled model)."""
    model = train_module.models.build(experiment)
    train_module.compile_model(experiment, model)
    model.optimizer.build(model.trainable_variables)
    checkpoint = train_module.Checkpoint(experiment, seed, root)
    for done in range(1, epoch + 1):
        checkpoint.save(model, done, dict(ROW))
    return checkpoint, model


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_a_bit(path):
    """A bit flipped inside the last array's data: the archive opens, its meta reads, the CRC does not match."""
    content = bytearray(path.read_bytes())
    content[int(len(content) * 0.8)] ^= 0x10
    path.write_bytes(bytes(content))


DAMAGES = {"truncated": _truncate, "bit-flipped": _flip_a_bit}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_status_reports_a_damaged_checkpoint_and_never_promises_a_resume(capsys, results_root, damage):
    checkpoint, _ = _checkpoint(BASE)
    DAMAGES[damage](checkpoint.path)
    assert checkpoint.saved_epoch() is None
    assert cli.main(["status", "--seeds", "0"]) == 1
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("fashion-base "))
    assert "resumes" not in line and "damaged checkpoint" in line and "epoch 0" in line


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_checkpoint_is_set_aside_and_the_training_starts_from_the_beginning(tmp_path, damage):
    checkpoint, model = _checkpoint(BASE, root=tmp_path)
    DAMAGES[damage](checkpoint.path)
    damaged = checkpoint.path.read_bytes()
    fresh = train_module.Checkpoint(BASE, 0, tmp_path)
    with pytest.warns(UserWarning, match="cannot be read.*set aside.*epoch 0"):
        assert not fresh.restore(model)
    assert fresh.epoch == 0 and not fresh.path.exists()
    aside = list(fresh.folder.glob("state.npz.damaged*"))
    assert len(aside) == 1 and aside[0].read_bytes() == damaged  # kept for a look, out of the way


def test_train_missing_goes_on_past_a_damaged_checkpoint(fake_training, results_root):  # noqa: F811
    checkpoint, _ = _checkpoint(BASE)
    _truncate(checkpoint.path)
    assert cli.main(["train", "fashion-base", "cifar-norm", "--missing", "--seeds", "0"]) == 0
    assert fake_training == [("fashion-base", 0), ("cifar-norm", 0)]


# Wrong numbers: a run whose fields lie is corrupt


def _stored(root, experiment=BASE, seed=0, **changes):
    """A stored run of `experiment` and `seed`, then its run.json's fields replaced by `changes`."""
    run = store.save(make_record(experiment, seed), *make_predictions(), root=root)
    path = run.folder / "run.json"
    record = json.loads(path.read_text())
    for dotted, value in changes.items():
        *parents, key = dotted.split(".")
        target = record
        for parent in parents:
            target = target[int(parent)] if isinstance(target, list) else target[parent]
        target[int(key) if isinstance(target, list) else key] = value
    path.write_text(json.dumps(record))
    return run.folder


def test_a_seed_folder_copied_over_another_is_corrupt(results_root):
    for seed in (0, 1):
        store.save(make_record(BASE, seed), *make_predictions(seed=seed), root=results_root)
    shutil.copytree(results_root / "fashion-base" / "seed-1", results_root / "fashion-base" / "seed-2")
    assert store.status(BASE, 2) == store.CORRUPT
    with pytest.raises(store.CorruptResultError, match=r"seed 1.*seed-2"):
        store.load("fashion-base", 2)
    with pytest.raises(store.CorruptResultError):
        lab.seeds("fashion-base")  # never 0, 1, 1: the statistics would rest on two networks


def test_a_run_filed_under_another_experiment_is_corrupt(results_root):
    store.save(make_record(BASE), *make_predictions(), root=results_root)
    shutil.copytree(results_root / "fashion-base", results_root / "fashion-dropout")
    with pytest.raises(store.CorruptResultError, match="'fashion-base'.*fashion-dropout"):
        store.load("fashion-dropout", 0)


MISTYPED = {
    "a NaN test accuracy": {"metrics.test.accuracy": math.nan},
    "a test accuracy as text": {"metrics.test.accuracy": "0.9"},
    "a validation accuracy above 1": {"metrics.val.accuracy": 1.5},
    "an infinite training loss": {"metrics.train.loss": math.inf},
    "a negative loss": {"metrics.val.loss": -0.1},
    "no validation metrics": {"metrics.val": None},
    "a history that is text": {"history": "oops"},
    "an empty history": {"history": []},
    "a history row without its seconds": {"history.0": {"loss": 1.0, "accuracy": 0.6, "val_loss": 0.9,
                                                        "val_accuracy": 0.65}},  # fmt: skip
    "a NaN in the history": {"history.1.val_accuracy": math.nan},
    "a seed as text": {"seed": "0"},
    "a config that is not a table": {"config": "fashion-base"},
    "a training time as text": {"wall_seconds": "3.5"},
}


@pytest.mark.parametrize("case", list(MISTYPED))
def test_a_field_of_the_wrong_type_or_value_makes_the_run_corrupt(results_root, case):
    _stored(results_root, **MISTYPED[case])
    assert store.status(BASE, 0) == store.CORRUPT
    with pytest.raises(store.CorruptResultError, match="lab train fashion-base --seeds 0"):
        store.load("fashion-base", 0)


def test_a_mistyped_accuracy_is_one_corrupt_line_in_status_and_retrained_by_train_missing(
        capsys, fake_training, results_root):  # noqa: F811  # fmt: skip
    _stored(results_root, **{"metrics.test.accuracy": "0.9"})
    assert cli.main(["status", "--seeds", "0"]) == 1
    assert "fashion-base" in capsys.readouterr().out
    assert cli.main(["train", "fashion-base", "--missing", "--seeds", "0"]) == 0
    assert fake_training == [("fashion-base", 0)]
    assert store.status(BASE, 0) == store.PRESENT


def test_result_refuses_a_mistyped_run_with_the_reason(results_root):
    _stored(results_root, history="oops")
    with pytest.raises(store.CorruptResultError, match="history"):
        lab.result("fashion-base")


# Writability: every folder a training writes, checked before its first epoch


def _no_training(*args, **kwargs):
    raise AssertionError("training started although its result could not be stored")


def test_a_read_only_experiment_folder_is_refused_before_the_first_epoch(results_root, monkeypatch):
    """Simulated (the suite may run as root, who writes anywhere): the experiment's folder refuses files."""
    refused = results_root / "fashion-base"
    refused.mkdir()
    real = store.tempfile.NamedTemporaryFile

    def refuse_there(*args, dir=None, **kwargs):
        if dir is not None and str(dir).startswith(str(refused)):
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(store.tempfile, "NamedTemporaryFile", refuse_there)
    monkeypatch.setattr(train_module, "prepared_data", _no_training)
    with pytest.raises(store.ResultsNotWritableError, match=f"{refused}.*Permission denied"):
        train_module.train(BASE, 0)


def test_a_checkpoints_folder_that_is_a_file_is_refused_before_the_first_epoch(results_root, monkeypatch):
    (results_root / ".checkpoints").write_text("")
    monkeypatch.setattr(train_module, "prepared_data", _no_training)
    with pytest.raises(store.ResultsNotWritableError, match=r"\.checkpoints"):
        train_module.train(BASE, 0)


def test_lab_train_checks_every_run_folder_before_training_any(capsys, fake_training, results_root):  # noqa: F811
    (results_root / "cifar-norm").write_text("")  # the second experiment's folder is a file
    assert cli.main(["train", "fashion-base", "cifar-norm", "--seeds", "0"]) == 1
    assert fake_training == []
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "cifar-norm" in err and "Traceback" not in err


def test_a_full_disk_is_one_line_and_loses_nothing(capsys, fake_training, results_root, monkeypatch):  # noqa: F811
    store.check_trainable()  # the folder is marked before the disk fills
    previous = store_fake(BASE, 0)
    before = {path.name: path.read_bytes() for path in previous.folder.iterdir()}

    def full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "fsync", full)
    assert cli.main(["train", "fashion-base", "--seeds", "0"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "No space left on device" in err
    assert err.strip().splitlines()[-1].startswith("lab: ")
    assert {path.name: path.read_bytes() for path in previous.folder.iterdir()} == before


# Seeds, signals, messages


def test_a_seed_named_twice_is_trained_once(fake_training, results_root):  # noqa: F811
    assert cli.main(["train", "fashion-base", "fashion-base", "--seeds", "0", "0", "--missing"]) == 0
    assert fake_training == [("fashion-base", 0)]


def test_sigterm_says_what_happens_to_the_run_in_progress(capsys, monkeypatch, results_root):
    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop lab")

    monkeypatch.setattr(train_module, "train", terminated)
    previous = signal.getsignal(signal.SIGTERM)
    assert cli.main(["train", "fashion-base", "--seeds", "0"]) == 128 + signal.SIGTERM
    assert "terminated" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) == previous


@pytest.mark.parametrize("value", ["off", "false", "No"])
def test_the_refusal_quotes_the_value_that_forbade_training(results_root, monkeypatch, value):
    monkeypatch.setenv("LAB_ALLOW_TRAINING", value)
    with pytest.raises(store.StoredResultError, match=f"LAB_ALLOW_TRAINING={value}"):
        lab.result("cifar-dropout", seed=2)


def test_a_damaged_offline_fashion_file_is_named_not_blamed_on_the_cache(tmp_path, monkeypatch, fresh_keras_home,
                                                                        no_network):  # fmt: skip
    import gzip

    from lab import data

    offline = tmp_path / "offline"
    (offline / "fashion-mnist").mkdir(parents=True)
    for name in data.FASHION_FILES:
        (offline / "fashion-mnist" / name).write_bytes(gzip.compress(b"\0" * 64))
    damaged = offline / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
    damaged.write_bytes(b"\x1f\x8b not really gzip")
    monkeypatch.setenv("LAB_DATA_DIR", str(offline))
    with pytest.raises(data.DatasetUnavailableError) as raised:
        data.load_fashion_mnist()
    message = str(raised.value)
    assert str(damaged) in message and "offline" in message
    assert "cache" not in message.split(str(damaged))[0]  # the offline file is named, not the Keras cache


def test_validation_predictions_that_disagree_with_the_stored_validation_accuracy_are_corrupt(results_root):
    record = make_record(BASE, 0)  # 0.9 on every split
    store.save(record, *make_predictions(seed=0), root=results_root, validation=make_predictions(seed=1, accuracy=0.9))
    assert store.status(BASE, 0) == store.PRESENT
    store.save(record, *make_predictions(seed=0), root=results_root, validation=make_predictions(seed=1, accuracy=0.5))
    assert store.status(BASE, 0) == store.CORRUPT
    with pytest.raises(store.CorruptResultError, match="validation accuracy of 0.5000 but .* says 0.9000"):
        store.load("fashion-base", 0)
