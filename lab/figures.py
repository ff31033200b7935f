"""The report's figures: learning curves, confusion heatmaps, the comparison of the models.

Each function returns a matplotlib `Figure` built without pyplot, so that a
notebook shows it once, where the chapter's cell returns it, and no global figure
state leaks between cells. Labels are in French, as the report is.

Imports from lab: analysis, data, report, stats.
"""

from __future__ import annotations

import textwrap

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lab import analysis
from lab.data import DISPLAY_NAMES
from lab.report import dec, model_name, num
from lab.stats import as_runs

# Figures are drawn at the size they are printed: the body of an A4 page and of the HTML
# book is about 16 cm wide, and no text is smaller than 7 pt there.
PAGE_WIDTH = 6.3  # inches
SMALLEST_FONT = 7  # points
# seaborn's "whitegrid" style at its "paper" scale, set through matplotlib: importing seaborn
# costs 1.6 s, paid only by the chapters that draw a heatmap (`confusion_heatmap`).
PALETTE = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974",
           "#64B5CD"]  # seaborn's "deep" palette  # fmt: skip
matplotlib.rcParams.update({
    "axes.facecolor": "white", "axes.edgecolor": ".8", "axes.grid": True, "axes.axisbelow": True,
    "axes.labelcolor": ".15", "grid.color": ".8", "grid.linestyle": "-", "xtick.color": ".15", "ytick.color": ".15",
    "xtick.bottom": False, "ytick.left": False, "axes.spines.top": True, "axes.spines.right": True,
    "font.size": 8.8, "axes.labelsize": 8.8, "axes.titlesize": 9.5, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "legend.fontsize": 8, "legend.frameon": False, "lines.linewidth": 1.4,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
})  # fmt: skip


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


def _curve(ax, runs, column: str, **style):
    """The mean over seeds of one history column, with a band from the lowest to the highest seed."""
    import pandas as pd

    values = pd.concat([run.history[column] for run in as_runs(runs)], axis=1)
    ax.plot(values.index, values.mean(axis=1), **style)
    if values.shape[1] > 1:
        ax.fill_between(values.index, values.min(axis=1), values.max(axis=1), color=style.get("color"),
                        alpha=0.15, linewidth=0)  # fmt: skip


def learning_curves(runs: dict, metrics=("loss", "accuracy")):
    """Training (solid) and validation (dashed) curves of each run, per epoch.

    A value of `runs` may be a list of runs of the same experiment (several seeds): the
    curve is then their mean, inside a band from the lowest to the highest seed. The loss axis shows
    epochs 2 and later in full (`_bound_to_later_epochs`); the first epoch's loss may lie above it.
    """
    titles = {"loss": "Perte (entropie croisée)", "accuracy": "Exactitude"}
    fig = Figure(figsize=(PAGE_WIDTH, 3.3), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)
    palette = PALETTE[: len(runs)]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for color, (label, run) in zip(palette, runs.items(), strict=True):
            _curve(ax, run, metric, color=color, label=f"{label} (apprentissage)")
            _curve(ax, run, f"val_{metric}", color=color, linestyle="--", label=f"{label} (validation)")
        ax.set(title=titles.get(metric, metric), xlabel="époque")
        if metric == "loss":
            _bound_to_later_epochs(ax, runs.values(), metric)
        _french_ticks(ax)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2)
    return fig


def _bound_to_later_epochs(ax, runs, metric: str, first: int = 2) -> None:
    """Bound the y axis to the values of epochs `first` and later (every seed, training and validation): the
    first epoch's loss, several times the later ones, would flatten the curves where validation turns up."""
    values = [value for run in runs for one in as_runs(run) for column in (metric, f"val_{metric}")
              for value in one.history[column].loc[first:]]  # fmt: skip
    if values:
        low, high = min(values), max(values)
        pad = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
        ax.set_ylim(low - pad, high + pad)
        _note_out_of_frame(ax, runs, metric, first, high + pad)


