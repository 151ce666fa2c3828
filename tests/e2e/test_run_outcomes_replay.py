"""``replay PRE POST --now T --json`` over Microsoft's published pre and post maintenance
events (learn.microsoft.com/azure/event-grid/event-schema-maintenance-configuration),
varied only in ``status`` (every UpdateStatus value of azure-rest-api-specs
specification/maintenance/resource-manager/Microsoft.Maintenance/Maintenance/models.tsp)
and ``resourceSubscriptionIds``: the alerts an operator would get after the window."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.adapters.cycle_store import CycleStore, run_scope
from shared.adapters.outcome_store import outcome_store
from shared.cli import main
from shared.config import load_settings, settings
from tests.support.azurite import Azurite
from tests.support.fixtures import published

pytestmark = pytest.mark.azurite

AFTER = "2023-05-09T21:00:00Z"  # the published window is 15:00-18:55 UTC: past it and its grace


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, azurite: Azurite, unique_prefix: str) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("OUTCOMES_TABLE_PREFIX", unique_prefix)
    monkeypatch.setenv("ALLOWED_SUBSCRIPTION_IDS", "")
    settings.cache_clear()


def files(tmp_path: Path, *, status: str | None = "Succeeded", subscriptions: object = "keep") -> list[str]:
    pre = published("events/maintenance-pre-event.eventgrid.json")
    post = published("events/maintenance-post-event.eventgrid.json")
    for body in (pre, post):
        if subscriptions != "keep":
            body[0]["data"]["resourceSubscriptionIds"] = subscriptions
    if status is not None:
        post[0]["data"]["status"] = status
    out = [tmp_path / "pre.json", tmp_path / "post.json"]
    out[0].write_text(json.dumps(pre))
    out[1].write_text(json.dumps(post))
    return [str(p) for p in (out if status is not None else out[:1])]


def replay(capsys: pytest.CaptureFixture[str], paths: list[str], now: str = AFTER) -> dict:
    assert main(["replay", *paths, "--now", now, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def open_alerts(result: dict) -> list[tuple[str, str]]:
    return sorted((a["kind"], a["severity"]) for a in result["alerts"] if a["state"] == "open")


@pytest.mark.parametrize("status", ["Succeeded", "Completed", "NoUpdatesPending"])
def test_a_successful_post_gives_no_alert(env: None, tmp_path: Path, capsys, status: str) -> None:
    result = replay(capsys, files(tmp_path, status=status))
    assert result["accepted"] == 2 and result["rejected"] == []
    assert result["alerts"] == []


@pytest.mark.parametrize("subscriptions", [[], None])
def test_an_empty_subscription_list_is_accepted_and_gives_no_alert(
    env: None, tmp_path: Path, capsys, subscriptions: object
) -> None:
    result = replay(capsys, files(tmp_path, subscriptions=subscriptions))
    assert result["accepted"] == 2 and result["rejected"] == []
    assert result["alerts"] == []


def test_an_empty_scope_without_a_post_event_does_not_overrun(env: None, tmp_path: Path, capsys) -> None:
    result = replay(capsys, files(tmp_path, status=None, subscriptions=[]))
    assert result["accepted"] == 1 and result["alerts"] == []


def test_failed_gives_exactly_one_patch_failed(env: None, tmp_path: Path, capsys) -> None:
    result = replay(capsys, files(tmp_path, status="Failed"))
    assert [(a["kind"], a["severity"], a["state"]) for a in result["alerts"]] == [("patch-failed", "error", "open")]
    assert "'Failed'" in result["alerts"][0]["message"]


@pytest.mark.parametrize("status", ["Cancel", "Cancelled", "Canceled", "CANCELLED"])
def test_a_cancellation_by_someone_else_is_a_warning_never_an_error(
    env: None, tmp_path: Path, capsys, status: str
) -> None:
    result = replay(capsys, files(tmp_path, status=status))
    assert open_alerts(result) == [("maintenance-cancelled", "warning")]


def test_a_run_this_apps_gate_cancelled_raises_nothing(env: None, tmp_path: Path, capsys) -> None:
    pre = published("events/maintenance-pre-event.eventgrid.json")[0]
    cfg = load_settings()
    store = outcome_store(cfg)
    store.ensure_tables()
    cycles = CycleStore(store.target, store.prefix)
    cycles.ensure_tables()
    cycles.upsert(
        "cycles",
        {
            "PartitionKey": "run",
            "RowKey": run_scope(pre["data"]["correlationId"]),
            "CorrelationId": pre["data"]["correlationId"],
            "GateCancelled": True,
            "GateReason": "cancelled: 2 of 2 machines unavailable or degraded (100%), more than the allowed 50%",
        },
    )
    silent = replay(capsys, files(tmp_path, status=None))  # no post event at all
    assert silent["alerts"] == []
    with_post = replay(capsys, files(tmp_path, status="Cancelled"))
    assert open_alerts(with_post) == []


@pytest.mark.parametrize("status", ["Pending", "InProgress", "RetryNow", "RetryLater"])
def test_a_run_not_finished_is_no_failure(env: None, tmp_path: Path, capsys, status: str) -> None:
    result = replay(capsys, files(tmp_path, status=status))
    assert result["rejected"] == [] and result["alerts"] == []


def test_an_unknown_status_is_recorded_and_a_warning(env: None, tmp_path: Path, capsys) -> None:
    result = replay(capsys, files(tmp_path, status="PartiallyApplied"))
    assert result["accepted"] == 2 and result["rejected"] == []
    assert open_alerts(result) == [("maintenance-outcome-unknown", "warning")]
    assert "'PartiallyApplied'" in result["alerts"][0]["message"]
