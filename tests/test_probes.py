"""The probes of a network's inside: silent ReLU units, BatchNormalization statistics measured again."""

import numpy as np
import pytest

from lab import backend, probes


@pytest.fixture
def keras():
    return backend.keras()


def test_a_unit_that_never_fires_is_silent_and_one_that_fires_once_is_not(keras):
    inputs = keras.Input((2,))
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(hidden))
    # unit 0 fires on every image, unit 1 on the second only, units 2 and 3 never (negative bias)
    model.get_layer("hidden").set_weights([np.array([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]]),
                                           np.array([1.0, -1.5, -1.0, -10.0])])  # fmt: skip
    x = np.array([[1.0, 0.0], [0.0, 2.0], [2.0, 1.0]], dtype="float32")
    assert probes.silent_units(model, x, batch_size=2) == {"hidden": 0.5}


def test_a_convolution_s_unit_is_its_channel_over_every_position(keras):
    inputs = keras.Input((3, 3, 1))
    conv = keras.layers.Conv2D(2, 1, activation="relu", name="conv")(inputs)
    model = keras.Model(inputs, conv)
    model.get_layer("conv").set_weights([np.array([[[[1.0, -1.0]]]]), np.zeros(2)])
    x = np.zeros((1, 3, 3, 1), dtype="float32")
    x[0, 2, 2, 0] = 1.0  # one positive pixel: channel 0 fires there, channel 1 nowhere
    assert probes.silent_units(model, x) == {"conv": 0.5}


def test_a_leaky_relu_unit_is_silent_when_its_input_is_never_positive(keras):
    inputs = keras.Input((1,))
    dense = keras.layers.Dense(2, name="dense")(inputs)
    model = keras.Model(inputs, keras.layers.LeakyReLU(negative_slope=0.3, name="leaky")(dense))
    model.get_layer("dense").set_weights([np.array([[1.0, -1.0]]), np.zeros(2)])
    assert probes.silent_units(model, np.array([[1.0], [2.0]], dtype="float32")) == {"leaky": 0.5}


def test_the_reestimated_statistics_are_those_of_each_batch_norm_s_inputs(keras):
    inputs = keras.Input((2,))
    scaled = keras.layers.Dense(2, use_bias=False, name="scale")(inputs)
    first = keras.layers.BatchNormalization(name="first")(scaled)
    second = keras.layers.BatchNormalization(name="second")(keras.layers.Dense(1, name="mix")(first))
    model = keras.Model(inputs, second)
    model.get_layer("scale").set_weights([np.diag([2.0, 3.0])])
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[1.0, -2.0], scale=[1.0, 0.5], size=(1000, 2)).astype("float32")
    again = probes.with_reestimated_batch_norm(model, x, batch_size=300)
    scaled_x = x * [2.0, 3.0]
    np.testing.assert_allclose(again.get_layer("first").moving_mean.numpy(), scaled_x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(again.get_layer("first").moving_variance.numpy(), scaled_x.var(axis=0), rtol=1e-4)
    # the second layer sees the first one normalised with its new statistics: mean of its input re-measured
    normalised = (scaled_x - scaled_x.mean(axis=0)) / np.sqrt(scaled_x.var(axis=0) + 1e-3)
    weights, bias = model.get_layer("mix").get_weights()
    expected = (normalised @ weights + bias).mean(axis=0)
    np.testing.assert_allclose(again.get_layer("second").moving_mean.numpy(), expected, rtol=1e-4, atol=1e-5)
    # the original model keeps its statistics (0 and 1 as built)
    np.testing.assert_array_equal(model.get_layer("first").moving_mean.numpy(), [0.0, 0.0])


def test_with_dropout_on_the_statistics_are_those_dropout_feeds_the_layer(keras):
    inputs = keras.Input((3,))
    dropped = keras.layers.Dropout(0.5, seed=1)(inputs)
    model = keras.Model(inputs, keras.layers.BatchNormalization(name="norm")(dropped))
    x = np.random.default_rng(0).normal(loc=2.0, scale=1.0, size=(4000, 3)).astype("float32")
    off = probes.with_reestimated_batch_norm(model, x, batch_size=1000).get_layer("norm")
    on = probes.with_reestimated_batch_norm(model, x, batch_size=1000, dropout=True).get_layer("norm")
    np.testing.assert_allclose(off.moving_variance.numpy(), x.var(axis=0), rtol=1e-4)
    # dropout keeps the mean (it rescales the kept half by 2) and adds variance: E[x²] doubles, 2·5 − 2² = 6
    np.testing.assert_allclose(on.moving_mean.numpy(), x.mean(axis=0), rtol=0.1)
    np.testing.assert_allclose(on.moving_variance.numpy(), 2 * (x**2).mean(axis=0) - x.mean(axis=0) ** 2, rtol=0.1)


def test_batch_norm_accuracies_measures_the_stored_and_the_reestimated_statistics(keras):
    # one BatchNormalization whose stored statistics (mean 0, variance 1) are far from its inputs' (mean 5):
    # stored, every input normalises to a positive score for class 1; re-estimated, the sign follows the input
    inputs = keras.Input((1,))
    normalised = keras.layers.BatchNormalization(center=False, scale=False)(inputs)
    outputs = keras.layers.Dense(2, use_bias=False)(normalised)
    model = keras.Model(inputs, outputs)
    model.layers[-1].set_weights([np.array([[-1.0, 1.0]])])
    x = np.array([[4.0], [6.0]] * 50, dtype="float32")
    y = np.array([0, 1] * 50)
    accuracies = probes.batch_norm_accuracies(model, x, x, y, batch_size=20)
    assert accuracies == {"stored": 0.5, "off": 1.0, "on": 1.0}
