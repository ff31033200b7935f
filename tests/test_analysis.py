"""Reading stored runs: confusions, frequent errors, comparisons, French formatting."""

import numpy as np
import pandas as pd
import pytest

from lab import analysis, data, params, report, stats, store
from lab.experiments import get


def make_run(tmp_path, name="cifar-norm", y_true=None, y_pred=None, accuracy=0.7, seconds=100.0, history=None,
             same_validation=False):
    """A stored run predicting `y_pred`; `same_validation`: the validation split stores the same predictions."""
    experiment = get(name)
    y_true = np.array([0, 0, 0, 1, 1, 2, 3, 3] if y_true is None else y_true)
    y_pred = y_true.copy() if y_pred is None else np.array(y_pred)
    probabilities = np.full((len(y_true), 10), 0.01, dtype=np.float32)
    probabilities[np.arange(len(y_true)), y_pred] = 0.91
    history = history or [
        {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.45, "seconds": 10.0},
        {"loss": 0.8, "accuracy": 0.6, "val_loss": 0.9, "val_accuracy": 0.55, "seconds": 12.0},
    ]
    record = {
        "experiment": name, "seed": 0, "config": experiment.config(), "config_hash": experiment.config_hash(),
        "procedure": 2, "data": {"dataset": experiment.dataset, "source": "test", "genuine": True, "sha256": "0" * 64},
        "params_total": 1, "wall_seconds": seconds, "history": history,
        "metrics": {split: {"loss": 0.5, "accuracy": accuracy} for split in ("train", "val", "test")},
    }  # fmt: skip
    validation = (probabilities, y_true) if same_validation else None
    return store.save(record, probabilities, y_true, root=tmp_path / name, validation=validation)


def test_confusion_counts_true_rows_and_predicted_columns(tmp_path):
    run = make_run(tmp_path, y_true=[0, 0, 1, 2], y_pred=[0, 1, 1, 1])
    matrix = analysis.confusion(run)
    assert matrix.shape == (10, 10) and matrix.sum() == 4
    assert matrix[0, 0] == 1 and matrix[0, 1] == 1 and matrix[1, 1] == 1 and matrix[2, 1] == 1


def test_confusion_is_scikit_learns_confusion_matrix(tmp_path):
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 10, 500, dtype=np.uint8), rng.integers(0, 10, 500, dtype=np.uint8)
    run = make_run(tmp_path, y_true=y_true, y_pred=y_pred)
    np.testing.assert_array_equal(analysis.confusion(run), confusion_matrix(y_true, y_pred, labels=range(10)))


def test_frequent_errors_ranks_true_predicted_pairs(tmp_path):
    run = make_run(tmp_path, y_true=[3, 3, 3, 5, 1, 1], y_pred=[5, 5, 3, 3, 9, 1])
    errors = analysis.frequent_errors(run, 2)
    assert list(zip(errors["true_name"], errors["predicted_name"], errors["count"], strict=True))[0] == (
        "Chat", "Chien", 2
    )  # fmt: skip
    assert errors["share_of_errors"].iloc[0] == pytest.approx(2 / 4)


def test_error_examples_show_the_most_confident_errors_first(tmp_path):
    run = make_run(tmp_path, y_true=[3, 3, 3, 3, 0], y_pred=[5, 5, 5, 3, 0])
    confidence = np.array([0.5, 0.9, 0.7, 0.9, 0.9], dtype=np.float32)
    run.__dict__["_predictions"] = (_with_confidence(run.probabilities, run.y_pred, confidence), run.y_true)
    pairs = analysis.frequent_errors(run, 1)
    assert list(analysis.error_examples(run, pairs, n=3)) == [1, 2, 0]


def _with_confidence(probabilities, predicted, confidence):
    probabilities = np.full_like(probabilities, 0.001)
    probabilities[np.arange(len(predicted)), predicted] = confidence
    return probabilities


def test_error_examples_take_each_pair_in_turn(tmp_path):
    run = make_run(tmp_path, y_true=[3, 3, 3, 5, 5, 0], y_pred=[5, 5, 5, 3, 3, 0])
    pairs = analysis.frequent_errors(run, 2)
    chosen = analysis.error_examples(run, pairs, n=4)
    assert len(chosen) == 4 and len(set(chosen)) == 4
    assert {run.y_true[i] for i in chosen} == {3, 5}
    assert all(run.y_true[i] != run.y_pred[i] for i in chosen)


