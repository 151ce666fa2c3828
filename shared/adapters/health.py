"""Heartbeat verification after maintenance with azure-monitor-query.

``LogsQueryClient.query_workspace`` asks the workspace ``LOG_ANALYTICS_WORKSPACE_ID`` for
the first and last ``Heartbeat`` of each VM over a period. A full answer
(``LogsQueryResult``) is complete evidence; a partial one (``LogsQueryPartialResult``)
still tells which VMs *did* send heartbeats, but a VM missing from it proves nothing, so
the result is marked incomplete and the rules only use what it shows. Resource Health
events are not queried here: they are recorded by the event handlers in the outcome store.

azure-monitor-query is imported lazily.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.domain.alerts import Heartbeats

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.monitor.query import LogsQueryClient

    from shared.config import Settings

log = logging.getLogger(__name__)

# VMs per query: keeps the query text well under the service's limits.
CHUNK = 200


def heartbeat_query(resource_ids: Iterable[str]) -> str:
    quoted = ", ".join('"' + r.replace("\\", "").replace('"', "") + '"' for r in resource_ids)
    return (
        "Heartbeat\n"
        f"| where _ResourceId in~ ({quoted})\n"
        "| summarize FirstHeartbeat = min(TimeGenerated), LastHeartbeat = max(TimeGenerated)"
        " by ResourceId = tolower(_ResourceId)"
    )


def _utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return None


class HeartbeatSource:
    """VM heartbeats from a Log Analytics workspace."""

    def __init__(
        self,
        workspace_id: str,
        *,
        endpoint: str = "",
        credential: TokenCredential | None = None,
        client: LogsQueryClient | None = None,
        **client_kwargs: Any,
    ) -> None:
        self.workspace_id = workspace_id
        self.endpoint = endpoint
        self._credential = credential
        self._client = client
        self._client_kwargs = client_kwargs

    @classmethod
    def from_settings(cls, cfg: Settings, **kwargs: Any) -> HeartbeatSource | None:
        """None when no workspace is configured: then heartbeats are simply not expected."""
        if not cfg["LOG_ANALYTICS_WORKSPACE_ID"]:
            return None
        from shared.adapters.identity import endpoints

        return cls(cfg["LOG_ANALYTICS_WORKSPACE_ID"], endpoint=endpoints(cfg).logs, **kwargs)

    @property
    def client(self) -> LogsQueryClient:
        if self._client is None:
            from azure.monitor.query import LogsQueryClient

            if self._credential is None:
                from shared.adapters.identity import credential

                self._credential = credential()
            kwargs = dict(self._client_kwargs)
            if self.endpoint:
                kwargs["endpoint"] = self.endpoint
            self._client = LogsQueryClient(self._credential, **kwargs)
        return self._client

    def heartbeats(self, resource_ids: Iterable[str], start: datetime, end: datetime) -> Heartbeats:
        """First and last heartbeat of each VM in [start, end]."""
        from azure.monitor.query import LogsQueryStatus

        ids = sorted({r.lower() for r in resource_ids if r})
        first: dict[str, datetime] = {}
        last: dict[str, datetime] = {}
        complete = True
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            result = self.client.query_workspace(self.workspace_id, heartbeat_query(chunk), timespan=(start, end))
            if result.status == LogsQueryStatus.PARTIAL:
                complete = False
                err = getattr(result, "partial_error", None)
                log.warning("heartbeat query answered partially (%s): absences are not evidence", err)
                tables = result.partial_data or []
            else:
                tables = result.tables or []
            for table in tables:
                cols = [c.lower() for c in table.columns]
                try:
                    ri, fi, li = cols.index("resourceid"), cols.index("firstheartbeat"), cols.index("lastheartbeat")
                except ValueError:
                    continue
                for row in table.rows:
                    rid = str(row[ri]).lower()
                    f, la = _utc(row[fi]), _utc(row[li])
                    if f is not None:
                        first[rid] = min(f, first.get(rid, f))
                    if la is not None:
                        last[rid] = max(la, last.get(rid, la))
        return Heartbeats(first=first, last=last, complete=complete, queried=frozenset(ids))
