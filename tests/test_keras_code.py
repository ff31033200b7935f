"""The Keras code the book shows builds exactly the model that was trained."""

from __future__ import annotations

import numpy as np
import pytest

from lab import EXPERIMENTS, keras_code, models, train
from lab.backend import keras


def _executed(code: str):
    namespace = {"keras": keras(), "layers": keras().layers}
    try:
        exec(code, namespace)  # noqa: S102 - the code is ours, generated from a spec
    finally:
        keras().mixed_precision.set_global_policy("float32")  # the shown code may set it
    return namespace["model"]


def _signature(layer) -> tuple:
    config = {key: value for key, value in layer.get_config().items() if key not in ("name", "trainable", "dtype")}
    return type(layer).__name__, layer.dtype_policy.name, sorted(config.items(), key=lambda item: item[0])


def _with_stronger():
    from tests.test_experiments import STRONGER

    return {**EXPERIMENTS, STRONGER.name: STRONGER}


@pytest.mark.parametrize("name", list(_with_stronger()))
def test_the_shown_code_builds_the_trained_model(name):
    experiment = _with_stronger()[name]
    shown, trained = _executed(keras_code.model_code(experiment)), models.build(experiment)
    assert shown.count_params() == trained.count_params()
    assert [_signature(layer) for layer in shown.layers] == [_signature(layer) for layer in trained.layers]


def test_the_shown_code_reads_as_keras():
    code = keras_code.model_code(EXPERIMENTS["fashion-base"])
    assert code.splitlines()[:3] == [
        "model = keras.Sequential([",
        "    keras.Input(shape=(28, 28, 1)),",
        '    layers.Conv2D(16, 5, activation="relu"),',
    ]
    assert code.splitlines()[-2:] == ['    layers.Dense(10, activation="softmax"),', "])"]


def test_leaky_relu_is_a_layer_with_the_experiment_slope():
    code = keras_code.model_code(EXPERIMENTS["cifar-conv6-bn-leaky"])
    assert "layers.LeakyReLU(negative_slope=0.3)," in code and 'activation="relu"' not in code


def test_the_training_code_states_the_settings():
    code = keras_code.training_code(EXPERIMENTS["cifar-conv6-bn-leaky"])
    assert "learning_rate=0.001" in code and "epochs, batch_size = 40, 128" in code


def test_a_spec_that_cannot_be_built_has_no_code():
    from lab.experiments import CONV4_POOL4_VALID

    with pytest.raises(models.SpecError, match="smaller than the 3×3 kernel"):
        keras_code.model_code(EXPERIMENTS["cifar-conv4-pool4"].replace(layers=CONV4_POOL4_VALID))


def _apply(base: str, diff: str) -> str:
    """Apply `keras_code.changes` output to the base code: each hunk's old lines must occur once."""
    source, result, position = base.splitlines(), [], 0
    for hunk in diff.split("\n...\n"):
        lines = hunk.splitlines()
        old = [line[2:] for line in lines if not line.startswith("+ ")]
        starts = [i for i in range(len(source) - len(old) + 1) if source[i : i + len(old)] == old]
        assert len(starts) == 1, f"ambiguous hunk: {old}"
        result += source[position : starts[0]]
        result += [line[2:] for line in lines if not line.startswith("- ")]
        position = starts[0] + len(old)
    return "\n".join(result + source[position:])


@pytest.mark.parametrize(("base", "variant"), [
    ("fashion-base", "fashion-dropout"), ("fashion-dropout", "fashion-dense128"), ("fashion-base", "cifar-raw"),
    ("cifar-norm", "cifar-dropout"), ("cifar-conv4", "cifar-conv4-same"),
    ("cifar-conv4-same", "cifar-conv4-same-dropout"), ("cifar-conv4-same-dropout", "cifar-conv6"),
    ("cifar-conv6", "cifar-conv6-bn"), ("cifar-conv6-bn", "cifar-conv6-bn-leaky"),
    ("cifar-vgg-20-cos", "cifar-vgg-20-aug-cos"), ("cifar-conv6-bn-20-cos", "cifar-conv6-bn-20-aug-cos"),
    ("cifar-conv6-bn-20-cos", "cifar-vgg-20-cos"),
])  # fmt: skip
def test_the_shown_changes_turn_the_base_model_into_the_variant(base, variant):
    diff = keras_code.changes(EXPERIMENTS[base], EXPERIMENTS[variant])
    assert _apply(keras_code.model_code(EXPERIMENTS[base]), diff) == keras_code.model_code(EXPERIMENTS[variant])
    assert any(line.startswith(("+ ", "- ")) for line in diff.splitlines())


def test_5_6_shows_the_first_block_s_change_which_every_convolution_and_hidden_dense_layer_repeats():
    base, leaky = EXPERIMENTS["cifar-conv6-bn-20"], EXPERIMENTS["cifar-conv6-bn-leaky"]
    shown = keras_code.changes(base, leaky, hunks=1)
    assert shown == keras_code.changes(base, leaky).split("\n...\n")[0] and "..." not in shown
    assert shown.count("+     layers.LeakyReLU(negative_slope=0.3),") == 2  # the first block's two convolutions
    # « de même ailleurs », after « suit chaque convolution et couche dense cachée »: the six convolutions and two dense
    repeated = [new for line in keras_code.model_code(base).splitlines()
                for new in ([line.replace(', activation="relu"', ""), "    layers.LeakyReLU(negative_slope=0.3),"]
                            if 'activation="relu"' in line else [line])]
    assert "\n".join(repeated) == keras_code.model_code(leaky)
    assert keras_code.model_code(leaky).count("LeakyReLU") == 8


