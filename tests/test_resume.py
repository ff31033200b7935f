"""An interrupted training resumes from its last epoch and stores exactly the uninterrupted result.

A real training process is killed (SIGKILL, nothing to clean up) in the middle of its
epochs, then started again; the run it stores is compared with the run of a process
that was never interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lab import store
from lab.experiments import get

pytestmark = pytest.mark.slow

EPOCHS = 6
TRAIN = f"""
import sys
from pathlib import Path
from lab import train
from lab.experiments import get
experiment = get("fashion-dropout").replace(epochs={EPOCHS}, train_limit=1500)
drawn = train.batch_order
def logged(seed, epoch, size):  # each epoch's order, as this process feeds it
    order = drawn(seed, epoch, size)
    with open(Path(sys.argv[1]) / "orders.txt", "a") as log:
        log.write(f"{{epoch}} {{' '.join(map(str, order[:20]))}}\\n")
    return order
train.batch_order = logged
train.train(experiment, seed=0, root=Path(sys.argv[1]))
"""


def _start(root):
    return subprocess.Popen([sys.executable, "-c", TRAIN, str(root)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=os.environ.copy())  # fmt: skip


def _checkpoint_epoch(root) -> int:
    path = store.checkpoints_dir(root) / "fashion-dropout" / "seed-0" / "state.npz"
    try:
        with np.load(path) as saved:
            return json.loads(str(saved["meta"]))["epoch"]
    except (OSError, ValueError, KeyError, EOFError):
        return 0


def _finish(process):
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr.decode()[-2000:]


@pytest.fixture(scope="module")
def interrupted_and_straight(tmp_path_factory, fashion):
    resumed_root, straight_root = tmp_path_factory.mktemp("resumed"), tmp_path_factory.mktemp("straight")
    process = _start(resumed_root)
    while _checkpoint_epoch(resumed_root) < 2 and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = _checkpoint_epoch(resumed_root)
    assert 2 <= killed_at < EPOCHS, "the training ended before it could be killed in the middle"
    assert not (store.run_dir("fashion-dropout", 0, resumed_root) / "run.json").exists()
    _finish(_start(resumed_root))
    _finish(_start(straight_root))
    resumed = store.load("fashion-dropout", 0, resumed_root)
    straight = store.load("fashion-dropout", 0, straight_root)
    orders = {name: _orders(root) for name, root in (("resumed", resumed_root), ("straight", straight_root))}
    return resumed, straight, killed_at, orders


def _orders(root) -> list[tuple[int, str]]:
    """(epoch, first indices of its order) of every epoch a process of `root` started, in order."""
    lines = (root / "orders.txt").read_text().splitlines()
    return [(int(epoch), order) for epoch, _, order in (line.partition(" ") for line in lines)]


def _without_seconds(history):
    return [{key: value for key, value in row.items() if key != "seconds"} for row in history]


def test_a_killed_training_resumes_after_its_last_epoch(interrupted_and_straight):
    resumed, _, killed_at, _ = interrupted_and_straight
    assert resumed["resumed_after_epoch"] >= killed_at
    assert len(resumed["history"]) == EPOCHS


def test_the_resumed_run_is_the_uninterrupted_run(interrupted_and_straight):
    resumed, straight, _, _ = interrupted_and_straight
    assert _without_seconds(resumed["history"]) == _without_seconds(straight["history"])
    assert resumed["metrics"] == straight["metrics"]
    assert resumed["predictions"] == straight["predictions"]  # the name carries the content's digest


def test_every_epoch_of_the_resumed_training_sees_the_uninterrupted_order(interrupted_and_straight):
    _, _, killed_at, orders = interrupted_and_straight
    straight = dict(orders["straight"])
    assert sorted(straight) == list(range(EPOCHS)) and len(set(straight.values())) == EPOCHS  # new every epoch
    # the killed process, then the resumed one from the first epoch not checkpointed
    resumed_epochs = [epoch for epoch, _ in orders["resumed"]]
    restart = len(resumed_epochs) - 1 - resumed_epochs[::-1].index(killed_at)
    assert resumed_epochs[:restart] == list(range(restart)) and restart in (killed_at, killed_at + 1)
    assert resumed_epochs[restart:] == list(range(killed_at, EPOCHS))
    assert all(order == straight[epoch] for epoch, order in orders["resumed"])


def test_the_checkpoint_is_removed_once_the_run_is_stored(interrupted_and_straight):
    resumed, _, _, _ = interrupted_and_straight
    assert not (store.checkpoints_dir(resumed.folder.parent.parent) / "fashion-dropout" / "seed-0").exists()


def test_a_checkpoint_of_another_configuration_is_not_used(tmp_path, fashion):
    from lab import train

    experiment = get("fashion-base").replace(epochs=2, train_limit=600)
    other = train.Checkpoint(experiment.replace(epochs=3), 0, tmp_path)
    model = train.models.build(experiment)
    train.compile_model(experiment, model)
    other.save(model, 1, {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5, "seconds": 1.0})
    assert not train.Checkpoint(experiment, 0, tmp_path).restore(model)


def test_a_training_killed_while_it_was_evaluated_is_only_evaluated(interrupted_and_straight, tmp_path, monkeypatch):
    from lab import train

    _, straight, _, _ = interrupted_and_straight
    experiment = get("fashion-dropout").replace(epochs=EPOCHS, train_limit=1500)

    def killed_while_evaluating(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(train, "_store", killed_while_evaluating)
        with pytest.raises(KeyboardInterrupt):
            train.train(experiment, seed=0, root=tmp_path)
    assert _checkpoint_epoch(tmp_path) == EPOCHS
    epochs_trained = []
    resumed = train.train(experiment, seed=0, root=tmp_path, on_epoch=lambda epoch, logs: epochs_trained.append(epoch))
    assert epochs_trained == []
    assert resumed["resumed_after_epoch"] == EPOCHS
    assert _without_seconds(resumed["history"]) == _without_seconds(straight["history"])
    assert resumed["metrics"] == straight["metrics"]
