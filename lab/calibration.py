"""How far a model's confidence can be trusted: reliability, expected calibration error, temperature.

A model is calibrated when, among the images it classifies with confidence p, a
fraction p is right. The expected calibration error (ECE) measures the gap: the test
images are grouped by confidence into equal-width bins, and the gap between each bin's
accuracy and mean confidence is averaged, weighted by the bin's size (Guo et al.,
"On Calibration of Modern Neural Networks", 2017, with their 15 bins).

Temperature scaling divides the logits by one number T, fitted on the validation split
(never on the test set) by minimising the negative log-likelihood; T > 1 softens an
over-confident model. It changes no prediction: the argmax stays where it is.

Imports from lab: nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BINS = 15
# The stored probabilities are float16: the smallest ones round to 0, so logits are taken from
# probabilities clipped at float16's smallest normal number.
SMALLEST_PROBABILITY = 6.1e-5


def logits(probabilities: np.ndarray) -> np.ndarray:
    """Logits that give back `probabilities` through a softmax (up to a constant per image)."""
    return np.log(np.clip(probabilities, SMALLEST_PROBABILITY, 1.0))


def softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def with_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """The probabilities after dividing the logits by `temperature`."""
    return softmax(logits(probabilities) / temperature)


def negative_log_likelihood(probabilities: np.ndarray, y_true: np.ndarray) -> float:
    """The mean cross-entropy of the true classes."""
    return float(-np.mean(logits(probabilities)[np.arange(len(y_true)), y_true]))


def fit_temperature(probabilities: np.ndarray, y_true: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of (validation) `probabilities`."""
    from scipy.optimize import minimize_scalar

    def loss(log_temperature):
        return negative_log_likelihood(with_temperature(probabilities, np.exp(log_temperature)), y_true)

    fitted = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(fitted.x))


def reliability(probabilities: np.ndarray, y_true: np.ndarray, bins: int = BINS) -> pd.DataFrame:
    """Per confidence bin (non-empty ones): its range, image count, mean confidence and accuracy."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)  # (lower, upper] bins
    frame = pd.DataFrame({"bin": which, "confidence": confidence, "correct": correct})
    table = frame.groupby("bin").agg(count=("correct", "size"), confidence=("confidence", "mean"),
                                     accuracy=("correct", "mean"))  # fmt: skip
    table["lower"], table["upper"] = edges[table.index], edges[table.index + 1]
    return table[["lower", "upper", "count", "confidence", "accuracy"]]


def expected_calibration_error(probabilities: np.ndarray, y_true: np.ndarray, bins: int = BINS) -> float:
    """The bins' |accuracy − confidence|, weighted by their share of the images."""
    table = reliability(probabilities, y_true, bins)
    return float(np.sum(table["count"] * (table["accuracy"] - table["confidence"]).abs()) / len(y_true))


def calibrate(run) -> dict:
    """A run's calibration on the test set before and after the temperature fitted on its validation split."""
    if run.validation is None:
        raise ValueError(f"{run.name} seed {run.seed} kept no validation predictions: retrain it to calibrate it")
    temperature = fit_temperature(*run.validation)
    scaled = with_temperature(run.probabilities, temperature)
    return {
        "temperature": temperature,
        "ece_before": expected_calibration_error(run.probabilities, run.y_true),
        "ece_after": expected_calibration_error(scaled, run.y_true),
        "nll_before": negative_log_likelihood(run.probabilities, run.y_true),
        "nll_after": negative_log_likelihood(scaled, run.y_true),
        "confidence_before": float(run.probabilities.max(axis=1).mean()),
        "confidence_after": float(scaled.max(axis=1).mean()),
        "accuracy": float(np.mean(run.y_pred == run.y_true)),
        "same_predictions": bool(np.array_equal(scaled.argmax(axis=1), run.y_pred)),
    }
