"""Decisions over seeds: paired differences, the margin, better / worse / same, the choice of a model."""

import numpy as np
import pandas as pd
import pytest

from lab import stats
from lab.experiments import get
from tests.test_analysis import make_run


def _runs(tmp_path, name, correct_per_seed, n=400):
    """One run per seed; seed s has its first `correct_per_seed[s]` images right."""
    truth = [0] * n
    return [_seeded(make_run(tmp_path / f"{name}-{seed}", y_true=truth, y_pred=[0] * c + [1] * (n - c)), seed)
            for seed, c in enumerate(correct_per_seed)]  # fmt: skip


def _seeded(run, seed):
    run.record["seed"] = seed
    return run


def test_paired_difference_and_its_standard_error(tmp_path):
    truth = [0] * 100
    a = make_run(tmp_path / "a", y_true=truth, y_pred=[0] * 80 + [1] * 20)
    b = make_run(tmp_path / "b", y_true=truth, y_pred=[0] * 90 + [1] * 10)
    gain, error = stats.paired_difference(a, b)
    assert gain == pytest.approx(0.10)
    differences = np.array([0] * 80 + [1] * 10 + [0] * 10)
    assert error == pytest.approx(differences.std(ddof=1) / 10)


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


def test_an_ablation_compares_each_step_with_the_previous_one(tmp_path):
    runs = {"cifar-conv6-bn-relu-40": _step(tmp_path, "cifar-conv6-bn-relu-40", [300, 304, 296]),
            "cifar-conv6-bn-aug": _step(tmp_path, "cifar-conv6-bn-aug", [340]),
            "cifar-vgg-aug": _step(tmp_path, "cifar-vgg-aug", [340]),
            "cifar-vgg-aug-cosine": _step(tmp_path, "cifar-vgg-aug-cosine", [380, 372, 376])}  # fmt: skip
    steps = stats.ablation(list(runs), runs)
    assert list(steps.index) == list(runs) and steps["seeds"].tolist() == [3, 1, 1, 3]
    assert steps["comparison"].iloc[0] is None
    assert [c.result for c in steps["comparison"].iloc[1:]] == [stats.BETTER, stats.SAME, stats.BETTER]
    assert steps.loc["cifar-vgg-aug-cosine", "test_accuracy"] == pytest.approx(376 / 400)
    # the last step's seeds spread over 8 images (2 points): a one-seed gain of 0 is within it
    assert steps["within_spread"].tolist() == [False, False, True, False]


def test_unmeasurable_steps_are_the_steps_that_change_nothing_but_the_final_one(tmp_path):
    runs = {"cifar-conv6-bn-relu-40": _step(tmp_path, "cifar-conv6-bn-relu-40", [300, 304, 296]),
            "cifar-conv6-bn-aug": _step(tmp_path, "cifar-conv6-bn-aug", [301, 303, 297]),  # three seeds, no change
            "cifar-conv6-bn-aug-bf16": _step(tmp_path, "cifar-conv6-bn-aug-bf16", [341]),
            "cifar-vgg-aug": _step(tmp_path, "cifar-vgg-aug", [342]),  # one seed, no change
            "cifar-vgg-aug-cosine": _step(tmp_path, "cifar-vgg-aug-cosine", [342])}  # the final: left out
    assert stats.unmeasurable_steps(stats.ablation(list(runs), runs)) == ["cifar-conv6-bn-aug", "cifar-vgg-aug"]


def test_the_epoch_time_spread_compares_the_median_epochs_of_the_seeds(tmp_path):
    from tests.test_analysis import make_run

    epochs = [[{"seconds": s} for s in seconds] for seconds in ([10, 11, 30], [12, 12, 12], [9, 14, 15])]
    runs = [make_run(tmp_path / str(i), history=history) for i, history in enumerate(epochs)]
    assert stats.epoch_time_spread(runs) == pytest.approx((14 - 11) / 12)
    one_seed = make_run(tmp_path / "one", history=epochs[0])
    assert stats.largest_epoch_time_spread({"three": runs, "one": [one_seed]}) == pytest.approx((14 - 11) / 12)


def test_the_ablation_table_shows_each_change_and_its_gain(tmp_path):
    from lab import report

    runs = {"cifar-conv6-bn-relu-40": _step(tmp_path, "cifar-conv6-bn-relu-40", [300]),
            "cifar-conv6-bn-aug": _step(tmp_path, "cifar-conv6-bn-aug", [340])}  # fmt: skip
    text = report.ablation_table(stats.ablation(list(runs), runs)).data
    rows = [line.split("|")[1:-1] for line in text.splitlines()[2:]]
    assert rows[0][0].strip() == "0 — 6 conv + BatchNorm, ReLU, 40 époques, batch 128"
    assert rows[1][0].strip() == "1 — 6 conv + BatchNorm + augmentation"
    assert rows[1][3].strip() == "85,0\u00a0%" and rows[1][4].strip().startswith("+10,0\u00a0pt (±")
    assert rows[1][5].strip() == "11"  # the median of its epochs (make_run: 10 and 12 s)


