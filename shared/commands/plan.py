"""``plan``: the month's Patch Tuesday cycle."""

from __future__ import annotations

import argparse
from typing import Any

from shared.commands import print_json
from shared.config import load_settings
from shared.domain.calendar import YearMonth, cycle_for_month


def _month(text: str) -> YearMonth:
    try:
        return YearMonth.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help="when the month's release lands, its kind and deadline")
    p.add_argument("--month", required=True, type=_month, help="YYYY-MM")
    p.add_argument("--baseline-months", help="comma-separated months with a planned baseline (BASELINE_MONTHS)")
    p.add_argument(
        "--unplanned-baseline", help="comma-separated YYYY-MM unplanned baselines (UNPLANNED_BASELINE_MONTHS)"
    )
    p.add_argument("--offset-days", help="days after Patch Tuesday to schedule, -30..30 (PATCH_OFFSET_DAYS)")
    p.add_argument(
        "--fleet",
        action="store_true",
        help="also list the VMs the cycle would assess (TARGET_* settings, Azure credentials) and what it "
        "expects of each; read-only",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    overrides = {
        k: v
        for k, v in {
            "BASELINE_MONTHS": args.baseline_months,
            "UNPLANNED_BASELINE_MONTHS": args.unplanned_baseline,
            "PATCH_OFFSET_DAYS": args.offset_days,
        }.items()
        if v is not None
    }
    cfg = load_settings(**overrides)
    cycle = cycle_for_month(args.month, cfg.calendar)
    if getattr(args, "fleet", False):
        from shared.commands._fleet import show_fleet

        return show_fleet(cycle, cfg, as_json=args.json)
    data = cycle.to_json()
    if args.json:
        print_json(data)
        return 0
    kind = {
        "hotpatch": "hotpatch month (no reboot expected)",
        "planned-baseline": "planned baseline month (reboot expected)",
        "unplanned-baseline": "unplanned baseline month (reboot expected)",
    }[cycle.kind.value]
    print(f"Cycle {data['month']}: {kind}")
    print(f"  Patch Tuesday        {data['patch_tuesday']}")
    print(f"  Release (UTC)        {data['release_utc']}  (10:00 America/Los_Angeles)")
    print(f"  Scheduled date       {data['scheduled_date']}")
    print(f"  Reboot expected      {'yes' if cycle.reboot_expected else 'no'}")
    print(f"  Install deadline     {data['install_deadline_utc']}")
    return 0
