"""The code the book shows where `lab` would do the work computes what `lab` computes.

A chapter shows the plain Keras, NumPy and Matplotlib lines a teacher expects (the class
lists, the reshape and the cast, the confusion matrix, the image grid); the figures and
the numbers of the other chapters come from `lab`. Each shown cell is run here on the
real data and compared with `lab`'s result, so the two can never drift apart.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from lab import data
from tests.quarto_book import ROOT, to_notebook

matplotlib.use("Agg")

APPENDIX = ROOT / "report" / "annexe-reproductibilite.qmd"
CHAPTER_1 = ROOT / "report" / "01-fashion-donnees.qmd"
CHAPTER_2 = ROOT / "report" / "02-fashion-premier-modele.qmd"
CHAPTER_3 = ROOT / "report" / "03-cifar-donnees.qmd"
CHAPTER_4 = ROOT / "report" / "04-cifar-amelioration.qmd"
CHAPTER_5 = ROOT / "report" / "05-cifar-modifications.qmd"


def shown_cell(chapter, marker: str) -> str:
    """The source of the one code cell of `chapter` that contains `marker`."""
    cells = [cell.source for cell in to_notebook(chapter).cells if cell.cell_type == "code" and marker in cell.source]
    assert len(cells) == 1, f"{chapter.name}: {len(cells)} code cells contain {marker!r}, expected one"
    return cells[0]


def run(source: str, **names) -> dict:
    namespace = dict(names)
    exec(compile(source, "<chapter cell>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("a, b", [("cifar-raw", "cifar-norm"), ("cifar-conv4", "cifar-conv4-same")])
def test_the_margin_the_appendix_shows_is_lab_s(a, b):
    """The appendix's NumPy margin, on each seed's correct test images, gives lab.stats.compare's gain and margin
    (the book's five seeds)."""
    import lab
    from lab import stats

    runs = {name: lab.seeds(name) for name in (a, b)}
    compared = stats.compare(runs[a], runs[b])
    correct = {name: [run.y_pred == run.y_true for run in runs[name]] for name in (a, b)}
    gain, margin = run(shown_cell(APPENDIX, "def ecart_et_marge"))["ecart_et_marge"](correct[a], correct[b])
    assert gain == pytest.approx(compared.gain) and margin == pytest.approx(compared.margin)
    assert compared.seeds == len(runs[a]) and compared.result != stats.SAME  # both established: a margin that decides


def test_the_training_loop_question_2_2_shows_is_lab_train_s():
    """Question 2.2's loop (every model's training code) draws each epoch's order as `lab.train.batch_order` does,
    and calls `fit` with the arguments `lab.train` passes (one epoch at a time, Keras' own shuffle off), after the
    seed is set as `lab.train` sets it."""
    import inspect

    import lab
    from lab import keras_code, train

    block = keras_code.show(lab.get("fashion-base"), training=True).data
    order_line = next(line.strip() for line in block.splitlines() if line.strip().startswith("order ="))
    for seed, epoch in ((0, 0), (3, 7)):
        drawn = run(order_line, np=np, seed=seed, epoch=epoch, x_fit=np.zeros(50))["order"]
        np.testing.assert_array_equal(drawn, train.batch_order(seed, epoch, 50))
    trained = inspect.getsource(train._train)
    for argument in ("initial_epoch=epoch", "epochs=epoch + 1", "shuffle=False", "validation_data=(x_val, y_val)"):
        assert argument in block and argument in trained, argument
    assert block.index("keras.utils.set_random_seed(seed)") < block.index("model = keras.Sequential")
    assert "keras.utils.set_random_seed" in inspect.getsource(train.set_seed)
    assert "epochs, batch_size = 20, 64" in block and "for epoch in range(epochs):" in block


def test_the_fashion_class_list_is_lab_s():
    assert run(shown_cell(CHAPTER_1, "class_names = ["))["class_names"] == data.FASHION_CLASS_NAMES


@pytest.fixture(scope="module")
def fashion_arrays(fashion):
    (x_train, y_train), (x_test, y_test) = fashion
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def test_the_fashion_loading_cell_is_the_keras_call_and_gives_lab_s_arrays(fashion_arrays, capsys):
    source = shown_cell(CHAPTER_1, "load_data()")
    assert "fashion_mnist.load_data()" in source and "lab" not in source  # the genuine Keras call, nothing else
    shown = run(source)  # the fixture has put the genuine files in the Keras cache, as the hidden cell does
    for name, expected in fashion_arrays.items():
        assert shown[name].dtype == expected.dtype and np.array_equal(shown[name], expected), name


def test_the_fashion_reshape_and_split_are_lab_s(fashion_arrays, capsys):
    shown = run(shown_cell(CHAPTER_1, "x_train_cnn ="), **fashion_arrays)
    x_train = data.prepare_images(fashion_arrays["x_train"], normalize=False)
    (x_fit, y_fit), (x_val, y_val) = data.split_validation(x_train, fashion_arrays["y_train"])
    for name, expected in {"x_fit": x_fit, "y_fit": y_fit, "x_val": x_val, "y_val": y_val}.items():
        assert shown[name].dtype == expected.dtype and np.array_equal(shown[name], expected), name
    assert np.array_equal(shown["x_test_cnn"], data.prepare_images(fashion_arrays["x_test"], normalize=False))
    # what lab trains and evaluates the Fashion models on (chapter 2 evaluates them on these arrays)
    import lab

    (x_fit, y_fit), (x_val, y_val), (x_test, y_test), _ = data.prepared_data(lab.get("fashion-base"))
    trained = {"x_fit": x_fit, "y_fit": y_fit, "x_val": x_val, "y_val": y_val, "x_test_cnn": x_test}
    for name, expected in trained.items():
        assert shown[name].shape == expected.shape and np.array_equal(shown[name], expected), name


def test_the_first_model_is_shown_with_its_keras_imports():
    import lab
    from lab import keras_code

    assert "imports=True" in shown_cell(CHAPTER_2, "keras_code.show(")
    experiment = lab.get("fashion-base")
    code = keras_code.show(experiment, training=True, imports=True).data
    assert code.startswith("```python\n" + keras_code.KERAS_IMPORTS) and keras_code.model_code(experiment) in code
    # the whole cell runs with its imports alone, given question 1.6's arrays and a seed (here, a few images)
    images = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype("float32")
    labels = np.arange(8) % 10
    shown = run(code.removeprefix("```python\n").removesuffix("\n```"), seed=0, x_fit=images, y_fit=labels,
                x_val=images[:4], y_val=labels[:4])
    assert shown["model"].count_params() == lab.result("fashion-base")["params_total"]
    assert shown["epoch"] == shown["epochs"] - 1 == 19  # every epoch ran


def test_the_shown_evaluation_gives_the_stored_validation_and_test_errors():
    """Table 2.2 is made of what the shown cell computes: each seed's model, reloaded, evaluated by Keras."""
    import lab

    _, (x_val, y_val), (x_test, y_test), _ = data.prepared_data(lab.get("fashion-base"))
    shown = run(shown_cell(CHAPTER_2, "model.evaluate"), x_val=x_val, y_val=y_val, x_test_cnn=x_test, y_test=y_test)
    names = ("fashion-base", "fashion-dropout", "fashion-dropout-long")
    assert set(shown["errors"]) == {(name, run.seed) for name in names for run in lab.seeds(name)}
    for (name, seed), errors in shown["errors"].items():
        stored = lab.result(name, seed)
        np.testing.assert_allclose(errors, [1 - stored.accuracy("val"), 1 - stored.accuracy("test")], atol=1e-4,
                                   err_msg=f"{name} seed {seed}")


def test_the_shown_cifar_evaluation_gives_the_stored_test_loss_and_accuracy(capsys):
    """Question 3.7 shows the test results: each seed's raw-input model, reloaded, evaluated by Keras."""
    import re

    import lab

    _, _, (x_test, y_test), _ = data.prepared_data(lab.get("cifar-raw"))
    shown = run(shown_cell(CHAPTER_3, "model.evaluate"), x_test_cnn=x_test, y_test=y_test)
    printed = re.findall(r"graine (\d+) : perte ([\d.]+), exactitude ([\d.]+)", capsys.readouterr().out)
    assert [int(seed) for seed, _, _ in printed] == [run.seed for run in lab.seeds("cifar-raw")]
    for seed, loss, accuracy in printed:
        stored = lab.result("cifar-raw", int(seed))
        # printed rounded to 2 and 3 decimals
        assert abs(float(loss) - stored.loss("test")) <= 0.006, f"seed {seed}: loss {loss}"
        assert abs(float(accuracy) - stored.accuracy("test")) <= 0.0006, f"seed {seed}: accuracy {accuracy}"
    # the last seed's values, unrounded
    last = lab.result("cifar-raw", int(printed[-1][0]))
    np.testing.assert_allclose([shown["loss"], shown["accuracy"]], [last.loss("test"), last.accuracy("test")],
                               rtol=1e-3, atol=1e-4)


def test_the_fashion_image_grid_shows_the_first_nine_images_with_their_class(fashion_arrays):
    import matplotlib.pyplot as plt

    source = shown_cell(CHAPTER_1, "imshow")
    shown = run(source, class_names=data.FASHION_CLASS_NAMES, **fashion_arrays)
    axes = shown["axes"].flat
    try:
        for i, ax in enumerate(axes):
            assert np.array_equal(ax.images[0].get_array(), fashion_arrays["x_train"][i])
            assert ax.get_title() == f"{i} : {data.FASHION_CLASS_NAMES[fashion_arrays['y_train'][i]]}"
    finally:
        plt.close("all")


def test_the_cifar_class_list_is_lab_s():
    assert run(shown_cell(CHAPTER_3, "class_names = ["))["class_names"] == data.CIFAR10_CLASS_NAMES


def test_the_cifar_image_grid_shows_the_first_25_images_with_their_class(cifar):
    import matplotlib.pyplot as plt

    (x_train, y_train), _ = cifar
    labels = y_train.ravel()  # as the chapter has flattened them
    shown = run(shown_cell(CHAPTER_3, "imshow"), x_train=x_train, y_train=labels, class_names=data.CIFAR10_CLASS_NAMES)
    try:
        assert len(shown["axes"].flat) == 25
        for i, ax in enumerate(shown["axes"].flat):  # the index is the reading order: the title names the class
            assert np.array_equal(ax.images[0].get_array(), x_train[i])
            assert ax.get_title() == data.CIFAR10_CLASS_NAMES[y_train[i, 0]]
    finally:
        plt.close("all")


def test_the_cifar_heatmap_draws_lab_s_confusion_matrix_of_the_five_seeds_by_row():
    """The shown cell predicts with Keras (each seed's model reloaded): the matrix of the stored predictions."""
    import matplotlib.pyplot as plt

    import lab
    from lab import analysis

    runs = lab.seeds("cifar-dropout")
    _, _, (x_test, y_test), _ = data.prepared_data(lab.get("cifar-dropout"))
    shown = run(shown_cell(CHAPTER_3, "sns.heatmap"), plt=plt, lab=lab, x_test_norm=x_test, y_test=y_test,
                class_names=data.CIFAR10_CLASS_NAMES)  # lab: imported by 3.7's shown cell
    try:
        stored = np.concatenate([run.probabilities.argmax(axis=1) for run in runs])
        assert np.mean(shown["y_pred"] == stored) > 0.999  # Keras' predictions now are the stored ones
        counts = sum(analysis.confusion(run) for run in runs)
        assert len(runs) == 5 and counts.sum() == 50_000
        np.testing.assert_allclose(shown["matrix"], counts / counts.sum(axis=1, keepdims=True), atol=2e-3)
        drawn = shown["ax"].collections[0].get_array().reshape(10, 10)  # the colours: rows are true classes
        np.testing.assert_allclose(drawn, shown["matrix"])
        assert [label.get_text() for label in shown["ax"].get_yticklabels()] == data.CIFAR10_CLASS_NAMES
        texts = [text.get_text() for text in shown["ax"].texts]  # French decimal commas, no colour bar
        assert len(texts) == 100 and all("," in text and "." not in text for text in texts)
        assert texts[0] == f"{shown['matrix'][0, 0]:.2f}".replace(".", ",")
        assert len(shown["fig"].axes) == 1
    finally:
        plt.close("all")


def test_the_cifar_labels_are_flattened_as_lab_does(cifar):
    (_, y_train), (_, y_test) = cifar
    shown = run(shown_cell(CHAPTER_3, "y_train, y_test = y_train.ravel()"), y_train=y_train, y_test=y_test)
    for name, y in {"y_train": y_train, "y_test": y_test}.items():
        assert shown[name].shape == (len(y),) and np.array_equal(shown[name], data.prepare_labels(y)), name


def test_the_cifar_split_and_scaling_give_what_lab_trains_on(cifar, capsys):
    """The arrays shown at 3.7 (raw) and 3.8 (divided by 255) are those the models are trained and tested on."""
    import lab

    (x_train, y_train), (x_test, y_test) = cifar
    y_train, y_test = y_train.ravel(), y_test.ravel()  # as the chapter has flattened them
    shown = run(shown_cell(CHAPTER_3, "n_val = len(x_train_cnn)"), x_train=x_train, y_train=y_train, x_test=x_test)
    arrays = {"cifar-raw": ("x_train_cnn", "x_test_cnn"), "cifar-norm": ("x_train_norm", "x_test_norm")}
    for experiment, names in arrays.items():
        if experiment == "cifar-norm":  # 3.8 divides the arrays of 3.7 and splits them again
            shown = run(shown_cell(CHAPTER_3, "x_train_norm, x_test_norm ="), **shown)
        (x_fit, y_fit), (x_val, y_val), (x_test_lab, y_test_lab), _ = data.prepared_data(lab.get(experiment))
        assert np.array_equal(y_test, y_test_lab)
        trained = {"x_fit": x_fit, "y_fit": y_fit, "x_val": x_val, "y_val": y_val, names[1]: x_test_lab}
        for name, expected in trained.items():
            assert shown[name].shape == expected.shape and np.array_equal(shown[name], expected), (experiment, name)
            assert name.startswith("y") or shown[name].dtype == expected.dtype, (experiment, name)
        x_all = data.prepare_images(x_train, normalize=experiment == "cifar-norm")
        assert np.array_equal(shown[names[0]], x_all), (experiment, names[0])


def test_the_invalid_four_convolution_model_is_lab_s_spec_and_refused_by_keras(capsys):
    import textwrap

    import lab
    from lab import experiments, keras_code, models

    source = shown_cell(CHAPTER_4, "except ValueError as error")
    # the shown model's code, as keras_code writes it (model_code itself refuses a spec it cannot build)
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if "model = keras.Sequential([" in line)
    end = next(i for i in range(start, len(lines)) if lines[i].strip() == "])")
    invalid = lab.get("cifar-conv4-pool4").replace(layers=experiments.CONV4_POOL4_VALID)
    expected = [f"keras.Input(shape={models.INPUT_SHAPES[invalid.dataset]}),"]
    expected += [line for spec in invalid.layers for line in keras_code._layer_lines(spec, invalid)]
    body = "\n".join(keras_code.INDENT + line for line in expected)
    # the cell shows the layers up to the one Keras refuses (the seventh, as Table 4.1 says), then stops
    shown_layers = [line.split("  #")[0] for line in textwrap.dedent("\n".join(lines[start + 1 : end])).splitlines()
                    if not line.strip().startswith("#")]
    assert [line.strip() for line in shown_layers] == expected[:8]
    assert expected[7].startswith("layers.Conv2D(") and expected[8].startswith("layers.MaxPooling2D(")
    # the prose: padding="same" in its four Conv2D gives the trained model
    same = "\n".join(
        line.replace(', activation="relu"', ', padding="same", activation="relu"') if "Conv2D" in line else line
        for line in body.splitlines()
    )
    assert same.count('padding="same"') == 4
    assert keras_code.model_code(lab.get("cifar-conv4-pool4")) == f"model = keras.Sequential([\n{same}\n])"
    import keras
    from keras import layers

    # Keras refuses it: the cell (its imports in the chapter's setup, as shown at 2.2) prints the ValueError, and
    # no model is made
    shown = run(source, keras=keras, layers=layers)
    assert "model" not in shown
    assert "Computed output size would be zero or negative" in capsys.readouterr().out


