"""``plan --fleet``: the roster a cycle would assess and what it expects of each VM (read-only).

Discovers the fleet exactly as the cycle timer does (Resource Graph over
``TARGET_SUBSCRIPTION_IDS``, narrowed by ``TARGET_RESOURCE_GROUPS`` / ``TARGET_TAG``) with
the configured credentials, and writes nothing anywhere.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

from shared.commands import print_json, print_table
from shared.config import Settings
from shared.domain.calendar import Cycle
from shared.domain.fleet import expectation


def show_fleet(cycle: Cycle, cfg: Settings, *, as_json: bool) -> int:
    from shared.adapters.arm import ArmAdapter
    from shared.services.ports import ArmError, FleetScope

    scope = FleetScope(
        tuple(sorted(cfg["TARGET_SUBSCRIPTION_IDS"])),
        tuple(cfg["TARGET_RESOURCE_GROUPS"]),
        cfg["TARGET_TAG"],
        cfg["HOTPATCH_IMAGES"],
    )
    arm = ArmAdapter.from_settings(cfg)
    try:
        vms = arm.discover(scope)
    except ArmError as exc:
        print(f"error: fleet discovery failed: {exc.reason}", file=sys.stderr)
        return 2
    finally:
        arm.close()
    plans = [expectation(vm, cycle) for vm in vms]
    counts: Counter[str] = Counter()
    for e in plans:
        counts["vms"] += 1
        counts["assess" if e.assess else "not_assessable"] += 1
        counts["hotpatch"] += int(e.vm.hotpatch)
        counts["reboot_expected"] += int(e.reboot_expected)
    data: dict[str, Any] = {
        **cycle.to_json(),
        "scope": {
            "subscriptions": list(scope.subscriptions),
            "resource_groups": list(scope.resource_groups),
            "tag": scope.tag,
        },
        "counts": {k: counts[k] for k in ("vms", "assess", "not_assessable", "hotpatch", "reboot_expected")},
        "fleet": [e.to_json() for e in plans],
    }
    if as_json:
        print_json(data)
        return 0
    print(
        f"Cycle {cycle.id} ({cycle.kind.value}): {counts['vms']} VMs in scope, {counts['assess']} to assess, "
        f"{counts['not_assessable']} not assessable, {counts['hotpatch']} hotpatch-enrolled"
    )
    print_table(
        ["VM", "Resource group", "OS", "Power", "Hotpatch", "Reboot", "Expectation"],
        [
            [
                e.vm.name,
                e.vm.resource_group,
                e.vm.os_type,
                e.vm.power_state or "unknown",
                "yes" if e.vm.hotpatch else "no",
                "yes" if e.reboot_expected else "no",
                e.summary,
            ]
            for e in plans
        ],
    )
    return 0
