"""Calibration: reliability bins, expected calibration error, temperature scaling."""

import numpy as np
import pytest

from lab import calibration


def overconfident(n=4000, seed=0, temperature=3.0):
    """A calibrated model's probabilities (labels drawn from them), then sharpened by a known temperature."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 10))
    logits[np.arange(n), rng.integers(0, 10, n)] += 2.0  # a favourite class per image
    calibrated = calibration.softmax(logits)
    y_true = np.array([rng.choice(10, p=p) for p in calibrated])  # right as often as it is confident
    return calibration.softmax(logits * temperature), y_true, calibrated


def test_ece_of_a_hand_counted_example():
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    y_true = np.array([0, 1, 0, 0])
    # bin (0.867, 0.933]: confidence 0.9, accuracy 0.5; bin (0.533, 0.6]: confidence 0.6, accuracy 1
    assert calibration.expected_calibration_error(probabilities, y_true) == pytest.approx((0.4 * 2 + 0.4 * 2) / 4)
    table = calibration.reliability(probabilities, y_true)
    assert table["count"].tolist() == [2, 2] and table["accuracy"].tolist() == [1.0, 0.5]


def test_a_perfectly_confident_right_model_has_no_calibration_error():
    probabilities = np.eye(10)[[3, 1, 4, 1, 5]]
    assert calibration.expected_calibration_error(probabilities, np.array([3, 1, 4, 1, 5])) == 0


def test_temperature_scaling_recovers_the_temperature_that_made_a_model_overconfident():
    probabilities, y_true, calibrated = overconfident()
    temperature = calibration.fit_temperature(probabilities, y_true)
    assert temperature == pytest.approx(3.0, rel=0.1)
    before = calibration.expected_calibration_error(probabilities, y_true)
    after = calibration.expected_calibration_error(calibration.with_temperature(probabilities, temperature), y_true)
    assert after < before / 3


def test_temperature_scaling_keeps_every_prediction():
    probabilities, _, _ = overconfident(n=500)
    scaled = calibration.with_temperature(probabilities, 2.5)
    np.testing.assert_array_equal(scaled.argmax(axis=1), probabilities.argmax(axis=1))
    np.testing.assert_allclose(scaled.sum(axis=1), 1, rtol=1e-6)
    assert scaled.max(axis=1).mean() < probabilities.max(axis=1).mean()


def test_an_underconfident_model_gets_a_temperature_below_one():
    probabilities, y_true, _ = overconfident(temperature=0.5)
    assert calibration.fit_temperature(probabilities, y_true) == pytest.approx(0.5, rel=0.1)


def _record(test_accuracy, val_probabilities, y_val):
    """A stored run's record whose accuracies are those of its test and validation predictions (as stored)."""
    from lab.experiments import get
    from tests.test_store import make_record

    record = make_record(get("cifar-vgg-aug"), accuracy=test_accuracy)
    record["metrics"]["val"]["accuracy"] = float(np.mean(val_probabilities.astype(np.float16).argmax(1) == y_val))
    return record


def test_calibrate_fits_on_validation_and_measures_on_test(tmp_path):
    from lab import store

    val_probabilities, y_val, _ = overconfident(seed=1)
    test_probabilities, y_test, _ = overconfident(seed=2)
    accuracy = float(np.mean(test_probabilities.astype(np.float16).argmax(1) == y_test))
    store.save(_record(accuracy, val_probabilities, y_val), test_probabilities, y_test, tmp_path,
               validation=(val_probabilities, y_val))  # fmt: skip
    result = calibration.calibrate(store.load("cifar-vgg-aug", 0, tmp_path))
    assert result["temperature"] == pytest.approx(3.0, rel=0.1)
    assert result["ece_after"] < result["ece_before"] and result["nll_after"] < result["nll_before"]
    assert result["same_predictions"] and result["confidence_after"] < result["confidence_before"]


def test_a_run_without_validation_predictions_cannot_be_calibrated(tmp_path):
    from lab import store
    from lab.experiments import get
    from tests.test_store import make_predictions, make_record

    store.save(make_record(get("cifar-norm")), *make_predictions(), tmp_path)
    with pytest.raises(ValueError, match="kept no validation predictions: retrain it"):
        calibration.calibrate(store.load("cifar-norm", 0, tmp_path))


def test_a_confidence_on_a_bin_edge_falls_in_the_bin_it_closes():
    """Bins are (lower, upper]: 0.5 and 0.75, upper edges of 4 bins (exact in binary), close their bins."""
    probabilities = np.array([[0.5, 0.25, 0.25], [0.75, 0.125, 0.125], [1.0, 0.0, 0.0]])
    table = calibration.reliability(probabilities, np.array([0, 1, 0]), bins=4)
    assert table[["lower", "upper"]].to_numpy().tolist() == [[0.25, 0.5], [0.5, 0.75], [0.75, 1.0]]
    assert table["count"].tolist() == [1, 1, 1] and table["accuracy"].tolist() == [1.0, 0.0, 1.0]


def test_the_temperature_is_fitted_on_validation_even_where_the_test_split_would_give_another(tmp_path):
    from lab import store

    val_probabilities, y_val, _ = overconfident(seed=1, temperature=3.0)
    _, y_test, test_probabilities = overconfident(seed=2)  # the test split calibrated as it is: T = 1 there
    accuracy = float(np.mean(test_probabilities.astype(np.float16).argmax(1) == y_test))
    store.save(_record(accuracy, val_probabilities, y_val), test_probabilities, y_test, tmp_path,
               validation=(val_probabilities, y_val))  # fmt: skip
    run = store.load("cifar-vgg-aug", 0, tmp_path)
    result = calibration.calibrate(run)
    assert calibration.fit_temperature(run.probabilities, run.y_true) == pytest.approx(1.0, rel=0.1)
    assert result["temperature"] == pytest.approx(calibration.fit_temperature(*run.validation))
    assert result["temperature"] == pytest.approx(3.0, rel=0.1)
