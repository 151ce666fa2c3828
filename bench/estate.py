"""A whole estate on Azurite, built through the app's own writers, for the scale benches.

:func:`build_estate` stores ``vms`` machines and what the app would hold about them after
the current cycle (and ``months - 1`` earlier ones), deterministic from ``seed``:

- the cycle rows and each cycle's roster with every VM's result, as the patch cycle timer
  and the assessment workers leave them (``CycleStore.batch_upsert`` of rows shaped as
  :func:`shared.services.assessment.fan_out` writes them, with the fields ``_complete`` /
  ``_fail`` / ``_not_assessable`` set), and their findings (``CycleStore.put_findings``);
- one maintenance configuration per ~100 VMs (two resource groups, a monthly window after the
  release), assigned to its VMs
  and cached as the schedule refresh caches it (``ScheduleCache.put_configuration`` /
  ``put_assignments``), with one run per cycle recorded as its pre and post events through
  the ingest path (:func:`shared.services.ingest.ingest_payload`, events made from the
  published samples in ``samples/events``), a few percent of them failed, and each run's
  verification roster (the ``run-…`` partitions the follow-up writes);
- health signals through the same ingest path: ~10% of VMs reboot during their run
  (Unavailable, then Available), ~2% stay Unavailable after it;
- one SQL database per resource group (``ScheduleCache.put_sql_resources``) and a few SQL
  maintenance notices per cycle (ingested from the published Service Health sample);
- optionally the alerts: the watchdog run once at ``now`` (offline: nothing published).

Layout: ~50 VMs per resource group, 20 resource groups per subscription (1,000 VMs), the
maintenance configurations in one operations subscription; ~3% of VMs fail assessment,
~1% are deallocated, ~5% complete with warnings.

:class:`RequestCounter` counts every HTTP request the process sends to storage (all the
app's stores, however they built their clients), by table and method, so a bench can
measure one step's requests.

Used by ``bench/report_scale.py`` and ``bench/watchdog_scale.py``; on its own it builds
an estate and prints what it built and how long it took:
``.venv/bin/python bench/estate.py --vms 1000 [--months 3]``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import random
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.adapters.storage import StorageTarget  # noqa: E402
from shared.domain.calendar import CalendarPolicy, Cycle, cycle_at, cycle_for_month  # noqa: E402

SAMPLES = ROOT / "samples" / "events"
VMS_PER_GROUP = 50
GROUPS_PER_SUBSCRIPTION = 20
VMS_PER_RUN = 100
WORKERS = 8
# the operations subscription of the samples: where the maintenance configurations live
OPS = "6f1c9e2a-8d4b-4a7e-b3f2-9c0d5e7a1b48"
SQL_CONFIGURATION = (
    "/subscriptions/{sub}/providers/Microsoft.Maintenance/publicMaintenanceConfigurations/SQL_WestEurope_DB_2"
)
SQL_CONFIGURATION_ID = "SQL_WestEurope_DB_2"


# -- counting storage requests ---------------------------------------------------------------


@dataclass
class RequestCounter:
    """Every HTTP request this process sends through azure-core's requests transport (all the
    app's table and queue clients), counted while :meth:`installed` is active; ``port`` keeps
    only requests to that port (Azurite's table endpoint), so ARM traffic is not counted."""

    port: int | None = None
    keep_urls: bool = False  # also keep every request's URL (tests: which partitions were read)
    requests: int = 0
    urls: list[str] = field(default_factory=list)
    by_table: Counter[str] = field(default_factory=Counter)
    by_method: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.by_table.clear()
            self.by_method.clear()
            self.urls.clear()

    def _count(self, url: str, method: str) -> None:
        parts = urlsplit(url)
        if self.port is not None and parts.port != self.port:
            return
        segments = [s for s in parts.path.split("/") if s]
        # Azurite's path style: /{account}/{table}(...) or /{account}/$batch
        name = segments[1] if len(segments) > 1 else (segments[0] if segments else "")
        name = name.split("(", 1)[0]
        with self._lock:
            self.requests += 1
            self.by_table[name] += 1
            self.by_method[method] += 1
            if self.keep_urls:
                self.urls.append(url)

    @contextlib.contextmanager
    def installed(self) -> Iterator[RequestCounter]:
        """Count while inside the block (process-wide: the transport's ``send`` is wrapped)."""
        from azure.core.pipeline.transport import RequestsTransport

        original = RequestsTransport.send
        counter = self

        def send(transport: Any, request: Any, **kwargs: Any) -> Any:
            counter._count(str(request.url), str(request.method))
            return original(transport, request, **kwargs)

        RequestsTransport.send = send
        try:
            yield self
        finally:
            RequestsTransport.send = original

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "by_table": dict(self.by_table), "by_method": dict(self.by_method)}


