"""Indexing the app must not load the heavy Azure SDKs: every cold start would pay for them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("azure.data", "azure.mgmt", "azure.identity", "azure.eventgrid", "azure.monitor", "azure.storage", "tenacity")


def test_indexing_the_app_loads_no_heavy_sdk_module() -> None:
    code = (
        "import json, sys, function_app\n"
        "names = [f.get_function_name() for f in function_app.app.get_functions()]\n"
        f"heavy = sorted(m for m in sys.modules if m.startswith({HEAVY!r}))\n"
        "print(json.dumps({'functions': names, 'heavy': heavy}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["functions"], "the app registered no function"
    assert result["heavy"] == [], f"imported at indexing time: {result['heavy']}"
