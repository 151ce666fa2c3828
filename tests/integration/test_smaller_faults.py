"""The smaller faults of issue 10, each reproduced: a schedules table that disappears, a
first run on an empty account, storage lost while replay's watchdog runs, ``report
--html`` misuse, and what ``.funcignore`` lets into the deployment package."""

from __future__ import annotations

import fnmatch
import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.adapters.schedules import ScheduleCache
from shared.adapters.storage import StorageTarget
from shared.config import load_settings
from tests.support.azurite import running_azurite
from tests.support.events import store_for

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 10, 31, 12, tzinfo=UTC)
CONFIG = "/subscriptions/6f1c9e2a-8d4b-4a7e-b3f2-9c0d5e7a1b48/resourceGroups/rg/providers/Microsoft.Maintenance/maintenanceConfigurations/mc"


@pytest.mark.azurite
def test_the_schedules_table_is_made_again_when_it_disappears(storage_connection: str, unique_prefix: str) -> None:
    cache = ScheduleCache(StorageTarget(connection_string=storage_connection), unique_prefix)
    assert cache.claim_refresh(NOW)
    cache.table.delete_table()  # someone deleted it; the process lives on
    assert cache.configuration_windows() == []
    assert cache.claim_refresh(NOW + timedelta(days=1))  # used to fail with TableNotFound, every run
    cache.mark_watched(CONFIG, NOW)
    assert [row["ConfigurationId"] for _, row in cache.configuration_windows()] == [CONFIG]
    cache.table.delete_table()


@pytest.mark.azurite
def test_a_first_run_on_an_empty_account_logs_no_error(
    storage_connection: str, unique_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    from shared.runtime.alerting import alert_policy, alerting_for_store
    from shared.services.watchdog import run_watchdog

    cfg = load_settings({"AzureWebJobsStorage": storage_connection, "OUTCOMES_TABLE_PREFIX": unique_prefix})
    store = store_for(storage_connection, unique_prefix)  # no table exists yet
    with caplog.at_level(logging.INFO):
        run_watchdog(alerting_for_store(cfg, store), alert_policy(cfg), now=NOW)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or "TableNotFound" in r.getMessage()]
    assert errors == [], [r.getMessage()[:300] for r in errors]


def test_replay_exits_3_when_storage_is_lost_while_the_watchdog_runs(
    monkeypatch: pytest.MonkeyPatch, unique_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.cli import main
    from shared.commands import _alerting

    with running_azurite() as az:
        monkeypatch.setenv("AzureWebJobsStorage", az.connection_string)
        monkeypatch.setenv("OUTCOMES_TABLE_PREFIX", unique_prefix)
        real = _alerting.replay_alerts

        def storage_lost_then_alert(*args: object, **kwargs: object) -> object:
            az.stop()  # the events are recorded; the storage goes away before the watchdog reads
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(_alerting, "replay_alerts", storage_lost_then_alert)
        code = main(["replay", "samples/events/04-web-sat-pre.eventgrid.json", "--json", "--now", NOW.isoformat()])
    assert code == 3
    assert "error:" in capsys.readouterr().err


def report(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "report", "--cycle", "2026-10", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(("html", "says"), [("", "empty path"), ("tests", "is a directory")])
def test_report_refuses_an_empty_html_path_and_a_directory_clearly(html: str, says: str) -> None:
    done = report("--html", html)
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr


def test_report_html_is_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.commands import report as report_command

    target = tmp_path / "report.html"
    target.write_text("the previous report")

    def broken(_report: object) -> str:
        raise RuntimeError("render failed")

    monkeypatch.setattr(report_command, "render_html", broken)
    with pytest.raises(RuntimeError):
        report_command.write_html(object(), target)  # type: ignore[arg-type]
    assert target.read_text() == "the previous report"  # used to be a 0-byte file
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary file left


def _ignored(path: str, patterns: list[str]) -> bool:
    """gitignore-style, as Core Tools reads .funcignore: a pattern without a slash matches any path component."""
    parts = path.split("/")
    return any(fnmatch.fnmatch(part, p.rstrip("/")) for p in patterns for part in parts)


@pytest.mark.parametrize(
    "path",
    [
        ".azure/dev/.env",  # azd's environment: subscription, names, sometimes secrets
        "out/report-2026-10.html",
        "__azurite_db_table__.json",
        "__blobstorage__/abc",
        "__queuestorage__/abc",
        ".azurite/data",
        "local.settings.json",
    ],
)
def test_funcignore_keeps_local_state_out_of_the_package(path: str) -> None:
    lines = [x.strip() for x in (ROOT / ".funcignore").read_text().splitlines()]
    patterns = [x for x in lines if x and not x.startswith("#")]
    assert _ignored(path, patterns)
    assert not _ignored("functions/watchdog.py", patterns) and not _ignored("shared/domain/events.py", patterns)
