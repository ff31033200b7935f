"""Measure what a trained network does inside, where the book names a mechanism.

- `silent_units`: the share of the units after each ReLU that never fire on a set of images
  ("dead" neurons, q-5-6: the reason usually given for LeakyReLU).

It works on any Keras model built by `lab.models.build` (a trained one: `lab.trained_model`).

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
