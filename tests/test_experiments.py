"""The experiments of the brief, as data: names, settings, configuration and its hash."""

import dataclasses
import hashlib
import json

import pytest
import yaml

from lab import experiments
from lab.experiments import DESCRIPTIVE_FIELDS, EXPERIMENTS, Experiment, from_config, get

NAMES = [
    "fashion-base",
    "fashion-dropout",
    "fashion-dropout-long",
    "fashion-dense128",
    "fashion-dropout-norm",  # beyond the brief: the dropout model with inputs / 255 (q-2-7)
    "cifar-raw",
    "cifar-norm",
    "cifar-dropout",
    "cifar-conv4-pool4",
    "cifar-conv4",
    "cifar-conv4-same",
    "cifar-conv4-same-dropout",
    "cifar-conv6",
    "cifar-conv6-bn",
    "cifar-conv6-bn-20",
    "cifar-conv6-bn-relu-40",  # beyond the brief: q-5-6's epochs and batch with ReLU, to isolate LeakyReLU
    "cifar-conv6-bn-leaky",
]
BEYOND_NAMES = [  # chapter "Aller plus loin": one change per step, and the variants tried on a step
    "fashion-vgg", "fashion-vgg-cos", "fashion-vgg-cos-mirror", "cifar-conv6-bn-20-cos",
    "cifar-conv6-bn-20-aug-cos", "cifar-vgg-20-cos", "cifar-vgg-20-aug-cos", "cifar-vgg-20-aug-cos-views",
]


def types(experiment):
    return [layer["type"] for layer in experiment.layers]


CONTROL_NAMES = ["fashion-norm", "fashion-dropout-half", "fashion-dense128-alone", "fashion-dense128-alone-norm",
                 "cifar-norm-large-start", "cifar-raw-small-start", "cifar-conv4-head", "cifar-conv4-gap",
                 "cifar-conv4-same-gap", "cifar-conv4-same-crop", "cifar-conv4-same-narrow", "cifar-norm-20",
                 "cifar-dropout-20", "cifar-conv4-same-20", "cifar-conv4-same-dropout-20",
                 "cifar-conv6-bn-20-sample-copy", "cifar-conv6-bn-20-sample-genuine", "cifar-raw-20"]


def test_each_step_of_the_chains_changes_one_thing_of_the_previous():
    changes = []
    for chain in experiments.CHAINS.values():
        for previous, step in zip(chain, chain[1:], strict=False):
            before, after = get(previous).config(), get(step).config()
            changes.append({key for key in after if key not in DESCRIPTIVE_FIELDS + ("name",)
                            and after[key] != before[key]})  # fmt: skip
    views = {"test_time_flip", "test_time_shift"}  # the mean of ten views, as one step: evaluation only
    assert changes == [{"layers"}, {"lr_schedule"}, {"lr_schedule"}, {"layers"}, {"augmentation"}, views]
    # everything in float32, at the brief's batch size; the views and the mirror are evaluation only
    assert all(e.precision == "float32" and e.batch_size == 64 for e in experiments.BEYOND.values())
    for evaluated, trained in (("cifar-vgg-20-aug-cos-views", "cifar-vgg-20-aug-cos"),
                               ("fashion-vgg-cos-mirror", "fashion-vgg-cos")):  # fmt: skip
        assert get(evaluated).training_hash() == get(trained).training_hash()


def test_each_variant_tried_changes_one_thing_of_its_step():
    changed = {}
    for variant, step in experiments.TRIED.items():
        mine, theirs = get(variant).config(), get(step).config()
        changed[variant] = {key for key in mine
                            if key not in DESCRIPTIVE_FIELDS + ("name",) and mine[key] != theirs[key]}  # fmt: skip
    assert changed == {"fashion-vgg-cos-mirror": {"test_time_flip"}, "cifar-conv6-bn-20-aug-cos": {"augmentation"}}


def test_every_experiment_beyond_the_brief_is_a_step_of_a_chain_or_a_variant_tried_on_one():
    steps = {name for chain in experiments.CHAINS.values() for name in chain}
    assert all(chain[0] in experiments.BRIEF for chain in experiments.CHAINS.values())
    assert set(experiments.BEYOND) == (steps - set(experiments.BRIEF)) | set(experiments.TRIED)
    for variant, step in experiments.TRIED.items():
        assert step in experiments.CHAINS[get(variant).dataset] and variant not in steps


