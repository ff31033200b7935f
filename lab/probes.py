"""Measure what a trained network does inside, where the book names a mechanism.

- `silent_units`: the share of the units after each ReLU that never fire on a set of images
  ("dead" neurons, q-5-6: the reason usually given for LeakyReLU);
- `with_reestimated_batch_norm`: the same network whose BatchNormalization statistics are
  measured again on the training images, layer by layer, dropout off or on (q-5-3: do the
  moving averages lag behind the weights, or does the dropout before them shift what they see?);
- `object_or_background`: what a network predicts when it sees only the centre of each image
  (where the object usually is) or only its border (the background) (q-4-7: does it rely on
  the background?); `answers_kept`, the share of its errors and of its correct answers that
  each partial view keeps (does the background weigh more in the errors?).

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
    but without their lag; its masks are drawn after seeding Keras globally with 0 (`backend.set_seed`),
    so that two calls agree. The other weights are unchanged.
    """
    keras = backend.keras()
    if dropout:  # the dropout masks drawn from a fixed seed: the same statistics at every call
        backend.set_seed(0)
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


def centre_mask(size: int) -> np.ndarray:
    """True on the central square holding half of a size × size image's pixels (rounded to whole rows)."""
    side = int(round(size / np.sqrt(2)))
    start = (size - side) // 2
    mask = np.zeros((size, size), dtype=bool)
    mask[start : start + side, start : start + side] = True
    return mask


def keep_only(x: np.ndarray, mask: np.ndarray, fill: float) -> np.ndarray:
    """Images `x` (n, h, w, channels) with every pixel outside `mask` (h, w) replaced by `fill`."""
    return np.where(mask[None, :, :, None], x, np.asarray(fill, dtype=x.dtype))


def object_or_background(model, x: np.ndarray, classes: np.ndarray, fill: float) -> dict[str, np.ndarray]:
    """The probability the model gives to `classes` (one per image) when it sees the whole image, its centre
    only (the border set to `fill`: the object, in a centred photograph) or its border only (the centre set to
    `fill`: the background). The two partial views have about the same number of pixels."""
    views = {"image": x, **partial_views(x, fill)}
    rows = np.arange(len(x))
    return {view: model.predict(images, verbose=0, batch_size=500)[rows, classes] for view, images in views.items()}


def partial_views(x: np.ndarray, fill: float) -> dict[str, np.ndarray]:
    """The images with only their centre (`centre`, the border set to `fill`) or only their border (`border`)."""
    mask = centre_mask(x.shape[1])
    return {"centre": keep_only(x, mask, fill), "border": keep_only(x, ~mask, fill)}


def errors_and_correct(y_true: np.ndarray, y_pred: np.ndarray, pairs) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the errors of `pairs` ((true, predicted) classes), and of the correct predictions of their
    true classes: what a partial view does to the errors is read against what it does to correct answers on the
    same kind of images, since a view that hides half of an image loses some of every kind of answer."""
    errors = np.zeros(len(y_true), dtype=bool)
    for true, predicted in pairs:
        errors |= (y_true == true) & (y_pred == predicted)
    correct = (y_true == y_pred) & np.isin(y_true, [true for true, _ in pairs])
    return np.flatnonzero(errors), np.flatnonzero(correct)


def answers_kept(model, x: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, pairs, fill: float) -> dict:
    """For the errors of `pairs` and the correct predictions of their true classes (`errors_and_correct`), the share
    whose answer (`y_pred`: the wrong class, or the right one) is still the model's first class when it sees the
    centre alone, or the border alone, and how many images each share rests on.

    The first class rather than its probability: an answer is kept when the network would still give it. If the
    errors came from the background, the border alone would keep more of the errors than of the correct answers,
    and the centre alone fewer. Only the images counted are predicted (a few thousand of the test set)."""
    errors, correct = errors_and_correct(y_true, y_pred, pairs)
    shown = np.concatenate([errors, correct])
    kept = {view: model.predict(images, verbose=0, batch_size=500).argmax(axis=1) == y_pred[shown]
            for view, images in partial_views(x[shown], fill).items()}  # fmt: skip
    groups = {"errors": slice(0, len(errors)), "correct": slice(len(errors), len(shown))}
    return {group: {"n": len(shown[rows]), **{view: float(kept[view][rows].mean()) for view in kept}}
            for group, rows in groups.items()}  # fmt: skip
