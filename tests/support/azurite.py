"""Start a real Azurite (from the project's node_modules) on free loopback ports.

The launcher lives in :mod:`shared.adapters.azurite` (``make demo`` uses it too).
"""

from __future__ import annotations

from shared.adapters.azurite import ACCOUNT, KEY, ROOT, Azurite, free_port, running_azurite

__all__ = ["ACCOUNT", "KEY", "ROOT", "Azurite", "closed_connection", "free_port", "running_azurite"]


def closed_connection() -> str:
    """A connection string to storage that is down: Azurite's account on a free port nobody listens on
    (tables and queues)."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
        f"TableEndpoint={endpoint};QueueEndpoint={endpoint};"
    )
