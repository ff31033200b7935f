"""Statistics of stored runs: the decisions the report states, as data, with no French in them.

A comparison of two models is decided here, once, from every seed stored for both:

- `gain`: the mean, over the seeds both models have, of the accuracy difference on the
  split compared (b − a, same seed, same images: test, or validation to decide);
- `image_error`: the standard error of that mean due to the images (paired: the
  per-image differences of correctness, averaged over the seeds first, since every seed is
  tested on the same images), as if the trained models were fixed;
- `seed_error`: the standard error due to training itself, from the spread of the
  per-seed differences (seed-to-seed; unknown with a single seed);
- `margin`: the half-width of the interval the report quotes, combining both:
  sqrt((t · seed_error)² + (2 · image_error)²), with t the 97.5 % Student quantile for
  n − 1 degrees of freedom (4.3 for three seeds), so that three seeds that disagree are
  not read as a change.

`better` / `worse` when the gain is beyond the margin, `same` otherwise.

Two seeds estimate the seed-to-seed spread too poorly to decide anything (t = 12.7 for
one degree of freedom): until both models have at least `MIN_SEEDS` seeds in common, the
comparison is that of seed 0 alone.

Imports from lab: nothing (it reads runs through their methods alone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BETTER, WORSE, SAME = "better", "worse", "same"
MIN_SEEDS = 3  # fewer seeds in common: compare seed 0 only
CLOSE = 0.1  # a gain within a tenth of its margin from it is close to it, on either side


@dataclass(frozen=True)
class Comparison:
    """How model b compares with model a on the images of `split`: test, or validation (to decide)."""

    result: str
    gain: float
    margin: float
    image_error: float
    seed_error: float | None
    seeds: int
    split: str = "test"
    per_seed: tuple[float, ...] = ()  # b − a on each seed, in seed order

    @property
    def decided_by_seeds(self) -> bool:
        return self.seeds >= 2

    @property
    def close(self) -> bool:
        """Whether the gain lies within `CLOSE` of the margin from it: the report's « de justesse » beyond the
        margin, « à la limite » short of it (one rule for both, which the chapters assert where they say so)."""
        return abs(abs(self.gain) - self.margin) < CLOSE * self.margin


def as_runs(runs) -> list:
    """A run, or several runs of one experiment (seeds), as a list."""
    return list(runs) if isinstance(runs, (list, tuple)) else [runs]


def _correct(run, split: str = "test") -> np.ndarray:
    stored = run.predictions(split) if split in ("test", "val") else None
    if stored is None:
        raise ValueError(f"{run.name}: no stored predictions for the split {split!r} (stored: test, and val if saved)")
    probabilities, truth = stored
    return (probabilities.argmax(axis=1) == truth).astype(float)


def compare(a, b, split: str = "test") -> Comparison:
    """b against a, over the seeds both have (each may be a run or a list of runs), on the test
    images (or on the validation images: `split="val"`, to decide before reading the test)."""
    pairs = paired_runs(a, b)
    correct_a, correct_b = ([_correct(run, split) for run in side] for side in zip(*pairs, strict=True))
    return compare_correct(correct_a, correct_b, split)


def compare_correct(correct_a, correct_b, split: str = "test") -> Comparison:
    """b against a from their correctness (seeds × images, 1 where an image is classified right; same images and
    seeds in the same order): `compare` on predictions made outside the stored runs."""
    # seeds × images: each seed's per-image difference of correctness
    differences = np.asarray(correct_b, dtype=float) - np.asarray(correct_a, dtype=float)
    # the seeds share their images: the images' error is that of the per-image mean over the seeds (the seeds'
    # errors are not independent, and averaging them as if they were would shrink it up to √n times)
    per_image = differences.mean(axis=0)
    image_error = float(per_image.std(ddof=1) / np.sqrt(per_image.size))
    return _decided(differences.mean(axis=1), image_error, split)


def _decided(per_seed_gains, image_error: float, split: str) -> Comparison:
    """The verdict on per-seed gains: their mean against the margin that combines the seeds' spread (Student's
    quantile) and twice the images' standard error."""
    gains, n = np.asarray(per_seed_gains, dtype=float), len(per_seed_gains)
    seed_error = float(gains.std(ddof=1) / np.sqrt(n)) if n >= 2 else None
    margin = float(np.hypot(student_quantile(n) * (seed_error or 0.0), 2 * image_error))
    gain = float(gains.mean())
    result = BETTER if gain > margin else WORSE if gain < -margin else SAME
    return Comparison(result, gain, margin, image_error, seed_error, n, split, tuple(float(g) for g in gains))


def paired_runs(a, b) -> list[tuple]:
    """The (run of a, run of b) pairs of the seeds both have; seed 0 alone below `MIN_SEEDS` pairs."""
    by_seed_a = {run.seed: run for run in as_runs(a)}
    pairs = [(by_seed_a[run.seed], run) for run in as_runs(b) if run.seed in by_seed_a]
    if not pairs:
        raise ValueError("the two models have no seed in common")
    if len(pairs) < MIN_SEEDS:
        pairs = [pair for pair in pairs if pair[0].seed == 0] or pairs[:1]
    return pairs


