"""Rules over Update Manager maintenance runs (one correlation id each): a run that failed,
was cancelled by someone else or ended with an unknown status, overran its window, started
outside it, or a watched window that passed with no run at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from ..calendar import format_utc
from ..events import MaintenanceResult
from ..schedule import MaintenanceSchedule
from .facts import AlertPolicy, RunFacts, WatchedConfiguration, _local, _name, _utc, _window_containing
from .model import AlertKey, AlertKind, Verdict, _norm


def runs_failed(runs: Iterable[RunFacts], now: datetime) -> list[Verdict]:
    """``patch-failed`` per run: a post-maintenance event whose status means failure
    (``Failed``; see :data:`shared.domain.events.RUN_RESULTS`). Success, a cancellation, a
    run not finished and an unknown status all clear it (the last two have their own kinds)."""
    out: list[Verdict] = []
    for run in runs:
        _, post = run.seen_at(now)
        result = run.result(now)
        if post is None or result is None:
            continue
        key = AlertKey(AlertKind.PATCH_FAILED, run.configuration_id, run.run_id)
        status = run.post_status or ""
        if result is not MaintenanceResult.FAILED:
            out.append(
                Verdict(
                    key,
                    False,
                    f"maintenance run {_name(run.run_id)} of {_name(run.configuration_id)} ended with status "
                    f"{status!r} ({result.value}), not a failure",
                )
            )
        else:
            out.append(
                Verdict(
                    key,
                    True,
                    f"maintenance run {_name(run.run_id)} of {_name(run.configuration_id)} "
                    f"ended with status {status or '(none)'!r} at {_utc(post)}",
                    post,
                    {"status": status, "run_id": run.run_id, "post_at": _utc(post)},
                )
            )
    return out


def maintenance_run_outcome(runs: Iterable[RunFacts], now: datetime) -> list[Verdict]:
    """What a post event says beyond success or failure, per run: a cancellation this app's
    gate did not make (``maintenance-cancelled``: someone else cancelled the run, so its
    machines were not patched), or a status no published source lists
    (``maintenance-outcome-unknown``, the raw value quoted). Both warnings; a later fact
    (the gate's record, another status) clears them."""
    out: list[Verdict] = []
    for run in runs:
        result = run.result(now)
        if result is None:
            continue
        name, cfg, status = _name(run.run_id), _name(run.configuration_id), run.post_status or ""
        cancelled = AlertKey(AlertKind.MAINTENANCE_CANCELLED, run.configuration_id, run.run_id)
        unknown = AlertKey(AlertKind.MAINTENANCE_OUTCOME_UNKNOWN, run.configuration_id, run.run_id)
        if result is MaintenanceResult.CANCELLED and not run.gate_cancelled:
            out.append(
                Verdict(
                    cancelled,
                    True,
                    f"maintenance run {name} of {cfg} was cancelled (status {status!r}) and not by this app's "
                    "gate: its machines were not patched in this window",
                    run.post_at,
                    {"status": status, "run_id": run.run_id},
                )
            )
        else:
            why = "cancelled by this app's gate" if run.gate_cancelled else f"ended with status {status!r}"
            out.append(Verdict(cancelled, False, f"maintenance run {name} {why}"))
        if result is MaintenanceResult.UNKNOWN:
            out.append(
                Verdict(
                    unknown,
                    True,
                    f"maintenance run {name} of {cfg} ended with status {status!r}, a value no published source "
                    "lists: its outcome is unknown (check the run in Update Manager's history)",
                    run.post_at,
                    {"status": status, "run_id": run.run_id},
                )
            )
        else:
            out.append(Verdict(unknown, False, f"maintenance run {name} ended with status {status!r}"))
    return out


def runs_overran(runs: Iterable[RunFacts], policy: AlertPolicy, now: datetime) -> list[Verdict]:
    """``maintenance-overran`` per run: a pre event and no post event by the window's end
    plus the grace (not a run this app's gate cancelled, nor one whose scope matched no
    machine)."""
    out: list[Verdict] = []
    grace = policy.maintenance_grace
    for run in runs:
        pre, post = run.seen_at(now)
        if pre is None or run.end_utc is None:
            continue
        key = AlertKey(AlertKind.MAINTENANCE_OVERRAN, run.configuration_id, run.run_id)
        due = run.end_utc + grace
        if post is not None:
            out.append(Verdict(key, False, f"maintenance run {_name(run.run_id)} reported back at {_utc(post)}"))
        elif run.gate_cancelled:
            out.append(Verdict(key, False, f"maintenance run {_name(run.run_id)} was cancelled by this app's gate"))
        elif run.empty_scope:
            out.append(Verdict(key, False, f"maintenance run {_name(run.run_id)} had no machine in scope"))
        elif now >= due:
            out.append(
                Verdict(
                    key,
                    True,
                    f"maintenance run {_name(run.run_id)} of {_name(run.configuration_id)} started "
                    f"{_utc(run.start_utc)}, window ended {_utc(run.end_utc)}, and no post-maintenance event "
                    f"arrived by {_utc(due)} ({int(grace.total_seconds() // 60)} min grace)",
                    due,
                    {"run_id": run.run_id, "window_end": _utc(run.end_utc), "due": _utc(due)},
                )
            )
    return out


def runs_outside_window(
    runs: Iterable[RunFacts],
    configurations: Mapping[str, MaintenanceSchedule],
    policy: AlertPolicy,
    now: datetime,
) -> list[Verdict]:
    """``maintenance-outside-window`` per run: an Update Manager run that starts outside
    every window of its configuration (judged in the configuration's local time). Runs whose
    configuration is unknown are not judged."""
    out: list[Verdict] = []
    tol = policy.window_tolerance
    for run in runs:
        pre, post = run.seen_at(now)
        schedule = configurations.get(_norm(run.configuration_id))
        if schedule is None or run.start_utc is None or (pre is None and post is None):
            continue
        key = AlertKey(AlertKind.MAINTENANCE_OUTSIDE_WINDOW, run.configuration_id, run.run_id)
        w = _window_containing(schedule, run.start_utc, tol)
        if w is not None:
            out.append(Verdict(key, False, f"maintenance run {_name(run.run_id)} started inside its window"))
        else:
            out.append(
                Verdict(
                    key,
                    True,
                    f"maintenance run {_name(run.run_id)} started {_local(run.start_utc, schedule.zone)} "
                    f"({_utc(run.start_utc)}), outside any window of {_name(run.configuration_id)} "
                    f"({schedule.recurrence.text} at {schedule.start_local:%H:%M} for "
                    f"{_hm(schedule.duration)}, {schedule.zone.key})",
                    run.start_utc,
                    {"run_id": run.run_id, "started": _utc(run.start_utc), "time_zone": schedule.zone.key},
                )
            )
    return out


def _hm(d: timedelta) -> str:
    minutes = int(d.total_seconds() // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def maintenance_window_missed(
    watched: Iterable[WatchedConfiguration], runs: Sequence[RunFacts], policy: AlertPolicy, now: datetime
) -> list[Verdict]:
    """A watched configuration's window ended (plus the grace) with no event for it.
    Only configurations with an event subscription to this app are watched, and only
    their windows since they are watched."""
    out: list[Verdict] = []
    tol = policy.window_tolerance
    for cfg in watched:
        mine = [r for r in runs if _norm(r.configuration_id) == _norm(cfg.configuration_id)]
        lo = max(now - policy.lookback, cfg.watched_since)
        for w in cfg.schedule.windows_between(lo - cfg.schedule.duration - timedelta(days=1), now):
            if w.start_utc < cfg.watched_since:
                continue
            due = w.end_utc + policy.maintenance_grace
            key = AlertKey(AlertKind.MAINTENANCE_WINDOW_MISSED, cfg.configuration_id, format_utc(w.start_utc))
            hit = None
            for r in mine:
                pre, post = r.seen_at(now)
                if pre is None and post is None:
                    continue
                if r.start_utc is not None:
                    if w.start_utc - tol <= r.start_utc < w.end_utc:
                        hit = r
                        break
                elif any(t is not None and w.start_utc - timedelta(hours=2) <= t < due for t in (pre, post)):
                    hit = r
                    break
            if hit is not None:
                out.append(Verdict(key, False, f"window {_utc(w.start_utc)} had run {_name(hit.run_id)}"))
            elif now >= due and w.end_utc >= lo:
                out.append(
                    Verdict(
                        key,
                        True,
                        f"no maintenance event for the window of {_name(cfg.configuration_id)} from "
                        f"{_local(w.start_utc, w.zone)} to {_local(w.end_utc, w.zone)} "
                        f"({_utc(w.start_utc)} - {_utc(w.end_utc)}): the run did not happen or was not reported",
                        due,
                        {"window_start": _utc(w.start_utc), "window_end": _utc(w.end_utc), "time_zone": w.zone.key},
                    )
                )
    return out
