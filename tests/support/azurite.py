"""Start a real Azurite (from the project's node_modules) on free loopback ports.

The launcher lives in :mod:`shared.adapters.azurite` (``make demo`` uses it too).
"""

from __future__ import annotations

from shared.adapters.azurite import ACCOUNT, KEY, ROOT, Azurite, free_port, running_azurite

__all__ = ["ACCOUNT", "KEY", "ROOT", "Azurite", "free_port", "running_azurite"]
