"""Configuration findings: machines whose own patch settings defeat their schedule, their
hotpatching or their periodic assessment, found by the cycle and alerted (``schedule-ineffective``)
until a later round finds them fixed. Assignments come from the loopback ARM (a direct one and
the published dynamic scope), read by the watchdog's schedule refresh."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.adapters.schedules import ScheduleCache, ScheduleReader
from shared.adapters.storage import resolve_target
from shared.domain.alerts import AlertPolicy
from shared.runtime.alerting import alerting_from_settings
from shared.services.watchdog import run_watchdog
from tests.support.arm_server import SUB, ArmSimulator, SimVm
from tests.support.cycle_env import cycle_env
from tests.support.loopback import StaticTokenCredential

pytestmark = pytest.mark.azurite

MAY_2026 = datetime(2026, 5, 12, 18, 30, tzinfo=UTC)
CYCLE = "2026-05"
CFG = f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.Maintenance/maintenanceConfigurations/sat"
PLAIN = ("MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-g2", "latest")
WIN = "properties.osProfile.windowsConfiguration.patchSettings"


def fleet() -> list[SimVm]:
    plain = {"hotpatch": False, "image": PLAIN}
    return [
        SimVm("fits", bypass_platform_safety_checks=True, **plain),  # type: ignore[arg-type]
        SimVm("no-bypass", **plain),  # type: ignore[arg-type]
        SimVm("by-os", patch_mode="AutomaticByOS", **plain),  # type: ignore[arg-type]
        SimVm("no-assess", bypass_platform_safety_checks=True, assessment_mode="ImageDefault", **plain),  # type: ignore[arg-type]
        SimVm("hot-manual", patch_mode="AutomaticByOS"),  # a hotpatch image, enableHotpatching, not scheduled
        SimVm("dynamic", "rg-dyn", bypass_platform_safety_checks=False, tags={"patch": "sat"}, **plain),  # type: ignore[arg-type]
    ]


def test_settings_that_defeat_a_schedule_open_an_alert_naming_the_property_and_it_clears_when_fixed(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    machines = fleet()
    with ArmSimulator(machines) as sim, cycle_env(
        monkeypatch, storage_connection, unique_prefix, sim, now=MAY_2026
    ) as env:  # fmt: skip
        sim.schedules.add_configuration(
            CFG, recur="Week Saturday", start="2026-01-03 02:00", duration="03:55", time_zone="UTC"
        )
        for vm in machines[:4]:
            sim.schedules.assign(SUB, vm.id, CFG)
        scope = sim.schedules.assign_dynamic(
            SUB, "sat-dynamic", CFG, {"resourceGroups": ["rg-dyn"], "tagSettings": {"tags": {"patch": ["sat"]}}}
        )
        cache = ScheduleCache(resolve_target(storage_connection), unique_prefix)
        env.deps.placements = cache
        alerting = alerting_from_settings(
            env.cfg, live=False, schedule_source=ScheduleReader(StaticTokenCredential(), sim.url)
        )
        policy = AlertPolicy(calendar=env.cfg.calendar)
        run_watchdog(alerting, policy, now=MAY_2026)  # refreshes the cached assignments from ARM
        env.tick()
        env.drain()
        findings = {f.resource_id.rsplit("/", 1)[-1]: f for f in env.store.findings(CYCLE, state="open")}
        report = run_watchdog(alerting, policy, now=env.clock.advance(minutes=15))
        opened = {a.key.resource_id.rsplit("/", 1)[-1]: a for a in report.opened}

        # -- a later round, after the operator set the flag on one machine --------------------
        sim.vm("no-bypass").bypass_platform_safety_checks = True
        env.clock.advance(days=3, hours=1)
        env.tick()
        env.drain()
        later = run_watchdog(alerting, policy, now=env.clock.advance(minutes=15))

    assert set(findings) == {"no-bypass", "by-os", "no-assess", "hot-manual", "dynamic"}
    problems = {name: [(p["code"], p["property"], p["set_to"]) for p in f.details["problems"]]
                for name, f in findings.items()}  # fmt: skip
    assert problems["no-bypass"] == [
        ("schedule-bypass-off", f"{WIN}.automaticByPlatformSettings.bypassPlatformSafetyChecksOnUserSchedule", True)
    ]
    assert problems["by-os"] == [("schedule-not-applied", f"{WIN}.patchMode", "AutomaticByPlatform")]
    assert problems["no-assess"] == [("assessment-off", f"{WIN}.assessmentMode", "AutomaticByPlatform")]
    assert problems["hot-manual"] == [("hotpatch-patch-mode", f"{WIN}.patchMode", "AutomaticByPlatform")]
    assert problems["dynamic"][0][0] == "schedule-bypass-off"  # scheduled through the dynamic scope
    assert findings["dynamic"].details["assignments"] == [CFG]
    assert "set " + WIN + ".patchMode to AutomaticByPlatform" in findings["by-os"].message

    assert {k for k, a in opened.items() if a.key.kind.value == "schedule-ineffective"} == set(findings)
    assert opened["no-bypass"].severity.value == "warning"
    assert "bypassPlatformSafetyChecksOnUserSchedule" in opened["no-bypass"].message
    assert [
        a.key.resource_id.rsplit("/", 1)[-1] for a in later.resolved if a.key.kind.value == "schedule-ineffective"
    ] == ["no-bypass"]
    assert scope.endswith("/configurationAssignments/sat-dynamic")
