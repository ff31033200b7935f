"""Loading the two datasets (with provenance), and preparing them for a CNN."""

import gzip
import io
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lab import data

# sha256 of the genuine Fashion-MNIST arrays (shapes, dtypes and bytes), as lab.data.fingerprint computes it.
FASHION_SHA256 = "61af3f0d17defb9efb5d6392c5e8ad0da3f1b7a6ffcf2710eac3ed89b24d635d"


# Class names


def test_fashion_class_names_in_label_order():
    assert data.FASHION_CLASS_NAMES == [
        "T-shirts", "Pantalons", "Pulls", "Robes", "Manteaux",
        "Sandales", "Chemises", "Baskets", "Sacs", "Bottines",
    ]  # fmt: skip


def test_cifar10_class_names_in_label_order():
    assert data.CIFAR10_CLASS_NAMES == [
        "Avion", "Voiture", "Oiseau", "Chat", "Biche",
        "Chien", "Grenouille", "Cheval", "Bateau", "Camion",
    ]  # fmt: skip
    assert data.CLASS_NAMES == {"fashion_mnist": data.FASHION_CLASS_NAMES, "cifar10": data.CIFAR10_CLASS_NAMES}
    assert len(data.CIFAR10_JPEG_CLASSES) == 10 and data.CIFAR10_JPEG_CLASSES[1] == "automobile"


# Preparing the arrays


def test_prepare_grey_images_adds_a_channel_axis():
    x = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    raw = data.prepare_images(x, normalize=False)
    assert raw.shape == (2, 28, 28, 1) and raw.dtype == np.float32
    np.testing.assert_array_equal(raw[..., 0], x.astype(np.float32))
    scaled = data.prepare_images(x, normalize=True)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled[..., 0], x / 255.0, rtol=1e-6)
    assert scaled.max() <= 1.0


def test_prepare_colour_images_keeps_their_channels():
    x = np.full((3, 32, 32, 3), 255, dtype=np.uint8)
    prepared = data.prepare_images(x, normalize=True)
    assert prepared.shape == (3, 32, 32, 3) and prepared.dtype == np.float32
    assert np.all(prepared == 1.0)
    assert np.all(data.prepare_images(x, normalize=False) == 255.0)


def test_prepare_images_refuses_other_shapes():
    with pytest.raises(ValueError, match=r"\(N, H, W\) or \(N, H, W, C\), got \(28, 28\)"):
        data.prepare_images(np.zeros((28, 28), dtype=np.uint8), normalize=True)


def test_prepare_labels_flat_int64():
    y = np.array([[3], [1], [9]], dtype=np.uint8)
    labels = data.prepare_labels(y)
    assert labels.shape == (3,) and labels.dtype == np.int64
    assert list(labels) == [3, 1, 9]
    assert data.prepare_labels(np.array([0, 2], dtype=np.uint8)).shape == (2,)


def test_split_validation_holds_out_the_last_tenth():
    x, y = np.arange(100).reshape(100, 1), np.arange(100)
    (x_train, y_train), (x_val, y_val) = data.split_validation(x, y, 0.1)
    assert len(x_train) == 90 and len(x_val) == 10
    assert list(y_val) == list(range(90, 100))
    np.testing.assert_array_equal(x_train[:, 0], np.arange(90))
    (_, y_train), (_, y_val) = data.split_validation(np.zeros(50000), np.zeros(50000), 0.1)
    assert (len(y_train), len(y_val)) == (45000, 5000)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_split_validation_refuses_a_bad_fraction(fraction):
    with pytest.raises(ValueError, match="between 0 and 1"):
        data.split_validation(np.zeros(10), np.zeros(10), fraction)


def test_load_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; valid: fashion_mnist, cifar10"):
        data.load("mnist")


def test_fingerprint_depends_on_content_shape_and_dtype():
    a = np.arange(6, dtype=np.uint8)
    assert data.fingerprint(a) == data.fingerprint(a.copy())
    assert data.fingerprint(a) != data.fingerprint(a.reshape(2, 3))
    assert data.fingerprint(a) != data.fingerprint(a.astype(np.int16))
    assert data.fingerprint(a) != data.fingerprint(a[::-1])
    assert len(data.fingerprint(a)) == 64


# The real datasets (loaded once per session, see conftest.py)


