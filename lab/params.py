"""Count parameters per layer and per neuron, with the formula that gives them.

The counts are derived from the layer spec alone (`lab.models.plan`), so they can be
read without building the model; the tests check their totals against Keras'
`model.count_params()` for every experiment of the brief.

Imports from lab: models.
"""

from __future__ import annotations

import pandas as pd

from lab.models import INPUT_SHAPES, describe, plan

COLUMNS = {
    "layer": "couche",
    "output_shape": "forme de sortie",
    "neurons": "neurones / filtres",
    "weights_per_neuron": "poids par neurone",
    "formula": "formule",
    "params": "paramètres",
    "trainable": "entraînables",
    "macs": "MAC par image",
}


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _layer_row(layer) -> dict:
    spec, (in_shape, out_shape) = layer.spec, (layer.input_shape, layer.output_shape)
    row = {"layer": describe(spec), "output_shape": _shape_text(out_shape), "neurons": None,
           "weights_per_neuron": "", "formula": "", "params": 0, "trainable": 0, "macs": 0}  # fmt: skip
    if layer.kind == "conv2d":
        k, c_in, filters = spec["kernel_size"], in_shape[2], spec["filters"]
        inputs = k * k * c_in
        row.update(neurons=filters, weights_per_neuron=f"{k}·{k}·{c_in} + 1 = {inputs + 1}",
                   formula=f"({k}·{k}·{c_in} + 1) · {filters}", params=(inputs + 1) * filters,
                   macs=out_shape[0] * out_shape[1] * filters * inputs)  # fmt: skip
    elif layer.kind in ("dense", "output"):
        n_in, units = in_shape[0], spec["units"]
        row.update(neurons=units, weights_per_neuron=f"{n_in} + 1 = {n_in + 1}",
                   formula=f"({n_in} + 1) · {units}", params=(n_in + 1) * units, macs=n_in * units)  # fmt: skip
    elif layer.kind == "batch_norm":
        channels = out_shape[-1]
        row.update(neurons=channels, weights_per_neuron="γ, β + μ, σ² = 4",
                   formula=f"4 · {channels}", params=4 * channels, macs=_size(out_shape))  # fmt: skip
        row["trainable"] = 2 * channels  # the moving mean and variance are not trained
        return row
    row["trainable"] = row["params"]
    return row


def _size(shape) -> int:
    result = 1
    for value in shape:
        result *= value
    return result


def parameter_table(experiment, totals: bool = True) -> pd.DataFrame:
    """One row per layer of the spec, plus a total row: parameters, formulas and MACs."""
    planned = plan(experiment.layers, INPUT_SHAPES[experiment.dataset])
    input_row = {"layer": "input", "output_shape": _shape_text(INPUT_SHAPES[experiment.dataset]),
                 "neurons": None, "weights_per_neuron": "", "formula": "", "params": 0,
                 "trainable": 0, "macs": 0}  # fmt: skip
    table = pd.DataFrame([input_row] + [_layer_row(layer) for layer in planned])
    table["neurons"] = table["neurons"].astype("Int64")
    if totals:
        total = {"layer": "total", "output_shape": "", "neurons": pd.NA, "weights_per_neuron": "",
                 "formula": "", "params": table["params"].sum(), "trainable": table["trainable"].sum(),
                 "macs": table["macs"].sum()}  # fmt: skip
        table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    return table


def count_params(experiment) -> int:
    """Total parameters (trainable or not), as Keras' `model.count_params()` counts them."""
    return int(parameter_table(experiment, totals=False)["params"].sum())


def count_macs(experiment) -> int:
    """Multiply-accumulates for one image through the model (inference)."""
    return int(parameter_table(experiment, totals=False)["macs"].sum())


def training_macs(experiment, images: int) -> int:
    """Multiply-accumulates of a whole training's forward passes: `images` per epoch, every epoch.

    What the training costs on any machine (the backward pass costs about twice the forward one,
    for every model alike), where a time depends on the machine and on what else it ran."""
    return experiment.epochs * images * count_macs(experiment)


def french(table: pd.DataFrame) -> pd.DataFrame:
    """The table with French column headers, for the report."""
    return table.rename(columns=COLUMNS)


def layer_row(table: pd.DataFrame, kind: str, occurrence: int = -1) -> pd.Series:
    """A row of `parameter_table` by layer kind (`conv2d`, `max_pool`, `flatten`, `dense`…).

    `occurrence` picks among layers of that kind, in order (0 = first, −1 = last).
    """
    rows = table[table["layer"].str.split().str[0] == kind]
    if rows.empty:
        raise KeyError(
            f"no {kind!r} layer in the table; kinds present: {sorted(set(table['layer'].str.split().str[0]))}"
        )
    return rows.iloc[occurrence]
