"""The outcome model: states folded from facts, independent of delivery order; follow-ups."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.events import (
    Availability,
    DomainEvent,
    HealthEvent,
    MaintenanceEvent,
    NoticeStage,
    ResourceHealthAlert,
    SqlMaintenanceNotice,
    decode_event,
)
from shared.domain.outcomes import (
    HealthSource,
    RunStatus,
    fold_health,
    fold_notice,
    fold_run,
    fold_runs,
    follow_ups,
)
from tests.support.events import sample


def _decode(name: str, index: int = 0) -> DomainEvent:
    body = sample(name)
    event = decode_event(body[index] if isinstance(body, list) else body)
    assert not hasattr(event, "validation_code")
    return event  # type: ignore[return-value]


def _run(*names: str) -> list[MaintenanceEvent]:
    return [e for e in (_decode(n) for n in names) if isinstance(e, MaintenanceEvent)]


PRE, POST = "04-web-sat-pre.eventgrid.json", "07-web-sat-post.eventgrid.json"
NOTICE = [
    "14-sql-notice-R3KT-planned.alert.json",
    "17-sql-notice-R3KT-inprogress.alert.json",
    "16-sql-notice-R3KT-complete.alert.json",
]


def test_a_run_with_only_its_pre_event_is_scheduled() -> None:
    run = fold_run(_run(PRE))
    assert run.status is RunStatus.SCHEDULED
    assert (run.pre_seen, run.post_seen) == (True, False)
    assert run.cancellation_cutoff == datetime(2026, 10, 16, 23, 50, tzinfo=UTC)
    assert run.month == "2026-10"


def test_post_before_pre_gives_the_same_run_as_in_order() -> None:
    assert fold_run(_run(POST, PRE)) == fold_run(_run(PRE, POST))
    run = fold_run(_run(POST, PRE, POST))
    assert run.status is RunStatus.SUCCEEDED
    assert (run.pre_seen, run.post_seen) == (True, True)


def test_a_post_without_pre_is_recorded_with_its_window_and_shows_the_missing_pre() -> None:
    run = fold_run(_run("12-sqlhosts-post-failed.cloudevent.json"))
    assert run.status is RunStatus.FAILED
    assert run.status_raw == "Failed"
    assert run.pre_seen is False
    assert run.window_end == datetime(2026, 10, 18, 5, 55, tzinfo=UTC)


def test_runs_of_a_month_come_in_order_of_start() -> None:
    runs = fold_runs(_run("25-web-sat-pre-oct24.eventgrid.json", PRE, "01-hotpatch-pre.eventgrid.json", POST))
    assert [r.run_start.day for r in runs] == [14, 17, 24]


def test_a_notice_converges_whatever_the_order_of_its_stages() -> None:
    events = [e for e in (_decode(n) for n in NOTICE) if isinstance(e, SqlMaintenanceNotice)]
    in_order = fold_notice(events)
    assert fold_notice(list(reversed(events))) == in_order
    assert fold_notice([events[2], events[0], events[2], events[1]]) == in_order
    assert in_order.status is NoticeStage.COMPLETE
    assert [s for s, _ in in_order.stages] == [NoticeStage.PLANNED, NoticeStage.IN_PROGRESS, NoticeStage.COMPLETE]
    assert in_order.completed_at == datetime(2026, 10, 21, 3, 15, 42, 9127, tzinfo=UTC)
    assert in_order.final


def test_a_rescheduled_notice_takes_the_new_window() -> None:
    names = ["23-sql-notice-7LQ2-planned.alert.json", "26-sql-notice-7LQ2-rescheduled.alert.json"]
    notice = fold_notice([e for e in (_decode(n) for n in names) if isinstance(e, SqlMaintenanceNotice)])
    assert notice.status is NoticeStage.RESCHEDULED
    assert notice.impact_start == datetime(2026, 10, 28, 2, tzinfo=UTC)
    assert not notice.final


def test_health_is_the_latest_stated_availability_by_when_it_happened() -> None:
    up = _decode("05-health-web-01-recovered.eventgrid.json")
    down = _decode("06-health-web-01-rebooted.eventgrid.json", 0)
    note = _decode("06-health-web-01-rebooted.eventgrid.json", 1)
    assert isinstance(up, HealthEvent) and isinstance(down, HealthEvent) and isinstance(note, HealthEvent)
    health = fold_health([up, down, note])  # the recovery arrived first
    assert health.availability is Availability.AVAILABLE
    assert health.since == up.occurred
    assert [c.source for c in health.history] == [
        HealthSource.AVAILABILITY,
        HealthSource.AVAILABILITY,
        HealthSource.ANNOTATION,
    ]
    assert fold_health([note, down]).availability is Availability.UNAVAILABLE


def test_an_annotation_alone_states_no_availability() -> None:
    note = _decode("21-health-web-02-host-repair.eventgrid.json", 0)
    assert isinstance(note, HealthEvent)
    health = fold_health([note])
    assert health.availability is None
    assert health.latest is None
    assert "VirtualMachineHostRebootedForRepair" in (health.history[0].detail or "")


def test_resource_health_alerts_count_as_health_signals() -> None:
    alert = _decode("11-resourcehealth-sqlvm-02.alert.json")
    assert isinstance(alert, ResourceHealthAlert)
    health = fold_health([alert])
    assert health.availability is Availability.UNAVAILABLE
    assert health.history[0].source is HealthSource.ALERT


def test_a_post_event_asks_for_the_run_to_be_verified() -> None:
    post = _decode(POST)
    (action,) = follow_ups(post, now=datetime(2026, 10, 17, 2, tzinfo=UTC))
    assert action["action"] == "verify-run"
    assert action["status"] == "succeeded"
    assert action["correlation_id"].endswith("/applyupdates/20261017000000")
    assert action["key"] == "verify-run|" + action["correlation_id"].lower()


def test_a_pre_event_gates_the_run_only_when_asked_and_before_the_cutoff() -> None:
    pre = _decode(PRE)
    before = datetime(2026, 10, 16, 23, 30, tzinfo=UTC)
    after = datetime(2026, 10, 16, 23, 50, tzinfo=UTC)
    assert follow_ups(pre, now=before) == ()
    (gate,) = follow_ups(pre, now=before, gate_runs=True, unhealthy_share=0.3)
    assert gate["action"] == "gate-run"
    assert gate["cancel_before"] == "2026-10-16T23:50:00Z"
    assert gate["unhealthy_share"] == 0.3
    assert follow_ups(pre, now=after, gate_runs=True) == ()
    assert follow_ups(_decode("05-health-web-01-recovered.eventgrid.json"), now=before, gate_runs=True) == ()


_MONTH = [
    (PRE, 0),
    (POST, 0),
    ("24-web-sat-post-oct24.eventgrid.json", 0),
    ("25-web-sat-pre-oct24.eventgrid.json", 0),
    ("12-sqlhosts-post-failed.cloudevent.json", 0),
    ("05-health-web-01-recovered.eventgrid.json", 0),
    ("06-health-web-01-rebooted.eventgrid.json", 0),
    ("06-health-web-01-rebooted.eventgrid.json", 1),
    *[(n, 0) for n in NOTICE],
]


@given(st.permutations(range(len(_MONTH))), st.lists(st.integers(0, len(_MONTH) - 1), max_size=8))
def test_any_order_and_duplication_folds_to_the_in_order_state(order: list[int], repeats: list[int]) -> None:
    events = [_decode(*_MONTH[i]) for i in order + repeats]
    reference = [_decode(*m) for m in _MONTH]

    def state(evs: list[DomainEvent]) -> tuple:
        return (
            fold_runs([e for e in evs if isinstance(e, MaintenanceEvent)]),
            fold_health([e for e in evs if isinstance(e, HealthEvent)]),
            fold_notice([e for e in evs if isinstance(e, SqlMaintenanceNotice)]),
        )

    assert state(events) == state(reference)