def test_fashion_shapes_dtypes_and_classes(fashion):
    (x_train, y_train), (x_test, y_test) = fashion
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {x_train.dtype, x_test.dtype, y_train.dtype, y_test.dtype} == {np.dtype(np.uint8)}
    assert list(np.bincount(y_train)) == [6000] * 10
    assert list(np.bincount(y_test)) == [1000] * 10
    assert x_train.mean() == pytest.approx(72.94, abs=0.01)  # shared/datasets/README.md


def test_fashion_provenance(fashion):
    provenance = fashion.provenance
    assert provenance.dataset == "fashion_mnist"
    assert provenance.genuine is True
    assert provenance.source in (data.SOURCE_OFFLINE_GENUINE, data.SOURCE_KERAS_CACHE, data.SOURCE_KERAS_DOWNLOAD)
    assert provenance.pixel_deviation is None
    assert provenance.as_dict()["genuine"] is True


def test_fashion_fingerprint_is_stable(fashion):
    (x_train, y_train), (x_test, y_test) = fashion
    assert fashion.provenance.sha256 == data.fingerprint(x_train, y_train, x_test, y_test)
    assert fashion.provenance.sha256 == FASHION_SHA256


def test_cifar_shapes_dtypes_and_classes(cifar):
    (x_train, y_train), (x_test, y_test) = cifar
    assert x_train.shape == (50000, 32, 32, 3) and x_test.shape == (10000, 32, 32, 3)
    assert y_train.shape == (50000, 1) and y_test.shape == (10000, 1)
    assert {x_train.dtype, x_test.dtype, y_train.dtype, y_test.dtype} == {np.dtype(np.uint8)}
    assert list(np.bincount(y_train.ravel())) == [5000] * 10
    assert list(np.bincount(y_test.ravel())) == [1000] * 10


def test_cifar_provenance(cifar_with_warnings):
    cifar, caught = cifar_with_warnings
    provenance = cifar.provenance
    assert provenance.dataset == "cifar10"
    (x_train, y_train), (x_test, y_test) = cifar
    assert provenance.sha256 == data.fingerprint(x_train, y_train, x_test, y_test)
    if provenance.genuine:
        assert provenance.source != data.SOURCE_OFFLINE_JPEG
        assert caught == []
        return
    # The offline JPEG copy: flagged, measured and warned about, never silently.
    assert provenance.source == data.SOURCE_OFFLINE_JPEG
    assert 5 < provenance.pixel_deviation < 7
    assert "JPEG" in provenance.detail and f"{provenance.pixel_deviation:.2f}/255" in provenance.detail
    assert len(caught) == 1
    assert "NOT the genuine dataset" in str(caught[0].message)


def test_cifar_jpeg_copy_has_the_genuine_labels_and_order(cifar):
    if cifar.provenance.genuine:
        pytest.skip("CIFAR-10 was loaded from the genuine files")
    folder = data.offline_dir() / data.CIFAR10_JPEG_FOLDER
    (x_train, y_train), (x_test, y_test) = cifar
    with np.load(folder / "labels.npz") as labels:
        np.testing.assert_array_equal(y_train.ravel(), labels["y_train"])
        np.testing.assert_array_equal(y_test.ravel(), labels["y_test"])
    with np.load(folder / "genuine-sample.npz") as sample:
        # every sampled image is closest to its genuine counterpart at the same index
        index, genuine = sample["test_index"][:20], sample["x_test"][:20].astype(np.int16)
    copy = x_test.astype(np.int16)
    for i, image in zip(index, genuine, strict=True):
        same = np.abs(copy[i] - image).mean()
        assert same < 13
        neighbours = [np.abs(copy[j] - image).mean() for j in (i - 1, i + 1) if 0 <= j < len(copy)]
        assert same < min(neighbours)


# Seeding the Keras cache, the JPEG rebuild and the error path (fresh Keras home each)


def test_fashion_seeds_a_fresh_keras_cache_from_the_offline_folder(fashion, fresh_keras_home, no_network):
    if not (data.offline_dir() and (data.offline_dir() / "fashion-mnist").is_dir()):
        pytest.skip("no offline Fashion-MNIST folder ($LAB_DATA_DIR/fashion-mnist)")
    assert data.keras_home() == fresh_keras_home
    first = data.load_fashion_mnist()
    assert first.provenance.source == data.SOURCE_OFFLINE_GENUINE
    cache = fresh_keras_home / "datasets" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(data.FASHION_FILES)
    second = data.load_fashion_mnist()
    assert second.provenance.source == data.SOURCE_KERAS_CACHE
    assert first.provenance.sha256 == second.provenance.sha256 == fashion.provenance.sha256


