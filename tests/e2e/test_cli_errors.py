"""The command line never shows a traceback: every sub-command ends through one error path
(``error:`` line, ``hint:`` line, a documented exit code), run as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.cli import EXIT_AZURE, EXIT_BROKEN_PIPE, EXIT_STORAGE, EXIT_USAGE
from tests.support.azurite import closed_connection, free_port

ROOT = Path(__file__).resolve().parents[2]
RUN = (
    "/subscriptions/6f1c9e2a-8d4b-4a7e-b3f2-9c0d5e7a1b48/resourceGroups/rg-patching/providers/"
    "Microsoft.Maintenance/maintenanceConfigurations/mc-eus-sqlhosts-pt4/providers/microsoft.maintenance/"
    "applyupdates/20261018020000"
)


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        cwd=ROOT,
        env={**os.environ, "OUTCOMES_STORAGE": "", "PATCHWATCH_DEBUG": "", **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("replay", "samples/events/12-sqlhosts-post-failed.cloudevent.json"),
        ("report", "--cycle", "2026-10"),
        ("report", "--cycle", "2026-10", "--json"),
        ("cycle",),
        ("cycle", "--month", "2026-10", "--json"),
        ("cycle", "--run", RUN),
        ("watchdog", "--offline"),
        ("watchdog", "--offline", "--full", "--json"),
    ],
    ids=lambda a: " ".join(a[:2]) if isinstance(a, tuple) else str(a),
)
def test_storage_down_is_exit_3_with_a_message_and_a_hint(args: tuple[str, ...]) -> None:
    done = cli(*args, AzureWebJobsStorage=closed_connection())
    assert done.returncode == EXIT_STORAGE, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-2].startswith("error: ") and "127.0.0.1" in lines[-2]  # where it looked
    assert lines[-1].startswith("hint: Start Azurite")


def test_azure_unreachable_is_exit_4_with_a_hint() -> None:
    closed = f"https://127.0.0.1:{free_port()}"
    done = cli(
        "plan",
        "--month",
        "2026-10",
        "--fleet",
        TARGET_SUBSCRIPTION_IDS="11111111-2222-3333-4444-555555555555",
        ARM_ENDPOINT=closed,
        AUTHORITY_HOST=closed,
    )
    assert done.returncode == EXIT_AZURE, done.stderr
    assert "Traceback" not in done.stderr
    assert "error: fleet discovery failed" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("hint: Sign in")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("report", "--cycle", "October"), "expected a month as YYYY-MM"),
        (("windows", "--config", "SQL_Atlantis_DB_1", "--from", "2026-10-01", "--to", "2026-10-02"), "SQL_Atlantis"),
        (("plan", "--month", "2026-10", "--offset-days", "99"), "PATCH_OFFSET_DAYS"),
    ],
)
def test_usage_errors_are_exit_2_and_name_the_problem(args: tuple[str, ...], named: str) -> None:
    done = cli(*args)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "Traceback" not in done.stderr
    assert named in done.stderr


def test_a_bad_setting_is_exit_2_and_names_the_setting() -> None:
    done = cli("plan", "--month", "2026-10", BASELINE_MONTHS="13")
    assert done.returncode == EXIT_USAGE
    assert "BASELINE_MONTHS" in done.stderr and "Traceback" not in done.stderr


def test_a_reader_that_goes_away_is_not_an_error() -> None:
    """``… | head -1``: the reader closes the pipe after one line; no BrokenPipeError, exit 141."""
    done = subprocess.run(
        [
            "bash",
            "-c",
            f"set -o pipefail; {sys.executable} -m shared.cli windows --recur 'Day' --start "
            "'2026-01-01 22:00' --duration 08:00 --time-zone 'W. Europe Standard Time' --from 2026-01-01 "
            "--to 2027-12-31 | head -1",
        ],
        cwd=ROOT,
        env={**os.environ, "PATCHWATCH_DEBUG": ""},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.stdout.count("\n") == 1
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == EXIT_BROKEN_PIPE
