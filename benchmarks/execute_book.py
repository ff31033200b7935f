"""Benchmark: execute every chapter of the book from the stored results, as the tests do.

Prints each chapter's time and the total against the target (the whole book in under
two minutes on the project's 2-core machine), as a ratio measured in this run.

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

TARGET_SECONDS = 120


def main() -> None:
    total = 0.0
    for chapter in quarto_book.chapter_files():
        started = time.perf_counter()
        quarto_book.execute(ROOT / chapter)
        seconds = time.perf_counter() - started
        total += seconds
        print(f"{chapter:<40} {seconds:6.1f} s")
    print(f"{'whole book':<40} {total:6.1f} s = {total / TARGET_SECONDS:.2f} × the {TARGET_SECONDS} s target")


if __name__ == "__main__":
    main()
