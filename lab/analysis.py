"""Read stored runs: error rates, confusions, per-class metrics, frequent errors.

Everything here works on `lab.store.Run` objects (stored predictions and metrics), so
the report computes each figure it quotes without retraining. It returns numbers and
tables; the sentences that state them are in the chapters, and the decisions that
compare models (better, worse, not measurable) are in `lab.stats`. It formats nothing:
`lab.report` writes these values in French.

Imports from lab: backend, data, experiments, models, params, stats (nothing that formats).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab import data, models, params, stats
from lab.backend import keras
from lab.data import CLASS_NAMES
from lab.experiments import get
from lab.stats import as_runs, compare, seed_table


def class_names(runs) -> list[str]:
    """The class names of a run's dataset (of the first run, for the runs of several seeds)."""
    return CLASS_NAMES[as_runs(runs)[0].config["dataset"]]


def error_rate(run, split: str = "test") -> float:
    return 1.0 - run.accuracy(split)


def confusion(runs) -> np.ndarray:
    """Counts of (true class, predicted class) on the test set, as scikit-learn's `confusion_matrix`;
    for the runs of several seeds, their counts added (every seed's predictions pooled).

    Counted with numpy: importing scikit-learn costs a chapter about 1.5 s, and several chapters
    need only this matrix (a test checks it against scikit-learn's).
    """
    classes = len(class_names(runs))
    counts = [np.bincount(classes * run.y_true.astype(np.int64) + run.y_pred,  # labels may be stored as uint8
                          minlength=classes * classes) for run in as_runs(runs)]  # fmt: skip
    return np.sum(counts, axis=0).reshape(classes, classes)


def class_metrics(runs) -> pd.DataFrame:
    """Per-class precision, recall and F1 on the test set (scikit-learn), mean and sd over the runs.

    `runs` is a run or the runs of several seeds; rows are the classes, in label order.
    Recall: the share of a class's images recognised; precision: the share of the
    predictions of a class that are right; `predicted`: how many images got that class.
    """
    from sklearn.metrics import precision_recall_fscore_support

    tables = []
    for run in as_runs(runs):
        labels = range(len(class_names(run)))
        precision, recall, f1, _ = precision_recall_fscore_support(run.y_true, run.y_pred, labels=labels,
                                                                   zero_division=0)  # fmt: skip
        predicted = np.bincount(run.y_pred, minlength=len(labels))
        tables.append(pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "predicted": predicted},
                                   index=class_names(run)))  # fmt: skip
    stacked = pd.concat(tables)
    grouped = stacked.groupby(level=0, sort=False)
    result = grouped.mean()
    for column in ("precision", "recall", "f1"):
        result[f"{column}_sd"] = grouped[column].std(ddof=1).fillna(0.0) if len(tables) > 1 else 0.0
    result["seeds"] = len(tables)
    return result


def worst_class(runs, metric: str = "recall") -> str:
    """The class with the lowest mean `metric` over the runs."""
    return str(class_metrics(runs)[metric].idxmin())


def largest_recall_change(before, after) -> tuple[str, float]:
    """The class whose mean recall over the seeds changes most from the runs `before` to the runs `after`, and that
    change (after − before)."""
    change = class_metrics(after)["recall"] - class_metrics(before)["recall"]
    name = change.abs().idxmax()
    return str(name), float(change[name])


def worst_in_every_seed(runs, metric: str = "recall", among: int = 2) -> bool:
    """Whether the worst class (mean over seeds) is among the `among` worst of every single seed."""
    worst = worst_class(runs, metric)
    return all(worst in class_metrics(run)[metric].nsmallest(among).index for run in as_runs(runs))


def one_side_share(x: np.ndarray, y: np.ndarray, names: list[str]) -> pd.Series:
    """How consistently each class's images face one way: the share of its images whose brighter half (left or
    right, pixels summed over every channel) is the side most images of the class have; most one-sided first.

    Why: a left-right mirror shows the network a view it learned from only where a class is seen both ways
    (about 0.5); where every image of a class faces the same way (near 1), its mirror is a view never seen.
    """
    x, y = np.asarray(x), np.asarray(y).ravel()
    half, axes = x.shape[2] // 2, tuple(range(1, x.ndim))
    right_brighter = x[:, :, -half:].sum(axis=axes, dtype=np.float64) > x[:, :, :half].sum(axis=axes, dtype=np.float64)
    shares = [right_brighter[y == k].mean() for k in range(len(names))]
    return pd.Series([max(s, 1 - s) for s in shares], index=names, name="one_side").sort_values(ascending=False)


