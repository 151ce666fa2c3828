"""Optional remediation after the deadline: off by default, Critical/Security only, MaxConcurrency / MaxErrors."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.domain.calendar import CalendarPolicy, YearMonth, cycle_for_month
from shared.services.cycle import summary
from tests.support.arm_server import ArmSimulator, SimPatch, SimVm
from tests.support.cycle_env import cycle_env

pytestmark = pytest.mark.azurite

CYCLE = "2026-05"
DEADLINE = cycle_for_month(YearMonth(2026, 5), CalendarPolicy(deadline_days=10)).install_deadline_utc  # 22 May


def late_fleet(n: int, **kwargs: object) -> list[SimVm]:
    return [
        SimVm(
            f"late{i}",
            patches=[SimPatch(f"50580{i:02d}", "Security", "NeverReboots", "2026-05-12T00:00:00Z")],
            **kwargs,
        )  # type: ignore[arg-type]
        for i in range(n)
    ]


def test_nothing_is_installed_unless_remediation_is_switched_on(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    with ArmSimulator(late_fleet(3)) as sim, cycle_env(
        monkeypatch, storage_connection, unique_prefix, sim, now=DEADLINE + timedelta(minutes=5),
        INSTALL_DEADLINE_DAYS="10",
    ) as env:  # fmt: skip
        env.tick()
        env.drain()
        env.clock.advance(hours=1)
        env.tick()
        env.drain()
        state = summary(env.deps, CYCLE)
    assert state["findings"] == {"deadline-missed": 3}
    assert sim.install_requests == []


def test_remediation_runs_within_max_concurrency_and_installs_what_was_missed(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = late_fleet(5)
    with ArmSimulator(fleet, install_seconds=0.2) as sim, cycle_env(
        monkeypatch, storage_connection, unique_prefix, sim, now=DEADLINE + timedelta(minutes=5),
        INSTALL_DEADLINE_DAYS="10", REMEDIATE_AFTER_DEADLINE="true", REMEDIATION_MAX_CONCURRENCY="2",
    ) as env:  # fmt: skip
        env.tick()
        env.drain(workers=3)
        rows = env.rows(CYCLE)
        state = summary(env.deps, CYCLE)
    assert len(sim.install_requests) == 5
    assert sim.max_in_flight["install"] <= 2
    assert {r["IState"] for r in rows.values()} == {"succeeded"}
    assert {json.loads(r["IResult"])["installed"] for r in rows.values()} == {1}
    assert state["remediation"] == {"in_flight": 0, "started": 5, "succeeded": 5, "failed": 0}


def test_remediation_stops_after_max_errors(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = late_fleet(6, install_error={"code": "PatchInstallationFailed", "message": "KB failed to install"})
    with ArmSimulator(fleet) as sim, cycle_env(
        monkeypatch, storage_connection, unique_prefix, sim, now=DEADLINE + timedelta(minutes=5),
        INSTALL_DEADLINE_DAYS="10", REMEDIATE_AFTER_DEADLINE="true", REMEDIATION_MAX_CONCURRENCY="1",
        REMEDIATION_MAX_ERRORS="2",
    ) as env:  # fmt: skip
        env.tick()
        env.drain()
        env.clock.advance(hours=1)
        env.tick()  # the timer tops up too; the error budget is spent
        env.drain()
        state = summary(env.deps, CYCLE)
        cycle_row = env.store.cycle(CYCLE)
        failures = [f for f in env.store.findings(CYCLE) if f.kind == "patch-failed"]
    assert len(sim.install_requests) == 2
    assert state["remediation"]["failed"] == 2
    assert cycle_row is not None and "max errors" in cycle_row["RemStopped"]
    assert len(failures) == 2
    assert all("PatchInstallationFailed" in f.message for f in failures)
