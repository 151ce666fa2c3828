"""``plan --fleet``: the roster a cycle would assess and what it expects of each VM (read-only).

Discovers the fleet exactly as the cycle timer does (Resource Graph over
``TARGET_SUBSCRIPTION_IDS``, narrowed by ``TARGET_RESOURCE_GROUPS`` / ``TARGET_TAG``) with
the configured credentials, and writes nothing anywhere.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from shared.commands import print_json, print_table
from shared.config import ConfigError, Settings
from shared.domain.calendar import Cycle
from shared.domain.configuration import problems
from shared.domain.fleet import HOTPATCH_UNSUPPORTED_CLOUDS, MachineKind, Vm, expectation


def show_fleet(cycle: Cycle, cfg: Settings, *, as_json: bool) -> int:
    from shared.adapters.arm import ArmAdapter
    from shared.services.ports import ArmError, FleetScope

    if not cfg["TARGET_SUBSCRIPTION_IDS"]:
        raise ConfigError("no subscriptions in scope: set TARGET_SUBSCRIPTION_IDS (comma-separated subscription ids)")
    scope = FleetScope(
        tuple(sorted(cfg["TARGET_SUBSCRIPTION_IDS"])),
        tuple(cfg["TARGET_RESOURCE_GROUPS"]),
        cfg["TARGET_TAG"],
        cfg["HOTPATCH_IMAGES"],
        cfg["AZURE_CLOUD"] not in HOTPATCH_UNSUPPORTED_CLOUDS,
    )
    arm = ArmAdapter.from_settings(cfg)
    notes: list[str] = []
    try:
        vms = arm.discover(scope)
    except ArmError as exc:
        raise ArmError(f"fleet discovery failed: {exc.reason}", status=exc.status) from exc
    finally:
        arm.close()
    vms = _with_assignments(cfg, vms, scope.subscriptions, notes)
    if cfg["AZURE_CLOUD"] in HOTPATCH_UNSUPPORTED_CLOUDS:
        notes.append(f"hotpatch is not offered in {cfg['AZURE_CLOUD']}: no machine is treated as hotpatch-enrolled")
    plans = [expectation(vm, cycle) for vm in vms]
    found = {vm.id: problems(vm) for vm in vms}
    path = {e.vm.id: _assessment_path(e.vm, cfg) if e.assess else "" for e in plans}
    counts: Counter[str] = Counter()
    for e in plans:
        counts["vms"] += 1
        counts["assess" if e.assess else "not_assessable"] += 1
        counts["hotpatch"] += int(e.vm.hotpatch)
        counts["reboot_expected"] += int(e.reboot_expected)
        counts["arc"] += int(e.vm.kind is MachineKind.ARC)
        counts["dynamically_scoped"] += int(bool(e.vm.scopes))
        counts["configuration_findings"] += int(bool(found[e.vm.id]))
        counts["resource_graph_when_fresh"] += int(path[e.vm.id] == "resource-graph")
    data: dict[str, Any] = {
        **cycle.to_json(),
        "scope": {
            "subscriptions": list(scope.subscriptions),
            "resource_groups": list(scope.resource_groups),
            "tag": scope.tag,
        },
        "counts": {
            k: counts[k]
            for k in (
                "vms",
                "assess",
                "not_assessable",
                "hotpatch",
                "reboot_expected",
                "arc",
                "dynamically_scoped",
                "configuration_findings",
                "resource_graph_when_fresh",
            )
        },
        "fleet": [
            {
                **e.to_json(),
                "assignments": list(e.vm.assignments),
                "dynamic_scopes": list(e.vm.scopes),
                "configuration_findings": [p.to_json() for p in found[e.vm.id]],
                # resource-graph: its own periodic assessment is read when newer than the release
                # (else assessPatches); assessPatches: always asked
                "assessment_path": path[e.vm.id],
            }
            for e in plans
        ],
        "notes": notes,
    }
    if as_json:
        print_json(data)
        return 0
    print(
        f"Cycle {cycle.id} ({cycle.kind.value}): {counts['vms']} VMs in scope, {counts['assess']} to assess, "
        f"{counts['not_assessable']} not assessable, {counts['hotpatch']} hotpatch-enrolled"
        + (f", {counts['arc']} Arc-enabled" if counts["arc"] else "")
        + (
            f", {counts['resource_graph_when_fresh']} read from their own periodic assessment when fresh"
            if counts["resource_graph_when_fresh"]
            else ""
        )
        + (
            f", {counts['configuration_findings']} with configuration findings"
            if counts["configuration_findings"]
            else ""
        )
    )
    for note in notes:
        print(f"note: {note}")
    print_table(
        ["VM", "Kind", "Resource group", "OS", "Power", "Hotpatch", "Reboot", "Expectation"],
        [
            [
                e.vm.name,
                e.vm.kind.value,
                e.vm.resource_group,
                e.vm.os_type,
                e.vm.power_state or "unknown",
                "yes" if e.vm.hotpatch else "no",
                "yes" if e.reboot_expected else "no",
                e.summary + "".join(f"; {p.message} (set {p.property})" for p in found[e.vm.id]),
            ]
            for e in plans
        ],
    )
    return 0


def _assessment_path(vm: Vm, cfg: Settings) -> str:
    """How the cycle will assess it: ``resource-graph`` (periodic assessment on: Azure's own latest
    assessment, when newer than the release) or ``assessPatches``."""
    from shared.domain.assessment_graph import ASSESS_PATCHES, RESOURCE_GRAPH, periodic_assessment_on

    return RESOURCE_GRAPH if cfg["ASSESSMENT_FROM_RESOURCE_GRAPH"] and periodic_assessment_on(vm) else ASSESS_PATCHES


def _with_assignments(cfg: Settings, vms: list[Vm], subscriptions: tuple[str, ...], notes: list[str]) -> list[Vm]:
    """Each machine with its Update Manager assignments, read live (read-only): direct ones and
    those of dynamic scopes, resolved through Resource Graph."""
    from shared.adapters import identity
    from shared.adapters.schedules import ScheduleReader

    reader = ScheduleReader(identity.credential(), identity.endpoints(cfg).arm)
    placed: dict[str, list[tuple[str, str]]] = {}
    for sub in subscriptions:
        try:
            assignments = reader.assignments(sub)
        except Exception as exc:  # a subscription we may not read: say so, list the fleet anyway
            notes.append(f"assignments of {sub} not read: {str(exc).splitlines()[0][:300]}")
            continue
        for a in assignments:
            if a.scope is None:
                placed.setdefault(a.resource_id.lower(), []).append((a.configuration_id, ""))
                continue
            notes.extend(f"dynamic scope {a.scope.assignment_id}: {n}" for n in a.scope.notes)
            try:
                members = reader.scope_members(a.scope)
            except Exception as exc:
                notes.append(f"dynamic scope {a.scope.assignment_id} not resolved: {str(exc).splitlines()[0][:300]}")
                continue
            for m in members:
                placed.setdefault(m.lower(), []).append((a.configuration_id, a.scope.assignment_id))
    out = []
    for vm in vms:
        found = placed.get(vm.id.lower(), [])
        out.append(
            replace(
                vm,
                assignments=tuple(sorted({c for c, _ in found}, key=str.lower)),
                scopes=tuple(sorted({v for _, v in found if v}, key=str.lower)),
            )
        )
    return out