def green_share(x: np.ndarray) -> np.ndarray:
    """Per colour image of `x` (n, height, width, 3), the share of its pixels whose green exceeds both red and
    blue: how much grass or foliage a picture shows, roughly."""
    x = np.asarray(x, dtype=np.int16)
    return ((x[..., 1] > x[..., 0]) & (x[..., 1] > x[..., 2])).mean(axis=(1, 2))


def frequent_errors(run, n: int = 3) -> pd.DataFrame:
    """The `n` most frequent (true → predicted) confusions on the test set (of several seeds: pooled)."""
    matrix = confusion(run)
    np.fill_diagonal(matrix, 0)
    names = class_names(run)
    order = np.argsort(matrix, axis=None)[::-1][:n]
    rows = []
    for flat in order:
        true, predicted = np.unravel_index(flat, matrix.shape)
        rows.append({"true": int(true), "predicted": int(predicted), "true_name": names[true],
                     "predicted_name": names[predicted], "count": int(matrix[true, predicted]),
                     "share_of_errors": matrix[true, predicted] / matrix.sum()})  # fmt: skip
    return pd.DataFrame(rows)


def error_examples(run, pairs: pd.DataFrame, n: int = 25) -> np.ndarray:
    """Indices of `n` test images misclassified as one of `pairs`, the most confident first.

    The images are taken in turn from each pair, so that every frequent error shows.
    """
    confidence = run.probabilities.max(axis=1)
    per_pair = []
    for true, predicted in zip(pairs["true"], pairs["predicted"], strict=True):
        indices = np.flatnonzero((run.y_true == true) & (run.y_pred == predicted))
        per_pair.append(list(indices[np.argsort(-confidence[indices])]))
    chosen = []
    while len(chosen) < n and any(per_pair):
        for indices in per_pair:
            if indices and len(chosen) < n:
                chosen.append(indices.pop(0))
    return np.array(chosen, dtype=int)


def best_epoch(run) -> int:
    """The epoch with the highest validation accuracy."""
    return int(run.history["val_accuracy"].idxmax())


def overfitting_gap(run) -> float:
    """Training accuracy minus validation accuracy, both evaluated after training."""
    return run.accuracy("train") - run.accuracy("val")


def first_weights_spread(run) -> float:
    """The standard deviation of the first convolution's trained weights per unit of raw pixel (0 to 255)."""
    return _spread_per_raw_pixel(run.weights()[0], run.config["normalize"])


def _spread_per_raw_pixel(kernel: np.ndarray, normalize: bool) -> float:
    """A kernel's standard deviation, comparable between models on raw inputs and on inputs / 255: with inputs
    / 255, a weight w acts as w / 255 on a raw pixel."""
    return float(kernel.std() / (255 if normalize else 1))


def summary(runs) -> pd.DataFrame:
    """One row per run: size, cost, accuracies, gap, time."""
    rows = []
    for run in runs:
        experiment = get(run.name)
        history = run.history
        rows.append({
            "experiment": run.name,
            "title": experiment.title,
            "dataset": run.config["dataset"],
            "genuine_data": run["data"]["genuine"],
            "params": run["params_total"],
            "macs": params.count_macs(experiment),
            "epochs": len(history),
            "batch_size": run.config["batch_size"],
            "train_accuracy": run.accuracy("train"),
            "val_accuracy": run.accuracy("val"),
            "test_accuracy": run.accuracy("test"),
            "gap": overfitting_gap(run),
            "best_epoch": best_epoch(run),
            "seconds": run["wall_seconds"],
            "seconds_per_epoch": float(history["seconds"].mean()),
        })  # fmt: skip
    return pd.DataFrame(rows)


def cost_table(runs_by_name: dict) -> pd.DataFrame:
    """`stats.seed_table` with the computation of one training as column "compute" (`params.training_macs`)."""
    table = seed_table(runs_by_name)
    table["compute"] = [params.training_macs(get(name), as_runs(runs)[0]["data"]["train_size"])
                        for name, runs in runs_by_name.items()]
    return table


@dataclass(frozen=True)
class Efficiency:
    """What question 5.7 weighs: the models' costs (`cost_table`), the most accurate on validation, the models
    validation cannot tell from it, and the most accurate of those that need at most half its computation."""

    table: pd.DataFrame
    most_accurate: str
    contenders: list[str]
    at_half: str | None


