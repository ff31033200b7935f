"""Ensembles: their spec and config hash, and their run, made from two tiny trained members."""

import numpy as np
import pytest

import lab
from lab import ensemble, experiments, params, store, train
from lab.experiments import Ensemble, get

MEMBER = get("fashion-base").replace(name="tiny-member", epochs=1, train_limit=600)
TINY_ENSEMBLE = Ensemble(name="tiny-x2", member="tiny-member", size=2, title="deux petits réseaux")


@pytest.fixture(scope="module")
def registered():
    """The tiny member and its ensemble, known to `lab.get` for the tests of this module."""
    patch = pytest.MonkeyPatch()
    patch.setitem(experiments.EXPERIMENTS, MEMBER.name, MEMBER)
    patch.setitem(experiments.EXPERIMENTS, TINY_ENSEMBLE.name, TINY_ENSEMBLE)
    yield
    patch.undo()


@pytest.fixture(scope="module")
def built(registered, tmp_path_factory, fashion):
    """`lab train tiny-x2 --seeds 0`: both members trained (seeds 0 and 1), then the ensemble stored."""
    root = tmp_path_factory.mktemp("results")
    epochs = []
    run = train.train(TINY_ENSEMBLE, seed=0, root=root, on_epoch=lambda epoch, logs: epochs.append(epoch))
    members = [store.load(MEMBER.name, seed, root) for seed in (0, 1)]
    return run, members, root, epochs


def test_an_ensemble_is_its_member_experiment_times_size(registered):
    assert TINY_ENSEMBLE.experiment is MEMBER
    assert (TINY_ENSEMBLE.dataset, TINY_ENSEMBLE.epochs, TINY_ENSEMBLE.layers) == (MEMBER.dataset, 1, MEMBER.layers)
    assert [TINY_ENSEMBLE.member_seeds(seed) for seed in (0, 1, 2)] == [(0, 1), (2, 3), (4, 5)]
    assert Ensemble(name="x3", member="tiny-member", size=3).member_seeds(1) == (3, 4, 5)
    with pytest.raises(ValueError, match="at least 2 members"):
        Ensemble(name="alone", member="tiny-member", size=1)


def test_the_config_hash_follows_the_member_not_the_descriptions(registered, monkeypatch):
    before = TINY_ENSEMBLE.config_hash()
    assert TINY_ENSEMBLE.replace(title="autre titre", seeds=(0,)).config_hash() == before
    assert TINY_ENSEMBLE.replace(size=3).config_hash() != before
    assert TINY_ENSEMBLE.training_hash() != MEMBER.training_hash()  # never a twin of a single network
    monkeypatch.setitem(experiments.EXPERIMENTS, MEMBER.name, MEMBER.replace(epochs=2))
    assert TINY_ENSEMBLE.config_hash() != before


def test_the_config_saves_the_member_and_rebuilds_the_ensemble(registered):
    config = TINY_ENSEMBLE.config()
    assert config["member"] == MEMBER.config() and config["size"] == 2
    assert experiments.from_config(config) == TINY_ENSEMBLE


def test_training_an_ensemble_trains_its_missing_members_first(built):
    run, members, root, epochs = built
    assert [member.seed for member in members] == [0, 1]
    assert epochs == [1, 1]  # one epoch of each member, reported as they are trained
    assert [entry["seed"] for entry in run["members"]] == [0, 1]
    assert all(entry["config_hash"] == MEMBER.config_hash() for entry in run["members"])
    assert store.status(TINY_ENSEMBLE, 0, root) == store.PRESENT


def test_its_probabilities_are_the_mean_of_its_members(built):
    run, members, _, _ = built
    expected = np.mean([member.probabilities for member in members], axis=0)
    np.testing.assert_allclose(run.probabilities, expected, atol=1e-3)  # float16 on disk
    np.testing.assert_array_equal(run.y_true, members[0].y_true)
    val = np.mean([member.validation[0] for member in members], axis=0)
    np.testing.assert_allclose(run.validation[0], val, atol=1e-3)
    assert run.accuracy("test") == pytest.approx(float((expected.argmax(1) == run.y_true).mean()), abs=2e-3)
    # two networks that disagree: the mean is not either of them
    assert not np.array_equal(run.y_pred, members[0].y_pred) or not np.array_equal(run.y_pred, members[1].y_pred)


def test_its_time_is_the_sum_of_its_members_and_its_size_too(built):
    run, members, _, _ = built
    assert run["wall_seconds"] == pytest.approx(sum(member["wall_seconds"] for member in members))
    assert 0 < run["evaluation_seconds"] < run["wall_seconds"]
    assert run["params_total"] == 2 * members[0]["params_total"] == 2 * 244298 == params.count_params(TINY_ENSEMBLE)
    assert params.count_macs(TINY_ENSEMBLE) == 2 * params.count_macs(MEMBER)
    history = run.history
    assert history["seconds"].iloc[0] == pytest.approx(sum(member.history["seconds"].iloc[0] for member in members))
    assert history["val_accuracy"].iloc[0] == pytest.approx(np.mean([m.history["val_accuracy"].iloc[0]
                                                                      for m in members]))  # fmt: skip


