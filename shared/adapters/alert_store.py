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

Every value is written so that it reads back: details are bounded (a long list keeps its
first items and ``{name}_total``, a long text is cut with its length noted) instead of
cutting the JSON, and messages are bounded (:mod:`shared.limits`). A row that still does
not decode is quarantined: logged, handed to ``quarantine`` (the outcome store's
rejections, so ``replay`` and the report show it) and skipped, so the watchdog, the report
and ``cycle`` go on with the rest.

azure-data-tables is imported lazily.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
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
from shared.limits import ALERT_DETAILS_UTF16, ALERT_MESSAGE_UTF16, MAX_TEXT_UTF16, utf16_units
from shared.services.ports.alerting import Change, StoredAlert  # the port's value types

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.adapters.storage import StorageTarget

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=5)
_MAX_RACE_RETRIES = 8

Quarantine = Callable[[str, str, str], object]
"""``(table, "PartitionKey/RowKey", problem)`` for a row that does not decode."""


class UndecodableRowError(ValueError):
    """An alert row that does not decode (it has been quarantined)."""


def bound_text(text: str, limit: int = ALERT_MESSAGE_UTF16) -> str:
    if utf16_units(text) <= limit:
        return text
    note = f" [... {len(text):,} characters in all]"
    return text[: max(0, limit // 2 - len(note))] + note


def bound_details(details: Mapping[str, Any], limit: int = ALERT_DETAILS_UTF16) -> dict[str, Any]:
    """Details as stored: JSON values only, and small enough to always read back. Lists
    longer than a shrinking item budget keep their first items plus ``{name}_total``; texts
    are cut with their length noted. The result is what reading the row gives back."""
    plain = json.loads(json.dumps(dict(details), default=str))
    items, chars = 200, 2000
    while True:
        out: dict[str, Any] = {}
        for name, value in plain.items():
            if isinstance(value, list) and len(value) > items:
                out[name] = [_cut(v, chars) for v in value[:items]]
                out[f"{name}_total"] = len(value)
            elif isinstance(value, list):
                out[name] = [_cut(v, chars) for v in value]
            else:
                out[name] = _cut(value, chars)
        text = json.dumps(out)
        if utf16_units(text) <= limit or (items <= 1 and chars <= 50):
            return out if utf16_units(text) <= limit else {"omitted": f"details of {utf16_units(text):,} characters"}
        items, chars = max(1, items // 2), max(50, chars // 2)


def _cut(value: Any, chars: int) -> Any:
    if isinstance(value, str) and len(value) > chars:
        return bound_text(value, chars)
    if isinstance(value, dict | list) and len(json.dumps(value)) > chars:
        return bound_text(json.dumps(value), chars)
    return value


def _bounded(verdict: Verdict) -> Verdict:
    """The verdict as it will read back, so that comparing it with a stored alert is fair."""
    return replace(verdict, message=bound_text(verdict.message), details=bound_details(verdict.details))


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
        "Message": bound_text(alert.message),
        "Since": alert.since,
        "OpenedAt": alert.opened_at,
        "ChangedAt": alert.changed_at,
        "ResolvedAt": _iso(alert.resolved_at),
        "Sequence": alert.sequence,
        "PublishedSequence": alert.published_sequence,
        "Pending": alert.published_sequence < alert.sequence,
        "Transitions": _transitions(alert),
        "Details": json.dumps(bound_details(alert.details)),
        "ClaimedBy": claimed_by,
        "ClaimedUntil": _iso(claimed_until),
    }


def _transitions(alert: Alert) -> str:
    """The transitions as JSON within a property: the oldest published ones go first if need be."""
    rows: list[dict[str, Any]] = [
        {"seq": t.sequence, "kind": t.kind.value, "at": _iso(t.at), "severity": t.severity.value,
         "message": bound_text(t.message, 1000)}
        for t in alert.transitions
    ]  # fmt: skip
    text = json.dumps(rows)
    while utf16_units(text) > MAX_TEXT_UTF16 and len(rows) > 1 and rows[0]["seq"] <= alert.published_sequence:
        rows.pop(0)
        text = json.dumps(rows)
    return text


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


class AlertStore:
    """The alerts table (``{prefix}alerts``) of the outcome storage account."""

    def __init__(
        self,
        target: StorageTarget,
        prefix: str = "pw",
        client_options: Mapping[str, Any] | None = None,
        quarantine: Quarantine | None = None,
    ) -> None:
        self.target = target
        self.table_name = f"{prefix}alerts"
        self.client_options = dict(client_options or {})
        self.quarantine = quarantine
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
            entity = self.table.get_entity(key.kind.value, key.alert_id)
        except ResourceNotFoundError:
            return None
        stored = self._decode(entity)
        if stored is None:
            raise UndecodableRowError(f"alert {key.normalized}: its row does not decode (quarantined)")
        return stored

    def _decode(self, entity: Any) -> StoredAlert | None:
        try:
            return from_entity(entity)
        except Exception as exc:  # any fault of one row's content
            where = f"{entity.get('PartitionKey')}/{entity.get('RowKey')}"
            problem = f"quarantined: the row does not decode ({type(exc).__name__}: {str(exc)[:300]})"
            log.error("alert store: row %s of %s %s; skipped", where, self.table_name, problem)
            if self.quarantine is not None:
                try:
                    self.quarantine(self.table_name, where, problem)
                except Exception:
                    log.exception("alert store: could not record the quarantined row %s", where)
            return None

    def _query(self, query_filter: str) -> Iterator[StoredAlert]:
        for e in self.table.query_entities(query_filter):
            stored = self._decode(e)
            if stored is not None:
                yield stored

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
            if known_open is not None and not verdict.firing and verdict.key not in known_open:
                continue  # clear, and nothing open to resolve: nothing to write (the common case)
            try:
                change = self._apply_one(_bounded(verdict), now, known_open)
            except UndecodableRowError as exc:  # quarantined; the other verdicts go on
                log.error("%s", exc)
                continue
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
                self.index_periods(after)  # before the insert: the index may hold more, never less
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

    # -- the period index (the report reads one cycle's alerts) --------------------------------
    #
    # ``{prefix}alertperiods``: PartitionKey = a month ``YYYY-MM`` (the cycle an alert names, the
    # month its run started, the month it opened: ``shared.domain.report.summary.alert_periods``),
    # RowKey = ``{subscription}|{resource group}|{kind}|{alert id}`` of the alert's resource. An
    # alert's identity and opening never change, so it is indexed once, before it is inserted
    # (one upsert per month, usually one).

    @property
    def index_name(self) -> str:
        return self.table_name.removesuffix("alerts") + "alertperiods"

    def _index_table(self) -> TableClient:
        from shared.adapters.storage import table_client

        client: TableClient | None = getattr(self, "_index_client", None)
        if client is None:
            client = self._index_client = table_client(self.target, self.index_name, **self.client_options)
        return client

    @staticmethod
    def _index_rows(alert: Alert) -> list[dict[str, Any]]:
        from shared.domain.report import GroupKey
        from shared.domain.report.summary import alert_periods

        g = GroupKey.of(alert.key.resource_id)
        rk = f"{g.subscription_id}|{g.resource_group}|{alert.key.kind.value}|{alert.key.alert_id}"
        rk = "".join(c if c not in "/\\#?" and c.isprintable() else "_" for c in rk)
        return [
            {"PartitionKey": p, "RowKey": rk, "Kind": alert.key.kind.value, "AlertId": alert.key.alert_id}
            for p in sorted(alert_periods(alert))
        ]

    def index_periods(self, alert: Alert) -> None:
        """Index a new alert under its months (the table is made by the first one)."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        table = self._index_table()
        for row in self._index_rows(alert):
            try:
                table.upsert_entity(row)
            except ResourceNotFoundError:
                with contextlib.suppress(ResourceExistsError):
                    table.create_table()
                table.upsert_entity(row)

    def cycle_alerts(self, periods: Iterable[str], groups: Iterable[tuple[str, str]] | None = None) -> list[Alert]:
        """The alerts indexed under ``periods`` (months), of the resource groups ``groups``
        ((subscription, resource group), lower-case; None: all), in the table's order: one
        range query per period and group, then the alerts themselves, by kind, 15 ids a query.
        Alerts recorded before the index existed are indexed by the first call (every alert,
        once; a marker row ``~``/``backfilled`` says it was done)."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        from shared.adapters.storage import table_client
        from shared.adapters.tables import table_missing

        alerts = table_client(self.target, self.table_name, **self.client_options)  # read only: never created here
        index = self._index_table()
        if not getattr(self, "_index_ready", False):
            try:
                alerts.get_entity("~", "~")
            except ResourceNotFoundError as exc:
                if table_missing(exc):
                    return []  # no alert was ever recorded
            try:
                index.get_entity("~", "backfilled")
            except ResourceNotFoundError:
                with contextlib.suppress(ResourceExistsError):
                    index.create_table()
                for entity in alerts.list_entities():  # every alert so far, once
                    stored = self._decode(entity)
                    for row in self._index_rows(stored.alert) if stored is not None else ():
                        index.upsert_entity(row)
                index.upsert_entity({"PartitionKey": "~", "RowKey": "backfilled"})
            self._index_ready = True
        wanted: dict[str, set[str]] = {}
        for period in sorted(set(periods)):
            if groups is None:
                rows = list(index.query_entities("PartitionKey eq @pk", parameters={"pk": period}))
            else:
                rows = []
                for sub, rg in sorted(set(groups)):
                    lo = f"{sub}|{rg}|"
                    rows += index.query_entities(
                        "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                        parameters={"pk": period, "lo": lo, "hi": lo[:-1] + "}"},
                    )
            for row in rows:
                wanted.setdefault(str(row["Kind"]), set()).add(str(row["AlertId"]))
        out: list[Alert] = []
        for kind in sorted(wanted):
            ids = sorted(wanted[kind])
            for i in range(0, len(ids), 15):
                chunk = ids[i : i + 15]
                params: dict[str, Any] = {"pk": kind, **{f"r{j}": rid for j, rid in enumerate(chunk)}}
                terms = " or ".join(f"RowKey eq @r{j}" for j in range(len(chunk)))
                try:
                    # spaces around the parentheses: the SDK's @parameter substitution splits on spaces
                    entities = alerts.query_entities(f"PartitionKey eq @pk and ( {terms} )", parameters=params)
                    out.extend(s.alert for s in map(self._decode, entities) if s is not None)
                except ResourceNotFoundError:
                    return []
        return sorted(out, key=lambda a: (a.key.kind.value, a.key.alert_id))
