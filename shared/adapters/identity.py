"""Credentials and cloud endpoints.

In Azure the app authenticates with its managed identity (``AZURE_CLIENT_ID`` names a
user-assigned one); on a developer's machine ``DefaultAzureCredential`` falls back to
the Azure CLI. Endpoints follow ``AZURE_CLOUD`` unless ``ARM_ENDPOINT``,
``AUTHORITY_HOST`` or ``LOGS_ENDPOINT`` override them (sovereign clouds, tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from shared.config import Settings, settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


@dataclass(frozen=True)
class CloudEndpoints:
    arm: str
    authority: str
    logs: str
    storage_suffix: str = "core.windows.net"
    """DNS suffix of the cloud's storage endpoints (``https://{account}.{service}.{suffix}``)."""

    @property
    def arm_scope(self) -> str:
        return self.arm.rstrip("/") + "/.default"

    @property
    def logs_scope(self) -> str:
        return self.logs.rstrip("/") + "/.default"


# Storage suffixes as azure-cli names them per cloud (Azure/azure-cli
# src/azure-cli-core/azure/cli/core/cloud.py, ``storage_endpoint``), the same values Bicep's
# environment().suffixes.storage gives infra/modules/functionApp.bicep in each cloud.
CLOUDS = {
    "AzurePublicCloud": CloudEndpoints(
        "https://management.azure.com",
        "https://login.microsoftonline.com",
        "https://api.loganalytics.io",
        "core.windows.net",
    ),
    "AzureUSGovernment": CloudEndpoints(
        "https://management.usgovcloudapi.net",
        "https://login.microsoftonline.us",
        "https://api.loganalytics.us",
        "core.usgovcloudapi.net",
    ),
    "AzureChinaCloud": CloudEndpoints(
        "https://management.chinacloudapi.cn",
        "https://login.chinacloudapi.cn",
        "https://api.loganalytics.azure.cn",
        "core.chinacloudapi.cn",
    ),
}


def endpoints(cfg: Settings | None = None) -> CloudEndpoints:
    cfg = cfg or settings()
    base = CLOUDS[cfg["AZURE_CLOUD"]]
    return CloudEndpoints(
        arm=cfg["ARM_ENDPOINT"] or base.arm,
        authority=cfg["AUTHORITY_HOST"] or base.authority,
        logs=cfg["LOGS_ENDPOINT"] or base.logs,
        storage_suffix=base.storage_suffix,
    )


@lru_cache(maxsize=1)
def credential() -> TokenCredential:
    """The process's credential (cached: token caching lives inside it)."""
    from azure.identity import DefaultAzureCredential

    cfg = settings()
    client_id = cfg["AZURE_CLIENT_ID"] or None
    return DefaultAzureCredential(
        authority=endpoints(cfg).authority,
        managed_identity_client_id=client_id,
        exclude_interactive_browser_credential=True,
    )