def test_summary(tmp_path):
    run = make_run(tmp_path, accuracy=0.75)
    summary = analysis.summary([run])
    assert summary.loc[0, "seconds_per_epoch"] == pytest.approx(11.0)
    assert summary.loc[0, "epochs"] == 2 and summary.loc[0, "best_epoch"] == 2


def test_standard_error():
    assert analysis.standard_error(0.5, 100) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("function", "value", "text"),
    [
        (report.num, 244298, "244\u00a0298"),
        (report.num, "1152", "1\u00a0152"),
        (report.pct, 0.8934, "89,3\u00a0%"),
        (report.dec, 0.25, "0,25"),
        (report.pts, -0.024, "−2,4\u00a0points"),
        (report.duration, 42, "42\u00a0s"),
        (report.duration, 192, "3\u00a0min 12\u00a0s"),
        (report.duration, 3900, "1\u00a0h 05\u00a0min"),
        (report.duration, 3600, "1\u00a0h"),
        (report.mean_pct, [0.886, 0.883, 0.889], "88,6\u00a0±\u00a00,3\u00a0%"),
        (report.mean_pct, [0.5], "50,0\u00a0%"),
        (report.mean_pct, [0.8861, 0.8863, 0.8862], "88,62\u00a0±\u00a00,01\u00a0%"),
        (report.pct_range, [0.443, 0.422, 0.431], "42 à 44\u00a0%"),
        (report.pct_range, [0.601, 0.604], "60\u00a0%"),
        (report.mean_pts, [0.062, 0.06, 0.065], "+6,2\u00a0±\u00a00,3\u00a0points"),
        (report.mean_pts, [-0.01, -0.012], "−1,1\u00a0±\u00a00,1\u00a0point"),
        (report.seeds_text, 1, "la seule graine\u00a00"),
        (report.seeds_text, 3, "3\u00a0graines"),
        (report.enumeration, ["a", "b", "c"], "a, b et c"),
    ],
)
def test_french_formatting(function, value, text):
    assert function(value) == text


def test_means_in_one_table_take_the_same_decimals():
    nbsp = "\u00a0"
    assert report.mean_pcts([[0.107, 0.103, 0.111], [0.1088, 0.1084, 0.1092]]) == [
        f"10,70{nbsp}±{nbsp}0,40{nbsp}%", f"10,88{nbsp}±{nbsp}0,04{nbsp}%"]
    assert report.mean_pcts([[0.107, 0.103, 0.111], [0.2, 0.21]]) == [
        report.mean_pct([0.107, 0.103, 0.111]), report.mean_pct([0.2, 0.21])]  # one decimal where it is enough


def test_every_formatter_returns_markdown_text():
    """Quarto writes an inline value's text/markdown as is; a plain str would be escaped (tests/quarto_book.py)."""
    comparison = stats.Comparison(stats.BETTER, 0.012, 0.006, 0.003, None, 1)
    values = [report.num(3), report.pct(0.5), report.pts(0.1), report.dec(0.5), report.duration(5),
              report.names(["a"]), report.diff(comparison), report.mean_pct([0.5]),
              report.enumeration(["a"])]  # fmt: skip
    assert all(isinstance(value, report.MarkdownText) and value._repr_markdown_() == str(value) for value in values)
    assert report.diff(comparison) == "+1,2\u00a0point (marge\u00a00,6)"


def test_a_gain_that_reads_like_its_margin_takes_a_second_decimal():
    nbsp = "\u00a0"
    established, not_established = (stats.Comparison(result, gain, 0.0261, 0.003, None, 5)
                                    for result, gain in ((stats.BETTER, 0.0264), (stats.SAME, 0.0258)))
    assert report.diff(established) == f"+2,64{nbsp}points (marge{nbsp}2,61)"
    assert report.diff(not_established) == f"+2,58{nbsp}points (marge{nbsp}2,61)"
    close_loss = stats.Comparison(stats.WORSE, -0.029, 0.028, 0.003, None, 5)
    assert report.diff(close_loss) == f"−2,9{nbsp}points (marge{nbsp}2,8)"  # they already read apart


def test_test_accuracy_is_the_mean_and_sd_of_the_seeds_test_accuracies():
    class Run:
        def __init__(self, accuracy):
            self.accuracies = {"test": accuracy, "validation": 0.0}

        def accuracy(self, split):
            return self.accuracies[split]

    assert report.test_accuracy([Run(0.886), Run(0.883), Run(0.889)]) == "88,6\u00a0±\u00a00,3\u00a0%"


