"""Where the app's tables and queues live, and clients for them.

Locally and in tests the storage is a connection string (``UseDevelopmentStorage=true``
or Azurite's). In Azure the app uses its managed identity: ``AzureWebJobsStorage`` is
replaced by ``AzureWebJobsStorage__tableServiceUri`` / ``__queueServiceUri`` (what
infra/ deploys, in every cloud) or ``__accountName``, exactly as the Functions host reads
them, and clients authenticate with :func:`shared.adapters.identity.credential`. URLs
built from an account name take the storage suffix of ``AZURE_CLOUD``. ``OUTCOMES_STORAGE`` may
name another account for the outcome tables: a connection string or an account URL.

azure-data-tables and azure-storage-queue are imported lazily.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient
    from azure.storage.queue import QueueClient

DEV_CONNECTION = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


class StorageConfigError(ValueError):
    pass


@dataclass(frozen=True)
class StorageTarget:
    """Either a connection string, or service URLs used with the managed identity."""

    connection_string: str = ""
    table_url: str = ""
    queue_url: str = ""

    @property
    def uses_identity(self) -> bool:
        return not self.connection_string

    def describe(self) -> str:
        """For messages and logs: never the key."""
        if self.connection_string:
            parts = dict(
                p.split("=", 1)
                for p in self.connection_string.split(";")
                if "=" in p and not p.startswith("AccountKey")
            )
            return parts.get("TableEndpoint") or parts.get("AccountName", "storage account")
        return self.table_url or self.queue_url


def _expand(conn: str) -> str:
    return DEV_CONNECTION if conn.strip().lower() == "usedevelopmentstorage=true" else conn.strip()


def resolve_target(
    value: str,
    env: Mapping[str, str] | None = None,
    prefix: str = "AzureWebJobsStorage",
    *,
    suffix: str = "core.windows.net",
) -> StorageTarget:
    """The storage named by a setting value, or by ``{prefix}__*`` identity settings;
    ``suffix`` is the cloud's storage DNS suffix for URLs built from ``__accountName``."""
    env = os.environ if env is None else env
    if value.strip():
        if value.strip().lower().startswith(("http://", "https://")):
            return StorageTarget(table_url=value.strip().rstrip("/"))
        return StorageTarget(connection_string=_expand(value))
    account = env.get(f"{prefix}__accountName", "").strip()
    table = env.get(f"{prefix}__tableServiceUri", "").strip()
    queue = env.get(f"{prefix}__queueServiceUri", "").strip()
    if account:
        table = table or f"https://{account}.table.{suffix}"
        queue = queue or f"https://{account}.queue.{suffix}"
    if table or queue:
        return StorageTarget(table_url=table, queue_url=queue)
    raise StorageConfigError(
        f"no storage configured: set {prefix} to a connection string, or {prefix}__tableServiceUri/"
        f"__queueServiceUri (or {prefix}__accountName) with the managed identity, as the Functions host expects"
    )


def app_storage_target(cfg: Any, env: Mapping[str, str] | None = None) -> StorageTarget:
    """The function app's own account, as the Functions host finds it: the
    ``AzureWebJobsStorage`` connection string, or, when that is absent, the
    ``AzureWebJobsStorage__accountName`` (``__tableServiceUri``/``__queueServiceUri``)
    identity settings; the local emulator only when neither is set."""
    env = os.environ if env is None else env
    suffix = storage_suffix(cfg)
    explicit = env.get("AzureWebJobsStorage", "").strip()
    if not explicit and any(k.startswith("AzureWebJobsStorage__") for k in env):
        return resolve_target("", env, suffix=suffix)
    return resolve_target(cfg["AzureWebJobsStorage"], env, suffix=suffix)


def storage_suffix(cfg: Any) -> str:
    """The storage DNS suffix of the configured cloud (``AZURE_CLOUD``)."""
    from shared.adapters.identity import CLOUDS

    return CLOUDS[cfg["AZURE_CLOUD"]].storage_suffix


def table_service(target: StorageTarget, **kwargs: Any) -> TableServiceClient:
    """``kwargs`` go to the client (e.g. ``retry_total``, ``connection_timeout``)."""
    from azure.data.tables import TableServiceClient

    if target.connection_string:
        return TableServiceClient.from_connection_string(target.connection_string, **kwargs)
    if not target.table_url:
        raise StorageConfigError("no table service URL configured")
    from shared.adapters.identity import credential

    return TableServiceClient(endpoint=target.table_url, credential=credential(), **kwargs)


def table_client(target: StorageTarget, name: str, **kwargs: Any) -> TableClient:
    return table_service(target, **kwargs).get_table_client(name)


def queue_client(target: StorageTarget, name: str, **kwargs: Any) -> QueueClient:
    """A queue client whose messages are base64 (what the Functions queue trigger expects)."""
    from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy, QueueClient

    kwargs.setdefault("message_encode_policy", BinaryBase64EncodePolicy())
    kwargs.setdefault("message_decode_policy", BinaryBase64DecodePolicy())
    if target.connection_string:
        return QueueClient.from_connection_string(target.connection_string, name, **kwargs)
    if not target.queue_url:
        raise StorageConfigError("no queue service URL configured")
    from shared.adapters.identity import credential

    return QueueClient(account_url=target.queue_url, queue_name=name, credential=credential(), **kwargs)
