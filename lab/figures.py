"""The report's figures: learning curves, the comparison of the models.

Each function returns a matplotlib `Figure` built without pyplot, so that a
notebook shows it once, where the chapter's cell returns it, and no global figure
state leaks between cells. Labels are in French, as the report is.

Imports from lab: data, report, stats.
"""

from __future__ import annotations

import re
import textwrap

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lab.data import DISPLAY_NAMES
from lab.report import NBSP, dec, model_name, num, pct
from lab.stats import as_runs

# Figures are drawn at the size they are printed: the body of an A4 page and of the HTML
# book is about 16 cm wide, and no text is smaller than 7 pt there.
PAGE_WIDTH = 6.3  # inches
SMALLEST_FONT = 7  # points
# seaborn's "whitegrid" style at its "paper" scale, set through matplotlib: importing seaborn
# costs 1.6 s, paid only by the chapters that draw a heatmap (with seaborn, in their shown code).
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


def learning_curves(runs: dict, metrics=("loss", "accuracy"), marked_epoch: int | None = None):
    """Training (solid) and validation (dashed) curves of each run, per epoch.

    A value of `runs` may be a list of runs of the same experiment (several seeds): the
    curve is then their mean, inside a band from the lowest to the highest seed. Each axis shows
    epochs 2 and later in full (`_bound_to_later_epochs`); the first epoch may lie outside it, as the panel says.
    `marked_epoch`: a dotted vertical line there (where the shorter runs that these continue ended).
    """
    titles = {"loss": "Perte (entropie croisée)", "accuracy": "Exactitude"}
    fig = Figure(figsize=(PAGE_WIDTH, 2.9), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)
    palette = PALETTE[: len(runs)]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, (color, (label, run)) in enumerate(zip(palette, runs.items(), strict=True)):
            # the first model's curves on top: a later one's, often the longer run, would hide them where they meet
            on_top = {"zorder": 2 + len(runs) - i}
            _curve(ax, run, metric, color=color, label=f"{label} (apprentissage)", **on_top)
            _curve(ax, run, f"val_{metric}", color=color, linestyle="--", label=f"{label} (validation)", **on_top)
        ax.set(title=titles.get(metric, metric), xlabel="époque")
        _bound_to_later_epochs(ax, runs.values(), metric)
        _french_ticks(ax, percent_y=metric == "accuracy")  # accuracies in %, as the text gives them
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if marked_epoch is not None:
            ax.axvline(marked_epoch, color="0.4", linestyle=":", linewidth=1)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2)
    return fig


def _bound_to_later_epochs(ax, runs, metric: str, first: int = 2) -> None:
    """Bound the y axis to the values of epochs `first` and later (every seed, training and validation): the
    first epoch's loss, several times the later ones (or its accuracy, far below), would flatten the curves where
    they differ."""
    values = [value for run in runs for one in as_runs(run) for column in (metric, f"val_{metric}")
              for value in one.history[column].loc[first:]]  # fmt: skip
    if values:
        low, high = min(values), max(values)
        pad = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
        ax.set_ylim(low - pad, high + pad)
        _note_out_of_frame(ax, runs, metric, first, (low - pad, high + pad))


