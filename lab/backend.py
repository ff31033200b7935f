"""Import TensorFlow and Keras once, without their C++ start-up chatter.

TensorFlow writes absl, oneDNN and CUDA-probe messages straight to file descriptor 2
when it loads, before any Python logging setting applies. In a notebook those lines
would land in the book, so the first import runs with that descriptor sent to
/dev/null. Python exceptions are unaffected: they are raised after it is restored.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import sys
import threading

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


# TensorFlow's C++ log lines that are known to be harmless. TF 2.21's tf.data runtime
# reads graphs that carry an attribute its own op definitions lack, and logs it as an
# error at every `fit` ("NodeDef mentions attribute use_unbounded_threadpool which is not
# in the op definition ... This may be expected if your graph generating binary is
# newer than this binary. Unknown attributes will be ignored."). Nothing else is hidden.
BENIGN_NATIVE_LOG = re.compile(rb"NodeDef mentions attribute use_unbounded_threadpool which is not in the op")


@contextlib.contextmanager
def benign_native_logs_hidden(pattern: re.Pattern = BENIGN_NATIVE_LOG):
    """Drop the known-harmless lines that native code writes to file descriptor 2; keep the rest.

    Python's own `sys.stderr` (warnings, progress bars) keeps writing to the terminal
    directly; only what C++ writes to descriptor 2 passes through the filter, line by line.
    """
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    python_stderr = sys.stderr
    sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(saved), "wb", buffering=0), write_through=True,
                                  encoding=getattr(python_stderr, "encoding", None) or "utf-8")  # fmt: skip
    os.dup2(write_end, 2)
    os.close(write_end)
    forwarder = threading.Thread(target=_forward_lines, args=(read_end, saved, pattern), daemon=True)
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the forwarder reads to the end
        forwarder.join(timeout=5)
        sys.stderr.close()
        sys.stderr = python_stderr
        os.close(saved)


def _forward_lines(read_end: int, target: int, pattern: re.Pattern) -> None:
    with os.fdopen(read_end, "rb") as pipe:
        for line in pipe:
            if not pattern.search(line):
                os.write(target, line)
