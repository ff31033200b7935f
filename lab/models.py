"""Build a Keras model from an experiment's layer spec.

`plan()` walks the spec without Keras: it checks every layer and computes every
output shape, so that a spec that cannot be built is refused with a message naming
the layer and the reason, before Keras is involved. `build()` turns the checked plan
into a `keras.Sequential` model that starts with an explicit `Input` layer.

Imports from lab: backend, experiments.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab import backend
from lab.experiments import AUGMENTATIONS, LR_SCHEDULES, PRECISIONS, TRAIN_SAMPLES

INPUT_SHAPES = {"fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}

REQUIRED_FIELDS = {
    "conv2d": ("filters", "kernel_size"),
    "max_pool": ("pool_size",),
    "flatten": (),
    "dense": ("units",),
    "dropout": ("rate",),
    "batch_norm": (),
    "global_avg_pool": (),
    "center_crop": ("size",),
    "output": ("units",),
}
PADDINGS = ("valid", "same")


class SpecError(ValueError):
    """A layer spec that cannot be built; the message names the layer and the reason."""


@dataclass(frozen=True)
class PlannedLayer:
    index: int  # position in the spec, from 1
    spec: dict
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    @property
    def kind(self) -> str:
        return self.spec["type"]


def describe(layer: dict) -> str:
    """A short human name for a layer spec, e.g. `conv2d 16@5×5 valid`."""
    kind = layer.get("type", "?")
    if kind == "conv2d":
        k = layer.get("kernel_size", "?")
        return f"conv2d {layer.get('filters', '?')}@{k}×{k} {layer.get('padding', 'valid')}"
    if kind in ("dense", "output"):
        return f"{kind} {layer.get('units', '?')}"
    if kind == "dropout":
        return f"dropout {layer.get('rate', '?')}"
    if kind == "max_pool":
        return f"max_pool {layer.get('pool_size', '?')}×{layer.get('pool_size', '?')}"
    if kind == "center_crop":
        return f"center_crop {layer.get('size', '?')}×{layer.get('size', '?')}"
    return str(kind)  # flatten, batch_norm, global_avg_pool


def plan(layers, input_shape) -> list[PlannedLayer]:
    """Check a layer spec and compute each layer's output shape (batch axis left out)."""
    if not layers:
        raise SpecError("the spec has no layers")
    shape, planned = tuple(input_shape), []
    for index, layer in enumerate(layers, start=1):
        _check_fields(index, layer)
        output_shape = _output_shape(index, layer, shape)
        planned.append(PlannedLayer(index, dict(layer), shape, output_shape))
        shape = output_shape
    if planned[-1].kind != "output":
        raise SpecError(f"layer {len(layers)} ({describe(layers[-1])}): the last layer must be of type 'output'")
    return planned


def _check_fields(index: int, layer: dict) -> None:
    if not isinstance(layer, dict) or "type" not in layer:
        raise SpecError(f"layer {index}: a layer is a dict with a 'type' field, got {layer!r}")
    kind = layer["type"]
    if kind not in REQUIRED_FIELDS:
        valid = ", ".join(REQUIRED_FIELDS)
        raise SpecError(f"layer {index}: unknown layer type {kind!r}; valid types: {valid}")
    missing = [name for name in REQUIRED_FIELDS[kind] if name not in layer]
    if missing:
        raise SpecError(f"layer {index} ({kind}): missing field(s) {', '.join(missing)}")
    if layer.get("padding", "valid") not in PADDINGS:
        raise SpecError(f"layer {index} ({kind}): padding must be 'valid' or 'same', got {layer['padding']!r}")
    if kind == "conv2d" and not layer.get("init_scale", 1) > 0:
        raise SpecError(f"layer {index} (conv2d): init_scale must be > 0, got {layer['init_scale']!r}")
    if kind == "dropout" and not 0 <= layer["rate"] < 1:
        raise SpecError(f"layer {index} (dropout): rate must be in [0, 1), got {layer['rate']}")


