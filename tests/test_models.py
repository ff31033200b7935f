"""The model builder: parameter counts against Keras, shapes, and refused specs."""

import numpy as np
import pytest

from lab import experiments, models, params
from lab.experiments import EXPERIMENTS, Experiment, get
from lab.models import SpecError, plan

# Parameter counts derived by hand, layer by layer: (inputs per neuron + 1 bias) x neurons.
FASHION_BASE = (
    (5 * 5 * 1 + 1) * 16  # conv 16@5x5 on 28x28x1 -> 24x24x16, pool -> 12x12x16
    + (3 * 3 * 16 + 1) * 32  # conv 32@3x3 -> 10x10x32, pool -> 5x5x32 = 800
    + (5 * 5 * 32 + 1) * 256  # dense 256
    + (256 + 1) * 128  # dense 128
    + (128 + 1) * 10  # output
)
CIFAR_RAW = (
    (5 * 5 * 3 + 1) * 16  # conv 16@5x5 on 32x32x3 -> 28x28x16, pool -> 14x14x16
    + (3 * 3 * 16 + 1) * 32  # conv 32@3x3 -> 12x12x32, pool -> 6x6x32 = 1152
    + (6 * 6 * 32 + 1) * 256
    + (256 + 1) * 128
    + (128 + 1) * 10
)
CIFAR_CONV4 = (
    (3 * 3 * 3 + 1) * 16  # 32 -> 30
    + (3 * 3 * 16 + 1) * 16  # 30 -> 28, pool -> 14
    + (3 * 3 * 16 + 1) * 32  # 14 -> 12
    + (3 * 3 * 32 + 1) * 32  # 12 -> 10, pool -> 5: 5x5x32 = 800
    + (5 * 5 * 32 + 1) * 256
    + (256 + 1) * 128
    + (128 + 1) * 10
)
CIFAR_CONV4_SAME = (
    (3 * 3 * 3 + 1) * 16  # padding same: 32 -> 32
    + (3 * 3 * 16 + 1) * 16  # pool -> 16
    + (3 * 3 * 16 + 1) * 32
    + (3 * 3 * 32 + 1) * 32  # pool -> 8: 8x8x32 = 2048
    + (8 * 8 * 32 + 1) * 256
    + (256 + 1) * 128
    + (128 + 1) * 10
)
# BatchNormalization: gamma, beta (trained), moving mean, moving variance (not trained) per channel.
CIFAR_CONV6_BN_NON_TRAINABLE = 2 * (16 + 32 + 64 + 256 + 128)
CIFAR_CONV6_BN = (
    (3 * 3 * 3 + 1) * 16
    + (3 * 3 * 16 + 1) * 16
    + 4 * 16  # batch norm, then pool -> 16x16
    + (3 * 3 * 16 + 1) * 32
    + (3 * 3 * 32 + 1) * 32
    + 4 * 32  # batch norm, then pool -> 8x8
    + (3 * 3 * 32 + 1) * 64
    + (3 * 3 * 64 + 1) * 64
    + 4 * 64  # batch norm, then pool -> 4x4: 4x4x64 = 1024
    + (4 * 4 * 64 + 1) * 256
    + 4 * 256
    + (256 + 1) * 128
    + 4 * 128
    + (128 + 1) * 10
)

BY_HAND = {
    "fashion-base": FASHION_BASE,
    "cifar-raw": CIFAR_RAW,
    "cifar-norm": CIFAR_RAW,
    "cifar-dropout": CIFAR_RAW,  # dropout has no parameters
    "cifar-conv4": CIFAR_CONV4,
    "cifar-conv4-same": CIFAR_CONV4_SAME,
    "cifar-conv4-same-dropout": CIFAR_CONV4_SAME,
    "cifar-conv6-bn": CIFAR_CONV6_BN,
    "cifar-conv6-bn-relu-40": CIFAR_CONV6_BN,
    "cifar-conv6-bn-leaky": CIFAR_CONV6_BN,  # LeakyReLU has no parameters
}


@pytest.fixture(scope="module")
def built():
    """Every experiment's Keras model, built once."""
    return {name: models.build(experiment) for name, experiment in EXPERIMENTS.items()}


def keras_layer_name(planned):
    return "output" if planned.kind == "output" else f"{planned.kind}_{planned.index}"


def test_hand_counts_are_the_documented_totals():
    assert (FASHION_BASE, CIFAR_RAW, CIFAR_CONV4, CIFAR_CONV4_SAME, CIFAR_CONV6_BN) == (
        244298, 335210, 255898, 575386, 370650,
    )  # fmt: skip


