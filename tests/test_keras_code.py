"""The Keras code the book shows builds exactly the model that was trained."""

from __future__ import annotations

import pytest

from lab import EXPERIMENTS, keras_code, models
from lab.backend import keras


def _executed(code: str):
    namespace = {"keras": keras(), "layers": keras().layers}
    exec(code, namespace)  # noqa: S102 - the code is ours, generated from a spec
    return namespace["model"]


def _signature(layer) -> tuple:
    config = {key: value for key, value in layer.get_config().items() if key not in ("name", "trainable", "dtype")}
    return type(layer).__name__, sorted(config.items(), key=lambda item: item[0])


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_the_shown_code_builds_the_trained_model(name):
    experiment = EXPERIMENTS[name]
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
    assert "learning_rate=0.001" in code and "epochs=40" in code and "batch_size=128" in code


def test_a_spec_that_cannot_be_built_has_no_code():
    from lab.experiments import CONV4_POOL4_VALID

    with pytest.raises(models.SpecError, match="smaller than the 3×3 kernel"):
        keras_code.model_code(EXPERIMENTS["cifar-conv4-pool4"].replace(layers=CONV4_POOL4_VALID))