def efficiency(runs_by_name: dict) -> Efficiency:
    """Question 5.7's trade-off between accuracy and computation for `runs_by_name` (name -> runs of its seeds)."""
    table = cost_table(runs_by_name)
    trade = stats.trade_off(table)
    return Efficiency(table, trade.most_accurate, stats.within_margin(runs_by_name, trade.most_accurate),
                      trade.cheaper)


def step_comparisons(steps, runs_by_name: dict) -> pd.DataFrame:
    """Each step (model before, model after), in order, with the test comparison of the model after against the
    model before (`lab.stats.compare`): columns "before", "after" and "on_test"."""
    rows = [{"before": before, "after": after, "on_test": compare(runs_by_name[before], runs_by_name[after])}
            for before, after in steps]  # fmt: skip
    return pd.DataFrame(rows, columns=["before", "after", "on_test"])


def accuracy_at(run, epoch: int, split: str = "val") -> float:
    """Accuracy recorded at the end of `epoch` (1-based); `split` is 'train' or 'val'."""
    column = "val_accuracy" if split == "val" else "accuracy"
    return float(run.history.loc[epoch, column])


def provenance(runs) -> pd.DataFrame:
    """Where each dataset's arrays came from, as the stored runs record it (one row per dataset): `dataset`,
    `source`, `genuine`, `pixel_deviation` (0-255, None where not measured), `sha256`.
    `lab.report.provenance_table` writes it in French."""
    rows = {}
    for run in runs:
        recorded = run["data"]
        rows.setdefault(recorded["dataset"], {
            "dataset": recorded["dataset"], "source": recorded["source"], "genuine": bool(recorded["genuine"]),
            "pixel_deviation": recorded.get("pixel_deviation"), "sha256": recorded["sha256"],
        })  # fmt: skip
    return pd.DataFrame(rows.values())


def min_val_loss_epoch(run) -> int:
    """The epoch after which the validation loss was lowest: where overfitting starts."""
    return int(run.history["val_loss"].idxmin())


