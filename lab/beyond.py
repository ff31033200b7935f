"""The chapter "Aller plus loin" as data: each ablation's steps and what decided them, the final
models, the variants tried and discarded, and the published results set beside ours.

One rule decides, stated once in the chapter: **validation decides; within the margin of
`lab.stats.compare`, the simpler model** (the earlier step of a chain, or the step a variant was
tried on). The test accuracies are reported beside, never used to choose. The chapter and its
claims tests read their values here, so that a sentence and its test cannot drift apart.

Imports from lab: experiments, references, stats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab import experiments, references, stats

CHAINS = experiments.CHAINS
TRIED = experiments.TRIED
SEEDS = experiments.THREE_SEEDS  # the seeds each step and variant is planned with, and the chapter reads


@dataclass(frozen=True)
class Step:
    """One step of an ablation: the model, and how it compares with the step before."""

    name: str
    on_validation: stats.Comparison | None  # against the previous step: what decides
    on_test: stats.Comparison | None  # the same on the test images: reported only
    val_per_seed: tuple[float, ...]  # accuracies, in seed order
    test_per_seed: tuple[float, ...]

    @property
    def seeds(self) -> int:
        return len(self.val_per_seed)

    @property
    def val_accuracy(self) -> float:
        """The mean over the seeds."""
        return float(np.mean(self.val_per_seed))

    @property
    def test_accuracy(self) -> float:
        return float(np.mean(self.test_per_seed))

    @property
    def title(self) -> str:
        return experiments.get(self.name).title


def _mean(runs, split: str) -> float:
    return stats.seed_mean(runs, lambda run: run.accuracy(split))


def steps(chain, runs_by_name: dict) -> list[Step]:
    """The steps of `chain` (experiment names, the brief's model first), each compared with the one before."""
    result = []
    for previous, name in zip((None, *chain[:-1]), chain, strict=True):
        runs = stats.as_runs(runs_by_name[name])
        before = runs_by_name[previous] if previous else None
        result.append(Step(name, stats.compare(before, runs, "val") if before else None,
                           stats.compare(before, runs) if before else None,
                           *(tuple(run.accuracy(split) for run in runs) for split in ("val", "test"))))  # fmt: skip
    return result


def chosen(chain, runs_by_name: dict) -> str:
    """The model the rule picks in `chain`: the earliest step that validation cannot tell below the best one."""
    best = max(chain, key=lambda name: _mean(stats.as_runs(runs_by_name[name]), "val"))
    best_runs = runs_by_name[best]
    return next(name for name in chain
                if name == best or stats.compare(runs_by_name[name], best_runs, "val").result != stats.BETTER)


def tried(runs_by_name: dict, variants: dict | None = None) -> pd.DataFrame:
    """One row per variant tried on a step: its validation comparison with that step, and whether the rule keeps it
    (only a gain beyond the margin does)."""
    rows = []
    for variant, step in (TRIED if variants is None else variants).items():
        on_validation = stats.compare(runs_by_name[step], runs_by_name[variant], "val")
        rows.append({"variant": variant, "step": step, "on_validation": on_validation,
                     "on_test": stats.compare(runs_by_name[step], runs_by_name[variant]),
                     "kept": on_validation.result == stats.BETTER})  # fmt: skip
    return pd.DataFrame(rows).set_index("variant") if rows else pd.DataFrame(columns=["step", "kept"])


def published(dataset: str) -> list[references.Reference]:
    """The published results on `dataset` the chapter sets beside ours, best first."""
    return sorted(references.for_dataset(dataset), key=lambda reference: -reference.accuracy)


def candidates(chain, tried_variants: pd.DataFrame) -> tuple[str, ...]:
    """The models the rule chooses among in `chain`, simplest first: its steps, each followed by the variants
    tried on it that the rule keeps (`tried`: beyond the margin on validation). `chosen` of them is the model kept.
    """
    kept = tried_variants[tried_variants["kept"]] if len(tried_variants) else tried_variants
    return tuple(name for step in chain for name in (step, *kept.index[kept["step"] == step]))


def kept(dataset: str, runs_by_name: dict) -> str:
    """The model the rule keeps for `dataset`: among its chain's steps and the variants tried on them that it keeps
    (`runs_by_name` holds the runs of every step and every variant tried)."""
    return chosen(candidates(CHAINS[dataset], tried(runs_by_name)), runs_by_name)


def disagreements(chain_steps: list[Step]) -> list[str]:
    """The steps whose test gain, read after the choice, goes the other way from their validation gain: where the
    validation, which decided, did not foretell the test."""
    return [step.name for step in chain_steps
            if step.on_validation and (step.on_test.gain > 0) != (step.on_validation.gain > 0)]  # fmt: skip