def test_names_exactly_as_listed_in_order():
    assert list(experiments.BRIEF) == NAMES and list(experiments.BEYOND) == BEYOND_NAMES
    assert list(experiments.CONTROLS) == CONTROL_NAMES
    assert list(EXPERIMENTS) == NAMES + CONTROL_NAMES + BEYOND_NAMES
    assert all(EXPERIMENTS[name].name == name for name in EXPERIMENTS)


def test_each_control_changes_one_thing_of_the_model_it_controls():
    pairs = {"fashion-norm": ("fashion-base", {"normalize"}),
             "fashion-dropout-half": ("fashion-dropout", {"layers"}),
             "fashion-dense128-alone": ("fashion-dense128", {"layers"}),
             "fashion-dense128-alone-norm": ("fashion-dense128-alone", {"normalize"}),
             "cifar-conv4-same-gap": ("cifar-conv4-gap", {"layers"}),
             "cifar-conv6-bn-20-sample-genuine": ("cifar-conv6-bn-20-sample-copy", {"train_sample"}),
             "cifar-conv6-bn-20-sample-copy": ("cifar-conv6-bn-20", {"train_sample"}),
             "cifar-raw-20": ("cifar-raw", {"epochs"})}  # fmt: skip
    assert experiments.SAMPLE_CONTROLS == ("cifar-conv6-bn-20-sample-copy", "cifar-conv6-bn-20-sample-genuine")
    for name, (other, changed) in pairs.items():
        mine, theirs = get(name).config(), get(other).config()
        # the descriptive fields (title, brief, seeds) say how a model is planned, not what it is
        differ = {key for key in mine if key not in ("name", *DESCRIPTIVE_FIELDS) and mine[key] != theirs[key]}
        assert differ == changed, name
    # the dropout at half its rates: the same layers, each Dropout at half the rate of the brief's model
    assert [layer.get("rate", 0) * 2 for layer in get("fashion-dropout-half").layers] == [
        layer.get("rate", 0) for layer in get("fashion-dropout").layers]
    # the extra dense layer without its dropout: one Dropout fewer than the brief's model
    assert len(get("fashion-dense128").layers) == len(get("fashion-dense128-alone").layers) + 1
    # the padding alone: the same layers but for it, 32 features into the classifier either way
    gap, same_gap = get("cifar-conv4-gap").layers, get("cifar-conv4-same-gap").layers
    assert [{k: v for k, v in layer.items() if k != "padding"} for layer in gap] == [
        {k: v for k, v in layer.items() if k != "padding"} for layer in same_gap]
    assert {layer.get("padding") for layer in gap} - {None} == {"valid"}
    assert {layer.get("padding") for layer in same_gap} - {None} == {"same"}


def test_the_planned_seeds():
    planned = {name: e.seeds for name, e in EXPERIMENTS.items()}
    cheap = {name for name in NAMES + CONTROL_NAMES if get(name).dataset == "fashion_mnist" or get(name).epochs == 10}
    replicated = {"cifar-conv6", "cifar-conv6-bn"}  # q-5-3's gain, by a hair on five seeds, measured on three more
    assert experiments.REPLICATED == ("cifar-conv6", "cifar-conv6-bn")  # without, then with BatchNormalization
    assert all(planned[name] == (0, 1, 2, 3, 4) for name in cheap - replicated)  # their comparisons decided (issue 27)
    assert all(planned[name] == (0, 1, 2, 3, 4, 5, 6, 7) for name in replicated)
    assert experiments.REPLICATION_SEEDS == (5, 6, 7)
    # and chapter 5's longer runs: the book moves to five seeds for every model at once (lab.SEEDS)
    longer = {"cifar-conv6-bn-20", "cifar-conv6-bn-relu-40", "cifar-conv6-bn-leaky"}
    assert set(NAMES) - cheap == longer
    assert all(planned[name] == (0, 1, 2, 3, 4) for name in longer)
    # beyond the brief: three seeds for the steps whose gain the chapter states and for the variants it tries
    steps = {name for chain in experiments.CHAINS.values() for name in chain[1:]}
    assert all(planned[name] == (0, 1, 2) for name in (*steps, *experiments.TRIED))