def student_quantile(n: int) -> float:
    """The 97.5 % quantile of Student's t with n − 1 degrees of freedom (0 for a single seed)."""
    if n < 2:
        return 0.0
    # scipy.special's inverse of Student's distribution: importing scipy.stats costs a chapter about 0.5 s more
    from scipy.special import stdtrit

    return float(stdtrit(n - 1, 0.975))


def seed_mean(runs, value) -> float:
    """The mean over a model's seeds of `value(run)` (a run's accuracy, gap, epoch…)."""
    runs = as_runs(runs)
    return float(np.mean([value(run) for run in runs]))


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = np.asarray(list(values), dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


# Choosing the most efficient model

CRITERIA = {"test_accuracy": "max", "gap": "min", "seconds": "min", "params": "min"}


def pareto_set(table, criteria=CRITERIA) -> list[str]:
    """The rows (models) that no other row beats on one criterion while matching it on all the others."""
    def at_least_as_good(a, b):
        return all(a[c] >= b[c] if way == "max" else a[c] <= b[c] for c, way in criteria.items())

    def strictly_better_somewhere(a, b):
        return any(a[c] > b[c] if way == "max" else a[c] < b[c] for c, way in criteria.items())

    rows = {name: table.loc[name] for name in table.index}
    return [name for name, row in rows.items()
            if not any(at_least_as_good(other, row) and strictly_better_somewhere(other, row)
                       for other_name, other in rows.items() if other_name != name)]  # fmt: skip


# q-5-7 weighs the models on what no machine changes: the training's computation, not its time.
TRADE_OFF_CRITERIA = {"val_accuracy": "max", "gap": "min", "compute": "min", "params": "min"}


@dataclass(frozen=True)
class TradeOff:
    """What the most efficient model is weighed on: the non-dominated models and two of them."""

    frontier: list  # the models that no other beats on one criterion of `TRADE_OFF_CRITERIA` while matching the rest
    most_accurate: str  # the frontier model of highest mean validation accuracy (validation decides)
    cheaper: str | None  # the most accurate on validation of those costing at most half its computation


def trade_off(table) -> TradeOff:
    """The non-dominated models of `table` (`seed_table` plus a "compute" column), the most accurate, and the
    best of those that need half its computation or less."""
    frontier = pareto_set(table, TRADE_OFF_CRITERIA)
    most_accurate = max(frontier, key=lambda name: table.loc[name, "val_accuracy"])
    half = [name for name in frontier if table.loc[name, "compute"] <= 0.5 * table.loc[most_accurate, "compute"]]
    cheaper = max(half, key=lambda name: table.loc[name, "val_accuracy"]) if half else None
    return TradeOff(frontier, most_accurate, cheaper)


def within_margin(runs_by_name: dict, best: str) -> list[str]:
    """The models validation cannot tell from `best` (itself included), in the order of `runs_by_name`."""
    return [name for name, runs in runs_by_name.items()
            if name == best or compare(runs_by_name[best], runs, "val").result == SAME]


def seed_table(runs_by_name: dict) -> pd.DataFrame:
    """One row per model: the four criteria over its seeds (means; the shortest training time, the seeds' runs having
    sometimes shared the machine with other work), and spreads."""
    rows = {}
    for name, runs in runs_by_name.items():
        runs = as_runs(runs)
        rows[name] = {
            "experiment": name,
            "dataset": runs[0].config["dataset"],
            "seeds": len(runs),
            "epochs": len(runs[0].history),
            "train_accuracy": np.mean([r.accuracy("train") for r in runs]),
            "val_accuracy": np.mean([r.accuracy("val") for r in runs]),
            "test_accuracy": np.mean([r.accuracy("test") for r in runs]),
            "val_sd": mean_sd([r.accuracy("val") for r in runs])[1],
            "test_sd": mean_sd([r.accuracy("test") for r in runs])[1],
            "gap": np.mean([r.accuracy("train") - r.accuracy("val") for r in runs]),
            "seconds": float(np.min([r["wall_seconds"] for r in runs])),
            "params": runs[0]["params_total"],
        }  # fmt: skip
    return pd.DataFrame.from_dict(rows, orient="index")


def _gap(run) -> float:
    """The train − validation accuracy gap of one run (`lab.analysis.overfitting_gap`, which imports this module)."""
    return run.accuracy("train") - run.accuracy("val")


def compare_gaps(a, b) -> Comparison:
    """b against a on the train − validation gap (overfitting), over the seeds both have: the mean of the
    per-seed differences of gaps (b − a; below 0, b overfits less), decided as `compare` decides, from the
    seeds' spread and the validation images' paired error (that of the training accuracy, measured on
    nine times as many images, is left out). Needs the stored validation predictions."""
    gains = [_gap(run_b) - _gap(run_a) for run_a, run_b in paired_runs(a, b)]
    return _decided(gains, compare(a, b, "val").image_error, "gap")
