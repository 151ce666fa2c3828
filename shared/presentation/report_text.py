"""The report as text, for a terminal: the cycle's dates, the summary counts with what each
means, alerts by kind, one line per resource group and what was refused. All times UTC."""

from __future__ import annotations

from collections.abc import Iterable

from shared.domain.report import ComplianceReport, GroupTimeline
from shared.presentation.style import fmt
from shared.presentation.text import print_table


def print_summary(report: ComplianceReport) -> None:
    c, s = report.cycle, report.summary
    print(f"Patch compliance {c.id} ({c.kind.value}). All times UTC.")
    print_table(
        ("", ""),
        [
            ("Patch Tuesday release", fmt(c.release_utc)),
            ("install deadline", fmt(c.install_deadline_utc)),
            ("next release", fmt(c.ends_utc)),
            ("as of", fmt(report.now)),
        ],
    )
    print()
    rows: list[tuple[str, object, str]] = []
    if s.vms is None:
        rows.append(("VMs in scope", "-", "the patch cycle's results were not read"))
    else:
        rows += [
            ("VMs in scope", s.vms, ""),
            ("assessed", s.assessed, "assessment succeeded this cycle"),
            ("compliant", s.compliant, "no Critical/Security patch nor reboot pending"),
            ("pending", s.pending, "Critical/Security patches still to install"),
            ("reboot pending", s.reboot_pending, "installed, not in effect until the VM restarts"),
            ("failed", s.failed, "assessment or installation failed"),
            ("not assessable", s.not_assessable, "deallocated or stopped"),
            ("not yet assessed", s.awaiting, "queued or running"),
        ]
    rows += [
        ("maintenance runs", sum(s.runs.values()), ", ".join(f"{n} {k}" for k, n in s.runs.items())),
        ("runs that overran", s.runs_overran, "post event after the window's end plus the grace, or none by then"),
        ("health dips", s.dips, f"on {s.resources_with_dips} resource(s)"),
        ("SQL maintenance notices", s.notices, ""),
    ]
    print_table(("what", "count", "meaning"), rows)
    print()
    if s.alerts_by_kind is None:
        print("Alerts: the alert store was not read.")
    elif not s.alerts_by_kind:
        print("Alerts: none in this cycle.")
    else:
        print_table(
            ("alert kind", "open", "resolved"), [(k, v["open"], v["resolved"]) for k, v in s.alerts_by_kind.items()]
        )
    if report.groups:
        print("\nResource groups (most in need of attention first):")
        for line in groups_text(report.groups):
            print(f"  {line}")
    for note in report.notes:
        print(f"note: {note}")
    if report.rejected:
        print(f"\nRefused during the cycle ({len(report.rejected)}, newest first):")
        for r in report.rejected[:20]:
            print(f"  {fmt(r.received_at)}  {r.source}: {r.reason}")


def groups_text(groups: Iterable[GroupTimeline]) -> list[str]:
    """One line per group, for the text output."""
    out = []
    for g in groups:
        dips = sum(len(lane.dips) for lane in g.lanes)
        out.append(
            f"{g.title}: {len(g.lanes)} resource(s), {len(g.runs)} run(s), {len(g.notices)} SQL notice(s), "
            f"{dips} health dip(s), {g.open_alerts} open alert(s)"
        )
    return out
