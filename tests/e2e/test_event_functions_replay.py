"""``python -m shared.cli replay`` and ``demo``, run as an operator runs them: the
machine contract of ``--json``, exit codes, and what ends up in the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.commands.demo import SAMPLE_SUBSCRIPTIONS
from tests.support.azurite import closed_connection
from tests.support.events import SAMPLES, sample, store_for

pytestmark = pytest.mark.azurite

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-10-31T12:00:00Z"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def env(storage_connection: str, unique_prefix: str) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": storage_connection,
        "OUTCOMES_STORAGE": "",
        "OUTCOMES_TABLE_PREFIX": unique_prefix,
        "ALLOWED_SUBSCRIPTION_IDS": ",".join(SAMPLE_SUBSCRIPTIONS),
    }


def last_json(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def test_replaying_the_month_meets_the_json_contract(env: dict[str, str], storage_connection: str) -> None:
    files = sorted(SAMPLES.glob("*.json"))
    done = cli("replay", *(str(f.relative_to(ROOT)) for f in files), "--json", "--now", NOW, env=env)
    assert done.returncode == 0, done.stderr
    out = last_json(done.stdout)
    assert set(out) == {"accepted", "duplicates", "rejected", "alerts", "actions"}
    refused = {f"samples/events/{f.name}#0" for f in files if "malformed" in f.name or "foreign" in f.name}
    assert {r["source"] for r in out["rejected"]} == refused
    assert all(r["reason"] for r in out["rejected"])
    assert out["duplicates"] == len([f for f in files if "redelivered" in f.name])
    events = sum(len(b) if isinstance(b := sample(f.name), list) else 1 for f in files if "truncated" not in f.name)
    validations = 1
    assert (
        out["accepted"] + out["duplicates"] + len(out["rejected"]) == events + 1 - validations
    )  # +1: the unparsable body
    posts = {f.name for f in files if "post" in f.name and "malformed" not in f.name and "redelivered" not in f.name}
    assert [a["action"] for a in out["actions"]] == ["verify-run"] * len(posts)
    assert len({a["key"] for a in out["actions"]}) == len(posts)
    store = store_for(storage_connection, env["OUTCOMES_TABLE_PREFIX"])
    try:
        rows = store.snapshot()
        assert sum(len(rows[t]) for t in ("runs", "health", "notices")) == out["accepted"]
        # recorded: every refusal but the body that is not JSON, which replay (like the Event Grid
        # extension, which answers 500 without invoking a function) reports and does not record
        unparsable = {r["source"] for r in out["rejected"] if "not recorded" in r["reason"]}
        assert unparsable == {"samples/events/32-malformed-truncated-body.eventgrid.json#0"}
        assert len(rows["rejections"]) == len(refused) - 1

        again = cli("replay", "samples/events", "--json", "--now", NOW, env=env)  # a directory stands for its files
        assert again.returncode == 0, again.stderr
        second = last_json(again.stdout)
        assert (second["accepted"], second["duplicates"]) == (0, out["accepted"] + out["duplicates"])
        assert second["rejected"] == out["rejected"]
        assert store.snapshot() == rows
    finally:
        store.drop_tables()


def test_a_plain_replay_says_what_happened_to_each_event(env: dict[str, str], storage_connection: str) -> None:
    done = cli(
        "replay",
        "samples/events/10-health-sqlvm.cloudevent.json",
        "samples/events/07-web-sat-post.eventgrid.json",
        env=env,
    )
    try:
        assert done.returncode == 0, done.stderr
        assert "samples/events/10-health-sqlvm.cloudevent.json#2" in done.stdout
        assert "vm-sqlvm-01: Degraded -> Available" in done.stdout
        assert "accepted 4, duplicates 0, rejected 0" in done.stdout
        assert "verify-run" in done.stdout and "not executed" in done.stdout
    finally:
        store_for(storage_connection, env["OUTCOMES_TABLE_PREFIX"]).drop_tables()


def test_an_unreachable_store_is_a_clear_nonzero_exit(env: dict[str, str]) -> None:
    done = cli("replay", "samples/events", "--json", env={**env, "AzureWebJobsStorage": closed_connection()})
    assert done.returncode == 3
    assert "error: outcome store at http://127.0.0.1:" in done.stderr
    assert "Start Azurite" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["samples/events/no-such.json"], "no such file"),
        (["samples/events", "--now", "yesterday"], "expected an ISO 8601 instant"),
        ([], "the following arguments are required: FILE"),
        (["tests"], "holds no .json file"),
    ],
)
def test_usage_errors_exit_2_with_a_message(env: dict[str, str], args: list[str], message: str) -> None:
    done = cli("replay", *args, env=env)
    assert done.returncode == 2
    assert message in done.stderr


def test_demo_starts_its_own_azurite_when_none_answers_and_shows_the_month(tmp_path: Path) -> None:
    done = cli(
        "demo",
        "--data",
        str(tmp_path / "azurite"),
        env={"AzureWebJobsStorage": closed_connection(), "ALLOWED_SUBSCRIPTION_IDS": "", "OUTCOMES_STORAGE": ""},
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "starting Azurite on" in out and f"data in {tmp_path / 'azurite'}" in out
    assert (tmp_path / "azurite" / "__azurite_db_table__.json").is_file()  # the data outlives the demo
    for heading in ("== Maintenance runs ==", "== Resource health ==", "== SQL maintenance notices", "== Rejected"):
        assert heading in out
    runs = out.split("== Maintenance runs ==")[1].split("== Resource health ==")[0]
    # the bundled month's 6 runs and the alerting world's one, loaded before anything is shown
    assert "2026-10: 7 run(s)" in runs
    assert "mc-eus-sqlhosts-pt4  failed" in runs
    assert "scheduled" in runs and "NO" in runs  # the run whose post event has not come
    assert "vm-sqlvm-02: Unavailable since 10-18 02:37" in out
    assert "Planned > InProgress > Complete" in out  # Complete arrived first
    assert "Planned > Rescheduled > Canceled" in out
    rejected = out.split("== Rejected")[1].split("\n== ")[0]
    assert rejected.count("samples/events/") == 5  # the unparsable body is refused, not recorded
    assert "foreign event" in rejected


def test_demo_uses_a_configured_store_that_answers(env: dict[str, str], storage_connection: str) -> None:
    table_endpoint = next(p for p in storage_connection.split(";") if p.startswith("TableEndpoint="))[14:]
    done = cli("demo", env=env)
    try:
        assert done.returncode == 0, done.stderr
        assert f"Using the configured storage at {table_endpoint}" in done.stdout
        assert store_for(storage_connection, env["OUTCOMES_TABLE_PREFIX"] + "demo").list_runs("2026-10")
    finally:
        store_for(storage_connection, env["OUTCOMES_TABLE_PREFIX"] + "demo").drop_tables()
