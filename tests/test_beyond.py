"""The chapter "Aller plus loin" as data (lab.beyond): steps, the rule that chooses, the variants tried."""

import numpy as np
import pytest

from lab import beyond, experiments, stats
from tests.test_stats import _step


@pytest.fixture
def chain_runs(tmp_path):
    # validation and test alike (`_step`): 400 images, correct counts per seed
    return {"brief": _step(tmp_path, "cifar-conv6-bn-20", [300, 304, 296]),
            "bigger": _step(tmp_path, "cifar-conv6-bn-20-aug", [330, 334, 326]),  # +7.5 pt, every seed: beyond
            "bigger-still": _step(tmp_path, "cifar-conv6-bn-20-aug-cos", [331, 333, 328])}  # +0.2 pt: within


def test_each_step_is_compared_with_the_one_before_on_validation_and_on_test(chain_runs):
    steps = beyond.steps(["brief", "bigger", "bigger-still"], chain_runs)
    assert [s.on_validation is None for s in steps] == [True, False, False]
    assert steps[1].on_validation.result == stats.BETTER and steps[2].on_validation.result == stats.SAME
    assert steps[1].on_test.split == "test" and steps[1].on_validation.split == "val"
    assert steps[1].val_accuracy == pytest.approx(330 / 400) and steps[1].seeds == 3


def test_validation_decides_and_within_the_margin_the_simpler_model(chain_runs):
    # "bigger-still" validates best by a hair: the earlier "bigger" is within the margin, so the rule keeps it
    assert beyond.chosen(["brief", "bigger", "bigger-still"], chain_runs) == "bigger"
    assert beyond.chosen(["brief", "bigger"], chain_runs) == "bigger"
    assert beyond.chosen(["brief"], chain_runs) == "brief"


def test_a_variant_is_kept_only_beyond_the_margin(chain_runs, tmp_path):
    chain_runs["mirror"] = _step(tmp_path, "fashion-vgg-cos-mirror", [333])
    tried = beyond.tried(chain_runs, {"bigger-still": "bigger", "mirror": "brief"})
    assert list(tried["kept"]) == [False, True]
    assert tried.loc["bigger-still", "on_validation"].result == stats.SAME


def test_the_chains_and_the_variants_are_experiments_of_the_new_chapter():
    for dataset, chain in beyond.CHAINS.items():
        assert all(experiments.get(name).dataset == dataset for name in chain)
        assert chain[0] in experiments.BRIEF  # each starts from the brief's last model of its dataset
        assert all(name in experiments.BEYOND for name in chain[1:])
    assert all(step in sum(beyond.CHAINS.values(), ()) for step in beyond.TRIED.values())


def test_the_published_results_are_read_in_their_source_and_sorted():
    rows = beyond.published("fashion_mnist")
    assert all(row.checked for row in rows)
    assert [row.accuracy for row in rows] == sorted((row.accuracy for row in rows), reverse=True)


def _split_runs(tmp_path, name, correct_val, correct_test, n=400):
    """One run (seed 0) whose validation and test predictions differ: `correct_*` images right of `n`."""
    from lab import store
    from tests.test_store import make_record

    def split(correct):
        probabilities = np.full((n, 10), 0.01, dtype=np.float32)
        probabilities[np.arange(n), [0] * correct + [1] * (n - correct)] = 0.91
        return probabilities, np.zeros(n, dtype=np.int64)

    record = make_record(experiments.get(name), accuracy=correct_test / n)
    record["metrics"]["val"]["accuracy"] = correct_val / n
    return [store.save(record, *split(correct_test), tmp_path / name, validation=split(correct_val))]


def test_a_variant_is_decided_on_its_validation_margin_not_its_test_one(tmp_path):
    step, variant = "fashion-vgg-cos", "fashion-vgg-cos-flip"
    runs = {step: _split_runs(tmp_path, step, correct_val=340, correct_test=300),
            variant: _split_runs(tmp_path, variant, correct_val=300, correct_test=340)}  # fmt: skip
    row = beyond.tried(runs, {variant: step}).loc[variant]
    assert row["on_validation"].split == "val" and row["on_validation"].gain == pytest.approx(-0.1)
    assert row["on_validation"].result == stats.WORSE and row["on_test"].result == stats.BETTER
    assert not row["kept"]
