"""Assessment results from Resource Graph: machines with periodic assessment on whose latest
assessment is newer than the cycle's release are settled from ``patchassessmentresources``
(no ``assessPatches``, no ARM write); the rest are asked. Real parts throughout: the loopback
ARM (its Resource Graph endpoint included), Azurite, the registered timer and queue worker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.report_sources import CycleResults
from shared.adapters.resource_graph import AssessmentGraph
from shared.adapters.storage import StorageTarget
from shared.services.cycle import summary
from tests.support.arm_server import ArmSimulator, SimPatch, SimVm, make_fleet
from tests.support.cycle_env import cycle_env

pytestmark = pytest.mark.azurite

MAY_2026 = datetime(2026, 5, 12, 18, 30, tzinfo=UTC)  # an hour and a half after May's release (17:00 UTC)
CYCLE = "2026-05"
AFTER_RELEASE = "2026-05-12T17:40:11.5234Z"
BEFORE_RELEASE = "2026-05-11T09:12:00Z"


def _run(monkeypatch: pytest.MonkeyPatch, connection: str, prefix: str, fleet: list[SimVm], *, graph: bool) -> Any:
    with (
        ArmSimulator(fleet, assess_seconds=0.01) as sim,
        cycle_env(monkeypatch, connection, prefix, sim, now=MAY_2026) as env,
    ):
        if graph:
            env.deps.assessment_graph = AssessmentGraph(env.deps.arm)  # as runtime.build_deps wires it
        env.tick()
        env.drain()
        rows = env.rows(CYCLE)
        findings = env.store.findings(CYCLE)
        state = summary(env.deps, CYCLE)
        writes = sum(1 for r in sim.server.requests if r.method == "POST" and "assessPatches" in r.path)
        env.extra["report"] = CycleResults(StorageTarget(connection_string=connection), prefix).vm_results(CYCLE)
    return sim, rows, findings, state, writes, env.extra["report"]


def test_a_fleet_with_fresh_periodic_assessments_gets_no_assess_patches_call(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = [*make_fleet(10), SimVm("arc01", kind="arc", patches=[SimPatch("5031364", "Security")])]
    for vm in fleet:
        vm.periodic_assessment_at = AFTER_RELEASE
    manual = SimVm("manual01", assessment_mode="ImageDefault", periodic_assessment_at=AFTER_RELEASE)
    sim, rows, _, state, writes, report = _run(
        monkeypatch, storage_connection, unique_prefix, [*fleet, manual], graph=True
    )
    assert [sim.accepted_for(v) for v in fleet] == [0] * len(fleet)  # nothing asked of ARM
    assert sim.accepted_for(manual) == 1 and writes == 1  # periodic assessment off: asked, once
    assert {rows[v.name]["Path"] for v in fleet} == {"resource-graph"}
    assert state["paths"] == {"assessPatches": 1, "resource-graph": 11}
    assert state["states"] == {"succeeded": 12}
    vm3 = json.loads(rows["vm00003"]["Result"])  # index 3: one Security patch, definition updates
    assert (vm3["critical_and_security"], vm3["other"]) == (1, 2)
    assert vm3["by_classification"] == {"Definition Updates": 1, "Security": 1, "Update Rollups": 1}
    assert vm3["started_utc"].startswith("2026-05-12T17:40:11")
    assert json.loads(rows["arc01"]["Result"])["critical_and_security"] == 1
    # the report's VM data says which path each machine took
    assert {v.name: v.assessment_path for v in report} == {
        **{v.name: "resource-graph" for v in fleet},
        "manual01": "assessPatches",
    }


def test_stale_missing_or_failed_assessments_get_exactly_one_assess_patches_each(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = make_fleet(9)
    for vm in fleet:
        vm.periodic_assessment_at = AFTER_RELEASE
    stale = [fleet[1], fleet[4], fleet[7], fleet[8]]
    fleet[1].periodic_assessment_at = BEFORE_RELEASE  # made before the release: knows nothing of it
    fleet[4].periodic_assessment_at = None  # never assessed (or older than Resource Graph keeps)
    fleet[7].periodic_status = "Failed"
    fleet[8].periodic_status = "InProgress"
    sim, rows, _, state, writes, _ = _run(monkeypatch, storage_connection, unique_prefix, fleet, graph=True)
    assert {v.name: sim.accepted_for(v) for v in fleet} == {v.name: int(v in stale) for v in fleet}
    assert writes == len(stale)
    assert {n: r.get("Path", "") for n, r in rows.items()} == {
        v.name: "" if v in stale else "resource-graph" for v in fleet
    }
    assert state["paths"] == {"assessPatches": 4, "resource-graph": 5}


def _verdict(rows: dict[str, Any], findings: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, row in rows.items():
        result = json.loads(row["Result"])
        for volatile in ("activity_id", "started_utc"):
            result.pop(volatile)
        out[name] = {"state": row["State"], "result": result}
    for f in findings:
        name = f.resource_id.rsplit("/", 1)[-1]
        out[name].setdefault("findings", []).append((f.kind, f.severity, f.message, json.dumps(f.details)))
    return out


def test_the_verdict_from_resource_graph_is_the_verdict_from_assess_patches(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    """Patch counts, reboot behaviour, the hotpatch findings of the OS cumulative update,
    a pending reboot: the same rows and findings whichever path the machines took."""

    def fleet() -> list[SimVm]:
        vms = make_fleet(6)
        lcu = SimPatch("5058411", "Security", "AlwaysRequiresReboot", "2026-05-12T00:00:00Z",
                       name="2026-05 Cumulative Update for Microsoft server operating system version 21H2 for "
                       "x64-based Systems (KB5058411)")  # fmt: skip
        net = SimPatch("5058922", "Security", "CanRequestReboot", "2026-05-12T00:00:00Z",
                       name="2026-05 Cumulative Update for .NET Framework 3.5, 4.8 and 4.8.1 (KB5058922)")  # fmt: skip
        vms[0].patches.append(lcu)  # hotpatch-enrolled, May is a hotpatch month: an unplanned baseline
        vms[1].patches.extend([net, SimPatch("5057001", "Critical", "NeverReboots", "2026-04-14T00:00:00Z")])
        vms[2].reboot_pending = True
        vms[3].hotpatch = False
        vms[3].patches.append(lcu)
        for vm in vms:
            vm.periodic_assessment_at = AFTER_RELEASE
        return vms

    _, asked_rows, asked_findings, _, asked, _ = _run(
        monkeypatch, storage_connection, unique_prefix + "a", fleet(), graph=False
    )
    _, graph_rows, graph_findings, _, from_graph, _ = _run(
        monkeypatch, storage_connection, unique_prefix + "g", fleet(), graph=True
    )
    assert (asked, from_graph) == (6, 0)
    assert _verdict(graph_rows, graph_findings) == _verdict(asked_rows, asked_findings)
    assert any(f.kind == "unplanned-baseline-suspected" for f in graph_findings)


def test_a_later_round_resolves_what_the_machines_own_newer_assessment_no_longer_shows(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = make_fleet(3)
    lcu = SimPatch("5058411", "Security", "AlwaysRequiresReboot", "2026-05-12T00:00:00Z",
                   name="2026-05 Cumulative Update for Microsoft server operating system version 21H2 for "
                   "x64-based Systems (KB5058411)")  # fmt: skip
    fleet[0].patches.append(lcu)
    for vm in fleet:
        vm.periodic_assessment_at = AFTER_RELEASE
    with (
        ArmSimulator(fleet, assess_seconds=0.01) as sim,
        cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=MAY_2026) as env,
    ):
        env.deps.assessment_graph = AssessmentGraph(env.deps.arm)
        env.tick()
        env.drain()
        before = {f.kind: f.state for f in env.store.findings(CYCLE) if f.resource_id == fleet[0].id}
        fleet[0].patches.remove(lcu)  # installed; the platform's next daily assessment says so
        fleet[0].periodic_assessment_at = "2026-05-15T02:00:00Z"
        env.clock.advance(days=3, hours=1)
        env.tick()  # the next round
        env.drain()
        after = {f.kind: f.state for f in env.store.findings(CYCLE) if f.resource_id == fleet[0].id}
        rows = env.rows(CYCLE)
    assert before == {"unplanned-baseline-suspected": "open"}
    assert after == {"unplanned-baseline-suspected": "resolved"}
    assert {r["Round"] for r in rows.values()} == {1} and {r["Path"] for r in rows.values()} == {"resource-graph"}
    assert sum(sim.accepted_for(v) for v in fleet) == 0