class _Stored:
    """A stand-in for a stored run: test/val accuracies, single-view accuracies, training time."""

    def __init__(self, seed, test, single_test=None, seconds=100.0):
        self.seed, self.record = seed, {"wall_seconds": seconds, "metrics": {"test": {"accuracy": test}},
                                        "single_view_metrics": {"test": {"accuracy": single_test}}}  # fmt: skip

    def __getitem__(self, key):
        return self.record[key]

    def accuracy(self, split):
        return self.record["metrics"][split]["accuracy"]


def test_a_goal_is_reached_by_the_mean_over_seeds_and_in_time_by_the_longest_seed():
    runs = [_Stored(0, 0.94, seconds=3000), _Stored(1, 0.93, seconds=3700), _Stored(2, 0.937, seconds=2000)]
    result = stats.goal(runs, target=0.935, budget_seconds=3600)
    assert result.accuracy == pytest.approx(0.93567, abs=1e-5) and result.reached and result.seeds == 3
    assert result.seconds == 3700 and not result.in_time
    assert not stats.goal(runs[1:2], 0.935, 3600).reached


def test_flip_gains_are_per_seed_differences_on_the_same_weights():
    runs = [_Stored(0, 0.87, single_test=0.86), _Stored(1, 0.85, single_test=0.855)]
    assert stats.flip_gains(runs) == pytest.approx([0.01, -0.005])


def test_variants_compare_each_try_with_its_step_on_validation_then_test(tmp_path):
    from lab import report

    runs = {"cifar-vgg-aug-cosine": _step(tmp_path, "cifar-vgg-aug-cosine", [344]),
            "cifar-vgg-aug-cosine-dropout": _step(tmp_path, "cifar-vgg-aug-cosine-dropout", [340])}  # fmt: skip
    tried = stats.variants({"cifar-vgg-aug-cosine-dropout": "cifar-vgg-aug-cosine"}, runs)
    row = tried.loc["cifar-vgg-aug-cosine-dropout"]
    assert row["step"] == "cifar-vgg-aug-cosine" and row["val_gain"] == pytest.approx(-0.01)
    assert row["comparison"].result == stats.WORSE and row["epoch_seconds"] == 11  # 4 images, all lost
    assert row["val_comparison"].gain == pytest.approx(-0.01) and row["val_comparison"].seeds == 1
    cells = report.variants_table(tried).data.splitlines()[2].split("|")[1:-1]
    assert [cell.strip() for cell in cells[2:4]] == ["86,0\u00a0%", "85,0\u00a0%"]
    assert cells[4].strip().startswith("−1,0\u00a0pt (±")
    assert cells[0].strip().startswith("dropout") and cells[6].strip() == "11 → 11"
    assert "(" not in cells[1]  # one dataset: the step's title alone


def test_variants_take_the_epoch_time_over_every_seed_given_and_decide_on_seed_0(tmp_path):
    step = _step(tmp_path, "cifar-vgg-aug-cosine", [344, 300, 300])
    for run, seconds in zip(step, [90.0, 30.0, 40.0], strict=True):  # seed 0 shared its machine
        run.record["history"] = [{**row, "seconds": seconds} for row in run.record["history"]]
    variant = "cifar-vgg-aug-cosine-dropout"
    runs = {"cifar-vgg-aug-cosine": step, variant: _step(tmp_path, variant, [340])}
    row = stats.variants({variant: "cifar-vgg-aug-cosine"}, runs).iloc[0]
    assert row["step_epoch_seconds"] == 40.0 and row["val_comparison"].seeds == 1
    assert row["step_val"] == pytest.approx(344 / 400)


def test_a_variant_trained_on_another_machine_has_no_epoch_time_beside_its_step(tmp_path):
    from lab import report

    variant = "cifar-vgg-aug-cosine-dropout"
    runs = {"cifar-vgg-aug-cosine": _step(tmp_path, "cifar-vgg-aug-cosine", [344]),
            variant: _step(tmp_path, variant, [340])}  # fmt: skip
    tried = stats.variants({variant: "cifar-vgg-aug-cosine"}, runs, untimed=lambda run: run.name == variant)
    row = tried.iloc[0]
    assert np.isnan(row["epoch_seconds"]) and row["step_epoch_seconds"] == 11
    assert row["val_gain"] == pytest.approx(-0.01)  # compared as any other
    cells = report.variants_table(tried).data.splitlines()[2].split("|")[1:-1]
    assert cells[-1].strip() == "11 → —"


