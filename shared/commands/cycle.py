"""``cycle``: what the patch cycle recorded — its round, the VMs' states, findings, verified runs.

Also registers the executors of the ingestion's follow-up actions (``verify-run``,
``gate-run``) for ``replay --live``: they run through the same service the event
functions use (:func:`shared.runtime.execute_actions`).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from shared.commands import print_json, print_table
from shared.config import Settings


def _month(text: str) -> str:
    from shared.domain.calendar import YearMonth

    try:
        return str(YearMonth.parse(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: Any) -> None:
    p = sub.add_parser("cycle", help="the patch cycle's recorded state: round, VM states, findings")
    p.add_argument("--month", type=_month, help="YYYY-MM (default: the cycle in force now)")
    p.add_argument(
        "--run",
        dest="run_id",
        metavar="CORRELATION_ID",
        help="show a maintenance run's verification and gate instead",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from shared import runtime
    from shared.domain.calendar import cycle_at
    from shared.services.cycle import summary
    from shared.services.maintenance import verification

    deps = runtime.deps()
    if args.run_id:
        data = verification(deps, args.run_id)
        if args.json:
            print_json(data)
            return 0
        print(f"Run {data['correlation_id']}")
        print(f"  post status: {data['post_status'] or 'none recorded'}")
        if data["gate"]:
            print(f"  gate: {data['gate']['reason']}")
        print_table(
            ["Machine", "State", "Installed", "Install failed", "Critical/Security pending", "Other pending", "Reason"],
            [
                [
                    m["id"].rsplit("/", 1)[-1],
                    m["state"],
                    m["installed"],
                    m["install_failed"],
                    m["critical_and_security_pending"],
                    m["other_pending"],
                    m["reason"],
                ]
                for m in data["machines"]
            ],
        )
        return 0
    cycle_id = args.month or cycle_at(datetime.now(UTC), deps.policy.calendar).id
    data = summary(deps, cycle_id)
    data["open_findings"] = [f.to_json() for f in deps.store.findings(cycle_id, state="open")]
    if args.json:
        print_json(data)
        return 0
    if not data["started"]:
        print(f"Cycle {cycle_id}: not started")
        return 0
    print(f"Cycle {cycle_id}: round {data['round']} ({data['phase']}), {data['roster']} VMs in the roster")
    for state, n in data["states"].items():
        print(f"  {state:<24} {n}")
    print(f"  {'of which reboot pending':<24} {data['reboot_pending']} (assessed, not compliant until restarted)")
    for path, n in data.get("paths", {}).items():  # resource-graph: Azure's own latest assessment, no ARM write
        print(f"  {'assessed via ' + path:<24} {n}")
    if data["open_findings"]:
        print("Open findings:")
        print_table(
            ["Kind", "Severity", "VM", "Message"],
            [
                [f["kind"], f["severity"], f["resource_id"].rsplit("/", 1)[-1], f["message"]]
                for f in data["open_findings"]
            ],
        )
    return 0


def _replay_executor(action: dict[str, Any], cfg: Settings) -> str:
    """``replay --live``: execute one follow-up and say what it did."""
    from shared import runtime

    (result,) = runtime.execute_actions([action])
    detail = result.get("reason") or ", ".join(
        f"{k}={result[k]}" for k in ("machines", "queued", "cancelled", "share") if k in result
    )
    return f"{action.get('action')} {action.get('correlation_id', '')}: {result['outcome']}" + (
        f" ({detail})" if detail else ""
    )


def _register_executors() -> None:
    from shared.commands import replay

    for name in ("verify-run", "gate-run"):
        replay.EXECUTORS.setdefault(name, _replay_executor)


_register_executors()
