"""A cycle's fan-out through the registered functions: timer -> queue -> workers -> results.

Real parts throughout: the loopback ARM (real SDK clients), Azurite tables and queues,
the queue worker invoked with the worker's own ``QueueMessage`` as the host would.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.services.cycle import summary
from tests.support.arm_server import ArmSimulator, SimPatch, SimVm, make_fleet
from tests.support.cycle_env import cycle_env

pytestmark = pytest.mark.azurite

MAY_2026 = datetime(2026, 5, 12, 18, 30, tzinfo=UTC)  # an hour and a half after May's release (hotpatch month)
CYCLE = "2026-05"


def test_a_fleet_is_assessed_exactly_once_under_twenty_percent_transient_faults(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = make_fleet(40)
    for i in (5, 17, 33):
        fleet[i].power_state = "deallocated"
    with ArmSimulator(fleet, assess_seconds=0.05) as sim:
        sim.inject("500", rate=0.06, method="POST")
        sim.inject("reset", rate=0.06)
        sim.inject("conflict", rate=0.06, method="POST", path_contains="assessPatches")
        sim.inject("503", rate=0.06, method="GET")
        with cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=MAY_2026) as env:
            env.tick()
            env.drain(workers=4)
            rows = env.rows(CYCLE)
            state = summary(env.deps, CYCLE)
        faults = sum(v for k, v in sim.counts.items() if k.startswith("fault:"))
        share = faults / sim.counts["requests"]
    assert share >= 0.15, f"only {share:.0%} of requests were faulted"
    assert len(rows) == 40
    running = [v for i, v in enumerate(fleet) if i not in (5, 17, 33)]
    assert [sim.accepted_for(v) for v in running] == [1] * 37  # exactly once, despite the faults
    assert all(sim.accepted_for(fleet[i]) == 0 for i in (5, 17, 33))
    assert state["states"] == {"not-assessable": 3, "succeeded": 37}
    assert state["not_assessable"] == 3
    vm3 = json.loads(rows["vm00003"]["Result"])  # index 3: one Security patch, definition updates
    assert vm3["critical_and_security"] == 1
    assert vm3["by_classification"] == {"Definition Updates": 1, "Security": 1, "Update Rollups": 1}
    assert vm3["started_utc"]
    assert rows["vm00005"]["Reason"] == "not assessable: deallocated"
    assert state["findings"] == {"vm-not-assessable": 3}
    assert not env.host.errors  # transient faults never failed an invocation: they were retried or re-enqueued


def test_permanent_errors_are_recorded_with_their_reason_and_not_retried(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = make_fleet(6)
    with ArmSimulator(fleet) as sim:
        sim.inject("403", count=1, method="POST", path_contains="vm00001/assessPatches")
        sim.inject("404", count=1, method="POST", path_contains="vm00002/assessPatches")
        with cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=MAY_2026) as env:
            env.tick()
            env.drain()
            rows = env.rows(CYCLE)
            findings = {(f.kind, f.resource_id): f for f in env.store.findings(CYCLE)}
        posts = {v.name: len(sim.server.recorded("POST", f"{v.name}/assessPatches")) for v in fleet}
    assert posts == {v.name: 1 for v in fleet}
    assert rows["vm00001"]["State"] == "failed"
    assert "HTTP 403 AuthorizationFailed" in rows["vm00001"]["Reason"]
    assert rows["vm00002"]["State"] == "failed"
    assert "HTTP 404 ResourceNotFound" in rows["vm00002"]["Reason"]
    assert {r["State"] for n, r in rows.items() if n not in ("vm00001", "vm00002")} == {"succeeded"}
    failed = findings[("patch-failed", fleet[1].id)]
    assert failed.severity == "error"
    assert failed.cycle_id == CYCLE
    assert "403" in failed.message


def test_a_vm_deallocated_after_discovery_is_counted_not_assessable(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = make_fleet(4)
    with (
        ArmSimulator(fleet) as sim,
        cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=MAY_2026) as env,
    ):
        env.tick()
        fleet[2].power_state = "deallocated"  # between discovery and its assessment
        env.drain()
        rows = env.rows(CYCLE)
        state = summary(env.deps, CYCLE)
    assert rows["vm00002"]["State"] == "not-assessable"
    assert rows["vm00002"]["PowerState"] == "deallocated"
    assert state["not_assessable"] == 1
    assert state["findings"] == {"vm-not-assessable": 1}


LCU = "Cumulative Update for Microsoft server operating system version 21H2 for x64-based Systems"
DOTNET = "Cumulative Update for .NET Framework 3.5, 4.8 and 4.8.1 for Microsoft server operating system version 21H2"


def test_hotpatch_findings_come_out_of_the_results(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = [
        SimVm("calm", patches=[SimPatch("5031001", "Security", "NeverReboots", "2026-05-12T00:00:00Z")]),
        SimVm(
            "rebooter", patches=[SimPatch("5031002", "Security", "AlwaysRequiresReboot", "2026-05-12T00:00:00Z", LCU)]
        ),
        SimVm(
            "laggard", patches=[SimPatch("5027001", "Security", "AlwaysRequiresReboot", "2026-04-14T00:00:00Z", LCU)]
        ),
        # a reboot-requiring .NET update in a hotpatch month: an expected reboot, no finding
        SimVm("dotnet", patches=[SimPatch("5031110", "Security", "CanRequestReboot", "2026-05-12T00:00:00Z", DOTNET)]),
        # everything installed, a reboot pending: not compliant, counted apart (no finding in a hotpatch month)
        SimVm("restarting", patches=[], reboot_pending=True),
        SimVm(
            "classic",
            hotpatch=False,
            image=("MicrosoftWindowsServer", "WindowsServer", "2019-Datacenter", "latest"),
            patches=[SimPatch("5031003", "Security", "AlwaysRequiresReboot", "2026-05-12T00:00:00Z")],
        ),
    ]
    with (
        ArmSimulator(fleet) as sim,
        cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=MAY_2026) as env,
    ):
        env.tick()
        env.drain()
        findings = {(f.kind, f.resource_id.rsplit("/", 1)[-1]) for f in env.store.findings(CYCLE, state="open")}
        detail = {f.kind: f for f in env.store.findings(CYCLE)}
        state = summary(env.deps, CYCLE)
    assert state["reboot_pending"] == 1 and state["states"]["succeeded"] == 6
    assert findings == {("unplanned-baseline-suspected", "rebooter"), ("baseline-missed", "laggard")}
    assert "KB5031002" in detail["unplanned-baseline-suspected"].message
    assert detail["baseline-missed"].details["kbs"] == ["5027001"]


def test_a_message_that_cannot_be_read_is_recorded_and_acknowledged(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    with (
        ArmSimulator(make_fleet(2)) as sim,
        cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=MAY_2026) as env,
    ):
        env.host.main.send_message(b"{not json")
        env.host.main.send_message(json.dumps({"op": "assess", "scope": CYCLE, "cycle_id": CYCLE, "round": 0}).encode())
        env.drain()
        reasons = sorted(r["Reason"] for r in env.store.rejections())
    assert len(reasons) == 2
    assert reasons[0].startswith("body: not JSON")
    assert reasons[1] == "vm: missing"
    assert not env.host.errors
    assert sim.counts["requests"] == 0


def test_a_poison_message_fails_its_vm_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = make_fleet(2)
    with (
        ArmSimulator(fleet) as sim,
        cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=MAY_2026) as env,
    ):
        env.tick()
        received = list(env.host.main.receive_messages(max_messages=32, visibility_timeout=1))
        (start,) = [m for m in received if fleet[1].id in m.content.decode()]
        # what the host does after maxDequeueCount failed deliveries: the message moves to the poison queue
        env.host.poison.send_message(start.content)
        env.host.main.delete_message(start)
        env.drain()
        rows = env.rows(CYCLE)
        findings = {f.resource_id: f for f in env.store.findings(CYCLE)}
    assert rows["vm00001"]["State"] == "failed"
    assert "moved to assessments-poison" in rows["vm00001"]["Reason"]
    assert findings[fleet[1].id].kind == "patch-failed"
    assert rows["vm00000"]["State"] == "succeeded"


class DroppingQueue:
    """The real queue, except that some sends of poll messages fail, as a storage outage (or a
    host crash) between the row's hand-over and the send would: the first ``fail`` hand-overs
    from a start (``after_start``) or from a poll (otherwise)."""

    def __init__(self, real: object, fail: int, *, after_start: bool) -> None:
        self.real, self.fail, self.after_start = real, fail, after_start
        self.seen: set[str] = set()

    def send(self, body: dict, delay_seconds: float = 0) -> str:
        from shared.domain.outcomes import StoreUnavailableError

        if body.get("token"):
            first = body["vm"] not in self.seen
            self.seen.add(body["vm"])
            if self.fail > 0 and first == self.after_start:
                self.fail -= 1
                raise StoreUnavailableError("queue unavailable (injected)")
        return self.real.send(body, delay_seconds)  # type: ignore[attr-defined]


@pytest.mark.parametrize("after_start", [True, False], ids=["after-start", "after-poll"])
def test_a_worker_dying_between_hand_over_and_send_loses_no_vm(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str, after_start: bool
) -> None:
    fleet = make_fleet(5)
    with (
        ArmSimulator(fleet, assess_seconds=0.3) as sim,
        cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=MAY_2026) as env,
    ):
        env.deps.queue = DroppingQueue(env.deps.queue, fail=3, after_start=after_start)
        env.tick()
        env.drain()
        state = summary(env.deps, CYCLE)
    assert len(env.host.errors) == 3  # the invocations failed and the host delivered their messages again
    assert state["states"] == {"succeeded": 5}
    assert [sim.accepted_for(v) for v in fleet] == [1] * 5
