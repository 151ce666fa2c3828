"""Alerts in ``replay`` and ``make demo`` (issue 5): the watchdog evaluated over the replayed
store, the alerts it holds, and what was (or would be) published."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.commands import print_table
from shared.config import Settings

ROOT = Path(__file__).resolve().parents[2]
WORLD = ROOT / "samples" / "alerting" / "world.json"
EVENTS = ROOT / "samples" / "alerting" / "events"
DEMO_STEP = timedelta(minutes=15)


def replay_alerts(
    cfg: Settings, store: Any, now: datetime, *, live: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Evaluate the watchdog at ``now`` over the store; every open or resolved alert (the
    ``replay`` contract's objects) and the CloudEvents still to publish (offline: all pending
    ones, nothing sent; ``live``: published to the topic, so none)."""
    from shared.runtime.alerting import alert_policy, alerting_for_store, would_publish
    from shared.services.watchdog import run_watchdog

    deps = alerting_for_store(cfg, store, live=live)
    run_watchdog(deps, alert_policy(cfg), now=now)
    alerts = [s.alert.to_json() for s in deps.alerts.all()]
    return alerts, would_publish(deps)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def seed_world(store: Any, path: Path = WORLD) -> None:
    """Load the demo's world into the store's account: cached schedules (as the watchdog's ARM
    refresh would write them), and what the patch cycle recorded per VM and run."""
    from shared.adapters.cycle_store import CycleStore, run_scope
    from shared.adapters.schedules import Assignment, ConfigurationWindow, ScheduleCache, SqlResourceRef
    from shared.domain.calendar import CalendarPolicy, YearMonth, cycle_for_month
    from shared.domain.fleet import ResourceId, Vm
    from shared.domain.hotpatch import Finding
    from shared.services.assessment import row_key, utc_text
    from shared.services.cycle import FANNED_OUT, cycle_entity

    world = json.loads(path.read_text())
    cache = ScheduleCache(store.target, store.prefix)
    for c in world["configurations"]:
        window = ConfigurationWindow(
            c["id"], "update-manager", c["recurEvery"], c["startDateTime"], c["duration"], c["timeZone"]
        )
        since = c.get("watched_since")
        cache.put_configuration(window, _utc(since or "2026-01-01T00:00:00Z"), watched=bool(since))
    cache.put_sql_resources(
        [SqlResourceRef(r["id"], r["location"], r["configuration"], r["kind"]) for r in world["sql_resources"]],
        _utc("2026-09-01T00:00:00Z"),
    )
    cache.put_assignments([Assignment(vm, cfg) for vm, cfg in world["assignments"]], _utc("2026-09-01T00:00:00Z"))

    cycles = CycleStore(store.target, store.prefix)
    vms: dict[str, Vm] = {}
    for v in world["vms"]:
        rid = ResourceId.parse(v["id"])
        vms[v["id"].lower()] = Vm(
            id=v["id"],
            name=rid.name,
            subscription_id=rid.subscription_id,
            resource_group=rid.resource_group,
            os_type="Windows",
            power_state=v.get("power_state", "running"),
            patch_mode="AutomaticByPlatform",
            hotpatch_enabled=v["hotpatch"],
            image_publisher="MicrosoftWindowsServer",
            image_offer="WindowsServer",
            image_sku="2022-datacenter-azure-edition-hotpatch" if v["hotpatch"] else "2022-datacenter-azure-edition",
        )
    by_name = {vm.name: vm for vm in vms.values()}  # the sample world names its VMs in results
    rows, findings = [], []
    for r in world["results"]:
        vm, at = by_name[r["vm"]], _utc(r["at"])
        summary = {
            "status": r["state"],
            "critical_and_security": r.get("critical_and_security", 0),
            "reboot_pending": False,
        }
        rows.append(
            {
                "PartitionKey": r["cycle"],
                "RowKey": row_key(vm.id),
                "ResourceId": vm.id,
                "Name": vm.name,
                "Vm": json.dumps(vm.to_json(), sort_keys=True),
                "CycleId": r["cycle"],
                "Round": 0,
                "State": r["state"],
                "Reason": r.get("reason", ""),
                "FinishedUtc": utc_text(at),
                "Result": json.dumps(summary) if r["state"] == "succeeded" else "",
            }
        )
        for kind, message in r.get("findings", {}).items():
            severity = "warning" if kind in ("vm-not-assessable", "unplanned-baseline-suspected") else "error"
            findings.append(Finding(kind, vm.id, r["cycle"], severity, message, utc_text(at)))
    for correlation_id, members in world["runs"].items():
        for vm_id in members:
            vm = vms[vm_id.lower()]
            rows.append(
                {
                    "PartitionKey": run_scope(correlation_id),
                    "RowKey": row_key(vm.id),
                    "ResourceId": vm.id,
                    "Name": vm.name,
                    "Vm": json.dumps(vm.to_json(), sort_keys=True),
                    "RunId": correlation_id,
                    "State": "queued",
                }
            )
    cycles.batch_upsert("cyclevms", rows)
    cycles.put_findings(findings)
    for cycle_id in sorted({r["cycle"] for r in world["results"]}):
        cycle = cycle_for_month(YearMonth.parse(cycle_id), CalendarPolicy())
        first = min(_utc(r["at"]) for r in world["results"] if r["cycle"] == cycle_id)
        started = min(first, cycle.release_utc + timedelta(hours=1))
        # as the patch cycle timer's first tick leaves it once the fan-out is done
        cycles.upsert("cycles", cycle_entity(cycle, started, phase=FANNED_OUT))


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def print_alerts(
    alerts: list[dict[str, Any]], events: list[dict[str, Any]], *, heading: str, sent: bool = False
) -> None:
    """The alerts table, then the CloudEvents (``sent``: published; else still to publish)."""
    print(f"\n== Alerts {heading} ==")
    print_table(
        ("kind", "resource", "cycle or run", "severity", "state", "message"),
        [
            (
                a["kind"],
                _name(a["resource_id"]),
                _name(a["cycle_or_run"]),
                a["severity"],
                a["state"],
                a["message"],
            )
            for a in sorted(alerts, key=lambda a: (a["state"], a["kind"], a["resource_id"].lower()))
        ],
        wrap={5: 100},  # the whole message, on as many lines as it needs
    )
    print("\n== CloudEvents published (dry run) ==" if sent else "\n== CloudEvents pending (to be published) ==")
    print_table(
        ("time (UTC)", "type", "subject", "id"),
        [
            (
                e["time"].astimezone(UTC).strftime("%Y-%m-%d %H:%M")
                if isinstance(e["time"], datetime)
                else str(e["time"]),
                e["type"],
                _name(e["subject"]),
                e["id"][:8],
            )
            for e in sorted(events, key=lambda e: (str(e["time"]), e["id"]))
        ],
    )


