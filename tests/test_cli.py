"""The `lab` command line: list, status, train (training itself replaced by a stand-in)."""

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lab import cli, store
from lab import train as train_module
from lab.experiments import EXPERIMENTS

PLANNED_RUNS = sum(len(e.seeds) for e in EXPERIMENTS.values())  # what `lab status` checks by default


def fake_record(experiment, seed):
    return {
        "experiment": experiment.name,
        "seed": seed,
        "config": experiment.config(),
        "config_hash": experiment.config_hash(), "procedure": store.PROCEDURE,
        "metrics": {split: {"loss": 0.5, "accuracy": 0.75} for split in ("train", "val", "test")},
        "history": [{"loss": 0.5, "accuracy": 0.75, "val_loss": 0.6, "val_accuracy": 0.7, "seconds": 1.0}],
        "wall_seconds": 12.0,
    }


def store_fake(experiment, seed):
    probabilities = np.full((4, 10), 0.1, dtype=np.float32)
    return store.save(fake_record(experiment, seed), probabilities, np.array([0, 0, 0, 1]))  # accuracy 0.75


@pytest.fixture
def fake_training(monkeypatch, results_root):
    """Replace `lab.train.train` by a stand-in that stores a fake run at once; record the calls."""
    calls = []

    def fake_train(experiment, seed=0, root=None, on_epoch=None):
        calls.append((experiment.name, seed))
        for epoch in range(1, experiment.epochs + 1):
            if on_epoch:
                on_epoch(epoch, {"accuracy": 0.75, "val_accuracy": 0.7})
        return store_fake(experiment, seed)

    monkeypatch.setattr(train_module, "train", fake_train)
    return calls