def test_get_returns_the_experiment():
    assert get("cifar-norm") is EXPERIMENTS["cifar-norm"]


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(experiments.UnknownExperimentError) as raised:
        get("nope")
    message = str(raised.value)
    assert "'nope'" in message
    for name in NAMES:
        assert name in message
    assert isinstance(raised.value, KeyError)  # a lookup error, as EXPERIMENTS[name] would raise


def test_beyond_the_brief_every_model_normalizes_and_is_trained_as_stated():
    for experiment in experiments.BEYOND.values():
        assert experiment.normalize and experiment.title and not experiment.brief
        assert (experiment.optimizer, experiment.learning_rate, experiment.momentum) == ("adam", 1e-3, 0.0)
        assert experiment.validation_fraction == 0.1 and experiment.train_limit is None


def test_datasets():
    for name, experiment in EXPERIMENTS.items():
        expected = "fashion_mnist" if name.startswith("fashion-") else "cifar10"
        assert experiment.dataset == expected
        assert experiment.dataset in experiments.DATASETS


def test_fashion_and_cifar_raw_use_raw_inputs_others_normalized():
    for name, experiment in experiments.BRIEF.items():
        raw = (name.startswith("fashion-") and name != "fashion-dropout-norm") or name == "cifar-raw"
        assert experiment.normalize is (not raw), name


def test_training_settings_of_the_brief():
    assert {e.name for e in experiments.BRIEF.values() if e.epochs == 20} == {
        "fashion-base", "fashion-dropout", "fashion-dense128", "fashion-dropout-norm", "cifar-conv6-bn-20",
    }  # fmt: skip
    assert get("fashion-dropout-long").epochs == 40
    leaky, relu_40 = get("cifar-conv6-bn-leaky"), get("cifar-conv6-bn-relu-40")
    assert (leaky.activation, leaky.negative_slope, leaky.epochs, leaky.batch_size) == ("leaky_relu", 0.3, 40, 128)
    assert (relu_40.activation, relu_40.epochs, relu_40.batch_size, relu_40.layers) == ("relu", 40, 128, leaky.layers)
    for experiment in experiments.BRIEF.values():
        if experiment is not leaky:
            assert experiment.activation == "relu"
        if experiment not in (leaky, relu_40):
            assert experiment.batch_size == 64
        long_cifar = ("cifar-conv6-bn-20", "cifar-conv6-bn-relu-40", "cifar-conv6-bn-leaky")
        if experiment.dataset == "cifar10" and experiment.name not in long_cifar:
            assert experiment.epochs == 10
        assert (experiment.optimizer, experiment.learning_rate) == ("adam", 1e-3)
        assert experiment.validation_fraction == 0.1
        assert experiment.train_limit is None
        assert experiment.title and experiment.brief


def test_first_model_as_the_brief_describes_it():
    layers = get("fashion-base").layers
    convs = [layer for layer in layers if layer["type"] == "conv2d"]
    assert [(c["filters"], c["kernel_size"]) for c in convs] == [(16, 5), (32, 3)]
    assert [layer["units"] for layer in layers if layer["type"] == "dense"] == [256, 128]
    assert [layer["pool_size"] for layer in layers if layer["type"] == "max_pool"] == [2, 2]
    assert layers[-1] == {"type": "output", "units": 10}
    assert get("cifar-raw").layers == get("cifar-norm").layers == layers


def test_dropout_after_every_pooling_and_dense_layer_q_2_5():
    layers = get("fashion-dropout").layers
    for before, after in zip(layers, layers[1:], strict=False):
        if before["type"] in ("max_pool", "dense"):
            assert after["type"] == "dropout"
    rates = [layer["rate"] for layer in layers if layer["type"] == "dropout"]
    assert rates == [0.25, 0.25, 0.5, 0.5]
    assert get("fashion-dropout-long").layers == get("fashion-dropout-norm").layers == layers


def test_dense128_adds_one_dense_layer_q_2_7():
    dropout_model, dense128 = get("fashion-dropout").layers, get("fashion-dense128").layers
    assert dense128 == dropout_model[:-1] + ({"type": "dense", "units": 128}, {"type": "dropout", "rate": 0.5},
                                             {"type": "output", "units": 10})  # fmt: skip
    assert types(get("fashion-dense128")).count("dense") == 3


