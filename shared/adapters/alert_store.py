"""Alerts in Table Storage, exactly once.

One entity per alert identity (``PartitionKey`` = kind, ``RowKey`` = the identity's stable
id), created by a conditional insert, so two evaluators racing on one problem make one
alert. Every later change - resolve, reopen, a refreshed message, the publish state - is
an ETag-guarded replace: the loser of a race re-reads and re-decides, never overwrites.

Publishing state lives on the entity: ``Sequence`` (transitions so far), ``PublishedSequence``
(transitions delivered) and ``Pending`` (the two differ). A publisher *claims* a pending
alert with an ETag-guarded write (``ClaimedBy`` / ``ClaimedUntil``), publishes its
unpublished transitions, then marks them published. A concurrent watchdog loses the claim
and skips the alert; a publish failure releases the claim and leaves the alert pending for
the next run; a crash between sending and marking lets the claim expire and resends the
same CloudEvent ids, which a receiver deduplicates.

azure-data-tables is imported lazily.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.domain.alerts import (
    Alert,
    AlertKey,
    AlertKind,
    AlertState,
    Severity,
    Transition,
    TransitionKind,
    Verdict,
    apply_verdict,
)

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.adapters.storage import StorageTarget

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=5)
_MAX_RACE_RETRIES = 8


@dataclass(frozen=True)
class StoredAlert:
    """An alert as read, with the ETag to guard the next write and the current claim."""

    alert: Alert
    etag: str
    claimed_by: str = ""
    claimed_until: datetime | None = None

    def claimed(self, now: datetime) -> bool:
        return bool(self.claimed_by) and self.claimed_until is not None and self.claimed_until > now


def _dt(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value is not None else ""


def to_entity(alert: Alert, claimed_by: str = "", claimed_until: datetime | None = None) -> dict[str, Any]:
    key = alert.key
    return {
        "PartitionKey": key.kind.value,
        "RowKey": key.alert_id,
        "Kind": key.kind.value,
        "ResourceId": key.resource_id,
        "CycleOrRun": key.cycle_or_run,
        "State": alert.state.value,
        "Severity": alert.severity.value,
        "Message": alert.message[:8000],
        "Since": alert.since,
        "OpenedAt": alert.opened_at,
        "ChangedAt": alert.changed_at,
        "ResolvedAt": _iso(alert.resolved_at),
        "Sequence": alert.sequence,
        "PublishedSequence": alert.published_sequence,
        "Pending": alert.published_sequence < alert.sequence,
        "Transitions": json.dumps(
            [
                {
                    "seq": t.sequence,
                    "kind": t.kind.value,
                    "at": _iso(t.at),
                    "severity": t.severity.value,
                    "message": t.message,
                }
                for t in alert.transitions
            ]
        ),
        "Details": json.dumps(dict(alert.details), default=str)[:30000],
        "ClaimedBy": claimed_by,
        "ClaimedUntil": _iso(claimed_until),
    }


def from_entity(entity: Any) -> StoredAlert:
    transitions = tuple(
        Transition(
            int(t["seq"]),
            TransitionKind(t["kind"]),
            _dt(t["at"]) or datetime.min.replace(tzinfo=UTC),
            Severity(t["severity"]),
            t["message"],
        )
        for t in json.loads(entity.get("Transitions") or "[]")
    )
    key = AlertKey(AlertKind(entity["Kind"]), entity["ResourceId"], entity["CycleOrRun"])
    alert = Alert(
        key=key,
        state=AlertState(entity["State"]),
        severity=Severity(entity["Severity"]),
        message=entity.get("Message", ""),
        since=_dt(entity.get("Since")) or datetime.min.replace(tzinfo=UTC),
        opened_at=_dt(entity.get("OpenedAt")) or datetime.min.replace(tzinfo=UTC),
        changed_at=_dt(entity.get("ChangedAt")) or datetime.min.replace(tzinfo=UTC),
        resolved_at=_dt(entity.get("ResolvedAt")),
        transitions=transitions,
        published_sequence=int(entity.get("PublishedSequence", 0)),
        details=json.loads(entity.get("Details") or "{}"),
    )
    etag = entity.metadata["etag"] if hasattr(entity, "metadata") else ""
    return StoredAlert(alert, etag, entity.get("ClaimedBy", ""), _dt(entity.get("ClaimedUntil")))


@dataclass(frozen=True)
class Change:
    """A transition or refresh written by :meth:`AlertStore.apply`."""

    before: Alert | None
    after: Alert

    @property
    def transitioned(self) -> bool:
        return self.before is None or self.before.sequence != self.after.sequence


class AlertStore:
    """The alerts table (``{prefix}alerts``) of the outcome storage account."""

    def __init__(
        self, target: StorageTarget, prefix: str = "pw", client_options: Mapping[str, Any] | None = None
    ) -> None:
        self.target = target
        self.table_name = f"{prefix}alerts"
        self.client_options = dict(client_options or {})
        self._table: TableClient | None = None
        self._created = False

    @property
    def table(self) -> TableClient:
        if self._table is None:
            from shared.adapters.storage import table_client

            self._table = table_client(self.target, self.table_name, **self.client_options)
        if not self._created:
            from azure.core.exceptions import ResourceExistsError

            with contextlib.suppress(ResourceExistsError):
                self._table.create_table()
            self._created = True
        return self._table

    # -- reading ---------------------------------------------------------------------------

    def get(self, key: AlertKey) -> StoredAlert | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return from_entity(self.table.get_entity(key.kind.value, key.alert_id))
        except ResourceNotFoundError:
            return None

    def _query(self, query_filter: str) -> Iterator[StoredAlert]:
        for e in self.table.query_entities(query_filter):
            yield from_entity(e)

    def all(self) -> list[StoredAlert]:
        return sorted(self._query(""), key=lambda s: (s.alert.opened_at, s.alert.key.normalized))

    def open_alerts(self, kinds: Iterable[AlertKind] | None = None) -> dict[AlertKey, StoredAlert]:
        wanted = {k.value for k in kinds} if kinds is not None else None
        found = self._query("State eq 'open'")
        return {s.alert.key: s for s in found if wanted is None or s.alert.key.kind.value in wanted}

    def pending(self) -> list[StoredAlert]:
        """Alerts with transitions not yet published, oldest change first."""
        return sorted(self._query("Pending eq true"), key=lambda s: s.alert.changed_at)

    # -- writing ---------------------------------------------------------------------------

    def _insert(self, alert: Alert) -> bool:
        from azure.core.exceptions import ResourceExistsError

        try:
            self.table.create_entity(to_entity(alert))
            return True
        except ResourceExistsError:
            return False

    def _replace(
        self, stored: StoredAlert, alert: Alert, claimed_by: str = "", claimed_until: datetime | None = None
    ) -> str | None:
        """Replace if unchanged since read; the new ETag, or None when someone else wrote first."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        try:
            meta = self.table.update_entity(
                to_entity(alert, claimed_by, claimed_until),
                mode=UpdateMode.REPLACE,
                etag=stored.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return None
        return str(meta.get("etag", ""))

    def apply(
        self, verdicts: Iterable[Verdict], now: datetime, known_open: dict[AlertKey, StoredAlert] | None = None
    ) -> list[Change]:
        """Record what the verdicts decide: open, resolve, reopen or refresh alerts.

        ``known_open`` (from :meth:`open_alerts`) saves a read per verdict: a clear verdict for
        an identity not open there changes nothing, and a firing one is inserted directly.
        """
        changes: list[Change] = []
        for verdict in verdicts:
            change = self._apply_one(verdict, now, known_open)
            if change is not None:
                changes.append(change)
        return changes

    def _apply_one(
        self, verdict: Verdict, now: datetime, known_open: dict[AlertKey, StoredAlert] | None
    ) -> Change | None:
        stored: StoredAlert | None
        if known_open is not None:
            stored = known_open.get(verdict.key)
            if stored is None and not verdict.firing:
                return None
        else:
            stored = self.get(verdict.key)
        for _ in range(_MAX_RACE_RETRIES):
            current = stored.alert if stored else None
            after = apply_verdict(current, verdict, now)
            if after is None:
                return None
            if stored is None:
                if self._insert(after):
                    return Change(None, after)
            elif self._replace(stored, after, stored.claimed_by, stored.claimed_until) is not None:
                return Change(current, after)
            stored = self.get(verdict.key)  # someone else wrote first: decide again on what they wrote
        raise RuntimeError(f"alert {verdict.key.normalized} kept changing under us; giving up for this run")

    def claim(
        self, stored: StoredAlert, owner: str, now: datetime, lease: timedelta = CLAIM_LEASE
    ) -> StoredAlert | None:
        """Claim a pending alert for publishing, or None if another publisher holds it or got there first."""
        if stored.claimed(now) and stored.claimed_by != owner:
            return None
        until = now + lease
        etag = self._replace(stored, stored.alert, owner, until)
        if etag is None:
            return None
        return StoredAlert(stored.alert, etag, owner, until)

    def release(self, claimed: StoredAlert) -> None:
        """Give up a claim after a failed publish: the alert stays pending for the next run."""
        self._replace(claimed, claimed.alert)

    def mark_published(self, claimed: StoredAlert, sequence: int) -> Alert:
        """Record that transitions up to ``sequence`` were delivered; survives a concurrent change
        (a new transition written meanwhile stays pending)."""
        stored: StoredAlert | None = claimed
        for _ in range(_MAX_RACE_RETRIES):
            if stored is None:
                raise RuntimeError(f"alert {claimed.alert.key.normalized} vanished while being published")
            published = max(stored.alert.published_sequence, sequence)
            after = replace(stored.alert, published_sequence=published)
            if self._replace(stored, after) is not None:
                return after
            stored = self.get(claimed.alert.key)
        raise RuntimeError(f"could not mark alert {claimed.alert.key.normalized} published")