@pytest.mark.parametrize("name", sorted(BY_HAND))
def test_parameter_counts_by_hand_match_keras_and_lab(built, name):
    assert built[name].count_params() == BY_HAND[name]
    assert params.count_params(get(name)) == BY_HAND[name]


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_lab_count_equals_keras_count_for_every_experiment(built, name):
    assert params.count_params(EXPERIMENTS[name]) == built[name].count_params()


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_planned_shapes_equal_keras_output_shapes(built, name):
    model = built[name]
    for planned in plan(EXPERIMENTS[name].layers, models.INPUT_SHAPES[EXPERIMENTS[name].dataset]):
        layer = model.get_layer(keras_layer_name(planned))
        assert tuple(layer.output.shape[1:]) == planned.output_shape, (name, planned.index)


def test_batch_norm_trainable_and_non_trainable_weights(built):
    import keras

    model = built["cifar-conv6-bn"]
    trainable = sum(keras.ops.size(w) for w in model.trainable_weights)
    non_trainable = sum(keras.ops.size(w) for w in model.non_trainable_weights)
    assert int(non_trainable) == CIFAR_CONV6_BN_NON_TRAINABLE == 992
    assert int(trainable) == CIFAR_CONV6_BN - CIFAR_CONV6_BN_NON_TRAINABLE
    table = params.parameter_table(get("cifar-conv6-bn"))
    assert table.iloc[-1]["trainable"] == CIFAR_CONV6_BN - CIFAR_CONV6_BN_NON_TRAINABLE


def test_model_starts_with_an_input_layer_of_the_dataset_shape(built):
    assert tuple(built["fashion-base"].inputs[0].shape) == (None, 28, 28, 1)
    assert tuple(built["cifar-raw"].inputs[0].shape) == (None, 32, 32, 3)
    for model in built.values():
        assert tuple(model.outputs[0].shape) == (None, 10)


def test_activations(built):
    from keras import layers

    for name, model in built.items():
        leaky = name == "cifar-conv6-bn-leaky"
        assert model.get_layer("output").activation.__name__ == "softmax"
        for layer in model.layers:
            if isinstance(layer, layers.Conv2D | layers.Dense) and layer.name != "output":
                assert layer.activation.__name__ == ("linear" if leaky else "relu"), (name, layer.name)
        leaky_layers = [layer for layer in model.layers if isinstance(layer, layers.LeakyReLU)]
        if leaky:
            # one LeakyReLU after each of the 6 convolutions and 2 hidden dense layers
            assert len(leaky_layers) == 8
            assert {float(layer.negative_slope) for layer in leaky_layers} == {0.3}
        else:
            assert leaky_layers == []


def test_leaky_relu_takes_the_experiment_slope_not_keras_default():
    """Keras' default slope is 0.3, the brief's value: another slope shows that ours is passed."""
    from keras import layers

    model = models.build(EXPERIMENTS["cifar-conv6-bn-leaky"].replace(negative_slope=0.1))
    slopes = {float(layer.negative_slope) for layer in model.layers if isinstance(layer, layers.LeakyReLU)}
    assert slopes == {0.1}


def test_one_keras_layer_per_spec_layer(built):
    for name, model in built.items():
        extra = 8 if name == "cifar-conv6-bn-leaky" else 0
        augmentation = len(EXPERIMENTS[name].augmentation)  # a preprocessing layer each, before the spec's
        assert len(model.layers) == len(EXPERIMENTS[name].layers) + extra + augmentation


