"""Plain text tables for a terminal: aligned columns, long cells wrapped (nothing is cut)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence


def _wrapped(row: Sequence[str], wrap: Mapping[int, int]) -> list[list[str]]:
    """One table row as one or more text lines: a long cell in a wrapped column continues on
    the lines below (nothing is cut)."""
    parts = [textwrap.wrap(c, wrap[i], break_long_words=True) or [""] if i in wrap else [c] for i, c in enumerate(row)]
    height = max(len(p) for p in parts)
    return [[p[n] if n < len(p) else "" for p in parts] for n in range(height)]


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, wrap: Mapping[int, int] | None = None
) -> None:
    """A plain, aligned text table; ``wrap`` maps a column to the width its text wraps at."""
    cells = [[str(c) for c in headers]]
    for r in rows:
        cells += _wrapped([str(c) for c in r], wrap or {})
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
