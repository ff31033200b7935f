"""Benchmark: execute every chapter of the book from the stored results, as `quarto render` does.

A cold `quarto render` executes every chapter once per output format (HTML and Typst:
freeze results are kept per format), so the book's execution time counts twice. This
prints each chapter's time, one execution of the whole book, and the two formats'
executions as a ratio of the target (a cold render of both formats in 90 s on two
cores), all measured in this run. Quarto's own work (pandoc, Typst) comes on top and
cannot be measured on machines without Quarto.

    LAB_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/execute_book.py
"""

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LAB_ALLOW_TRAINING", "0")

from tests import quarto_book  # noqa: E402

TARGET_SECONDS = 90  # a cold render of both formats
FORMATS = 2  # HTML and Typst


def main() -> None:
    # the chapters as the tests execute them: one kernel per core
    paths = [ROOT / chapter for chapter in quarto_book.chapter_files()]
    started = time.perf_counter()
    quarto_book.execute_all(paths)
    parallel = time.perf_counter() - started
    total = 0.0
    for chapter in quarto_book.chapter_files():
        started = time.perf_counter()
        quarto_book.execute(ROOT / chapter)
        seconds = time.perf_counter() - started
        total += seconds
        print(f"{chapter:<40} {seconds:6.1f} s")
    both = FORMATS * total
    print(f"{'one execution of the book':<40} {total:6.1f} s")
    ratio = both / TARGET_SECONDS
    print(f"{'both formats (2 executions)':<40} {both:6.1f} s = {ratio:.2f} × the {TARGET_SECONDS} s target")
    print(f"{'the book, one kernel per core (tests)':<40} {parallel:6.1f} s = {parallel / total:.2f} × one execution")


if __name__ == "__main__":
    main()
