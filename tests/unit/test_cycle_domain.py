"""The patch cycle's pure rules: results, findings, rounds, remediation, the gate, messages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from shared.domain.assessment import (
    VmState,
    format_error,
    parse_assessment,
    parse_install,
    parse_installation_summary,
    parse_instant,
)
from shared.domain.calendar import CalendarPolicy, YearMonth, cycle_for_month
from shared.domain.cycle_state import CycleRecord, RemediationBudget, Step, due, install_plan, parse_iso_duration
from shared.domain.fleet import Vm, expectation, hotpatch_image, vm_key
from shared.domain.gate import decide
from shared.domain.hotpatch import assessment_findings, reconcile
from shared.services.assessment import Message, MessageError
from tests.support.fixtures import published

POLICY = CalendarPolicy()
MAY = cycle_for_month(YearMonth(2026, 5), POLICY)  # hotpatch month
APRIL = cycle_for_month(YearMonth(2026, 4), POLICY)  # planned baseline
SUB = "11111111-2222-3333-4444-555555555555"


def vm(
    name: str = "vm1",
    *,
    hotpatch: bool = True,
    power: str = "running",
    sku: str = "2022-datacenter-azure-edition-hotpatch",
) -> Vm:
    return Vm(
        id=f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}",
        name=name,
        subscription_id=SUB,
        resource_group="rg",
        os_type="Windows",
        power_state=power,
        patch_mode="AutomaticByPlatform",
        hotpatch_enabled=hotpatch,
        image_publisher="MicrosoftWindowsServer",
        image_offer="WindowsServer",
        image_sku=sku,
    )


def result(*patches: tuple[str, str, str, str], status: str = "Succeeded") -> dict:
    """patches: (kb, classification, rebootBehavior, published)"""
    cs = sum(1 for p in patches if p[1] in ("Critical", "Security"))
    return {
        "status": status,
        "criticalAndSecurityPatchCount": cs,
        "otherPatchCount": len(patches) - cs,
        "rebootPending": False,
        "startDateTime": "2026-05-13T17:06:00.1234567Z",
        "availablePatches": [
            {"kbId": kb, "classifications": [c], "rebootBehavior": r, "publishedDate": p, "name": f"KB{kb}"}
            for kb, c, r, p in patches
        ],
    }


# -- results --------------------------------------------------------------------------------------


def test_the_published_assessment_example_parses_with_counts_by_classification() -> None:
    body = published("arm/compute/VirtualMachine_AssessPatches.json")["responses"]["200"]["body"]
    r = parse_assessment(body)
    assert r.state is VmState.SUCCEEDED
    assert (r.critical_and_security, r.other, r.reboot_pending) == (1, 2, True)
    assert r.by_classification == {"Definition Updates": 1, "Update Rollups": 1}
    assert r.started_utc == datetime(2020, 4, 24, 21, 2, 4, 255615, tzinfo=UTC)  # seven digits, read as six
    assert r.summary()["reboot_requiring_security_kbs"] == []


def test_the_published_installation_example_parses() -> None:
    body = published("arm/compute/VirtualMachine_InstallPatches.json")["responses"]["200"]["body"]
    r = parse_install(body)
    assert r.ok
    assert (r.installed, r.pending, r.failed, r.reboot_status) == (3, 2, 0, "Completed")


def test_the_published_instance_view_says_what_the_last_installation_did() -> None:
    body = published("arm/compute/VirtualMachine_Get_InstanceView.json")["responses"]["200"]["body"]
    r = parse_installation_summary(body["patchStatus"]["lastPatchInstallationSummary"])
    assert r is not None and r.status == "Succeeded"
    assert (r.installed, r.failed, r.pending, r.excluded, r.not_selected) == (1, 1, 1, 1, 1)
    assert not r.ok  # one patch failed
    assert parse_installation_summary({}) is None


def test_a_failed_assessment_keeps_the_error_and_keys_are_read_case_insensitively() -> None:
    r = parse_assessment(
        {"Status": "Failed", "Error": {"code": "VMAgentStatusCommunicationError", "message": "no agent"}}
    )
    assert r.state is VmState.FAILED
    assert r.error == "VMAgentStatusCommunicationError: no agent"
    with pytest.raises(ValueError, match="'status' is missing"):
        parse_assessment({"criticalAndSecurityPatchCount": 1})
    assert format_error({"code": "A", "message": "b", "details": [{"code": "C", "message": "d"}]}) == "A: b (C: d)"
    assert parse_instant("not a time") is None


# -- findings -----------------------------------------------------------------------------------------

LCU_MAY = ("5058002", "Security", "AlwaysRequiresReboot", "2026-05-12T00:00:00Z")
HOT_MAY = ("5058001", "Security", "NeverReboots", "2026-05-12T00:00:00Z")
LCU_APRIL = ("5055001", "Security", "AlwaysRequiresReboot", "2026-04-14T00:00:00Z")
JUNE = ("5060001", "Security", "NeverReboots", "2026-06-09T00:00:00Z")
AT = datetime(2026, 5, 14, tzinfo=UTC)


def kinds(v: Vm, body: dict, cycle=MAY, now=AT) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.kind for f in assessment_findings(v, parse_assessment(body), cycle, now)}


def test_a_reboot_requiring_security_patch_in_a_hotpatch_month_suggests_an_unplanned_baseline() -> None:
    assert kinds(vm(), result(LCU_MAY)) == {"unplanned-baseline-suspected"}
    assert kinds(vm(), result(HOT_MAY)) == set()  # a hotpatch: as expected
    assert kinds(vm(hotpatch=False), result(LCU_MAY)) == set()  # not enrolled: reboots are normal
    assert kinds(vm(sku="2019-Datacenter"), result(LCU_MAY)) == set()  # enabled but not Azure Edition
    assert kinds(vm(), result(LCU_MAY), cycle=APRIL, now=datetime(2026, 4, 15, tzinfo=UTC)) == set()  # baseline month


def test_a_hotpatch_vm_still_missing_an_earlier_baseline_is_flagged() -> None:
    assert kinds(vm(), result(LCU_APRIL)) == {"baseline-missed"}
    after_april_deadline = APRIL.install_deadline_utc + timedelta(hours=1)
    april_lcu = ("5055001", "Security", "AlwaysRequiresReboot", "2026-04-14T00:00:00Z")
    assert kinds(vm(), result(april_lcu), cycle=APRIL, now=after_april_deadline) == {
        "baseline-missed",
        "deadline-missed",
    }
    assert kinds(vm(), result(april_lcu), cycle=APRIL, now=APRIL.install_deadline_utc - timedelta(hours=1)) == set()


def test_the_deadline_counts_only_patches_it_covers() -> None:
    after = MAY.install_deadline_utc + timedelta(minutes=5)  # 11 June, after June's release on the 9th
    assert MAY.install_deadline_utc > MAY.ends_utc
    assert kinds(vm(), result(HOT_MAY), now=after) == {"deadline-missed"}
    assert kinds(vm(), result(JUNE), now=after) == set()
    assert kinds(vm(), result(HOT_MAY), now=MAY.install_deadline_utc - timedelta(seconds=1)) == set()
    (f,) = assessment_findings(vm(), parse_assessment(result(HOT_MAY, JUNE)), MAY, after)
    assert f.details["pending"] == 1
    assert f.severity == "error" and f.cycle_id == "2026-05" and f.resource_id == vm().id


def test_a_failed_assessment_is_one_finding_with_its_reason() -> None:
    (f,) = assessment_findings(
        vm(), parse_assessment({"status": "Failed", "error": {"code": "X", "message": "y"}}), MAY, AT
    )
    assert f.kind == "patch-failed"
    assert "X: y" in f.message


def test_reconcile_opens_keeps_and_resolves() -> None:
    now = AT
    opened = assessment_findings(vm(), parse_assessment(result(LCU_MAY)), MAY, now)
    assert reconcile([], opened, now) == opened
    assert reconcile(opened, assessment_findings(vm(), parse_assessment(result(LCU_MAY)), MAY, now), now) == []
    (resolved,) = reconcile(opened, [], now + timedelta(days=1))
    assert resolved.state == "resolved" and resolved.kind == "unplanned-baseline-suspected"
    assert reconcile([resolved], [], now) == []


# -- rounds ---------------------------------------------------------------------------------------------

EVERY = timedelta(days=3)


def test_the_cycle_starts_once_its_scheduled_moment_has_passed() -> None:
    late = cycle_for_month(YearMonth(2026, 5), CalendarPolicy(offset_days=2))
    assert due(late, None, late.release_utc + timedelta(hours=1), reassess_every=EVERY) is None
    assert due(late, None, late.scheduled_utc, reassess_every=EVERY) is Step.START
    assert due(late, None, late.scheduled_utc + timedelta(days=3), reassess_every=EVERY) is Step.START  # catch-up
    assert due(late, None, late.ends_utc, reassess_every=EVERY) is None  # a month too late: the next cycle's job


def test_rounds_follow_the_cadence_from_the_last_start() -> None:
    started = MAY.scheduled_utc + timedelta(days=3)  # a late start
    record = CycleRecord("2026-05", round=0, round_started_utc=started)
    assert due(MAY, record, started + timedelta(days=2), reassess_every=EVERY) is None
    assert due(MAY, record, started + EVERY, reassess_every=EVERY) is Step.REASSESS


def test_the_deadline_is_swept_even_after_the_next_release() -> None:
    record = CycleRecord("2026-05", round=3, round_started_utc=MAY.ends_utc - timedelta(days=1))
    after = MAY.install_deadline_utc + timedelta(minutes=1)
    assert due(MAY, record, after, reassess_every=EVERY) is Step.DEADLINE
    swept = CycleRecord("2026-05", round=4, round_started_utc=after, deadline_round=4)
    assert due(MAY, swept, after + EVERY, reassess_every=EVERY) is None  # ended: no more rounds
    assert due(MAY, swept, after + EVERY, reassess_every=EVERY, remediate=True) is Step.REMEDIATE


def test_installation_plans_follow_the_month() -> None:
    hot = install_plan(MAY, "PT3H", hotpatch_vm=True)
    assert (hot.reboot_setting, hot.exclude_kbs_requiring_reboot) == ("Never", True)
    assert hot.classifications == ("Critical", "Security")
    assert install_plan(APRIL, "PT3H").reboot_setting == "IfRequired"
    assert install_plan(MAY, "PT3H", hotpatch_vm=False).reboot_setting == "IfRequired"


def test_remediation_budget_is_like_max_concurrency_and_max_errors() -> None:
    budget = RemediationBudget(max_concurrency=3, max_errors=2)
    assert budget.slots(in_flight=0, failed=0) == 3
    assert budget.slots(in_flight=2, failed=1) == 1
    assert budget.slots(in_flight=0, failed=2) == 0


@pytest.mark.parametrize(("text", "seconds"), [("PT3H", 10800), ("PT1H30M", 5400), ("pt90m", 5400), ("PT45S", 45)])
def test_iso_durations(text: str, seconds: int) -> None:
    assert parse_iso_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["3h", "PT", "P1D", "PTxH", ""])
def test_bad_iso_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_iso_duration(text)


# -- the gate ----------------------------------------------------------------------------------------------

NOW = datetime(2026, 5, 16, 1, 30, tzinfo=UTC)
CUT = NOW + timedelta(minutes=20)
IDS = [f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm{i}" for i in range(4)]


def test_the_gate_cancels_only_when_more_than_the_share_is_down() -> None:
    two_down = {IDS[0]: "Unavailable", IDS[1].upper(): "Degraded", IDS[2]: "Available"}
    assert not decide(IDS, two_down, threshold=0.5, now=NOW, cutoff=CUT).cancel  # exactly half: not more
    three = {**two_down, IDS[3]: "Unavailable"}
    d = decide(IDS, three, threshold=0.5, now=NOW, cutoff=CUT)
    assert d.cancel and d.share == 0.75 and "3 of 4" in d.reason
    unknown = {IDS[0]: "Unavailable", IDS[1]: "Unknown", IDS[2]: "Unknown", IDS[3]: "Unknown"}
    assert not decide(IDS, unknown, threshold=0.5, now=NOW, cutoff=CUT).cancel  # no evidence is not evidence


def test_the_gate_never_acts_after_the_cut_off_or_on_an_empty_run() -> None:
    down = dict.fromkeys(IDS, "Unavailable")
    late = decide(IDS, down, threshold=0.5, now=CUT, cutoff=CUT)
    assert not late.cancel and "cut-off" in late.reason
    empty = decide([], {}, threshold=0.5, now=NOW, cutoff=CUT)
    assert not empty.cancel and "no machines" in empty.reason


# -- the fleet and messages ----------------------------------------------------------------------------------


def test_vm_keys_are_case_insensitive_and_table_safe() -> None:
    key = vm_key(IDS[0])
    assert key == vm_key(IDS[0].upper())
    assert "/" not in key and key.startswith("subscriptions|")


def test_expectations_say_what_the_cycle_expects() -> None:
    assert expectation(vm(), MAY).summary.startswith("hotpatch month")
    assert not expectation(vm(), MAY).reboot_expected
    assert expectation(vm(), APRIL).reboot_expected
    off = expectation(vm(power="deallocated"), MAY)
    assert not off.assess and "not assessable: deallocated" in off.summary
    assert "is not a hotpatch image" in expectation(vm(sku="2019-Datacenter"), MAY).summary


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "body: not JSON"),
        (b"[1]", "body: expected an object"),
        (b'{"op": "assess", "scope": "2026-05", "cycle_id": "2026-05", "round": 0}', "vm: missing"),
        (b'{"op": "reboot", "scope": "s", "cycle_id": "2026-05", "round": 0, "vm": "x"}', "op: expected"),
        (b'{"op": "assess", "scope": "s", "cycle_id": "May", "round": 0, "vm": "x"}', "cycle_id:"),
        (b'{"op": "assess", "scope": "s", "cycle_id": "2026-05", "round": "0", "vm": "x"}', "round: expected int"),
        (
            b'{"op": "assess", "scope": "s", "cycle_id": "2026-05", "round": 0, "vm": "vm1"}',
            "vm: not an ARM resource id",
        ),
    ],
)
def test_unusable_messages_name_the_field(body: bytes, reason: str) -> None:
    with pytest.raises(MessageError, match=reason.replace("(", r"\(")):
        Message.parse(body)


def test_messages_round_trip() -> None:
    m = Message("assess", "2026-05", "2026-05", 2, IDS[0], token="abc", attempt=1)
    import json

    assert Message.parse(json.dumps(m.to_json())) == m
    assert date(2026, 5, 12) == MAY.patch_tuesday


def test_the_queue_follows_the_hosts_connection_including_the_managed_identity() -> None:
    from shared.config import load_settings
    from shared.runtime import queue_target

    identity = {"AzureWebJobsStorage__accountName": "pwstore", "AzureWebJobsStorage__credential": "managedidentity"}
    target = queue_target(load_settings(identity), identity)
    assert target.uses_identity and target.queue_url == "https://pwstore.queue.core.windows.net"
    local = queue_target(load_settings({}), {})
    assert "127.0.0.1:10001" in local.connection_string


@pytest.mark.parametrize(
    ("publisher", "offer", "sku", "capable"),
    [
        ("MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition-core", True),
        ("MicrosoftWindowsServer", "WindowsServer", "2022-Datacenter-Azure-Edition-Hotpatch-smalldisk", True),
        ("MicrosoftWindowsServer", "WindowsServer", "2025-datacenter-azure-edition", True),
        ("MicrosoftWindowsServer", "WindowsServer", "2025-datacenter-azure-edition-core-smalldisk", True),
        # the SKU alone is not enough: publisher and offer must match the hotpatch document's list
        ("SomeVendor", "WindowsServer", "2022-datacenter-azure-edition-hotpatch", False),
        ("MicrosoftWindowsServer", "WindowsServer-custom", "2025-datacenter-azure-edition", False),
        # the 2022 Azure Edition desktop image is not a hotpatch image (its -hotpatch sibling is)
        ("MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition", False),
        ("MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-g2", False),
    ],
)
def test_hotpatch_eligibility_is_publisher_offer_and_sku(publisher: str, offer: str, sku: str, capable: bool) -> None:
    machine = replace(vm(sku=sku), image_publisher=publisher, image_offer=offer)
    assert machine.hotpatch_capable is capable
    assert machine.hotpatch is capable  # enableHotpatching and AutomaticByPlatform are set
    assert replace(machine, hotpatch_enabled=False).hotpatch is False  # the VM's own setting counts


def test_hotpatch_images_setting_overrides_the_default_list() -> None:
    from shared.config import ConfigError, load_settings

    cfg = load_settings(
        HOTPATCH_IMAGES="Contoso:GoldenServer:2025-hp, MicrosoftWindowsServer:WindowsServer:2022-datacenter-azure-edition"
    )
    images = cfg["HOTPATCH_IMAGES"]
    assert hotpatch_image("contoso", "goldenserver", "2025-HP", images)
    assert hotpatch_image("MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition", images)
    assert not hotpatch_image("MicrosoftWindowsServer", "WindowsServer", "2025-datacenter-azure-edition", images)
    with pytest.raises(ConfigError, match="HOTPATCH_IMAGES"):
        load_settings(HOTPATCH_IMAGES="just-a-sku")
