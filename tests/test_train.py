"""Training end to end, on a tiny slice of Fashion-MNIST: the stored run and its reproducibility."""

import json

import numpy as np
import pytest

from lab import data, params, store, train
from lab.experiments import get

pytestmark = pytest.mark.slow

TINY = get("fashion-base").replace(epochs=1, train_limit=600)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, fashion):
    """One epoch on 540 training images (60 held out for validation), stored and read back."""
    root = tmp_path_factory.mktemp("results")
    epochs = []
    run = train.train(TINY, seed=0, root=root, on_epoch=lambda epoch, logs: epochs.append((epoch, dict(logs))))
    return run, root, epochs


def test_a_training_starts_from_the_weights_of_the_untrained_model_of_its_seed(tmp_path, fashion):
    from lab import probes

    # a rate so small that one epoch leaves the weights where they started (q-5-2 measures how far they moved)
    still = TINY.replace(learning_rate=1e-12)
    run = train.train(still, seed=3, root=tmp_path)
    for start, trained in zip(probes.untrained_model(still, 3).get_weights(), run.weights(), strict=True):
        np.testing.assert_allclose(trained, start, atol=1e-6)
    assert not np.allclose(probes.untrained_model(still, 4).get_weights()[0], run.weights()[0])


def test_train_stores_a_run_that_reads_back(tiny_run):
    run, root, _ = tiny_run
    assert run.folder == root / "fashion-base" / "seed-0"
    loaded = store.load("fashion-base", 0, root=root)
    assert loaded.record == run.record
    assert loaded.record == json.loads((run.folder / "run.json").read_text())
    assert store.status(TINY, 0, root=root) == store.PRESENT
    # stored under the name of the full experiment, but with another configuration
    assert store.status(get("fashion-base"), 0, root=root) == store.STALE


