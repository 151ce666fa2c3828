"""Storage Queues for the cycle's fan-out (azure-storage-queue, imported lazily).

Messages are base64 (what the Functions queue trigger expects; see
:func:`shared.adapters.storage.queue_client`) JSON objects. A message can be made
visible later (``delay_seconds``: the operation's Retry-After), which is how a worker
comes back to a long-running operation without waiting for it.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.adapters.storage import StorageTarget, queue_client
from shared.domain.outcomes import StoreUnavailableError

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient

MAX_VISIBILITY = 7 * 24 * 3600 - 1


@dataclass
class StorageQueue:
    target: StorageTarget
    name: str
    _client: QueueClient | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _ensured: bool = field(default=False, init=False, repr=False)

    @property
    def client(self) -> QueueClient:
        with self._lock:
            if self._client is None:
                self._client = queue_client(
                    self.target, self.name, retry_total=3, connection_timeout=10, read_timeout=30
                )
            return self._client

    def ensure(self) -> None:
        if self._ensured:
            return
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            self.client.create_queue()
        self._ensured = True

    def send(self, body: dict[str, Any], delay_seconds: float = 0) -> str:
        """Enqueue ``body``; visible after ``delay_seconds`` (rounded up). Returns the message id."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        data = json.dumps(body, separators=(",", ":")).encode()
        delay = min(MAX_VISIBILITY, max(0, math.ceil(delay_seconds)))
        for attempt in (1, 2):
            try:
                return str(self.client.send_message(data, visibility_timeout=delay).id)
            except ResourceNotFoundError:
                if attempt == 2:
                    raise
                self.ensure()
            except AzureError as exc:
                raise StoreUnavailableError(f"queue {self.name} unavailable: {str(exc).splitlines()[0]}") from exc
        raise AssertionError("unreachable")
