"""A simulated month, end to end, through the registered functions (event functions, the
follow-ups queue, the assessment queue) and ``replay --live``.

May 2026 is a hotpatch month: release on Patch Tuesday 12 May at 17:00 UTC, assessments
scheduled a day later (``PATCH_OFFSET_DAYS=1``), the 30-day install deadline on 11 June
(after June's release on the 9th). Along the way: discovery and fan-out, results and
hotpatch findings, a re-assessment, a maintenance run gated and cancelled because most
of its machines are down, another verified after its post event, the deadline round
and remediation within its concurrency budget.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import azure.functions as func
import pytest

from shared.cli import main as cli
from shared.services.cycle import summary
from shared.services.maintenance import verification
from tests.support.app import handler
from tests.support.arm_server import SUB, ArmSimulator, SimPatch, SimVm
from tests.support.cycle_env import CycleEnv, cycle_env
from tests.support.events import trigger_event
from tests.support.fixtures import published
from tests.support.queue_host import QueueHost

pytestmark = pytest.mark.azurite

RG = "rg-ops"
CONFIG = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Maintenance/maintenanceConfigurations"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


LCU = "Cumulative Update for Microsoft server operating system version 21H2 for x64-based Systems"


def may(kb: str, reboot: str = "NeverReboots", classification: str = "Security", name: str = "") -> SimPatch:
    return SimPatch(kb, classification, reboot, "2026-05-12T00:00:00Z", name)


def fleet() -> list[SimVm]:
    classic_image = ("MicrosoftWindowsServer", "WindowsServer", "2019-Datacenter", "latest")
    return [
        SimVm("web1", patches=[may("5058001")]),
        SimVm("web2", patches=[may("5058001")]),
        SimVm("web3", patches=[may("5058001"), may("890830", "CanRequestReboot", "Update Rollups")]),
        SimVm("web4", patches=[may("5058001")]),
        SimVm("rebooter", patches=[may("5058002", "AlwaysRequiresReboot", name=f"2026-05 {LCU} (KB5058002)")]),
        SimVm(
            "laggard",
            patches=[
                SimPatch(
                    "5055001", "Security", "AlwaysRequiresReboot", "2026-04-14T00:00:00Z", f"2026-04 {LCU} (KB5055001)"
                )
            ],
        ),
        SimVm("sleepy", power_state="deallocated"),
        SimVm("classic", hotpatch=False, image=classic_image, patches=[may("5058003", "CanRequestReboot")]),
    ]


def run_id(config: str, start: str) -> str:
    return f"{CONFIG}/{config}/providers/microsoft.maintenance/applyupdates/{start}"


def maintenance_event(phase: str, config: str, start: str, end: str, sent: str, **data: str) -> dict:
    """The published sample, moved to our run."""
    name = "pre" if phase == "pre" else "post"
    event = copy.deepcopy(published(f"events/maintenance-{name}-event.eventgrid.json")[0])
    correlation = run_id(config, datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ").strftime("%Y%m%d%H%M%S"))
    event.update(id=correlation, topic=f"{CONFIG}/{config}", subject=config, eventTime=sent)
    event["data"].update(
        correlationId=correlation,
        maintenanceConfigurationId=f"{CONFIG}/{config}",
        startDateTime=start,
        endDateTime=end,
        resourceSubscriptionIds=[SUB],
        **data,
    )
    return event


def health_event(vm: SimVm, state: str, at: str) -> func.EventGridEvent:
    sample = copy.deepcopy(published("events/health-availability-status-changed.eventgrid.json"))
    props = sample["data"]["resourceInfo"]["properties"]
    props.update(
        targetResourceId=vm.id, occurredTime=at, availabilityState=state, previousAvailabilityState="Available"
    )
    sample["data"]["resourceInfo"]["id"] = f"{vm.id}/providers/Microsoft.ResourceHealth/availabilityStatuses/{at}"
    sample["data"]["operationalInfo"]["resourceEventTime"] = at
    return func.EventGridEvent(
        id=f"{vm.name}-{at}",
        data=sample["data"],
        topic=f"/subscriptions/{SUB}",
        subject=vm.id,
        event_type=sample["eventType"],
        event_time=t(at),
        data_version=sample["dataVersion"],
    )


def replay_live(env: CycleEnv, tmp_path: Path, event: dict, capsys: pytest.CaptureFixture[str]) -> tuple[dict, str]:
    path = tmp_path / f"event-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps([event]))
    now = env.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cli(["replay", str(path), "--live", "--json", "--now", now]) == 0
    out = capsys.readouterr()
    return json.loads(out.out.strip().splitlines()[-1]), out.err


def open_findings(env: CycleEnv, cycle: str) -> set[tuple[str, str]]:
    return {(f.kind, f.resource_id.rsplit("/", 1)[-1]) for f in env.store.findings(cycle, state="open")}


def test_a_month_end_to_end(
    monkeypatch: pytest.MonkeyPatch,
    storage_connection: str,
    unique_prefix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    vms = fleet()
    by = {v.name: v for v in vms}
    settings = {
        "PATCH_OFFSET_DAYS": "1",
        "CANCEL_UNHEALTHY_RUNS": "true",
        "CANCEL_UNHEALTHY_SHARE": "0.5",
        "REMEDIATE_AFTER_DEADLINE": "true",
        "REMEDIATION_MAX_CONCURRENCY": "2",
        "REMEDIATION_MAX_ERRORS": "2",
        "REMEDIATION_MAX_DURATION": "PT2H",
    }
    with (
        ArmSimulator(vms) as sim,
        cycle_env(
            monkeypatch, storage_connection, unique_prefix, sim, now=t("2026-05-12T18:00:00Z"), **settings
        ) as env,
    ):
        follow = QueueHost(
            storage_connection,
            handler("follow_up_worker"),
            queue="follow-ups",
            poison_handler=handler("follow_up_poison"),
        )
        follow.reset()
        # -- the release is out; the cycle is scheduled for tomorrow ----------------------------
        env.tick()
        assert env.store.cycle("2026-05") is None

        # -- scheduled moment: discovery, fan-out, results, findings -----------------------------
        env.clock.now = t("2026-05-13T17:05:00Z")
        env.tick()
        env.drain(workers=2)
        may_state = summary(env.deps, "2026-05")
        assert may_state["roster"] == 8
        assert may_state["states"] == {"not-assessable": 1, "succeeded": 7}
        assert open_findings(env, "2026-05") == {
            ("unplanned-baseline-suspected", "rebooter"),
            ("baseline-missed", "laggard"),
            ("vm-not-assessable", "sleepy"),
        }
        web3 = json.loads(env.rows("2026-05")["web3"]["Result"])
        assert web3["by_classification"] == {"Security": 1, "Update Rollups": 1}

        # -- a run whose machines are mostly down is cancelled before its cut-off --------------
        gated = run_id("mc-gated", "20260516020000")
        sim.add_run(gated, [by["web1"].id, by["web2"].id, by["web3"].id], cutoff_in=3600)
        for name in ("web1", "web2"):
            handler("health_events")(health_event(by[name], "Unavailable", "2026-05-16T00:30:00Z"))
        handler("health_events")(health_event(by["web3"], "Available", "2026-05-16T00:30:00Z"))
        env.clock.now = t("2026-05-16T01:25:30Z")
        pre = maintenance_event(
            "pre", "mc-gated", "2026-05-16T02:00:00Z", "2026-05-16T05:55:00Z", "2026-05-16T01:25:00Z",
            cancellationCutOffDateTime="2026-05-16T01:50:00Z",
        )  # fmt: skip
        # through the registered function: recorded, handed to the follow-ups queue, gated there
        handler("maintenance_events")(trigger_event(pre))
        assert sim.cancel_requests == []
        assert follow.drain() == 1
        assert not follow.errors
        assert sim.cancel_requests == [gated]
        gate = verification(env.deps, gated)
        assert gate["gate_cancelled"] is True
        assert gate["gate"]["unhealthy"] == [by["web1"].id, by["web2"].id]
        assert "2 of 3 machines unavailable or degraded (67%)" in gate["gate"]["reason"]

        # -- three days after the first round: re-assessed ------------------------------------
        env.clock.now = t("2026-05-16T17:05:00Z")
        env.tick()
        env.drain(workers=2)
        assert summary(env.deps, "2026-05")["round"] == 1

        # -- a healthy run is left alone, then verified after its post event -------------------
        ok_run = run_id("mc-ok", "20260517020000")
        sim.add_run(ok_run, [by["web3"].id, by["web4"].id], cutoff_in=3600)
        env.clock.now = t("2026-05-17T01:25:30Z")
        pre_ok = maintenance_event(
            "pre", "mc-ok", "2026-05-17T02:00:00Z", "2026-05-17T05:55:00Z", "2026-05-17T01:25:00Z",
            cancellationCutOffDateTime="2026-05-17T01:50:00Z",
        )  # fmt: skip
        replay_live(env, tmp_path, pre_ok, capsys)
        assert sim.cancel_requests == [gated]
        by["web3"].patches = []  # the run installed web3's patches; web4's failed to install
        by["web3"].last_installation = {"status": "Succeeded", "installedPatchCount": 2, "failedPatchCount": 0}
        by["web4"].last_installation = {"status": "Failed", "installedPatchCount": 0, "failedPatchCount": 1}
        env.clock.now = t("2026-05-17T03:31:00Z")
        post_ok = maintenance_event(
            "post", "mc-ok", "2026-05-17T02:00:00Z", "2026-05-17T05:55:00Z", "2026-05-17T03:30:00Z",
            status="Succeeded",
        )  # fmt: skip
        handler("maintenance_events")(trigger_event(post_ok))
        assert follow.drain() == 1
        env.drain()
        verified = verification(env.deps, ok_run)
        assert verified["post_status"] == "Succeeded"
        assert [
            (
                m["id"].rsplit("/", 1)[-1],
                m["state"],
                m["installed"],
                m["install_failed"],
                m["critical_and_security_pending"],
            )
            for m in verified["machines"]
        ] == [("web3", "succeeded", 2, 0, 0), ("web4", "succeeded", 0, 1, 1)]
        assessed = sim.accepted_for(by["web4"])
        recorded, executed = replay_live(env, tmp_path, post_ok, capsys)  # delivered again, replayed live
        env.drain()
        assert recorded["duplicates"] == 1, recorded
        assert "skipped" in executed
        handler("maintenance_events")(trigger_event(post_ok))  # and once more through Event Grid
        assert follow.drain() == 1
        env.drain()
        assert sim.accepted_for(by["web4"]) == assessed  # verified once

        # -- patches land over the month; June's release comes before May's deadline -----------
        for name in ("web1", "web2", "web4"):
            by[name].patches = []
        by["web1"].patches = [SimPatch("5060001", "Security", "NeverReboots", "2026-06-09T00:00:00Z")]

        # -- the deadline (11 June, in June's cycle): a deadline round for May, June starts ------
        env.clock.now = t("2026-06-11T17:05:00Z")
        env.tick()
        env.drain(workers=2)
        may_state = summary(env.deps, "2026-05")
        june_state = summary(env.deps, "2026-06")
        missed = {vm for kind, vm in open_findings(env, "2026-05") if kind == "deadline-missed"}
        assert may_state["deadline_round"] == may_state["round"] == 2
        assert june_state["round"] == 0 and june_state["roster"] == 8
        assert missed == {"rebooter", "laggard", "classic"}  # not web1: June's patch is not due yet

        # -- remediation: Critical/Security only, within the concurrency budget ----------------
        installs = {r["vm"].rsplit("/", 1)[-1]: r for r in sim.install_requests}
        assert set(installs) == {"rebooter", "laggard", "classic"}
        for hot in ("rebooter", "laggard"):  # hotpatch month, hotpatch VMs: no reboot
            assert installs[hot]["rebootSetting"] == "Never"
            assert installs[hot]["windowsParameters"]["excludeKbsRequiringReboot"] is True
        assert installs["classic"]["rebootSetting"] == "IfRequired"
        assert {r["maximumDuration"] for r in installs.values()} == {"PT2H"}
        assert {tuple(r["windowsParameters"]["classificationsToInclude"]) for r in installs.values()} == {
            ("Critical", "Security")
        }
        assert summary(env.deps, "2026-05")["remediation"] == {
            "in_flight": 0,
            "started": 3,
            "succeeded": 3,
            "failed": 0,
        }
        assert sim.max_in_flight["install"] <= 2
        rows = env.rows("2026-05")
        assert rows["classic"]["IState"] == "succeeded"
        assert json.loads(rows["classic"]["IResult"])["installed"] == 1
        assert json.loads(rows["rebooter"]["IResult"])["excluded"] == 1  # needs a reboot: left for the baseline
        assert not env.host.errors

        # -- what an operator sees ------------------------------------------------------------
        assert cli(["cycle", "--month", "2026-05", "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["round"] == 2 and shown["not_assessable"] == 1
        assert {(f["kind"], f["resource_id"].rsplit("/", 1)[-1]) for f in shown["open_findings"]} >= {
            ("deadline-missed", "classic"),
            ("vm-not-assessable", "sleepy"),
        }
        assert cli(["cycle", "--run", ok_run]) == 0
        table = capsys.readouterr().out
        assert "post status: Succeeded" in table and "web4" in table
