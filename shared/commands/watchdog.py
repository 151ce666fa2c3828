"""``watchdog``: one watchdog pass now (or at ``--now``), as the timer runs it.

Incremental by default: the fact base brought up to date with what changed since the last
pass. ``--full`` reads every table whole instead (what ``WATCHDOG_FULL=true`` makes every
pass do): to compare, or to check the fact base after an incident. ``--offline`` consults
storage only (no Resource Manager, Log Analytics or alerts topic: nothing is published,
alerts stay pending for the timer's next pass).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from shared.commands import print_json, print_table


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (e.g. {text}Z): {text!r}")
    return value.astimezone(UTC)


def register(sub: Any) -> None:
    p = sub.add_parser("watchdog", help="one watchdog pass: evaluate every rule, record and publish alerts")
    p.add_argument("--full", action="store_true", help="read every table whole instead of what changed")
    p.add_argument("--offline", action="store_true", help="storage only: no ARM, Log Analytics or alerts topic")
    p.add_argument("--now", type=_instant, help="evaluate at this instant (default: now)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from shared.config import settings
    from shared.runtime.alerting import alert_policy, alerting_from_settings
    from shared.services.watchdog import run_watchdog

    cfg = settings()
    deps = alerting_from_settings(cfg, live=not args.offline)
    if args.full:
        deps = replace(deps, full=True)
    now = args.now or datetime.now(UTC)
    report = run_watchdog(deps, alert_policy(cfg), now=now)
    if args.json:
        print_json({"now": now.isoformat(), **report.to_json()})
        return 0
    facts = report.facts
    how = f"{facts.mode}" + (f" ({facts.reason})" if facts and facts.reason else "") if facts else "full"
    print(f"Watchdog at {now:%Y-%m-%d %H:%M} UTC: facts {how}, {facts.marks if facts else 0} changes read")
    print_table(
        ["Change", "Kind", "Resource", "Message"],
        [
            [name, a.key.kind.value, a.key.resource_id.rsplit("/", 1)[-1], a.message]
            for name, alerts in (
                ("opened", report.opened),
                ("resolved", report.resolved),
                ("reopened", report.reopened),
            )
            for a in alerts
        ],
    )
    print(f"published: {report.published}")
    for p in report.problems + report.publish_failures:
        print(f"problem: {p}")
    return 0
