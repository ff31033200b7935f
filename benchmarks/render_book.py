"""Benchmark: `quarto render` of a fresh clone (both formats), cold then warm, against the 45 s target.

A fresh clone holds the committed `_freeze/`: Quarto renders it without executing a chapter
(unless a chapter's source changed since it was frozen). "Cold" is the first render of the
clone (no `.quarto/`, no `_book/`); "warm" renders it again at once. Each is printed with its
ratio to the target, measured in this run. Needs Quarto: `quarto` on PATH, or `$QUARTO`.

    LAB_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/render_book.py [--repeats 3]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 45  # a render of both formats from a fresh clone


def quarto() -> str:
    found = os.environ.get("QUARTO") or shutil.which("quarto")
    if not found:
        sys.exit("render_book: Quarto is missing: install it (pip install quarto-cli) or set $QUARTO")
    return found


def timed_render(folder: Path, command: str) -> float:
    environment = {**os.environ, "QUARTO_PYTHON": os.environ.get("QUARTO_PYTHON", sys.executable),
                   "LAB_ALLOW_TRAINING": "0"}  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run([command, "render"], cwd=folder, env=environment, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"render_book: quarto render failed:\n{done.stderr[-3000:]}")
    executed = done.stderr.count("Starting python3 kernel")
    print(f"    {seconds:6.1f} s = {seconds / TARGET_SECONDS:.2f} × the {TARGET_SECONDS} s target"
          f" ({executed} chapter executions)")  # fmt: skip
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    command = quarto()
    for repeat in range(1, args.repeats + 1):
        with tempfile.TemporaryDirectory() as temporary:
            clone = Path(temporary) / "clone"
            subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
            print(f"repeat {repeat}: cold (fresh clone)")
            timed_render(clone, command)
            print(f"repeat {repeat}: warm (the same clone again)")
            timed_render(clone, command)


if __name__ == "__main__":
    main()