def test_run_json_contents(tiny_run):
    run, _, _ = tiny_run
    record = run.record
    assert record["experiment"] == "fashion-base" and record["seed"] == 0
    assert record["config"] == TINY.config()
    assert record["config_hash"] == TINY.config_hash()
    provenance = record["data"]
    assert provenance["dataset"] == "fashion_mnist"
    assert provenance["genuine"] is True
    assert provenance["source"] in (data.SOURCE_OFFLINE_GENUINE, data.SOURCE_KERAS_CACHE, data.SOURCE_KERAS_DOWNLOAD)
    assert len(provenance["sha256"]) == 64
    assert (provenance["train_size"], provenance["val_size"], provenance["test_size"]) == (540, 60, 10000)
    assert record["params_total"] == record["params_expected"] == params.count_params(TINY) == 244298
    for split in ("train", "val", "test"):
        metrics = record["metrics"][split]
        assert set(metrics) == {"loss", "accuracy"}
        assert metrics["loss"] > 0 and 0 <= metrics["accuracy"] <= 1
    assert len(record["history"]) == 1
    assert set(record["history"][0]) == {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    assert record["history"][0]["seconds"] > 0
    assert record["wall_seconds"] >= record["history"][0]["seconds"]
    environment = record["environment"]
    for key in ("python", "tensorflow", "keras", "cpu"):
        assert environment[key]
    assert environment["keras"].startswith("3.")
    assert environment["cpu_flags"] == train.cpu_flags()  # what tells two "AMD EPYC" machines apart
    assert record["created"].endswith("+00:00")
    assert record["predictions"].startswith("predictions-")


def test_data_provenance_matches_the_loaded_dataset(tiny_run, fashion):
    run, _, _ = tiny_run
    assert run["data"]["sha256"] == fashion.provenance.sha256


def test_predictions_cover_the_whole_test_set(tiny_run, fashion):
    run, _, _ = tiny_run
    assert run.probabilities.shape == (10000, 10)
    np.testing.assert_allclose(run.probabilities.sum(axis=1), 1, atol=1e-2)  # float16 on disk
    np.testing.assert_array_equal(run.y_true, fashion[1][1])
    assert run.y_pred.shape == (10000,)
    assert (run.y_pred == run.y_true).mean() == pytest.approx(run.accuracy("test"), abs=2e-3)


def test_on_epoch_reports_each_epoch(tiny_run):
    run, _, epochs = tiny_run
    assert [epoch for epoch, _ in epochs] == [1]
    logs = epochs[0][1]
    assert logs["loss"] == pytest.approx(run.history.loc[1, "loss"])
    assert logs["val_accuracy"] == pytest.approx(run.history.loc[1, "val_accuracy"])


def test_same_seed_same_history(tiny_run, tmp_path):
    first, _, _ = tiny_run
    second = train.train(TINY, seed=0, root=tmp_path)
    assert second.record["history"][0]["loss"] == first.record["history"][0]["loss"]
    assert second.record["history"][0]["val_loss"] == first.record["history"][0]["val_loss"]
    assert second.record["metrics"] == first.record["metrics"]
    np.testing.assert_array_equal(second.probabilities, first.probabilities)


def test_prepared_data(fashion):
    (x_train, y_train), (x_val, y_val), (x_test, y_test), provenance = train.prepared_data(TINY)
    assert x_train.shape == (540, 28, 28, 1) and x_val.shape == (60, 28, 28, 1)
    assert x_test.shape == (10000, 28, 28, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.max() == 255.0  # fashion-base keeps raw 0-255 inputs, as the brief asks
    np.testing.assert_array_equal(y_val, fashion[0][1][540:600])
    assert provenance.sha256 == fashion.provenance.sha256
    normalized = train.prepared_data(TINY.replace(normalize=True))
    assert normalized[0][0].max() == 1.0


def test_unknown_optimizer():
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'; valid: adam, sgd, rmsprop"):
        train.compile_model(TINY.replace(optimizer="adagrad"), model=None)


def test_another_seed_gives_another_run(tiny_run, tmp_path):
    first, _, _ = tiny_run
    other = train.train(TINY, seed=1, root=tmp_path)
    assert other.record["history"][0]["loss"] != first.record["history"][0]["loss"]
    assert not np.array_equal(other.probabilities, first.probabilities)


def test_the_same_seed_in_another_process_gives_the_same_run(tiny_run, tmp_path):
    import os
    import subprocess
    import sys

    first, _, _ = tiny_run
    code = ("import sys; from pathlib import Path; from lab import train; from lab.experiments import get; "
            "experiment = get('fashion-base').replace(epochs=1, train_limit=600); "
            "train.train(experiment, seed=0, root=Path(sys.argv[1]))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, timeout=300,
                          env=os.environ.copy())  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    again = store.load("fashion-base", 0, root=tmp_path)
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in again["history"]] == [
        {k: v for k, v in row.items() if k != "seconds"} for row in first["history"]
    ]
    assert again["predictions"] == first["predictions"]


def test_each_epoch_sees_a_new_order_of_the_training_images(monkeypatch, tmp_path, fashion):
    from lab.backend import keras

    seen = []  # the labels fed to each fit, in the order fed
    original = keras().Model.fit

    def spy(self, x, y, **kwargs):
        seen.append((kwargs["initial_epoch"], kwargs["shuffle"], np.asarray(y).copy()))
        return original(self, x, y, **kwargs)

    monkeypatch.setattr(keras().Model, "fit", spy)
    experiment = TINY.replace(epochs=3)
    train.train(experiment, seed=0, root=tmp_path)
    (_, y_train), _, _, _ = train.prepared_data(experiment)
    assert [(epoch, shuffled) for epoch, shuffled, _ in seen] == [(0, False), (1, False), (2, False)]
    for epoch, _, labels in seen:  # the order is the one drawn from (seed, epoch)
        np.testing.assert_array_equal(labels, y_train[train.batch_order(0, epoch, len(y_train))])
    assert not np.array_equal(train.batch_order(0, 0, 540), train.batch_order(0, 1, 540))
    assert not np.array_equal(seen[0][2], seen[1][2])


def test_the_batch_order_depends_on_the_seed_and_the_epoch_alone():
    order = train.batch_order(3, 7, 1000)
    assert sorted(order) == list(range(1000))
    np.testing.assert_array_equal(order, train.batch_order(3, 7, 1000))
    assert not np.array_equal(order, train.batch_order(4, 7, 1000))
    assert not np.array_equal(order, train.batch_order(3, 8, 1000))
    # pinned: the same permutation on every machine and NumPy version that keeps PCG64
    assert list(train.batch_order(0, 0, 8)) == list(np.random.default_rng([0, 0]).permutation(8))


def test_a_run_records_its_procedure_and_its_folder_is_marked(tiny_run):
    run, root, _ = tiny_run
    assert run["procedure"] == store.PROCEDURE == 2
    assert store.procedure(root) == 2
    assert json.loads((root / store.PROCEDURE_FILE).read_text())["procedure"] == 2


def test_a_run_of_the_old_procedure_is_stale(tiny_run, tmp_path):
    import shutil

    run, root, _ = tiny_run
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    record = json.loads((copy / "fashion-base" / "seed-0" / "run.json").read_text())
    del record["procedure"]  # as the runs trained with one batch order for all epochs
    (copy / "fashion-base" / "seed-0" / "run.json").write_text(json.dumps(record))
    assert store.status(TINY, 0, root=copy) == store.STALE
    (copy / store.PROCEDURE_FILE).write_text('{"procedure": 1}')  # in a folder of that procedure, it is fresh
    assert store.status(TINY, 0, root=copy) == store.PRESENT
    # and a folder of procedure 1 is never trained into
    with pytest.raises(store.ResultsNotWritableError, match="procedure 1.*procedure 2"):
        train.train(TINY, seed=1, root=copy)


def test_the_seed_makes_tensorflow_deterministic():
    """Checked in a fresh process: once enabled, op determinism stays on for the whole test session."""
    import os
    import subprocess
    import sys

    code = ("from lab import train; from tensorflow.python.framework import config; "
            "print(config.is_op_determinism_enabled()); train.set_seed(3); "
            "print(config.is_op_determinism_enabled())")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=os.environ.copy())  # fmt: skip
    assert done.stdout.strip().splitlines()[-2:] == ["False", "True"], done.stderr[-2000:]


