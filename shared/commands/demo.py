"""``demo`` (``make demo``): replay the bundled month of events into a local store, then
show what was recorded (maintenance runs, health, SQL maintenance notices, rejections),
the alerts a watchdog running every 15 minutes raised, and the compliance report.

Everything is loaded first (the bundled month, then the alerting world and its events), so
every table and the report count the same story. The store is the configured one
(``OUTCOMES_STORAGE`` / ``AzureWebJobsStorage``) when it answers; otherwise the demo starts
an Azurite of its own that keeps its data in ``--data`` (``.azurite/``, ignored by git), on
Azurite's standard ports when they are free, so that ``npm run azurite`` serves the same
data afterwards. The tables carry their own prefix (``{OUTCOMES_TABLE_PREFIX}demo``) so
sample data never mixes with real outcomes; the commands printed at the end set it.
Nothing calls Azure.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.commands import print_table
from shared.commands._alerting import EVENTS, WORLD, seed_world
from shared.commands.replay import door_policy, expand, instant_arg, print_results, replay_files
from shared.config import Settings, load_settings
from shared.domain.events import MaintenanceEvent
from shared.domain.outcomes import StoreUnavailableError

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "events"
DATA = ROOT / ".azurite"
DEMO_NOW = "2026-10-31T12:00:00Z"
SAMPLE_SUBSCRIPTIONS = (
    "6f1c9e2a-8d4b-4a7e-b3f2-9c0d5e7a1b48",  # operations: the maintenance configurations
    "b3e87d15-2c6f-49a0-8e1d-7f4a6c2b9d03",  # production VMs
    "d9a2f460-5b7e-4c13-a8f9-1e3b6d0c7a52",  # data: Azure SQL
)


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="replay the bundled month of events into a local store and show the outcome")
    p.add_argument("paths", nargs="*", metavar="FILE", help=f"events to replay (default: {SAMPLES})")
    p.add_argument("--now", type=instant_arg, default=instant_arg(DEMO_NOW), help=f"receipt time (default {DEMO_NOW})")
    p.add_argument(
        "--data",
        type=Path,
        default=DATA,
        metavar="DIR",
        help="where the demo's own Azurite keeps its data when no storage answers (default: .azurite/)",
    )
    p.set_defaults(run=run)


def _configuration(resource_id: str) -> str:
    return resource_id.rsplit("/", 1)[-1]


def _hm(value: datetime | None) -> str:
    return value.strftime("%m-%d %H:%M") if value else "-"


@dataclass
class DemoStore:
    store: Any
    started: Any = None  # the Azurite the demo started, if it did
    data: Path | None = None


@contextlib.contextmanager
def demo_store(cfg: Settings, data: Path = DATA) -> Iterator[DemoStore]:
    """The configured store if it answers, else an Azurite of the demo's own keeping its
    data in ``data`` (on the standard ports when they are free)."""
    from shared.adapters.outcome_store import PROBE_CLIENT_OPTIONS, TableOutcomeStore, outcomes_target
    from shared.adapters.storage import resolve_target

    prefix = f"{cfg['OUTCOMES_TABLE_PREFIX']}demo"
    target = outcomes_target(cfg)
    try:
        TableOutcomeStore(target, prefix, dict(PROBE_CLIENT_OPTIONS)).ensure_tables()
        answers = True
    except StoreUnavailableError:
        answers = False
    if answers:
        print(f"Using the configured storage at {target.describe()} (tables {prefix}*)")
        yield DemoStore(TableOutcomeStore(target, prefix))
        return
    from shared.adapters.azurite import STANDARD_PORTS, ports_free, running_azurite

    ports = STANDARD_PORTS if ports_free(STANDARD_PORTS) else None
    where = "its standard ports" if ports else "free ports (the standard ones are taken)"
    print(f"No storage answers at {target.describe()}: starting Azurite on {where}, data in {_shown(data)} ...")
    with running_azurite(location=data, ports=ports) as az:
        print(f"Azurite is up (tables on port {az.table_port}); it stops when the demo ends, its data stays.")
        yield DemoStore(TableOutcomeStore(resolve_target(az.connection_string), prefix), az, data)


def _shown(path: Path) -> str:
    """A path as the user would type it from where they are (folders end in ``/``)."""
    try:
        shown = str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        shown = str(path)
    return f"{shown}/" if path.is_dir() or not path.suffix else shown


def show(store: Any, months: list[str], now: datetime) -> None:
    """Print what the store holds, the way an operator reads it."""
    print("\n== Maintenance runs ==")
    for month in months:
        runs = store.list_runs(month)
        print(f"{month}: {len(runs)} run(s)")
        print_table(
            ("start (UTC)", "configuration", "status", "pre", "post", "window (UTC)", "subscriptions"),
            [
                (
                    r.run_start.strftime("%Y-%m-%d %H:%M"),
                    r.configuration_name,
                    r.status.value
                    + (f" ({r.status_raw})" if r.status_raw and r.status_raw.lower() != r.status.value else ""),
                    "yes" if r.pre_seen else "NO",
                    "yes" if r.post_seen else "NO",
                    f"{_hm(r.window_start)} - {_hm(r.window_end)}",
                    len(r.subscriptions),
                )
                for r in runs
            ],
        )

    print("\n== Resource health ==")
    for res in store.list_resource_health():
        state = res.availability.value if res.availability else "unknown"
        print(f"{res.resource_id.rsplit('/', 1)[-1]}: {state} since {_hm(res.since)}   ({res.resource_id})")
        for change in reversed(res.history):
            if change.availability is not None:
                before = change.previous.value if change.previous else "?"
                what = f"{before} -> {change.availability.value}"
            else:
                what = "annotation"
            detail = f"  [{change.detail}]" if change.detail else ""
            print(f"    {_hm(change.occurred)}  {change.source.value:<12} {what}{detail}")

    print("\n== SQL maintenance notices (Service Health) ==")
    notices = store.list_notices()
    print_table(
        ("tracking id", "service", "regions", "status", "impact (UTC)", "stages as sent"),
        [
            (
                n.tracking_id,
                ", ".join(n.services),
                ", ".join(n.regions),
                n.status.value,
                f"{_hm(n.impact_start)} - {_hm(n.impact_mitigation)}",
                " > ".join(s.value for s, _ in n.stages),
            )
            for n in notices
        ],
    )

    print("\n== Rejected (recorded, acknowledged, never retried) ==")
    rejections = sorted(store.list_rejections(now.strftime("%Y-%m")), key=lambda r: r.source)
    print_table(("source", "reason"), [(r.source, r.reason) for r in rejections])


def explore(demo: DemoStore, cfg: Settings, now: datetime, month: str) -> None:
    """What to run next against what the demo stored (every line is runnable as printed)."""
    prefix = demo.store.prefix
    at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    print("\n== Explore what the demo stored ==")
    lines = []
    if demo.started is not None:
        standard = (demo.started.blob_port, demo.started.queue_port, demo.started.table_port) == (10000, 10001, 10002)
        if standard and demo.data == DATA:
            lines.append("npm run azurite &   # serves .azurite/ on the standard ports")
        elif standard:
            lines.append(
                "node_modules/.bin/azurite --silent --skipApiVersionCheck --disableTelemetry "
                f"--location {_shown(demo.data or DATA)} &"
            )
        else:
            lines.append(
                f"node_modules/.bin/azurite --silent --location {_shown(demo.data or DATA)} --tablePort "
                f"{demo.started.table_port} --queuePort {demo.started.queue_port} "
                f"--blobPort {demo.started.blob_port} &"
            )
            lines.append(f"export AzureWebJobsStorage='{demo.started.connection_string}'")
    lines += [
        f"export OUTCOMES_TABLE_PREFIX={prefix}",
        f".venv/bin/python -m shared.cli report --cycle {month} --now {at} --html out/report-{month}.html",
        f".venv/bin/python -m shared.cli cycle --month {month}",
        f".venv/bin/python -m shared.cli replay samples/events/12-sqlhosts-post-failed.cloudevent.json --now {at}",
    ]
    for line in lines:
        print(f"  {line}")


def load_alerting_world(cfg: Settings, store: Any, now: datetime) -> int:
    """The demo's world (schedules, cycle results) and its extra events, loaded before anything
    is shown so that one demo run tells one story. Returns how many extra events were recorded."""
    from shared.services.ingest import IngestPolicy

    seed_world(store)
    extra = replay_files(expand([str(EVENTS)]), store=store, policy=IngestPolicy.from_settings(cfg), now=now)
    return sum(r.recorded for r in extra.results)


def run(args: argparse.Namespace) -> int:
    from shared.commands._alerting import demo_alerts
    from shared.commands.report import demo_report
    from shared.services.ingest import IngestPolicy

    files = expand(args.paths or [os.path.relpath(SAMPLES)])
    env = dict(os.environ)
    if not env.get("ALLOWED_SUBSCRIPTION_IDS", "").strip():
        env["ALLOWED_SUBSCRIPTION_IDS"] = ",".join(SAMPLE_SUBSCRIPTIONS)
    cfg = load_settings(env)
    with demo_store(cfg, args.data) as demo:
        store = demo.store
        policy = door_policy(IngestPolicy.from_settings(cfg), "auto")  # as `replay` takes saved files
        replay = replay_files(files, store=store, policy=policy, now=args.now)
        extra = load_alerting_world(cfg, store, args.now)
        print(
            f"\nLoaded the month as of {args.now.isoformat()}: {len(files)} files ({len(replay.results)} events) "
            f"from {_shown(SAMPLES)}, then the alerting world ({_shown(WORLD)}: schedules and the patch cycle's "
            f"results) and {extra} more events from {_shown(EVENTS)}.\n"
        )
        print_results(replay)
        months = sorted({r.event.month for r in replay.results if isinstance(r.event, MaintenanceEvent)})
        show(store, months, args.now)
        demo_alerts(cfg, store, args.now)
        if replay.actions:
            print("\n== Follow-up actions (listed, not executed) ==")
            print_table(
                ("action", "run"),
                [
                    (a["action"], f"{_configuration(a['configuration_id'])} @ {a['window_start']}")
                    for a in replay.actions
                ],
            )
        path = demo_report(store, cfg, args.now)
        explore(demo, cfg, args.now, path.stem.removeprefix("report-"))
    return 0
