"""Load and prepare the two datasets of the brief.

`load_fashion_mnist()` and `load_cifar10()` return `(x_train, y_train), (x_test, y_test)`
exactly as `keras.datasets` does, and always go through `keras.datasets` when the genuine
files can be had. The returned pair also carries `.provenance`: where the arrays came
from, whether they are the genuine dataset, and a fingerprint of their content.

Where the network is closed, an offline folder (`$LAB_DATA_DIR`, laid out like
`shared/datasets`) seeds the Keras cache with what Keras would have downloaded. For
CIFAR-10 that folder may hold only a JPEG copy: it is rebuilt in the genuine order and
flagged `genuine: False`, with a warning, never silently.

`prepared_data(experiment)` gives a training what it feeds the network: float images with a
channel axis, integer labels, and the last tenth of the training set held out for validation.

Imports from lab: backend, store (to write files atomically).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io
import os
import shutil
import warnings
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lab import backend
from lab.store import write_atomically

DATA_DIR_VARIABLE = "LAB_DATA_DIR"

FASHION_CLASS_NAMES = [
    "T-shirts", "Pantalons", "Pulls", "Robes", "Manteaux",
    "Sandales", "Chemises", "Baskets", "Sacs", "Bottines",
]  # fmt: skip
CIFAR10_CLASS_NAMES = [
    "Avion", "Voiture", "Oiseau", "Chat", "Biche",
    "Chien", "Grenouille", "Cheval", "Bateau", "Camion",
]  # fmt: skip
CLASS_NAMES = {"fashion_mnist": FASHION_CLASS_NAMES, "cifar10": CIFAR10_CLASS_NAMES}
DISPLAY_NAMES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}

FASHION_FILES = (
    "train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
)  # fmt: skip
FASHION_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_TARBALL = "cifar-10-python.tar.gz"
# Where keras.datasets.cifar10 (Keras 3) looks for the downloaded archive.
CIFAR10_KERAS_ARCHIVE = "cifar-10-batches-py-target_archive"
CIFAR10_JPEG_FOLDER = "cifar-10-jpeg"
# The English folder names of the JPEG copy, in label order.
CIFAR10_JPEG_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

SOURCE_KERAS_DOWNLOAD = "keras download"
SOURCE_KERAS_CACHE = "keras cache"
SOURCE_OFFLINE_GENUINE = "offline genuine"
SOURCE_OFFLINE_JPEG = "offline JPEG copy"
# How the report names each source, in French.
SOURCE_NAMES_FR = {
    SOURCE_KERAS_DOWNLOAD: "téléchargement par Keras",
    SOURCE_KERAS_CACHE: "cache de Keras",
    SOURCE_OFFLINE_GENUINE: "copie hors ligne authentique",
    SOURCE_OFFLINE_JPEG: "copie JPEG hors ligne",
}


class DatasetUnavailableError(RuntimeError):
    """Neither the network nor an offline folder could provide the dataset."""


class NotGenuineDataWarning(UserWarning):
    """The arrays are a lossy copy of the dataset, not the dataset itself."""


@dataclass(frozen=True)
class Provenance:
    dataset: str
    source: str
    genuine: bool
    sha256: str
    detail: str = ""
    # Mean absolute difference from the genuine pixels, in 0-255 units, where measured.
    pixel_deviation: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class LoadedDataset(tuple):
    """`((x_train, y_train), (x_test, y_test))`, plus the `provenance` of the arrays."""

    provenance: Provenance

    def __new__(cls, train, test, provenance: Provenance):
        loaded = super().__new__(cls, (train, test))
        loaded.provenance = provenance
        return loaded


# Setup


def keras_home() -> Path:
    """The folder Keras caches downloads in (`$KERAS_HOME`, else ~/.keras)."""
    backend.keras()
    from keras.src.backend import config

    return Path(os.path.expanduser(config.keras_home()))


def offline_dir() -> Path | None:
    value = os.environ.get(DATA_DIR_VARIABLE)
    return Path(value).expanduser() if value else None


def fingerprint(*arrays: np.ndarray) -> str:
    """sha256 over the shapes, dtypes and bytes of the arrays."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _unavailable(dataset: str, url: str, looked_in: list[Path], reason: str) -> DatasetUnavailableError:
    folders = ", ".join(str(p) for p in looked_in) or f"none (${DATA_DIR_VARIABLE} is not set)"
    return DatasetUnavailableError(
        f"{dataset} is not available: {reason}.\n"
        f"  Keras downloads it from {url}, which could not be reached.\n"
        f"  Offline folders searched: {folders}.\n"
        f"  Fix: connect to the internet, or set {DATA_DIR_VARIABLE} to a folder laid out like "
        f"shared/datasets (see README.md)."
    )


