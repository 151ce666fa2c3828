"""The app indexes as the worker would; settings are validated; docs match the code."""

from __future__ import annotations

import json
from pathlib import Path

import azure.functions as func
import pytest

from shared.config import SETTINGS, ConfigError, load_settings, settings_markdown
from tests.support import app as app_support
from tests.support.docs import section

ROOT = Path(__file__).resolve().parents[2]


def _indexed() -> dict[str, dict]:
    return {f.get_function_name(): json.loads(f.get_function_json()) for f in app_support.functions()}


def test_app_indexes_with_valid_bindings() -> None:
    indexed = _indexed()
    plan = indexed["plan"]
    (trigger,) = [b for b in plan["bindings"] if b["type"] == "httpTrigger"]
    assert trigger["authLevel"].lower() == "function"
    assert trigger["route"] == "plan"
    assert trigger["methods"] == ["GET"]
    for name, fn in indexed.items():
        triggers = [b for b in fn["bindings"] if b["type"].endswith("Trigger")]
        assert len(triggers) == 1, f"{name} must have exactly one trigger"


def test_plan_http_function_answers_like_the_cli() -> None:
    handler = app_support.handler("plan")
    ok = handler(func.HttpRequest("GET", "/api/plan", params={"month": "2026-04"}, body=b""))
    assert ok.status_code == 200
    assert json.loads(ok.get_body())["release_utc"] == "2026-04-14T17:00:00Z"
    bad = handler(func.HttpRequest("GET", "/api/plan", params={"month": "April"}, body=b""))
    assert bad.status_code == 400
    assert "YYYY-MM" in json.loads(bad.get_body())["error"]


def test_host_json_targets_functions_v4() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"


def test_defaults_load() -> None:
    s = load_settings({})
    assert s["BASELINE_MONTHS"] == frozenset({1, 4, 7, 10})
    assert s.calendar.deadline_days == 30
    assert s["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("BASELINE_MONTHS", "1,13", "months 1..12"),
        ("PATCH_OFFSET_DAYS", "31", "from -30 to 30"),
        ("PATCH_OFFSET_DAYS", "soon", "whole number"),
        ("INSTALL_DEADLINE_DAYS", "0", "from 1 to 90"),
        ("UNPLANNED_BASELINE_MONTHS", "2026-5x", "YYYY-MM"),
        ("TARGET_SUBSCRIPTION_IDS", "not-a-guid", "subscription GUIDs"),
        ("CYCLE_SCHEDULE", "0 * * * *", "six-field NCRONTAB"),
        ("AZURE_CLOUD", "Mars", "AzurePublicCloud"),
        ("REMEDIATE_AFTER_DEADLINE", "maybe", "true or false"),
        ("ALERTS_TOPIC_ENDPOINT", "topic.example", "http(s) URL"),
    ],
)
def test_bad_values_name_the_setting_and_what_it_accepts(name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({name: value})
    assert name in str(err.value)
    assert expected in str(err.value)


def test_secrets_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"ALERTS_TOPIC_ENDPOINT": "nope", "ALERTS_TOPIC_KEY": "s3cret"})
    assert "s3cret" not in str(err.value)


def test_every_setting_is_in_the_sample_and_the_readme() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    assert sample["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert sample["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    missing = [s.name for s in SETTINGS if s.name not in sample]
    assert not missing, f"local.settings.sample.json lacks {missing}"
    assert load_settings(sample)  # the sample's values are valid
    assert section("settings-table") == settings_markdown(), "run: python -m tests.support.docs"


def test_local_settings_json_is_ignored() -> None:
    assert "local.settings.json" in (ROOT / ".gitignore").read_text().split()


def test_timer_schedules_come_from_settings_and_are_validated() -> None:
    from shared.config import read_one

    assert read_one("CYCLE_SCHEDULE", {}) == "0 5 * * * *"
    assert read_one("WATCHDOG_SCHEDULE", {"WATCHDOG_SCHEDULE": "0  */5 * * * *"}) == "0 */5 * * * *"
    with pytest.raises(ConfigError, match="CYCLE_SCHEDULE='hourly'"):
        read_one("CYCLE_SCHEDULE", {"CYCLE_SCHEDULE": "hourly"})
    timers = {name: app_support.bindings(name)[0] for name in ("patch_cycle_timer", "watchdog_timer")}
    assert timers["patch_cycle_timer"]["schedule"] == "0 5 * * * *"
    assert timers["watchdog_timer"]["schedule"] == "0 */15 * * * *"
    assert all(t["type"] == "timerTrigger" and t["useMonitor"] for t in timers.values())
