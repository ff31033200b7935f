"""Helpers for the report's chapters: French number formatting and Markdown tables.

Numbers quoted in the prose go through these functions, so that the book writes
`89,3 %` and `244 298` as French typography wants, from the stored values.

Every formatter returns a `MarkdownText`: Quarto writes an inline value's `text/markdown`
representation as Markdown, but a plain `str`'s `repr()` with its escapes ("60\\xa0000")
and with its Markdown punctuation backslash-escaped (see tests/quarto_book.py).

Imports from lab: analysis, data, experiments, params, stats (none of them imports this one).
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd

from lab import analysis, experiments, params, stats
from lab.data import DISPLAY_NAMES, SOURCE_NAMES_FR

NBSP = "\u00a0"
# The splits, as the tables name them.
SPLIT_NAMES = {"train": "apprentissage", "val": "validation", "test": "test"}


class MarkdownText(str):
    """A string that Quarto (and Jupyter) display as Markdown, not as its `repr()`."""

    def _repr_markdown_(self) -> str:
        return str(self)


# How the stored runs ordered their training images, per training procedure (`lab.store.PROCEDURES`).
IMAGE_ORDERS = {1: "le même à chaque époque (celui que Keras tire de la graine)",
                2: "tiré à chaque époque de la graine et du numéro de l'époque"}  # fmt: skip


def image_order(procedure: int) -> MarkdownText:
    """The order of the training images under `procedure`, as a French phrase ("l'ordre … est <phrase>")."""
    return md(IMAGE_ORDERS[procedure])


def md(text) -> MarkdownText:
    """Text to be written as Markdown where an inline expression shows it."""
    return MarkdownText(text)


def as_markdown(formatter):
    """Decorate a function returning text so that it returns `MarkdownText`."""
    @functools.wraps(formatter)
    def wrapper(*args, **kwargs) -> MarkdownText:
        return MarkdownText(formatter(*args, **kwargs))

    return wrapper


@as_markdown
def num(value) -> str:
    """An integer with a non-breaking space between thousands: 244 298."""
    return f"{int(round(float(value))):,}".replace(",", NBSP)


@as_markdown
def dec(value: float, digits: int = 2) -> str:
    """A decimal number with a decimal comma: 0,25."""
    return f"{value:.{digits}f}".replace(".", ",")


@as_markdown
def pct(value: float, digits: int = 1) -> str:
    """A proportion as a French percentage: 0.8934 -> 89,3 %."""
    return f"{dec(100 * value, digits)}{NBSP}%"


@as_markdown
def pts(value: float, digits: int = 1, signed: bool = True, unit: str | None = None) -> str:
    """A difference of proportions in percentage points, signed: +2,4 points, −0,6 point (or `unit`)."""
    shown = round(abs(100 * value), digits)
    sign = ("+" if value >= 0 else "−") if signed and shown else ""  # « 0,0 point », never « −0,0 »
    if unit is None:
        unit = "points" if shown >= 2 else "point"  # French: 1,5 point, 2 points
    return f"{sign}{dec(abs(100 * value), digits)}{NBSP}{unit}"


@as_markdown
def diff(comparison) -> str:
    """A comparison of two models, compact: +1,2 point (marge 0,6), the margin of `lab.stats` (one unit in the
    whole book: « point », never « pt »; « ± » is kept for the seeds' standard deviation). Where the gain and the
    margin would read alike (« +2,6 points (marge 2,6) »), both take a second decimal, which shows the verdict."""
    digits = 1
    if dec(abs(100 * comparison.gain), 1) == dec(100 * comparison.margin, 1):
        digits = 2
    return f"{pts(comparison.gain, digits)} (marge{NBSP}{dec(100 * comparison.margin, digits)})"


def at_epochs(epochs) -> MarkdownText:
    """Where the seeds reached something: « à l'époque 4 », « aux époques 3 et 4 », or from three epochs on their range,
    « aux époques 4 à 6 » (a list of three epochs for five seeds read as one epoch per seed: reading 24)."""
    epochs = sorted(set(epochs))
    if len(epochs) == 1:
        return md(f"à l'époque {epochs[0]}")
    joined = "et" if len(epochs) == 2 else "à"
    return md(f"aux époques {epochs[0]} {joined} {epochs[-1]}")


def gain_range(gains) -> MarkdownText:
    """Per-seed gains, lowest to highest: « de −2,1 point à +0,4 point », or the one value they round to."""
    low, high = pts(min(gains)), pts(max(gains))
    return md(low if low == high else f"de {low} à {high}")


def seed_gains(comparison) -> MarkdownText:
    """A comparison's per-seed gains, lowest to highest (`gain_range`)."""
    return gain_range(comparison.per_seed)


# What a comparison says, after « soit +1,2 point (marge 0,6) : » (`lab.stats.compare`: result, seeds'
# directions), in the introduction's words: a difference is « établi » beyond its margin, « non établi » within it.
EFFECTS = {stats.BETTER: "gain établi", stats.WORSE: "baisse établie", stats.SAME: "non établi"}


def effect(comparison) -> MarkdownText:
    """What the comparison says, in words: a gain or a loss beyond the margin, or nothing established (the seeds'
    directions are not said: with three seeds, all go one way by chance once in four)."""
    return md(EFFECTS[comparison.result])


def _reads_zero(sd: float, digits: int) -> bool:
    """Whether a non-zero sd, in points of percentage with `digits` decimals, would read « ± 0,0 »."""
    return sd > 0 and round(100 * sd, digits) == 0


def _mean_and_spread(values, digits: int, single, unit_of) -> str:
    """`single(mean)` for one value, else "mean ± sd unit" (both in points of percentage), with one more
    digit where the sd would read « ± 0,0 »."""
    values = list(values)
    mean, sd = stats.mean_sd(values)
    if len(values) < 2:
        return single(mean)
    if _reads_zero(sd, digits):
        digits += 1
    sign, unit = unit_of(mean)
    return f"{sign}{dec(abs(100 * mean), digits)}{NBSP}±{NBSP}{dec(100 * sd, digits)}{NBSP}{unit}"


@as_markdown
def mean_pct(values, digits: int = 1) -> str:
    """The mean of proportions over seeds, with their standard deviation when there are several."""
    return _mean_and_spread(values, digits, lambda mean: pct(mean, digits), lambda mean: ("", "%"))


def mean_pcts(groups) -> list[MarkdownText]:
    """`mean_pct` of each group of values, all with the same decimals: two where one sd would read « ± 0,0 » (the cells
    of one table column or row read alike: « 10,70 ± 0,40 % » beside « 10,88 ± 0,05 % »)."""
    groups = [list(values) for values in groups]
    spreads = [stats.mean_sd(values)[1] for values in groups if len(values) > 1]
    digits = 2 if any(_reads_zero(sd, 1) for sd in spreads) else 1
    return [mean_pct(values, digits) for values in groups]


def test_accuracy(runs) -> MarkdownText:
    """The test accuracy of a model's seeds, mean ± sd: « 89,3 ± 0,2 % »."""
    return mean_pct([run.accuracy("test") for run in runs])


@as_markdown
def pct_range(values, digits: int = 0) -> str:
    """The lowest and highest of proportions over seeds, « 42 à 45 % » (« 42 % » when they round alike): the
    seeds' spread as it is, where a mean ± sd of three values would hide which seed lies where."""
    low, high = (dec(100 * value, digits) for value in (min(values), max(values)))
    return f"{low}{NBSP}%" if low == high else f"{low} à {high}{NBSP}%"


@as_markdown
def mean_pts(values, digits: int = 1) -> str:
    """The mean of differences of proportions over seeds, in points, with their sd when there are several."""

    def unit_of(mean):
        plural = round(abs(100 * mean), digits) >= 2  # French: 1,5 point, 2 points
        return ("+" if mean >= 0 else "−"), ("points" if plural else "point")

    return _mean_and_spread(values, digits, lambda mean: pts(mean, digits), unit_of)


@as_markdown
def enumeration(items) -> str:
    """A French enumeration without quotes: a, b et c."""
    items = [str(item) for item in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " et " + items[-1]


@as_markdown
def seeds_text(n: int) -> str:
    """How many seeds a figure rests on, in French: « la seule graine 0 » or « 3 graines »."""
    return f"la seule graine{NBSP}0" if n == 1 else f"{n}{NBSP}graines"


@as_markdown
def duration(seconds: float) -> str:
    """A duration in words: 42 s, 3 min 12 s, 1 h 05 min, 1 h (a whole number of hours)."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}{NBSP}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}{NBSP}min {seconds:02d}{NBSP}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}{NBSP}h" if minutes == 0 else f"{hours}{NBSP}h {minutes:02d}{NBSP}min"


@as_markdown
def names(items) -> str:
    """A French enumeration: « a », « b » et « c »."""
    quoted = [f"«{NBSP}{item}{NBSP}»" for item in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " et " + quoted[-1]


def frequent_errors_per_seed(runs, n: int = 3) -> MarkdownText:
    """The `n` most frequent confusions on the test set (`lab.analysis.frequent_errors`, seeds pooled), each with
    its count of images per seed: « Chien → Chat » (176), « Chat → Chien » (170) et « Oiseau → Biche » (143)."""
    runs = stats.as_runs(runs)
    return md(enumeration(f"{names([f'{r.true_name} → {r.predicted_name}'])} ({num(r.count / len(runs))})"
                          for r in analysis.frequent_errors(runs, n).itertuples()))


def table(frame: pd.DataFrame, index: bool = False, **formats):
    """A DataFrame as a Markdown table (rendered by Quarto in HTML and PDF alike).

    `formats` maps a column to a function that formats its values, e.g. `accuracy=pct`.
    """
    from IPython.display import Markdown

    frame = frame.copy()
    for column, formatter in formats.items():
        frame[column] = [formatter(value) if pd.notna(value) else "" for value in frame[column]]
    frame = frame.astype(object).where(frame.notna(), "")
    frame = frame.map(_not_a_list)
    align = ["right" if _numeric_column(frame[column]) else "left" for column in frame.columns]
    align = (["left"] if index else []) + align
    return Markdown(frame.to_markdown(index=index, disable_numparse=True, colalign=align))


# A number as the tables write it: « 2 768 », « −0,4 », « 56,6 ± 1,4 % », « 3 min 12 s »
_NUMBER = re.compile(r"[+−-]?\d[\d\s,±%+−-]*")
_UNITS = re.compile(r"\b(min|s|h)\b")


def _numeric_column(cells) -> bool:
    """Whether every filled cell of a column is a number (aligned right, so that units and decimals line up)."""
    filled = [str(cell).strip() for cell in cells if str(cell).strip()]
    return bool(filled) and all(_NUMBER.fullmatch(_UNITS.sub("", cell).strip()) for cell in filled)


# A cell that starts as a Markdown list item ("+ Dense(128)", "1. …") would be drawn as a list, its marker lost
_LIST_MARKER = re.compile(r"^(\d*)([-+*.)])(?=\s)")


def _not_a_list(cell):
    """The cell, its leading list marker escaped (« \\+ Dense(128) »): Markdown then shows it as written."""
    return _LIST_MARKER.sub(r"\1\\\2", cell) if isinstance(cell, str) else cell


def parameters(experiment, cost: bool = True):
    """The parameter table of an experiment, per layer and per neuron, in French (7 columns at most).

    The last column is the cost (multiply-accumulates per image), or the trainable
    parameters where some are not trained (BatchNormalization's moving statistics);
    `cost=False` leaves the cost out (the trainable column stays where it is needed).
    """
    frame = params.parameter_table(experiment)
    last = "trainable" if (frame["trainable"] != frame["params"]).any() else "macs"
    columns = ["layer", "output_shape", "weights_per_neuron", "formula", "params"]
    columns += [last] if cost or last == "trainable" else []
    return table(params.french(frame[columns]), **{params.COLUMNS[column]: num for column in columns[4:]})


def model_name(name: str) -> str:
    """The name a reader sees for an experiment: its title, never its internal id (a label is kept as given)."""
    experiment = experiments.EXPERIMENTS.get(name)
    return experiment.title if experiment is not None else name


def comparison_table(table_of_seeds: pd.DataFrame, runs_by_name: dict):
    """One row per model, numbered « (1) » as `lab.figures.comparison` numbers it without its key: its size, the
    computing cost of one training (the "compute" column of `lab.analysis.cost_table`: multiply-accumulates),
    the shortest training time over its seeds, and its accuracies after training, mean ± sd over its seeds (how many
    seeds: the book's method says it once). Seven columns, as a page holds."""
    rows = []
    for number, name in enumerate(table_of_seeds.index, start=1):
        runs = stats.as_runs(runs_by_name[name])
        rows.append({"modèle": f"({number}){NBSP}{model_name(name)}", "paramètres": table_of_seeds.loc[name, "params"],
                     "calcul (10¹²)": table_of_seeds.loc[name, "compute"] / 1e12,
                     "temps": table_of_seeds.loc[name, "seconds"],
                     **{french: mean_pct([run.accuracy(split) for run in runs]) for split, french in
                        (("train", "apprentissage"), ("val", "validation"), ("test", "test"))}})
    formats = {"paramètres": num, "calcul (10¹²)": lambda c: dec(c, 1), "temps": duration}
    return table(pd.DataFrame(rows), **formats)


def gradient_table(layers: list[str], sizes: dict, moved: dict | None = None):
    """The size of each layer's gradient (`lab.probes.gradient_sizes`), one row per layer from the input, one
    column per labelled network and moment; each a mean over the seeds (rows of the arrays `sizes` holds, one
    column per layer), in thousandths, with three significant digits (« 289 », « 7,44 », « 0,385 »).
    `moved`: columns of how far each layer's weights moved (`lab.probes.weight_movement`), with two decimals."""
    columns = {label: [_significant(1e3 * value) for value in np.asarray(per_seed).mean(axis=0)]
               for label, per_seed in sizes.items()}
    columns |= {label: [dec(value, 2) for value in np.asarray(per_seed).mean(axis=0)]
                for label, per_seed in (moved or {}).items()}
    return table(pd.DataFrame({"couche": layers, **columns}))


def _significant(value: float, digits: int = 3) -> str:
    """A positive number with `digits` significant digits and a decimal comma (whole from 10 ** (digits - 1))."""
    decimals = max(0, digits - 1 - int(np.floor(np.log10(value))))
    return num(round(value)) if decimals == 0 else dec(value, decimals)


def error_table(runs: dict):
    """One row per labelled model: its parameters and its error rates (1 − accuracy) on training (after it),
    validation and test, mean ± sd over its seeds, each column with the decimals its cells need (`mean_pcts`)."""
    seeds = {label: stats.as_runs(runs_of_label) for label, runs_of_label in runs.items()}
    columns = {f"erreur {french}": mean_pcts([[1 - run.accuracy(split) for run in runs_of_label]
                                              for runs_of_label in seeds.values()])
               for split, french in SPLIT_NAMES.items()}  # fmt: skip
    frame = pd.DataFrame({"modèle": list(seeds), "paramètres": [num(runs_of_label[0]["params_total"])
                                                                 for runs_of_label in seeds.values()], **columns})
    return table(frame)


def class_table(runs, f1: bool = False):
    """Per-class recall and precision (and F1) on the test set (mean ± sd over seeds), worst recall first."""
    metrics = analysis.class_metrics(runs).sort_values("recall")
    several = int(metrics["seeds"].iloc[0]) > 1

    def show(mean, sd):
        return f"{dec(100 * mean, 1)}{NBSP}±{NBSP}{dec(100 * sd, 1)}" if several else dec(100 * mean, 1)

    frame = pd.DataFrame({
        "classe": metrics.index,
        "rappel (%)": [show(m, s) for m, s in zip(metrics["recall"], metrics["recall_sd"], strict=True)],
        "précision (%)": [show(m, s) for m, s in zip(metrics["precision"], metrics["precision_sd"], strict=True)],
        "images prédites": [num(n) for n in metrics["predicted"]],
    })  # fmt: skip
    if f1:
        frame.insert(3, "F1 (%)", [show(m, s) for m, s in zip(metrics["f1"], metrics["f1_sd"], strict=True)])
    return table(frame)


def frequent_errors(run, n: int = 3):
    """The `n` most frequent (true → predicted) confusions of a run on the test set."""
    errors = analysis.frequent_errors(run, n)
    frame = pd.DataFrame({"vraie classe": errors["true_name"], "classe prédite": errors["predicted_name"],
                          "images": errors["count"], "part des erreurs": errors["share_of_errors"]})  # fmt: skip
    return table(frame, **{"part des erreurs": pct})


def provenance_table(runs):
    """Where each dataset's arrays came from (`lab.analysis.provenance`), in French: source, genuine or not,
    the mean pixel deviation where measured, and the start of the fingerprint."""
    frame = analysis.provenance(runs)
    return table(pd.DataFrame({
        "jeu": [DISPLAY_NAMES[dataset] for dataset in frame["dataset"]],
        "source": [SOURCE_NAMES_FR.get(source, source) for source in frame["source"]],
        "authentique": ["oui" if genuine else "non" for genuine in frame["genuine"]],
        "écart moyen des pixels": ["" if deviation is None or pd.isna(deviation) else f"{dec(deviation, 2)} / 255"
                                   for deviation in frame["pixel_deviation"]],
        "empreinte SHA-256": [sha256[:16] + "…" for sha256 in frame["sha256"]],
    }))  # fmt: skip


# The chapter "Aller plus loin" (`lab.beyond`): its steps, the variants tried, and the published results

def step_name(name: str) -> str:
    """A step of a chain as a table shows it: its title without the « + » that says it adds to the row above
    (a cell starting with "+ " is a list item in Typst)."""
    return model_name(name).removeprefix("+ ")


def steps_table(steps):
    """One row per step of a chain (`lab.beyond.steps`): validation and test accuracies (mean ± standard deviation
    over the seeds), and the validation comparison with the step above (what decides): gain and margin, and whether
    it passes the margin."""
    rows = []
    val_cells, test_cells = (mean_pcts(getattr(step, split) for step in steps) for split in ("val_per_seed",
                                                                                           "test_per_seed"))
    for step, val_cell, test_cell in zip(steps, val_cells, test_cells, strict=True):
        before = step.on_validation  # None for the first step: nothing above it
        rows.append({"étape": step_name(step.name), "validation": val_cell,
                     "test": test_cell, "écart de validation": diff(before) if before else "",
                     "hors marge": BEYOND_MARGIN[before.result] if before else ""})  # fmt: skip
    return table(pd.DataFrame(rows))


# Whether a comparison passes the margin, in a table's cell (`steps_table`)
BEYOND_MARGIN = {stats.BETTER: "gain", stats.WORSE: "baisse", stats.SAME: "non"}


def _where_it_changes(values) -> list:
    """Each value where it differs from the one above, else "" (a column written where it changes)."""
    return [value if i == 0 or value != values[i - 1] else "" for i, value in enumerate(values)]


def tried_table(tried: pd.DataFrame):
    """One row per variant tried on a step (`lab.beyond.tried`): its data set (where it changes), the seeds compared,
    its validation comparison with that step (what decides), its test comparison (read after), and whether the rule
    keeps it."""
    datasets = [DISPLAY_NAMES[experiments.get(variant).dataset] for variant in tried.index]
    rows = [{"jeu": dataset, "variante": step_name(variant), "graines": num(row["on_validation"].seeds),
             "écart de validation": diff(row["on_validation"]),
             "écart de test (lu après)": diff(row["on_test"]), "retenue": "oui" if row["kept"] else "non"}
            for dataset, (variant, row) in zip(_where_it_changes(datasets), tried.iterrows(), strict=True)]  # fmt: skip
    return table(pd.DataFrame(rows))


def published_table(rows):
    """Published results and ours (`lab.references.Reference`s), one row each, in the order given: the data set,
    the model, its test accuracy, the setting it was obtained in and where the figure comes from. The data set and
    the source are written where they change, not repeated on every row."""

    datasets, sources = [DISPLAY_NAMES[row.dataset] for row in rows], [row.source for row in rows]
    frame = pd.DataFrame({"jeu": _where_it_changes(datasets), "modèle": [row.model for row in rows],
                          "test": [pct(row.accuracy) for row in rows], "cadre": [row.setting for row in rows],
                          "source": _where_it_changes(sources)})  # fmt: skip
    return table(frame)