def table_port(target: StorageTarget) -> int | None:
    """The port of the target's table endpoint (Azurite), for :class:`RequestCounter`."""
    for part in target.connection_string.split(";"):
        if part.startswith("TableEndpoint="):
            return urlsplit(part.split("=", 1)[1]).port
    return urlsplit(target.table_url).port if target.table_url else None


# -- what was built ----------------------------------------------------------------------------


@dataclass
class Estate:
    """What :func:`build_estate` stored."""

    prefix: str
    vms: int
    months: int
    now: datetime
    cycle_id: str  # the current cycle (the one in force at ``now``)
    cycle_ids: list[str]  # oldest first, the current one last
    subscriptions: list[str]
    resource_groups: list[str]  # "{subscription}/{resource group}"
    configuration_ids: list[str]
    run_ids: list[str]  # the current cycle's runs (correlation ids)
    sample_vm_ids: list[str]
    counts: dict[str, int]
    seconds: float = 0.0
    requests: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "vms": self.vms,
            "months": self.months,
            "now": self.now.isoformat(),
            "cycle_id": self.cycle_id,
            "cycle_ids": self.cycle_ids,
            "subscriptions": len(self.subscriptions),
            "resource_groups": len(self.resource_groups),
            "configurations": len(self.configuration_ids),
            "runs_current_cycle": len(self.run_ids),
            "sample_vm_ids": self.sample_vm_ids[:3],
            "counts": self.counts,
            "build_s": round(self.seconds, 1),
            "build_requests": self.requests,
        }


