"""lab: the experiments of the CNN lab (TP), their stored results and their figures.

The report's chapters read every result through `lab.result(name)`.
"""

import os

from lab.experiments import EXPERIMENTS, get
from lab.store import Run, StoredResultError

ALLOW_TRAINING_VARIABLE = "LAB_ALLOW_TRAINING"


def training_allowed() -> bool:
    """Training on demand is allowed unless `$LAB_ALLOW_TRAINING` is 0 (the tests set it)."""
    return os.environ.get(ALLOW_TRAINING_VARIABLE, "1").strip().lower() not in ("0", "false", "no")


def result(name: str, seed: int = 0) -> Run:
    """The stored run of an experiment, trained first if it is missing or stale and training is allowed."""
    from lab import store, train

    experiment = get(name)
    state = store.status(experiment, seed)
    if state == store.PRESENT:
        return store.load(name, seed)
    if not training_allowed():
        raise StoredResultError(
            f"the stored result of {name!r} seed {seed} is {state} and training is not allowed "
            f"(${ALLOW_TRAINING_VARIABLE}=0). Train it with: lab train {name} --seeds {seed}"
        )
    return train.train(experiment, seed)


def results(*names: str, seed: int = 0) -> dict[str, Run]:
    """Several stored runs by name (all the brief's experiments if none is named)."""
    return {name: result(name, seed) for name in (names or EXPERIMENTS)}


__all__ = ["EXPERIMENTS", "Run", "StoredResultError", "get", "result", "results", "training_allowed"]