def options_removed(source: str) -> str:
    """A cell's code without its `#|` options (label, caption, echo)."""
    return "\n".join(line for line in source.splitlines() if not line.startswith("#|"))


def test_chapter_4_s_test_arrays_are_those_of_chapter_3_and_of_the_trained_models(cifar):
    """The hidden setup defines `x_test_norm` and `y_test` as chapter 3 shows them (3.2, 3.8): the test set
    the models were evaluated on, which the shown predictions of 4.4 and 4.7 take."""
    import lab

    (_, _), (x_test, y_test) = cifar
    setup = to_notebook(CHAPTER_4).cells
    setup = next(cell.source for cell in setup if cell.cell_type == "code")
    assigned = [line for line in setup.splitlines() if "x_test_norm" in line.split("=")[0]]
    assert assigned == ['x_test_norm, y_test = x_test.astype("float32") / 255, y_test.ravel()']
    shown = run(assigned[0], x_test=x_test, y_test=y_test)
    _, _, (x_expected, y_expected), _ = data.prepared_data(lab.get("cifar-conv4-same-dropout"))
    assert shown["x_test_norm"].dtype == x_expected.dtype and np.array_equal(shown["x_test_norm"], x_expected)
    assert shown["y_test"].shape == y_expected.shape and np.array_equal(shown["y_test"], y_expected)