@pytest.mark.parametrize(
    ("load", "name", "subfolder", "url"),
    [
        (data.load_fashion_mnist, "Fashion-MNIST", "fashion-mnist", data.FASHION_URL),
        (data.load_cifar10, "CIFAR-10", "", data.CIFAR10_URL),
    ],
)
def test_no_data_and_no_network(tmp_path, monkeypatch, fresh_keras_home, no_network, load, name, subfolder, url):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("LAB_DATA_DIR", str(empty))
    with pytest.raises(data.DatasetUnavailableError) as raised:
        load()
    message = str(raised.value)
    assert f"{name} is not available" in message
    assert str(empty / subfolder) in message
    assert "LAB_DATA_DIR" in message
    assert url in message


def test_no_offline_folder_at_all(monkeypatch, fresh_keras_home, no_network):
    monkeypatch.delenv("LAB_DATA_DIR", raising=False)
    with pytest.raises(data.DatasetUnavailableError, match=r"none \(\$LAB_DATA_DIR is not set\)"):
        data.load_cifar10()


def test_cifar_genuine_tarball_in_the_offline_folder_seeds_the_keras_cache(tmp_path, monkeypatch, fresh_keras_home):
    import keras

    offline = tmp_path / "offline"
    offline.mkdir()
    (offline / data.CIFAR10_TARBALL).write_bytes(b"stands in for the genuine archive")
    monkeypatch.setenv("LAB_DATA_DIR", str(offline))
    archive = fresh_keras_home / "datasets" / data.CIFAR10_KERAS_ARCHIVE
    tiny = (np.zeros((2, 32, 32, 3), np.uint8), np.zeros((2, 1), np.uint8))

    def load_data():  # keras.datasets.cifar10.load_data, reading the archive that lab put in place
        assert archive.read_bytes() == b"stands in for the genuine archive"
        return tiny, tiny

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", load_data)
    loaded = data.load_cifar10()
    assert loaded.provenance.source == data.SOURCE_OFFLINE_GENUINE
    assert loaded.provenance.genuine is True
    assert data.load_cifar10().provenance.source == data.SOURCE_KERAS_CACHE


def _jpeg(colour) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _colour(split, label, k):
    return (40 + 20 * label, 30 + 50 * k, 60 if split == "train" else 200)


def _fake_jpeg_copy(folder, y_train, y_test):
    """A tiny JPEG copy laid out like shared/datasets/cifar-10-jpeg: one solid colour per file."""
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "images.zip", "w") as archive:
        for split, y in (("train", y_train), ("test", y_test)):
            for label in set(y.tolist()):
                for k in range(int((y == label).sum())):
                    name = f"{split}/{data.CIFAR10_JPEG_CLASSES[label]}/{k:04d}.jpg"
                    archive.writestr(name, _jpeg(_colour(split, label, k)))
    np.savez(folder / "labels.npz", y_train=y_train, y_test=y_test)


Y_TRAIN = np.array([3, 1, 3, 0, 1, 3, 9], dtype=np.uint8)
Y_TEST = np.array([2, 2, 0], dtype=np.uint8)


def _expected_colours(split, y):
    seen, colours = {}, []
    for label in y.tolist():
        colours.append(_colour(split, label, seen.get(label, 0)))
        seen[label] = seen.get(label, 0) + 1
    return np.array(colours)


def test_jpeg_rebuild_reproduces_the_genuine_order(tmp_path):
    folder = tmp_path / "cifar-10-jpeg"
    _fake_jpeg_copy(folder, Y_TRAIN, Y_TEST)
    (x_train, y_train), (x_test, y_test) = data.rebuild_cifar10_from_jpeg(folder / "images.zip", folder / "labels.npz")
    assert x_train.shape == (7, 32, 32, 3) and x_test.shape == (3, 32, 32, 3)
    assert x_train.dtype == x_test.dtype == y_train.dtype == np.uint8
    assert y_train.shape == (7, 1) and y_test.shape == (3, 1)
    np.testing.assert_array_equal(y_train.ravel(), Y_TRAIN)
    np.testing.assert_array_equal(y_test.ravel(), Y_TEST)
    # the k-th image of class c is <split>/<class c>/<kkkk>.jpg: its solid colour says which file it was
    for split, x, y in (("train", x_train, Y_TRAIN), ("test", x_test, Y_TEST)):
        mean_colours = x.reshape(len(x), -1, 3).mean(axis=1)
        np.testing.assert_allclose(mean_colours, _expected_colours(split, y), atol=3)


