"""Progress bars for `lab train`: one overall (epochs of all runs), one per run.

Imports from lab: train.
"""

from __future__ import annotations

from tqdm import tqdm

from lab import train


def _done_epochs(experiment, seed) -> int:
    """The epochs an interrupted training of the run already did (it resumes after them)."""
    return train.Checkpoint(experiment, seed).saved_epoch() or 0


def _epochs_to_train(experiment, seed) -> int:
    """The epochs the run will train: those after its saved epoch, if it resumes."""
    return experiment.epochs - _done_epochs(experiment, seed)


class TrainingProgress:
    """An overall bar over every epoch to train, and a bar per run; a resumed run starts at its saved epoch."""

    def __init__(self, runs):
        self.total_epochs = sum(_epochs_to_train(experiment, seed) for experiment, seed in runs)
        self.overall = None

    def __enter__(self):
        self.overall = tqdm(total=self.total_epochs, desc="all runs", unit="epoch", position=0)
        return self

    def __exit__(self, *exc):
        self.overall.close()
        return False

    def write(self, message: str) -> None:
        tqdm.write(message)

    def train(self, experiment, seed):
        to_train, total = _epochs_to_train(experiment, seed), experiment.epochs
        with tqdm(total=total, initial=total - to_train, desc=f"{experiment.name} seed {seed}", unit="epoch",
                  position=1, leave=False) as bar:  # fmt: skip

            def on_epoch(epoch, logs):
                bar.set_postfix(acc=f"{logs['accuracy']:.3f}", val=f"{logs['val_accuracy']:.3f}")
                bar.update(1)
                self.overall.update(1)

            run = train.train(experiment, seed, on_epoch=on_epoch)
        if "weights_from" in run.record:  # evaluated from a twin's weights: no epoch was trained
            self.overall.total -= experiment.epochs
            self.overall.refresh()
        return run