def test_cifar_dropout_two_dropout_half_in_classifier_q_3_9():
    layers = get("cifar-dropout").layers
    flat = types(get("cifar-dropout")).index("flatten")
    assert [layer["rate"] for layer in layers if layer["type"] == "dropout"] == [0.5, 0.5]
    assert all(layer["type"] != "dropout" for layer in layers[:flat])


def test_conv4_kernels_3_and_padding():
    for name, padding in (("cifar-conv4", "valid"), ("cifar-conv4-same", "same")):
        convs = [layer for layer in get(name).layers if layer["type"] == "conv2d"]
        assert [c["filters"] for c in convs] == [16, 16, 32, 32]
        assert {c["kernel_size"] for c in convs} == {3}
        assert {c["padding"] for c in convs} == {padding}


def test_conv4_pool4_each_conv_followed_by_pooling_q_4_1():
    kinds = types(get("cifar-conv4-pool4"))
    assert kinds[:8] == ["conv2d", "max_pool"] * 4
    assert {layer.get("padding") for layer in get("cifar-conv4-pool4").layers if layer["type"] == "conv2d"} == {"same"}
    valid = [layer.get("padding") for layer in experiments.CONV4_POOL4_VALID if layer["type"] == "conv2d"]
    assert valid == ["valid"] * 4


def test_conv4_same_dropout_after_pooling_q_4_6():
    layers = get("cifar-conv4-same-dropout").layers
    for before, after in zip(layers, layers[1:], strict=False):
        if before["type"] == "max_pool":
            assert after == {"type": "dropout", "rate": 0.25}


def test_conv6_third_block_of_64():
    layers = get("cifar-conv6").layers
    convs = [layer for layer in layers if layer["type"] == "conv2d"]
    assert [c["filters"] for c in convs] == [16, 16, 32, 32, 64, 64]
    assert types(get("cifar-conv6")).count("max_pool") == 3


def test_five_batch_norm_three_after_conv_pairs_two_after_dense_q_5_2():
    for name in ("cifar-conv6-bn", "cifar-conv6-bn-20", "cifar-conv6-bn-leaky"):
        kinds = types(get(name))
        assert kinds.count("batch_norm") == 5
        before = [kinds[i - 1] for i, kind in enumerate(kinds) if kind == "batch_norm"]
        assert before == ["conv2d"] * 3 + ["dense"] * 2
        assert [kinds[i - 2] for i, kind in enumerate(kinds) if kind == "batch_norm"][:3] == ["conv2d"] * 3
    without = [layer for layer in get("cifar-conv6-bn").layers if layer["type"] != "batch_norm"]
    assert tuple(without) == get("cifar-conv6").layers


def test_config_round_trips_through_json():
    for experiment in EXPERIMENTS.values():
        config = json.loads(json.dumps(experiment.config()))
        rebuilt = from_config(config)
        assert rebuilt == experiment
        assert rebuilt.config_hash() == experiment.config_hash()
        assert isinstance(rebuilt.layers, tuple) and isinstance(rebuilt.brief, tuple)


def test_config_is_json_ready_data():
    config = get("cifar-conv6-bn-leaky").config()
    assert config["layers"][0] == {"type": "conv2d", "filters": 16, "kernel_size": 3, "padding": "same"}
    assert config["brief"] == ["q-5-6", "q-5-7"]
    assert json.loads(json.dumps(config)) == config


def test_from_config_refuses_unknown_fields():
    config = {**get("fashion-base").config(), "nesterov": True}
    with pytest.raises(ValueError, match="nesterov"):
        from_config(config)


def test_config_hash_is_sha256_of_canonical_json_without_descriptive_fields():
    # every optional field in use: all are hashed
    experiment = STRONGER.replace(optimizer="sgd", momentum=0.9, train_sample="genuine")
    config = experiment.config()
    del config["title"], config["brief"], config["seeds"]
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    assert experiment.config_hash() == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert len(experiment.config_hash()) == 16


