"""Text output shared by the commands: aligned tables and UTC times."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from typing import Any

import click


def when(ts: int | None) -> str:
    """Epoch seconds as ``2026-11-29 17:48:39Z``; ``""`` for none."""
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def display_width(text: str) -> int:
    """Terminal columns of ``text``: wide (CJK) characters take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """An aligned text table measured in terminal columns (``None`` prints as empty)."""
    cells = [list(headers), *([("" if v is None else str(v)) for v in row] for row in rows)]
    widths = [max(display_width(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        padded = (v + " " * (w - display_width(v)) for v, w in zip(row, widths, strict=True))
        click.echo("  ".join(padded).rstrip())
        if index == 0:
            click.echo("  ".join("-" * width for width in widths))
