"""The chapter "Aller plus loin" as data (lab.beyond): steps, the rule that chooses, the variants tried."""

import numpy as np
import pytest

from lab import beyond, experiments, stats
from tests.test_stats import _step


@pytest.fixture
def chain_runs(tmp_path):
    # validation and test alike (`_step`): 400 images, correct counts per seed
    return {"brief": _step(tmp_path, "cifar-conv6-bn-20", [300, 304, 296]),
            "bigger": _step(tmp_path, "cifar-conv6-bn-20-cos", [330, 334, 326]),  # +7.5 pt, every seed: beyond
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


def test_a_kept_variant_is_a_candidate_right_after_its_step(chain_runs, tmp_path):
    chain = ["brief", "bigger", "bigger-still"]
    chain_runs["mirror"] = _step(tmp_path, "fashion-vgg-cos-mirror", [360])  # +7.5 pt on "bigger", seed 0: kept
    chain_runs["flip"] = _step(tmp_path, "cifar-vgg-20-cos", [300])  # below "bigger-still": discarded
    tried = beyond.tried(chain_runs, {"mirror": "bigger", "flip": "bigger-still"})
    assert beyond.candidates(chain, tried) == ("brief", "bigger", "mirror", "bigger-still")
    assert beyond.chosen(beyond.candidates(chain, tried), chain_runs) == "mirror"  # beyond the margin of the rest
    assert beyond.candidates(chain, beyond.tried(chain_runs, {})) == tuple(chain)


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
    step, variant = "cifar-vgg-20-aug-cos", "cifar-vgg-20-cos"
    runs = {step: _split_runs(tmp_path, step, correct_val=340, correct_test=300),
            variant: _split_runs(tmp_path, variant, correct_val=300, correct_test=340)}  # fmt: skip
    row = beyond.tried(runs, {variant: step}).loc[variant]
    assert row["on_validation"].split == "val" and row["on_validation"].gain == pytest.approx(-0.1)
    assert row["on_validation"].result == stats.WORSE and row["on_test"].result == stats.BETTER
    assert not row["kept"]


def test_a_disagreement_is_a_step_whose_test_goes_the_other_way_from_its_validation(tmp_path):
    step, variant = "fashion-vgg", "fashion-vgg-cos"
    runs = {step: _split_runs(tmp_path, step, correct_val=340, correct_test=300),
            variant: _split_runs(tmp_path, variant, correct_val=300, correct_test=340)}  # fmt: skip
    assert beyond.disagreements(beyond.steps([step, variant], runs)) == [variant]
    runs[variant] = _split_runs(tmp_path / "again", variant, correct_val=350, correct_test=340)
    assert beyond.disagreements(beyond.steps([step, variant], runs)) == []


# The tables and the code of the chapter (lab.report)


def _cells(markdown) -> list[list[str]]:
    return [[cell.strip() for cell in row.split("|")[1:-1]] for row in markdown.data.splitlines()[2:]]


NBSP = "\u00a0"


@pytest.fixture
def named_runs(chain_runs):
    """The chain's runs under the names of the experiments they are runs of (a table shows their titles)."""
    return {runs[0].name: runs for runs in chain_runs.values()}


def test_the_steps_table_says_each_step_s_validation_comparison_with_the_one_above(named_runs):
    from lab import report

    rows = _cells(report.steps_table(beyond.steps(list(named_runs), named_runs)))
    # mean ± standard deviation over the seeds: 300, 304 and 296 right of 400
    spread = f"75,0{NBSP}±{NBSP}1,0{NBSP}%"
    assert rows[0] == ["6 conv + BatchNorm, 20 époques", spread, spread, "", ""]
    assert rows[1][0] == "taux d'apprentissage en cosinus"  # the title without its « + », not a Typst list item
    # the seeds err on the same images: one seed's image error
    assert rows[1][3] == f"+7,5{NBSP}points (marge{NBSP}2,5)"
    assert [row[4] for row in rows[1:]] == [{stats.BETTER: "gain", stats.SAME: "non"}[step.on_validation.result]
                                             for step in beyond.steps(list(named_runs), named_runs)[1:]]


def test_the_tried_table_says_whether_the_rule_keeps_each_variant(named_runs, tmp_path):
    from lab import report

    named_runs["fashion-vgg-cos-mirror"] = _step(tmp_path, "fashion-vgg-cos-mirror", [333])
    tried = beyond.tried(named_runs, {"cifar-conv6-bn-20-aug-cos": "cifar-conv6-bn-20-cos",
                                      "fashion-vgg-cos-mirror": "cifar-conv6-bn-20"})
    rows = _cells(report.tried_table(tried))
    assert [row[0] for row in rows] == ["CIFAR-10", "Fashion-MNIST"]  # where the data set changes
    assert [row[1] for row in rows] == ["augmentation (miroir, translation)", "prédiction moyennée avec l'image miroir"]
    assert [row[2] for row in rows] == ["3", "1"]  # the seeds compared
    assert [row[5] for row in rows] == ["non", "oui"]
    same_set = beyond.tried(named_runs, {"cifar-conv6-bn-20-aug-cos": "cifar-conv6-bn-20-cos",
                                         "cifar-conv6-bn-20-cos": "cifar-conv6-bn-20"})
    assert [row[0] for row in _cells(report.tried_table(same_set))] == ["CIFAR-10", ""]


def test_the_published_table_sets_ours_beside_theirs():
    from lab import references, report

    ours = references.Reference("cifar10", "Nous", 0.8512, "20 époques", "ce rapport", checked=True)
    rows = _cells(report.published_table([*beyond.published("fashion_mnist")[:2], *beyond.published("cifar10"), ours]))
    assert [row[0] for row in rows] == ["Fashion-MNIST", "", "CIFAR-10", "", ""]  # where the data set changes
    assert rows[2][1:3] == ["airbench94 (blocs de 64, 256, 256 filtres)", f"94,0{NBSP}%"]
    assert rows[-1] == ["", "Nous", f"85,1{NBSP}%", "20 époques", "ce rapport"]
    assert [bool(row[4]) for row in rows] == [True, False, True, True, True]  # each source once in a row


def test_the_chapter_reads_seeds_0_1_and_2_of_each_step_and_variant():
    import lab

    runs = lab.beyond_runs()
    assert list(runs) == [*(name for chain in beyond.CHAINS.values() for name in chain), *beyond.TRIED]
    # the brief's CIFAR-10 model it starts from has five seeds stored: the book reads three
    assert all([run.seed for run in seeds] == [0, 1, 2] for seeds in runs.values())


def test_the_book_s_trainings_leave_out_the_test_time_views():
    import lab

    runs = lab.trainings()
    views = {name for name, experiment in experiments.EXPERIMENTS.items()
             if experiment.test_time_flip or experiment.test_time_shift}
    assert views == {"fashion-vgg-cos-mirror", "cifar-vgg-20-aug-cos-views"} and not views & set(runs)
    assert set(runs) | views == set(experiments.EXPERIMENTS)
    # five seeds for the brief's models and controls (eight for question 5.3's two and the JPEG copy's two sample
    # controls), three for the chapter's steps and variants: the seeds each is planned with
    assert all([run.seed for run in seeds] == list(experiments.get(name).seeds) for name, seeds in runs.items())
    eight = {*experiments.REPLICATED, *experiments.SAMPLE_CONTROLS}
    assert {name for name, seeds in runs.items() if len(seeds) == 8} == eight
    assert all(len(seeds) == (3 if name in lab.BEYOND else 5) for name, seeds in runs.items() if name not in eight)


def test_question_5_3_s_replication_reads_seeds_5_to_7_of_its_two_models_alone():
    import lab

    without, with_bn = lab.replication_runs()
    assert [run.name for run in without + with_bn] == ["cifar-conv6"] * 3 + ["cifar-conv6-bn"] * 3
    assert [run.seed for run in without] == [run.seed for run in with_bn] == [5, 6, 7]