def test_weight_decay_and_the_cosine_schedule_are_compiled():
    from lab.backend import keras
    from tests.test_experiments import STRONGER

    model = train.models.build(STRONGER)
    train.compile_model(STRONGER, model, steps_per_epoch=100)
    assert isinstance(model.optimizer, keras().optimizers.AdamW)
    assert model.optimizer.weight_decay == pytest.approx(5e-4)
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, keras().optimizers.schedules.CosineDecay) and schedule.decay_steps == 1000
    with pytest.raises(ValueError, match="needs the number of steps per epoch"):
        train.compile_model(STRONGER, model)


def test_sgd_has_nesterov_momentum_and_its_own_weight_decay():
    from lab.backend import keras
    from tests.test_experiments import STRONGER

    sgd = STRONGER.replace(optimizer="sgd", learning_rate=0.1, momentum=0.9, weight_decay=5e-3)
    optimizer = train.optimizer(sgd, 0.1)
    assert isinstance(optimizer, keras().optimizers.SGD) and optimizer.nesterov
    assert (optimizer.momentum, optimizer.weight_decay) == (pytest.approx(0.9), pytest.approx(5e-3))
    plain = train.optimizer(sgd.replace(momentum=0.0, weight_decay=0.0), 0.1)
    assert (plain.momentum, plain.nesterov, plain.weight_decay) == (0.0, False, None)
    assert type(train.optimizer(STRONGER.replace(weight_decay=0.0), 1e-3)) is keras().optimizers.Adam
    with pytest.raises(ValueError, match="weight decay is implemented with AdamW and SGD, not rmsprop"):
        train.optimizer(STRONGER.replace(optimizer="rmsprop"), 1e-3)
    with pytest.raises(ValueError, match="unknown optimizer 'lion'"):
        train.optimizer(STRONGER.replace(optimizer="lion"), 1e-3)


def test_sgd_weight_decay_shrinks_each_weight_by_the_rate_times_the_decay():
    """Keras' decoupled decay: one step with a zero gradient multiplies a weight by 1 - rate × decay."""
    from lab.backend import keras

    sgd = TINY.replace(optimizer="sgd", momentum=0.9, weight_decay=5e-3)
    optimizer = train.optimizer(sgd, 0.1)
    weight = keras().Variable([2.0])
    optimizer.apply([keras().ops.zeros((1,))], [weight])
    assert float(weight.numpy()[0]) == pytest.approx(2.0 * (1 - 0.1 * 5e-3))


