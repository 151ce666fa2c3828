"""What the Table Storage adapters share: one client per table, made on first use, and
storage faults worth retrying raised as :class:`~shared.domain.outcomes.StoreUnavailableError`
(so the trigger fails and Event Grid or the queue redelivers).

azure-data-tables is imported lazily.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.storage import StorageTarget, table_service
from shared.domain.outcomes import StoreUnavailableError

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient


def stored_instant(value: Any) -> datetime | None:
    """A time a row holds (a ``datetime`` or ISO text; naive means UTC) as aware UTC, leniently:
    ``None`` when it is empty or not a time."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def table_missing(exc: BaseException) -> bool:
    """A 404 that says the table itself is not there (not a missing entity)."""
    return getattr(exc, "error_code", None) == "TableNotFound" or "TableNotFound" in str(exc)


def is_transient(exc: BaseException) -> bool:
    """A fault a later try may not meet: no answer, a timeout, throttling or a server error."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    if isinstance(exc, HttpResponseError):
        return exc.status_code is None or exc.status_code in (408, 429) or exc.status_code >= 500
    return False


@contextlib.contextmanager
def transient_faults(store: str, target: StorageTarget, what: str) -> Iterator[None]:
    """Raise a transient fault inside the block as ``StoreUnavailableError("{store} at {account}
    failed to {what}: ...")``; anything else passes through unchanged."""
    try:
        yield
    except Exception as exc:
        if is_transient(exc):
            raise StoreUnavailableError(
                f"{store} at {target.describe()} failed to {what}: {str(exc).splitlines()[0]}"
            ) from exc
        raise


class TableClients:
    """One ``TableServiceClient`` per account and one ``TableClient`` per table, made on first
    use and shared by the threads of one invocation."""

    def __init__(self, target: StorageTarget, client_options: Mapping[str, Any]) -> None:
        self.target = target
        self.client_options = client_options
        self._service: TableServiceClient | None = None
        self._clients: dict[str, TableClient] = {}
        self._lock = threading.Lock()

    def get(self, table_name: str) -> TableClient:
        with self._lock:
            client = self._clients.get(table_name)
            if client is None:
                if self._service is None:
                    self._service = table_service(self.target, **self.client_options)
                client = self._clients[table_name] = self._service.get_table_client(table_name)
            return client
