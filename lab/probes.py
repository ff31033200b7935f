"""Measure what a trained network does inside, where the book names a mechanism.

- `silent_units`: the share of the units after each ReLU that never fire on a set of images
  ("dead" neurons, q-5-6: the reason usually given for LeakyReLU);
- `gradient_sizes`: how large the gradient of each layer's weights is, from the input to the output
  (q-5-2: does the gradient vanish toward the input, which BatchNormalization is said to prevent?),
  on a trained network or on one as it starts (`untrained_model`);
- `weight_movement`: how far each layer's weights moved in training, relative to where they started (q-5-2:
  with Adam, which rescales every step, a small gradient need not mean a layer that learns little).

They work on any Keras model built by `lab.models.build` (a trained one: `lab.trained_model`).

Imports from lab: backend, models.
"""

from __future__ import annotations

import numpy as np

from lab import backend, models


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


def untrained_model(experiment, seed: int):
    """The network of `experiment` with the initial weights Keras draws after seeding with `seed` (as a training
    starts; TensorFlow's op determinism is left off, so that the chapter's later cells print nothing)."""
    backend.keras().utils.set_random_seed(seed)
    return models.build(experiment)


def gradient_sizes(model, x, y) -> dict[str, float]:
    """Per layer with weights (convolutions and dense layers), in order from the input: the root mean square of the
    gradient of the mean cross-entropy on (`x`, `y`) with respect to its kernel, computed as in an update (dropout
    on, its masks drawn after seeding Keras with 0; BatchNormalization on the batch's statistics). A gradient that
    vanishes toward the input shows as first layers far below the last ones. The model is left as it was (a call
    in training mode moves BatchNormalization's averages: they are put back)."""
    keras, tf = backend.keras(), backend.tensorflow()
    layers = [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]
    weights = model.get_weights()
    keras.utils.set_random_seed(0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(np.ravel(y), model(x, training=True)))
    gradients = tape.gradient(loss, [layer.kernel for layer in layers])
    model.set_weights(weights)
    return {layer.name: float(np.sqrt(np.mean(np.square(np.asarray(gradient)))))
            for layer, gradient in zip(layers, gradients, strict=True)}  # fmt: skip


def weight_movement(start, trained) -> dict[str, float]:
    """Per layer with weights, in order from the input: ‖w_trained − w_start‖ / ‖w_start‖ of its kernel, between a
    network as its training started (`untrained_model`) and the same network trained (`lab.trained_model`)."""
    layers = [layer for layer in trained.layers if getattr(layer, "kernel", None) is not None]
    moved = {}
    for layer in layers:
        before, after = (np.asarray(model.get_layer(layer.name).kernel) for model in (start, trained))
        moved[layer.name] = float(np.linalg.norm(after - before) / np.linalg.norm(before))
    return moved