@dataclass(frozen=True)
class _Vm:
    id: str
    name: str
    subscription: str
    group: str
    hotpatch: bool


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _z(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def _layout(vms: int, rng: random.Random) -> tuple[list[str], list[list[_Vm]]]:
    """Subscriptions and resource groups (lists of VMs)."""
    groups: list[list[_Vm]] = []
    subscriptions: list[str] = []
    for i in range(vms):
        g, s = i // VMS_PER_GROUP, i // (VMS_PER_GROUP * GROUPS_PER_SUBSCRIPTION)
        while len(subscriptions) <= s:
            subscriptions.append(_uuid(rng))
        if len(groups) <= g:
            groups.append([])
        sub, rg, name = subscriptions[s], f"rg-app-{g:04d}", f"vm-{i:05d}"
        rid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
        groups[g].append(_Vm(rid, name, sub, rg, hotpatch=i % 3 != 0))
    return subscriptions, groups


def _window_of(k: int) -> tuple[int, int]:
    """Configuration ``k``'s monthly window (UTC): a day after every release (the 16th to the
    27th) and an hour, so that each cycle holds one run of each."""
    return 16 + k % 12, (2 + 5 * k) % 24


def _configurations(groups: list[list[_Vm]]) -> list[tuple[str, list[_Vm]]]:
    """One Update Manager configuration per ~``VMS_PER_RUN`` VMs (whole resource groups)."""
    per = max(1, VMS_PER_RUN // VMS_PER_GROUP)
    out = []
    for c in range(0, len(groups), per):
        members = [vm for g in groups[c : c + per] for vm in g]
        cid = (
            f"/subscriptions/{OPS}/resourceGroups/rg-patching/providers/Microsoft.Maintenance/"
            f"maintenanceConfigurations/mc-app-{c // per:04d}"
        )
        out.append((cid, members))
    return out


def _parallel(fn: Callable[[Any], Any], items: Sequence[Any], workers: int = WORKERS) -> list[Any]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def _chunks(items: Sequence[Any], n: int) -> list[Sequence[Any]]:
    return [items[i : i + n] for i in range(0, len(items), n)]


# -- events from the published samples -----------------------------------------------------------


def _run_events(cid: str, run_id: str, start: datetime, subs: list[str], status: str, now: datetime) -> list[Any]:
    pre = copy.deepcopy(_sample("04-web-sat-pre.eventgrid.json")[0])
    post = copy.deepcopy(_sample("07-web-sat-post.eventgrid.json")[0])
    end = start + timedelta(hours=3)
    out = []
    for e, at in ((pre, start - timedelta(minutes=35)), (post, start + timedelta(minutes=50))):
        if at > now:
            continue
        e["id"] = e["data"]["correlationId"] = run_id
        e["topic"] = e["data"]["maintenanceConfigurationId"] = cid
        e["subject"] = cid.rsplit("/", 1)[-1]
        e["data"]["startDateTime"], e["data"]["endDateTime"] = _z(start), _z(end)
        e["data"]["resourceSubscriptionIds"] = subs
        e["eventTime"] = _z(at)
        if "cancellationCutOffDateTime" in e["data"]:
            e["data"]["cancellationCutOffDateTime"] = _z(start - timedelta(minutes=10))
        if "status" in e["data"]:
            e["data"]["status"] = status
        out.append(e)
    return out


def _health_event(vm: _Vm, at: datetime, previous: str, state: str, rng: random.Random) -> Any:
    e = copy.deepcopy(_sample("05-health-web-01-recovered.eventgrid.json")[0])
    eid = _uuid(rng)
    e["id"] = eid
    e["topic"] = f"/subscriptions/{vm.subscription}"
    e["subject"] = vm.id
    info = e["data"]["resourceInfo"]
    info["id"] = f"{vm.id}/providers/Microsoft.ResourceHealth/availabilityStatuses/{eid}"
    info["name"] = eid
    props = info["properties"]
    props["targetResourceId"] = vm.id
    props["occurredTime"] = _z(at)
    props["previousAvailabilityState"], props["availabilityState"] = previous, state
    e["data"]["operationalInfo"]["resourceEventTime"] = _z(at)
    e["eventTime"] = _z(at)
    return e


def _notice(sub: str, tracking: str, start: datetime, rng: random.Random) -> Any:
    body = copy.deepcopy(_sample("14-sql-notice-R3KT-planned.alert.json"))
    ctx = body["data"]["alertContext"]
    ctx["eventDataId"] = _uuid(rng)
    ctx["correlationId"] = ctx["operationId"] = _uuid(rng)
    ctx["eventTimestamp"] = body["data"]["essentials"]["firedDateTime"] = _z(start - timedelta(days=2))
    ctx["properties"]["trackingId"] = tracking
    ctx["properties"]["impactStartTime"] = _z(start)
    ctx["properties"]["impactMitigationTime"] = _z(start + timedelta(hours=8))
    body["data"]["essentials"]["alertTargetIDs"] = [f"/subscriptions/{sub}"]
    body["data"]["essentials"]["alertId"] = (
        f"/subscriptions/{sub}/providers/Microsoft.AlertsManagement/alerts/{_uuid(rng)}"
    )
    return body


# -- the builder ----------------------------------------------------------------------------------


def build_estate(
    target: StorageTarget,
    *,
    vms: int,
    months: int = 1,
    now: datetime,
    prefix: str = "est",
    seed: int = 13,
    alerts: bool = False,
    calendar: CalendarPolicy | None = None,
    progress: Callable[[str], None] | None = None,
) -> Estate:
    """Store an estate of ``vms`` machines: the cycle in force at ``now`` and ``months - 1``
    earlier ones (see the module's docstring). ``alerts``: also run the watchdog once at
    ``now`` (offline; it reads the whole estate, so it is slow on large ones)."""
    from shared.adapters.cycle_store import CycleStore, run_scope
    from shared.adapters.outcome_store import FUNCTION_CLIENT_OPTIONS, TableOutcomeStore
    from shared.adapters.schedules import Assignment, ConfigurationWindow, ScheduleCache, SqlResourceRef
    from shared.services.ingest import IngestPolicy, Outcome, ingest_payload

    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    calendar = calendar or CalendarPolicy()
    rng = random.Random(seed)
    counter = RequestCounter(port=table_port(target))
    counts: Counter[str] = Counter()

    subscriptions, groups = _layout(vms, rng)
    all_vms = [vm for g in groups for vm in g]
    configurations = _configurations(groups)
    current = cycle_at(now, calendar)
    cycles: list[Cycle] = []
    month = current.month
    for _ in range(months):
        cycles.insert(0, cycle_for_month(month, calendar))
        month = month.previous()

    outcomes = TableOutcomeStore(target, prefix, dict(FUNCTION_CLIENT_OPTIONS))
    store = CycleStore(target, prefix)
    cache = ScheduleCache(target, prefix, FUNCTION_CLIENT_OPTIONS)
    policy = IngestPolicy(allowed_subscriptions=frozenset([OPS, *subscriptions]))
    run_ids: list[str] = []

    with counter.installed():
        outcomes.ensure_tables()
        store.ensure_tables()

        # -- schedules: configurations, assignments, SQL resources (as the refresh caches them)
        fetched = cycles[0].release_utc - timedelta(days=20)
        for k, (cid, _members) in enumerate(configurations):
            day, hour = _window_of(k)
            window = ConfigurationWindow(
                cid, "update-manager", f"Month day{day}", f"2026-01-{day:02d} {hour:02d}:00", "03:00", "UTC"
            )
            cache.put_configuration(window, fetched, watched=True)
        assignments = [Assignment(vm.id, cid) for cid, members in configurations for vm in members]
        _parallel(lambda chunk: cache.put_assignments(chunk, fetched), _chunks(assignments, 250))
        sql = [
            SqlResourceRef(
                f"/subscriptions/{g[0].subscription}/resourceGroups/{g[0].group}/providers/Microsoft.Sql/servers/"
                f"sql-{i:04d}/databases/db-{i:04d}",
                "westeurope",
                SQL_CONFIGURATION.format(sub=g[0].subscription),
                "database",
                service_objective="GP_Gen5_2",
                edition="GeneralPurpose",
                hardware="Gen5",
            )
            for i, g in enumerate(groups)
        ]
        _parallel(lambda chunk: cache.put_sql_resources(chunk, fetched), _chunks(sql, 50))
        counts.update(configurations=len(configurations), assignments=len(assignments), sql_resources=len(sql))
        say(f"schedules cached: {len(configurations)} configurations, {len(assignments)} assignments, {len(sql)} SQL")

        for cycle in cycles:
            is_current = cycle.id == current.id
            _build_cycle(
                cycle,
                all_vms,
                configurations,
                subscriptions,
                now=now if is_current else cycle.ends_utc,
                rng=rng,
                store=store,
                outcomes=outcomes,
                policy=policy,
                counts=counts,
                run_ids=run_ids if is_current else None,
                ingest=lambda body, at: _ingest(ingest_payload, body, outcomes, policy, at, Outcome),
                run_scope=run_scope,
            )
            say(f"cycle {cycle.id} stored ({dict(counts)})")

        if alerts:
            from shared.config import load_settings
            from shared.runtime.alerting import alert_policy, alerting_for_store
            from shared.services.watchdog import run_watchdog

            cfg = load_settings({"OUTCOMES_TABLE_PREFIX": prefix})
            deps = alerting_for_store(cfg, outcomes, watched=tuple(cid for cid, _ in configurations))
            report = run_watchdog(deps, alert_policy(cfg), now=now)
            counts["alerts_opened"] = len(report.opened)
            say(f"watchdog: {len(report.opened)} alerts opened")

    return Estate(
        prefix=prefix,
        vms=vms,
        months=months,
        now=now,
        cycle_id=current.id,
        cycle_ids=[c.id for c in cycles],
        subscriptions=subscriptions,
        resource_groups=[f"{g[0].subscription}/{g[0].group}" for g in groups],
        configuration_ids=[cid for cid, _ in configurations],
        run_ids=run_ids,
        sample_vm_ids=[all_vms[i].id for i in sorted({0, len(all_vms) // 2, len(all_vms) - 1})] if all_vms else [],
        counts=dict(counts),
        seconds=time.perf_counter() - t0,
        requests=counter.requests,
    )


def _ingest(ingest_payload: Any, body: Any, store: Any, policy: Any, at: datetime, outcome: Any) -> None:
    results = ingest_payload(json.dumps(body).encode(), source="estate", store=store, policy=policy, now=at)
    for r in results:
        if r.outcome not in (outcome.ACCEPTED, outcome.DUPLICATE):
            raise RuntimeError(f"the estate's event was not accepted: {r.outcome} {r.reason}")


def _build_cycle(
    cycle: Cycle,
    all_vms: list[_Vm],
    configurations: list[tuple[str, list[_Vm]]],
    subscriptions: list[str],
    *,
    now: datetime,
    rng: random.Random,
    store: Any,
    outcomes: Any,
    policy: Any,
    counts: Counter[str],
    run_ids: list[str] | None,
    ingest: Callable[[Any, datetime], None],
    run_scope: Callable[[str], str],
) -> None:
    from shared.domain.fleet import Vm
    from shared.domain.hotpatch import failure_finding, not_assessable_finding
    from shared.services.assessment import row_key, utc_text
    from shared.services.cycle import FANNED_OUT, cycle_entity

    started = cycle.release_utc + timedelta(minutes=5)
    store.upsert("cycles", cycle_entity(cycle, started, phase=FANNED_OUT))

    # -- the roster and each VM's result, as the workers leave them
    rows, findings = [], []
    for vm in all_vms:
        model = Vm(
            id=vm.id,
            name=vm.name,
            subscription_id=vm.subscription,
            resource_group=vm.group,
            location="westeurope",
            os_type="Windows",
            power_state="running",
            patch_mode="AutomaticByPlatform",
            hotpatch_enabled=vm.hotpatch,
            image_publisher="MicrosoftWindowsServer",
            image_offer="WindowsServer",
            image_sku="2022-datacenter-azure-edition-hotpatch" if vm.hotpatch else "2022-datacenter-azure-edition",
        )
        roll = rng.random()
        finished = started + timedelta(seconds=rng.randint(60, 7200))
        entity: dict[str, Any] = {
            "PartitionKey": cycle.id,
            "RowKey": row_key(vm.id),
            "ResourceId": vm.id,
            "Name": vm.name,
            "Vm": json.dumps(model.to_json(), sort_keys=True),
            "CycleId": cycle.id,
            "RunId": "",
            "Round": 0,
            "PowerState": "running",
            "Attempts": 1,
            "Deferrals": 0,
            "Expect": "",
            "Token": "",
            "QueuedUtc": utc_text(started),
            "UpdatedUtc": utc_text(finished),
            "FinishedUtc": utc_text(finished),
        }
        if roll < 0.03:
            reason = "HTTP 409 OperationNotAllowed: an operation is already in progress"
            entity.update(State="failed", Reason=reason, Result="")
            findings.append(failure_finding(model, "assessment", reason, cycle, finished))
            counts["vm_failed"] += 1
        elif roll < 0.04:
            entity.update(State="not-assessable", Reason="not assessable: deallocated", PowerState="deallocated")
            findings.append(not_assessable_finding(model, "deallocated", cycle, finished))
            counts["vm_not_assessable"] += 1
        else:
            warnings = roll < 0.09
            pending = rng.choice((0, 0, 0, 1, 2)) if warnings else 0
            summary = {
                "status": "CompletedWithWarnings" if warnings else "Succeeded",
                "critical_and_security": pending,
                "other": rng.randint(0, 5),
                "reboot_pending": warnings and pending > 0,
            }
            state = "completed-with-warnings" if warnings else "succeeded"
            entity.update(State=state, Reason="", Result=json.dumps(summary, sort_keys=True))
            counts["vm_" + state.replace("-", "_")] += 1
        rows.append(entity)
    _parallel(lambda chunk: store.batch_upsert("cyclevms", chunk), _chunks(rows, 100))
    if findings:
        _parallel(store.put_findings, _chunks(findings, 100))
    counts["cycle_vm_rows"] += len(rows)
    counts["findings"] += len(findings)

    # -- one run per configuration, in its window (after the release), if it started by ``now``
    health: list[tuple[Any, datetime]] = []
    run_rows = []
    for k, (cid, members) in enumerate(configurations):
        day, hour = _window_of(k)
        start = datetime(cycle.month.year, cycle.month.month, day, hour, tzinfo=UTC)
        if not cycle.release_utc <= start < cycle.ends_utc or start - timedelta(minutes=35) > now:
            continue
        run_id = f"{cid}/providers/microsoft.maintenance/applyupdates/{start:%Y%m%d%H%M%S}"
        status = "Failed" if rng.random() < 0.03 else "Succeeded"
        subs = sorted({vm.subscription for vm in members})
        events = _run_events(cid, run_id, start, subs, status, now)
        _parallel(lambda e: ingest([e], now), events)
        counts["run_events"] += len(events)
        counts["runs"] += 1
        counts["runs_failed"] += status == "Failed"
        if run_ids is not None:
            run_ids.append(run_id)
        for vm in members:
            run_rows.append(
                {
                    "PartitionKey": run_scope(run_id),
                    "RowKey": row_key(vm.id),
                    "ResourceId": vm.id,
                    "Name": vm.name,
                    "CycleId": cycle.id,
                    "RunId": run_id,
                    "Round": 0,
                    "State": "succeeded",
                    "Reason": "",
                    "FinishedUtc": utc_text(start + timedelta(hours=3, minutes=20)),
                }
            )
            roll = rng.random()
            down = start + timedelta(minutes=rng.randint(5, 90))
            if roll < 0.10:
                back = down + timedelta(minutes=rng.randint(2, 12))
                health.append((_health_event(vm, down, "Available", "Unavailable", rng), down))
                if back <= now:
                    health.append((_health_event(vm, back, "Unavailable", "Available", rng), back))
            elif roll < 0.12:
                health.append((_health_event(vm, down, "Available", "Unavailable", rng), down))
    _parallel(lambda chunk: store.batch_upsert("cyclevms", chunk), _chunks(run_rows, 100))
    counts["run_vm_rows"] += len(run_rows)
    health = [(e, at) for e, at in health if at <= now]
    _parallel(lambda item: ingest([item[0]], item[1] + timedelta(seconds=30)), health)
    counts["health_events"] += len(health)

    # -- a few SQL maintenance notices per cycle (Service Health names subscriptions and regions)
    for n in range(min(len(subscriptions), 3)):
        start = cycle.release_utc + timedelta(days=5 + 3 * n, hours=20)
        if start - timedelta(days=2) > now:
            continue
        tracking = f"E{cycle.id.replace('-', '')[2:]}-{n:03d}"
        ingest(_notice(subscriptions[n], tracking, start, rng), start - timedelta(days=2))
        counts["notices"] += 1


def _main() -> None:
    from shared.adapters.azurite import running_azurite
    from shared.adapters.storage import resolve_target

    p = argparse.ArgumentParser(description="build an estate on a fresh in-memory Azurite and say what it took")
    p.add_argument("--vms", type=int, default=1000)
    p.add_argument("--months", type=int, default=1)
    p.add_argument("--alerts", action="store_true", help="also run the watchdog once")
    p.add_argument("--now", default="2026-10-31T12:00:00Z")
    args = p.parse_args()
    now = datetime.fromisoformat(args.now.replace("Z", "+00:00"))
    with running_azurite(in_memory=True) as az:
        target = resolve_target(az.connection_string)
        estate = build_estate(target, vms=args.vms, months=args.months, now=now, alerts=args.alerts, progress=print)
    print(json.dumps({"bench": "estate", **estate.to_json()}))


if __name__ == "__main__":
    _main()
