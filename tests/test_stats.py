"""Decisions over seeds: paired differences, the margin, better / worse / same, the choice of a model."""

import numpy as np
import pandas as pd
import pytest

from lab import stats
from tests.test_analysis import make_run


def _runs(tmp_path, name, correct_per_seed, n=400):
    """One run per seed; seed s has its first `correct_per_seed[s]` images right."""
    truth = [0] * n
    return [_seeded(make_run(tmp_path / f"{name}-{seed}", y_true=truth, y_pred=[0] * c + [1] * (n - c)), seed)
            for seed, c in enumerate(correct_per_seed)]  # fmt: skip


def _seeded(run, seed):
    run.record["seed"] = seed
    return run


def test_a_single_seed_s_image_error_is_the_paired_standard_error_of_its_images(tmp_path):
    truth = [0] * 100
    a = make_run(tmp_path / "a", y_true=truth, y_pred=[0] * 80 + [1] * 20)
    b = make_run(tmp_path / "b", y_true=truth, y_pred=[0] * 90 + [1] * 10)
    comparison = stats.compare(a, b)
    assert comparison.gain == pytest.approx(0.10)
    differences = np.array([0] * 80 + [1] * 10 + [0] * 10)
    assert comparison.image_error == pytest.approx(differences.std(ddof=1) / 10)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [([300], [340], stats.BETTER), ([340], [300], stats.WORSE), ([300], [300], stats.SAME),
     ([300, 302, 298], [340, 342, 338], stats.BETTER), ([340, 342, 338], [300, 302, 298], stats.WORSE)],
)  # fmt: skip
def test_compare_decides_beyond_the_margin(tmp_path, a, b, expected):
    comparison = stats.compare(_runs(tmp_path, "a", a), _runs(tmp_path, "b", b))
    assert comparison.result == expected
    assert comparison.gain == pytest.approx((np.mean(b) - np.mean(a)) / 400)
    assert comparison.seeds == len(a)


def test_seeds_that_disagree_are_not_a_change(tmp_path):
    """Each seed alone is beyond its test-set error, but the seeds point both ways."""
    comparison = stats.compare(_runs(tmp_path, "a", [300, 300, 300]), _runs(tmp_path, "b", [340, 260, 330]))
    assert comparison.result == stats.SAME
    assert comparison.seed_error > comparison.image_error


def test_the_image_error_is_that_of_the_seeds_mean_since_they_share_their_images(tmp_path):
    """Three seeds whose per-image differences are the same: averaging them leaves the image error of one seed
    (the seeds' errors are not independent; dividing by √3 as if they were would shrink the margin)."""
    a, b = _runs(tmp_path, "a", [300, 300, 300]), _runs(tmp_path, "b", [340, 340, 340])
    comparison = stats.compare(a, b)
    one_seed = stats.compare(a[0], b[0]).image_error
    assert comparison.image_error == pytest.approx(one_seed)
    assert comparison.margin == pytest.approx(2 * one_seed)  # no spread between the seeds


def test_the_margin_combines_seed_spread_and_image_error(tmp_path):
    comparison = stats.compare(_runs(tmp_path, "a", [300, 300, 300]), _runs(tmp_path, "b", [310, 320, 330]))
    t = stats.student_quantile(3)
    assert t == pytest.approx(4.303, abs=1e-3)
    assert comparison.margin == pytest.approx(np.hypot(t * comparison.seed_error, 2 * comparison.image_error))


@pytest.mark.parametrize("n", [2, 3, 5, 30])
def test_student_quantile_is_scipy_stats_t(n):
    from scipy.stats import t

    assert stats.student_quantile(n) == pytest.approx(t.ppf(0.975, n - 1), rel=1e-12)


def test_a_single_seed_has_no_seed_error(tmp_path):
    comparison = stats.compare(_runs(tmp_path, "a", [300]), _runs(tmp_path, "b", [320]))
    assert comparison.seed_error is None and not comparison.decided_by_seeds
    assert comparison.margin == pytest.approx(2 * comparison.image_error)


def test_two_seeds_are_not_enough_to_use_the_seed_spread(tmp_path):
    """With two seeds in common, the comparison is seed 0's: t = 12.7 would decide nothing."""
    a, b = _runs(tmp_path, "a", [300, 300]), _runs(tmp_path, "b", [340, 350])
    comparison = stats.compare(a, b)
    assert comparison.seeds == 1 and comparison.gain == pytest.approx(40 / 400)
    assert comparison.result == stats.BETTER


def test_only_common_seeds_are_compared(tmp_path):
    a = _runs(tmp_path, "a", [300, 300, 300])
    b = _runs(tmp_path, "b", [340])
    assert stats.compare(a, b).seeds == 1
    with pytest.raises(ValueError, match="no seed in common"):
        stats.compare(a[1:], b)


def test_pareto_set_on_every_criterion():
    table = pd.DataFrame({"test_accuracy": [0.6, 0.7, 0.65, 0.8, 0.7], "gap": [0.01, 0.05, 0.06, 0.09, 0.05],
                          "seconds": [10, 20, 30, 100, 20], "params": [5, 5, 5, 5, 6]},
                         index=["a", "b", "c", "d", "e"])  # fmt: skip
    # c is worse than b on every criterion; e equals b but has more parameters
    assert stats.pareto_set(table) == ["a", "b", "d"]