def test_its_keras_model_predicts_what_was_stored(built, monkeypatch):
    run, _, root, _ = built
    monkeypatch.setenv("LAB_RESULTS_DIR", str(root))
    monkeypatch.setenv(lab.ALLOW_TRAINING_VARIABLE, "0")
    model = lab.trained_model(TINY_ENSEMBLE.name, 0)  # one Keras model: the members and an Average layer
    (x_train, y_train), _, (x_test, _), _ = train.prepared_data(MEMBER)
    probabilities = model.predict(x_test, verbose=0)
    np.testing.assert_allclose(probabilities, run.probabilities, atol=2e-3)
    # the training accuracy is the members' mean, as this model measures it (the members' stored
    # probabilities are float16: a near tie of their mean may fall the other way)
    predicted = model.predict(x_train, verbose=0).argmax(axis=1)
    assert run.accuracy("train") == pytest.approx(float((predicted == y_train).mean()), abs=store.ACCURACY_TOLERANCE)


def test_a_missing_member_is_refused_with_the_command_that_trains_it(built):
    _, _, root, _ = built
    with pytest.raises(store.StoredResultError, match=r"needs tiny-member seed 2, which is missing; "
                                                      r"train it with: lab train tiny-member --seeds 2"):  # fmt: skip
        ensemble.build(TINY_ENSEMBLE, seed=1, root=root)
    assert store.status(TINY_ENSEMBLE, 1, root) == store.MISSING  # nothing half-written


def test_a_stale_member_makes_the_ensemble_stale(built, monkeypatch):
    _, _, root, _ = built
    monkeypatch.setitem(experiments.EXPERIMENTS, MEMBER.name, MEMBER.replace(epochs=2))
    assert store.status(TINY_ENSEMBLE, 0, root) == store.STALE


def test_members_evaluated_on_other_images_are_refused(built, tmp_path):
    _, members, _, _ = built
    record = dict(members[1].record, experiment="other")
    labels = members[1].y_true.copy()
    labels[:10] = (labels[:10] + 1) % 10
    other = store.save(record, members[1].probabilities, labels, tmp_path, validation=members[1].validation)
    with pytest.raises(ensemble.MemberMismatchError, match="test labels differ"):
        ensemble.mean_probabilities([members[0], other], "test")


def test_seed_pairs_average_every_two_runs_as_the_ensemble_does(built):
    run, members, _, _ = built
    pairs = ensemble.seed_pairs(members)
    assert list(pairs.index) == ["0+1"]
    pair = pairs.loc["0+1"]
    assert pair["test"] == pytest.approx(run.accuracy("test"), abs=2e-3)
    assert pair["val"] == pytest.approx(run.accuracy("val"), abs=2e-3)
    assert pair["test_gain"] == pytest.approx(pair["test"] - np.mean([m.accuracy("test") for m in members]))
    assert pair["seconds"] == pytest.approx(run["wall_seconds"])


def test_the_estimated_time_of_an_ensemble_is_its_members_epochs_and_predictions(built):
    run, members, _, _ = built
    # members trained exactly as the ensemble's: the estimate is the time they took together
    assert ensemble.estimated_seconds(TINY_ENSEMBLE, members) == pytest.approx(run["wall_seconds"])
    twice = TINY_ENSEMBLE.replace(member="tiny-longer")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(experiments.EXPERIMENTS, "tiny-longer", MEMBER.replace(name="tiny-longer", epochs=3))
        epochs = sum(member.history["seconds"].iloc[0] for member in members)
        assert ensemble.estimated_seconds(twice, members) == pytest.approx(run["wall_seconds"] + 2 * epochs)


def test_an_ensemble_costs_the_machine_only_its_own_evaluation(built):
    from lab import analysis

    run, members, _, _ = built
    assert analysis.own_seconds(run) == run["evaluation_seconds"]  # its members' time is counted with them
    assert analysis.own_seconds(members[0]) == members[0]["wall_seconds"]


def test_members_store_their_training_probabilities_for_their_ensembles(built):
    run, members, _, _ = built
    for member in members:
        probabilities, labels = member.training
        assert probabilities.shape == (540, 10) and labels.shape == (540,)
        assert float((probabilities.argmax(axis=1) == labels).mean()) == pytest.approx(member.accuracy("train"),
                                                                                       abs=2e-3)  # fmt: skip
    assert run.training is None  # an ensemble's own run keeps its metrics only


def test_members_stored_without_them_are_predicted_again_from_their_weights(built):
    _, members, _, _ = built
    stored = ensemble.training_probabilities(TINY_ENSEMBLE, members)
    older = [store.Run(member.record, member.folder) for member in members]
    for member in older:
        member.__dict__["training"] = None  # as a member stored before ensembles existed
    predicted = ensemble.training_probabilities(TINY_ENSEMBLE, older)
    np.testing.assert_array_equal(predicted[1], stored[1])
    np.testing.assert_allclose(predicted[0], stored[0], atol=1e-3)  # the stored ones are float16


def test_an_ensemble_is_not_built_or_shown_as_one_network(registered):
    from lab import keras_code, models

    refusal = r"tiny-x2 is an ensemble of 2 networks, not one model: its code is keras_code.ensemble_code"
    for generate in (keras_code.model_code, keras_code.training_code):
        with pytest.raises(TypeError, match=refusal):
            generate(TINY_ENSEMBLE)
    with pytest.raises(TypeError, match=r"ensemble of 2 networks: build its member .*lab.trained_model\('tiny-x2'\)"):
        models.build(TINY_ENSEMBLE)