def test_pooling_halves_the_image():
    planned = plan(get("fashion-base").layers, (28, 28, 1))
    pools = [p for p in planned if p.kind == "max_pool"]
    for p in pools:
        assert p.output_shape[:2] == (p.input_shape[0] // 2, p.input_shape[1] // 2)
    assert [p.output_shape for p in planned] == [
        (24, 24, 16), (12, 12, 16), (10, 10, 32), (5, 5, 32), (800,), (256,), (128,), (10,),
    ]  # fmt: skip
    assert [p.index for p in planned] == list(range(1, 9))


def test_conv4_pool4_with_padding_same_shapes():
    planned = plan(experiments.CONV4_POOL4, (32, 32, 3))
    assert [p.output_shape for p in planned if p.kind == "max_pool"] == [
        (16, 16, 16), (8, 8, 32), (4, 4, 64), (2, 2, 64),
    ]  # fmt: skip


# Specs that cannot be built


def test_spatial_size_falling_to_zero_names_the_layer():
    with pytest.raises(SpecError) as raised:
        plan(experiments.CONV4_POOL4_VALID, (32, 32, 3))
    message = str(raised.value)
    # 32 -conv5-> 28 -pool-> 14 -conv3-> 12 -pool-> 6 -conv3-> 4 -pool-> 2: the 4th conv (layer 7) gets 2x2
    assert message.startswith("layer 7 ")
    assert "smaller than" in message
    assert "2×2" in message and "3×3 kernel" in message
    assert "padding 'same'" in message


def test_build_refuses_the_spec_before_keras():
    experiment = Experiment("valid-pool4", dataset="cifar10", layers=experiments.CONV4_POOL4_VALID)
    with pytest.raises(SpecError, match=r"layer 7 .*smaller than"):
        models.build(experiment)


def test_pool_larger_than_its_input():
    spec = [experiments.conv(8, 3), experiments.pool(4), experiments.flatten(), experiments.output()]
    with pytest.raises(SpecError) as raised:
        plan(spec, (5, 5, 1))
    assert str(raised.value).startswith("layer 2 ")
    assert "smaller than the pool" in str(raised.value)


def test_unknown_layer_type_lists_valid_types():
    spec = [{"type": "conv3d", "filters": 8}, experiments.flatten(), experiments.output()]
    with pytest.raises(SpecError) as raised:
        plan(spec, (28, 28, 1))
    message = str(raised.value)
    assert "layer 1" in message and "'conv3d'" in message
    for kind in ("conv2d", "max_pool", "flatten", "dense", "dropout", "batch_norm", "output"):
        assert kind in message


@pytest.mark.parametrize(
    ("layer", "field"),
    [
        ({"type": "conv2d", "filters": 16}, "kernel_size"),
        ({"type": "conv2d", "kernel_size": 3}, "filters"),
        ({"type": "max_pool"}, "pool_size"),
        ({"type": "dropout"}, "rate"),
    ],
)
def test_missing_field_is_named(layer, field):
    with pytest.raises(SpecError) as raised:
        plan([layer, experiments.flatten(), experiments.output()], (28, 28, 1))
    assert "layer 1" in str(raised.value)
    assert f"missing field(s) {field}" in str(raised.value)


def test_missing_units_of_a_dense_layer():
    with pytest.raises(SpecError, match=r"layer 2 \(dense\): missing field\(s\) units"):
        plan([experiments.flatten(), {"type": "dense"}, experiments.output()], (28, 28, 1))


def test_dense_before_flatten():
    spec = [experiments.conv(16, 5), experiments.dense(128), experiments.output()]
    with pytest.raises(SpecError) as raised:
        plan(spec, (28, 28, 1))
    assert "layer 2 (dense 128)" in str(raised.value)
    assert "add a 'flatten' layer before it" in str(raised.value)


def test_conv_after_flatten():
    spec = [experiments.flatten(), experiments.conv(16), experiments.output()]
    with pytest.raises(SpecError, match=r"layer 2 .*needs an image input"):
        plan(spec, (28, 28, 1))


def test_last_layer_must_be_output():
    with pytest.raises(SpecError, match=r"layer 2 \(dense 10\): the last layer must be of type 'output'"):
        plan([experiments.flatten(), experiments.dense(10)], (28, 28, 1))


def test_empty_spec():
    with pytest.raises(SpecError, match="no layers"):
        plan([], (28, 28, 1))


def test_bad_padding_and_rate_and_non_dict():
    with pytest.raises(SpecError, match="padding must be 'valid' or 'same', got 'full'"):
        plan([experiments.conv(8, 3, "full"), experiments.flatten(), experiments.output()], (28, 28, 1))
    with pytest.raises(SpecError, match=r"rate must be in \[0, 1\), got 1.0"):
        plan([experiments.flatten(), experiments.dropout(1.0), experiments.output()], (28, 28, 1))
    with pytest.raises(SpecError, match="a layer is a dict with a 'type' field"):
        plan(["conv2d", experiments.output()], (28, 28, 1))


def test_describe():
    assert models.describe(experiments.conv(16, 5)) == "conv2d 16@5×5 valid"
    assert models.describe(experiments.pool()) == "max_pool 2×2"
    assert models.describe(experiments.dense(256)) == "dense 256"
    assert models.describe(experiments.dropout(0.25)) == "dropout 0.25"
    assert models.describe(experiments.output()) == "output 10"
    assert models.describe(experiments.batch_norm()) == "batch_norm"


def test_augmentation_and_global_average_pooling_build_without_extra_parameters():
    from keras import layers

    from tests.test_experiments import STRONGER

    model = models.build(STRONGER)
    assert [type(layer) for layer in model.layers[:2]] == [layers.RandomFlip, layers.RandomTranslation]
    assert any(isinstance(layer, layers.GlobalAveragePooling2D) for layer in model.layers)
    assert model.count_params() == params.count_params(STRONGER)


def test_random_erasing_greys_a_rectangle_in_one_image_in_two_and_only_in_training():
    experiment = EXPERIMENTS["cifar-norm"].replace(augmentation=("erase",))
    model = models.build(experiment)
    erasing, images = model.layers[0], np.full((2000, 32, 32, 3), 0.2, dtype="float32")
    erased = np.asarray(erasing(images, training=True))
    changed = (erased != 0.2).any(axis=(1, 2, 3))
    assert 0.45 < changed.mean() < 0.55  # one image in two (binomial sd 1.1 pt)
    assert set(np.unique(erased)) == {np.float32(0.2), np.float32(models.ERASE_FILL)}
    area = (erased[changed] == models.ERASE_FILL).mean(axis=(1, 2, 3))
    assert area.min() > 0.0 and area.max() <= models.ERASE_SCALE[1] + 0.05
    np.testing.assert_array_equal(np.asarray(erasing(images, training=False)), images)
    # its random state is a variable of the model: a checkpoint saves it, a resumed run restores it
    assert any("seed_generator" in variable.path for variable in model.variables)


def test_global_average_pooling_needs_image_maps():
    spec = ({"type": "flatten"}, {"type": "global_avg_pool"}, {"type": "output", "units": 10})
    with pytest.raises(models.SpecError, match=r"layer 2 \(global_avg_pool\): needs an image input"):
        models.plan(spec, (32, 32, 3))


@pytest.mark.parametrize(("change", "message"), [
    ({"augmentation": ("rotate",)}, "unknown augmentation 'rotate'"),
    ({"lr_schedule": "step"}, "unknown learning-rate schedule"),
    ({"weight_decay": -1.0}, "weight decay must be 0 or more"),
    ({"label_smoothing": 1.0}, r"label smoothing must be in \[0, 1\), got 1.0"),
    ({"label_smoothing": -0.1}, r"label smoothing must be in \[0, 1\), got -0.1"),
    ({"optimizer": "sgd", "momentum": 1.0}, r"momentum must be in \[0, 1\), got 1.0"),
    ({"momentum": 0.9}, "momentum is an SGD setting; the optimizer is 'adam'"),
])  # fmt: skip
def test_unknown_training_options_are_refused(change, message):
    with pytest.raises(models.SpecError, match=message):
        models.build(EXPERIMENTS["cifar-norm"].replace(**change))


@pytest.mark.parametrize(("name", "scale"), [("cifar-norm-large-start", 255), ("cifar-raw-small-start", 1 / 255)])
def test_question_3_8_s_controls_scale_keras_default_first_weights_and_compute_the_other_scaling_s_start(name, scale):
    from lab.backend import keras

    def first_layer(experiment, images):
        keras().utils.set_random_seed(0)  # the draw training makes for seed 0
        model = models.build(experiment)
        return model.layers[0].get_weights()[0], np.asarray(model.layers[0](images))

    control, images = get(name), np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    other = get("cifar-raw" if control.normalize else "cifar-norm")  # the scaling whose start it copies
    plain = control.replace(layers=experiments.FIRST_MODEL)
    weights, scaled = first_layer(control, images)[0], first_layer(plain, images)[0] * scale
    assert np.allclose(weights, scaled, rtol=0, atol=1e-6 * np.abs(scaled).max())  # the same draw, to float32 rounding
    outputs = first_layer(control, images / 255 if control.normalize else images)[1]
    expected = first_layer(other, images if control.normalize else images / 255)[1]
    assert np.allclose(outputs, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_a_first_weights_scale_must_be_positive():
    layer = {**experiments.conv(8, 3), "init_scale": 0}
    with pytest.raises(SpecError, match=r"layer 1 \(conv2d\): init_scale must be > 0, got 0"):
        plan([layer, experiments.flatten(), experiments.output()], (28, 28, 1))


def test_question_4_5_s_crop_keeps_padding_valid_s_classifier_and_its_parameter_count():
    crop, valid = get("cifar-conv4-same-crop"), get("cifar-conv4")
    table = params.parameter_table(crop)
    assert params.layer_row(table, "center_crop")["output_shape"] == params.layer_row(
        params.parameter_table(valid), "max_pool")["output_shape"] == "(5, 5, 32)"  # fmt: skip
    assert params.count_params(crop) == params.count_params(valid) == 255_898
    assert models.describe({"type": "center_crop", "size": 5}) == "center_crop 5×5"


def test_a_crop_larger_than_its_maps_is_refused():
    layers = [experiments.conv(8, 3), experiments.pool(), {"type": "center_crop", "size": 14}, experiments.flatten(),
              experiments.output()]  # fmt: skip
    with pytest.raises(SpecError, match=r"layer 3 \(center_crop 14×14\): its input is 13×13; the crop's size must be "
                                        r"from 1 to 13, got 14"):  # fmt: skip
        plan(layers, (28, 28, 1))


def test_a_training_sample_is_a_cifar10_option():
    from lab import experiments, models

    with pytest.raises(SpecError, match="cifar10 only"):
        models.check_training_options(experiments.get("fashion-base").replace(train_sample="copy"))
    with pytest.raises(SpecError, match="'genuine'"):
        models.check_training_options(experiments.get("cifar-raw").replace(train_sample="authentic"))