def _output_shape(index: int, layer: dict, shape: tuple[int, ...]) -> tuple[int, ...]:
    kind = layer["type"]
    if kind in ("conv2d", "max_pool", "global_avg_pool", "center_crop") and len(shape) != 3:
        raise SpecError(f"layer {index} ({describe(layer)}): needs an image input (H, W, C), got {shape}")
    if kind in ("dense", "output") and len(shape) != 1:
        raise SpecError(f"layer {index} ({describe(layer)}): needs a flat input; add a 'flatten' layer before it")
    if kind == "conv2d":
        return (*_conv_size(index, layer, shape), layer["filters"])
    if kind == "max_pool":
        return (*_pool_size(index, layer, shape), shape[2])
    if kind == "flatten":
        return (_product(shape),)
    if kind == "global_avg_pool":
        return (shape[2],)
    if kind == "center_crop":
        return _crop_size(index, layer, shape)
    if kind in ("dense", "output"):
        return (layer["units"],)
    return shape  # dropout, batch_norm


def _conv_size(index, layer, shape):
    height, width, _ = shape
    k = layer["kernel_size"]
    if layer.get("padding", "valid") == "same":
        return height, width
    if height < k or width < k:
        raise SpecError(
            f"layer {index} ({describe(layer)}): its input is {height}×{width}, smaller than the "
            f"{k}×{k} kernel, so the output would be {max(height - k + 1, 0)}×{max(width - k + 1, 0)}. "
            "Use padding 'same' or remove a pooling layer before it."
        )
    return height - k + 1, width - k + 1


def _crop_size(index, layer, shape):
    height, width, channels = shape
    size = layer["size"]
    if not 0 < size <= min(height, width):
        raise SpecError(f"layer {index} ({describe(layer)}): its input is {height}×{width}; the crop's size must be "
                        f"from 1 to {min(height, width)}, got {size}")  # fmt: skip
    return size, size, channels


def _pool_size(index, layer, shape):
    height, width, _ = shape
    p = layer["pool_size"]
    if height < p or width < p:
        raise SpecError(
            f"layer {index} ({describe(layer)}): its input is {height}×{width}, smaller than the "
            f"pool, so the output would be 0×0. Remove a pooling layer or use padding 'same' upstream."
        )
    return height // p, width // p


def _product(values) -> int:
    result = 1
    for value in values:
        result *= value
    return result


def build(experiment, input_shape=None, check: bool = True):
    """The Keras model of an experiment, with an explicit Input layer.

    `check=False` skips `plan()`, to see what Keras itself says of a bad spec.
    """
    keras = backend.keras()

    input_shape = input_shape or INPUT_SHAPES[experiment.dataset]
    if check:
        plan(experiment.layers, input_shape)
        check_training_options(experiment)
    model = keras.Sequential(name=experiment.name.replace("-", "_"))
    model.add(keras.Input(shape=input_shape, name="input"))
    for augmentation in experiment.augmentation:
        model.add(_augmentation_layer(augmentation, _dtype(experiment)))
    for index, spec in enumerate(experiment.layers, start=1):
        for keras_layer in _keras_layers(index, spec, experiment):
            model.add(keras_layer)
    return model


def check_training_options(experiment) -> None:
    """Refuse an augmentation or a learning-rate schedule that lab does not know."""
    unknown = [name for name in experiment.augmentation if name not in AUGMENTATIONS]
    if unknown:
        raise SpecError(f"unknown augmentation {', '.join(map(repr, unknown))}; valid: {', '.join(AUGMENTATIONS)}")
    if experiment.lr_schedule not in LR_SCHEDULES:
        raise SpecError(f"unknown learning-rate schedule {experiment.lr_schedule!r}; valid: {', '.join(LR_SCHEDULES)}")
    if experiment.weight_decay < 0:
        raise SpecError(f"weight decay must be 0 or more, got {experiment.weight_decay}")
    if not 0 <= experiment.label_smoothing < 1:
        raise SpecError(f"label smoothing must be in [0, 1), got {experiment.label_smoothing}")
    if not 0 <= experiment.momentum < 1:
        raise SpecError(f"momentum must be in [0, 1), got {experiment.momentum}")
    if experiment.momentum and experiment.optimizer != "sgd":
        raise SpecError(f"momentum is an SGD setting; the optimizer is {experiment.optimizer!r}")
    if experiment.precision not in PRECISIONS:
        raise SpecError(f"unknown precision {experiment.precision!r}; valid: {', '.join(PRECISIONS)}")
    if experiment.train_sample not in TRAIN_SAMPLES or (experiment.train_sample and experiment.dataset != "cifar10"):
        raise SpecError(f"train_sample {experiment.train_sample!r} on {experiment.dataset}: valid on cifar10 only, one "
                        f"of {', '.join(map(repr, TRAIN_SAMPLES))}")


