"""A small world for alerting scenarios: Azurite tables, a loopback ARM with the maintenance
configurations and SQL databases, a loopback Event Grid topic and a loopback Log
Analytics workspace, all reached by the real SDK clients; events recorded through the
ingest use case and alerted on as the event functions do."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.adapters.health import HeartbeatSource
from shared.adapters.outcome_store import outcome_store
from shared.adapters.publisher import EventGridAlertPublisher
from shared.adapters.schedules import ScheduleReader
from shared.config import Settings, load_settings
from shared.domain.alerts import Alert, AlertState
from shared.runtime.alerting import alert_policy, alerting_from_settings
from shared.services.ingest import IngestPolicy, IngestResult, ingest_event
from shared.services.watchdog import Alerting, WatchdogReport, alert_after_event, run_watchdog
from tests.support.arm_schedules import ScheduleArm
from tests.support.eventgrid_topic import EventGridTopic
from tests.support.logs_server import LogsWorkspace
from tests.support.loopback import LoopbackHttps, StaticTokenCredential

SUB = "5b4b650e-28b9-4790-b3ab-ddbd88d727c4"
WORKSPACE = "7c0ffee0-1111-2222-3333-444444444444"
CFG = f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.Maintenance/maintenanceConfigurations/sat-0200"
UNWATCHED = (
    f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.Maintenance/maintenanceConfigurations/sun-0300"
)
VM1 = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01"
VM2 = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-02"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@contextlib.contextmanager
def trust_all(*servers: LoopbackHttps) -> Iterator[None]:
    """Make the SDK clients trust every server's test CA at once."""
    fd, bundle = tempfile.mkstemp(prefix="loopback-cas-", suffix=".pem")
    with os.fdopen(fd, "w") as out:
        for server in servers:
            with open(server.ca_bundle) as f:
                out.write(f.read())
    old = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = bundle
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = old
        os.unlink(bundle)


def build_arm(server: ScheduleArm) -> dict[str, str]:
    r = server.routes
    r.add_configuration(
        CFG, recur="Week Saturday", start="2026-01-03 02:00", duration="03:55", time_zone="W. Europe Standard Time"
    )
    r.add_configuration(
        UNWATCHED, recur="Week Sunday", start="2026-01-04 03:00", duration="02:00", time_zone="W. Europe Standard Time"
    )
    r.assign(SUB, VM1, CFG)
    r.assign(SUB, VM2, CFG)
    weekday = "Week Monday,Tuesday,Wednesday,Thursday"
    r.add_public(
        "SQL_EastUS_DB_1",
        recur=weekday,
        start="2020-01-01 22:00",
        duration="08:00",
        time_zone="Eastern Standard Time",
        location="eastus",
    )
    r.add_public(
        "SQL_EastUS_DB_2",
        recur="Week Friday,Saturday,Sunday",
        start="2020-01-01 22:00",
        duration="08:00",
        time_zone="Eastern Standard Time",
        location="eastus",
    )
    return {
        "orders": r.add_database(
            SUB, "rg-data", "sql-east", "orders", location="eastus", configuration="SQL_EastUS_DB_1"
        ),
        "reports": r.add_database(
            SUB, "rg-data", "sql-east", "reports", location="eastus", configuration="SQL_EastUS_DB_2"
        ),
    }


@dataclass
class World:
    cfg: Settings
    topic: EventGridTopic
    logs: LogsWorkspace
    arm: ScheduleArm
    databases: dict[str, str]
    results: list[IngestResult] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        connection: str,
        prefix: str,
        topic: EventGridTopic,
        logs: LogsWorkspace,
        arm: ScheduleArm,
        databases: dict[str, str],
        **extra: str,
    ) -> World:
        cfg = load_settings(
            {
                **extra,
                "AzureWebJobsStorage": connection,
                "OUTCOMES_TABLE_PREFIX": prefix,
                "ALERTS_TOPIC_ENDPOINT": topic.endpoint,
                "LOG_ANALYTICS_WORKSPACE_ID": WORKSPACE,
                "LOGS_ENDPOINT": logs.url,
                "ARM_ENDPOINT": arm.url,
                "WATCHED_MAINTENANCE_CONFIGURATIONS": CFG,
                "TARGET_SUBSCRIPTION_IDS": SUB,
            }
        )
        return cls(cfg, topic, logs, arm, databases)

    def deps(self) -> Alerting:
        """What the functions wire up, with the loopbacks' credentials (one per caller, as per process)."""
        cred = StaticTokenCredential()
        return alerting_from_settings(
            self.cfg,
            live=False,
            publisher=EventGridAlertPublisher(self.topic.endpoint, credential=cred, retry_total=0),
            schedule_source=ScheduleReader(cred, self.arm.url, retry_total=0),
            heartbeats=HeartbeatSource.from_settings(self.cfg, credential=cred, retry_total=0),
        )

    @property
    def policy(self) -> Any:
        return alert_policy(self.cfg)

    def deliver(self, *events: dict[str, Any], at: str) -> list[IngestResult]:
        """Record each event as the event functions do, then alert on what it settles."""
        now = t(at)
        out = []
        for i, element in enumerate(events):
            result = ingest_event(
                element,
                source=f"test#{i}",
                store=outcome_store(self.cfg),
                policy=IngestPolicy.from_settings(self.cfg),
                now=now,
            )
            assert result.recorded, result.reason
            alert_after_event(self.deps(), result.event, self.policy, now=now)
            out.append(result)
        self.results.extend(out)
        return out

    def watchdog(self, at: str) -> WatchdogReport:
        return run_watchdog(self.deps(), self.policy, now=t(at))

    def concurrent_watchdogs(self, at: str, n: int = 3) -> list[WatchdogReport]:
        barrier = threading.Barrier(n)
        reports: list[WatchdogReport] = []
        errors: list[BaseException] = []

        def one() -> None:
            deps = self.deps()
            barrier.wait()
            try:
                reports.append(run_watchdog(deps, self.policy, now=t(at)))
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=one) for _ in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors, errors
        return reports

    def alerts(self) -> list[Alert]:
        return [s.alert for s in self.deps().alerts.all()]

    def open(self, kind: str) -> list[Alert]:
        return [a for a in self.alerts() if a.key.kind.value == kind and a.state is AlertState.OPEN]

    def delivered(self, kind_pascal: str = "") -> list[str]:
        """Types of the CloudEvents the topic accepted (optionally of one kind)."""
        return [e["type"] for e in self.topic.delivered if kind_pascal in e["type"]]
