"""What the cycle timer must do at ``now``: start, re-assess, sweep the deadline, remediate.

Pure decisions over the recorded state of a cycle (:class:`CycleRecord`); the service
carries them out with conditional writes so that each happens exactly once however many
instances tick together, and whatever ticks were missed (a tick only ever compares
``now`` with what is recorded, so the first tick after downtime catches up).

Rounds: round 0 starts at the cycle's scheduled moment (Patch Tuesday + offset); a new
round starts every ``reassess_every`` days after the previous round *started* (so a
catch-up does not trigger an immediate second round); the first tick after the install
deadline starts a *deadline round* whose results settle ``deadline-missed`` — also when
the deadline falls after the next month's release (30 days can outlast a 28-day month).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.calendar import Cycle, CycleKind


class Step(enum.StrEnum):
    START = "start"
    REASSESS = "reassess"
    DEADLINE = "deadline"
    REMEDIATE = "remediate"


@dataclass(frozen=True)
class CycleRecord:
    """What the store says about a cycle (None fields: not yet)."""

    cycle_id: str
    round: int = -1  # the latest round started; -1: none
    round_started_utc: datetime | None = None
    deadline_round: int = -1  # the round started for the deadline sweep; -1: none
    roster_size: int = 0

    @property
    def started(self) -> bool:
        return self.round >= 0


def due(
    cycle: Cycle,
    record: CycleRecord | None,
    now: datetime,
    *,
    reassess_every: timedelta,
    remediate: bool = False,
) -> Step | None:
    """The next step the timer should take for ``cycle`` now (the loop takes the next one).

    A cycle that has ended (the next month's release is out) is still swept for its
    deadline, which can fall after that release, and remediated; it starts no new round.
    """
    if now < min(cycle.scheduled_utc, cycle.release_utc):
        return None
    ended = now >= cycle.ends_utc
    if record is None or not record.started:
        return Step.START if now >= cycle.scheduled_utc and not ended else None
    if now >= cycle.install_deadline_utc and record.deadline_round < 0:
        return Step.DEADLINE
    started = record.round_started_utc
    if not ended and started is not None and now >= started + reassess_every:
        return Step.REASSESS
    if remediate and record.deadline_round >= 0:
        return Step.REMEDIATE
    return None


# -- remediation (optional, after the deadline) --------------------------------------------


@dataclass(frozen=True)
class InstallPlan:
    """``installPatches`` parameters for a cycle: Critical and Security only."""

    classifications: tuple[str, ...]
    reboot_setting: str  # Never | IfRequired
    exclude_kbs_requiring_reboot: bool
    maximum_duration: str  # ISO 8601, e.g. PT3H

    def to_json(self) -> dict[str, object]:
        return {
            "classifications": list(self.classifications),
            "reboot_setting": self.reboot_setting,
            "exclude_kbs_requiring_reboot": self.exclude_kbs_requiring_reboot,
            "maximum_duration": self.maximum_duration,
        }


def install_plan(cycle: Cycle, maximum_duration: str, *, hotpatch_vm: bool = True) -> InstallPlan:
    """Reboot ``Never`` (reboot-requiring KBs excluded) in a hotpatch month for hotpatch VMs;
    ``IfRequired`` in baseline months and for VMs that are not hotpatch-enrolled."""
    if cycle.kind is CycleKind.HOTPATCH and hotpatch_vm:
        return InstallPlan(("Critical", "Security"), "Never", True, maximum_duration)
    return InstallPlan(("Critical", "Security"), "IfRequired", False, maximum_duration)


@dataclass(frozen=True)
class RemediationBudget:
    """AWS-style MaxConcurrency / MaxErrors over the cycle's installations."""

    max_concurrency: int
    max_errors: int

    def slots(self, in_flight: int, failed: int) -> int:
        """How many new installations may start now (0 once the error budget is spent)."""
        if failed >= self.max_errors and self.max_errors >= 0:
            return 0
        return max(0, self.max_concurrency - in_flight)


_DURATION_PARTS = ("H", "M", "S")


def parse_iso_duration(text: str) -> timedelta:
    """``PT3H``, ``PT1H30M``, ``PT90M``: the subset ``installPatches`` accepts."""
    t = (text or "").strip().upper()
    if not t.startswith("PT") or len(t) < 4:
        raise ValueError(f"expected an ISO 8601 duration such as PT3H or PT1H30M, got {text!r}")
    total, number = 0.0, ""
    units = {"H": 3600, "M": 60, "S": 1}
    for ch in t[2:]:
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units and number:
            total += float(number) * units[ch]
            number = ""
        else:
            raise ValueError(f"expected an ISO 8601 duration such as PT3H or PT1H30M, got {text!r}")
    if number or total <= 0:
        raise ValueError(f"expected an ISO 8601 duration such as PT3H or PT1H30M, got {text!r}")
    return timedelta(seconds=total)
