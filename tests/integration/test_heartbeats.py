"""Heartbeats through the real LogsQueryClient against a loopback workspace, full and partial."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.health import HeartbeatSource
from shared.config import load_settings
from tests.support.logs_server import LogsWorkspace
from tests.support.loopback import StaticTokenCredential

WS = "11111111-2222-3333-4444-555555555555"
RG = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines"
VM1, VM2, VM3 = f"{RG}/vm1", f"{RG}/VM2", f"{RG}/vm3"
T0 = datetime(2026, 4, 18, 0, 0, tzinfo=UTC)


@pytest.fixture
def workspace() -> Iterator[LogsWorkspace]:
    with LogsWorkspace(WS) as ws, ws.trust():
        ws.beat(VM1, *(T0 - timedelta(hours=h) for h in range(1, 5)), T0 + timedelta(hours=3))
        ws.beat(VM2, T0 - timedelta(hours=2))
        yield ws


def source(ws: LogsWorkspace) -> HeartbeatSource:
    cfg = load_settings({"LOG_ANALYTICS_WORKSPACE_ID": WS, "LOGS_ENDPOINT": ws.url})
    found = HeartbeatSource.from_settings(cfg, credential=StaticTokenCredential())
    assert found is not None
    return found


def test_first_and_last_heartbeat_per_vm(workspace: LogsWorkspace) -> None:
    got = source(workspace).heartbeats([VM1, VM2, VM3], T0 - timedelta(days=1), T0 + timedelta(hours=4))
    assert got.complete
    assert got.last == {VM1.lower(): T0 + timedelta(hours=3), VM2.lower(): T0 - timedelta(hours=2)}
    assert got.first[VM1.lower()] == T0 - timedelta(hours=4)
    assert got.queried == {VM1.lower(), VM2.lower(), VM3.lower()}
    (request,) = workspace.recorded("POST", f"/v1/workspaces/{WS}/query")
    assert request.headers["Authorization"] == "Bearer loopback-token"
    assert request.json()["timespan"].startswith("2026-04-17T00:00:00")


def test_partial_answer_is_marked_incomplete_and_keeps_what_it_shows(workspace: LogsWorkspace) -> None:
    workspace.partial, workspace.partial_missing = True, {VM2}
    got = source(workspace).heartbeats([VM1, VM2], T0 - timedelta(days=1), T0 + timedelta(hours=4))
    assert not got.complete
    assert set(got.last) == {VM1.lower()}


def test_no_workspace_configured_means_no_heartbeat_source() -> None:
    assert HeartbeatSource.from_settings(load_settings({})) is None
