"""Measure what a trained network does inside, where the book names a mechanism.

- `silent_units`: the share of the units after each ReLU that never fire on a set of images
  ("dead" neurons, q-5-6: the reason usually given for LeakyReLU);
- `with_reestimated_batch_norm`: the same network whose BatchNormalization statistics are
  measured again on the training images, layer by layer, dropout off or on (q-5-3: do the
  moving averages lag behind the weights, or does the dropout before them shift what they see?).

They work on any Keras model built by `lab.models.build` (a trained one: `lab.trained_model`).

Imports from lab: backend.
"""

from __future__ import annotations

import numpy as np

from lab import backend


def _relu_outputs(model) -> list:
    """The layers whose output has gone through a ReLU (their own activation) or is a LeakyReLU layer, in order."""
    keras = backend.keras()
    relu = keras.activations.get("relu")
    return [layer for layer in model.layers
            if getattr(layer, "activation", None) is relu or isinstance(layer, keras.layers.LeakyReLU)]  # fmt: skip


def silent_units(model, x, batch_size: int = 500) -> dict[str, float]:
    """Per ReLU (or LeakyReLU) layer, the share of its units (a convolution's channels, a dense layer's neurons)
    whose output is never positive on the images of `x`: a ReLU unit that never fires on them passes no
    gradient back from them; a LeakyReLU unit still does, through its negative slope."""
    keras = backend.keras()
    layers = _relu_outputs(model)
    if not layers:
        return {}
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    fired = [None] * len(layers)
    for start in range(0, len(x), batch_size):
        outputs = probe.predict(x[start : start + batch_size], verbose=0)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        for i, output in enumerate(outputs):
            active = (np.asarray(output) > 0).reshape(-1, output.shape[-1]).any(axis=0)
            fired[i] = active if fired[i] is None else fired[i] | active
    return {layer.name: float(1 - active.mean()) for layer, active in zip(layers, fired, strict=True)}


def with_reestimated_batch_norm(model, x, batch_size: int = 500, dropout: bool = False):
    """A copy of `model` whose BatchNormalization layers use the mean and variance of their inputs over `x`.

    Each layer's statistics are measured with the earlier layers already re-estimated, so that every
    layer normalises what it actually receives. `dropout=False`: as in evaluation (dropout off);
    `dropout=True`: as in training, dropout on (and the earlier BatchNormalizations normalising each
    batch of `batch_size` images by its own statistics), the statistics the moving averages follow
    but without their lag; its masks are drawn after seeding Keras globally with 0
    (`keras.utils.set_random_seed`), so that two calls agree. The other weights are unchanged. TensorFlow's op
    determinism (`backend.set_seed`) is left as it was: once on, every later `predict` of the process writes
    tf.data's harmless log line on stderr, which a chapter must not print.
    """
    keras = backend.keras()
    if dropout:  # the dropout masks drawn from a fixed seed: the same statistics at every call
        keras.utils.set_random_seed(0)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for layer in copy.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        inputs = keras.Model(copy.inputs, layer.input)
        total, total_squares, count = 0.0, 0.0, 0
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            values = inputs([batch], training=True) if dropout else inputs.predict(batch, verbose=0)
            values = np.asarray(values, dtype=np.float64)
            values = values.reshape(-1, values.shape[-1])
            total, total_squares = total + values.sum(axis=0), total_squares + (values**2).sum(axis=0)
            count += len(values)
        mean = total / count
        layer.moving_mean.assign(mean.astype("float32"))
        layer.moving_variance.assign((total_squares / count - mean**2).astype("float32"))
    return copy


def batch_norm_accuracies(model, x_fit, x, y, batch_size: int = 500) -> dict[str, float]:
    """Accuracy on (`x`, `y`) with the stored BatchNormalization statistics ("stored"), and with them
    re-estimated on `x_fit` (`with_reestimated_batch_norm`) dropout off ("off") and on ("on")."""
    models = {"stored": model, **{key: with_reestimated_batch_norm(model, x_fit, batch_size, dropout=on)
                                  for key, on in (("off", False), ("on", True))}}  # fmt: skip
    return {key: float((m.predict(x, verbose=0, batch_size=batch_size).argmax(axis=1) == np.ravel(y)).mean())
            for key, m in models.items()}  # fmt: skip
