"""The Keras code of an experiment, written as a reader of the report would write it.

The book shows this code for each model the brief asks to build; it is generated from
the experiment's declarative spec (which keys the stored results), and the tests
execute it and compare the model it builds with `lab.models.build`, layer by layer.
Generating it needs no TensorFlow, so chapters that show it stay fast.

Imports from lab: models, predict.
"""

from __future__ import annotations

from lab.models import INPUT_SHAPES, plan
from lab.predict import view_count

INDENT = "    "


def _activation(experiment) -> str:
    return "" if experiment.activation == "leaky_relu" else f', activation="{experiment.activation}"'


def _initializer_code(spec: dict) -> str:
    """Keras' default initializer, Glorot uniform, with its weights scaled: `VarianceScaling(255**2, ...)`."""
    scale = spec.get("init_scale", 1)
    if scale == 1:
        return ""
    variance = f"{scale:g}**2" if scale >= 1 else f"1 / {1 / scale:g}**2"
    return f',\n        kernel_initializer=keras.initializers.VarianceScaling({variance}, "fan_avg", "uniform")'


def _layer_lines(spec: dict, experiment) -> list[str]:
    kind = spec["type"]
    if kind == "conv2d":
        padding = f', padding="{spec["padding"]}"' if spec.get("padding", "valid") != "valid" else ""
        start = _initializer_code(spec)
        lines = [f"layers.Conv2D({spec['filters']}, {spec['kernel_size']}{padding}{_activation(experiment)}{start}),"]
    elif kind == "dense":
        lines = [f"layers.Dense({spec['units']}{_activation(experiment)}),"]
    elif kind == "output":
        float32 = ', dtype="float32"' if experiment.precision != "float32" else ""
        return [f'layers.Dense({spec["units"]}, activation="softmax"{float32}),']
    elif kind == "max_pool":
        return [f"layers.MaxPooling2D({spec['pool_size']}),"]
    elif kind == "flatten":
        return ["layers.Flatten(),"]
    elif kind == "dropout":
        return [f"layers.Dropout({spec['rate']}),"]
    elif kind == "global_avg_pool":
        return ["layers.GlobalAveragePooling2D(),"]
    elif kind == "center_crop":
        return [f"layers.CenterCrop({spec['size']}, {spec['size']}),"]
    else:  # batch_norm
        return ["layers.BatchNormalization(),"]
    if experiment.activation == "leaky_relu":
        lines.append(f"layers.LeakyReLU(negative_slope={experiment.negative_slope}),")
    return lines


def model_code(experiment) -> str:
    """`model = keras.Sequential([keras.Input(...), layers.Conv2D(...), ...])` for the experiment."""
    plan(experiment.layers, INPUT_SHAPES[experiment.dataset])  # refuse a spec that cannot be built
    lines = [f"keras.Input(shape={INPUT_SHAPES[experiment.dataset]}),"]
    lines += [AUGMENTATION_CODE[name] for name in experiment.augmentation]
    for spec in experiment.layers:
        lines += _layer_lines(spec, experiment)
    body = "\n".join(INDENT + line for line in lines)
    policy = ""
    if experiment.precision != "float32":  # computations in bfloat16; the output layer stays in float32
        policy = f'keras.mixed_precision.set_global_policy("{experiment.precision}")\n'
    return f"{policy}model = keras.Sequential([\n{body}\n])"


KERAS_OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}  # lab.experiments.OPTIMIZERS
AUGMENTATION_CODE = {
    "flip": 'layers.RandomFlip("horizontal"),',
    "translate": "layers.RandomTranslation(0.1, 0.1),",
    "erase": "layers.RandomErasing(factor=(0.5, 0.5), scale=(0.02, 0.33), fill_value=0.5, value_range=(0, 1)),",
}


def _test_images(experiment) -> str:
    """The name the chapters give the test images the model reads: divided by 255 (`x_test_norm`, question 3.8)
    where the experiment normalizes its inputs, else `x_test`."""
    return "x_test_norm" if experiment.normalize else "x_test"


