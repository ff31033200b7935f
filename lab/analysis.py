"""Read stored runs: error rates, confusions, frequent errors, comparisons.

Functions that return French sentences (the `*_verdict` ones, `provenance_sentence`)
return plain text, without Markdown, so that an inline expression shows them as they
are whatever way the renderer treats its text.

Everything here works on `lab.store.Run` objects (stored predictions and
metrics), so the report computes each figure it quotes without retraining.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lab import params
from lab.data import CLASS_NAMES, DISPLAY_NAMES, SOURCE_NAMES_FR
from lab.experiments import get
from lab.report import as_markdown, dec, md, num, pct, pts

SPLITS = {"train": "apprentissage", "val": "validation", "test": "test"}


def class_names(run) -> list[str]:
    return CLASS_NAMES[run.config["dataset"]]


def error_rate(run, split: str = "test") -> float:
    return 1.0 - run.accuracy(split)


def confusion(run) -> np.ndarray:
    """Counts of (true class, predicted class) on the test set (scikit-learn's confusion matrix)."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(run.y_true, run.y_pred, labels=range(len(class_names(run))))


def class_metrics(runs) -> pd.DataFrame:
    """Per-class precision, recall and F1 on the test set (scikit-learn), mean and sd over the runs.

    `runs` is a run or the runs of several seeds; rows are the classes, in label order.
    Recall: the share of a class's images recognised; precision: the share of the
    predictions of a class that are right; `predicted`: how many images got that class.
    """
    from sklearn.metrics import precision_recall_fscore_support

    tables = []
    for run in _as_list(runs):
        labels = range(len(class_names(run)))
        precision, recall, f1, _ = precision_recall_fscore_support(run.y_true, run.y_pred, labels=labels,
                                                                   zero_division=0)  # fmt: skip
        predicted = np.bincount(run.y_pred, minlength=len(labels))
        tables.append(pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "predicted": predicted},
                                   index=class_names(run)))  # fmt: skip
    stacked = pd.concat(tables)
    grouped = stacked.groupby(level=0, sort=False)
    result = grouped.mean()
    for column in ("precision", "recall"):
        result[f"{column}_sd"] = grouped[column].std(ddof=1).fillna(0.0) if len(tables) > 1 else 0.0
    result["seeds"] = len(tables)
    return result


def worst_class(runs, metric: str = "recall") -> str:
    """The class with the lowest mean `metric` over the runs."""
    return str(class_metrics(runs)[metric].idxmin())


def worst_in_every_seed(runs, metric: str = "recall", among: int = 2) -> bool:
    """Whether the worst class (mean over seeds) is among the `among` worst of every single seed."""
    worst = worst_class(runs, metric)
    return all(worst in class_metrics(run)[metric].nsmallest(among).index for run in _as_list(runs))


def _as_list(runs) -> list:
    return list(runs) if isinstance(runs, (list, tuple)) else [runs]


def per_class_accuracy(run) -> pd.Series:
    """Share of each class's test images predicted correctly (recall), worst first."""
    matrix = confusion(run)
    with np.errstate(invalid="ignore"):  # a class absent from the test set has no recall (NaN)
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
            "jeu": DISPLAY_NAMES[data["dataset"]],
            "source": SOURCE_NAMES_FR.get(data["source"], data["source"]),
            "authentique": "oui" if data["genuine"] else "non",
            "écart moyen des pixels": "" if data.get("pixel_deviation") is None
            else f"{dec(data['pixel_deviation'], 2)} / 255",
            "empreinte SHA-256": data["sha256"][:16] + "…",
        })  # fmt: skip
    return pd.DataFrame(rows.values())


@as_markdown
def provenance_sentence(run) -> str:
    """A French sentence that says on which copy of the data a run was computed."""
    data = run["data"]
    if data["genuine"]:
        return (f"Les résultats sur ce jeu ont été calculés sur les données authentiques "
                f"(source : {data['source']}).")  # fmt: skip
    deviation = data.get("pixel_deviation")
    measured = f"de {dec(deviation, 2)}/255" if deviation is not None else "d'une quantité non mesurée"
    return (
        "Les résultats CIFAR-10 de ce livre ont été calculés sur une copie JPEG de CIFAR-10, "
        "et non sur le jeu authentique, que cette machine ne pouvait pas télécharger. La copie "
        "contient les mêmes images, dans le même ordre et avec les mêmes étiquettes, mais ses pixels "
        f"s'écartent en moyenne {measured} des pixels authentiques (perte due à la compression JPEG, "
        "mesurée sur un échantillon d'images authentiques). Les exactitudes sont donc proches de "
        "celles du vrai CIFAR-10, sans lui être identiques. Réentraîné sur une machine qui accède "
        "à internet, le paquet lab utilise le jeu authentique téléchargé par keras.datasets."
    )


