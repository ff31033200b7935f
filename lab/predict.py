"""How a trained model predicts: its class probabilities, averaged over test-time views.

Test-time flipping and shifting change only how a trained model predicts: the mean of its
probabilities over the image, the image moved a few pixels up, down, left and right (borders
reflected as Keras' `RandomTranslation` fills them), and the mirrors of those views.

Imports from lab: nothing (numpy only; the model is any Keras model with `predict`).
"""

from __future__ import annotations

import numpy as np


def predict(model, x, flip: bool = False, shift: int = 0, batch_size: int = 512) -> np.ndarray:
    """Class probabilities; their mean over the views of each image (`test_time_views`) with `flip` or `shift`."""
    total, count = 0.0, 0
    for view in test_time_views(x, flip, shift):
        total, count = total + model.predict(view, batch_size=batch_size, verbose=0), count + 1
    return total / count if count > 1 else total


def view_count(experiment) -> int:
    """How many views of each image the experiment's prediction averages (`test_time_views`)."""
    return (5 if experiment.test_time_shift else 1) * (2 if experiment.test_time_flip else 1)


def test_time_views(x, flip: bool = False, shift: int = 0):
    """The images, shifted by `shift` pixels up, down, left and right, and (`flip`) the mirrors of those,
    one view at a time (ten copies of the training images would not be small)."""
    moves = [(0, 0)] + ([(shift, 0), (-shift, 0), (0, shift), (0, -shift)] if shift else [])
    for mirrored in (False, True) if flip else (False,):
        for dy, dx in moves:
            view = shifted(x, dy, dx)
            yield view[:, :, ::-1] if mirrored else view


def shifted(x, dy: int, dx: int) -> np.ndarray:
    """The images moved `dy` pixels down and `dx` right, the uncovered border mirrored as Keras'
    RandomTranslation fills it (fill_mode "reflect": d c b a | a b c d)."""
    if not (dy or dx):
        return x
    pad = max(abs(dy), abs(dx))
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    height, width = x.shape[1:3]
    return padded[:, pad - dy : pad - dy + height, pad - dx : pad - dx + width]


def probability_metrics(probabilities, y) -> dict:
    """Accuracy and cross-entropy of given probabilities (for the mean of two predictions).

    Not a stand-in for `model.evaluate` on a single view: Keras computes the loss from the
    softmax's logits, which clipped probabilities cannot reproduce for saturated predictions
    (4.17 by Keras, 4.09 from the probabilities, for a model trained on raw pixels).
    """
    picked = np.clip(probabilities[np.arange(len(y)), y], 1e-7, 1.0)
    return {"loss": float(-np.log(picked).mean()), "accuracy": float((probabilities.argmax(axis=1) == y).mean())}