def test_variants_tried_with_three_seeds_are_decided_on_the_means_of_the_three(tmp_path):
    final, variant = "cifar-vgg-aug-cosine-tta-shift", "cifar-vgg-aug-cosine-ls-tta-shift"
    runs = {final: _step(tmp_path, final, [344, 300, 300]), variant: _step(tmp_path, variant, [340, 310, 320])}
    row = stats.variants({variant: final}, runs).iloc[0]
    assert row["seeds"] == 3 and row["val_comparison"].seeds == 3 and row["comparison"].seeds == 3
    assert row["step_val"] == pytest.approx(944 / 1200) and row["val_accuracy"] == pytest.approx(970 / 1200)
    assert row["val_gain"] == pytest.approx(26 / 1200) == pytest.approx(row["val_comparison"].gain)


def test_variants_of_both_datasets_say_which_each_step_is(tmp_path):
    from lab import report

    names = ["cifar-vgg-aug-cosine", "cifar-vgg-aug-cosine-dropout", "fashion-vgg-aug-cosine", "fashion-vgg-cosine"]
    runs = {name: _step(tmp_path, name, [340]) for name in names}
    tried = stats.variants({names[1]: names[0], names[3]: names[2]}, runs)
    steps = [row.split("|")[2].strip() for row in report.variants_table(tried).data.splitlines()[2:]]
    assert steps[0].endswith("(CIFAR-10)") and steps[1].endswith("(Fashion-MNIST)")


def test_compare_on_validation_needs_the_stored_validation_predictions(tmp_path):
    with_validation = _step(tmp_path, "cifar-norm", [300])
    without = _runs(tmp_path, "cifar-dropout", [310])
    on_validation = stats.compare(with_validation, with_validation, "val")
    assert on_validation.gain == 0 and on_validation.split == "val"
    assert stats.compare(with_validation, with_validation).split == "test"
    with pytest.raises(ValueError, match="no stored predictions for the split 'val'"):
        stats.compare(with_validation, without, "val")


def _split_runs(tmp_path, name, correct_val, correct_test, n=400):
    """One run (seed 0) whose validation and test predictions differ: `correct_*` images right of `n`."""
    from lab import store
    from tests.test_store import make_record

    def split(correct):
        probabilities = np.full((n, 10), 0.01, dtype=np.float32)
        probabilities[np.arange(n), [0] * correct + [1] * (n - correct)] = 0.91
        return probabilities, np.zeros(n, dtype=np.int64)

    record = make_record(get(name), accuracy=correct_test / n)
    record["metrics"]["val"]["accuracy"] = correct_val / n
    return [store.save(record, *split(correct_test), tmp_path / name, validation=split(correct_val))]


def test_a_variant_is_decided_on_its_validation_margin_not_its_test_one(tmp_path):
    step, variant = "cifar-vgg-aug-cosine", "cifar-vgg-aug-cosine-dropout"
    runs = {step: _split_runs(tmp_path, step, correct_val=340, correct_test=300),
            variant: _split_runs(tmp_path, variant, correct_val=300, correct_test=340)}  # fmt: skip
    row = stats.variants({variant: step}, runs).iloc[0]
    assert row["val_comparison"].split == "val" and row["val_comparison"].gain == pytest.approx(-0.1)
    assert row["val_comparison"].result == stats.WORSE and row["comparison"].result == stats.BETTER
    assert row["val_gain"] == pytest.approx(row["val_comparison"].gain)



def test_a_comparison_keeps_each_seed_s_gain_and_says_whether_they_agree(tmp_path):
    agreeing = stats.compare(_runs(tmp_path, "a", [300, 300, 300]), _runs(tmp_path, "b", [310, 320, 301]))
    assert agreeing.per_seed == pytest.approx((10 / 400, 20 / 400, 1 / 400)) and agreeing.same_direction
    mixed = stats.compare(_runs(tmp_path, "c", [300, 300, 300]), _runs(tmp_path, "d", [340, 260, 330]))
    assert mixed.per_seed == pytest.approx((40 / 400, -40 / 400, 30 / 400)) and not mixed.same_direction


def test_a_seed_mean_averages_a_value_over_the_runs(tmp_path):
    runs = _runs(tmp_path, "m", [300, 320, 340])
    assert stats.seed_mean(runs, lambda run: run.accuracy("test")) == pytest.approx(0.7)  # make_run's accuracy
    assert stats.seed_mean(runs[0], lambda run: 1.0) == 1.0
