"""``report``: the monthly compliance report of a patch cycle.

Reads the outcome store (maintenance runs, health, SQL notices), the patch cycle's
results and the alerts from the configured storage (``OUTCOMES_STORAGE``, else
``AzureWebJobsStorage``; tables prefixed ``OUTCOMES_TABLE_PREFIX``) and prints a summary
table: VMs assessed, compliant, pending, reboot pending, failed, not assessable; maintenance runs,
health dips, SQL notices; alerts by kind. ``--html FILE`` also writes a self-contained
page with a timeline per resource group. All times are UTC.

With ``--json`` the last line of stdout is one object (the report, and ``html``: the
file written or null). Exit 0 on success; 2 for usage errors; 3 when the storage
cannot be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.commands import print_json
from shared.commands.replay import instant_arg
from shared.config import Settings, load_settings
from shared.domain.calendar import YearMonth, cycle_at
from shared.domain.report import ComplianceReport
from shared.presentation.report_html import render_html
from shared.presentation.report_text import print_summary
from shared.runtime import load_report
from shared.runtime import report_from_store as build


def month_arg(text: str) -> YearMonth:
    try:
        return YearMonth.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="the compliance report of a cycle: a summary table; --html adds a timeline per resource group",
        description=(__doc__ or "").split("\n\n")[1],
    )
    p.add_argument("--cycle", required=True, type=month_arg, metavar="YYYY-MM", help="the cycle (its release month)")
    p.add_argument("--html", metavar="FILE", type=html_path, help="also write the report as a self-contained HTML page")
    p.add_argument("--json", action="store_true", help="last line of stdout: one JSON object")
    p.add_argument("--now", type=instant_arg, help="report as of this instant, ISO 8601 (default: the clock)")
    p.set_defaults(run=run)


def html_path(text: str) -> Path:
    """``--html FILE``: a file to write, not empty and not a directory (argparse reports the error)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file name for the HTML report, got an empty path")
    path = Path(text)
    if path.is_dir() or text.endswith(("/", os.sep)):
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file name, e.g. {path / 'report.html'}")
    return path


def write_html(report: ComplianceReport, path: str | Path) -> Path:
    """Render, then write atomically: a temporary file beside the target, renamed over it, so
    a failed render or write never leaves a partial or empty file over the previous report."""
    out = Path(path)
    page = render_html(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return out


OUT = Path(__file__).resolve().parents[2] / "out"


def demo_report(store: Any, cfg: Settings, now: datetime) -> Path:
    """``make demo``'s report: the cycle in force at ``now``, from the demo's own tables,
    written to ``out/report-YYYY-MM.html``."""
    month = cycle_at(now, cfg.calendar).month
    grace = timedelta(minutes=int(cfg["MAINTENANCE_GRACE_MINUTES"]))
    report = build(
        store.target, store.prefix, cfg.calendar, month, now, overrun_grace=grace, eligibility=cfg.sql_eligibility
    )
    path = write_html(report, OUT / f"report-{month}.html")
    print(f"\n== Compliance report {month} ==")
    print_summary(report)
    print(f"\nWrote {os.path.relpath(path)}: open {path.as_uri()} in a browser.")
    return path


def run(args: argparse.Namespace) -> int:
    cfg = load_settings()
    now = args.now or datetime.now(UTC)
    report = load_report(cfg, args.cycle, now)  # StoreUnavailableError: the CLI's error path (exit 3)
    try:
        written = write_html(report, args.html) if args.html else None
    except OSError as exc:
        print(f"error: cannot write the HTML report to {args.html}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if args.json:
        print_json({**report.to_json(), "html": str(written) if written else None})
        return 0
    print_summary(report)
    if written:
        print(f"\nWrote {written} (open it in a browser).")
    return 0