def test_the_trade_off_is_decided_on_validation_and_computation():
    table = pd.DataFrame({"val_accuracy": [0.83, 0.84, 0.62, 0.80], "gap": [0.02, 0.08, 0.0, 0.03],
                          "compute": [50, 100, 10, 60], "params": [10, 10, 10, 10]},
                         index=["short", "long", "weak", "worse"])  # fmt: skip
    trade = stats.trade_off(table)
    assert trade.frontier == ["short", "long", "weak"]  # "worse" loses to "short" on every criterion
    assert trade.most_accurate == "long"
    assert trade.cheaper == "short"  # half the computation of "long", and better than "weak" on validation
    assert stats.trade_off(table.drop(index="short")).cheaper == "weak"


def test_mean_sd():
    assert stats.mean_sd([0.5]) == (0.5, 0.0)
    mean, sd = stats.mean_sd([0.8, 0.9, 1.0])
    assert mean == pytest.approx(0.9) and sd == pytest.approx(0.1)


def _step(tmp_path, name, correct_per_seed, n=400):
    """Like `_runs`, with the stored accuracies those predictions give (the same on validation)."""
    truth = [0] * n
    return [_seeded(make_run(tmp_path / f"{name}-{seed}", name=name, y_true=truth, y_pred=[0] * c + [1] * (n - c),
                             accuracy=c / n, same_validation=True), seed)
            for seed, c in enumerate(correct_per_seed)]  # fmt: skip


def test_compare_on_validation_needs_the_stored_validation_predictions(tmp_path):
    with_validation = _step(tmp_path, "cifar-norm", [300])
    without = _runs(tmp_path, "cifar-dropout", [310])
    on_validation = stats.compare(with_validation, with_validation, "val")
    assert on_validation.gain == 0 and on_validation.split == "val"
    assert stats.compare(with_validation, with_validation).split == "test"
    with pytest.raises(ValueError, match="no stored predictions for the split 'val'"):
        stats.compare(with_validation, without, "val")


def test_a_comparison_keeps_each_seed_s_gain(tmp_path):
    agreeing = stats.compare(_runs(tmp_path, "a", [300, 300, 300]), _runs(tmp_path, "b", [310, 320, 301]))
    assert agreeing.per_seed == pytest.approx((10 / 400, 20 / 400, 1 / 400))
    mixed = stats.compare(_runs(tmp_path, "c", [300, 300, 300]), _runs(tmp_path, "d", [340, 260, 330]))
    assert mixed.per_seed == pytest.approx((40 / 400, -40 / 400, 30 / 400))


def test_a_seed_mean_averages_a_value_over_the_runs(tmp_path):
    runs = _runs(tmp_path, "m", [300, 320, 340])
    assert stats.seed_mean(runs, lambda run: run.accuracy("test")) == pytest.approx(0.7)  # make_run's accuracy
    assert stats.seed_mean(runs[0], lambda run: 1.0) == 1.0


def test_the_gaps_of_two_models_are_compared_seed_by_seed(tmp_path):
    a, b = _step(tmp_path, "cifar-norm", [300, 300, 300]), _step(tmp_path, "cifar-dropout", [300, 300, 300])
    for run, train in zip(a + b, [0.90, 0.91, 0.92, 0.80, 0.82, 0.81], strict=True):
        run.record["metrics"]["train"]["accuracy"] = train  # validation: 0.75 everywhere
    narrower = stats.compare_gaps(a, b)
    assert narrower.per_seed == pytest.approx((-0.10, -0.09, -0.11)) and narrower.split == "gap"
    assert narrower.gain == pytest.approx(-0.10) and narrower.result == stats.WORSE  # b overfits less
    assert narrower.margin == pytest.approx(stats.student_quantile(3) * narrower.seed_error)  # same validation images
    assert stats.compare_gaps(a, a).result == stats.SAME


def test_within_margin_lists_the_models_validation_cannot_tell_from_the_best(tmp_path):
    runs = {"close": _step(tmp_path, "cifar-dropout", [299, 300, 297]),
            "best": _step(tmp_path, "cifar-norm", [300, 302, 298]),
            "far": _step(tmp_path, "cifar-raw", [200, 202, 198])}  # fmt: skip
    assert stats.within_margin(runs, "best") == ["close", "best"]  # in the order given; "far" is ruled out
    assert stats.within_margin(runs, "far") == ["far"]


def test_compare_correct_is_compare_on_the_runs_correctness(tmp_path):
    """The comparison of predictions made outside the stored runs (`analysis.copy_effect`) decides as `compare`."""
    a, b = _runs(tmp_path, "a", [300, 310, 290]), _runs(tmp_path, "b", [340, 330, 345])
    correct = [[(run.predictions("test")[0].argmax(axis=1) == 0).astype(float) for run in runs] for runs in (a, b)]
    assert stats.compare_correct(*correct) == stats.compare(a, b)


@pytest.mark.parametrize(("gain", "close"), [(0.0262, True), (0.0280, True), (0.0240, True), (0.0230, False),
                                             (-0.0270, True), (0.0300, False), (0.0100, False)])  # fmt: skip
def test_a_gain_within_a_tenth_of_its_margin_from_it_is_close(gain, close):
    """« à la limite » (short of the margin) and « de justesse » (beyond it) are one rule: a margin of 2,6 points."""
    comparison = stats.Comparison(stats.SAME, gain, 0.026, 0.01, 0.005, 5)
    assert comparison.close is close
