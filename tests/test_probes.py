"""The probe of a network's inside: silent ReLU units."""

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