def _dtype(experiment) -> dict:
    """The layers' dtype policy: with mixed precision, bfloat16 computations on float32 weights.

    Passed to each layer (as `keras.mixed_precision.set_global_policy` would set it for
    all), so that building one model leaves no global state behind.
    """
    return {} if experiment.precision == "float32" else {"dtype": experiment.precision}


# The largest random shift of "translate", as a fraction of the image's side, in each direction.
TRANSLATION = 0.1
# "erase" (random erasing, Zhong et al. 2017): the share of images erased, the range of the share of
# each side the rectangle covers (each side drawn alone: RandomErasing's `scale`, then its square
# root), and its grey, the middle of the [0, 1] pixel range.
ERASE_PROBABILITY = 0.5
ERASE_SCALE = (0.02, 0.33)
ERASE_FILL = 0.5


def _augmentation_layer(name: str, dtype: dict):
    """A random transformation applied to training images only (Keras preprocessing layers)."""
    layers = backend.keras().layers
    if name == "flip":
        return layers.RandomFlip("horizontal", name="random_flip", **dtype)
    if name == "erase":  # a factor of (p, p) erases with probability p; a single number would draw p in [0, p]
        return layers.RandomErasing(factor=(ERASE_PROBABILITY, ERASE_PROBABILITY), scale=ERASE_SCALE,
                                    fill_value=ERASE_FILL, value_range=(0, 1), name="random_erasing", **dtype)
    return layers.RandomTranslation(TRANSLATION, TRANSLATION, name="random_translation", **dtype)


def keras_error(experiment, input_shape=None) -> str | None:
    """The message Keras gives when building the spec without our checks, or None if it builds."""
    try:
        build(experiment, input_shape, check=False)
    except Exception as error:  # noqa: BLE001 - we want whatever Keras raises, to show it
        return f"{type(error).__name__}: {error}"
    return None


def _kernel_initializer(spec: dict):
    """Keras' default (Glorot uniform), its weights multiplied by the spec's `init_scale` where it has one."""
    scale = spec.get("init_scale", 1)
    if scale == 1:
        return "glorot_uniform"
    # Glorot uniform is this variance scaling at scale 1; the variance scales as the square of the weights
    # (computed as the shown code writes it, `1 / 255**2`, to the last bit)
    variance = scale**2 if scale >= 1 else 1 / (1 / scale) ** 2
    return backend.keras().initializers.VarianceScaling(variance, "fan_avg", "uniform")


def _keras_layers(n: int, spec: dict, experiment) -> list:
    """One spec layer as Keras layers (a separate LeakyReLU layer where one is used)."""
    layers = backend.keras().layers

    leaky = experiment.activation == "leaky_relu"
    activation = None if leaky else experiment.activation
    dtype = _dtype(experiment)
    kind = spec["type"]
    if kind == "conv2d":
        padding = spec.get("padding", "valid")
        main = layers.Conv2D(spec["filters"], spec["kernel_size"], padding=padding, activation=activation,
                             kernel_initializer=_kernel_initializer(spec), name=f"conv2d_{n}", **dtype)  # fmt: skip
    elif kind == "dense":
        main = layers.Dense(spec["units"], activation=activation, name=f"dense_{n}", **dtype)
    elif kind == "output":
        # the probabilities in float32 whatever the precision: a softmax in bfloat16 is too coarse
        float32 = {"dtype": "float32"} if dtype else {}
        return [layers.Dense(spec["units"], activation="softmax", name="output", **float32)]
    elif kind == "max_pool":
        return [layers.MaxPooling2D(spec["pool_size"], name=f"max_pool_{n}", **dtype)]
    elif kind == "flatten":
        return [layers.Flatten(name=f"flatten_{n}", **dtype)]
    elif kind == "dropout":
        return [layers.Dropout(spec["rate"], name=f"dropout_{n}", **dtype)]
    elif kind == "global_avg_pool":
        return [layers.GlobalAveragePooling2D(name=f"global_avg_pool_{n}", **dtype)]
    elif kind == "center_crop":
        return [layers.CenterCrop(spec["size"], spec["size"], name=f"center_crop_{n}", **dtype)]
    else:  # batch_norm
        return [layers.BatchNormalization(name=f"batch_norm_{n}", **dtype)]
    if leaky:
        slope = experiment.negative_slope
        return [main, layers.LeakyReLU(negative_slope=slope, name=f"leaky_relu_{n}", **dtype)]
    return [main]
