"""Sub-commands of ``python -m shared.cli``; see :mod:`shared.cli`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO, TypeVar

from shared.presentation.text import print_table as print_table  # the commands' tables

T = TypeVar("T")


def print_json(value: object) -> None:
    print(json.dumps(value, sort_keys=False))


def progress(items: Sequence[T], label: str, *, stream: TextIO | None = None, every: int = 1) -> Iterator[T]:
    """Yield ``items``, counting them on stderr (``label: n/total``, one line rewritten in
    place) when stderr is a terminal; silent otherwise, so pipes, files and ``--json`` stay clean."""
    out = sys.stderr if stream is None else stream
    shown = out.isatty()
    total = len(items)
    for n, item in enumerate(items, 1):
        if shown and (n % every == 0 or n == total):
            out.write(f"\r{label}: {n}/{total}")
            out.flush()
        yield item
    if shown and total:
        out.write("\r" + " " * (len(label) + 2 * len(str(total)) + 3) + "\r")
        out.flush()
