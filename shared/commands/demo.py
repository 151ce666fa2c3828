"""``demo`` (``make demo``): replay the bundled month of events into a local store and
show what was recorded: maintenance runs, health, SQL maintenance notices, rejections.

The store is the configured one (``OUTCOMES_STORAGE`` / ``AzureWebJobsStorage``) when
it answers; otherwise an Azurite is started in memory on free ports for the length of
the demo. Its tables carry their own prefix (``{OUTCOMES_TABLE_PREFIX}demo``) so sample
data never mixes with real outcomes. Nothing calls Azure.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.commands import print_table
from shared.commands.replay import door_policy, expand, instant_arg, print_results, replay_files
from shared.config import Settings, load_settings
from shared.domain.events import MaintenanceEvent
from shared.domain.outcomes import StoreUnavailableError

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "events"
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
    p.set_defaults(run=run)


def _configuration(resource_id: str) -> str:
    return resource_id.rsplit("/", 1)[-1]


def _hm(value: datetime | None) -> str:
    return value.strftime("%m-%d %H:%M") if value else "-"


@contextlib.contextmanager
def demo_store(cfg: Settings) -> Iterator[Any]:
    """The configured store if it answers, else a fresh in-memory Azurite."""
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
        yield TableOutcomeStore(target, prefix)
        return
    from shared.adapters.azurite import running_azurite

    print(f"No storage answers at {target.describe()}: starting Azurite in memory on free ports ...")
    with running_azurite(in_memory=True) as az:
        print(f"Azurite is up (tables on port {az.table_port}); it stops when the demo ends.")
        yield TableOutcomeStore(resolve_target(az.connection_string), prefix)


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


def run(args: argparse.Namespace) -> int:
    from shared.services.ingest import IngestPolicy

    files = expand(args.paths or [os.path.relpath(SAMPLES)])
    env = dict(os.environ)
    if not env.get("ALLOWED_SUBSCRIPTION_IDS", "").strip():
        env["ALLOWED_SUBSCRIPTION_IDS"] = ",".join(SAMPLE_SUBSCRIPTIONS)
    cfg = load_settings(env)
    with demo_store(cfg) as store:
        policy = door_policy(IngestPolicy.from_settings(cfg), "auto")  # as `replay` takes saved files
        replay = replay_files(files, store=store, policy=policy, now=args.now)
        print(f"\nReplayed {len(files)} files ({len(replay.results)} events), received as of {args.now.isoformat()}:\n")
        print_results(replay)
        months = sorted({r.event.month for r in replay.results if isinstance(r.event, MaintenanceEvent)})
        show(store, months, args.now)
        from shared.commands._alerting import demo_alerts  # issue 5: every alert kind, and its CloudEvents

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
        from shared.commands.report import demo_report

        demo_report(store, cfg, args.now)
    return 0
