"""Helpers for the report's chapters: French number formatting and Markdown tables.

Numbers quoted in the prose go through these functions, so that the book writes
`89,3 %` and `244 298` as French typography wants, from the stored values.
"""

from __future__ import annotations

import pandas as pd

NBSP = "\u00a0"


def num(value) -> str:
    """An integer with a non-breaking space between thousands: 244 298."""
    return f"{int(round(float(value))):,}".replace(",", NBSP)


def dec(value: float, digits: int = 2) -> str:
    """A decimal number with a decimal comma: 0,25."""
    return f"{value:.{digits}f}".replace(".", ",")


def pct(value: float, digits: int = 1) -> str:
    """A proportion as a French percentage: 0.8934 -> 89,3 %."""
    return f"{dec(100 * value, digits)}{NBSP}%"


def pts(value: float, digits: int = 1, signed: bool = True) -> str:
    """A difference of proportions in percentage points, signed: +2,4 points, −0,6 point."""
    sign = ("+" if value >= 0 else "−") if signed else ""
    unit = "points" if round(abs(100 * value), digits) >= 2 else "point"  # French: 1,5 point, 2 points
    return f"{sign}{dec(abs(100 * value), digits)}{NBSP}{unit}"


def duration(seconds: float) -> str:
    """A duration in words: 42 s, 3 min 12 s, 1 h 05 min."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}{NBSP}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}{NBSP}min {seconds:02d}{NBSP}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}{NBSP}h {minutes:02d}{NBSP}min"


def names(items) -> str:
    """A French enumeration: « a », « b » et « c »."""
    quoted = [f"«{NBSP}{item}{NBSP}»" for item in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " et " + quoted[-1]


def table(frame: pd.DataFrame, index: bool = False, **formats):
    """A DataFrame as a Markdown table (rendered by Quarto in HTML and PDF alike).

    `formats` maps a column to a function that formats its values, e.g. `accuracy=pct`.
    """
    from IPython.display import Markdown

    frame = frame.copy()
    for column, formatter in formats.items():
        frame[column] = [formatter(value) if pd.notna(value) else "" for value in frame[column]]
    frame = frame.astype(object).where(frame.notna(), "")
    return Markdown(frame.to_markdown(index=index, disable_numparse=True))