def _loaded(dataset, train, test, source, genuine, detail="", pixel_deviation=None):
    provenance = Provenance(dataset, source, genuine, fingerprint(*train, *test), detail, pixel_deviation)
    return LoadedDataset(train, test, provenance)


# Fashion-MNIST


def load_fashion_mnist() -> LoadedDataset:
    """Fashion-MNIST through `keras.datasets`, seeding its cache from the offline folder.

    A cached file that differs from the offline copy (truncated, damaged) is replaced by
    it; a cached file that cannot be read, with no offline copy to replace it, is named.
    """
    fashion_mnist = backend.keras().datasets.fashion_mnist

    cache = keras_home() / "datasets" / "fashion-mnist"
    source = _seed_fashion(cache)
    try:
        with _quiet_keras_download():
            train, test = fashion_mnist.load_data()
    except Exception as error:
        offline = [path for folder in _offline_candidates("fashion-mnist")
                   for path in _damaged_gzip_files(folder)]  # fmt: skip
        if offline:  # copied into the cache as they were: the copies are not to blame
            raise DatasetUnavailableError(
                f"Fashion-MNIST: the offline file(s) {', '.join(map(str, offline))} in ${DATA_DIR_VARIABLE} cannot "
                "be read (truncated or damaged). Replace them with good copies of the genuine files "
                "(see shared/datasets/README.md), and load again."
            ) from None
        damaged = _damaged_gzip_files(cache)
        if damaged:
            raise DatasetUnavailableError(
                f"Fashion-MNIST: the cached file(s) {', '.join(map(str, damaged))} cannot be read "
                f"(truncated or damaged). Delete them, or set {DATA_DIR_VARIABLE} to a folder holding good "
                "copies (see README.md), and load again."
            ) from None
        raise _unavailable("Fashion-MNIST", FASHION_URL, _offline_candidates("fashion-mnist"), str(error)) from None
    return _loaded("fashion_mnist", train, test, source, genuine=True)


def _all_exist(folder: Path, names) -> bool:
    return all((folder / name).is_file() for name in names)


def _offline_candidates(subfolder: str) -> list[Path]:
    root = offline_dir()
    return [root / subfolder] if root else []


def _seed_fashion(cache: Path) -> str:
    """Make the Keras cache hold the offline files, byte for byte; say where the data comes from."""
    for folder in _offline_candidates("fashion-mnist"):
        if _all_exist(folder, FASHION_FILES):
            stale = [name for name in FASHION_FILES if not _same_file(folder / name, cache / name)]
            if not stale:
                return SOURCE_KERAS_CACHE
            cache.mkdir(parents=True, exist_ok=True)
            for name in stale:
                _copy_atomically(folder / name, cache / name)
            return SOURCE_OFFLINE_GENUINE
    return SOURCE_KERAS_CACHE if _all_exist(cache, FASHION_FILES) else SOURCE_KERAS_DOWNLOAD


def _same_file(source: Path, copy: Path) -> bool:
    if not copy.is_file() or copy.stat().st_size != source.stat().st_size:
        return False
    return _file_digest(source) == _file_digest(copy)


def _damaged_gzip_files(folder: Path) -> list[Path]:
    """The .gz files of Fashion-MNIST in `folder` that cannot be decompressed to the end."""
    damaged = []
    for name in FASHION_FILES:
        path = folder / name
        if path.is_file():
            try:
                with gzip.open(path) as file:
                    while file.read(1 << 20):
                        pass
            except (OSError, EOFError, zlib.error):
                damaged.append(path)
    return damaged


def _copy_atomically(source: Path, target: Path) -> None:
    with open(source, "rb") as original:
        write_atomically(target, lambda copy: shutil.copyfileobj(original, copy))


# CIFAR-10


def load_cifar10() -> LoadedDataset:
    """CIFAR-10 through `keras.datasets`; the offline JPEG copy only where Keras cannot."""
    cifar10 = backend.keras().datasets.cifar10

    archive = keras_home() / "datasets" / CIFAR10_KERAS_ARCHIVE
    source = SOURCE_KERAS_CACHE if archive.is_file() else _seed_cifar10_tarball(archive)
    try:
        with _quiet_keras_download():
            train, test = cifar10.load_data()
        return _loaded("cifar10", train, test, source, genuine=True)
    except Exception as error:
        keras_error = str(error).splitlines()[0] if str(error) else type(error).__name__
    jpeg_folder = next((f for f in _offline_candidates(CIFAR10_JPEG_FOLDER) if f.is_dir()), None)
    if jpeg_folder is None:
        looked_in = _offline_candidates("")
        raise _unavailable("CIFAR-10", CIFAR10_URL, looked_in, f"keras.datasets failed ({keras_error})")
    return _load_cifar10_jpeg_copy(jpeg_folder)