def _mirror_code(experiment) -> str:
    x = _test_images(experiment)
    return (
        "\n# prédire la moyenne des probabilités de chaque image et de son miroir (la largeur est l'axe 2)\n"
        f"probabilities = (model.predict({x}, verbose=0) + model.predict({x}[:, :, ::-1], verbose=0)) / 2"
    )


def _views_code(experiment) -> str:
    """The averaged prediction over the test-time views (`lab.train.test_time_views`), as Keras code."""
    if not experiment.test_time_shift:
        return _mirror_code(experiment) if experiment.test_time_flip else ""
    shift = experiment.test_time_shift
    mirrors = ", et leurs miroirs" if experiment.test_time_flip else ""
    pixels = "pixel" if shift == 1 else "pixels"
    return (
        f"\n# prédire la moyenne des probabilités de {view_count(experiment)} vues de chaque image : elle-même"
        f"\n# et ses décalages de {shift} {pixels} en haut, en bas, à gauche et à droite (bord en miroir){mirrors}\n"
        + _views_setup(experiment)
        + "\nprobabilities = np.mean([model.predict(view, verbose=0) for view in views], axis=0)"
    )


def _views_setup(experiment) -> str:
    """The code that makes `views`, the list of the views of the test images the experiment averages."""
    x = _test_images(experiment)
    if not experiment.test_time_shift:
        return f"views = [{x}, {x}[:, :, ::-1]]" if experiment.test_time_flip else f"views = [{x}]"
    shift, side = experiment.test_time_shift, INPUT_SHAPES[experiment.dataset][0]
    return (
        f'padded = np.pad({x}, ((0, 0), ({shift}, {shift}), ({shift}, {shift}), (0, 0)), mode="symmetric")\n'
        f"moves = [(0, 0), ({shift}, 0), (-{shift}, 0), (0, {shift}), (0, -{shift})]\n"
        f"views = [padded[:, {shift} - dy : {shift} - dy + {side}, {shift} - dx : {shift} - dx + {side}]\n"
        "         for dy, dx in moves]"
        + ("\nviews += [view[:, :, ::-1] for view in views]" if experiment.test_time_flip else "")
    )


def _optimizer_code(experiment, rate: str) -> str:
    """The optimizer `lab.train.optimizer` builds, as Keras code."""
    adamw = experiment.weight_decay and experiment.optimizer == "adam"
    name = "AdamW" if adamw else KERAS_OPTIMIZERS[experiment.optimizer]
    settings = [f"learning_rate={rate}"]
    if experiment.momentum:
        settings += [f"momentum={experiment.momentum:g}", "nesterov=True"]
    if experiment.weight_decay:
        settings.append(f"weight_decay={experiment.weight_decay:g}")
    return f"keras.optimizers.{name}({', '.join(settings)})"


def training_code(experiment, views: bool = True) -> str:
    """The `compile` call and the loop of one `fit` per epoch with the experiment's settings (as `lab.train` makes
    them), and (`views`) its averaged prediction over test-time views."""
    rate = f"{experiment.learning_rate:g}"
    schedule = ""
    if experiment.lr_schedule == "cosine":
        steps = f"math.ceil(len(x_fit) / {experiment.batch_size})"
        schedule = (f"learning_rate = keras.optimizers.schedules.CosineDecay(\n"
                    f"    {rate}, decay_steps={experiment.epochs} * {steps})\n")
        rate = "learning_rate"
    optimizer = _optimizer_code(experiment, rate)
    loss = '"sparse_categorical_crossentropy"'
    if experiment.label_smoothing:
        classes = experiment.layers[-1]["units"]
        one_hot = ", ".join(f"keras.utils.to_categorical({y}, {classes})" for y in ("y_fit", "y_val"))
        schedule += f"# l'entropie croisée sparse de Keras ne lisse pas : one-hot\ny_fit, y_val = {one_hot}\n"
        loss = f"keras.losses.CategoricalCrossentropy(label_smoothing={experiment.label_smoothing:g})"
    return (
        schedule
        + f"model.compile(optimizer={optimizer},\n"
        f'              loss={loss}, metrics=["accuracy"])\n'
        + FIT_CODE.format(epochs=experiment.epochs, batch_size=experiment.batch_size)
        + (_views_code(experiment) if views else "")
    )


