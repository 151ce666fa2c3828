"""Schedule refresh at estate scale: how many requests (ARM and storage) and how long.

An estate of ``--vms`` machines (10,000 by default) in two subscriptions behind the loopback
ARM, Azurite for the cache: 20 Update Manager configurations, each machine assigned to one
of them (one in ten to two), two dynamic scopes (a subscription-level one selecting the
machines tagged ``patchwatch=yes`` in one resource group, a resource-group-level one), one SQL
database per 50 machines naming one of four public configurations (or SQL_Default), the
watched configurations among them. Requests are counted where they arrive (the loopback
ARM's request counter, Resource Graph's 429s and retries included) and as the storage
client sends them (a per-call hook on the cache's table client).

``refresh_s`` is wall time on one machine: it includes the loopback ARM evaluating each
query over the whole estate in the same process, and the app's Resource Graph pacing
(Resource Graph allows 15 queries per 5 seconds per user), so it is an upper bound.

Three refreshes, each with its claim as the watchdog takes it: the first (an empty cache),
a steady one (nothing changed: nothing is written), and one after a configuration's window
moved (only it and its machines are reported changed).

Last line: ``{"bench": "schedule_refresh", "vms": N, "refresh_requests": R1,
"refresh_requests_steady": R2, "refresh_s": T1, ...}``. Target at 10,000 VMs: at most 50
requests, first run and steady alike. ``measure(vms)`` returns the same object, for
bench/watchdog_scale.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.adapters.azurite import running_azurite  # noqa: E402
from shared.adapters.schedules import ScheduleCache, ScheduleReader  # noqa: E402
from shared.adapters.storage import resolve_target  # noqa: E402
from shared.services.schedules import refresh_schedules  # noqa: E402
from tests.support.arm_server import SUB, ArmSimulator, SimVm  # noqa: E402
from tests.support.loopback import StaticTokenCredential  # noqa: E402

SUB2 = "22222222-3333-4444-5555-666666666666"
CONFIGURATIONS = 20
PUBLIC = ("SQL_WestEurope_DB_1", "SQL_WestEurope_DB_2", "SQL_EastUS_DB_1", "SQL_Default")
NOW = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def _configuration(sub: str, i: int) -> str:
    return f"/subscriptions/{sub}/resourceGroups/rg-ops/providers/Microsoft.Maintenance/maintenanceConfigurations/mc-{i:02d}"


def build(sim: ArmSimulator, vms: int) -> list[str]:
    """The estate; returns the configuration ids."""
    configs = [_configuration(SUB if i % 2 == 0 else SUB2, i) for i in range(CONFIGURATIONS)]
    for i, cid in enumerate(configs):
        sim.schedules.add_configuration(
            cid,
            recur="Month Second Tuesday Offset4" if i % 3 else "Week Saturday",
            start=f"2026-01-03 {i % 24:02d}:00",
            duration="03:00",
            time_zone="W. Europe Standard Time",
        )
    for name in PUBLIC[:-1]:
        sim.schedules.add_public(
            name, recur="Week Monday,Tuesday,Wednesday,Thursday", start="2020-01-01 22:00", duration="08:00",
            time_zone="W. Europe Standard Time", location="westeurope",
        )  # fmt: skip
    for i in range(vms):
        sub = SUB if i % 2 == 0 else SUB2
        vm = sim.add(
            SimVm(
                f"vm{i:05d}",
                f"rg-{i % 7}",
                subscription_id=sub,
                tags={"patchwatch": "yes"} if i % 5 == 0 else {"env": "prod"},
            )
        )
        sim.schedules.assign(sub, vm.id, configs[i % CONFIGURATIONS])
        if i % 10 == 0:
            sim.schedules.assign(sub, vm.id, configs[(i + 7) % CONFIGURATIONS])
    sim.schedules.assign_dynamic(
        SUB, "tagged", configs[0], {"resourceGroups": ["rg-1"], "tagSettings": {"tags": {"patchwatch": ["yes"]},
                                                                                "filterOperator": "Any"}},
    )  # fmt: skip
    sim.schedules.assign_dynamic(SUB2, "rg2-all", configs[1], {"locations": ["westeurope"]}, resource_group="rg-2")
    for i in range(max(1, vms // 50)):
        sub = SUB if i % 2 == 0 else SUB2
        sim.schedules.add_database(
            sub, "rg-data", f"sql-{i % 10}", f"db{i:04d}", location="westeurope", configuration=PUBLIC[i % len(PUBLIC)]
        )
    return configs


def measure(vms: int = 10_000) -> dict[str, Any]:
    storage = {"n": 0}

    def count(_request: Any) -> None:
        storage["n"] += 1

    with running_azurite() as az, ArmSimulator() as sim:
        configs = build(sim, vms)
        watched = configs[:4]
        reader = ScheduleReader(StaticTokenCredential(), sim.url)
        cache = ScheduleCache(resolve_target(az.connection_string), "bench", {"raw_request_hook": count})

        def refresh(now: datetime) -> tuple[int, int, float, Any]:
            arm_before, storage["n"] = sim.counts["requests"], 0
            t = time.perf_counter()
            assert cache.claim_refresh(now)
            report = refresh_schedules(reader, cache, watched=watched, subscriptions=[SUB, SUB2], now=now)
            elapsed = time.perf_counter() - t
            assert not report.errors, report.errors
            return sim.counts["requests"] - arm_before, storage["n"], elapsed, report

        arm1, sto1, t1, first = refresh(NOW)
        arm2, sto2, t2, steady = refresh(NOW + timedelta(hours=13))
        assert not steady.changed_resources and not steady.changed_configurations and not steady.placements_written
        moved = configs[3]
        sim.schedules.update_manager[moved.lower()]["properties"]["maintenanceWindow"]["startDateTime"] = (
            "2026-01-03 23:30"
        )
        arm3, sto3, t3, change = refresh(NOW + timedelta(hours=26))
        assert change.changed_configurations == {moved.lower()}, change.changed_configurations
        followers = sum(
            1 for i in range(vms) if i % CONFIGURATIONS == 3 or (i % 10 == 0 and (i + 7) % CONFIGURATIONS == 3)
        )
        machines = len(cache.scope_assignments())
        throttled = sim.counts["429"]
    return {
        "bench": "schedule_refresh",
        "vms": vms,
        "machines_placed": machines,
        "assignments": first.assignments,
        "scoped_machines": first.scoped_machines,
        "sql_resources": first.sql_resources,
        "configurations": first.configurations,
        "refresh_requests": arm1 + sto1,
        "refresh_arm_requests": arm1,
        "refresh_storage_requests": sto1,
        "refresh_s": round(t1, 3),
        "refresh_requests_steady": arm2 + sto2,
        "refresh_arm_requests_steady": arm2,
        "refresh_storage_requests_steady": sto2,
        "refresh_s_steady": round(t2, 3),
        "refresh_requests_after_change": arm3 + sto3,
        "refresh_s_after_change": round(t3, 3),
        "changed_resources_after_change": len(change.changed_resources),
        "followers_of_changed_configuration": followers,
        "graph_throttled": throttled,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=10_000)
    result = measure(parser.parse_args().vms)
    print(
        f"{result['vms']} VMs: first refresh {result['refresh_requests']} requests "
        f"({result['refresh_arm_requests']} ARM, {result['refresh_storage_requests']} storage) in "
        f"{result['refresh_s']} s; steady {result['refresh_requests_steady']} requests in "
        f"{result['refresh_s_steady']} s; after one configuration moved: "
        f"{result['changed_resources_after_change']} resources reported changed"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