@contextlib.contextmanager
def _quiet_keras_download():
    """Keep Keras' "Downloading data from ..." line and progress bar out of notebooks.

    A failed download is reported by our own error or warning instead.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _seed_cifar10_tarball(archive: Path) -> str:
    """Put the genuine tarball where Keras looks, if the offline folder has it."""
    for folder in _offline_candidates(""):
        for candidate in (folder / CIFAR10_TARBALL, folder / "cifar-10" / CIFAR10_TARBALL):
            if candidate.is_file():
                archive.parent.mkdir(parents=True, exist_ok=True)
                _copy_atomically(candidate, archive)  # Keras checks its sha256
                return SOURCE_OFFLINE_GENUINE
    return SOURCE_KERAS_DOWNLOAD


def _load_cifar10_jpeg_copy(folder: Path) -> LoadedDataset:
    """Rebuild CIFAR-10 from the JPEG copy, cached as arrays after the first time."""
    train, test = _cached_jpeg_arrays(folder)
    deviation = measure_deviation(folder / "genuine-sample.npz", train[0], test[0])
    measured = f"{deviation:.2f}/255" if deviation is not None else "an unmeasured amount"
    detail = (
        f"rebuilt from {folder} (JPEG files, genuine labels and order); pixels differ from "
        f"the genuine dataset by {measured} on average (JPEG compression loss)"
    )
    warnings.warn(
        f"CIFAR-10 loaded from the offline JPEG copy, NOT the genuine dataset: {detail}.",
        NotGenuineDataWarning,
        stacklevel=3,
    )
    return _loaded("cifar10", train, test, SOURCE_OFFLINE_JPEG, False, detail, deviation)


def measure_deviation(sample_npz: Path, x_train: np.ndarray, x_test: np.ndarray) -> float | None:
    """Mean absolute pixel difference (0-255) between the copy and the genuine sample images."""
    if not sample_npz.is_file():
        return None
    with np.load(sample_npz) as sample:
        train = np.abs(x_train[sample["train_index"]].astype(np.int16) - sample["x_train"])
        test = np.abs(x_test[sample["test_index"]].astype(np.int16) - sample["x_test"])
    return float(np.concatenate([train.ravel(), test.ravel()]).mean())


def genuine_sample(split: str = "test") -> tuple[np.ndarray, np.ndarray] | None:
    """The genuine pixels of the first CIFAR-10 images of each batch file that the JPEG copy's folder keeps, for
    `split` ("train" or "test"): (their indices in that set, x uint8 (N, 32, 32, 3)); None where no offline folder
    has them."""
    for folder in _offline_candidates(CIFAR10_JPEG_FOLDER):
        if (folder / "genuine-sample.npz").is_file():
            with np.load(folder / "genuine-sample.npz") as sample:
                return sample[f"{split}_index"], sample[f"x_{split}"]
    return None


def copy_sample(split: str, provenance: Provenance, purpose: str) -> tuple[np.ndarray, np.ndarray]:
    """`genuine_sample(split)`, for a computation (`purpose`, said in the error) that compares the JPEG copy's pixels
    with the genuine ones: refused where the images loaded are genuine, or where no offline folder has the sample."""
    sample = genuine_sample(split)
    if provenance.genuine or sample is None:
        raise DatasetUnavailableError(
            f"{purpose} needs the JPEG copy and its genuine sample (genuine-sample.npz in "
            f"${DATA_DIR_VARIABLE}/{CIFAR10_JPEG_FOLDER}); the CIFAR-10 images loaded are "
            f"{'genuine' if provenance.genuine else 'the copy, without its sample'}")
    return sample


def _train_sample(train, provenance: Provenance, pixels: str):
    """The training images whose genuine pixels we have, with the copy's pixels or the genuine ones."""
    index, x_genuine = copy_sample("train", provenance, f"training on CIFAR-10's sample with the {pixels} pixels")
    return (x_genuine if pixels == "genuine" else train[0][index]), train[1][index]


def _cached_jpeg_arrays(folder: Path):
    key = _file_digest(folder / "images.zip", folder / "labels.npz")[:16]
    cache = keras_home() / "datasets" / f"cifar-10-jpeg-rebuilt-{key}.npz"
    if cache.is_file():
        with np.load(cache) as arrays:
            return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
    train, test = rebuild_cifar10_from_jpeg(folder / "images.zip", folder / "labels.npz")
    cache.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name of its own: two processes rebuilding at once each write their own file,
    # then rename it into place (both hold the same arrays, so either one may win).
    arrays = {"x_train": train[0], "y_train": train[1], "x_test": test[0], "y_test": test[1]}
    write_atomically(cache, lambda file: np.savez(file, **arrays))
    return train, test


