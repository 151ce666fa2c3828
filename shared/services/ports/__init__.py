"""The ports the patch-cycle services use, and the errors adapters raise through them.

Adapters translate SDK exceptions into these, so services decide what to do (record,
re-enqueue, give up) without importing an SDK:

- :class:`ThrottledError`: not now, come back after ``delay`` seconds (the pacer's or ARM's
  Retry-After). Not a failure: does not count as an attempt.
- :class:`TransientError`: failed in a way that may pass (5xx after the pipeline's own
  retries, dropped connections, "another operation is in progress" after tenacity's);
  retried later through the queue, a bounded number of times.
- :class:`PermanentError`: 400/403/404 and friends. Never retried; recorded with the reason.
- :class:`NotAssessableError`: the VM is deallocated or stopped; recorded and counted.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.domain.cycle_state import InstallPlan
from shared.domain.fleet import Vm
from shared.domain.hotpatch import Finding


class ArmError(Exception):
    """Base of the errors adapters raise through the ARM port."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class ThrottledError(ArmError):
    @property
    def delay(self) -> float:
        return self.retry_after or 1.0


class TransientError(ArmError):
    pass


class ConnectionDroppedError(TransientError):
    """The connection failed or was reset: the server may or may not have acted."""


class PermanentError(ArmError):
    pass


class NotAssessableError(ArmError):
    def __init__(self, power_state: str, reason: str = "") -> None:
        super().__init__(reason or f"not assessable: {power_state}")
        self.power_state = power_state


@dataclass(frozen=True)
class LroStep:
    """Where a long-running operation stands after one start or poll."""

    done: bool
    token: str = ""
    retry_after: float = 0.0
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FleetScope:
    subscriptions: tuple[str, ...]
    resource_groups: tuple[str, ...] = ()
    tag: str = ""  # "name" or "name=value"
    hotpatch_images: tuple[tuple[str, str, str], ...] = ()  # HOTPATCH_IMAGES; empty: the default list
    hotpatch_offered: bool = True  # False in a cloud without hotpatch (AZURE_CLOUD=AzureUSGovernment)


class ArmPort(Protocol):
    def discover(self, scope: FleetScope) -> list[Vm]: ...

    def run_vms(self, correlation_id: str, subscriptions: tuple[str, ...] = ()) -> list[str]: ...

    def start_assessment(self, vm_id: str) -> LroStep: ...

    def resume_assessment(self, vm_id: str, token: str) -> LroStep: ...

    def start_install(self, vm_id: str, plan: InstallPlan, os_type: str) -> LroStep: ...

    def resume_install(self, vm_id: str, token: str) -> LroStep: ...

    def power_state(self, vm_id: str) -> str: ...

    def last_installation(self, vm_id: str) -> dict[str, Any]:
        """The VM's ``lastPatchInstallationSummary`` as ARM shows it ({} when none)."""
        ...

    def latest_assessment(self, vm_id: str) -> dict[str, Any] | None:
        """The machine's latest assessment as ARM shows it outside the operation: an Azure VM's
        instance view ``patchStatus.availablePatchSummary`` (REST names; {} when it has none),
        None for a machine kind whose API shows none (an Arc-enabled server)."""
        ...

    def cancel_run(self, correlation_id: str) -> dict[str, Any]: ...

    def start_budget(self, subscription_id: str) -> tuple[float, float]:
        """ARM writes (start requests) available now for the subscription, and the refill per second."""
        ...


class QueuePort(Protocol):
    def send(self, body: dict[str, Any], delay_seconds: float = 0) -> str:
        """Enqueue; returns the message id."""
        ...


class ConflictError(Exception):
    """A conditional write lost: someone else changed (or created) the entity first."""


@dataclass(frozen=True)
class Row:
    """A stored entity and its ETag (for the next conditional write)."""

    data: dict[str, Any]
    etag: str

    def __getitem__(self, name: str) -> Any:
        return self.data[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def json(self, name: str) -> Any:
        value = self.data.get(name)
        return json.loads(value) if value else None


# -- the state port's keys: how a row is named, whichever store holds it ---------------------

_UNSAFE = re.compile(r"[/\\#?%\x00-\x1f\x7f-\x9f]")


def key(text: str) -> str:
    """A Table-safe key (``/ \\ # ? %`` and control characters escaped)."""
    out = _UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", text)
    if len(out) > 400:
        out = out[:367] + "~" + hashlib.sha256(text.encode()).hexdigest()[:32]
    return out


def run_scope(correlation_id: str) -> str:
    """The partition of a run's verification: short, stable, case-insensitive."""
    return "run-" + hashlib.sha256(correlation_id.strip().lower().encode()).hexdigest()[:24]


class StatePort(Protocol):
    """The cycle's state store (:class:`shared.adapters.cycle_store.CycleStore`)."""

    def get(self, kind: str, pk: str, rk: str) -> Row | None: ...

    def insert(self, kind: str, entity: dict[str, Any]) -> Row: ...

    def update(self, kind: str, row: Row, changes: Mapping[str, Any]) -> Row: ...

    def upsert(self, kind: str, entity: dict[str, Any]) -> None: ...

    def query(self, kind: str, filter_: str, parameters: dict[str, Any] | None = None) -> list[Row]: ...

    def batch_upsert(self, kind: str, entities: Iterable[dict[str, Any]]) -> int: ...

    def cycle(self, cycle_id: str) -> Row | None: ...

    def vm_rows(self, scope: str) -> list[Row]: ...

    def vm_row(self, scope: str, vm_key: str) -> Row | None: ...

    def put_findings(self, findings: Iterable[Finding]) -> int: ...

    def findings(self, cycle_id: str, *, state: str | None = None) -> list[Finding]: ...

    def findings_for(self, cycle_id: str, resource_id: str, kinds: Iterable[str]) -> list[Finding]: ...

    def reject(self, source: str, reason: str, raw: str, now: Any) -> None: ...