def test_gain_range_says_one_value_when_the_seeds_round_alike():
    assert report.gain_range([0.004, -0.021]) == "de −2,1 points à +0,4 point"
    assert report.gain_range([0.029]) == "+2,9 points"
    assert report.gain_range([0.0291, 0.0289]) == "+2,9 points"


def test_names_and_markdown_table():
    assert report.names(["Chat", "Chien"]) == "«\u00a0Chat\u00a0» et «\u00a0Chien\u00a0»"
    markdown = report.table(pd.DataFrame({"a": [0.5], "b": ["x"]}), a=report.pct).data
    assert "50,0\u00a0%" in markdown and markdown.count("|") >= 6


def test_the_class_table_adds_f1_where_asked(tmp_path):
    run = make_run(tmp_path, y_true=[0, 0, 1, 1], y_pred=[0, 1, 1, 1])
    plain, with_f1 = report.class_table(run).data, report.class_table(run, f1=True).data
    assert "F1" not in plain.splitlines()[0]
    header = [cell.strip() for cell in with_f1.splitlines()[0].split("|")[1:-1]]
    assert header == ["classe", "rappel (%)", "précision (%)", "F1 (%)", "images prédites"]
    avion = next(line for line in with_f1.splitlines() if "Avion" in line)
    assert [cell.strip() for cell in avion.split("|")[1:-1]][1:4] == ["50,0", "100,0", "66,7"]


@pytest.mark.parametrize(
    ("function", "value", "text"),
    [
        (report.pts, 0.01996, "+2,0\u00a0points"),  # 1.996 points, written 2,0: plural
        (report.pts, -0.01996, "−2,0\u00a0points"),
        (report.pts, 0.01949, "+1,9\u00a0point"),
        (report.pts, -0.0004, "0,0\u00a0point"),  # written 0,0: no sign, never « −0,0 »
        (report.mean_pts, [0.01996], "+2,0\u00a0points"),
        (report.mean_pts, [0.0199, 0.02002], "+2,00\u00a0±\u00a00,01\u00a0points"),
    ],
)
def test_point_or_points_follows_the_number_as_written_not_the_unrounded_one(function, value, text):
    assert function(value) == text


def test_provenance_is_raw_and_the_report_writes_it_in_french(tmp_path):
    run = make_run(tmp_path)
    run.record["data"] |= {"source": "offline JPEG copy", "genuine": False, "pixel_deviation": 5.8123}
    raw = analysis.provenance([run, run]).iloc[0].to_dict()
    assert raw == {"dataset": "cifar10", "source": "offline JPEG copy", "genuine": False,
                   "pixel_deviation": 5.8123, "sha256": "0" * 64}  # fmt: skip
    row = report.provenance_table([run]).data.splitlines()[2]
    assert [cell.strip() for cell in row.split("|")[1:-1]] == [
        "CIFAR-10", "copie JPEG hors ligne", "non", "5,81 / 255", "0" * 16 + "…"]


def test_the_comparison_table_numbers_and_names_each_model_for_a_reader_with_its_cost_and_accuracies():
    import lab

    runs = {name: lab.seeds(name) for name in ("cifar-dropout", "cifar-conv6-bn")}
    costs = analysis.cost_table(runs)
    rows = report.comparison_table(costs, runs).data.splitlines()
    header, cells = rows[0], [[cell.strip() for cell in row.split("|")[1:-1]] for row in rows[2:]]
    assert [cell.strip() for cell in header.split("|")[1:-1]] == [
        "modèle", "paramètres", "calcul (10¹²)", "temps", "apprentissage", "validation", "test"]
    assert [row[0] for row in cells] == ["(1)\u00a0Premier modèle + deux dropout(0,5)",  # the title, never the id
                                         "(2)\u00a06 conv + BatchNorm"]
    assert cells[1][1] == "370\u00a0650" and cells[1][2] == "4,6"  # 10 epochs of 45 000 images
    assert cells[1][6] == report.mean_pct([run.accuracy("test") for run in runs["cifar-conv6-bn"]])
    assert cells[0][4] == report.mean_pct([run.accuracy("train") for run in runs["cifar-dropout"]])
    assert report.model_name("fashion-base") == "Premier modèle, entrées brutes"


