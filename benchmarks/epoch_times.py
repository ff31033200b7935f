"""Benchmark: the training time of one epoch of every model, measured in one run on one machine.

The wall times stored with the runs were measured while the machine did other work
(the same model ran at 13.1 s and 11.7 s per epoch in two runs). This times every
model back to back, in one process, so that their costs can be compared: for each
model, a few repetitions of `steps` training steps (after a warm-up) on arrays of the
dataset's shape, extrapolated to the epoch (training steps of the epoch's batches plus
the validation pass). It prints min / median / max over the repetitions, as ratios to
the first model, and stores the figures with the machine's description in
`results/benchmarks/epoch-times.json`. Run it on an otherwise idle machine:

    .venv/bin/python benchmarks/epoch_times.py [--repeats 3] [--steps 20]

`--beyond` times the models of the chapter "Aller plus loin" instead, beside the brief's
last models (their starting points), and stores them in `epoch-times-beyond.json`.

`--pair A B` times two models only, their repetitions interleaved (A, B, A, B, ...), so
that the machine's drifts fall on both alike, and prints the ratio B / A of each adjacent
pair; it stores them in `epoch-times-pair-A-B.json`. Use it, with more steps (`--steps
100 --repeats 5`), to compare two variants of one network (e.g. float32 and bfloat16):

    .venv/bin/python benchmarks/epoch_times.py --steps 100 --repeats 5 \\
        --pair cifar-vgg-aug-cosine-fp32 cifar-vgg-aug-cosine

`--machine TAG` stores a pair's figures under a name of its own (`epoch-times-pair-A-B-TAG.json`),
for a machine other than the one the runs were trained on.
"""

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import BEYOND, BRIEF, epoch_benchmark_file, models, store, train  # noqa: E402
from lab.experiments import Ensemble  # noqa: E402
from lab.models import INPUT_SHAPES  # noqa: E402

TRAIN_SIZES = {"fashion_mnist": 60000, "cifar10": 50000}


def epoch_seconds(experiment, steps: int) -> float:
    """One epoch's time, extrapolated from `steps` timed training steps and a timed validation pass."""
    batch = experiment.batch_size
    n_train = TRAIN_SIZES[experiment.dataset]
    n_val = round(n_train * experiment.validation_fraction)
    model = models.build(experiment)
    train.compile_model(experiment, model, steps_per_epoch=math.ceil((n_train - n_val) / batch))
    x = np.random.default_rng(0).random((batch * (steps + 2), *INPUT_SHAPES[experiment.dataset]), dtype=np.float32)
    y = np.zeros(len(x), dtype="int64")
    model.fit(x[: 2 * batch], y[: 2 * batch], batch_size=batch, epochs=1, verbose=0)  # warm-up: trace the step
    started = time.perf_counter()
    model.fit(x[2 * batch :], y[2 * batch :], batch_size=batch, epochs=1, verbose=0, shuffle=False)
    per_step = (time.perf_counter() - started) / steps
    started = time.perf_counter()
    model.evaluate(x, y, batch_size=batch, verbose=0)
    per_image = (time.perf_counter() - started) / len(x)
    return per_step * math.ceil((n_train - n_val) / batch) + per_image * n_val


def measured_pair(a, b, steps: int, repeats: int) -> dict:
    """Epoch times of `a` and `b`, repetitions interleaved, and the ratio b / a of each adjacent pair."""
    times = {a.name: [], b.name: []}
    for _ in range(repeats):
        for experiment in (a, b):
            times[experiment.name].append(epoch_seconds(experiment, steps))
    ratios = [tb / ta for ta, tb in zip(times[a.name], times[b.name], strict=True)]
    return {"epoch_seconds": times, "ratios": ratios, "median_ratio": float(np.median(ratios))}


def _record(args, load_before, figures: dict) -> dict:
    return {**figures, "repeats": args.repeats, "steps": args.steps,
            "environment": train.environment(), "load_average_before": load_before,
            "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version()}  # fmt: skip


def _store(name: str, record: dict) -> None:
    target = store.results_dir() / "benchmarks" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    store.write_atomically(target, lambda file: file.write(json.dumps(record, indent=1).encode() + b"\n"))
    print(f"stored in {target}")


def pair(args, load_before) -> None:
    from lab import get

    a, b = (get(name) for name in args.pair)
    figures = measured_pair(a, b, args.steps, args.repeats)
    for name, times in figures["epoch_seconds"].items():
        print(f"{name:<30} " + " ".join(f"{t:7.1f}" for t in times))
    ratios = " ".join(f"{r:.2f}" for r in figures["ratios"])
    print(f"{b.name} / {a.name}: median {figures['median_ratio']:.2f} (each pair: {ratios})")
    _store(epoch_benchmark_file(pair=(a.name, b.name), machine=args.machine), _record(args, load_before, figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--beyond", action="store_true", help="the models beyond the brief, and their starting points")
    parser.add_argument("--pair", nargs=2, metavar=("A", "B"), help="two models, repetitions interleaved")
    parser.add_argument("--machine", help="with --pair: store under a name of its own, for another machine")
    args = parser.parse_args()
    if args.machine and not args.pair:
        parser.error("--machine names the figures of a --pair only")
    if args.pair:
        pair(args, os.getloadavg())
        return
    starting_points = {name: BRIEF[name] for name in ("fashion-dropout-norm", "cifar-conv6-bn-relu-40")}
    networks = {name: e for name, e in BEYOND.items() if not isinstance(e, Ensemble)}  # an ensemble trains its members
    chosen = {**starting_points, **networks} if args.beyond else BRIEF
    load_before = os.getloadavg()  # the 1-minute load should be near 0: nothing else running
    train.set_seed(0)
    figures = {}
    for name, experiment in chosen.items():
        times = sorted(epoch_seconds(experiment, args.steps) for _ in range(args.repeats))
        figures[name] = {"min": times[0], "median": float(np.median(times)), "max": times[-1]}
    first = figures[next(iter(figures))]["median"]
    print(f"{'model':<26} {'min':>7} {'median':>7} {'max':>7}  {'× first':>7}  spread")
    for name, t in figures.items():
        spread = (t["max"] - t["min"]) / t["median"]
        ratio = t["median"] / first
        print(f"{name:<26} {t['min']:7.1f} {t['median']:7.1f} {t['max']:7.1f}  {ratio:7.2f}  {spread:6.1%}")
    record = _record(args, load_before, {"epoch_seconds": figures})
    _store(epoch_benchmark_file(beyond=args.beyond), record)


if __name__ == "__main__":
    main()
