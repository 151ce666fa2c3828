"""The compliance report read from real stores on Azurite: the bundled month replayed through
the ingest code, a patch cycle run by the registered functions against the loopback ARM, and
alerts written by the alert store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.adapters.alert_store import AlertStore
from shared.adapters.storage import resolve_target, table_service
from shared.commands.replay import expand, replay_files
from shared.commands.report import build
from shared.config import load_settings
from shared.domain.alerts import AlertKey, AlertKind, Verdict
from shared.domain.calendar import CalendarPolicy, YearMonth
from shared.domain.report import Standing, build_report
from shared.presentation.report_html import render_html
from shared.services.cycle import summary
from shared.services.ingest import IngestPolicy
from tests.support.arm_server import SUB, ArmSimulator, SimPatch, SimVm
from tests.support.cycle_env import cycle_env
from tests.support.events import SAMPLES, store_for
from tests.support.report_data import ALLOWED, NOW, inputs

pytestmark = pytest.mark.azurite

OCTOBER = YearMonth(2026, 10)
GRACE = timedelta(minutes=60)
ROOT = Path(__file__).resolve().parents[2]


def _replay(connection: str, prefix: str) -> None:
    cfg = load_settings({"ALLOWED_SUBSCRIPTION_IDS": ",".join(ALLOWED)})
    store = store_for(connection, prefix)
    replay_files(expand([str(SAMPLES)]), store=store, policy=IngestPolicy.from_settings(cfg), now=NOW)


def _tables(connection: str, prefix: str) -> set[str]:
    service = table_service(resolve_target(connection))
    return {t.name for t in service.list_tables() if t.name.startswith(prefix)}


def test_the_report_from_the_replayed_month_matches_the_facts_and_writes_only_its_summaries(
    storage_connection: str, unique_prefix: str
) -> None:
    _replay(storage_connection, unique_prefix)
    before = _tables(storage_connection, unique_prefix)

    report = build(
        resolve_target(storage_connection), unique_prefix, CalendarPolicy(), OCTOBER, NOW, overrun_grace=GRACE
    )

    # a report writes its summaries, nothing else (no source table is created)
    assert _tables(storage_connection, unique_prefix) == before | {f"{unique_prefix}summaries"}
    expected = build_report(inputs(vms=[], alerts=[]))  # the same events, folded in memory
    s = report.summary
    assert dict(s.runs) == {"succeeded": 4, "failed": 1, "scheduled": 1} == dict(expected.summary.runs)
    assert (s.runs_overran, s.dips, s.still_unhealthy, s.notices) == (1, 4, ("vm-sqlvm-02",), 3)
    assert s.vms == 0 and s.alerts_by_kind == {}  # the cycle and the alerts have recorded nothing here
    assert any("No patch-cycle results are recorded for 2026-10" in n for n in report.notes)
    assert [g.resource_group for g in report.groups] == [g.resource_group for g in expected.groups]
    assert {g.resource_group for g in report.groups} == {"rg-web-prod", "rg-sqlvm-prod"}
    for got, want in zip(report.groups, expected.groups, strict=True):
        assert [(lane.name, lane.dips) for lane in got.lanes] == [(lane.name, lane.dips) for lane in want.lanes]
    page = render_html(report)
    assert page.count('<svg class="pw-timeline"') == 3


def test_the_report_counts_a_real_cycle_and_shows_its_alerts(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    security = [SimPatch("5066835", "Security", "NeverReboots", "2026-10-13T00:00:00Z")]
    fleet = [
        SimVm("vm-web-01", "rg-web", patches=[SimPatch("2267602", "Definition Updates", "NeverReboots")]),
        SimVm("vm-web-02", "rg-web", patches=security),
        SimVm("vm-db-01", "rg-db", assessment_error={"code": "VMAgentStatusCommunicationError", "message": "no"}),
        SimVm("vm-db-02", "rg-db", power_state="deallocated"),
        SimVm("vm-db-03", "rg-db", patches=[*security, SimPatch("5066836", "Critical", "NeverReboots")]),
    ]
    start = datetime(2026, 10, 13, 18, 30, tzinfo=UTC)  # 90 minutes after October's release
    with ArmSimulator(fleet) as sim, cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=start) as env:
        env.tick()
        env.drain()
        cycle = summary(env.deps, "2026-10")
    target = resolve_target(storage_connection)
    db01 = fleet[2].id
    AlertStore(target, unique_prefix).apply(
        [Verdict(AlertKey(AlertKind.PATCH_FAILED, db01, "2026-10"), True, "assessment of vm-db-01 failed")],
        datetime(2026, 10, 13, 19, 0, tzinfo=UTC),
    )

    report = build(target, unique_prefix, CalendarPolicy(), OCTOBER, datetime(2026, 10, 14, tzinfo=UTC))

    s = report.summary
    assert cycle["states"] == {"failed": 1, "not-assessable": 1, "succeeded": 3}
    assert (s.vms, s.assessed, s.compliant, s.pending, s.failed, s.not_assessable, s.awaiting) == (5, 3, 1, 2, 1, 1, 0)
    assert s.alerts_by_kind == {"patch-failed": {"open": 1, "resolved": 0}}
    groups = {g.resource_group: g for g in report.groups}
    assert set(groups) == {"rg-web", "rg-db"}
    assert report.groups[0].resource_group == "rg-db"  # the failure and the open alert come first
    lanes = {lane.name: lane for lane in groups["rg-db"].lanes}
    assert lanes["vm-db-01"].standing is Standing.FAILED
    assert "VMAgentStatusCommunicationError" in lanes["vm-db-01"].standing_detail
    assert [a.kind for a in lanes["vm-db-01"].alerts] == ["patch-failed"]
    assert lanes["vm-db-02"].standing is Standing.NOT_ASSESSABLE
    assert lanes["vm-db-03"].standing_detail == "2 Critical/Security patch(es) pending"
    assert 'data-kind="patch-failed"' in render_html(report)
    assert SUB in groups["rg-db"].subscription_id


def test_the_command_prints_the_summary_writes_the_page_and_says_when_the_store_is_unreachable(
    storage_connection: str, unique_prefix: str, tmp_path: Path
) -> None:
    _replay(storage_connection, unique_prefix)
    env = {
        **os.environ,
        "AzureWebJobsStorage": storage_connection,
        "OUTCOMES_TABLE_PREFIX": unique_prefix,
        "OUTCOMES_STORAGE": "",
    }
    page = tmp_path / "report.html"
    cmd = [sys.executable, "-m", "shared.cli", "report", "--cycle", "2026-10", "--now", "2026-10-31T12:00:00Z"]
    text = subprocess.run([*cmd, "--html", str(page)], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert "Patch Tuesday release  Tue 13 Oct 17:00 UTC" in text.stdout
    assert "maintenance runs         6      4 succeeded, 1 failed, 1 scheduled" in text.stdout
    assert f"Wrote {page}" in text.stdout
    assert page.read_text().startswith("<!DOCTYPE html>")

    out = subprocess.run([*cmd, "--json"], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["cycle"] == "2026-10" and data["html"] is None
    assert data["summary"]["runs"] == {"succeeded": 4, "failed": 1, "scheduled": 1}
    assert data["install_deadline_utc"] == "2026-11-12T17:00:00Z"

    down = {
        **env,
        "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=" + "A" * 88 + ";TableEndpoint=http://127.0.0.1:9/devstoreaccount1",
    }
    failed = subprocess.run(cmd, env=down, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert failed.returncode == 3
    assert "Start Azurite" in failed.stderr

    bad = subprocess.run([*cmd[:5], "2026-13"], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "month must be 1..12" in bad.stderr