def test_list_prints_every_experiment(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in EXPERIMENTS:
        assert name in out
    fashion_base = next(line for line in out.splitlines() if line.startswith("fashion-base "))
    assert fashion_base.split()[1:6] == ["fashion_mnist", "244298", "20", "64", "0,1,2,3,4"]
    assert "q-2-2 q-2-3 q-2-4" in fashion_base
    step = next(line for line in out.splitlines() if line.startswith("fashion-vgg "))
    assert step.split()[5:] == ["0,1,2", "(beyond", "the", "brief)"]


def test_train_unknown_name_lists_valid_names(capsys, fake_training):
    assert cli.main(["train", "nope"]) != 0
    err = capsys.readouterr().err
    assert "unknown experiment 'nope'" in err
    for name in EXPERIMENTS:
        assert name in err
    assert fake_training == []


def test_train_without_names_is_refused(fake_training):
    with pytest.raises(SystemExit) as raised:
        cli.main(["train"])
    assert "name one or more experiments, or use --all" in str(raised.value.code)
    with pytest.raises(SystemExit, match="not both"):
        cli.main(["train", "--all", "fashion-base"])
    assert fake_training == []


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main([])
    assert raised.value.code == 2
    assert "usage: lab" in capsys.readouterr().err


def test_status_with_nothing_stored(capsys, results_root):
    assert cli.main(["status"]) != 0
    out = capsys.readouterr().out
    for name in EXPERIMENTS:
        assert f"{name} " in out
    assert out.count("seed-0: missing") == len(EXPERIMENTS)
    assert f"{'fashion-base':<{cli.NAME_WIDTH}} seed-0: missing  seed-1: missing  seed-2: missing" in out
    three = f"{'fashion-vgg-cos-mirror':<{cli.NAME_WIDTH}} seed-0: missing  seed-1: missing  seed-2: missing\n"
    assert three in out  # planned with three seeds (a variant tried on a step)
    assert len(f"{'fashion-dense128-alone-norm':<{cli.NAME_WIDTH}} ") == cli.NAME_WIDTH + 1  # the longest fits
    assert out.splitlines()[-1] == f"0 present, 0 stale, {PLANNED_RUNS} missing, 0 corrupt"


def test_status_with_everything_stored(capsys, results_root):
    for experiment in EXPERIMENTS.values():
        store_fake(experiment, 0)
    store_fake(EXPERIMENTS["cifar-norm"].replace(epochs=3), 1)  # seed 1 stored under another configuration
    assert cli.main(["status", "--seeds", "0"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{len(EXPERIMENTS)} present, 0 stale, 0 missing, 0 corrupt"
    assert cli.main(["status", "--seeds", "0", "1"]) == 1
    out = capsys.readouterr().out
    assert "seed-0: present  seed-1: stale" in next(line for line in out.splitlines() if line.startswith("cifar-norm "))
    assert out.splitlines()[-1] == f"{len(EXPERIMENTS)} present, 1 stale, {len(EXPERIMENTS) - 1} missing, 0 corrupt"


def test_train_named_experiments_and_seeds(capsys, fake_training, results_root):
    assert cli.main(["train", "fashion-base", "cifar-norm", "--seeds", "0", "1"]) == 0
    assert fake_training == [("fashion-base", 0), ("fashion-base", 1), ("cifar-norm", 0), ("cifar-norm", 1)]
    assert store.status(EXPERIMENTS["cifar-norm"], 1) == store.PRESENT
    output = capsys.readouterr()
    assert "cifar-norm seed 1: test accuracy 0.7500, 12 s" in output.out + output.err


def test_train_missing_skips_fresh_runs(fake_training, results_root):
    store_fake(EXPERIMENTS["fashion-base"], 0)
    store_fake(EXPERIMENTS["cifar-norm"].replace(epochs=1), 0)  # stale: retrained
    assert cli.main(["train", "fashion-base", "cifar-norm", "cifar-raw", "--missing", "--seeds", "0"]) == 0
    assert fake_training == [("cifar-norm", 0), ("cifar-raw", 0)]


def test_train_without_seeds_trains_the_planned_ones(fake_training, results_root):
    assert cli.main(["train", "fashion-base", "fashion-vgg-cos-mirror"]) == 0
    assert fake_training == [("fashion-base", seed) for seed in range(5)] + [
        ("fashion-vgg-cos-mirror", seed) for seed in range(3)]


def test_status_reports_and_train_missing_retrains_a_corrupt_run(capsys, fake_training, results_root):
    for experiment in EXPERIMENTS.values():
        store_fake(experiment, 0)
    (results_root / "cifar-raw" / "seed-0" / "run.json").write_bytes(b"\xff not json")
    assert cli.main(["status", "--seeds", "0"]) == 1
    out = capsys.readouterr().out
    assert f"{'cifar-raw':<{cli.NAME_WIDTH}} seed-0: corrupt" in out
    assert out.splitlines()[-1] == f"{len(EXPERIMENTS) - 1} present, 0 stale, 0 missing, 1 corrupt"
    assert cli.main(["train", "--all", "--missing", "--seeds", "0"]) == 0
    assert fake_training == [("cifar-raw", 0)]
    assert store.status(EXPERIMENTS["cifar-raw"], 0) == store.PRESENT


@pytest.mark.parametrize("seeds", [["-1"], ["x"], ["0", "4294967296"]])
def test_a_bad_seed_is_a_usage_error_not_a_traceback(capsys, seeds):
    with pytest.raises(SystemExit) as exited:
        cli.main(["train", "fashion-base", "--seeds", *seeds])
    assert exited.value.code == 2
    assert "a seed is" in capsys.readouterr().err


def test_results_that_cannot_be_written_fail_before_any_training(capsys, fake_training, tmp_path, monkeypatch):
    target = tmp_path / "results-file"
    target.write_text("")
    monkeypatch.setenv("LAB_RESULTS_DIR", str(target))
    assert cli.main(["train", "--all"]) == 1
    assert fake_training == []
    err = capsys.readouterr().err
    assert err.startswith("lab: the results folder") and len(err.strip().splitlines()) == 1


def test_known_errors_print_one_line_without_a_traceback(capsys, monkeypatch, results_root):
    from lab.data import DatasetUnavailableError

    def unavailable(experiment, seed=0, root=None, on_epoch=None):
        raise DatasetUnavailableError("CIFAR-10 is not available: no network.\n  Fix: set LAB_DATA_DIR.")

    monkeypatch.setattr(train_module, "train", unavailable)
    assert cli.main(["train", "cifar-raw"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "lab: CIFAR-10 is not available: no network. Fix: set LAB_DATA_DIR."
    assert "Traceback" not in err


def test_a_run_trained_elsewhere_at_the_same_time_is_skipped(capsys, monkeypatch, results_root):
    def busy(experiment, seed=0, root=None, on_epoch=None):
        raise train_module.RunInProgressError(f"{experiment.name} seed {seed} is being trained by another process")

    monkeypatch.setattr(train_module, "train", busy)
    assert cli.main(["train", "fashion-base"]) == 1
    output = capsys.readouterr()
    assert "lab: skipped: fashion-base seed 0 is being trained by another process" in output.out + output.err


def test_a_corrupt_stored_run_is_reported_in_one_line_by_status(capsys, results_root):
    store_fake(EXPERIMENTS["fashion-base"], 0)
    (results_root / "fashion-base" / "seed-0" / "run.json").write_text('{"experiment": "fashion-base"}')
    assert cli.main(["status"]) == 1


def test_train_all_missing(fake_training, results_root):
    for experiment in EXPERIMENTS.values():
        if experiment.name != "cifar-conv6":
            store_fake(experiment, 0)
    assert cli.main(["train", "--all", "--missing", "--seeds", "0"]) == 0
    assert fake_training == [("cifar-conv6", 0)]
    fake_training.clear()
    assert cli.main(["train", "--all", "--missing"]) == 0  # the planned seeds: 1 and 2 of the three-seed ones
    assert fake_training == [(e.name, seed) for e in EXPERIMENTS.values() for seed in e.seeds if seed]


def test_cpu_flags_name_the_instruction_sets_that_decide_the_speed():
    zen3 = "processor\t: 0\nflags\t\t: fpu sse2 avx fma avx2 sha_ni vaes\nbogomips\t: 4890.85\n"
    assert train_module.cpu_flags(zen3) == ["avx2", "fma"]
    zen4 = "flags\t\t: fpu avx2 fma avx512f avx512_vnni avx512_bf16 avx512vl\n"
    assert train_module.cpu_flags(zen4) == ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"]
    assert train_module.cpu_flags("") == []


def test_train_interrupted(monkeypatch, capsys, results_root):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "train", interrupted)
    assert cli.main(["train", "fashion-base"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_console_script_entry_point():
    (entry_point,) = importlib.metadata.entry_points(group="console_scripts", name="lab")
    assert entry_point.value == "lab.cli:main"
    assert entry_point.load() is cli.main


def test_console_script_runs(results_root):
    script = shutil.which("lab", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the `lab` console script is not installed beside this Python (pip install -e .)")
    result = subprocess.run([script, "list"], capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    for name in EXPERIMENTS:
        assert name in result.stdout


def test_benign_native_logs_are_hidden_and_real_errors_kept(capfd):
    from lab import backend

    with backend.benign_native_logs_hidden():
        os.write(2, b"E0000 00:00:1 node_def_util.cc:682] NodeDef mentions attribute use_unbounded_threadpool "
                    b"which is not in the op definition: Op<name=ParallelMapDatasetV2>\n")  # fmt: skip
        os.write(2, b"E0000 00:00:2 some_kernel.cc:12] Out of memory while allocating\n")
        print("progress bar", file=sys.stderr)
    err = capfd.readouterr().err
    assert "use_unbounded_threadpool" not in err
    assert "Out of memory while allocating" in err and "progress bar" in err


def test_a_warning_prints_as_one_line():
    message = cli._one_line_warning(UserWarning("CIFAR-10 loaded from the offline JPEG copy"), UserWarning, "x.py", 3)
    assert message == "lab: warning: CIFAR-10 loaded from the offline JPEG copy\n"


def _interrupted(experiment, seed: int, epoch: int) -> None:
    """A checkpoint as an interrupted training leaves it (its metadata only), after `epoch`."""
    import json

    folder = store.checkpoints_dir() / experiment.name / f"seed-{seed}"
    folder.mkdir(parents=True)
    meta = {"config_hash": experiment.config_hash(), "seed": seed, "procedure": store.PROCEDURE, "epoch": epoch,
            "history": [], "elapsed": 1.0}
    np.savez(folder / "state.npz", meta=np.array(json.dumps(meta)))


def test_status_says_where_an_interrupted_training_resumes(capsys, results_root):
    _interrupted(EXPERIMENTS["cifar-conv6"], seed=1, epoch=6)
    cli.main(["status", "--seeds", "0", "1"])
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("cifar-conv6 "))
    assert "seed-0: missing  seed-1: missing (resumes after epoch 6/10)" in line


def test_the_overall_progress_drops_the_epochs_of_a_run_evaluated_from_its_twin(monkeypatch, results_root):
    from lab import progress

    twin_run = store.Run({"weights_from": {"experiment": "fashion-vgg-cos", "seed": 0}}, None)
    monkeypatch.setattr(progress.train, "train", lambda experiment, seed, on_epoch: twin_run)
    final, step = cli.experiments.get("fashion-vgg-cos-mirror"), cli.experiments.get("fashion-vgg")
    with progress.TrainingProgress([(final, 0), (step, 0)]) as bars:
        assert bars.overall.total == final.epochs + step.epochs
        assert bars.train(final, 0) is twin_run
        assert bars.overall.total == step.epochs


def test_the_progress_of_a_resumed_run_starts_at_its_saved_epoch(monkeypatch, results_root):
    from lab import progress

    experiment = EXPERIMENTS["cifar-conv6"]
    _interrupted(experiment, seed=0, epoch=6)
    seen = []

    def resume(experiment, seed, on_epoch):
        for epoch in range(7, experiment.epochs + 1):
            on_epoch(epoch, {"accuracy": 0.5, "val_accuracy": 0.5})
            seen.append(bars.overall.n)
        return store.Run({}, None)

    monkeypatch.setattr(progress.train, "train", resume)
    with progress.TrainingProgress([(experiment, 0), (experiment, 1)]) as bars:
        assert bars.overall.total == 4 + 10
        bars.train(experiment, 0)
    assert seen == [1, 2, 3, 4]
