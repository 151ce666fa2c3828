"""Sub-commands of ``python -m shared.cli``; see :mod:`shared.cli`."""

from __future__ import annotations

import json
from collections.abc import Sequence


def print_json(value: object) -> None:
    print(json.dumps(value, sort_keys=False))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain, aligned text table."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
