"""Import TensorFlow and Keras once, without their C++ start-up chatter; the facts of this machine; seeding.

TensorFlow writes absl, oneDNN and CUDA-probe messages straight to file descriptor 2
when it loads, before any Python logging setting applies. In a notebook those lines
would land in the book, so the first import runs with that descriptor sent to
/dev/null. Python exceptions are unaffected: they are raised after it is restored.

The machine's facts that a run records (`environment`, `cpu_flags`) live here too, with the
seeding of a training (`set_seed`, `check_seed`).

Imports from lab: nothing (every other module may import this one).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import platform
import re
import sys
import threading
from pathlib import Path

import numpy as np

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


# Seeding

MAX_SEED = 2**32 - 1  # what `keras.utils.set_random_seed` (and NumPy's legacy seeding) accepts


class SeedError(ValueError):
    """A seed that no training can use."""


def check_seed(experiment, seed: int) -> None:
    """Refuse a seed outside 0 to `MAX_SEED`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise SeedError(f"{experiment.name} seed {seed}: a seed is a whole number between 0 and 2**32 - 1, "
                        f"got {seed!r}")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (`keras.utils.set_random_seed`), with TensorFlow's op determinism."""
    keras_module, tf = keras(), tensorflow()

    keras_module.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


# The machine

# The instruction sets that decide how fast TensorFlow trains on a CPU: two machines that both call
# themselves "AMD EPYC" differed by 3 to 4.6 times in float32 (see README.md).
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_flags(cpuinfo: str | None = None) -> list[str]:
    """The `SPEED_FLAGS` this CPU has, from the text of /proc/cpuinfo (read if not given; [] if unreadable)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    line = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    present = set(line.partition(":")[2].split())
    return [flag for flag in SPEED_FLAGS if flag in present]


def environment() -> dict:
    """The versions, machine and thread settings a run records."""
    keras_module, tf = keras(), tensorflow()

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras_module.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_flags": cpu_flags(),
        "cpu_count": os.cpu_count(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "gpus": [gpu.name for gpu in tf.config.list_physical_devices("GPU")],
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        return names[0] if names else platform.processor()
    except OSError:
        return platform.processor()