def error_table(runs: dict) -> pd.DataFrame:
    """Error rates (1 − accuracy) on each split, one row per labelled run."""
    rows = [{"modèle": label, "époques": len(run.history),
             **{f"erreur {SPLITS[split]}": error_rate(run, split) for split in SPLITS}}
            for label, run in runs.items()]  # fmt: skip
    return pd.DataFrame(rows)


def min_val_loss_epoch(run) -> int:
    """The epoch after which the validation loss was lowest: where overfitting starts."""
    return int(run.history["val_loss"].idxmin())


def settings(experiment) -> pd.DataFrame:
    """The training settings of an experiment, in French, for the report."""
    rows = {
        "jeu de données": DISPLAY_NAMES[experiment.dataset],
        "entrées": "divisées par 255" if experiment.normalize else "brutes (0 à 255)",
        "activation": experiment.activation
        + (f" (pente négative {experiment.negative_slope})" if experiment.activation == "leaky_relu" else ""),
        "optimiseur": f"{experiment.optimizer} (taux d'apprentissage {experiment.learning_rate})",
        "perte": "sparse_categorical_crossentropy",
        "époques": experiment.epochs,
        "taille de batch": experiment.batch_size,
        "validation": f"les derniers {experiment.validation_fraction:.0%} de l'apprentissage",
    }
    return pd.DataFrame({"réglage": list(rows), "valeur": [str(v) for v in rows.values()]})


def layer_list(experiment) -> pd.DataFrame:
    """The layers of an experiment's spec, numbered, with their output shapes."""
    from lab.models import INPUT_SHAPES
    from lab.params import shape_progression

    table = shape_progression(experiment.layers, INPUT_SHAPES[experiment.dataset])
    return table.drop(columns="error").rename(columns={"layer": "couche", "output_shape": "forme de sortie"})