def test_the_validation_predictions_and_the_weights_are_stored(tiny_run, fashion):
    run, root, _ = tiny_run
    probabilities, y_val = run.validation
    assert probabilities.shape == (60, 10)
    np.testing.assert_array_equal(y_val, fashion[0][1][540:600])
    assert run.history.loc[1, "val_accuracy"] == pytest.approx((probabilities.argmax(1) == y_val).mean(), abs=0.02)
    assert run["weights"].startswith("weights-") and (run.folder / run["weights"]).is_file()
    assert sum(w.size for w in run.weights()) == params.count_params(TINY)


def test_the_stored_weights_give_back_the_stored_predictions(tiny_run, monkeypatch):
    import lab

    run, root, _ = tiny_run
    monkeypatch.setenv(store.RESULTS_DIR_VARIABLE, str(root))
    monkeypatch.setattr(lab, "get", lambda name: TINY)
    model = lab.trained_model("fashion-base")
    (_, _), (_, _), (x_test, _), _ = train.prepared_data(TINY)
    probabilities = model.predict(x_test[:500], batch_size=500, verbose=0)
    np.testing.assert_allclose(probabilities, run.probabilities[:500], atol=2e-3)  # float16 on disk


def test_a_run_without_weights_says_how_to_get_them(tiny_run, monkeypatch, tmp_path):
    import lab

    run, _, _ = tiny_run
    record = {key: value for key, value in run.record.items() if key != "weights"}
    store.save(record, run.probabilities, run.y_true, tmp_path)
    monkeypatch.setenv(store.RESULTS_DIR_VARIABLE, str(tmp_path))
    monkeypatch.setattr(lab, "get", lambda name: TINY)
    with pytest.raises(lab.StoredResultError, match="has no weights .* lab train fashion-base --seeds 0"):
        lab.trained_model("fashion-base")


def test_mixed_precision_trains_in_bfloat16_with_float32_weights_and_output(tmp_path, fashion):
    experiment = TINY.replace(precision="mixed_bfloat16", normalize=True)
    model = train.models.build(experiment)
    convs = [layer for layer in model.layers if layer.name.startswith("conv2d")]
    assert {layer.compute_dtype for layer in convs} == {"bfloat16"}
    assert {w.dtype for w in model.weights} == {"float32"}
    assert model.layers[-1].compute_dtype == "float32"
    run = train.train(experiment, seed=0, root=tmp_path)
    reference = train.train(experiment.replace(precision="float32"), seed=0, root=tmp_path / "float32")
    assert run.accuracy("test") == pytest.approx(reference.accuracy("test"), abs=0.05)  # learns as well
    assert run.accuracy("test") != reference.accuracy("test")  # but computed otherwise
    assert train.models.build(TINY).layers[0].compute_dtype == "float32"  # no global policy left behind


def test_the_stored_metrics_are_those_keras_evaluates(tiny_run):
    run, _, _ = tiny_run
    model = train.models.build(TINY)
    model.set_weights(run.weights())
    train.compile_model(TINY, model, steps_per_epoch=1)
    (x_train, y_train), (x_val, y_val), (x_test, y_test), _ = train.prepared_data(TINY)
    for split, (x, y) in {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}.items():
        loss, accuracy = model.evaluate(x, y, batch_size=512, verbose=0)
        assert run["metrics"][split] == pytest.approx({"loss": loss, "accuracy": accuracy}, rel=1e-5)


SMOOTHED = TINY.replace(name="tiny-smoothed", label_smoothing=0.2)


def test_the_smoothed_loss_is_keras_cross_entropy_against_smoothed_one_hot_labels():
    keras = train.backend.keras()
    y = np.array([0, 3, 9])
    probabilities = keras.ops.softmax(np.random.default_rng(0).normal(size=(3, 10)).astype("float32"))
    targets = np.full((3, 10), 0.2 / 10, dtype="float32")
    targets[np.arange(3), y] += 0.8
    expected = -(targets * np.log(np.asarray(probabilities))).sum(axis=1).mean()
    loss = train.training_loss(SMOOTHED)(y, probabilities)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert train.training_loss(TINY) == "sparse_categorical_crossentropy"