def test_mixed_precision_is_the_global_policy_with_a_float32_output():
    code = keras_code.model_code(EXPERIMENTS["cifar-vgg-20-aug-cos"].replace(precision="mixed_bfloat16"))
    assert code.splitlines()[0] == 'keras.mixed_precision.set_global_policy("mixed_bfloat16")'
    assert code.splitlines()[-2] == '    layers.Dense(10, activation="softmax", dtype="float32"),'
    assert "mixed" not in keras_code.model_code(EXPERIMENTS["cifar-vgg-20-aug-cos"])


def test_the_training_code_states_weight_decay_and_the_cosine_schedule():
    from tests.test_experiments import STRONGER

    code = keras_code.training_code(STRONGER)
    assert "keras.optimizers.schedules.CosineDecay(\n    0.001, decay_steps=10 * math.ceil(len(x_fit) / 64))" in code
    assert "keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=0.0005)" in code


def test_the_training_code_states_sgd_with_nesterov_momentum():
    from tests.test_experiments import STRONGER

    sgd = STRONGER.replace(optimizer="sgd", learning_rate=0.1, momentum=0.9, weight_decay=5e-3)
    code = keras_code.training_code(sgd)
    assert ("keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9, nesterov=True, weight_decay=0.005)"
            in code)  # fmt: skip
    plain = STRONGER.replace(optimizer="sgd", learning_rate=0.01, weight_decay=0.0, lr_schedule="constant")
    assert "keras.optimizers.SGD(learning_rate=0.01)" in keras_code.training_code(plain)
    compile(code.replace("math.ceil", "round"), "training_code", "exec")  # valid Python


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
def test_every_optimizer_lab_trains_with_has_its_keras_class(name):
    from lab.experiments import OPTIMIZERS
    from tests.test_experiments import STRONGER

    assert set(keras_code.KERAS_OPTIMIZERS) == set(OPTIMIZERS)
    experiment = STRONGER.replace(optimizer=name, learning_rate=0.01, weight_decay=0.0, lr_schedule="constant")
    built = type(train.optimizer(experiment, 0.01)).__name__
    assert f"keras.optimizers.{built}(learning_rate=0.01)" in keras_code.training_code(experiment)


def test_test_time_flipping_shows_the_mirrored_prediction():
    code = keras_code.training_code(EXPERIMENTS["fashion-vgg-cos-mirror"])
    assert code.splitlines()[-1] == (
        "probabilities = (model.predict(x_test_norm, verbose=0)"
        " + model.predict(x_test_norm[:, :, ::-1], verbose=0)) / 2"
    )  # the test images divided by 255, as the model learned them (question 3.8's name)
    assert "[:, :, ::-1]" not in keras_code.training_code(EXPERIMENTS["fashion-vgg-cos"])
    compile(code.replace("math.ceil", "round"), "training_code", "exec")  # valid Python


def test_label_smoothing_shows_one_hot_labels_and_the_smoothed_loss():
    code = keras_code.training_code(EXPERIMENTS["cifar-vgg-20-aug-cos"].replace(label_smoothing=0.1))
    assert "y_fit, y_val = keras.utils.to_categorical(y_fit, 10), keras.utils.to_categorical(y_val, 10)" in code
    assert "loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1)" in code
    assert "to_categorical" not in keras_code.training_code(EXPERIMENTS["cifar-vgg-20-aug-cos"])
    compile(code.replace("math.ceil", "round"), "training_code", "exec")  # valid Python


class _FakeModel:
    """Stands in for a Keras model: one 'probability' per class computed from the pixels' positions."""

    def predict(self, x, batch_size=None, verbose=0):
        weights = np.arange(x[0].size, dtype=np.float64).reshape(x.shape[1:]) % 7
        scores = (x * weights).reshape(len(x), -1).sum(axis=1)
        return np.stack([np.sin(scores * (k + 1)) for k in range(10)], axis=1)


@pytest.mark.parametrize(("name", "flip", "shift"), [("cifar-vgg-20-aug-cos-views", True, 2),
                                                    ("fashion-vgg-cos", False, 1)])  # fmt: skip
def test_the_shown_test_time_views_predict_as_lab_does(name, flip, shift):
    experiment = EXPERIMENTS[name].replace(test_time_flip=flip, test_time_shift=shift)
    code = keras_code.training_code(experiment)
    views = code[code.index("# prédire la moyenne"):]
    assert "mode=\"symmetric\"" in views and ("view[:, :, ::-1]" in views) == flip
    assert f"de {train.view_count(experiment)} vues" in views
    shape = (3, *models.INPUT_SHAPES[experiment.dataset])
    x_test = np.random.default_rng(0).random(shape)
    assert experiment.normalize and "x_test_norm" in views and "x_test," not in views  # never the raw images
    namespace = {"np": np, "x_test_norm": x_test, "model": _FakeModel()}
    exec(views, namespace)
    expected = train.predict(_FakeModel(), x_test, flip=flip, shift=shift)
    np.testing.assert_allclose(namespace["probabilities"], expected, rtol=1e-12)


def test_the_code_changes_are_the_lines_removed_and_added():
    constant, cosine = (keras_code.training_code(EXPERIMENTS[name], views=False)
                        for name in ("fashion-vgg", "fashion-vgg-cos"))  # fmt: skip
    lines = keras_code.show_line_changes(constant, cosine).data.splitlines()
    assert lines[0] == "```diff" and lines[-1] == "```"
    assert lines[1] == "+ learning_rate = keras.optimizers.schedules.CosineDecay("
    assert lines[2] == "+     0.001, decay_steps=20 * math.ceil(len(x_fit) / 64))"
    assert lines[3] == "- model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),"
    assert lines[4] == "+ model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),"
    assert len(lines) == 6
