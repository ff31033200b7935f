"""The report's figures: image grids, learning curves, confusion heatmaps, galleries.

Each function returns a matplotlib `Figure` built without pyplot, so that a
notebook shows it once, where the chapter's cell returns it, and no global figure
state leaks between cells. Labels are in French, as the report is.
"""

from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from lab import analysis
from lab.data import DISPLAY_NAMES
from lab.report import num

sns.set_theme(style="whitegrid", context="notebook")


def _show_figures_in_notebooks() -> None:
    """Let a notebook display a returned Figure as PNG, where no pyplot backend did it yet."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import select_figure_formats
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and Figure not in shell.display_formatter.formatters["image/png"].type_printers:
        select_figure_formats(shell, {"png"})


_show_figures_in_notebooks()


def _image(ax, image, title, color="black"):
    image = np.squeeze(image)
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
    ax.set_title(title, fontsize=9, color=color)
    ax.axis("off")


def image_grid(x, labels, names, n: int = 9, ncols: int = 3):
    """The first `n` images with the name of their class."""
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(1.9 * ncols, 2.0 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols)
    for i, ax in enumerate(np.ravel(axes)):
        if i < n:
            _image(ax, x[i], f"{i} : {names[int(np.ravel(labels)[i])]}")
        else:
            ax.axis("off")
    return fig


def learning_curves(runs: dict, metrics=("loss", "accuracy")):
    """Training (solid) and validation (dashed) curves of each run, per epoch."""
    titles = {"loss": "Perte (entropie croisée)", "accuracy": "Exactitude (accuracy)"}
    fig = Figure(figsize=(5.5 * len(metrics), 3.8), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)
    palette = sns.color_palette("deep", len(runs))
    for ax, metric in zip(axes[0], metrics, strict=True):
        for color, (label, run) in zip(palette, runs.items(), strict=True):
            history = run.history
            ax.plot(history.index, history[metric], color=color, label=f"{label} (apprentissage)")
            ax.plot(history.index, history[f"val_{metric}"], color=color, linestyle="--",
                    label=f"{label} (validation)")  # fmt: skip
        ax.set(title=titles.get(metric, metric), xlabel="époque")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][-1].legend(fontsize=8)
    return fig


def learning_curves_side_by_side(runs: dict, metric: str = "accuracy"):
    """One panel per run: training (solid) and validation (dashed) `metric`, on shared axes."""
    fig = Figure(figsize=(5 * len(runs), 3.8), layout="constrained")
    axes = fig.subplots(1, len(runs), sharey=True, squeeze=False)[0]
    for ax, (label, run) in zip(axes, runs.items(), strict=True):
        history = run.history
        ax.plot(history.index, history[metric], label="apprentissage")
        ax.plot(history.index, history[f"val_{metric}"], linestyle="--", label="validation")
        ax.set(title=label, xlabel="époque", ylabel="exactitude" if metric == "accuracy" else metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=8)
    return fig


def confusion_heatmap(run, normalize: bool = True):
    """The test confusion matrix drawn with seaborn's heatmap (rows: true class)."""
    matrix = analysis.confusion(run)
    names = analysis.class_names(run)
    values = matrix / matrix.sum(axis=1, keepdims=True) if normalize else matrix
    fig = Figure(figsize=(7.5, 6.2), layout="constrained")
    ax = fig.subplots()
    sns.heatmap(values, annot=True, fmt=".2f" if normalize else "d", cmap="Blues", square=True,
                xticklabels=names, yticklabels=names, cbar_kws={"shrink": 0.8}, ax=ax,
                annot_kws={"fontsize": 8})  # fmt: skip
    ax.set(xlabel="classe prédite", ylabel="vraie classe")
    ax.tick_params(axis="x", rotation=45)
    return fig


def error_gallery(x_test, run, indices, ncols: int = 5):
    """Misclassified test images: true class, predicted class and confidence."""
    names = analysis.class_names(run)
    nrows = int(np.ceil(len(indices) / ncols))
    fig = Figure(figsize=(2.1 * ncols, 2.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols)
    for ax, index in zip(np.ravel(axes), indices, strict=False):
        true, predicted = run.y_true[index], run.y_pred[index]
        confidence = run.probabilities[index, predicted]
        _image(ax, x_test[index], f"{names[true]} → {names[predicted]}\n({confidence:.0%})", color="darkred")
    for ax in np.ravel(axes)[len(indices) :]:
        ax.axis("off")
    return fig


def per_class_bars(runs: dict):
    """Test accuracy per class, for each run side by side."""
    import pandas as pd

    table = pd.concat({label: analysis.per_class_accuracy(run) for label, run in runs.items()}, axis=1)
    table = table.sort_values(list(runs)[-1])
    fig = Figure(figsize=(8, 3.8), layout="constrained")
    ax = fig.subplots()
    table.plot.bar(ax=ax, width=0.8)
    ax.set(ylabel="exactitude sur le test", xlabel="", ylim=(0, 1))
    ax.tick_params(axis="x", rotation=45)
    return fig


def comparison(summary, x: str = "params", size: str = "seconds"):
    """Test accuracy against `x` (log scale), one panel per dataset; the marker's area shows `size`."""
    labels = {"params": "paramètres", "macs": "MAC par image", "seconds": "temps d'apprentissage (s)"}
    datasets = list(dict.fromkeys(summary["dataset"]))
    fig = Figure(figsize=(6 * len(datasets), 4.8), layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    scale = 600 / summary[size].max()
    for ax, dataset, color in zip(axes, datasets, sns.color_palette("deep"), strict=False):
        rows = summary[summary["dataset"] == dataset]
        ax.scatter(rows[x], rows["test_accuracy"], s=rows[size] * scale, alpha=0.6, color=color)
        for _, row in rows.iterrows():
            ax.annotate(row["experiment"], (row[x], row["test_accuracy"]), fontsize=7,
                        xytext=(5, 3), textcoords="offset points")  # fmt: skip
        ax.set(xscale="log", xlabel=labels.get(x, x), ylabel="exactitude sur le test", title=DISPLAY_NAMES[dataset])
        ax.margins(x=0.25, y=0.15)
        ax.xaxis.set_major_formatter(ScalarFormatter())  # plain numbers, not powers of ten
    levels = _round_levels(summary[size].max())
    handles = [axes[-1].scatter([], [], s=level * scale, color="grey", alpha=0.5) for level in levels]
    texts = [f"{level / 60:.0f} min" if size == "seconds" else num(level) for level in levels]
    axes[-1].legend(handles, texts, title=labels.get(size, size), fontsize=8, loc="lower right",
                    labelspacing=1.5, borderpad=1)  # fmt: skip
    return fig


def _round_levels(largest: float) -> list[float]:
    """Three legend levels (a quarter, half and all of `largest`), to one significant digit."""
    levels = []
    for fraction in (0.25, 0.5, 1.0):
        value = largest * fraction
        magnitude = 10 ** np.floor(np.log10(value))
        levels.append(float(np.round(value / magnitude) * magnitude))
    return levels
