"""Azurite killed (SIGKILL, not stopped) in the middle of a watchdog run and in the middle of
publishing, with on-disk persistence, then started again on the same data: nothing is
lost (the alert is there, open, and published), and nothing is published under two ids
(a transition sent before the crash and not yet marked is sent again under the same
CloudEvent id, which receivers deduplicate).

Azure Storage keeps what it acknowledged; Azurite's table store writes its LokiJS database
to disk every 5 seconds (``autosaveInterval: 5000`` in its LokiTableMetadataStore), so a
SIGKILL loses up to 5 seconds of acknowledged writes. To kill it as Azure would fail -
with every acknowledged write durable - the hook waits for that save before the kill."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError, ServiceResponseError

from shared.adapters.alert_store import AlertStore
from shared.adapters.outcome_store import FUNCTION_CLIENT_OPTIONS, outcomes_target
from shared.domain.outcomes import StoreUnavailableError
from shared.runtime.alerting import alerting_from_settings
from shared.services.watchdog import run_watchdog
from tests.e2e.alerting_world import CFG, SUB, World, t
from tests.support.alert_events import maintenance
from tests.support.azurite import Azurite, running_azurite

pytestmark = pytest.mark.azurite

AZURITE_SAVE_S = 5.5  # Azurite's table store saves to disk every 5,000 ms
APR4 = (t("2026-04-04T00:00:00Z"), t("2026-04-04T03:55:00Z"))


@pytest.fixture
def own_azurite() -> Iterator[Azurite]:
    with running_azurite() as az:  # on-disk persistence in a temporary folder
        yield az


def killing_deps(world: World, az: Azurite, kill_when: Callable[[Any], bool]) -> Any:
    """The functions' alerting, with a hook on the alert table's requests that SIGKILLs
    Azurite just before the first request ``kill_when`` picks is sent."""
    killed = threading.Event()

    def hook(request: Any) -> None:
        if not killed.is_set() and kill_when(request.http_request):
            killed.set()
            time.sleep(AZURITE_SAVE_S)  # what was acknowledged is on disk, as Azure keeps it
            az.kill()

    base = world.deps()
    options = {**FUNCTION_CLIENT_OPTIONS, "retry_total": 0, "raw_request_hook": hook}
    alerts = AlertStore(outcomes_target(world.cfg), world.cfg["OUTCOMES_TABLE_PREFIX"], options)
    return alerting_from_settings(
        world.cfg,
        live=False,
        publisher=base.publisher,
        schedule_source=base.schedule_source,
        heartbeats=base.heartbeats,
        alerts=alerts,
    ), killed


def overran_world(servers: Any, az: Azurite, prefix: str) -> World:
    topic, logs, arm, databases = servers
    topic.heal()
    topic.delivered.clear()
    world = World.create(az.connection_string, prefix, topic, logs, arm, databases)
    world.watchdog("2026-04-01T00:00:00Z")  # first run: reads the schedules, starts watching
    pre = maintenance("pre", CFG, *APR4, t("2026-04-03T23:25:00Z"), subscription=SUB)
    world.deliver(pre, at="2026-04-03T23:26:00Z")
    return world


def crashed_run(deps: Any, world: World, at: str) -> None:
    """A watchdog run during which the storage dies: it fails (or logs and gives up); what
    matters is what the next run after the restart finds."""
    with contextlib.suppress(StoreUnavailableError, ServiceRequestError, ServiceResponseError):
        run_watchdog(deps, world.policy, now=t(at))


def after_restart(world: World, az: Azurite, at: str) -> None:
    az.start()  # same ports, same data folder
    run_watchdog(world.deps(), world.policy, now=t(at))


def assert_nothing_lost_and_one_id(world: World) -> None:
    (overran,) = world.open("maintenance-overran")
    assert overran.published_sequence == overran.sequence == 1
    assert [s.alert.key for s in world.deps().alerts.pending()] == []
    ids = world.topic.delivered_ids()
    assert set(world.delivered()) == {"PatchWatch.Alert.MaintenanceOverran.Opened"}
    assert len(set(ids)) == 1, ids  # one transition, one CloudEvent id (sent again after the crash, same id)


def test_killed_mid_watchdog_then_restarted(servers: Any, own_azurite: Azurite, unique_prefix: str) -> None:
    world = overran_world(servers, own_azurite, unique_prefix)
    deps, killed = killing_deps(world, own_azurite, lambda r: r.method == "POST" and "alerts" in r.url)
    crashed_run(deps, world, "2026-04-04T05:10:00Z")
    assert killed.is_set() and world.topic.delivered == []
    after_restart(world, own_azurite, "2026-04-04T05:25:00Z")
    assert_nothing_lost_and_one_id(world)


def test_killed_mid_publish_then_restarted(servers: Any, own_azurite: Azurite, unique_prefix: str) -> None:
    world = overran_world(servers, own_azurite, unique_prefix)
    topic = world.topic
    # the alert is claimed, its CloudEvent sent; Azurite dies before it is marked published
    deps, killed = killing_deps(
        world, own_azurite, lambda r: r.method in ("PUT", "MERGE", "PATCH") and bool(topic.delivered)
    )
    crashed_run(deps, world, "2026-04-04T05:10:00Z")
    assert killed.is_set() and len(topic.delivered) == 1
    after_restart(world, own_azurite, "2026-04-04T05:25:00Z")  # past the 5-minute claim
    assert_nothing_lost_and_one_id(world)
    assert len(topic.delivered_ids()) == 2  # sent twice, under the same id
