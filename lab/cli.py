"""The `lab` command: list the experiments, show what is stored, train.

lab list
lab status
lab train fashion-base cifar-norm --seeds 0 1
lab train --all [--missing]

Imports from lab: the package (`ConfigurationError`), backend, data, experiments, models, params, progress,
store, train.
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings

from lab import ConfigurationError, backend, experiments, params, store, train
from lab.data import DatasetUnavailableError
from lab.models import SpecError
from lab.progress import TrainingProgress

NAME_WIDTH = max(len(name) for name in experiments.EXPERIMENTS)  # experiment names in aligned columns


def _seed(text: str) -> int:
    """A seed: a non-negative integer (what `keras.utils.set_random_seed` accepts)."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is a whole number, got {text!r}") from None
    if not 0 <= seed <= backend.MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is between 0 and 2**32 - 1, got {seed}")
    return seed


def _parser() -> argparse.ArgumentParser:
    description = "Experiments of the CNN lab (TP) and their stored results."
    parser = argparse.ArgumentParser(prog="lab", description=description)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the experiments (the brief's, then beyond it)")
    status = commands.add_parser("status", help="present / stale / missing / corrupt, per experiment and seed")
    status.add_argument("--seeds", type=_seed, nargs="+",
                        help="seeds to check (default: the seeds each experiment is planned with)")  # fmt: skip
    train = commands.add_parser("train", help="train experiments and store their results")
    train.add_argument("names", nargs="*", help="experiment names (see `lab list`)")
    train.add_argument("--all", action="store_true", help="every experiment (the brief's, then beyond it)")
    train.add_argument("--seeds", type=_seed, nargs="+",
                       help="seeds to train (default: the seeds each experiment is planned with)")  # fmt: skip
    train.add_argument("--missing", action="store_true",
                       help="train only runs that are missing, stale or corrupt")  # fmt: skip
    return parser


def cmd_list() -> int:
    print(f"{'experiment':<{NAME_WIDTH}} {'dataset':<14} {'params':>8} {'epochs':>6} {'batch':>5} {'seeds':>5}  brief")
    for e in experiments.EXPERIMENTS.values():
        brief = " ".join(e.brief) or "(beyond the brief)"
        seeds = ",".join(map(str, e.seeds))
        print(f"{e.name:<{NAME_WIDTH}} {e.dataset:<14} {params.count_params(e):>8} {e.epochs:>6} "
              f"{e.batch_size:>5} {seeds:>5}  {brief}")  # fmt: skip
    return 0


def cmd_status(seeds) -> int:
    counts = dict.fromkeys(store.STATES, 0)
    for e in experiments.EXPERIMENTS.values():
        states = {seed: store.status(e, seed) for seed in seeds or e.seeds}
        for state in states.values():
            counts[state] += 1
        texts = [f"seed-{seed}: {_state_text(e, seed, state)}" for seed, state in states.items()]
        print(f"{e.name:<{NAME_WIDTH}} " + "  ".join(texts))
    print(", ".join(f"{n} {state}" for state, n in counts.items()))
    return 0 if counts[store.PRESENT] == sum(counts.values()) else 1


def _state_text(experiment, seed: int, state: str) -> str:
    """The state, and where an interrupted training of the run will resume (or that its checkpoint is damaged)."""
    if state == store.PRESENT:
        return state
    checkpoint = train.Checkpoint(experiment, seed)
    epoch = checkpoint.saved_epoch()
    if checkpoint.damaged:
        return f"{state} (damaged checkpoint: lab train sets it aside and trains from epoch 0)"
    return f"{state} (resumes after epoch {epoch}/{experiment.epochs})" if epoch else state


def _selected(args) -> list:
    if args.all == bool(args.names):
        raise SystemExit("lab train: name one or more experiments, or use --all (not both)")
    names = list(experiments.EXPERIMENTS) if args.all else args.names
    return [experiments.get(name) for name in names]


def cmd_train(args) -> int:
    # each run once, in the order named (a name or a seed given twice would train it twice)
    named = [(e, seed) for e in _selected(args) for seed in args.seeds or e.seeds]
    runs = list({(e.name, seed): (e, seed) for e, seed in named}.values())
    try:
        for experiment, seed in runs:
            backend.check_seed(experiment, seed)
    except backend.SeedError as error:
        print(f"lab train: {error}", file=sys.stderr)
        return 2
    store.check_trainable()  # before any training: a result that cannot be stored is hours lost
    if args.missing:
        runs = [(e, seed) for e, seed in runs if store.status(e, seed) != store.PRESENT]
    for experiment, seed in runs:  # every folder each training writes, before the first epoch of any
        train.check_before_training(experiment, seed)
    busy = []
    with backend.benign_native_logs_hidden(), TrainingProgress(runs) as progress:
        for experiment, seed in runs:
            try:
                run = progress.train(experiment, seed)
            except train.RunInProgressError as error:
                progress.write(f"lab: skipped: {error}")
                busy.append(experiment.name)
                continue
            after = run.record.get("resumed_after_epoch")
            resumed = f", resumed after epoch {after}" if after else ""
            progress.write(f"{run.name} seed {seed}: test accuracy {run.accuracy('test'):.4f}, "
                           f"{run['wall_seconds']:.0f} s{resumed} -> {run.folder}")  # fmt: skip
    return 1 if busy else 0


# Errors that say what is wrong and how to fix it: printed as one line, without a traceback.
KNOWN_ERRORS = (store.StoredResultError, store.ResultsNotWritableError, DatasetUnavailableError, SpecError,
                ConfigurationError, backend.SeedError)  # fmt: skip


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"lab: warning: {message}\n"


class Terminated(BaseException):
    """SIGTERM arrived (`kill`, a machine shutting down): stop as after Ctrl-C, and say so."""


def _terminate(signum, frame):
    raise Terminated


def main(argv=None) -> int:
    if argv is None and hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `lab list | head` ends quietly
    warnings.formatwarning = _one_line_warning
    args = _parser().parse_args(argv)
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: signals are not ours to handle
        previous = None
    try:
        return _run(args)
    except Terminated:
        print("\nlab: terminated (SIGTERM); finished runs are stored, the run in progress resumes from its last "
              "epoch at the next `lab train`.", file=sys.stderr)  # fmt: skip
        return 128 + signal.SIGTERM
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args) -> int:
    try:
        if args.command == "list":
            return cmd_list()
        if args.command == "status":
            return cmd_status(args.seeds)
        return cmd_train(args)
    except experiments.UnknownExperimentError as error:
        print(f"lab: {error}", file=sys.stderr)
        return 2
    except KNOWN_ERRORS as error:
        print(f"lab: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nlab: interrupted; finished runs are stored, the run in progress resumes from its last "
              "epoch at the next `lab train`.", file=sys.stderr)  # fmt: skip
        return 130


if __name__ == "__main__":
    sys.exit(main())