def test_a_smoothed_run_stores_the_plain_cross_entropy(tmp_path, fashion):
    run = train.train(SMOOTHED, seed=0, root=tmp_path)
    (_, _), (_, _), (x_test, y_test), _ = train.prepared_data(SMOOTHED)
    model = train.models.build(SMOOTHED)
    model.set_weights(run.weights())
    probabilities = model.predict(x_test, verbose=0)
    picked = np.clip(probabilities[np.arange(len(y_test)), y_test], 1e-7, 1)
    assert run.loss("test") == pytest.approx(-np.log(picked).mean(), rel=1e-4)  # not the smoothed objective
    assert run.accuracy("test") == pytest.approx((probabilities.argmax(1) == y_test).mean(), abs=1e-4)


FLIPPED = TINY.replace(name="tiny-flip", test_time_flip=True)
FLIPPED_COSINE = FLIPPED.replace(lr_schedule="cosine", weight_decay=0.05)  # its optimizer needs the steps per epoch


def _mirror_average(run, experiment, x):
    model = train.models.build(experiment)
    model.set_weights(run.weights())
    return (model.predict(x, verbose=0) + model.predict(x[:, :, ::-1], verbose=0)) / 2


def test_test_time_flipping_reuses_the_weights_of_the_run_trained_alike(tiny_run, monkeypatch):
    run, root, _ = tiny_run
    monkeypatch.setitem(train.experiments_registry(), "fashion-base", TINY)  # TINY's run is the stored twin
    flipped = train.train(FLIPPED, seed=0, root=root)
    assert flipped["weights_from"] == {"experiment": "fashion-base", "seed": 0, "config_hash": TINY.config_hash()}
    assert flipped["history"] == run["history"] and flipped["wall_seconds"] >= run["wall_seconds"]
    assert all(np.array_equal(a, b) for a, b in zip(flipped.weights(), run.weights(), strict=True))
    for split in ("train", "val", "test"):
        assert flipped["single_view_metrics"][split] == pytest.approx(run["metrics"][split], rel=1e-5)
    (_, _), (_, _), (x_test, y_test), _ = train.prepared_data(FLIPPED)
    expected = _mirror_average(run, TINY, x_test)
    np.testing.assert_allclose(flipped.probabilities, expected, atol=2e-3)  # float16 on disk
    assert flipped.accuracy("test") == pytest.approx((expected.argmax(1) == y_test).mean(), abs=1e-4)
    assert flipped.accuracy("test") != run.accuracy("test")  # another prediction, from the same weights
    picked = np.clip(expected[np.arange(len(y_test)), y_test], 1e-7, 1)  # as Keras clips, to keep the log finite
    assert flipped.loss("test") == pytest.approx(-np.log(picked).mean(), rel=1e-3)


def test_without_a_twin_test_time_flipping_trains_as_the_single_view_experiment(tiny_run, tmp_path):
    run, _, _ = tiny_run
    flipped = train.train(FLIPPED, seed=0, root=tmp_path)  # TINY's run is not in this results folder
    assert "weights_from" not in flipped.record
    learned = ["loss", "accuracy", "val_loss", "val_accuracy"]  # the same training (same seed, deterministic)
    np.testing.assert_allclose(flipped.history[learned], run.history[learned], rtol=1e-5)
    assert flipped["single_view_metrics"]["test"] == pytest.approx(run["metrics"]["test"], rel=1e-5)


def test_a_twin_with_a_learning_rate_schedule_is_evaluated_too(tiny_run, tmp_path):
    run, _, _ = tiny_run
    twin = FLIPPED_COSINE.replace(name="tiny-cosine", test_time_flip=False)
    store.save({**run.record, "experiment": twin.name, "config": twin.config(), "config_hash": twin.config_hash()},
               run.probabilities, run.y_true, tmp_path, weights=run.weights())  # fmt: skip
    registry = {twin.name: twin}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train, "experiments_registry", lambda: registry)
        flipped = train.train(FLIPPED_COSINE, seed=0, root=tmp_path)
    assert flipped["weights_from"]["experiment"] == "tiny-cosine"