# `lab.train`'s loop: one `fit` per epoch, the images in an order drawn from the seed and the epoch (Keras' own
# shuffle would not be reproducible, tensorflow/tensorflow#26179)
FIT_CODE = """epochs, batch_size = {epochs}, {batch_size}
# un ordre des images par époque, tiré de la graine ; valider sur les derniers
# 10 % des images d'apprentissage, les mêmes pour tous les modèles
for epoch in range(epochs):
    order = np.random.default_rng([seed, epoch]).permutation(len(x_fit))
    model.fit(x_fit[order], y_fit[order], validation_data=(x_val, y_val), initial_epoch=epoch,
              epochs=epoch + 1, batch_size=batch_size, shuffle=False, verbose=2)"""


KERAS_IMPORTS = "import keras\nimport numpy as np\nfrom keras import layers\n\n"


def show(experiment, training: bool = False, imports: bool = False):
    """The experiment's Keras code as a Markdown Python block, for a cell whose output shows it; with `training`,
    its training too, after the seed is set (`seed`, one of the experiment's); with `imports`, preceded by the
    imports it needs (`KERAS_IMPORTS`: the book's first Keras model)."""
    from IPython.display import Markdown

    code = model_code(experiment)
    if training:  # the seed fixes the first weights and the dropout masks, and draws the images' order
        first, last = experiment.seeds[0], experiment.seeds[-1]
        seed_line = f"keras.utils.set_random_seed(seed)  # poids de départ, dropout ; seed de {first} à {last}\n"
        code = seed_line + code + "\n" + training_code(experiment)
    code = (KERAS_IMPORTS if imports else "") + code
    return Markdown(f"```python\n{code}\n```")


def changes(base, experiment, hunks: int | None = None) -> str:
    """The lines of `experiment`'s model code that differ from `base`'s, as a unified diff.

    `-` lines are the base model's, `+` lines the new model's; hunks are separated by
    `...`. Each hunk keeps the fewest unchanged lines around it that say where it is: its
    unchanged and removed lines occur only once in the base code.
    `hunks`: only the first ones (where the others repeat the same change, as the prose then says).
    """
    import difflib

    before, after = model_code(base).splitlines(), model_code(experiment).splitlines()
    matcher = difflib.SequenceMatcher(a=before, b=after)
    for context in range(1, len(before)):
        groups = list(matcher.get_grouped_opcodes(context))
        if all(_occurrences(before, [line for tag, i1, i2, _, _ in group if tag != "insert"
                                     for line in before[i1:i2]]) == 1 for group in groups):  # fmt: skip
            break
    lines = []
    for group in groups[:hunks]:
        lines += ["..."] if lines else []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += ["  " + line for line in before[i1:i2]]
            if tag in ("replace", "delete"):
                lines += ["- " + line for line in before[i1:i2]]
            if tag in ("replace", "insert"):
                lines += ["+ " + line for line in after[j1:j2]]
    return "\n".join(lines)


def _occurrences(lines: list, block: list) -> int:
    return sum(lines[i : i + len(block)] == block for i in range(len(lines) - len(block) + 1))


def _diff_block(diff: str):
    """A diff as a Markdown diff block, for a cell whose output shows it."""
    from IPython.display import Markdown

    return Markdown(f"```diff\n{diff}\n```")


def show_changes(base, experiment, hunks: int | None = None):
    """What changes from `base`'s model to `experiment`'s, as a Markdown diff block (its first `hunks` only)."""
    return _diff_block(changes(base, experiment, hunks))


def show_line_changes(before: str, after: str):
    """The lines of code that `after` changes from `before` (`-` removed, `+` added, no context), as a Markdown
    diff block: what a step changes in the training code (`training_code`), where `show_changes` does it for
    the model's layers."""
    import difflib

    lines = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:2] in ("- ", "+ ")]
    return _diff_block("\n".join(lines))
