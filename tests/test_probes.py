"""The probes of a network's inside: silent ReLU units, the size of each layer's gradient."""

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


def test_the_gradient_size_of_a_layer_is_the_root_mean_square_of_its_kernel_s_gradient(keras):
    # softmax of x·W with W = 0: p = (½, ½); for x = 1 and class 0, dL/dW = x (p − onehot) = (−½, ½): RMS ½
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dropout(0.0),
                              keras.layers.Dense(2, use_bias=False, activation="softmax", name="out")])  # fmt: skip
    model.get_layer("out").set_weights([np.zeros((1, 2))])
    x, y = np.ones((4, 1), dtype="float32"), np.zeros(4, dtype="int64")
    assert probes.gradient_sizes(model, x, y) == pytest.approx({"out": 0.5})


def test_weight_movement_is_the_kernel_s_change_relative_to_its_start(keras):
    start = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False, name="out")])
    trained = keras.models.clone_model(start)
    start.get_layer("out").set_weights([np.array([[3.0], [4.0]])])  # norm 5
    trained.get_layer("out").set_weights([np.array([[3.0], [1.0]])])  # moved by 3
    assert probes.weight_movement(start, trained) == pytest.approx({"out": 0.6})


def test_gradient_sizes_go_from_the_input_to_the_output_and_the_untrained_model_follows_its_seed(keras):
    from lab import experiments

    experiment = experiments.get("cifar-conv6-bn")
    first, again = (probes.untrained_model(experiment, seed=1) for _ in range(2))
    np.testing.assert_array_equal(first.get_weights()[0], again.get_weights()[0])
    x = np.random.default_rng(0).random((8, 32, 32, 3), dtype=np.float32)
    sizes = probes.gradient_sizes(first, x, np.arange(8) % 10)
    kinds = [first.get_layer(name).__class__.__name__ for name in sizes]
    assert kinds == ["Conv2D"] * 6 + ["Dense"] * 3 and all(size > 0 for size in sizes.values())
    # the probe leaves the model as it was: BatchNormalization's averages are put back after the training-mode call
    for before, after in zip(again.get_weights(), first.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
