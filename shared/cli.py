"""The command line over the same services the functions call: ``python -m shared.cli``.

Each sub-command lives in ``shared/commands/<name>.py`` with ``register(subparsers)``;
human-readable output by default, ``--json`` for scripts.

Every sub-command ends through one error path: a message, a hint, and a documented exit
code, never a traceback (``PATCHWATCH_DEBUG=1`` shows it):

====  ==========================================================================
0     done
1     an unexpected fault (a bug: the message names it; please report it)
2     usage or settings: a bad argument or setting, named in the message
3     storage unreachable (Azurite not started, or the account cannot be reached)
4     Azure refused or could not be reached (credentials, permissions, network)
130   interrupted (Ctrl-C)
141   the reader of the output went away (``... | head``); nothing else is wrong
====  ==========================================================================
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from shared.config import ConfigError
from shared.domain.outcomes import StoreUnavailableError

COMMANDS = ("plan", "windows", "replay", "demo", "cycle", "report", "watchdog")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m shared.cli",
        description="Patch Tuesday and maintenance-window watch: plan, windows and more.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"shared.commands.{name}").register(sub)
    return parser


EXIT_OK, EXIT_FAULT, EXIT_USAGE, EXIT_STORAGE, EXIT_AZURE = 0, 1, 2, 3, 4
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141

STORAGE_HINT = (
    "Start Azurite (`npm run azurite` in another terminal, or `make demo`, which starts its own) or point "
    "AzureWebJobsStorage / OUTCOMES_STORAGE at a reachable storage account."
)
AZURE_HINT = (
    "Sign in (`az login`) or set the managed identity, check the role assignments and the AZURE_CLOUD / "
    "ARM_ENDPOINT settings, then run the command again."
)


def _fail(code: int, message: str, hint: str = "") -> int:
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    return code


def _quiet_broken_pipe() -> int:
    """The reader went away: point stdout at /dev/null so the interpreter's final flush
    does not fail again (the recipe of Python's ``signal`` documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    from shared import telemetry

    telemetry.install()  # every log record redacted, whatever handler is attached later
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        return _fail(EXIT_INTERRUPTED, "interrupted")
    except StoreUnavailableError as exc:
        return _fail(EXIT_STORAGE, str(exc), STORAGE_HINT)
    except ConfigError as exc:
        return _fail(EXIT_USAGE, str(exc), "see the settings table in docs/reference.md")
    except ValueError as exc:
        return _fail(EXIT_USAGE, str(exc))
    except Exception as exc:
        if os.environ.get("PATCHWATCH_DEBUG"):
            raise
        return _unexpected(exc)


def _unexpected(exc: Exception) -> int:
    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

    from shared.services.ports import ArmError

    if isinstance(exc, ArmError):
        return _fail(EXIT_AZURE, exc.reason, AZURE_HINT)
    if isinstance(exc, ClientAuthenticationError):
        return _fail(EXIT_AZURE, f"Azure did not accept the credentials: {_first_line(exc)}", AZURE_HINT)
    if isinstance(exc, HttpResponseError):
        return _fail(EXIT_AZURE, f"Azure answered {exc.status_code}: {_first_line(exc)}", AZURE_HINT)
    if isinstance(exc, AzureError):
        return _fail(EXIT_AZURE, f"Azure could not be reached: {_first_line(exc)}", AZURE_HINT)
    return _fail(
        EXIT_FAULT,
        f"unexpected {type(exc).__name__}: {_first_line(exc)}",
        "this is a bug in Patch Watch: run again with PATCHWATCH_DEBUG=1 for the traceback and report it",
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
