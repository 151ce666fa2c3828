"""``replay``: record saved events into the outcome store, through the same service code
the functions call.

Each FILE holds what Event Grid or an action group would post: one event object or an
array (a directory stands for the ``*.json`` files in it, in name order). The store is
the one the functions use (``OUTCOMES_STORAGE``, else ``AzureWebJobsStorage``; by
default the local Azurite). Nothing calls Azure unless ``--live`` is given: the
follow-up actions the events call for are listed.

With ``--json`` the last line of stdout is one object::

    {"accepted": int, "duplicates": int, "rejected": [{"source": "FILE#INDEX", "reason": str}],
     "alerts": [], "actions": [...]}

Which door a file goes through (``--door``): ``auto`` (the default) takes each envelope
by the door it belongs to (a common alert schema alert: ``POST /api/alerts``; anything
else: the Event Grid functions), and a body that is not JSON is reported as refused but
not recorded, because an Event Grid delivery that is not JSON never reaches a function
(the Functions extension answers 500). ``alerts`` replays every file as the webhook
takes it (common alert schema only, at most ``MAX_EVENTS_PER_BODY`` per body, a body
that is not JSON recorded as a refusal); ``eventgrid`` as the Event Grid functions do.

Exit 0 when every event was processed (rejected ones included); 2 for usage errors;
3 when the outcome store cannot be reached (found out with a single quick probe), also
when it is lost while the watchdog evaluates at ``--now``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.commands import print_json, print_table, progress
from shared.config import Settings, load_settings
from shared.domain.events import (
    DomainEvent,
    HealthEvent,
    MaintenanceEvent,
    ResourceHealthAlert,
    SqlMaintenanceNotice,
    format_instant,
)
from shared.services.ingest import EventStore, IngestPolicy, IngestResult, Outcome, ingest_payload

Executor = Callable[[dict[str, Any], Settings], str]
EXECUTORS: dict[str, Executor] = {}
"""Follow-up executors by action name, for ``--live`` (the patch-cycle work registers
``verify-run`` and ``gate-run``); each returns a line saying what it did."""


def instant_arg(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 instant such as 2026-10-31T12:00:00Z, got {text!r}"
        ) from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="record saved events (as Event Grid or an action group posts them) into the outcome store",
        description=(__doc__ or "").split("\n\n")[0],
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="a JSON file holding one event or an array; or a directory")
    p.add_argument(
        "--now", type=instant_arg, help="receipt time to record, ISO 8601 (default: the clock; no offset = UTC)"
    )
    p.add_argument("--json", action="store_true", help="last line of stdout: one JSON object")
    p.add_argument("--live", action="store_true", help="also execute the follow-up actions against Azure")
    p.add_argument(
        "--door",
        choices=("auto", "alerts", "eventgrid"),
        default="auto",
        help="the door the files go through: auto (by each envelope's schema), alerts (POST /api/alerts), "
        "eventgrid (the Event Grid functions)",
    )
    p.set_defaults(run=run)


def door_policy(policy: IngestPolicy, door: str) -> IngestPolicy:
    """The ingest policy of a ``--door``."""
    from shared.domain.events import EVENT_GRID_DOOR, WEBHOOK_DOOR
    from shared.limits import MAX_EVENTS_PER_BODY

    if door == "alerts":
        return dataclasses.replace(policy, door=WEBHOOK_DOOR, max_events=MAX_EVENTS_PER_BODY, record_unparsable=True)
    if door == "eventgrid":
        return dataclasses.replace(policy, door=EVENT_GRID_DOOR, record_unparsable=False)
    return dataclasses.replace(policy, door=None, record_unparsable=False)


def expand(paths: Iterable[str]) -> list[Path]:
    """Files as given; a directory stands for its ``*.json`` files in name order."""
    out: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.json") if p.is_file())
            if not found:
                raise ValueError(f"{text}: the directory holds no .json file")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise ValueError(f"{text}: no such file")
    return out


@dataclass(frozen=True)
class Replay:
    results: list[IngestResult]

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome is outcome for r in self.results)

    @property
    def actions(self) -> list[dict[str, Any]]:
        """Follow-ups, once each (by key), in the order they first came up."""
        seen: dict[str, dict[str, Any]] = {}
        for r in self.results:
            for a in r.actions:
                seen.setdefault(a["key"], a)
        return list(seen.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.count(Outcome.ACCEPTED),
            "duplicates": self.count(Outcome.DUPLICATE),
            "rejected": [
                {"source": r.source, "reason": r.reason} for r in self.results if r.outcome is Outcome.REJECTED
            ],
            "alerts": [],
            "actions": self.actions,
        }


def replay_files(files: Sequence[Path], *, store: EventStore, policy: IngestPolicy, now: datetime) -> Replay:
    """Record every event of every file, in order. Raises StoreUnavailableError."""
    results: list[IngestResult] = []
    for path in progress(files, "replaying files", every=10):
        results.extend(ingest_payload(path.read_bytes(), source=str(path), store=store, policy=policy, now=now))
    return Replay(results)


def describe(event: DomainEvent | None) -> str:
    """One line saying what an event is about."""
    if isinstance(event, MaintenanceEvent):
        status = f" {event.status_raw}" if event.status_raw else ""
        return (
            f"{event.phase.value}-maintenance {event.configuration_name} run {format_instant(event.run_start)}{status}"
        )
    if isinstance(event, HealthEvent):
        name = event.resource_id.rsplit("/", 1)[-1]
        if event.availability:
            previous = event.previous_availability.value if event.previous_availability else "?"
            return f"health {name}: {previous} -> {event.availability.value} at {format_instant(event.occurred)}"
        return f"annotation {name}: {event.annotation_name} at {format_instant(event.occurred)}"
    if isinstance(event, ResourceHealthAlert):
        name = event.resource_id.rsplit("/", 1)[-1]
        return f"resource-health alert {name}: {event.availability.value} ({event.monitor_condition})"
    if isinstance(event, SqlMaintenanceNotice):
        return (
            f"notice {event.tracking_id} {event.stage.value}: {', '.join(event.services)} in {', '.join(event.regions)}"
        )
    return ""


def print_results(replay: Replay) -> None:
    rows = [
        (r.source, r.outcome.value, r.reason if r.outcome is Outcome.REJECTED else describe(r.event))
        for r in replay.results
    ]
    print_table(("event", "outcome", "what"), rows)
    print(
        f"\naccepted {replay.count(Outcome.ACCEPTED)}, duplicates {replay.count(Outcome.DUPLICATE)}, "
        f"rejected {replay.count(Outcome.REJECTED)}, subscription validations acknowledged {replay.count(Outcome.IGNORED)}"
    )


def _execute(actions: list[dict[str, Any]], cfg: Settings) -> list[str]:
    lines = []
    for action in actions:
        executor = EXECUTORS.get(action["action"])
        if executor is None:
            lines.append(f"{action['action']} {action.get('correlation_id', '')}: not executed (no executor installed)")
        else:
            lines.append(executor(action, cfg))
    return lines


def run(args: argparse.Namespace) -> int:
    from shared.adapters.outcome_store import PROBE_CLIENT_OPTIONS, outcome_store

    files = expand(args.files)
    cfg = load_settings()
    now = args.now or datetime.now(UTC)
    # StoreUnavailableError reaches the command line's one error path: exit 3 with a hint.
    outcome_store(cfg, PROBE_CLIENT_OPTIONS).ensure_tables()
    policy = door_policy(IngestPolicy.from_settings(cfg), getattr(args, "door", "auto"))
    replay = replay_files(files, store=outcome_store(cfg), policy=policy, now=now)
    executed = _execute(replay.actions, cfg) if args.live else []
    from shared.commands._alerting import print_alerts, replay_alerts  # the watchdog at --now (issue 5)

    alerts, unpublished = replay_alerts(cfg, outcome_store(cfg), now, live=args.live)
    if args.json:
        for line in executed:
            print(line, file=sys.stderr)
        print_json({**replay.to_json(), "alerts": alerts})
        return 0
    print_results(replay)
    print_alerts(alerts, unpublished, heading=f"(watchdog at {now:%Y-%m-%d %H:%M} UTC)")
    if replay.actions:
        print("\nFollow-up actions" + (":" if args.live else " (listed, not executed; --live executes them):"))
        for action in replay.actions:
            print(f"  {action['action']:<11} {action.get('correlation_id', '')}")
        for line in executed:
            print(f"  {line}")
    return 0