def _note_out_of_frame(ax, runs, metric: str, first: int, frame: tuple[float, float]) -> None:
    """Say in the panel how far the epochs before `first` go when the axis leaves them out (above or below), on a
    white ground that the curves pass under (a note crossed by a curve reads badly)."""
    note = {"xycoords": "axes fraction", "fontsize": SMALLEST_FONT, "color": "0.3", "zorder": 5,
            "bbox": {"boxstyle": "square,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.9}}
    earlier = [value for run in runs for one in as_runs(run) for column in (metric, f"val_{metric}")
               for value in one.history[column].loc[: first - 1]]  # fmt: skip
    epochs = "époque 1" if first == 2 else f"époques 1 à {first - 1}"
    shown = (lambda value: pct(value, 0)) if metric == "accuracy" else (lambda value: dec(value, 1))  # as the axis
    if earlier and max(earlier) > frame[1]:
        ax.annotate(f"{epochs} hors cadre : jusqu'à {shown(max(earlier))} ↑", xy=(0.5, 0.97), ha="center", va="top",
                    **note)  # fmt: skip
    elif earlier and min(earlier) < frame[0]:
        # bottom right: where rising curves (accuracies) leave room, once they have risen
        ax.annotate(f"{epochs} hors cadre : dès {shown(min(earlier))} ↓", xy=(0.97, 0.03), ha="right", va="bottom",
                    **note)  # fmt: skip


def comparison(summary, x: str = "params", size: str | None = "seconds", key: bool = True, y: str = "test_accuracy"):
    """Accuracy `y` ("test_accuracy" or "val_accuracy") against `x` (log scale), one panel per dataset side by side;
    the disc's area shows `size` (`None`: every disc alike). Where `summary` has the seeds' standard deviation of
    `y` ("val_sd" or "test_sd", as `lab.stats.seed_table` names it), a bar shows it; models of the same `x` are set
    a few hundredths apart, so that their bars do not merge.

    Each model is marked with its number (its row in `summary`, from 1) beside its disc, where it covers no other
    number nor disc (a line joins it to its disc where it has to stand farther off), and a key below the panels
    names it; `key=False` leaves the key out, for a figure whose numbers are those of a table's rows.
    """
    labels = {"params": "paramètres", "macs": "MAC par image", "seconds": "temps d'apprentissage (s)",
              "compute": "calcul de l'apprentissage (10¹² multiplications-additions)"}
    datasets = list(dict.fromkeys(summary["dataset"]))
    if x == "compute":  # multiply-accumulates of a training: in units of 10¹², as its label says
        summary = summary.assign(compute=summary["compute"] / 1e12)
    counts = [int((summary["dataset"] == dataset).sum()) for dataset in datasets]
    widths = [max(count, sum(counts) / 3) for count in counts]  # a panel's width follows its number of models
    # the key: each dataset's models below its panel, in as many columns as a third of the page goes into it
    columns = [max(1, round(3 * width / sum(widths))) for width in widths]
    key_chars = int(PAGE_WIDTH * 72 / sum(columns) / (0.55 * KEY_FONT)) - 3  # a character: 0,55 em on average
    number, keys, numbered = 0, [], []
    for dataset, n_columns in zip(datasets, columns, strict=True):
        rows = summary[summary["dataset"] == dataset]
        numbers = [str(number + i + 1) for i in range(len(rows))]
        number += len(rows)
        numbered.append((dataset, rows, numbers))
        entries = [_key_entry(n, model_name(name), key_chars)
                   for n, name in zip(numbers, rows["experiment"], strict=True)]  # fmt: skip
        per_column = -(-len(entries) // n_columns)  # rounded up
        keys += ["\n".join(entries[i * per_column : (i + 1) * per_column]) for i in range(n_columns)]
    key_lines = max(entries.count("\n") + 1 for entries in keys)
    key_height = (key_lines * 1.2 * KEY_FONT + 6) / 72 if key else 0
    fig = Figure(figsize=(PAGE_WIDTH, PANEL_HEIGHT + key_height), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.02)
    top = fig
    if key:
        top, bottom = fig.subfigures(2, 1, height_ratios=[PANEL_HEIGHT, key_height])
        key_axes = bottom.subplots(1, sum(columns), squeeze=False, gridspec_kw={
            "width_ratios": [width / n for width, n in zip(widths, columns, strict=True) for _ in range(n)]})[0]
        for key_ax, entries in zip(key_axes, keys, strict=True):
            key_ax.axis("off")
            key_ax.text(0, 1, entries, va="top", fontsize=KEY_FONT, transform=key_ax.transAxes)
    axes = top.subplots(1, len(datasets), squeeze=False, gridspec_kw={"width_ratios": widths})[0]
    scale = DISC_AREA / summary[size].max() if size else None  # square points per unit of `size`
    areas = summary[size] * scale if size else pd.Series(SAME_DISC, summary.index)
    xs = _apart(summary[x])
    spread = y.replace("_accuracy", "_sd")
    for ax, (dataset, rows, _), color in zip(axes, numbered, PALETTE, strict=False):
        ax.scatter(xs[rows.index], rows[y], s=areas[rows.index], alpha=0.35, color=color,
                   edgecolor=color, linewidth=0.8)  # fmt: skip
        if spread in rows:
            ax.errorbar(xs[rows.index], rows[y], yerr=rows[spread], fmt="none", ecolor=color, elinewidth=0.8,
                        capsize=2)  # fmt: skip
        ax.set(xscale="log", title=DISPLAY_NAMES[dataset])
        ax.margins(x=0.2, y=0.12)
        _french_ticks(ax, percent_y=True)
    axes[0].set(ylabel={"test_accuracy": "exactitude (test)", "val_accuracy": "exactitude (validation)"}[y])
    top.supxlabel(labels.get(x, x), fontsize=matplotlib.rcParams["axes.labelsize"])
    legend = None
    if size:
        levels = _round_levels(summary[size].max())
        handles = [axes[-1].scatter([], [], s=level * scale, color="grey", alpha=0.5) for level in levels]
        texts = [f"{level / 60:.0f} min" if size == "seconds" else num(level) for level in levels]
        legend = axes[-1].legend(handles, texts, title=labels.get(size, size), loc="lower right", ncols=len(levels),
                                 handletextpad=0.3, columnspacing=0.8)  # fmt: skip
    _draw(fig)  # the axes' final positions (keys and legend in place), to place the numbers in printed points
    to_points = fig_points(fig).inverted()
    for ax, (_, rows, numbers) in zip(axes, numbered, strict=False):
        avoid = ([tuple(to_points.transform_bbox(legend.get_window_extent()).extents)]
                 if legend and ax is axes[-1] else [])  # fmt: skip
        _label_points(ax, xs[rows.index].to_numpy(), rows[y].to_numpy(), numbers,
                      radii=np.sqrt(areas[rows.index].to_numpy()) / 2, avoid=avoid)  # fmt: skip
    return fig


def _apart(values: pd.Series, step: float = 1.04) -> pd.Series:
    """`values` (on a log axis), those that are equal spread around their value by factors of `step`."""
    spread = values.astype(float).copy()
    for _, same in values.groupby(values):
        offsets = np.arange(len(same)) - (len(same) - 1) / 2
        spread[same.index] = same.to_numpy() * step**offsets
    return spread


def _key_entry(number: str, name: str, width: int) -> str:
    """A model's line in the key, wrapped at `width` characters. In the body's font, figure spaces, as wide as a
    digit, align the numbers and the wrapped lines; a number stays with the word before it (« dense 128 »)."""
    name = re.sub(r" (?=[/0-9])|(?<=/) ", NBSP, name)
    return textwrap.fill(f"{number.rjust(2, FIGURE_SPACE)} {name}", width, subsequent_indent=2 * FIGURE_SPACE + " ")


PANEL_HEIGHT = 1.9  # inches: the comparison's panels, their titles and the axis label below them
KEY_FONT = SMALLEST_FONT + 1  # points: the key below the comparison's panels, read at body width
DISC_AREA = 130  # square points: the largest disc of a comparison (about 13 points across)
SAME_DISC = 30  # square points: a comparison's disc when all are alike (about 6 points across)
FIGURE_SPACE = "\u2007"  # a space as wide as a digit


def _label_points(ax, xs, ys, texts, radii=None, avoid=()):
    """Write each text beside its point's disc (`radii`, in printed points), at the first place where it covers no
    earlier text, no other disc and nothing of `avoid` (boxes in printed points), inside the axes; nearest first:
    right, left, above, below, then farther off, with a line to the disc."""
    font = SMALLEST_FONT + 1
    radii = np.zeros(len(xs)) if radii is None else np.asarray(radii, dtype=float)
    to_points = ax.transData + fig_points(ax.figure).inverted()
    points = [tuple(to_points.transform((x, y))) for x, y in zip(xs, ys, strict=True)]
    frame = fig_points(ax.figure).inverted().transform_bbox(ax.get_window_extent()).extents
    discs = [(px - r, py - r, px + r, py + r) for (px, py), r in zip(points, radii, strict=True)]
    placed = []
    for i, ((px, py), text) in enumerate(zip(points, texts, strict=True)):
        half_width, half_height = 0.35 * font * len(text) + 0.5, 0.5 * font
        # a number covers neither an earlier number nor another model's disc (its own is not in the way)
        others = [disc for j, disc in enumerate(discs) if j != i and points[j] != (px, py)] + list(avoid)
        candidates = []
        for ring in range(4):
            gap = radii[i] + 1.5 + ring * font
            candidates += [(gap + half_width, 0), (-gap - half_width, 0), (0, gap + half_height),
                           (0, -gap - half_height), (gap + half_width, gap + half_height),
                           (-gap - half_width, gap + half_height), (gap + half_width, -gap - half_height),
                           (-gap - half_width, -gap - half_height)]  # fmt: skip
        boxes = [(px + dx - half_width, py + dy - half_height, px + dx + half_width, py + dy + half_height)
                 for dx, dy in candidates]  # fmt: skip
        free = [k for k, box in enumerate(boxes) if frame[0] <= box[0] and box[2] <= frame[2] and frame[1] <= box[1]
                and box[3] <= frame[3] and not any(_overlap(box, other) for other in placed + others)]  # fmt: skip
        k = free[0] if free else 0  # nowhere free: beside its disc, on the right
        (dx, dy), box = candidates[k], boxes[k]
        placed.append(box)
        arrow = {"arrowstyle": "-", "lw": 0.5, "color": "0.4", "shrinkA": 1, "shrinkB": radii[i]} if k >= 8 else None
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