def test_jpeg_copy_used_when_keras_cannot_download(tmp_path, monkeypatch, fresh_keras_home, no_network):
    offline = tmp_path / "offline"
    _fake_jpeg_copy(offline / data.CIFAR10_JPEG_FOLDER, Y_TRAIN, Y_TEST)
    monkeypatch.setenv("LAB_DATA_DIR", str(offline))
    with pytest.warns(data.NotGenuineDataWarning, match="NOT the genuine dataset"):
        loaded = data.load_cifar10()
    provenance = loaded.provenance
    assert (provenance.source, provenance.genuine) == (data.SOURCE_OFFLINE_JPEG, False)
    assert provenance.pixel_deviation is None  # the fake copy has no genuine-sample.npz
    assert "unmeasured" in provenance.detail
    (x_train, _), (x_test, _) = loaded
    assert x_train.shape == (7, 32, 32, 3) and x_test.shape == (3, 32, 32, 3)
    # the rebuilt arrays are cached in the Keras home, and read from there the next time
    cached = list((fresh_keras_home / "datasets").glob("cifar-10-jpeg-rebuilt-*.npz"))
    assert len(cached) == 1
    monkeypatch.setattr(data, "rebuild_cifar10_from_jpeg", lambda *a: pytest.fail("rebuilt twice"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.NotGenuineDataWarning)
        again = data.load_cifar10()
    assert again.provenance.sha256 == provenance.sha256


def test_measure_deviation(tmp_path):
    x_train = np.full((4, 32, 32, 3), 100, dtype=np.uint8)
    x_test = np.full((2, 32, 32, 3), 50, dtype=np.uint8)
    sample = tmp_path / "genuine-sample.npz"
    np.savez(sample, train_index=np.array([1, 3]), x_train=np.full((2, 32, 32, 3), 106, np.uint8),
             test_index=np.array([0]), x_test=np.full((1, 32, 32, 3), 44, np.uint8))  # fmt: skip
    assert data.measure_deviation(sample, x_train, x_test) == pytest.approx(6.0)
    assert data.measure_deviation(tmp_path / "absent.npz", x_train, x_test) is None


# Damaged files: replaced from a good source, or named


def test_a_truncated_cached_fashion_file_is_replaced_from_the_offline_folder(fashion, fresh_keras_home, no_network):
    offline = data.offline_dir()
    if not (offline and (offline / "fashion-mnist").is_dir()):
        pytest.skip("no offline Fashion-MNIST folder ($LAB_DATA_DIR/fashion-mnist)")
    cache = fresh_keras_home / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for name in data.FASHION_FILES:
        (cache / name).write_bytes((offline / "fashion-mnist" / name).read_bytes())
    damaged = cache / "train-images-idx3-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    loaded = data.load_fashion_mnist()
    assert loaded.provenance.source == data.SOURCE_OFFLINE_GENUINE
    assert damaged.read_bytes() == (offline / "fashion-mnist" / damaged.name).read_bytes()
    assert loaded.provenance.sha256 == fashion.provenance.sha256


def test_a_damaged_cached_fashion_file_without_offline_copy_is_named(tmp_path, monkeypatch, fresh_keras_home,
                                                                   no_network):  # fmt: skip
    monkeypatch.delenv("LAB_DATA_DIR", raising=False)
    cache = fresh_keras_home / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for name in data.FASHION_FILES:
        (cache / name).write_bytes(gzip.compress(b"\0" * 64))
    (cache / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(data.DatasetUnavailableError) as raised:
        data.load_fashion_mnist()
    message = str(raised.value)
    assert str(cache / "t10k-images-idx3-ubyte.gz") in message and "cannot be read" in message
    assert "train-images" not in message


def test_a_damaged_jpeg_archive_is_named_in_a_clear_error(tmp_path):
    folder = tmp_path / "cifar-10-jpeg"
    _fake_jpeg_copy(folder, Y_TRAIN, Y_TEST)
    (folder / "images.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(data.DatasetUnavailableError, match=r"the JPEG copy in .*cifar-10-jpeg cannot be read"):
        data.rebuild_cifar10_from_jpeg(folder / "images.zip", folder / "labels.npz")


def test_two_processes_rebuilding_the_jpeg_cache_at_once_both_succeed(tmp_path, monkeypatch, fresh_keras_home,
                                                                     no_network):  # fmt: skip
    import multiprocessing

    offline = tmp_path / "offline"
    _fake_jpeg_copy(offline / data.CIFAR10_JPEG_FOLDER, Y_TRAIN, Y_TEST)
    monkeypatch.setenv("LAB_DATA_DIR", str(offline))
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_load_cifar_quietly) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    assert len(list((fresh_keras_home / "datasets").glob("cifar-10-jpeg-rebuilt-*.npz"))) == 1
    assert list((fresh_keras_home / "datasets").glob(".*.tmp")) == []  # no temporary file left behind


def _load_cifar_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.NotGenuineDataWarning)
        data.load_cifar10()


@pytest.mark.slow
def test_the_real_jpeg_copy_rebuilds_close_to_the_genuine_sample(shared):
    """Rebuilt from images.zip itself, not read from the cached arrays."""
    folder = shared / "datasets" / data.CIFAR10_JPEG_FOLDER if shared else None
    if folder is None or not folder.is_dir():
        pytest.skip("no offline CIFAR-10 JPEG copy")
    (x_train, y_train), (x_test, y_test) = data.rebuild_cifar10_from_jpeg(folder / "images.zip", folder / "labels.npz")
    assert x_train.shape == (50000, 32, 32, 3) and x_test.shape == (10000, 32, 32, 3)
    deviation = data.measure_deviation(folder / "genuine-sample.npz", x_train, x_test)
    assert 5 < deviation < 7  # JPEG loss, as shared/datasets/README.md measured it (5.77 / 5.80)


def test_without_data_the_dataset_tests_skip_and_ci_fails(tmp_path):
    """A dataset-dependent test on a machine with no data: skipped, or failed under $LAB_REQUIRE_DATA."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "LAB_DATA_DIR": str(tmp_path), "KERAS_HOME": str(tmp_path / "keras"), "LAB_TEST_OFFLINE": "1"}
    env.pop("LAB_REQUIRE_DATA", None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
               "tests/test_data.py::test_fashion_shapes_dtypes_and_classes"]  # fmt: skip
    skipped = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=root)
    assert "1 skipped" in skipped.stdout and "dataset unavailable" in skipped.stdout, skipped.stdout[-1500:]
    env["LAB_REQUIRE_DATA"] = "1"
    failed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=root)
    assert failed.returncode != 0 and "LAB_REQUIRE_DATA" in failed.stdout, failed.stdout[-1500:]


def test_the_training_sample_has_the_same_images_and_labels_with_either_pixels(cifar):
    """Question 3.1's control: one change between its two runs, the pixels of the training images."""
    import lab

    copy, genuine = (data.prepared_data(lab.get(f"cifar-conv6-bn-20-sample-{pixels}"))
                     for pixels in ("copy", "genuine"))  # fmt: skip
    index, x_genuine = data.genuine_sample("train")
    n_fit = len(index) - len(copy[1][0])  # the last tenth validates, as for every model
    assert copy[0][0].shape == genuine[0][0].shape == (n_fit, 32, 32, 3) and n_fit == 4577
    np.testing.assert_array_equal(copy[0][1], genuine[0][1])
    np.testing.assert_array_equal(copy[0][1], data.prepare_labels(cifar[0][1])[index[:n_fit]])
    np.testing.assert_array_equal(genuine[0][0], x_genuine[:n_fit] / np.float32(255))
    np.testing.assert_array_equal(copy[0][0], cifar[0][0][index[:n_fit]] / np.float32(255))
    np.testing.assert_array_equal(copy[2][0], genuine[2][0])  # the same test set: the copy's


# two indices and their images: what `data.genuine_sample` returns, stood in for
GENUINE_SAMPLE = (np.arange(2), np.zeros((2, 32, 32, 3), np.uint8))


def test_the_copy_s_sample_is_given_for_the_copy(monkeypatch):
    monkeypatch.setattr(data, "genuine_sample", lambda split: GENUINE_SAMPLE)
    assert data.copy_sample("train", data.Provenance("cifar10", "copy", False, "0" * 64), "training") is GENUINE_SAMPLE


@pytest.mark.parametrize("genuine, has_sample", [(True, True), (False, False)])
def test_the_copy_s_sample_is_refused_for_genuine_images_or_without_the_sample(monkeypatch, genuine, has_sample):
    monkeypatch.setattr(data, "genuine_sample", lambda split: GENUINE_SAMPLE if has_sample else None)
    provenance = data.Provenance("cifar10", "keras.datasets", genuine, "0" * 64)
    with pytest.raises(data.DatasetUnavailableError, match="training on it needs the JPEG copy and its genuine sample"):
        data.copy_sample("train", provenance, "training on it")
