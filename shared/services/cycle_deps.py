"""What a patch-cycle use case works with: its ports (:class:`Deps`), the operator's policy
(:class:`CyclePolicy`) and the queue message that carries one VM's step (:class:`Message`).

Apart from :mod:`shared.services.assessment` (which re-exports every name) so that the use
cases beside it (remediation, the timer, maintenance) need not import each other.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.calendar import CalendarPolicy, Cycle, YearMonth, cycle_for_month
from shared.domain.cycle_state import RemediationBudget
from shared.domain.fleet import HOTPATCH_UNSUPPORTED_CLOUDS, ResourceId, vm_key
from shared.limits import MAX_DEPTH
from shared.services.ports import ArmPort, FleetScope, QueuePort, StatePort, key

ASSESS, INSTALL = "assess", "install"
QUEUE_NAME = "assessments"
POISON_QUEUE_NAME = "assessments-poison"


def utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_key(resource_id: str) -> str:
    return key(vm_key(resource_id))


# -- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueuePolicy:
    """How the queue retries a VM: after transient failures, and while throttled."""

    attempts: int = 8
    backoff: float = 30.0
    backoff_max: float = 900.0
    min_poll_delay: float = 0.0
    max_deferrals: int = 500
    stale_after: timedelta = timedelta(hours=2)  # a VM this quiet is re-enqueued by the timer's sweep

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after:
            return min(self.backoff_max, max(retry_after, self.min_poll_delay))
        base = self.backoff * (2 ** max(0, attempt - 1))
        return min(self.backoff_max, base * random.uniform(0.75, 1.25))


@dataclass(frozen=True)
class CyclePolicy:
    """What the operator configured, for the cycle's services (see :meth:`from_settings`)."""

    calendar: CalendarPolicy = field(default_factory=CalendarPolicy)
    scope: FleetScope = field(default_factory=lambda: FleetScope(()))
    reassess_every: timedelta = timedelta(days=3)
    remediate: bool = False
    budget: RemediationBudget = field(default_factory=lambda: RemediationBudget(10, 5))
    max_duration: str = "PT3H"
    gate_share: float = 0.5
    gate_runs: bool = False
    queue: QueuePolicy = field(default_factory=QueuePolicy)
    lease: timedelta = timedelta(minutes=10)

    @classmethod
    def from_settings(cls, cfg: Any, **overrides: Any) -> CyclePolicy:
        from shared.domain.cycle_state import parse_iso_duration

        parse_iso_duration(cfg["REMEDIATION_MAX_DURATION"])  # fail early, naming the setting's value
        policy = cls(
            calendar=cfg.calendar,
            scope=FleetScope(
                tuple(sorted(cfg["TARGET_SUBSCRIPTION_IDS"])),
                tuple(cfg["TARGET_RESOURCE_GROUPS"]),
                cfg["TARGET_TAG"],
                cfg["HOTPATCH_IMAGES"],
                cfg["AZURE_CLOUD"] not in HOTPATCH_UNSUPPORTED_CLOUDS,
            ),
            reassess_every=timedelta(days=cfg["REASSESS_EVERY_DAYS"]),
            remediate=cfg["REMEDIATE_AFTER_DEADLINE"],
            budget=RemediationBudget(cfg["REMEDIATION_MAX_CONCURRENCY"], cfg["REMEDIATION_MAX_ERRORS"]),
            max_duration=cfg["REMEDIATION_MAX_DURATION"],
            gate_share=cfg["CANCEL_UNHEALTHY_SHARE"],
            gate_runs=cfg["CANCEL_UNHEALTHY_RUNS"],
        )
        return replace(policy, **overrides)

    def cycle(self, cycle_id: str) -> Cycle:
        return cycle_for_month(YearMonth.parse(cycle_id), self.calendar)


@dataclass
class Deps:
    """The ports a cycle use case works through."""

    store: StatePort
    arm: ArmPort
    queue: QueuePort
    policy: CyclePolicy
    #: The cached Update Manager assignments (static and dynamic scopes):
    #: ``scope_assignments() -> {machine id lower: [(configuration id, dynamic scope or "")]}``.
    placements: Any = None
    #: Machines' own latest assessments (Resource Graph): an AssessmentGraphPort, or None to
    #: assess every machine with assessPatches (ASSESSMENT_FROM_RESOURCE_GRAPH=false).
    assessment_graph: Any = None


# -- messages ------------------------------------------------------------------------------------


class MessageError(ValueError):
    """A queue message that cannot be used; the message names the field and the problem."""


@dataclass(frozen=True)
class Message:
    op: str  # assess | install
    scope: str  # the partition: a cycle id, or run-…
    cycle_id: str  # the cycle whose findings the result settles
    round: int
    vm: str  # resource id
    token: str = ""  # the poller's continuation token; empty: start
    attempt: int = 0
    deferrals: int = 0
    run_id: str = ""  # correlation id of the run being verified
    nonce: str = ""  # a poll message's identity; the row names the one it expects

    def to_json(self) -> dict[str, Any]:
        return {"v": 1, **asdict(self)}

    @classmethod
    def parse(cls, raw: bytes | str) -> Message:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MessageError(f"body: not JSON ({exc})") from None
        except RecursionError:
            raise MessageError(f"body: nested deeper than the {MAX_DEPTH}-level limit") from None
        if not isinstance(data, dict):
            raise MessageError(f"body: expected an object, got {type(data).__name__}")
        for name, kind in (("op", str), ("scope", str), ("cycle_id", str), ("round", int), ("vm", str)):
            if name not in data:
                raise MessageError(f"{name}: missing")
            if not isinstance(data[name], kind) or isinstance(data[name], bool):
                raise MessageError(f"{name}: expected {kind.__name__}, got {data[name]!r}")
        if data["op"] not in (ASSESS, INSTALL):
            raise MessageError(f"op: expected 'assess' or 'install', got {data['op']!r}")
        try:
            YearMonth.parse(data["cycle_id"])
            ResourceId.parse(data["vm"])
        except ValueError as exc:
            field_name = "cycle_id" if "month" in str(exc) or "YYYY" in str(exc) else "vm"
            raise MessageError(f"{field_name}: {exc}") from None
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
