"""The incremental watchdog's parts on Azurite: the change feed never loses a change, and a
fact base that cannot be trusted (half saved, corrupted, saved over by another watchdog)
is rebuilt from the tables rather than used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.change_feed import ChangeFeed, Mark
from shared.adapters.factbase_store import FactBaseStore
from shared.adapters.storage import resolve_target
from shared.domain.alerts import HealthFact, RunFacts, VmCycleFacts
from shared.domain.factbase import FactBase, StoredRun, decode, encode, select
from shared.domain.outcomes import NoticeOutcome, NoticeStage

pytestmark = pytest.mark.azurite

NOW = datetime(2026, 10, 31, 12, tzinfo=UTC)
VM = "/subscriptions/5b4b650e-28b9-4790-b3ab-ddbd88d727c4/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-1"
CFG = "/subscriptions/5b4b650e-28b9-4790-b3ab-ddbd88d727c4/resourceGroups/rg-ops/providers/Microsoft.Maintenance/maintenanceConfigurations/sat"


def a_base() -> FactBase:
    base = FactBase(horizon=NOW - timedelta(days=40), built_at=NOW, months={"2026-10"}, cycles={"2026-10"})
    run = RunFacts(
        f"{CFG}/providers/microsoft.maintenance/applyupdates/20261024000000",
        CFG,
        start_utc=NOW - timedelta(days=7),
        end_utc=NOW - timedelta(days=7) + timedelta(hours=4),
        pre_at=NOW - timedelta(days=7, minutes=30),
        post_at=None,
        post_status=None,
        resource_ids=(VM,),
        gate_cancelled=True,
        subscriptions=(),
    )
    base.put_run(run.run_id, StoredRun(run.start_utc, run))  # type: ignore[arg-type]
    base.put_notice(
        "TRK-1",
        NoticeOutcome(
            "TRK-1",
            NoticeStage.PLANNED,
            ((NoticeStage.PLANNED, NOW - timedelta(days=3)),),
            "SQL maintenance",
            ("SQL Database",),
            ("East US",),
            NOW - timedelta(days=1),
            None,
            ("5b4b650e-28b9-4790-b3ab-ddbd88d727c4",),
            NOW - timedelta(days=3),
            NOW - timedelta(days=3),
        ),
    )
    base.put_health(VM, (HealthFact(VM, NOW - timedelta(days=6), "Unavailable", True, "Rebooted for maintenance"),))
    findings = {"patch-failed": (NOW - timedelta(days=2), "KB5043050 failed: 0x80070005")}
    base.put_vm("2026-10", VM.lower(), VmCycleFacts(VM, "2026-10", True, "failed", NOW, "why", findings=findings))
    return base


def test_the_codec_gives_back_what_the_rules_read() -> None:
    base = a_base()
    meta, blobs = encode(base)
    again = decode(meta, blobs)
    since = NOW - timedelta(days=40)
    assert select(again, since=since, now=NOW, cycles=["2026-10"]) == select(
        base, since=since, now=NOW, cycles=["2026-10"]
    )
    assert (again.horizon, again.months, again.cycles) == (base.horizon, base.months, base.cycles)


def test_pruning_forgets_only_what_no_later_run_reads() -> None:
    base = a_base()
    base.prune(NOW - timedelta(days=6, hours=12), keep_cycles=["2026-10"])
    chosen = select(base, since=NOW - timedelta(days=6, hours=12), now=NOW, cycles=["2026-10"])
    assert len(chosen.runs) == 1  # started 7 days ago: inside the look-back's extra day
    assert len(chosen.health) == 1  # 6 days ago
    base.prune(NOW - timedelta(days=5), keep_cycles=["2026-10"])
    chosen = select(base, since=NOW - timedelta(days=5), now=NOW, cycles=["2026-10"])
    assert chosen.runs == () and chosen.health == () and base.health == {}
    assert len(chosen.notices) == 1 and len(chosen.vms) == 1
    base.prune(NOW, keep_cycles=[])
    assert (base.runs, base.vms, base.cycles) == ({}, {}, set())


def test_a_mark_rewritten_after_it_was_read_survives_consumption(storage_connection: str, unique_prefix: str) -> None:
    feed = ChangeFeed(resolve_target(storage_connection), unique_prefix)
    assert feed.pending() == []  # no table yet: nothing changed
    feed.mark([Mark("health", VM.lower()), Mark("run", "r1"), Mark("run", "r1")])
    read = feed.pending()
    assert sorted((m.scope, m.a) for m in read) == [("health", VM.lower()), ("run", "r1")]
    feed.mark([Mark("run", "r1")])  # the run changed again while the watchdog worked
    feed.consume(read)
    assert [(m.scope, m.a) for m in feed.pending()] == [("run", "r1")]
    feed.consume(feed.pending())
    assert feed.pending() == []
    feed.drop_table()


def test_a_stored_base_is_used_only_when_every_shard_is_the_one_its_meta_row_names(
    storage_connection: str, unique_prefix: str
) -> None:
    store = FactBaseStore(resolve_target(storage_connection), unique_prefix)
    assert store.load() == (None, "no fact base yet")
    base = a_base()
    assert store.save(base, None, full=True)
    loaded, why = store.load()
    assert why == "" and loaded is not None
    since = NOW - timedelta(days=40)
    assert select(loaded.base, since=since, now=NOW, cycles=["2026-10"]) == select(
        base, since=since, now=NOW, cycles=["2026-10"]
    )

    # Two watchdogs loaded the same base; the first saves, the second's save is refused.
    other, _ = store.load()
    assert other is not None
    loaded.base.put_health(VM, ())
    assert store.save(loaded.base, loaded)
    other.base.put_vm("2026-10", VM.lower(), None)
    assert not store.save(other.base, other)
    # ...but it had written its shard: the meta row no longer names that shard, so the base is rebuilt.
    again, why = store.load()
    assert again is not None and "unusable" in why and "shard" in why

    # A corrupted shard is never trusted either.
    assert store.save(base, again, full=True)
    table = store._table()
    row = dict(table.get_entity("factbase", "s00"))
    row["D0"] = b"not zlib"
    table.upsert_entity(row)
    broken, why = store.load()
    assert broken is not None and "unusable" in why
    store.drop_table()


def test_the_watchdog_command_runs_incrementally_and_full_on_demand(
    storage_connection: str, unique_prefix: str
) -> None:
    """``python -m shared.cli watchdog``: the first pass builds the fact base, later ones
    (``replay``'s included) read what changed, ``--full`` reads everything."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "AzureWebJobsStorage": storage_connection, "OUTCOMES_TABLE_PREFIX": unique_prefix}
    env.pop("OUTCOMES_STORAGE", None)

    def cli(*args: str) -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-m", "shared.cli", *args], cwd=root, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if "--json" in args else {"text": done.stdout}

    at = "2026-10-25T12:00:00Z"
    first = cli("watchdog", "--offline", "--json", "--now", at)
    assert first["facts"]["mode"] == "rebuilt"  # type: ignore[index]
    replayed = subprocess.run(
        [
            sys.executable,
            "-m",
            "shared.cli",
            "replay",
            "samples/events/12-sqlhosts-post-failed.cloudevent.json",
            "--now",
            at,
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert replayed.returncode == 0, replayed.stderr
    second = cli("watchdog", "--offline", "--json", "--now", at)  # replay's own pass read the event's mark
    assert second["facts"] == {"mode": "incremental", "reason": "", "marks": 0, "saved": True}
    full = cli("watchdog", "--offline", "--full", "--json", "--now", at)
    assert full["facts"]["mode"] == "full"  # type: ignore[index]
    text = cli("watchdog", "--offline", "--now", at)["text"]
    assert "Watchdog at 2026-10-25 12:00 UTC: facts incremental, 0 changes read" in str(text)
