"""The pre-maintenance gate: cancel a run when too many of its machines are unhealthy.

Conservative by design: only recorded evidence counts (a machine whose latest health
signal says ``Unavailable`` or ``Degraded``; no signal or ``Unknown`` is not evidence),
the share must be *more than* the threshold, there must be machines at all, and the
cancellation cut-off must still be ahead. The decision says why, either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.calendar import format_utc

UNHEALTHY_STATES = frozenset({"unavailable", "degraded"})


@dataclass(frozen=True)
class GateDecision:
    cancel: bool
    reason: str
    total: int
    unhealthy: tuple[str, ...]
    share: float
    threshold: float

    def to_json(self) -> dict[str, Any]:
        return {
            "cancel": self.cancel,
            "reason": self.reason,
            "total": self.total,
            "unhealthy": list(self.unhealthy),
            "share": round(self.share, 4),
            "threshold": self.threshold,
        }


def decide(
    vm_ids: Sequence[str],
    availability: Mapping[str, str | None],
    *,
    threshold: float,
    now: datetime,
    cutoff: datetime | None,
) -> GateDecision:
    """``availability`` maps a resource id (any case) to its latest recorded availability state."""
    by_key = {k.lower(): v for k, v in availability.items()}
    unhealthy = tuple(v for v in vm_ids if (by_key.get(v.lower()) or "").lower() in UNHEALTHY_STATES)
    total = len(vm_ids)
    share = len(unhealthy) / total if total else 0.0

    def decision(cancel: bool, reason: str) -> GateDecision:
        return GateDecision(cancel, reason, total, unhealthy, share, threshold)

    if cutoff is not None and now >= cutoff:
        return decision(False, f"not cancelled: the cancellation cut-off {format_utc(cutoff)} has passed")
    if total == 0:
        return decision(False, "not cancelled: the run has no machines in Resource Graph")
    summary = f"{len(unhealthy)} of {total} machines unavailable or degraded ({share:.0%})"
    if share > threshold:
        return decision(True, f"cancelled: {summary}, more than the allowed {threshold:.0%}")
    return decision(False, f"not cancelled: {summary}, not more than the allowed {threshold:.0%}")