def test_figure_4_1_is_chapter_3_s_heatmap_code_with_only_the_model_changed_as_the_diff_says():
    """The hidden cell of Figure 4.1 is the shown cell of 3.11 but for the lines of the diff that 4.4 shows."""
    from lab import keras_code

    heatmap_3, heatmap_4 = (options_removed(shown_cell(chapter, "sns.heatmap")) for chapter in (CHAPTER_3, CHAPTER_4))
    assert "#| echo: false" in shown_cell(CHAPTER_4, "sns.heatmap")
    shown_diff = eval(options_removed(shown_cell(CHAPTER_4, "show_line_changes(")), {"keras_code": keras_code})
    assert shown_diff.data == keras_code.show_line_changes(heatmap_3, heatmap_4).data
    assert shown_diff.data == ('```diff\n-     model = lab.trained_model("cifar-dropout", seed)\n'
                               '+     model = lab.trained_model("cifar-conv4", seed)\n```')


def test_the_frequent_errors_and_the_gallery_s_selection_are_lab_s():
    """4.7 predicts with each seed's reloaded model: the stored predictions; its categories and gallery are lab's."""
    import types

    import matplotlib.pyplot as plt

    import lab
    from lab import analysis

    runs = lab.seeds("cifar-conv4-same-dropout")
    errors = analysis.frequent_errors(runs, 3)
    _, _, (x_test_norm, y_test), _ = data.prepared_data(lab.get("cifar-conv4-same-dropout"))
    x_test = np.zeros((len(y_test), 32, 32, 3), dtype=np.uint8)  # the images do not choose which are shown
    # one listing: the predictions, the categories, then the gallery
    shown = run(shown_cell(CHAPTER_4, "np.unravel_index("), np=np, lab=lab, plt=plt, x_test_norm=x_test_norm,
                x_test=x_test, y_test=y_test, class_names=data.CIFAR10_CLASS_NAMES)
    assert len(runs) == len(shown["probabilities"]) == 5
    for stored, predicted in zip(runs, shown["probabilities"], strict=True):  # float16 when stored
        np.testing.assert_allclose(predicted, stored.probabilities, atol=2e-3, err_msg=f"seed {stored.seed}")
    assert np.array_equal(shown["y_pred"], np.concatenate([r.y_pred for r in runs]))
    assert np.array_equal(shown["y_true"], np.concatenate([r.y_true for r in runs]))
    # the three most frequent confusions, the seeds pooled, as the prose names them
    expected = list(zip(errors["true"], errors["predicted"], strict=True))
    assert [(int(t), int(p)) for t, p in shown["categories"]] == expected
    # seed 0's errors of those categories, the most confident first, in turn: the 25 images of the grid
    try:
        seed_0 = types.SimpleNamespace(probabilities=shown["probabilities"][0], y_true=y_test,
                                       y_pred=shown["probabilities"][0].argmax(axis=1))
        assert np.array_equal(shown["shown"], analysis.error_examples(seed_0, errors, n=25))
        # each title stands clear of the image above it, so that it reads as the title of the image below
        shown["fig"].canvas.draw()
        renderer = shown["fig"].canvas.get_renderer()
        axes = shown["axes"]
        for row in range(1, axes.shape[0]):
            for above, ax in zip(axes[row - 1], axes[row], strict=True):
                image_bottom = above.images[0].get_window_extent(renderer).y0
                assert ax.title.get_window_extent(renderer).y1 < image_bottom - 5
    finally:
        plt.close("all")