CHANGED_VALUES = {
    "name": "fashion-other", "dataset": "cifar10", "layers": get("fashion-dropout").layers, "normalize": True,
    "activation": "leaky_relu", "negative_slope": 0.1, "optimizer": "sgd", "learning_rate": 1e-2,
    "epochs": 21, "batch_size": 32, "validation_fraction": 0.2, "train_limit": 600,
    "augmentation": ("flip",), "weight_decay": 1e-4, "lr_schedule": "cosine", "precision": "mixed_bfloat16",
    "test_time_flip": True, "label_smoothing": 0.1, "test_time_shift": 2, "momentum": 0.9, "train_sample": "copy",
}  # fmt: skip


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Experiment) if f.name not in DESCRIPTIVE_FIELDS])
def test_every_field_that_determines_a_run_changes_the_hash(field):
    experiment = get("fashion-base")
    assert experiment.replace(**{field: CHANGED_VALUES[field]}).config_hash() != experiment.config_hash()


def test_changing_one_layer_setting_changes_the_hash():
    experiment = get("fashion-base")
    layers = (dict(experiment.layers[0], kernel_size=3), *experiment.layers[1:])
    assert experiment.replace(layers=layers).config_hash() != experiment.config_hash()


def test_changing_title_brief_or_planned_seeds_does_not_change_the_hash():
    experiment = get("fashion-base")
    assert experiment.replace(title="autre titre").config_hash() == experiment.config_hash()
    assert experiment.replace(seeds=(0,)).config_hash() == experiment.config_hash()
    assert experiment.replace(brief=("q-1-1",)).config_hash() == experiment.config_hash()


def test_hashes_are_distinct():
    hashes = [e.config_hash() for e in EXPERIMENTS.values()]
    assert len(set(hashes)) == len(hashes)


def test_experiment_is_frozen():
    with pytest.raises(AttributeError):
        get("fashion-base").epochs = 1  # type: ignore[misc]
    assert isinstance(get("fashion-base").replace(epochs=1), Experiment)
    assert get("fashion-base").epochs == 20


@pytest.fixture(scope="module")
def brief_ids(shared):
    questions = shared / "brief" / "questions.yml" if shared else None
    if questions is None or not questions.is_file():
        pytest.skip("shared/brief/questions.yml not found (expected in ../shared beside the repository root)")
    parts = yaml.safe_load(questions.read_text(encoding="utf-8"))
    return {key for part in parts.values() for key in part if key.startswith("q-")}


def test_every_brief_id_exists_in_the_brief(brief_ids):
    ids = brief_ids
    for experiment in EXPERIMENTS.values():
        for brief_id in experiment.brief:
            assert brief_id in ids, f"{experiment.name}: {brief_id} is not an item of the brief"


def test_every_item_that_needs_a_trained_model_has_an_experiment(brief_ids):
    ids = brief_ids
    covered = {brief_id for experiment in EXPERIMENTS.values() for brief_id in experiment.brief}
    # Items answered without training: loading the data, class lists, shapes, the output layer.
    without_model = {i for i in ids if i.startswith("q-1-")} | {"q-2-1", "q-3-1", "q-3-2", "q-3-3", "q-3-4"}
    assert ids - without_model - covered == set()


# Ingredients beyond the brief (issue 12): fields that stay out of the hash at their defaults

_BN_LAYERS = get("cifar-conv6-bn").layers
STRONGER = get("cifar-conv6-bn").replace(
    name="cifar-stronger", augmentation=("flip", "translate"), weight_decay=5e-4, lr_schedule="cosine",
    precision="mixed_bfloat16", test_time_flip=True, label_smoothing=0.1, test_time_shift=2,
    layers=_BN_LAYERS[: _BN_LAYERS.index({"type": "flatten"})] + ({"type": "global_avg_pool"}, _BN_LAYERS[-1]),
)  # fmt: skip


@pytest.mark.parametrize("name", list(experiments.BRIEF))
def test_optional_fields_at_their_defaults_leave_the_hash_as_it_was(name):
    """The hash is that of the config without the optional fields: stored runs stay fresh."""
    experiment = EXPERIMENTS[name]
    legacy = {key: value for key, value in experiment.config().items()
              if key not in DESCRIPTIVE_FIELDS and key not in experiments.OPTIONAL_DEFAULTS}  # fmt: skip
    text = json.dumps(legacy, sort_keys=True, separators=(",", ":"))
    assert experiment.config_hash() == hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize(("field", "value"), [("augmentation", ("flip",)), ("weight_decay", 1e-4),
                                              ("lr_schedule", "cosine"), ("precision", "mixed_bfloat16"),
                                              ("test_time_flip", True), ("label_smoothing", 0.1),
                                              ("test_time_shift", 2), ("momentum", 0.9)])  # fmt: skip