def test_the_gradient_table_gives_each_layer_its_mean_over_the_seeds_in_thousandths_with_three_digits():
    import numpy as np

    sizes = {"sans BN": np.array([[0.2891, 0.00744, 0.000385], [0.2891, 0.00744, 0.000385]]),
             "avec BN": np.array([[0.1, 0.002, 0.0005], [0.3, 0.004, 0.0007]])}  # two seeds, three layers
    rows = report.gradient_table(["convolution 1 (16)", "dense (256)", "sortie (10)"], sizes).data.splitlines()
    cells = [[cell.strip() for cell in row.split("|")[1:-1]] for row in rows[2:]]
    assert cells == [["convolution 1 (16)", "289", "200"], ["dense (256)", "7,44", "3,00"],
                     ["sortie (10)", "0,385", "0,600"]]
    moved = {"déplacement": np.array([[0.5, 2.0, 1.0], [0.6, 2.2, 1.0]])}
    rows = report.gradient_table(["c", "d", "s"], sizes, moved).data.splitlines()
    assert [row.split("|")[-2].strip() for row in rows[2:]] == ["0,55", "2,10", "1,00"]


def test_a_table_cell_that_starts_as_a_list_item_is_shown_as_written():
    import pandas as pd

    markdown = report.table(pd.DataFrame({"modèle": ["+ Dense(128)", "1. bloc", "+3,1 points", "- 0,5"]})).data
    cells = [row.split("|")[1].strip() for row in markdown.splitlines()[2:]]
    assert cells == ["\\+ Dense(128)", "1\\. bloc", "+3,1 points", "\\- 0,5"]  # a signed number stays as it is


def test_the_epochs_the_seeds_reached_something_are_one_two_or_a_range():
    assert report.at_epochs([4, 4, 4]) == "à l'époque 4"
    assert report.at_epochs([10, 9, 10, 9, 9]) == "aux époques 9 et 10"
    assert report.at_epochs([33, 28, 35, 32, 28]) == "aux époques 28 à 35"


def test_a_table_aligns_its_columns_of_numbers_right_and_the_others_left():
    frame = pd.DataFrame({"couche": ["dense 256", "sortie"], "paramètres": ["205\u00a0056", "1\u00a0290"],
                          "test": ["56,6 ± 1,4\u00a0%", "−0,4\u00a0%"], "temps": ["3\u00a0min 12\u00a0s", "1\u00a0h"],
                          "formule": ["(800 + 1) · 256", "129 · 10"], "vide": ["", ""]})
    rule = report.table(frame).data.splitlines()[1]
    sides = ["right" if cell.endswith(":") and not cell.startswith(":") else "left" for cell in rule.split("|")[1:-1]]
    assert sides == ["left", "right", "right", "right", "left", "left"]


def test_the_error_table_gives_each_model_its_parameters_and_error_rates_with_the_same_decimals():
    import lab

    runs = {"avec dropout": lab.seeds("fashion-dropout"), "entrées / 255": lab.seeds("fashion-norm")}
    rows = report.error_table(runs).data.splitlines()
    header, cells = rows[0], [[cell.strip() for cell in row.split("|")[1:-1]] for row in rows[2:]]
    assert [cell.strip() for cell in header.split("|")[1:-1]] == [
        "modèle", "paramètres", "erreur apprentissage", "erreur validation", "erreur test"]
    assert [row[:2] for row in cells] == [["avec dropout", "244\u00a0298"], ["entrées / 255", "244\u00a0298"]]
    test_errors = [[1 - run.accuracy("test") for run in seeds] for seeds in runs.values()]
    assert [row[4] for row in cells] == report.mean_pcts(test_errors)  # 1 − accuracy, one column's decimals
    assert cells[1][2] == report.mean_pcts([[1 - run.accuracy("train") for run in seeds]
                                            for seeds in runs.values()])[1]


def test_the_confusion_of_several_seeds_adds_their_counts():
    import lab

    runs = lab.seeds("cifar-dropout")
    pooled = analysis.confusion(runs)
    assert (pooled == sum(analysis.confusion(run) for run in runs)).all()
    assert pooled.sum() == sum(len(run.y_true) for run in runs)
    top = analysis.frequent_errors(runs, 1).iloc[0]
    assert top["count"] == pooled[top["true"], top["predicted"]]


