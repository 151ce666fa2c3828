"""The command line over the same services the functions call: ``python -m shared.cli``.

Each sub-command lives in ``shared/commands/<name>.py`` with ``register(subparsers)``;
human-readable output by default, ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from shared.config import ConfigError

COMMANDS = ("plan", "windows", "replay", "demo", "cycle", "report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m shared.cli",
        description="Patch Tuesday and maintenance-window watch: plan, windows and more.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"shared.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from shared import telemetry

    telemetry.install()  # every log record redacted, whatever handler is attached later
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