def standard_error(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on n independent images: sqrt(p(1 − p)/n)."""
    return float(np.sqrt(accuracy * (1 - accuracy) / n))


def initial_outputs(experiment, x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict:
    """What the untrained model (same seed as training) outputs on images prepared as it expects.

    Shows why the input scale matters: the spread of the pre-activations of the first
    layer, the confidence of the initial predictions and the initial loss.
    """
    from lab import data, models
    from lab.train import set_seed

    set_seed(seed)
    model = models.build(experiment)
    inputs = data.prepare_images(x, experiment.normalize)
    first_layer = np.asarray(model.layers[0](inputs))
    probabilities = np.asarray(model(inputs, training=False))
    labels = data.prepare_labels(y)
    loss = -np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, None)).mean()
    return {
        "input_max": float(inputs.max()),
        "first_layer_std": float(first_layer.std()),
        "max_probability": float(probabilities.max(axis=1).mean()),
        "loss": float(loss),
    }


def _near_end(epoch: int, run, margin: int = 2) -> bool:
    return epoch >= len(run.history) - margin


@as_markdown
def more_epochs_verdict(run) -> str:
    """A French sentence: would more epochs pay, judging from the validation curves?"""
    best, lowest = best_epoch(run), min_val_loss_epoch(run)
    if _near_end(best, run) and _near_end(lowest, run):
        return ("La validation progresse encore à la fin de l'apprentissage, sans surapprentissage "
                "marqué : il paraît utile d'augmenter le nombre d'époques, ce que vérifie la "
                "question suivante.")  # fmt: skip
    if not _near_end(lowest, run):
        return (f"La perte de validation a cessé de baisser dès l'époque {lowest} : plus d'époques "
                "n'apporteraient guère, sinon du surapprentissage ; la question suivante le vérifie.")  # fmt: skip
    return ("La perte de validation baisse encore mais l'exactitude de validation oscille : plus "
            "d'époques pourraient aider un peu, ce que vérifie la question suivante.")  # fmt: skip


def paired_difference(a, b) -> tuple[float, float]:
    """Test accuracy of b minus that of a, and the standard error of that difference.

    Both runs are scored on the same test images, so the error is computed from the
    per-image differences of correctness (a paired comparison), not as if the two
    accuracies were independent.
    """
    correct_a = (a.y_pred == a.y_true).astype(float)
    correct_b = (b.y_pred == b.y_true).astype(float)
    difference = correct_b - correct_a
    return float(difference.mean()), float(difference.std(ddof=1) / np.sqrt(len(difference)))


BETTER, WORSE, SAME = "better", "worse", "same"


def outcome(a, b) -> tuple[str, float, float]:
    """Whether `b` beats `a` on the test set beyond two paired standard errors: outcome, gain, error."""
    gain, error = paired_difference(a, b)
    if gain > 2 * error:
        return BETTER, gain, error
    if gain < -2 * error:
        return WORSE, gain, error
    return SAME, gain, error


@as_markdown
def longer_training_verdict(short, long) -> str:
    """A French sentence comparing the same model trained longer, against measurement noise."""
    result, _, error = outcome(short, long)
    margin = _points(2 * error)
    if result == BETTER:
        verdict = (
            f"Le gain dépasse l'incertitude de mesure (±{margin} à deux erreurs types, "
            "sur les mêmes images de test) : les époques supplémentaires ont payé."
        )
    elif result == WORSE:
        verdict = (
            "Le résultat se dégrade au-delà de l'incertitude de mesure : les époques "
            "supplémentaires ont nui, par surapprentissage."
        )
    else:
        verdict = (
            f"La différence reste dans l'incertitude de mesure (±{margin} à deux erreurs "
            "types) : doubler le calcul n'a rien apporté de mesurable."
        )
    if not _near_end(best_epoch(long), long, margin=3):
        verdict += (
            f" La validation plafonne dès l'époque {best_epoch(long)} : au-delà, l'apprentissage "
            "ne fait plus progresser la généralisation."
        )
    return verdict


def _points(value: float) -> str:
    return pts(value, signed=value < 0)


@as_markdown
def leaky_verdict(relu, leaky) -> str:
    """A French sentence on LeakyReLU + 40 epochs + batch 128 against the ReLU model at 20 epochs."""
    result, gain, error = outcome(relu, leaky)
    ratio = leaky["wall_seconds"] / relu["wall_seconds"]
    if result == BETTER:
        sentence = f"Le gain, {_points(gain)}, dépasse l'incertitude de mesure (±{_points(2 * error)})"
    elif result == WORSE:
        sentence = f"La perte, {_points(-gain)}, dépasse l'incertitude de mesure (±{_points(2 * error)})"
    else:
        sentence = f"La différence, {_points(gain)}, reste dans l'incertitude de mesure (±{_points(2 * error)})"
    return (
        f"{sentence}, pour un temps de calcul multiplié par {dec(ratio, 1)}"
        + ". Trois réglages changent à la fois (activation, nombre d'époques, taille de batch) : "
        "cette comparaison ne permet pas d'attribuer l'écart à la LeakyReLU seule."
    )


def pareto_frontier(table: pd.DataFrame) -> list[str]:
    """Models that no other beats on test accuracy while costing no more training time."""
    names = []
    for name, row in table.iterrows():
        others = table.drop(index=name)
        no_worse = (others["test_accuracy"] >= row["test_accuracy"]) & (others["seconds"] <= row["seconds"])
        better = (others["test_accuracy"] > row["test_accuracy"]) | (others["seconds"] < row["seconds"])
        dominated = (no_worse & better).any()
        if not dominated:
            names.append(name)
    return sorted(names, key=lambda name: table.loc[name, "seconds"])


def most_efficient(table: pd.DataFrame, runs: dict) -> dict:
    """The most efficient model of `table` (indexed by experiment), and a French verdict.

    Among the non-dominated models, the most accurate one is chosen, unless a model at
    most half as long to train is within two standard errors of it on the test set.
    """
    frontier = pareto_frontier(table)
    best = max(frontier, key=lambda name: table.loc[name, "test_accuracy"])
    chosen = best
    for cheaper in frontier:
        if cheaper == best:
            break
        gain, error = paired_difference(runs[cheaper], runs[best])
        if gain <= 2 * error and table.loc[cheaper, "seconds"] <= 0.5 * table.loc[best, "seconds"]:
            chosen = cheaper
            break
    row = table.loc[chosen]
    parameters = num(row["params"])
    verdict = (
        f"Nous retenons {chosen} : {pct(row['test_accuracy'])} sur le test, un écart "
        f"apprentissage − validation de {_points(row['gap'])}, {parameters} paramètres"
        f" et {row['seconds'] / 60:.0f}\u00a0min d'apprentissage sur deux cœurs."
    )
    if chosen != best:
        gain, error = paired_difference(runs[chosen], runs[best])
        ratio = dec(table.loc[best, "seconds"] / row["seconds"], 1)
        verdict += (
            f" {best} fait un peu mieux sur le test ({_points(gain)}), mais dans l'incertitude de mesure "
            f"(±{_points(2 * error)}) et pour un temps d'apprentissage {ratio} fois plus long."
        )
    else:
        verdict += " Aucun modèle moins coûteux n'approche son exactitude de test à l'incertitude de mesure près."
    cheaper = [name for name in frontier if table.loc[name, "seconds"] <= 0.5 * row["seconds"]]
    if cheaper:
        alternative = max(cheaper, key=lambda name: table.loc[name, "test_accuracy"])
        other = table.loc[alternative]
        verdict += (
            f" Si le temps de calcul compte davantage, {alternative} atteint {pct(other['test_accuracy'])} "
            f"en {other['seconds'] / 60:.0f}\u00a0min, avec un écart apprentissage − validation de "
            f"{_points(other['gap'])} : c'est le meilleur compromis parmi les modèles au moins deux fois "
            "plus rapides à entraîner."
        )
    return {"chosen": chosen, "best": best, "frontier": frontier, "verdict": md(verdict)}


def history_difference(a, b) -> float:
    """Largest absolute difference between two runs' histories over their common epochs.

    Two runs of the same model and seed that differ only in their number of epochs
    must agree exactly on the epochs they share: 0.0 shows that training is reproducible.
    """
    common = min(len(a.history), len(b.history))
    columns = ["loss", "accuracy", "val_loss", "val_accuracy"]
    difference = a.history[columns].iloc[:common] - b.history[columns].iloc[:common]
    return float(difference.abs().to_numpy().max())


@as_markdown
def difference_sentence(a, b) -> str:
    """`b` against `a` on the test set, in French, qualified by the paired measurement noise.

    E.g. "+1,2 points, au-delà de l'incertitude de mesure (±0,6 point à deux erreurs types)".
    """
    result, gain, error = outcome(a, b)
    within = "dans" if result == SAME else "au-delà de"
    return f"{pts(gain)}, {within} l'incertitude de mesure de ±{_points(2 * error)} à deux erreurs types"


def val_test_gap(run) -> tuple[float, float]:
    """Test error minus validation error, and the standard error of that difference.

    The two sets are independent samples, so the errors of their accuracies add in quadrature.
    """
    n_val, n_test = run["data"]["val_size"], run["data"]["test_size"]
    error = np.hypot(standard_error(run.accuracy("val"), n_val), standard_error(run.accuracy("test"), n_test))
    return error_rate(run, "test") - error_rate(run, "val"), float(error)


@as_markdown
def effect(a, b, plural: bool = False) -> str:
    """What going from run `a` to run `b` does to test accuracy: a French predicate on "le modèle".

    `plural` conjugates the verb for a plural subject ("les convolutions ajoutées améliorent le modèle").
    """
    result, _, _ = outcome(a, b)
    if result == BETTER:
        return "améliorent le modèle" if plural else "améliore le modèle"
    if result == WORSE:
        return "dégradent le modèle" if plural else "dégrade le modèle"
    verb = "ne changent" if plural else "ne change"
    return f"{verb} pas le modèle de façon mesurable"


@as_markdown
def val_test_sentence(run) -> str:
    """French sentence: is the test accuracy consistent with the validation accuracy?"""
    gap, error = val_test_gap(run)
    ratio = dec(abs(gap) / error, 1)
    direction = "plus basse" if gap > 0 else "plus haute"
    if abs(gap) <= 2 * error:
        return (f"L'exactitude de test est {direction} que celle de validation de {_points(abs(gap))}, soit "
                f"{ratio} erreurs types : un écart que le hasard de l'échantillonnage suffit à expliquer.")  # fmt: skip
    return (f"L'exactitude de test est {direction} que celle de validation de {_points(abs(gap))}, soit "
            f"{ratio} erreurs types : plus que le seul hasard de l'échantillonnage ne l'explique.")  # fmt: skip


def irregularity(run) -> float:
    """Mean absolute change of validation accuracy from one epoch to the next."""
    return float(run.history["val_accuracy"].diff().abs().mean())


def crossing_epoch(run) -> int | None:
    """First epoch whose training accuracy (measured during the epoch) exceeds the validation one."""
    above = run.history.index[run.history["accuracy"] > run.history["val_accuracy"]]
    return int(above[0]) if len(above) else None


@as_markdown
def main_cause(baseline, longer, leaky) -> str:
    """Which of the two changes of q-5-6 brings most of the gain, in French.

    `longer` is the ReLU model with the LeakyReLU run's epochs and batch size, so that
    baseline → longer measures the training settings and longer → leaky the activation.
    """
    settings, _ = paired_difference(baseline, longer)
    activation, _ = paired_difference(longer, leaky)
    if settings >= activation:
        return "l'apprentissage plus long (40 époques par batchs de 128), plus que de l'activation"
    return "l'activation LeakyReLU, plus que de l'apprentissage plus long"


def confusions_both_ways(run, n: int = 3) -> pd.DataFrame:
    """The `n` most confused pairs of classes, errors counted in both directions (A → B plus B → A)."""
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
    change = confusion(after) - confusion(before)
    np.fill_diagonal(change, 0)
    names = class_names(before)
    order = np.argsort(change, axis=None)[:n]
    rows = []
    for flat in order:
        true, predicted = np.unravel_index(flat, change.shape)
        rows.append({"true_name": names[true], "predicted_name": names[predicted],
                     "before": int(confusion(before)[true, predicted]), "after": int(confusion(after)[true, predicted]),
                     "change": int(change[true, predicted])})  # fmt: skip
    return pd.DataFrame(rows)
