"""``windows``: concrete maintenance windows of a configuration, in local time and UTC."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from shared.commands import print_json, print_table
from shared.domain.schedule import MaintenanceSchedule, ScheduleError
from shared.domain.sql_catalog import catalog_schedule


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def _length(seconds: float) -> str:
    hours, minutes = divmod(int(seconds) // 60, 60)
    return f"{hours}h{minutes:02d}" if minutes else f"{hours}h"


def register(sub: Any) -> None:
    p = sub.add_parser("windows", help="expand a maintenance configuration into concrete windows")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="a SQL configuration name: SQL_Default or SQL_{Region}_DB_1/_DB_2/_MI_1/_MI_2")
    src.add_argument("--recur", help="an Update Manager recurEvery expression, e.g. 'Month Second Tuesday Offset4'")
    p.add_argument("--region", help="the resource's region, for SQL_Default")
    p.add_argument("--start", help='with --recur: startDateTime, "YYYY-MM-DD HH:MM" local')
    p.add_argument("--duration", help="with --recur: HH:MM")
    p.add_argument("--time-zone", help='with --recur: Windows zone name, e.g. "Pacific Standard Time"')
    p.add_argument("--expiration", help='with --recur: expirationDateTime, "YYYY-MM-DD HH:MM" local')
    p.add_argument("--from", dest="from_day", required=True, type=_day, help="first local day, YYYY-MM-DD")
    p.add_argument("--to", dest="to_day", required=True, type=_day, help="end local day (exclusive), YYYY-MM-DD")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.to_day < args.from_day:
        raise ValueError(f"--to {args.to_day} is before --from {args.from_day}")
    if args.config:
        schedule = catalog_schedule(args.config, args.region)
    else:
        missing = [f"--{n.replace('_', '-')}" for n in ("start", "duration", "time_zone") if not getattr(args, n)]
        if missing:
            raise ScheduleError(f"--recur needs {', '.join(missing)}")
        schedule = MaintenanceSchedule.from_config(
            args.recur, args.start, args.duration, args.time_zone, args.expiration
        )
    windows = schedule.windows_local(args.from_day, args.to_day)
    if args.json:
        print_json([w.to_json() for w in windows])
        return 0
    rows = [
        (
            w.start_local.strftime("%a %Y-%m-%d %H:%M %Z"),
            w.end_local.strftime("%a %Y-%m-%d %H:%M %Z"),
            w.start_utc.strftime("%Y-%m-%d %H:%M"),
            w.end_utc.strftime("%Y-%m-%d %H:%M"),
            _length(w.duration.total_seconds()),
        )
        for w in windows
    ]
    print(f"{len(windows)} window(s) in {schedule.zone.key}")
    print_table(("start (local)", "end (local)", "start (UTC)", "end (UTC)", "length"), rows)
    return 0