def test_an_optional_field_in_use_changes_the_hash(field, value):
    experiment = get("cifar-conv6-bn")
    assert experiment.replace(**{field: value}).config_hash() != experiment.config_hash()


def test_only_the_training_fields_make_the_training_hash():
    experiment = get("cifar-conv6-bn")
    assert experiment.replace(name="other", title="other").training_hash() == experiment.training_hash()
    assert experiment.replace(test_time_flip=True).training_hash() == experiment.training_hash()
    assert experiment.replace(test_time_shift=2).training_hash() == experiment.training_hash()
    assert experiment.replace(epochs=11).training_hash() != experiment.training_hash()
    trained_alike = [{n for n, e in EXPERIMENTS.items() if e.training_hash() == h}
                     for h in {e.training_hash() for e in EXPERIMENTS.values()}]  # fmt: skip
    assert sorted(map(sorted, (group for group in trained_alike if len(group) > 1))) == [
        ["cifar-vgg-20-aug-cos", "cifar-vgg-20-aug-cos-views"],
        ["fashion-vgg-cos", "fashion-vgg-cos-mirror"],
    ]


def test_a_config_with_the_optional_fields_round_trips():
    assert from_config(json.loads(json.dumps(STRONGER.config()))) == STRONGER
    old = {key: value for key, value in get("cifar-norm").config().items() if key not in experiments.OPTIONAL_DEFAULTS}
    assert from_config(old) == get("cifar-norm")  # a run.json written before these fields existed


def test_brief_steps_of_a_dataset_keep_the_order_and_the_branches_of_brief_steps():
    from lab.experiments import BRIEF_STEPS, brief_steps

    cifar, fashion = brief_steps("cifar10"), brief_steps("fashion_mnist")
    assert len(cifar) + len(fashion) == len(BRIEF_STEPS)
    assert cifar[0] == ("cifar-raw", "cifar-norm") and ("cifar-dropout", "cifar-conv4-pool4") in cifar
    assert all(get(name).dataset == "cifar10" for step in cifar for name in step)
    assert list(cifar) == [step for step in BRIEF_STEPS if step in cifar]


@pytest.mark.parametrize("pairs", ["DROPOUT_BY_EPOCHS", "POOLING_DROPOUT_BY_EPOCHS"])
def test_the_controls_of_questions_3_9_and_4_6_change_only_the_number_of_epochs(pairs):
    brief_pair = {"DROPOUT_BY_EPOCHS": ("cifar-norm", "cifar-dropout"),
                  "POOLING_DROPOUT_BY_EPOCHS": ("cifar-conv4-same", "cifar-conv4-same-dropout")}[pairs]
    pairs = getattr(experiments, pairs)
    assert list(pairs) == [10, 20] and pairs[10] == brief_pair
    assert pairs[20] == tuple(f"{name}-20" for name in brief_pair)
    for short in pairs[10]:
        long = get(f"{short}-20")
        assert long.epochs == 20 and get(short).epochs == 10 and long.seeds == get(short).seeds
        assert long.replace(name=short, epochs=10, title=get(short).title, brief=get(short).brief) == get(short)


def test_the_steps_the_brief_asks_for_leave_out_question_4_1_s_side_branch_and_go_around_our_models():
    from lab.experiments import brief_steps

    asked = brief_steps("cifar10", asked_only=True)
    assert len(asked) == 9 and set(brief_steps("cifar10")) - set(asked) == {
        ("cifar-dropout", "cifar-conv4-pool4"), ("cifar-conv6-bn-20", "cifar-conv6-bn-relu-40"),
        ("cifar-conv6-bn-relu-40", "cifar-conv6-bn-leaky")}
    assert set(asked) - set(brief_steps("cifar10")) == {("cifar-conv6-bn-20", "cifar-conv6-bn-leaky")}  # q-5-6's step
    assert [after for _, after in asked] == [name for name in experiments.BRIEF if name in {a for _, a in asked}]
    fashion = brief_steps("fashion_mnist")
    assert brief_steps("fashion_mnist", asked_only=True) == tuple(s for s in fashion if "fashion-dropout-norm" not in s)
