"""A start that survives a lost row update: no VM is assessed twice.

ARM accepts ``assessPatches``; the ``cyclevms`` row update that records it is answered
with a TCP reset (a loopback proxy in front of Azurite's table endpoint drops it, so
Azurite never sees it); the invocation fails and the host delivers the start message
again, which finds the row still ``starting``. It must find out from ARM (the VM's
instance view) that its earlier attempt was accepted, and adopt that assessment instead
of starting another. The loopback ARM counts the assessments it accepted per VM.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from shared.services.cycle import summary
from tests.support.arm_server import ArmSimulator, SimVm, default_patches, make_fleet
from tests.support.azurite import Azurite
from tests.support.cycle_env import cycle_env
from tests.support.fault_proxy import FaultProxy

pytestmark = pytest.mark.azurite

MAY_2026 = datetime(2026, 5, 12, 18, 30, tzinfo=UTC)
CYCLE = "2026-05"


def _hands_over_to_a_poll(method: str, path: str, body: bytes) -> bool:
    """The row update that follows an accepted assessPatches: the VM's row becomes ``running``."""
    return (
        method in ("PATCH", "MERGE", "PUT")
        and "cyclevms" in path.lower()
        and re.search(rb'"State"\s*:\s*"running"', body) is not None
    )


def _through(proxy: FaultProxy, azurite: Azurite) -> str:
    """Azurite's connection string with its table endpoint behind the proxy."""
    return azurite.connection_string.replace(f":{azurite.table_port}/", f":{proxy.port}/")


@pytest.mark.parametrize(
    ("assess_seconds", "outcome"),
    [(1.5, "still running when the start comes back"), (0.0, "already finished when the start comes back")],
)
def test_a_lost_row_update_after_an_accepted_start_does_not_assess_the_vm_twice(
    monkeypatch: pytest.MonkeyPatch, azurite: Azurite, unique_prefix: str, assess_seconds: float, outcome: str
) -> None:
    fleet = make_fleet(3)
    with (
        FaultProxy(azurite.table_port) as proxy,
        ArmSimulator(fleet, assess_seconds=assess_seconds) as sim,
        cycle_env(monkeypatch, _through(proxy, azurite), unique_prefix, sim, now=MAY_2026) as env,
    ):
        lost = proxy.drop(_hands_over_to_a_poll, count=1)
        env.tick()
        env.drain(workers=1)
        rows = env.rows(CYCLE)
        state = summary(env.deps, CYCLE)
    assert len(lost.fired) == 1, "the fault never fired"
    assert len(env.host.errors) == 1  # the reset failed one invocation; its message came back
    assert [sim.accepted_for(vm) for vm in fleet] == [1, 1, 1], outcome  # once each, the dropped one too
    assert state["states"] == {"succeeded": 3}
    assert all(r["Result"] for r in rows.values())
    views = sim.server.recorded("GET", "/instanceView")
    assert len(views) >= 1  # the redelivered start asked ARM before posting again


def test_a_start_whose_post_never_reached_arm_is_posted_again_and_assessed_once(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = make_fleet(2)
    with ArmSimulator(fleet, assess_seconds=0.05) as sim:
        # every try of the first VM's first start is reset before ARM routes it: nothing accepted
        sim.inject("reset", count=4, method="POST", path_contains="assessPatches")
        with cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=MAY_2026) as env:
            env.tick()
            env.drain(workers=1)
            state = summary(env.deps, CYCLE)
    assert sim.counts["fault:reset"] == 4
    assert [sim.accepted_for(vm) for vm in fleet] == [1, 1]
    assert state["states"] == {"succeeded": 2}
    assert len(sim.server.recorded("GET", "/instanceView")) == 1  # looked, saw nothing newer, posted


def test_an_arc_machine_still_completes_after_a_lost_row_update(
    monkeypatch: pytest.MonkeyPatch, azurite: Azurite, unique_prefix: str
) -> None:
    """HybridCompute's Machine shows no assessment outside the operation (no instance view), so
    the redelivered start cannot adopt one: it never asks Compute's instance view for an Arc
    machine (the loopback ARM fails the test if it does) and still ends with a result."""
    arc = SimVm("arc-01", kind="arc", patches=default_patches(3))
    with (
        FaultProxy(azurite.table_port) as proxy,
        ArmSimulator([arc], assess_seconds=0.0) as sim,
        cycle_env(monkeypatch, _through(proxy, azurite), unique_prefix, sim, now=MAY_2026) as env,
    ):
        lost = proxy.drop(_hands_over_to_a_poll, count=1)
        env.tick()
        env.drain(workers=1)
        state = summary(env.deps, CYCLE)
    assert len(lost.fired) == 1
    assert state["states"] == {"succeeded": 1}
    assert sim.accepted_for(arc) >= 1
    assert not sim.server.recorded("GET", "/instanceView")