def _file_digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def rebuild_cifar10_from_jpeg(images_zip: Path, labels_npz: Path):
    """Arrays in the layout and order of `keras.datasets.cifar10.load_data()`.

    Within a split, the k-th image of class c in the genuine order is the file
    `<split>/<class c>/<k as 4 digits>.jpg` (see shared/datasets/README.md).
    """
    from PIL import Image

    try:
        with np.load(labels_npz) as labels, zipfile.ZipFile(images_zip) as archive:
            return _rebuild(labels, archive, Image)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise DatasetUnavailableError(
            f"CIFAR-10: the JPEG copy in {images_zip.parent} cannot be read ({type(error).__name__}: {error}). "
            f"Replace images.zip and labels.npz with good copies (see shared/datasets/README.md)."
        ) from None


def _rebuild(labels, archive, Image):
    """Walk each split's genuine label sequence, taking the next JPEG file of that class."""
    splits = []
    for split, key in (("train", "y_train"), ("test", "y_test")):
        y = labels[key].astype(np.uint8)
        x = np.empty((len(y), 32, 32, 3), dtype=np.uint8)
        seen = np.zeros(len(CIFAR10_JPEG_CLASSES), dtype=int)
        for i, label in enumerate(y):
            name = f"{split}/{CIFAR10_JPEG_CLASSES[label]}/{seen[label]:04d}.jpg"
            seen[label] += 1
            with Image.open(io.BytesIO(archive.read(name))) as image:
                x[i] = np.asarray(image.convert("RGB"))
        splits.append((x, y.reshape(-1, 1)))
    return splits[0], splits[1]


# Prepare the data for a CNN


def load(dataset: str) -> LoadedDataset:
    """Load a dataset of the brief by its name in `lab.experiments.DATASETS`."""
    loaders = {"fashion_mnist": load_fashion_mnist, "cifar10": load_cifar10}
    if dataset not in loaders:
        raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(loaders)}")
    return loaders[dataset]()


def prepare_images(x: np.ndarray, normalize: bool) -> np.ndarray:
    """float32 images with a channel axis, divided by 255 when `normalize`."""
    if x.ndim == 3:
        x = x[..., np.newaxis]  # grey images get their single channel
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (N, H, W) or (N, H, W, C), got {x.shape}")
    x = x.astype("float32")
    return x / 255.0 if normalize else x


def prepare_labels(y: np.ndarray) -> np.ndarray:
    """Integer class indices of shape (N,): what sparse_categorical_crossentropy expects."""
    return np.asarray(y).reshape(-1).astype("int64")


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float = 0.1):
    """Hold out the last `fraction` of the training set for validation.

    The same rule as Keras' `validation_split` (last samples, before any shuffling):
    deterministic and independent of the seed, so every model is validated on the
    same images, and the test set stays untouched until the final evaluation. Both
    datasets are stored in no particular class order, so the tail is balanced.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be between 0 and 1, got {fraction}")
    cut = len(x) - int(round(len(x) * fraction))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


@functools.lru_cache(maxsize=2)
def load_cached(dataset: str) -> LoadedDataset:
    """`load(dataset)`, once per process (the two last datasets are kept)."""
    return load(dataset)


def prepared_data(experiment):
    """(x_train, y_train), (x_val, y_val), (x_test, y_test), provenance, for a CNN.

    The dataset is loaded once per process (the two last datasets are kept). An experiment's `train_sample` keeps
    only CIFAR-10's training images whose genuine pixels we have, with the copy's pixels or the genuine ones (the
    validation is the last tenth of those; the test set is the copy's whole); `provenance` is the loaded dataset's.
    """
    loaded = load_cached(experiment.dataset)
    (x_train, y_train), (x_test, y_test) = loaded
    if experiment.train_sample:
        x_train, y_train = _train_sample((x_train, y_train), loaded.provenance, experiment.train_sample)
    if experiment.train_limit:
        x_train, y_train = x_train[: experiment.train_limit], y_train[: experiment.train_limit]
    x_train, x_test = (prepare_images(x, experiment.normalize) for x in (x_train, x_test))
    y_train, y_test = prepare_labels(y_train), prepare_labels(y_test)
    train, val = split_validation(x_train, y_train, experiment.validation_fraction)
    return train, val, (x_test, y_test), loaded.provenance
