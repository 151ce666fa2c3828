"""The alert model: identity, transitions, and the CloudEvent each transition becomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.alerts import (
    EVENT_SOURCE,
    AlertKey,
    AlertKind,
    AlertState,
    TransitionKind,
    Verdict,
    alert_event,
    apply_verdict,
    event_type,
    merge_verdicts,
)

VM = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
NOW = datetime(2026, 4, 18, 5, 0, tzinfo=UTC)


def fire(msg: str = "down", key: AlertKey | None = None) -> Verdict:
    return Verdict(key or AlertKey(AlertKind.UNHEALTHY_AFTER_MAINTENANCE, VM, "run-1"), True, msg, NOW, {"a": 1})


def clear(key: AlertKey | None = None) -> Verdict:
    return Verdict(key or AlertKey(AlertKind.UNHEALTHY_AFTER_MAINTENANCE, VM, "run-1"), False, "healthy again")


def test_identity_ignores_case_of_resource_and_run_ids() -> None:
    a = AlertKey(AlertKind.PATCH_FAILED, VM, "/Sub/X/applyUpdates/1")
    b = AlertKey(AlertKind.PATCH_FAILED, VM.upper(), "/sub/x/applyupdates/1")
    assert a == b and hash(a) == hash(b) and a.alert_id == b.alert_id
    assert a.alert_id != AlertKey(AlertKind.MAINTENANCE_OVERRAN, VM, "/sub/x/applyupdates/1").alert_id


def test_open_resolve_reopen_are_numbered_transitions() -> None:
    opened = apply_verdict(None, fire(), NOW)
    assert opened is not None and opened.state is AlertState.OPEN and opened.sequence == 1
    assert apply_verdict(opened, fire(), NOW + timedelta(minutes=15)) is None  # firing again: nothing new
    resolved = apply_verdict(opened, clear(), NOW + timedelta(hours=1))
    assert resolved is not None and resolved.state is AlertState.RESOLVED and resolved.sequence == 2
    assert resolved.resolved_at == NOW + timedelta(hours=1)
    assert apply_verdict(resolved, clear(), NOW + timedelta(hours=2)) is None
    reopened = apply_verdict(resolved, fire("down again"), NOW + timedelta(hours=3))
    assert reopened is not None and reopened.sequence == 3
    assert [t.kind for t in reopened.transitions] == [
        TransitionKind.OPENED,
        TransitionKind.RESOLVED,
        TransitionKind.REOPENED,
    ]
    assert [t.sequence for t in reopened.pending] == [1, 2, 3]


def test_clear_without_an_alert_creates_nothing_and_a_new_message_refreshes_without_a_transition() -> None:
    assert apply_verdict(None, clear(), NOW) is None
    opened = apply_verdict(None, fire(), NOW)
    assert opened is not None
    refreshed = apply_verdict(opened, fire("down, 2 VMs"), NOW)
    assert refreshed is not None and refreshed.sequence == 1 and refreshed.message == "down, 2 VMs"


def test_any_firing_verdict_wins_for_an_identity() -> None:
    merged = merge_verdicts([clear(), fire(), clear()])
    assert len(merged) == 1 and next(iter(merged.values())).firing


def test_cloud_event_per_transition_has_a_stable_id_type_subject_and_full_data() -> None:
    opened = apply_verdict(None, fire(), NOW)
    assert opened is not None
    resolved = apply_verdict(opened, clear(), NOW + timedelta(hours=1))
    assert resolved is not None
    first = alert_event(resolved, resolved.transitions[0])
    again = alert_event(resolved, resolved.transitions[0])
    second = alert_event(resolved, resolved.transitions[1])
    assert first["id"] == again["id"] != second["id"]
    assert first["type"] == "PatchWatch.Alert.UnhealthyAfterMaintenance.Opened"
    assert second["type"] == "PatchWatch.Alert.UnhealthyAfterMaintenance.Resolved"
    assert first["source"] == EVENT_SOURCE and first["subject"] == VM and first["specversion"] == "1.0"
    data = first["data"]
    assert data["state"] == "open" and second["data"]["state"] == "resolved"
    assert data["resourceName"] == "vm1" and data["resourceGroup"] == "rg"
    assert data["resourceType"] == "Microsoft.Compute/virtualMachines"
    assert data["cycleOrRun"] == "run-1" and data["severity"] == "critical" and data["message"] == "down"
    assert data["details"] == {"a": 1} and data["since"] == "2026-04-18T05:00:00Z"


def test_every_kind_has_its_own_opened_and_resolved_types() -> None:
    types = {event_type(k, t) for k in AlertKind for t in (TransitionKind.OPENED, TransitionKind.RESOLVED)}
    assert len(types) == 2 * len(AlertKind)
    assert event_type(AlertKind.MAINTENANCE_WINDOW_MISSED, TransitionKind.REOPENED) == (
        "PatchWatch.Alert.MaintenanceWindowMissed.Opened"
    )


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 3)), min_size=1, max_size=30))
def test_any_sequence_of_verdicts_gives_alternating_numbered_transitions(steps: list[tuple[bool, int]]) -> None:
    """However often each verdict repeats, an alert's transitions alternate open/resolved, are
    numbered without gaps, and its state follows the last verdict once it has fired."""
    alert = None
    ever_fired = False
    for i, (firing, repeats) in enumerate(steps):
        for _ in range(repeats):
            verdict = fire("down") if firing else clear()
            alert = apply_verdict(alert, verdict, NOW + timedelta(minutes=i)) or alert
        ever_fired = ever_fired or firing
    if not ever_fired:
        assert alert is None
        return
    assert alert is not None
    kinds = [t.kind for t in alert.transitions]
    assert [t.sequence for t in alert.transitions] == list(range(1, len(kinds) + 1))
    assert kinds[0] is TransitionKind.OPENED
    assert all((k is TransitionKind.RESOLVED) == (n % 2 == 1) for n, k in enumerate(kinds))
    assert alert.state is (AlertState.OPEN if steps[-1][0] else AlertState.RESOLVED)
    assert len({alert_event(alert, t)["id"] for t in alert.transitions}) == len(kinds)
