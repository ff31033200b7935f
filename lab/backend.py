"""Import TensorFlow and Keras once, without their C++ start-up chatter.

TensorFlow writes absl, oneDNN and CUDA-probe messages straight to file descriptor 2
when it loads, before any Python logging setting applies. In a notebook those lines
would land in the book, so the first import runs with that descriptor sent to
/dev/null. Python exceptions are unaffected: they are raised after it is restored.
"""

from __future__ import annotations

import contextlib
import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def _stderr_silenced():
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@functools.cache
def tensorflow():
    """The `tensorflow` module, imported quietly, with its device probe done."""
    with _stderr_silenced():
        import keras  # noqa: F401 - loads its TensorFlow backend now, while quiet
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
    return tf


def keras():
    """The `keras` module, imported quietly."""
    tensorflow()
    import keras as keras_module

    return keras_module
