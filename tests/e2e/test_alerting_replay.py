"""``replay --now T`` evaluates the watchdog at T and lists every open or resolved alert;
``make demo`` shows every alert kind of the bundled month and its CloudEvents."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared.cli import main
from shared.config import settings
from tests.support.azurite import Azurite

pytestmark = pytest.mark.azurite

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "events"
KEYS = {"kind", "resource_id", "severity", "cycle_or_run", "state", "message"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, azurite: Azurite, unique_prefix: str) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("OUTCOMES_TABLE_PREFIX", unique_prefix)
    monkeypatch.setenv("ALLOWED_SUBSCRIPTION_IDS", "")
    settings.cache_clear()


def replay_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["replay", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_replay_lists_the_alerts_of_the_watchdog_at_now(env: None, capsys: pytest.CaptureFixture[str]) -> None:
    files = [
        str(SAMPLES / n)
        for n in (
            "09-sqlhosts-pre.cloudevent.json",
            "12-sqlhosts-post-failed.cloudevent.json",
            "31-web-sat-pre-oct31.eventgrid.json",
        )
    ]
    early = replay_json(capsys, *files, "--now", "2026-10-31T04:30:00Z")  # Oct 31's run: within its grace
    assert [(a["kind"], a["state"]) for a in early["alerts"]] == [("patch-failed", "open")]
    assert set(early["alerts"][0]) == KEYS
    (failed,) = early["alerts"]
    assert failed["resource_id"].endswith("/mc-eus-sqlhosts-pt4") and failed["severity"] == "error"
    assert failed["cycle_or_run"].endswith("/applyupdates/20261018020000") and "'Failed'" in failed["message"]

    later = replay_json(capsys, *files, "--now", "2026-10-31T05:00:00Z")  # replayed again: duplicates, one alert each
    assert later["duplicates"] == 3 and later["accepted"] == 0
    kinds = sorted((a["kind"], a["state"]) for a in later["alerts"])
    assert kinds == [("maintenance-overran", "open"), ("patch-failed", "open")]

    again = replay_json(capsys, files[2], "--now", "2026-10-31T05:30:00Z")  # Event Grid redelivers
    assert sorted((a["kind"], a["state"]) for a in again["alerts"]) == kinds


def test_replay_prints_alerts_and_the_cloud_events_still_to_publish(
    env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["replay", str(SAMPLES / "12-sqlhosts-post-failed.cloudevent.json"), "--now", "2026-10-18T06:00:00Z"]) == 0
    )
    out = capsys.readouterr().out
    assert "== Alerts (watchdog at 2026-10-18 06:00 UTC) ==" in out
    assert re.search(r"patch-failed\s+mc-eus-sqlhosts-pt4\s+20261018020000\s+error\s+open", out)
    assert "PatchWatch.Alert.PatchFailed.Opened" in out  # pending: replay without --live sends nothing


def test_demo_shows_every_alert_kind_and_its_cloud_events(env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    alerts = out.split("== Alerts as of 2026-10-31 12:00 UTC ==", 1)[1].split("== CloudEvents", 1)[0]
    lines = alerts.strip().splitlines()[2:]
    rows = [line.split() for line in lines if not line.startswith(" ")]  # a long message continues below
    kinds = {r[0] for r in rows}
    assert kinds == {
        "patch-failed",
        "vm-not-assessable",
        "maintenance-overran",
        "maintenance-outside-window",
        "maintenance-window-missed",
        "deadline-missed",
        "baseline-missed",
        "unplanned-baseline-suspected",
        "unhealthy-after-maintenance",
        "unexpected-reboot",
    }
    assert rows[-1][:5] == ["maintenance-overran", "db-orders", "N4VE-2H6", "error", "resolved"]
    events = out.split("== CloudEvents published (dry run) ==", 1)[1]
    assert "PatchWatch.Alert.MaintenanceOverran.Resolved" in events
    assert len(re.findall(r"PatchWatch\.Alert\.\w+\.(Opened|Resolved)", events)) == len(rows) + 1
    # the neighbours stay silent: a reboot inside its window (vm-web-01, 17 Oct) and a baseline-month
    # host repair (vm-web-02, 22 Oct); a canceled SQL notice (7LQ2); an unwatched configuration's windows
    assert not any(r[0] == "unexpected-reboot" and r[1] == "vm-web-01" for r in rows)
    assert "7LQ2-TX8" not in alerts
    assert "..." not in alerts  # every message whole: long ones wrap onto the lines below
    assert not any(r[0] == "maintenance-window-missed" and r[1] == "mc-sea-app-thu-0100" for r in rows)