def test_one_side_share_tells_a_class_that_faces_one_way_from_one_seen_both_ways():
    right, left = np.array([[0, 0, 9, 9]] * 4, dtype=np.uint8), np.array([[9, 9, 0, 0]] * 4, dtype=np.uint8)
    # class 0: every image brighter on the right; class 1: half of each; class 2: three images in four on the left
    x = np.stack([right, right, right, left, right, left, left, left])
    shares = analysis.one_side_share(x, np.array([0, 0, 1, 1, 2, 2, 2, 2]), ["chaussure", "t-shirt", "sac"])
    assert shares.to_dict() == {"chaussure": 1.0, "sac": 0.75, "t-shirt": 0.5} and shares.index[0] == "chaussure"
    colour = np.repeat(x[..., np.newaxis], 3, axis=-1).astype(np.float32) / 255  # channels summed, any scale
    shares = analysis.one_side_share(colour, np.array([0, 0, 1, 1, 2, 2, 2, 2]), ["a", "b", "c"])
    assert shares.tolist() == [1, 0.75, 0.5]


def test_error_confidence_is_the_errors_mean_top_probability_and_share_of_the_loss(tmp_path):
    run = make_run(tmp_path, y_true=[0, 1, 2], y_pred=[0, 1, 3], same_validation=True)
    confidence, loss_share = analysis.error_confidence(run, "val")
    right, wrong = -np.log(0.91), -np.log(0.01)
    assert confidence == pytest.approx(0.91, rel=1e-3)  # stored compactly
    assert loss_share == pytest.approx(wrong / (2 * right + wrong), rel=1e-3)
    assert analysis.error_confidence(run, "test") == pytest.approx((confidence, loss_share))


def test_cost_table_adds_one_trainings_computation_to_the_seed_table():
    import lab

    runs = {name: lab.seeds(name) for name in ("cifar-conv6-bn", "cifar-conv6-bn-20")}
    table = analysis.cost_table(runs)
    pd.testing.assert_frame_equal(table.drop(columns="compute"), stats.seed_table(runs))
    # the same network, twice the epochs: twice the computation
    assert table.loc["cifar-conv6-bn-20", "compute"] == 2 * table.loc["cifar-conv6-bn", "compute"]
    assert table.loc["cifar-conv6-bn", "compute"] == 10 * 45_000 * params.count_macs(get("cifar-conv6-bn"))


def test_each_step_is_compared_on_test(tmp_path):
    from tests.test_stats import _step

    runs = {"cifar-raw": _step(tmp_path, "cifar-raw", [300, 304, 296]),
            "cifar-norm": _step(tmp_path, "cifar-norm", [330, 334, 326]),  # +7.5 points on every seed: beyond
            "cifar-dropout": _step(tmp_path, "cifar-dropout", [331, 333, 328])}  # +0.2 point: within
    steps = [("cifar-raw", "cifar-norm"), ("cifar-norm", "cifar-dropout")]
    comparisons = analysis.step_comparisons(steps, runs)
    assert list(comparisons["before"]) == ["cifar-raw", "cifar-norm"]
    assert list(comparisons["after"]) == ["cifar-norm", "cifar-dropout"]
    assert [c.result for c in comparisons["on_test"]] == [stats.BETTER, stats.SAME]
    assert comparisons["on_test"][0] == stats.compare(runs["cifar-raw"], runs["cifar-norm"])


def test_the_green_share_counts_the_pixels_where_green_dominates():
    from lab import analysis

    x = np.zeros((2, 2, 2, 3), dtype=np.uint8)
    x[0, 0, 0] = (10, 200, 10)  # green dominates: 1 pixel of 4
    x[0, 0, 1] = (200, 200, 10)  # green ties red: not counted
    x[1] = (0, 255, 0)  # all green
    np.testing.assert_allclose(analysis.green_share(x), [0.25, 1.0])


def test_the_frequent_errors_are_said_with_their_count_per_seed(tmp_path):
    runs = [make_run(tmp_path / seed, y_true=[3, 3, 3, 5], y_pred=y_pred)
            for seed, y_pred in (("a", [5, 5, 3, 3]), ("b", [5, 5, 3, 5]))]  # « Chat → Chien »: 4 in all, 2 a seed
    assert report.frequent_errors_per_seed(runs, 1) == "«\u00a0Chat → Chien\u00a0» (2)"