def _note_out_of_frame(ax, runs, metric: str, first: int, top: float) -> None:
    """Say in the panel how high the epochs before `first` go when the axis leaves them out."""
    earlier = [value for run in runs for one in as_runs(run) for column in (metric, f"val_{metric}")
               for value in one.history[column].loc[: first - 1]]  # fmt: skip
    if earlier and max(earlier) > top:
        epochs = "époque 1" if first == 2 else f"époques 1 à {first - 1}"
        ax.annotate(f"{epochs} hors cadre : jusqu'à {dec(max(earlier), 1)} ↑", xy=(0.5, 0.97),
                    xycoords="axes fraction", ha="center", va="top", fontsize=SMALLEST_FONT, color="0.3")


def learning_curves_side_by_side(runs: dict, metric: str = "accuracy"):
    """One panel per run: training (solid) and validation (dashed) `metric`, on shared axes."""
    fig = Figure(figsize=(PAGE_WIDTH, 3.1), layout="constrained")
    axes = fig.subplots(1, len(runs), sharey=True, squeeze=False)[0]
    for ax, (label, run) in zip(axes, runs.items(), strict=True):
        _curve(ax, run, metric, label="apprentissage")
        _curve(ax, run, f"val_{metric}", linestyle="--", label="validation")
        ax.set(title=label, xlabel="époque")
        _french_ticks(ax)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set(ylabel="exactitude" if metric == "accuracy" else metric)
    axes[0].legend()
    return fig


def confusion_heatmap(run, normalize: bool = True):
    """The test confusion matrix drawn with seaborn's heatmap (rows: true class)."""
    matrix = analysis.confusion(run)
    names = analysis.class_names(run)
    values = matrix / matrix.sum(axis=1, keepdims=True) if normalize else matrix
    import seaborn as sns

    fig = Figure(figsize=(PAGE_WIDTH, 4.7), layout="constrained")
    ax = fig.subplots()
    labels = np.vectorize(lambda value: dec(value, 2) if normalize else num(value))(values)  # decimal commas
    sns.heatmap(values, annot=labels, fmt="", cmap="Blues", square=True,
                xticklabels=names, yticklabels=names, cbar_kws={"shrink": 0.8}, ax=ax,
                annot_kws={"fontsize": SMALLEST_FONT + 0.5})  # fmt: skip
    _french_ticks(ax.collections[0].colorbar.ax)
    ax.set(xlabel="classe prédite", ylabel="vraie classe")
    ax.tick_params(axis="x", rotation=45)
    return fig


def comparison(summary, x: str = "params", size: str = "seconds"):
    """Test accuracy against `x` (log scale), one panel per dataset; the marker's area shows `size`.

    Each model is marked with its number, moved off its disc when it would cover
    another number, and a key beside the panel names it.
    """
    labels = {"params": "paramètres", "macs": "MAC par image", "seconds": "temps d'apprentissage (s)",
              "compute": "calcul de l'apprentissage (10¹² multiplications-additions)"}
    datasets = list(dict.fromkeys(summary["dataset"]))
    if x == "compute":  # multiply-accumulates of a training: in units of 10¹², as its label says
        summary = summary.assign(compute=summary["compute"] / 1e12)
    fig = Figure(figsize=(PAGE_WIDTH, 3.0 * len(datasets)), layout="constrained")
    grid = fig.subplots(len(datasets), 2, squeeze=False, gridspec_kw={"width_ratios": [2.2, 1]})
    scale = 300 / summary[size].max()
    number, numbered = 0, []
    for (ax, key), dataset, color in zip(grid, datasets, PALETTE, strict=False):
        rows = summary[summary["dataset"] == dataset]
        ax.scatter(rows[x], rows["test_accuracy"], s=rows[size] * scale, alpha=0.45, color=color)
        ax.set(xscale="log", xlabel=labels.get(x, x), ylabel="exactitude (test)", title=DISPLAY_NAMES[dataset])
        ax.margins(x=0.15, y=0.15)
        _french_ticks(ax, percent_y=True)
        key.axis("off")
        numbers = [str(number + i + 1) for i in range(len(rows))]
        number += len(rows)
        numbered.append((ax, rows, numbers))
        # in the body's font: figure spaces, as wide as a digit, align the numbers and the wrapped lines
        lines = [textwrap.fill(f"{n.rjust(2, FIGURE_SPACE)} {model_name(name)}", KEY_WIDTH,
                               subsequent_indent=2 * FIGURE_SPACE + " ")
                 for n, name in zip(numbers, rows["experiment"], strict=True)]  # fmt: skip
        key.text(0, 1, "\n".join(lines), va="top", fontsize=SMALLEST_FONT + 0.5, transform=key.transAxes)
    levels = _round_levels(summary[size].max())
    handles = [grid[-1][0].scatter([], [], s=level * scale, color="grey", alpha=0.5) for level in levels]
    texts = [f"{level / 60:.0f} min" if size == "seconds" else num(level) for level in levels]
    grid[-1][0].legend(handles, texts, title=labels.get(size, size), loc="lower right", labelspacing=1.2)
    _draw(fig)  # the axes' final positions (keys and legend in place), to place the numbers in printed points
    for ax, rows, numbers in numbered:
        _label_points(ax, rows[x].to_numpy(), rows["test_accuracy"].to_numpy(), numbers)
    return fig