def standard_error(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on n independent images: sqrt(p(1 − p)/n)."""
    return float(np.sqrt(accuracy * (1 - accuracy) / n))


def initial_outputs(experiment, x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict:
    """What the untrained model (same seed as training) outputs on images prepared as it expects.

    Shows why the input scale matters: the spread of the pre-activations of the first
    layer, the confidence of the initial predictions and the initial loss.
    """
    # the initial weights as training draws them; no op determinism, which would stay on for the chapter's later
    # predictions (and its tf.data log a harmless error at each model's first one)
    keras().utils.set_random_seed(seed)
    model = models.build(experiment)
    inputs = data.prepare_images(x, experiment.normalize)
    first_layer = np.asarray(model.layers[0](inputs))
    probabilities = np.asarray(model(inputs, training=False))
    labels = data.prepare_labels(y)
    loss = -np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, None)).mean()
    kernel = model.layers[0].get_weights()[0]
    return {
        "input_max": float(inputs.max()),
        "first_layer_std": float(first_layer.std()),
        "first_weights_spread": _spread_per_raw_pixel(kernel, experiment.normalize),  # as after training
        "max_probability": float(probabilities.max(axis=1).mean()),
        "loss": float(loss),
    }


def val_test_gap(run) -> tuple[float, float]:
    """Test error minus validation error, and the standard error of that difference.

    The two sets are independent samples, so the errors of their accuracies add in quadrature.
    """
    n_val, n_test = run["data"]["val_size"], run["data"]["test_size"]
    error = np.hypot(standard_error(run.accuracy("val"), n_val), standard_error(run.accuracy("test"), n_test))
    return error_rate(run, "test") - error_rate(run, "val"), float(error)


def late_val_accuracy(run, epochs: int = 3) -> float:
    """Mean validation accuracy of the last `epochs` epochs: less sensitive to the epoch training stopped at."""
    return float(run.history["val_accuracy"].iloc[-epochs:].mean())


def irregularity(run) -> float:
    """Mean absolute change of validation accuracy from one epoch to the next."""
    return float(run.history["val_accuracy"].diff().abs().mean())


def crossing_epoch(run) -> int | None:
    """First epoch whose training accuracy (measured during the epoch) exceeds the validation one."""
    above = run.history.index[run.history["accuracy"] > run.history["val_accuracy"]]
    return int(above[0]) if len(above) else None


def confusions_both_ways(run, n: int = 3) -> pd.DataFrame:
    """The `n` most confused pairs of classes, errors counted in both directions (A → B plus B → A);
    of several seeds: pooled."""
    matrix = confusion(run)
    np.fill_diagonal(matrix, 0)
    both = np.triu(matrix + matrix.T, k=1)
    names = class_names(run)
    order = np.argsort(both, axis=None)[::-1][:n]
    rows = []
    for flat in order:
        a, b = np.unravel_index(flat, both.shape)
        rows.append({"first": names[a], "second": names[b], "count": int(both[a, b]),
                     "first_to_second": int(matrix[a, b]), "second_to_first": int(matrix[b, a])})  # fmt: skip
    return pd.DataFrame(rows)


def confusion_changes(before, after, n: int = 3) -> pd.DataFrame:
    """The (true → predicted) errors that changed most in count from run `before` to run `after`.

    Negative `change`: errors that the second model makes less often.
    """
    counts_before, counts_after = confusion(before), confusion(after)
    change = counts_after - counts_before
    np.fill_diagonal(change, 0)
    names = class_names(before)
    order = np.argsort(change, axis=None)[:n]
    rows = []
    for flat in order:
        true, predicted = np.unravel_index(flat, change.shape)
        rows.append({"true_name": names[true], "predicted_name": names[predicted],
                     "before": int(counts_before[true, predicted]), "after": int(counts_after[true, predicted]),
                     "change": int(change[true, predicted])})  # fmt: skip
    return pd.DataFrame(rows)


def error_confidence(run, split: str = "val") -> tuple[float, float]:
    """On the misclassified images of `split` ("val" or "test"): the mean probability the model gives the
    (wrong) class it predicts, and the share of the split's cross-entropy those images carry."""
    probabilities, y_true = run.predictions(split)
    wrong = probabilities.argmax(axis=1) != y_true
    true_probability = probabilities[np.arange(len(y_true)), y_true].astype(np.float64)
    loss = -np.log(np.clip(true_probability, 1e-7, 1.0))  # as Keras clips in its cross-entropy
    return float(probabilities.max(axis=1)[wrong].mean()), float(loss[wrong].sum() / loss.sum())


@dataclass(frozen=True)
class CopyEffect:
    """How trained models classify the CIFAR-10 test images whose genuine pixels we have: on those pixels (b)
    against the JPEG copy's (a), the same models and images."""

    images: int
    comparison: stats.Comparison  # accuracy on the genuine pixels minus on the copy's, over the seeds
    changed: float  # share of the images whose predicted class changes, mean over the seeds


def sample_predictions(experiment, trained_models, pixels: str) -> tuple[np.ndarray, np.ndarray]:
    """The classes that the models of `experiment` (one per seed) predict for the CIFAR-10 test images whose genuine
    pixels we have, with the copy's pixels ("copy") or the genuine ones ("genuine"): seeds × images, and the truth."""
    # the loaded test set alone: `prepared_data` would convert the 50 000 training images too, at each call
    loaded = data.load_cached(experiment.dataset)
    (_, (x_test, y_test)), provenance = loaded, loaded.provenance
    index, x_genuine = data.copy_sample("test", provenance, "the copy's effect")
    x = data.prepare_images(x_genuine if pixels == "genuine" else x_test[index], experiment.normalize)
    # a thousand images make one batch (`predict` would retrace for each model)
    predicted = np.array([np.asarray(model(x, training=False)).argmax(axis=1) for model in trained_models])
    return predicted, data.prepare_labels(y_test)[index]


def copy_effect(experiment, trained_models) -> CopyEffect:
    """`CopyEffect` of the models of `experiment` (one per seed, trained on the JPEG copy)."""
    trained_models = list(trained_models)
    (on_copy, truth), (on_genuine, _) = (sample_predictions(experiment, trained_models, pixels)
                                         for pixels in ("copy", "genuine"))
    comparison = stats.compare_correct(on_copy == truth, on_genuine == truth)
    return CopyEffect(len(truth), comparison, float((on_copy != on_genuine).mean()))


def copy_training_effect(copy_trained, genuine_trained) -> stats.Comparison:
    """What the copy changes, training and test together: models trained on the copy's pixels and tested on the
    copy's (a) against the same models trained and tested on the genuine pixels (b), on the test sample; each
    argument is (experiment, its models, one per seed, in the same seed order)."""
    (on_copy, truth), (on_genuine, _) = (sample_predictions(experiment, trained, pixels) for (experiment, trained),
                                         pixels in ((copy_trained, "copy"), (genuine_trained, "genuine")))
    return stats.compare_correct(on_copy == truth, on_genuine == truth)
