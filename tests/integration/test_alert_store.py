"""The alert store on Azurite: one entity per identity however many writers race, ETag-guarded
transitions, and claims that let exactly one publisher through."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.alert_store import AlertStore
from shared.adapters.storage import StorageTarget
from shared.domain.alerts import AlertKey, AlertKind, AlertState, Verdict

pytestmark = pytest.mark.azurite

VM = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
KEY = AlertKey(AlertKind.UNHEALTHY_AFTER_MAINTENANCE, VM, "run-1")
NOW = datetime(2026, 4, 18, 5, 0, tzinfo=UTC)


@pytest.fixture
def store(storage_connection: str, unique_prefix: str) -> AlertStore:
    return AlertStore(StorageTarget(connection_string=storage_connection), unique_prefix)


def fire(msg: str = "down") -> Verdict:
    return Verdict(KEY, True, msg, NOW, {"state": "Unavailable"})


def clear() -> Verdict:
    return Verdict(KEY, False, "healthy")


def test_open_then_resolve_then_reopen_round_trips(store: AlertStore) -> None:
    (c1,) = store.apply([fire()], NOW)
    assert c1.before is None and c1.after.sequence == 1
    assert store.apply([fire()], NOW + timedelta(minutes=15)) == []
    (c2,) = store.apply([clear()], NOW + timedelta(hours=1))
    assert c2.after.state is AlertState.RESOLVED
    (c3,) = store.apply([fire("down again")], NOW + timedelta(hours=2))
    assert c3.after.sequence == 3 and c3.after.state is AlertState.OPEN
    (stored,) = store.all()
    assert stored.alert.key == KEY and stored.alert.message == "down again"
    assert [t.kind.value for t in stored.alert.transitions] == ["opened", "resolved", "reopened"]
    assert stored.alert.details == {"state": "Unavailable"}
    assert stored.alert.since == NOW and stored.alert.opened_at == NOW
    assert [s.alert.key for s in store.pending()] == [KEY]


def test_racing_writers_make_one_alert_with_one_opening(store: AlertStore) -> None:
    barrier = threading.Barrier(8)
    results: list[int] = []

    def worker() -> None:
        other = AlertStore(store.target, store.table_name[: -len("alerts")])
        barrier.wait()
        results.append(len(other.apply([fire()], NOW)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(results) == 1
    (stored,) = store.all()
    assert stored.alert.sequence == 1


def test_racing_resolvers_resolve_once(store: AlertStore) -> None:
    store.apply([fire()], NOW)
    known = store.open_alerts()
    barrier = threading.Barrier(6)
    results: list[int] = []

    def worker() -> None:
        barrier.wait()
        results.append(len(store.apply([clear()], NOW + timedelta(hours=1), known_open=dict(known))))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(results) == 1
    (stored,) = store.all()
    assert stored.alert.sequence == 2 and stored.alert.state is AlertState.RESOLVED


def test_only_one_claim_wins_and_a_held_claim_blocks_others(store: AlertStore) -> None:
    store.apply([fire()], NOW)
    (pending,) = store.pending()
    first = store.claim(pending, "watchdog-a", NOW)
    assert first is not None
    assert store.claim(pending, "watchdog-b", NOW) is None  # stale ETag
    (fresh,) = store.pending()
    assert fresh.claimed(NOW) and store.claim(fresh, "watchdog-b", NOW) is None  # held
    assert store.claim(fresh, "watchdog-b", NOW + timedelta(minutes=6)) is not None  # lease expired


def test_mark_published_keeps_a_transition_written_meanwhile_pending(store: AlertStore) -> None:
    store.apply([fire()], NOW)
    (pending,) = store.pending()
    claimed = store.claim(pending, "watchdog-a", NOW)
    assert claimed is not None
    store.apply([clear()], NOW + timedelta(minutes=1))  # resolved while the publish is in flight
    after = store.mark_published(claimed, 1)
    assert after.published_sequence == 1 and after.sequence == 2
    (still,) = store.pending()
    assert [t.sequence for t in still.alert.pending] == [2] and not still.claimed(NOW)
