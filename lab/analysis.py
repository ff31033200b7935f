"""Read stored runs: error rates, confusions, frequent errors, comparisons.

Everything here works on `lab.store.Run` objects (stored predictions and
metrics), so the report computes each figure it quotes without retraining.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lab import params
from lab.data import CLASS_NAMES
from lab.experiments import get

SPLITS = {"train": "apprentissage", "val": "validation", "test": "test"}


def class_names(run) -> list[str]:
    return CLASS_NAMES[run.config["dataset"]]


def error_rate(run, split: str = "test") -> float:
    return 1.0 - run.accuracy(split)


def confusion(run) -> np.ndarray:
    """Counts of (true class, predicted class) on the test set."""
    n = len(class_names(run))
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (run.y_true, run.y_pred), 1)
    return matrix


def per_class_accuracy(run) -> pd.Series:
    """Share of each class's test images predicted correctly (recall), worst first."""
    matrix = confusion(run)
    recall = np.diag(matrix) / matrix.sum(axis=1)
    return pd.Series(recall, index=class_names(run), name="accuracy").sort_values()


def worst_classes(run, n: int = 1) -> list[str]:
    return list(per_class_accuracy(run).index[:n])


def frequent_errors(run, n: int = 3) -> pd.DataFrame:
    """The `n` most frequent (true → predicted) confusions on the test set."""
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


def accuracy_at(run, epoch: int, split: str = "val") -> float:
    """Accuracy recorded at the end of `epoch` (1-based); `split` is 'train' or 'val'."""
    column = "val_accuracy" if split == "val" else "accuracy"
    return float(run.history.loc[epoch, column])


def provenance(runs) -> pd.DataFrame:
    """Where each dataset's arrays came from, as the stored runs record it (one row per dataset)."""
    rows = {}
    for run in runs:
        data = run["data"]
        rows.setdefault(data["dataset"], {
            "jeu": data["dataset"],
            "source": data["source"],
            "authentique": "oui" if data["genuine"] else "non",
            "écart moyen des pixels": "" if data.get("pixel_deviation") is None
            else f"{data['pixel_deviation']:.2f} / 255".replace(".", ","),
            "empreinte SHA-256": data["sha256"][:16] + "…",
        })  # fmt: skip
    return pd.DataFrame(rows.values())


def provenance_sentence(run) -> str:
    """A French sentence that says on which copy of the data a run was computed."""
    data = run["data"]
    if data["genuine"]:
        return (f"Les résultats sur ce jeu ont été calculés sur les données authentiques "
                f"(source : {data['source']}).")  # fmt: skip
    deviation = data.get("pixel_deviation")
    measured = f"de {deviation:.2f}/255".replace(".", ",") if deviation is not None else "d'une quantité non mesurée"
    return (
        "Les résultats CIFAR-10 de ce livre ont été calculés sur une **copie JPEG** de CIFAR-10, "
        "et non sur le jeu authentique, que cette machine ne pouvait pas télécharger. La copie "
        "contient les mêmes images, dans le même ordre et avec les mêmes étiquettes, mais ses pixels "
        f"s'écartent en moyenne {measured} des pixels authentiques (perte due à la compression JPEG, "
        "mesurée sur un échantillon d'images authentiques). Les exactitudes sont donc proches de "
        "celles du vrai CIFAR-10, sans lui être identiques. Réentraîné sur une machine qui accède "
        "à internet, `lab` utilise le jeu authentique téléchargé par `keras.datasets`."
    )
