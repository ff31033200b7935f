"""Store the run of an ensemble: the mean of its members' probabilities, as one model's run.

An ensemble (`lab.experiments.Ensemble`) trains nothing of its own: its seed k is the
networks of its member experiment with the seeds `member_seeds(k)`, trained and stored
as any other run (`lab train` trains those that are missing first). Its run is stored
like theirs, so that every reader of a run (tables, comparisons, calibration) reads it
unchanged:

- validation and test probabilities: the mean of the members' stored ones;
- training accuracy: the mean of the members' training probabilities, which the members
  store since ensembles exist; for older members, their weights predict the training split
  again, with the same views;
- `wall_seconds`: the sum of the members' (each includes its own prediction on every
  split); the time this run took is `evaluation_seconds`, kept apart because it only
  redoes predictions the members already made;
- history: per epoch, the mean of the members' metrics, and the sum of their seconds
  (an epoch of the ensemble is one epoch of each member);
- `members`: each member's name, seed, config hash, training time and machine.

Imports from lab: data, models, predict, store (not the training module, which builds ensembles through `build`).
"""

from __future__ import annotations

import datetime
import itertools
import time

import numpy as np
import pandas as pd

from lab import data, models, predict, store

HISTORY_MEANS = ("loss", "accuracy", "val_loss", "val_accuracy")


class MemberMismatchError(store.StoredResultError):
    """The members of an ensemble were not evaluated on the same images."""


def member_runs(ensemble, seed: int, root=None, train_missing=None) -> list[store.Run]:
    """The fresh stored runs of the ensemble's members for `seed`.

    A member missing, stale or corrupt is trained with `train_missing(experiment, seed)` if given,
    else refused with the command that trains it.
    """
    member, runs = ensemble.experiment, []
    for member_seed in ensemble.member_seeds(seed):
        state = store.status(member, member_seed, root)
        if state != store.PRESENT:
            if train_missing is None:
                raise store.StoredResultError(
                    f"{ensemble.name} seed {seed} needs {member.name} seed {member_seed}, which is {state}; "
                    f"train it with: lab train {member.name} --seeds {member_seed}"
                )
            train_missing(member, member_seed)
        run = store.load(member.name, member_seed, root)
        if "weights" not in run.record:  # its training split is predicted again from them
            retrain = f"lab train {member.name} --seeds {member_seed}"
            raise store.StoredResultError(f"{member.name} seed {member_seed} was stored without its weights; "
                                          f"retrain it with: {retrain}")  # fmt: skip
        runs.append(run)
    return runs


def mean_probabilities(runs, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The mean of the runs' probabilities on `split` ("train", "val" or "test"), and the true labels they share."""
    pairs = [run.predictions(split) for run in runs]
    if any(pair is None for pair in pairs):
        raise MemberMismatchError(f"a member has no stored {split} predictions; retrain it with lab train")
    labels = pairs[0][1]
    if any(not np.array_equal(truth, labels) for _, truth in pairs):
        raise MemberMismatchError(f"the members' {split} labels differ: they were not evaluated on the same images")
    return np.mean([probabilities for probabilities, _ in pairs], axis=0), labels


def mean_history(runs) -> list[dict]:
    """Per epoch, the members' mean metrics and their summed seconds."""
    rows = zip(*(run.record["history"] for run in runs), strict=True)
    return [{**{key: float(np.mean([row[key] for row in epoch])) for key in HISTORY_MEANS},
             "seconds": float(sum(row["seconds"] for row in epoch))} for epoch in rows]  # fmt: skip


def training_probabilities(ensemble, runs) -> tuple[np.ndarray, np.ndarray]:
    """The mean of the members' probabilities on the training split: those they stored (members
    trained since ensembles exist), else predicted again from their stored weights."""
    if all(run.training is not None for run in runs):
        return mean_probabilities(runs, "train")

    (x_train, y_train), _, _, _ = data.prepared_data(ensemble.experiment)
    views = {"flip": ensemble.test_time_flip, "shift": ensemble.test_time_shift}
    total = 0.0
    for run in runs:
        model = models.build(ensemble.experiment)
        model.set_weights(run.weights())
        total = total + predict.predict(model, x_train, **views)
    return total / len(runs), y_train


def build(ensemble, seed: int = 0, root=None, train_missing=None) -> store.Run:
    """Average the members' predictions for `seed` and store the ensemble's run."""
    runs = member_runs(ensemble, seed, root, train_missing)
    started = time.perf_counter()  # the members' own time is theirs
    splits = {split: mean_probabilities(runs, split) for split in ("val", "test")}
    splits["train"] = training_probabilities(ensemble, runs)
    first = runs[0].record
    record = {
        "experiment": ensemble.name,
        "seed": seed,
        "config": ensemble.config(),
        "config_hash": ensemble.config_hash(),
        "procedure": store.PROCEDURE,
        "data": first["data"],
        "params_total": sum(run["params_total"] for run in runs),
        "params_expected": sum(run["params_expected"] for run in runs),
        "metrics": {split: predict.probability_metrics(*splits[split]) for split in ("train", "val", "test")},
        "history": mean_history(runs),
        "wall_seconds": float(sum(run["wall_seconds"] for run in runs)),
        "environment": first["environment"],
        "members": [{"experiment": run.name, "seed": run.seed, "config_hash": run["config_hash"],
                     "wall_seconds": run["wall_seconds"], "environment": run["environment"]}
                    for run in runs],  # fmt: skip
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    record["evaluation_seconds"] = time.perf_counter() - started
    return store.save(record, *splits["test"], root, validation=splits["val"])


def seed_pairs(runs):
    """Every pair of the given runs of one experiment (its seeds), averaged as an ensemble of two.

    One row per pair (`seeds`: "0+1"…): the pair's validation and test accuracies, its gain on
    each over the mean of its two runs, and the time of both trainings. Pairs that share a run
    are not independent measurements.
    """
    rows = []
    for pair in itertools.combinations(runs, 2):
        row = {"seeds": "+".join(str(run.seed) for run in pair), "seconds": sum(run["wall_seconds"] for run in pair)}
        for split in ("val", "test"):
            probabilities, labels = mean_probabilities(pair, split)
            row[split] = float((probabilities.argmax(axis=1) == labels).mean())
            row[f"{split}_gain"] = row[split] - float(np.mean([run.accuracy(split) for run in pair]))
        rows.append(row)
    return pd.DataFrame(rows).set_index("seeds")


def estimated_seconds(ensemble, runs) -> float:
    """The ensemble's training time, estimated from `runs` of a network trained as its member but longer.

    Each member: its epochs at the median epoch of those runs, plus their prediction time (the
    time of a run not spent in its epochs: the views of every split), both medians over the runs.
    """
    epoch = float(np.median([run.history["seconds"].median() for run in runs]))
    prediction = float(np.median([run["wall_seconds"] - run.history["seconds"].sum() for run in runs]))
    return ensemble.size * (ensemble.epochs * epoch + prediction)
