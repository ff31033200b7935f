"""The committed results: a fresh, complete run per experiment of the brief and per stored seed.

The experiments beyond the brief are checked for each seed stored so far: they are trained
in the background, one run after the other, and the chapter that shows them requires them.
"""

import numpy as np
import pytest

from lab import data, params, store
from lab.experiments import BEYOND, BRIEF, EXPERIMENTS

# Seed 0 of every experiment of the brief, and every other seed stored so far (the others are still training)
RUNS = [(name, 0) for name in BRIEF] + [
    (name, seed) for name in EXPERIMENTS for seed in store.stored_seeds(name) if seed or name in BEYOND
]


@pytest.fixture(scope="module", params=RUNS, ids=[f"{name}-seed-{seed}" for name, seed in RUNS])
def run(request):
    name, seed = request.param
    state = store.status(EXPERIMENTS[name], seed)
    assert state == store.PRESENT, f"lab train {name} --seeds {seed}: its stored result is {state}"
    return store.load(name, seed)


def test_every_experiment_has_a_fresh_result(run):
    assert run["config_hash"] == EXPERIMENTS[run.name].config_hash()


def test_the_record_is_complete(run):
    record = run.record
    for key in ("experiment", "seed", "config", "config_hash", "data", "params_total", "metrics", "history",
                "wall_seconds", "environment", "created", "predictions"):  # fmt: skip
        assert key in record, key
    assert set(record["metrics"]) == {"train", "val", "test"}
    assert len(record["history"]) == EXPERIMENTS[run.name].epochs
    assert all(set(epoch) >= {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"} for epoch in record["history"])


def test_parameters_match_the_spec(run):
    assert run["params_total"] == params.count_params(EXPERIMENTS[run.name])


def test_runs_beyond_the_brief_keep_their_weights_and_validation_predictions(run):
    if run.name in BEYOND:
        assert len(run.validation[1]) == run["data"]["val_size"]
        assert sum(w.size for w in run.weights()) == run["params_total"]


def test_provenance_says_what_the_data_was(run):
    provenance = run["data"]
    assert provenance["dataset"] == EXPERIMENTS[run.name].dataset
    if provenance["source"] == data.SOURCE_OFFLINE_JPEG:
        assert provenance["genuine"] is False and provenance["pixel_deviation"] > 0
    else:
        assert provenance["genuine"] is True
    assert len(provenance["sha256"]) == 64


def test_predictions_agree_with_the_stored_test_accuracy(run):
    assert run.probabilities.shape == (run["data"]["test_size"], 10)
    measured = float(np.mean(run.y_pred == run.y_true))
    assert measured == pytest.approx(run.accuracy("test"), abs=2e-3)  # float16 storage may flip a tie