def test_efficiency_is_the_most_accurate_on_validation_its_equals_and_the_best_at_half_its_computation(tmp_path):
    from tests.test_stats import _step

    runs = {"cifar-conv6-bn": _step(tmp_path, "cifar-conv6-bn", [300, 304, 296]),  # 10 epochs
            "cifar-conv6-bn-20": _step(tmp_path, "cifar-conv6-bn-20", [330, 334, 326]),  # 20 epochs
            "cifar-conv6-bn-relu-40": _step(tmp_path, "cifar-conv6-bn-relu-40", [339, 342, 335]),  # 40 epochs
            "cifar-conv6-bn-leaky": _step(tmp_path, "cifar-conv6-bn-leaky", [340, 343, 337])}  # fmt: skip
    for run in (run for seeds in runs.values() for run in seeds):
        run.record["data"]["train_size"] = 45_000  # what the computation counts
    trade = analysis.efficiency(runs)
    pd.testing.assert_frame_equal(trade.table, analysis.cost_table(runs))
    assert trade.most_accurate == "cifar-conv6-bn-leaky"
    assert trade.contenders == ["cifar-conv6-bn-relu-40", "cifar-conv6-bn-leaky"]  # within the margin of the best
    assert trade.at_half == "cifar-conv6-bn-20"  # half the 40 epochs' computation; the 10 epochs' is a quarter


def test_the_first_weights_spread_is_per_raw_pixel_so_that_both_scalings_compare():
    """The first weights × 255 on inputs / 255 act on a raw pixel as the raw model's own (question 3.8)."""
    import lab

    images, labels = np.zeros((2, 32, 32, 3), dtype="uint8"), np.zeros(2, dtype="uint8")
    raw, large = (analysis.initial_outputs(lab.get(name), images, labels)["first_weights_spread"]
                  for name in ("cifar-raw", "cifar-norm-large-start"))  # fmt: skip
    normalised = analysis.initial_outputs(lab.get("cifar-norm"), images, labels)["first_weights_spread"]
    assert large == pytest.approx(raw, rel=1e-5) and normalised == pytest.approx(raw / 255, rel=1e-5)
    assert 0.06 < raw < 0.07  # Glorot uniform on 5·5·3 inputs and 5·5·16 outputs: sqrt(2 / 475)


class _Memorised:
    """A stand-in for a trained model: right on the images it was shown (exact pixels), wrong on any other."""

    def __init__(self, x, y):
        self.labels = {image.astype("uint8").tobytes(): int(label) for image, label in zip(x, y, strict=True)}

    def __call__(self, x, training=False):
        labels = [self.labels.get(image.astype("uint8").tobytes(), -1) for image in np.asarray(x)]
        return np.eye(10)[[label if label >= 0 else 9 for label in labels]]


def test_copy_effect_compares_the_genuine_pixels_against_the_copy_s(cifar):
    """A model that knows the genuine pixels alone: right on every genuine image, « Camion » (9) on every copy."""
    import lab

    index, x_genuine = data.genuine_sample("test")
    y = data.prepare_labels(cifar[1][1])[index]
    effect = analysis.copy_effect(lab.get("cifar-raw"), [_Memorised(x_genuine, y)] * 3)
    assert effect.images == len(index) == 1017
    assert effect.changed == pytest.approx(np.mean(y != 9))  # the copy's 9 differs from every genuine answer but 9
    assert effect.comparison.gain == pytest.approx(1 - np.mean(y == 9))  # genuine − copy: all right − the nines
    assert effect.comparison.result == stats.BETTER


def test_copy_effect_needs_the_genuine_sample(cifar, monkeypatch):
    import lab

    monkeypatch.setattr(data, "genuine_sample", lambda split: None)
    with pytest.raises(data.DatasetUnavailableError, match="copy's effect needs .*genuine-sample.npz"):
        analysis.copy_effect(lab.get("cifar-raw"), [])


def test_copy_training_effect_compares_copy_on_copy_with_genuine_on_genuine(cifar):
    """Models that know the images they were trained on: each right on its own pixels, so nothing changes; a model
    that knows the genuine pixels alone, read as trained on the copy, loses everything but the nines."""
    import lab

    index, x_genuine = data.genuine_sample("test")
    y = data.prepare_labels(cifar[1][1])[index]
    experiment = lab.get("cifar-raw")
    on_copy, on_genuine = _Memorised(cifar[1][0][index], y), _Memorised(x_genuine, y)
    same = analysis.copy_training_effect((experiment, [on_copy] * 3), (experiment, [on_genuine] * 3))
    assert same.gain == 0 and same.result == stats.SAME
    lost = analysis.copy_training_effect((experiment, [on_genuine] * 3), (experiment, [on_genuine] * 3))
    assert lost.gain == pytest.approx(1 - np.mean(y == 9)) and lost.result == stats.BETTER