KEY_WIDTH = 34  # characters per line of the key beside a comparison panel
FIGURE_SPACE = "\u2007"  # a space as wide as a digit

LABEL_OFFSETS = [(0, 0), (0, 11), (0, -11), (13, 0), (-13, 0), (11, 10), (-11, 10), (11, -10), (-11, -10),
                 (0, 21), (0, -21), (22, 0), (-22, 0)]  # fmt: skip


def _label_points(ax, xs, ys, texts):
    """Write each text on its point, or at the nearest offset where it covers no earlier text."""
    font = SMALLEST_FONT + 1
    to_points = ax.transData + fig_points(ax.figure).inverted()
    points = [tuple(to_points.transform((x, y))) for x, y in zip(xs, ys, strict=True)]
    placed = []
    for i, ((px, py), text) in enumerate(zip(points, texts, strict=True)):
        half_width, half_height = 0.35 * font * len(text) + 1, 0.5 * font + 1
        # a number covers neither an earlier number nor another model's point, where a line may start
        others = [(ox - 2, oy - 2, ox + 2, oy + 2) for j, (ox, oy) in enumerate(points) if j != i]
        for dx, dy in LABEL_OFFSETS:
            box = (px + dx - half_width, py + dy - half_height, px + dx + half_width, py + dy + half_height)
            if not any(_overlap(box, other) for other in placed + others):
                break
        placed.append(box)
        arrow = {"arrowstyle": "-", "lw": 0.5, "color": "0.4"} if (dx, dy) != (0, 0) else None
        label = ax.annotate(text, (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points", ha="center",
                            va="center", fontsize=font, fontweight="bold", arrowprops=arrow)  # fmt: skip
        label.set_in_layout(False)


def fig_points(fig):
    """The transform from printed points (1/72 inch) to the figure's display coordinates."""
    from matplotlib.transforms import Affine2D

    return Affine2D().scale(fig.dpi / 72)


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _draw(fig):
    """Lay the figure out now (constrained layout runs at draw time)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()


def _french_ticks(ax, percent_y: bool = False):
    """Tick labels with a decimal comma, plain numbers on log axes, percentages where asked."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda value, _: num(value) if value == int(value) else f"{value:g}".replace(".", ","))
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() == "log":
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_minor_formatter(NullFormatter())
        axis.set_major_formatter(plain)
    if percent_y:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{100 * value:g}\u00a0%".replace(".", ",")))


def _round_levels(largest: float) -> list[float]:
    """Three legend levels (a quarter, half and all of `largest`), to one significant digit."""
    levels = []
    for fraction in (0.25, 0.5, 1.0):
        value = largest * fraction
        magnitude = 10 ** np.floor(np.log10(value))
        levels.append(float(np.round(value / magnitude) * magnitude))
    return levels

