"""lab: the experiments of the CNN lab (TP), their stored results and their figures.

The report's chapters read every result through `lab.result(name)`, and the runs of several
seeds through `lab.seed_runs(name)` (also called `lab.seeds`, the name the chapters use).

Imports from lab: beyond, experiments, models, store, train.
"""

import os

from lab import beyond, experiments, models, store, train
from lab.experiments import BEYOND, BRIEF, EXPERIMENTS, get
from lab.store import Run, StoredResultError

ALLOW_TRAINING_VARIABLE = "LAB_ALLOW_TRAINING"


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class ConfigurationError(ValueError):
    """An environment variable of lab holds a value lab does not understand."""


def training_allowed() -> bool:
    """Whether `lab.result()` may train a missing result: `$LAB_ALLOW_TRAINING`, allowed if unset.

    1/true/yes/on allow it, 0/false/no/off forbid it (any case); anything else is refused,
    so that a typo never starts hours of training inside a render.
    """
    value = os.environ.get(ALLOW_TRAINING_VARIABLE)
    if value is None:
        return True
    word = value.strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ConfigurationError(
        f"${ALLOW_TRAINING_VARIABLE} is {value!r}: use one of {', '.join(TRUE_WORDS)} to allow training "
        f"on demand, or one of {', '.join(FALSE_WORDS)} to forbid it"
    )


def result(name: str, seed: int = 0) -> Run:
    """The stored run of an experiment, trained first if it is missing or stale and training is allowed."""
    experiment = get(name)
    state = store.status(experiment, seed)
    if state == store.PRESENT:
        return store.load(name, seed)
    if state == store.CORRUPT:
        store.load(name, seed)  # raises CorruptResultError, which says what is wrong
    if not training_allowed():
        raise StoredResultError(
            f"the stored result of {name!r} seed {seed} is {state} and training is not allowed "
            f"(${ALLOW_TRAINING_VARIABLE}={os.environ.get(ALLOW_TRAINING_VARIABLE)}). "
            f"Train it with: lab train {name} --seeds {seed}"
        )
    return train.train(experiment, seed)


# The seeds the book reads, the same for every model of the brief and every control (`experiments.FIVE_SEEDS`;
# question 5.3 alone reads three more of two models, `experiments.REPLICATION_SEEDS`). Chapter "Aller plus loin"
# reads its chains on three (`beyond.SEEDS`).
SEEDS = experiments.FIVE_SEEDS


def seed_runs(name: str, wanted=None) -> list[Run]:
    """The runs of an experiment over several seeds: seed 0 as `result()` gives it, then each
    other seed of `wanted` whose stored result is present and fresh (the others are not yet trained).

    `wanted`: by default `SEEDS`, the seeds the book reads.
    A corrupt one is refused (`CorruptResultError`), never left out: its seed would be missing silently."""
    wanted = wanted or list(SEEDS)
    runs = [result(name, wanted[0])]
    for seed in wanted[1:]:
        try:
            run = store.load(name, seed)
        except store.CorruptResultError:
            raise
        except StoredResultError:
            continue  # not trained yet
        if store.is_fresh(run, get(name)):
            runs.append(run)
    return runs


seeds = seed_runs  # the name the chapters call


def planned_runs(name: str) -> list[Run]:
    """The runs of every seed an experiment is planned with (`Experiment.seeds`: the book's seeds, eight for
    question 5.3's two models and the JPEG copy's sample controls), where stored."""
    return seed_runs(name, get(name).seeds)


def trainings() -> dict[str, list[Run]]:
    """Every training the book reads, by experiment (the introduction counts them, the appendix times them): the
    seeds each experiment is planned with (its book's seeds, and question 5.3's three more), but the test-time
    views, which evaluate the weights of the step before again."""
    trained = [name for name, experiment in EXPERIMENTS.items()
               if not (experiment.test_time_flip or experiment.test_time_shift)]
    return {name: planned_runs(name) for name in trained}


def brief_runs(dataset: str) -> dict[str, list[Run]]:
    """The book's seeds of each model of `BRIEF` on `dataset` ("fashion_mnist" or "cifar10"), in the brief's order
    (our two models of `OURS_IN_BRIEF` included): question 5.7 compares those of CIFAR-10, the conclusion sums up."""
    return {name: seed_runs(name) for name in BRIEF if get(name).dataset == dataset}


def beyond_runs() -> dict[str, list[Run]]:
    """The runs the chapter "Aller plus loin" reads (`lab.beyond`): the three seeds of `beyond.SEEDS` of each step of
    its chains and of each variant tried, where stored; the brief's model a chain starts from too (it has five), so
    that every row of a chain's table is a mean over the same seeds."""
    names = [*(name for chain in beyond.CHAINS.values() for name in chain), *beyond.TRIED]
    return {name: seed_runs(name, beyond.SEEDS) for name in names}


def replication_runs() -> list[list[Run]]:
    """Question 5.3's replication: the seeds of `experiments.REPLICATION_SEEDS` of its model without, then with
    BatchNormalization (`experiments.REPLICATED`), read alone (question 5.3 pools them with the book's five too, as
    a second look decided after the first, so not an independent test)."""
    return [seed_runs(name, experiments.REPLICATION_SEEDS) for name in experiments.REPLICATED]


def trained_model(name: str, seed: int = 0, model_name: str | None = None):
    """The Keras model of a stored run, with its trained weights (runs stored since weights are kept).

    `model_name`: the Keras model's name, if not the experiment's.
    """
    run = result(name, seed)
    weights = run.weights()
    if weights is None:
        raise StoredResultError(f"the stored run of {name!r} seed {seed} has no weights (trained before they "
                                f"were kept); retrain it with: lab train {name} --seeds {seed}")  # fmt: skip
    model = models.build(experiments.from_config(run.config).replace(name=model_name or run.name))
    model.set_weights(weights)
    return model


def results(*names: str, seed: int = 0) -> dict[str, Run]:
    """Several stored runs by name (all the brief's experiments if none is named)."""
    return {name: result(name, seed) for name in (names or BRIEF)}


__all__ = ["BEYOND", "BRIEF", "EXPERIMENTS", "SEEDS", "ConfigurationError", "Run", "StoredResultError", "get",
           "beyond_runs", "brief_runs", "planned_runs", "replication_runs", "result", "results", "seed_runs", "seeds",
           "trained_model", "training_allowed", "trainings"]  # fmt: skip
