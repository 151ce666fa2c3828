"""Assessment paths: what a cycle round costs when machines assess themselves.

A fleet of ``--vms`` Azure VMs (1,000 by default) with periodic assessment on, behind the
loopback ARM (its Resource Graph ``patchassessmentresources`` included), Azurite for the
cycle store and the queue. The cycle's timer step runs once, for May 2026's first round,
in three worlds: every machine's own latest assessment is newer than the release
(``fresh``), every one is older (``stale``), and the Resource Graph step is off
(``ASSESSMENT_FROM_RESOURCE_GRAPH=false``, as before). For each: ARM requests made by the
round's planning (discovery and Resource Graph), the ``assessPatches`` start messages it
enqueued (each one ARM write, later, by the workers), the machines settled from Resource
Graph, and the step's wall time (loopback ARM in the same process).

Last line: ``{"bench": "assessment_paths", "vms": N, "fresh_writes": 0, "stale_writes": N,
"off_writes": N, ...}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.adapters.arm import ArmAdapter  # noqa: E402
from shared.adapters.azurite import running_azurite  # noqa: E402
from shared.adapters.cycle_store import CycleStore  # noqa: E402
from shared.adapters.queues import StorageQueue  # noqa: E402
from shared.adapters.resource_graph import AssessmentGraph  # noqa: E402
from shared.adapters.retry import Pacer  # noqa: E402
from shared.adapters.storage import resolve_target  # noqa: E402
from shared.config import load_settings  # noqa: E402
from shared.services.assessment import QUEUE_NAME, CyclePolicy, Deps  # noqa: E402
from shared.services.cycle import tick  # noqa: E402
from tests.support.arm_server import SUB, ArmSimulator, make_fleet  # noqa: E402
from tests.support.loopback import StaticTokenCredential  # noqa: E402

NOW = datetime(2026, 5, 12, 18, 30, tzinfo=UTC)  # May 2026's release was 17:00 UTC
FRESH, STALE = "2026-05-12T17:40:00Z", "2026-05-11T09:00:00Z"


def _round(connection: str, prefix: str, vms: int, *, assessed: str, graph: bool) -> dict[str, Any]:
    fleet = make_fleet(vms)
    for vm in fleet:
        vm.periodic_assessment_at = assessed
    with ArmSimulator(fleet) as sim:
        cfg = load_settings(
            {
                "AzureWebJobsStorage": connection,
                "OUTCOMES_TABLE_PREFIX": prefix,
                "TARGET_SUBSCRIPTION_IDS": SUB,
                "ARM_ENDPOINT": sim.url,
            }
        )
        arm = ArmAdapter.from_settings(cfg, StaticTokenCredential(), pacer=Pacer())
        queue = StorageQueue(resolve_target(connection), f"{prefix}{QUEUE_NAME}")
        deps = Deps(
            store=CycleStore.from_settings(cfg),
            arm=arm,
            queue=queue,
            policy=CyclePolicy.from_settings(cfg),
            assessment_graph=AssessmentGraph(arm) if graph else None,
        )
        deps.store.ensure_tables()  # type: ignore[attr-defined]
        before = sim.counts["requests"]
        t = time.perf_counter()
        report = tick(deps, NOW)
        elapsed = time.perf_counter() - t
        (fan,) = report.fan_outs
        rows = deps.store.vm_rows(fan.scope)
        return {
            "arm_requests": sim.counts["requests"] - before,
            "writes": fan.enqueued,
            "from_graph": sum(1 for r in rows if r.get("Path") == "resource-graph"),
            "s": round(elapsed, 3),
        }


def measure(vms: int = 1000) -> dict[str, Any]:
    out: dict[str, Any] = {"bench": "assessment_paths", "vms": vms}
    with running_azurite(in_memory=True) as az:
        for name, assessed, graph in (("fresh", FRESH, True), ("stale", STALE, True), ("off", FRESH, False)):
            got = _round(az.connection_string, f"bap{name}", vms, assessed=assessed, graph=graph)
            out.update({f"{name}_{k}": v for k, v in got.items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    result = measure(parser.parse_args().vms)
    for name in ("fresh", "stale", "off"):
        print(
            f"{name:>5}: {result[f'{name}_from_graph']} settled from Resource Graph, "
            f"{result[f'{name}_writes']} assessPatches to send, {result[f'{name}_arm_requests']} ARM requests "
            f"to plan the round, {result[f'{name}_s']} s"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
