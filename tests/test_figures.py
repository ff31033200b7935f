"""The book's figures at their printed size: they fit the page, their text is legible, no label overlaps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox

import lab
from lab import analysis, figures, report


@pytest.fixture(scope="module")
def runs():
    return lab.results()


def _book_figures(runs):
    """One figure of each kind, drawn from the stored runs as the chapters draw them."""
    fashion = [lab.result("fashion-base", seed) for seed in (0, 1, 2)]
    return {
        "learning_curves": figures.learning_curves({"sans dropout": fashion, "avec dropout": runs["fashion-dropout"]}),
        "comparison": figures.comparison(analysis.summary(runs.values()), x="seconds", size="params"),
    }


def _texts(fig) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_every_figure_fits_the_page_with_legible_text(runs):
    for name, fig in _book_figures(runs).items():
        width, _ = fig.get_size_inches()
        assert width <= figures.PAGE_WIDTH, f"{name} is {width} in wide: it would be shrunk on the page"
        small = {t.get_text(): t.get_fontsize() for t in _texts(fig) if t.get_fontsize() < figures.SMALLEST_FONT}
        assert small == {}, f"{name}: text smaller than {figures.SMALLEST_FONT} pt at printed size"


def test_no_two_model_labels_of_the_comparison_overlap(runs):
    fig = figures.comparison(analysis.summary(runs.values()), x="seconds", size="params")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    labels = [t for t in fig.findobj(Annotation) if t.get_text().strip()]
    assert len(labels) == len(runs)
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels]
    overlapping = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]
    assert overlapping == []
    # nor does a number cover another model's disc (a disc it shares, two models at one point, is its own)
    discs = []
    for ax in fig.axes:
        for points in (c for c in ax.collections if isinstance(c, PathCollection)):  # the discs, not error bars
            centres = points.get_offsets()  # the size legend's markers have none
            radii = np.broadcast_to(np.sqrt(points.get_sizes()) / 2 * fig.dpi / 72, len(centres))
            discs += [(ax, xy, r) for xy, r in zip(centres, radii, strict=True)]
    covered = []
    for label in labels:
        box = label.get_window_extent(renderer)
        own = label.axes.transData.transform(label.xy)
        for ax, xy, r in discs:
            centre = ax.transData.transform(xy)
            if ax is label.axes and not np.allclose(centre, own) and box.overlaps(
                    Bbox.from_extents(*(centre - 0.9 * r), *(centre + 0.9 * r))):
                covered.append(label.get_text())
    assert covered == []


def test_the_comparison_without_its_key_numbers_the_models_in_their_row_order(runs):
    cifar = analysis.summary([run for name, run in runs.items() if run.config["dataset"] == "cifar10"])
    keyed, bare = (figures.comparison(cifar, x="seconds", size="params", key=key) for key in (True, False))
    keyed_texts, bare_texts = ({t.get_text() for t in _texts(fig)} for fig in (keyed, bare))
    numbers = {str(n) for n in range(1, len(cifar) + 1)}
    assert numbers <= bare_texts and not any(report.model_name(name) in text for text in bare_texts
                                              for name in cifar["experiment"])  # fmt: skip
    assert any(report.model_name(cifar["experiment"].iloc[0])[:10] in text for text in keyed_texts)
    assert bare.get_size_inches()[1] == figures.PANEL_HEIGHT < keyed.get_size_inches()[1]


def test_the_comparison_plots_the_accuracy_it_is_asked_for(runs):
    cifar = analysis.summary([run for name, run in runs.items() if run.config["dataset"] == "cifar10"])
    for y, label in (("test_accuracy", "exactitude (test)"), ("val_accuracy", "exactitude (validation)")):
        ax = figures.comparison(cifar, x="seconds", size="params", key=False, y=y).axes[0]
        np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], cifar[y])
        assert ax.get_ylabel() == label


def test_learning_curves_mark_the_epoch_where_the_shorter_runs_ended(runs):
    def dotted(fig):
        return [[line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"] for ax in fig.axes]

    assert dotted(figures.learning_curves({"a": runs["fashion-base"]}, marked_epoch=10)) == [[10], [10]]
    assert dotted(figures.learning_curves({"a": runs["fashion-base"]})) == [[], []]


def test_learning_curves_draw_the_first_model_over_the_later_ones(runs):
    fig = figures.learning_curves({"a": runs["fashion-base"], "b": runs["fashion-dropout"]})
    for ax in fig.axes[:2]:
        order = {line.get_label(): line.get_zorder() for line in ax.get_lines() if line.get_linestyle() != ":"}
        assert all(order[f"a ({curve})"] > order[f"b ({curve})"] for curve in ("apprentissage", "validation"))


def test_the_comparison_shows_the_seeds_spread_and_sets_models_of_equal_cost_apart():
    import pandas as pd

    table = pd.DataFrame({"experiment": ["a", "b", "c"], "dataset": "cifar10", "compute": [1e12, 1e12, 4e12],
                          "val_accuracy": [0.60, 0.61, 0.70], "val_sd": [0.01, 0.02, 0.03]})  # fmt: skip
    ax = figures.comparison(table, x="compute", size=None, key=False, y="val_accuracy").axes[0]
    xs = ax.collections[0].get_offsets()[:, 0]
    assert xs[0] < 1 < xs[1] and xs[1] / xs[0] == pytest.approx(1.04) and xs[2] == 4  # in units of 10¹²
    assert len(set(ax.collections[0].get_sizes())) == 1  # every disc alike: the sizes are in the table
    bars = [c for c in ax.collections if isinstance(c, LineCollection)]
    spans = sorted(np.ptp(segment[:, 1]) for c in bars for segment in c.get_segments())
    np.testing.assert_allclose(spans, [0.02, 0.04, 0.06])  # ± one standard deviation


def test_label_placement_moves_a_label_that_would_cover_another():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 3))
    ax = fig.subplots()
    ax.set(xlim=(0, 1), ylim=(0, 1))
    figures._draw(fig)
    figures._label_points(ax, np.array([0.5, 0.5, 0.5]), np.array([0.5, 0.5, 0.5]), ["1", "2", "3"], radii=[5] * 3)
    offsets = [t.xyann for t in fig.findobj(Annotation)]
    assert len(set(offsets)) == 3  # each number beside the shared disc, none on another
    assert all(abs(dx) > 5 or abs(dy) > 5 for dx, dy in offsets)  # off the disc
    fig = Figure(figsize=(3, 3))
    ax = fig.subplots()
    ax.set(xlim=(0, 1), ylim=(0, 1))
    figures._draw(fig)
    figures._label_points(ax, np.array([0.2, 0.8]), np.array([0.2, 0.8]), ["1", "2"], radii=[5, 5])
    offsets = [t.xyann for t in fig.findobj(Annotation)]
    assert offsets[0] == offsets[1] and offsets[0][1] == 0 and offsets[0][0] > 5  # far apart: each right of its disc


def test_no_figure_shows_an_english_decimal_point(runs):
    """Tick labels and annotations write 0,81 as French does, not 0.81."""
    import re

    for name, fig in _book_figures(runs).items():
        FigureCanvasAgg(fig).draw()  # tick labels are made at drawing time
        english = [t.get_text() for t in _texts(fig) if re.search(r"\d\.\d", t.get_text())]
        assert english == [], f"{name} shows {english[:5]}"


def test_the_axes_of_the_learning_curves_are_bounded_to_the_epochs_after_the_first(tmp_path):
    """A first-epoch loss several times the later ones would flatten the rise of the validation loss."""
    from tests.test_analysis import make_run

    history = [{"loss": 6.0, "accuracy": 0.2, "val_loss": 3.0, "val_accuracy": 0.3, "seconds": 1.0},
               {"loss": 0.65, "accuracy": 0.6, "val_loss": 0.8, "val_accuracy": 0.6, "seconds": 1.0},
               {"loss": 0.7, "accuracy": 0.7, "val_loss": 1.0, "val_accuracy": 0.6, "seconds": 1.0}]  # fmt: skip
    fig = figures.learning_curves({"a": make_run(tmp_path, history=history)})
    loss, accuracy = fig.axes[:2]
    low, high = loss.get_ylim()
    assert 0.6 < low < 0.65 and 1.0 < high < 1.1  # epochs 2 and 3: 0.65 to 1.0, and a margin
    assert 0.55 < accuracy.get_ylim()[0] < 0.6  # the accuracy axis too: epochs 2 and 3 go from 0.6 to 0.7
    # each panel says how far the first epoch went
    assert [text.get_text() for text in loss.texts] == ["époque 1 hors cadre : jusqu'à 6,0 ↑"]
    assert [text.get_text() for text in accuracy.texts] == ["époque 1 hors cadre : dès 20\u00a0% ↓"]
    # accuracies in percent, as the text gives them; losses as they are
    ticks = [accuracy.yaxis.get_major_formatter()(value, 0) for value in (0.6, 0.65)]
    assert ticks == ["60\u00a0%", "65\u00a0%"] and loss.yaxis.get_major_formatter()(0.8, 0) == "0,8"
    # on a white ground above the curves, which pass under it
    notes = [*loss.texts, *accuracy.texts]
    assert all(note.get_bbox_patch().get_facecolor()[:3] == (1.0, 1.0, 1.0) for note in notes)
    assert all(note.get_zorder() > max(line.get_zorder() for line in [*loss.lines, *accuracy.lines]) for note in notes)


def test_no_note_when_the_first_epoch_stays_in_the_frame(tmp_path):
    from tests.test_analysis import make_run

    history = [{"loss": 0.85, "accuracy": 0.5, "val_loss": 0.88, "val_accuracy": 0.45, "seconds": 1.0},
               {"loss": 0.8, "accuracy": 0.6, "val_loss": 0.9, "val_accuracy": 0.55, "seconds": 1.0}]  # fmt: skip
    fig = figures.learning_curves({"a": make_run(tmp_path, history=history)})
    assert fig.axes[0].get_ylim()[1] > 0.88 and not fig.axes[0].texts