def demo_alerts(cfg: Settings, store: Any, now: datetime) -> None:
    """``make demo``'s alerting part: the watchdog as if it had run every 15 minutes through the
    month over what the demo loaded (publishing to a dry-run topic)."""
    from shared.adapters.publisher import DryRunPublisher
    from shared.runtime.alerting import alert_policy, alerting_for_store
    from shared.services.watchdog import simulate

    publisher = DryRunPublisher()
    world = json.loads(WORLD.read_text())
    watched = tuple(c["id"] for c in world["configurations"] if c.get("watched_since"))
    deps = alerting_for_store(cfg, store, publisher=publisher, watched=watched)
    start = now - timedelta(days=31)
    report = simulate(deps, alert_policy(cfg), start=start, end=now, step=DEMO_STEP)
    alerts = [s.alert.to_json() for s in deps.alerts.all()]
    print(
        f"\nWatchdog every {int(DEMO_STEP.total_seconds() // 60)} min from {start:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC: "
        f"{len(report.opened)} opened, {len(report.resolved)} resolved, {len(report.reopened)} reopened, "
        f"{report.published} CloudEvents published (dry run)"
    )
    print_alerts(alerts, publisher.events, heading=f"as of {now:%Y-%m-%d %H:%M} UTC", sent=True)