def test_a_stale_or_weightless_run_is_no_twin(tiny_run, monkeypatch, tmp_path):
    run, _, _ = tiny_run
    monkeypatch.setitem(train.experiments_registry(), "fashion-base", TINY)
    assert train.trained_twin(FLIPPED, 0, tmp_path) is None  # nothing stored there
    store.save({**run.record, "config_hash": "0" * 16}, run.probabilities, run.y_true, tmp_path, weights=run.weights())
    assert train.trained_twin(FLIPPED, 0, tmp_path) is None  # stale: trained otherwise
    store.save({k: v for k, v in run.record.items() if k != "weights"}, run.probabilities, run.y_true, tmp_path)
    assert train.trained_twin(FLIPPED, 0, tmp_path) is None  # no weights to evaluate
    assert train.trained_twin(FLIPPED, 1, tmp_path) is None  # another seed


# Test-time shifts


def test_a_shifted_view_is_what_random_translation_makes_with_reflected_borders():
    keras = train.backend.keras()
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    for dy, dx in [(2, 0), (-2, 0), (0, 2), (0, -2), (1, -3)]:
        # output pixel (row, col) is the input's (row - dy, col - dx): the image moves dy down, dx right
        transform = np.array([[1, 0, -dx, 0, 1, -dy, 0, 0]], dtype="float32")
        expected = keras.ops.image.affine_transform(x, transform, interpolation="nearest", fill_mode="reflect")
        np.testing.assert_allclose(train.shifted(x, dy, dx), np.asarray(expected), atol=1e-6)
    assert train.shifted(x, 0, 0) is x


def test_the_test_time_views_are_five_shifts_and_their_mirrors():
    x = np.random.default_rng(1).random((2, 6, 6, 1))
    views = list(train.test_time_views(x, flip=True, shift=1))
    assert len(views) == 10 and len(list(train.test_time_views(x, shift=1))) == 5
    np.testing.assert_array_equal(views[0], x)
    np.testing.assert_array_equal(views[5], x[:, :, ::-1])
    np.testing.assert_array_equal(views[1][:, 1:], x[:, :-1])  # moved one pixel down
    assert [len(list(train.test_time_views(x, flip=flip))) for flip in (False, True)] == [1, 2]
    for flip, shift in [(False, 0), (True, 0), (False, 1), (True, 1)]:
        experiment = TINY.replace(test_time_flip=flip, test_time_shift=shift)
        assert train.view_count(experiment) == len(list(train.test_time_views(x, flip, shift)))


SHIFTED = FLIPPED.replace(name="tiny-shift", test_time_shift=2)


def test_test_time_shifting_reuses_the_weights_and_averages_ten_views(tiny_run, monkeypatch):
    run, root, _ = tiny_run
    monkeypatch.setitem(train.experiments_registry(), "fashion-base", TINY)
    full = train.prepared_data

    def first_test_images(experiment):  # ten views of 1 000 test images are enough to check the mean
        fit, val, (x_test, y_test), provenance = full(experiment)
        return fit, val, (x_test[:1000], y_test[:1000]), provenance

    monkeypatch.setattr(train, "prepared_data", first_test_images)
    averaged = train.train(SHIFTED, seed=0, root=root)
    assert averaged["weights_from"]["experiment"] == "fashion-base"
    model = train.models.build(TINY)
    model.set_weights(run.weights())
    (_, _), (_, _), (x_test, y_test), _ = first_test_images(SHIFTED)
    views = list(train.test_time_views(x_test, flip=True, shift=2))
    expected = np.mean([model.predict(view, verbose=0) for view in views], axis=0)
    np.testing.assert_allclose(averaged.probabilities, expected, atol=2e-3)  # float16 on disk
    assert averaged.accuracy("test") == pytest.approx((expected.argmax(1) == y_test).mean(), abs=1e-4)
    train.compile_model(TINY, model)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=512, verbose=0)  # the image alone, same weights
    assert averaged["single_view_metrics"]["test"] == pytest.approx({"loss": loss, "accuracy": accuracy}, rel=1e-5)
