"""The `lab` command: list the experiments, show what is stored, train.

lab list
lab status
lab train fashion-base cifar-norm --seeds 0 1
lab train --all [--missing]
"""

from __future__ import annotations

import argparse
import signal
import sys

from lab import experiments, params, store


def _parser() -> argparse.ArgumentParser:
    description = "Experiments of the CNN lab (TP) and their stored results."
    parser = argparse.ArgumentParser(prog="lab", description=description)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the experiments of the brief")
    status = commands.add_parser("status", help="present / stale / missing, per experiment and seed")
    status.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds to check (default: 0)")
    train = commands.add_parser("train", help="train experiments and store their results")
    train.add_argument("names", nargs="*", help="experiment names (see `lab list`)")
    train.add_argument("--all", action="store_true", help="every experiment of the brief")
    train.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds to train (default: 0)")
    train.add_argument("--missing", action="store_true", help="skip runs that are already present and fresh")
    return parser


def cmd_list() -> int:
    print(f"{'experiment':<26} {'dataset':<14} {'params':>8} {'epochs':>6} {'batch':>5}  brief")
    for e in experiments.EXPERIMENTS.values():
        brief = " ".join(e.brief)
        print(f"{e.name:<26} {e.dataset:<14} {params.count_params(e):>8} {e.epochs:>6} {e.batch_size:>5}  {brief}")
    return 0


def cmd_status(seeds) -> int:
    counts = {store.PRESENT: 0, store.STALE: 0, store.MISSING: 0}
    for e in experiments.EXPERIMENTS.values():
        states = {seed: store.status(e, seed) for seed in seeds}
        for state in states.values():
            counts[state] += 1
        print(f"{e.name:<26} " + "  ".join(f"seed-{seed}: {state}" for seed, state in states.items()))
    print(", ".join(f"{n} {state}" for state, n in counts.items()))
    return 0 if counts[store.PRESENT] == sum(counts.values()) else 1


def _selected(args) -> list:
    if args.all == bool(args.names):
        raise SystemExit("lab train: name one or more experiments, or use --all (not both)")
    names = list(experiments.EXPERIMENTS) if args.all else args.names
    return [experiments.get(name) for name in names]


def cmd_train(args) -> int:
    from lab.progress import TrainingProgress

    runs = [(e, seed) for e in _selected(args) for seed in args.seeds]
    if args.missing:
        runs = [(e, seed) for e, seed in runs if store.status(e, seed) != store.PRESENT]
    with TrainingProgress(runs) as progress:
        for experiment, seed in runs:
            run = progress.train(experiment, seed)
            progress.write(f"{run.name} seed {seed}: test accuracy {run.accuracy('test'):.4f}, "
                           f"{run['wall_seconds']:.0f} s -> {run.folder}")  # fmt: skip
    return 0


def main(argv=None) -> int:
    if argv is None and hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `lab list | head` ends quietly
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return cmd_list()
        if args.command == "status":
            return cmd_status(args.seeds)
        return cmd_train(args)
    except experiments.UnknownExperimentError as error:
        print(f"lab: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nlab: interrupted; finished runs are stored, the run in progress was not saved.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
