"""The parameter table: per-layer counts, formulas, MACs and shape progression."""

import pytest

from lab import params
from lab.experiments import EXPERIMENTS, get


def rows(table):
    return table.set_index("layer")


def test_fashion_base_table():
    table = params.parameter_table(get("fashion-base"))
    assert list(table["layer"]) == [
        "input", "conv2d 16@5×5 valid", "max_pool 2×2", "conv2d 32@3×3 valid", "max_pool 2×2",
        "flatten", "dense 256", "dense 128", "output 10", "total",
    ]  # fmt: skip
    assert list(table["params"]) == [0, 416, 0, 4640, 0, 0, 205056, 32896, 1290, 244298]
    assert list(table["trainable"]) == list(table["params"])
    assert list(table["output_shape"][:-1]) == [
        "(28, 28, 1)", "(24, 24, 16)", "(12, 12, 16)", "(10, 10, 32)", "(5, 5, 32)",
        "(800)", "(256)", "(128)", "(10)",
    ]  # fmt: skip


def test_per_neuron_formulas():
    table = params.parameter_table(get("fashion-base"))
    conv1, conv2, dense256 = table.iloc[1], table.iloc[3], table.iloc[6]
    assert (conv1["neurons"], conv1["weights_per_neuron"]) == (16, "5·5·1 + 1 = 26")
    assert conv1["formula"] == "(5·5·1 + 1) · 16"
    assert (conv2["neurons"], conv2["weights_per_neuron"]) == (32, "3·3·16 + 1 = 145")
    assert (dense256["neurons"], dense256["weights_per_neuron"], dense256["formula"]) == (
        256, "800 + 1 = 801", "(800 + 1) · 256",
    )  # fmt: skip
    assert 26 * 16 == conv1["params"] and 801 * 256 == dense256["params"]


def test_macs_of_the_first_model():
    expected = (
        24 * 24 * 16 * (5 * 5 * 1)  # conv 16@5x5: output positions x filters x inputs per neuron
        + 10 * 10 * 32 * (3 * 3 * 16)
        + 800 * 256
        + 256 * 128
        + 128 * 10
    )
    assert params.count_macs(get("fashion-base")) == expected == 930048


def test_a_training_costs_its_epochs_times_its_images_times_one_image():
    assert params.training_macs(get("fashion-base"), 54_000) == 20 * 54_000 * 930048
    assert params.training_macs(get("cifar-conv6-bn-relu-40"), 45_000) == 2 * params.training_macs(
        get("cifar-conv6-bn-20"), 45_000)  # the same network, twice the epochs


def test_batch_norm_rows():
    table = params.parameter_table(get("cifar-conv6-bn"))
    norms = table[table["layer"] == "batch_norm"]
    assert list(norms["params"]) == [4 * 16, 4 * 32, 4 * 64, 4 * 256, 4 * 128]
    assert list(norms["trainable"]) == [2 * 16, 2 * 32, 2 * 64, 2 * 256, 2 * 128]
    total = table.iloc[-1]
    assert (total["params"], total["trainable"]) == (370650, 370650 - 992)


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_total_row_is_the_sum(name):
    table, experiment = params.parameter_table(EXPERIMENTS[name]), EXPERIMENTS[name]
    assert table.iloc[-1]["params"] == table.iloc[:-1]["params"].sum()
    assert table.iloc[-1]["params"] == params.count_params(experiment)
    assert params.parameter_table(EXPERIMENTS[name], totals=False)["layer"].iloc[-1] == "output 10"


def test_french_headers():
    table = params.french(params.parameter_table(get("fashion-base")))
    assert list(table.columns) == list(params.COLUMNS.values())
    assert "paramètres" in table.columns and "formule" in table.columns