def test_table_5_1_shows_the_means_of_the_shown_recalls_precisions_and_counts_of_each_seed():
    """5.3 predicts with each seed's reloaded BatchNormalization model (the stored predictions) and computes
    each class's recall, precision and predicted count: lab's, whose means over the seeds (± sd) Table 5.1 shows."""
    import lab
    from lab import analysis

    runs = lab.seeds("cifar-conv6-bn")
    # the hidden setup takes chapter 3's test arrays; the hidden table is lab's of these seeds
    setup = next(cell.source for cell in to_notebook(CHAPTER_5).cells if cell.cell_type == "code")
    assert "(x_test_norm, y_test), _ = data.prepared_data(bn_experiment)" in setup
    assert 'bn_experiment = lab.get("cifar-conv6-bn")' in setup
    assert options_removed(shown_cell(CHAPTER_5, "tbl-classes-bn")).strip() == "report.class_table(bn_seeds)"
    _, _, (x_test_norm, y_test), _ = data.prepared_data(lab.get("cifar-conv6-bn"))
    shown = run(shown_cell(CHAPTER_5, "recall_score("), np=np, lab=lab, x_test_norm=x_test_norm, y_test=y_test)
    assert [stored.seed for stored in runs] == [0, 1, 2, 3, 4]
    assert len(shown["recalls"]) == len(shown["precisions"]) == len(shown["counts"]) == 5
    assert np.mean(shown["y_pred"] == runs[-1].y_pred) > 0.999  # Keras' predictions now are the stored ones
    columns = {"recall": shown["recalls"], "precision": shown["precisions"], "predicted": shown["counts"]}
    for stored, *values in zip(runs, *columns.values(), strict=True):
        metrics = analysis.class_metrics(stored)
        for column, value in zip(columns, values, strict=True):
            np.testing.assert_allclose(value, metrics[column], atol=2 if column == "predicted" else 2e-3,
                                       err_msg=f"seed {stored.seed}: {column}")  # fmt: skip
    table = analysis.class_metrics(runs)  # what report.class_table writes, worst recall first
    for column in ("recall", "precision"):
        np.testing.assert_allclose(np.mean(columns[column], axis=0), table[column], atol=2e-3)
        np.testing.assert_allclose(np.std(columns[column], axis=0, ddof=1), table[f"{column}_sd"], atol=2e-3)
    np.testing.assert_allclose(np.mean(shown["counts"], axis=0), table["predicted"], atol=2)
