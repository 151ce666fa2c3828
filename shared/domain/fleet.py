"""The fleet: virtual machines in scope of a cycle, and what each is expected to do.

Pure: built by the Resource Graph adapter from its rows, stored in the cycle's roster,
read by the assessment rules and the ``plan --fleet`` command.
"""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.domain.calendar import Cycle

#: Images that can enrol in hotpatching: the exact publisher, offer and SKU combinations of
#: "Hotpatch for virtual machines", "Supported platforms" (learn.microsoft.com/windows-server/
#: get-started/hotpatch: the Windows Server 2022 Azure Edition Core and Hotpatch images;
#: learn.microsoft.com/azure/automanage/automanage-hotpatch, current: those and the Windows
#: Server 2025 Azure Edition images). Custom images and any other combination are not
#: supported. Overridable with the HOTPATCH_IMAGES setting.
HOTPATCH_IMAGES: tuple[tuple[str, str, str], ...] = tuple(
    ("microsoftwindowsserver", "windowsserver", sku)
    for sku in (
        "2022-datacenter-azure-edition-core",
        "2022-datacenter-azure-edition-core-smalldisk",
        "2022-datacenter-azure-edition-hotpatch",
        "2022-datacenter-azure-edition-hotpatch-smalldisk",
        "2025-datacenter-azure-edition",
        "2025-datacenter-azure-edition-smalldisk",
        "2025-datacenter-azure-edition-core",
        "2025-datacenter-azure-edition-core-smalldisk",
    )
)
#: Clouds where hotpatch is not offered (said once by ``plan --fleet`` and the cycle timer).
HOTPATCH_UNSUPPORTED_CLOUDS = frozenset({"AzureUSGovernment"})


def parse_hotpatch_images(text: str) -> tuple[tuple[str, str, str], ...]:
    """``publisher:offer:sku`` items, comma-separated (case-insensitive), for HOTPATCH_IMAGES."""
    out = []
    for item in re.split(r"[,;\s]+", text.strip()):
        if not item:
            continue
        parts = item.split(":")
        if len(parts) != 3 or not all(p.strip() for p in parts):
            raise ValueError(f"comma-separated publisher:offer:sku items (bad item {item!r})")
        out.append((parts[0].strip().lower(), parts[1].strip().lower(), parts[2].strip().lower()))
    return tuple(out)


def hotpatch_image(
    publisher: str, offer: str, sku: str, images: tuple[tuple[str, str, str], ...] = HOTPATCH_IMAGES
) -> bool:
    """Is this exact publisher/offer/SKU combination one that can enrol in hotpatching?"""
    return (publisher.strip().lower(), offer.strip().lower(), sku.strip().lower()) in set(images)


_RESOURCE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/(?P<provider>[^/]+)/"
    r"(?P<type>[^/]+)/(?P<name>[^/]+)",
    re.IGNORECASE,
)
NOT_ASSESSABLE_POWER_STATES = frozenset({"deallocated", "deallocating", "stopped", "stopping"})
#: Arc agent states (``properties.status``: StatusTypes Connected, Disconnected, Error in
#: azure-rest-api-specs specification/hybridcompute/resource-manager/Microsoft.HybridCompute/
#: stable/2024-07-10/HybridCompute.json; AwaitingConnection in azure-mgmt-hybridcompute 10's
#: StatusTypes) in which the machine cannot take an operation: not assessable, like a deallocated VM.
NOT_ASSESSABLE_ARC_STATES = frozenset({"disconnected", "error", "awaitingconnection"})

#: Resource types, lower-case as Resource Graph writes them. Azure VMs take
#: ``Microsoft.Compute/virtualMachines/{vm}/assessPatches|installPatches`` (compute spec);
#: Arc-enabled servers their own ``Microsoft.HybridCompute/machines/{name}/assessPatches|
#: installPatches`` (azure-rest-api-specs specification/hybridcompute/resource-manager/
#: Microsoft.HybridCompute/stable/2024-07-10/HybridCompute.json, examples/machine/
#: Machine_AssessPatches.json, Machine_InstallPatches.json).
AZURE_VM_TYPE = "microsoft.compute/virtualmachines"
ARC_MACHINE_TYPE = "microsoft.hybridcompute/machines"


class MachineKind(enum.StrEnum):
    AZURE_VM = "azure-vm"
    ARC = "arc-server"
    NOT_HANDLED = "not-handled"  # scale sets, scale-set instances, anything else: listed, never sent anywhere


def resource_type_of(resource_id: str) -> str:
    """``microsoft.compute/virtualmachines`` for a VM id; the full nested type for child resources
    (``microsoft.compute/virtualmachinescalesets/virtualmachines``); "" for what is not an ARM id."""
    parts = [p for p in (resource_id or "").strip().split("/") if p]
    low = [p.lower() for p in parts]
    if "providers" not in low:
        return ""
    i = len(low) - 1 - low[::-1].index("providers")  # the last provider segment names the type
    rest = low[i + 1 :]
    if len(rest) < 3:
        return ""
    namespace, pairs = rest[0], rest[1:]
    return "/".join([namespace, *pairs[0::2]])


def machine_kind(resource_id: str) -> MachineKind:
    """Which API a machine takes, from its full resource id (never from its name)."""
    rtype = resource_type_of(resource_id)
    if rtype == AZURE_VM_TYPE:
        return MachineKind.AZURE_VM
    if rtype == ARC_MACHINE_TYPE:
        return MachineKind.ARC
    return MachineKind.NOT_HANDLED


class ResourceIdError(ValueError):
    pass


@dataclass(frozen=True)
class ResourceId:
    subscription_id: str
    resource_group: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ResourceId:
        m = _RESOURCE_ID.match(text or "")
        if not m:
            raise ResourceIdError(
                f"not an ARM resource id: {text!r} (expected /subscriptions/.../resourceGroups/.../providers/...)"
            )
        return cls(m["sub"], m["rg"], m["name"])


def vm_key(resource_id: str) -> str:
    """A Table Storage key for a resource id: case-folded, ``/`` (not allowed in keys) -> ``|``.

    ARM resource ids are case-insensitive, so two spellings of one VM map to one key.
    """
    text = resource_id.strip().lower().strip("/")
    for bad, repl in (("/", "|"), ("\\", "%5c"), ("#", "%23"), ("?", "%3f")):
        text = text.replace(bad, repl)
    return text


def power_state_of(code: str | None) -> str:
    """``PowerState/deallocated`` -> ``deallocated``; empty when unknown."""
    if not code:
        return ""
    return code.split("/", 1)[-1].strip().lower()


@dataclass(frozen=True)
class Vm:
    """One VM of the roster, as discovered."""

    id: str
    name: str
    subscription_id: str
    resource_group: str
    location: str = ""
    os_type: str = ""
    power_state: str = ""  # running, deallocated, stopped, ... ("" when unknown)
    patch_mode: str = ""
    hotpatch_enabled: bool = False
    image_publisher: str = ""
    image_offer: str = ""
    image_sku: str = ""
    image_version: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    #: How the platform patches it and whether it assesses on its own (``assessmentMode``),
    #: and the Update Manager assignments that brought it in (dynamic scopes included).
    assessment_mode: str = ""
    bypass_platform_safety_checks: bool = False
    assignments: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()  # the dynamic scopes (assignment ids) that brought it in
    hotpatch_image: bool | None = None  # set by discovery from HOTPATCH_IMAGES; None: the default list

    @property
    def key(self) -> str:
        return vm_key(self.id)

    @property
    def image(self) -> str:
        parts = (self.image_publisher, self.image_offer, self.image_sku, self.image_version)
        return ":".join(parts) if any(parts) else ""

    @property
    def hotpatch_capable(self) -> bool:
        """An image that can enrol: as discovery judged it (with HOTPATCH_IMAGES), else the default list."""
        if self.hotpatch_image is not None:
            return self.hotpatch_image
        return hotpatch_image(self.image_publisher, self.image_offer, self.image_sku)

    @property
    def hotpatch(self) -> bool:
        """Enrolled in hotpatching: the setting, platform patch mode and an Azure Edition image."""
        return self.hotpatch_enabled and self.patch_mode.lower() == "automaticbyplatform" and self.hotpatch_capable

    @property
    def kind(self) -> MachineKind:
        return machine_kind(self.id)

    @property
    def resource_type(self) -> str:
        return resource_type_of(self.id)

    @property
    def handled(self) -> bool:
        return self.kind is not MachineKind.NOT_HANDLED

    @property
    def assessable(self) -> bool:
        if self.kind is MachineKind.ARC:
            return self.power_state not in NOT_ASSESSABLE_ARC_STATES
        return self.power_state not in NOT_ASSESSABLE_POWER_STATES

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["assignments"] = list(self.assignments)
        data["scopes"] = list(self.scopes)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vm:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("assignments", "scopes"):
            if name in values:
                values[name] = tuple(values[name] or ())
        return cls(**values)


@dataclass(frozen=True)
class Expectation:
    """What the cycle expects of one VM (``plan --fleet``)."""

    vm: Vm
    assess: bool
    reboot_expected: bool
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.vm.id,
            "name": self.vm.name,
            "kind": self.vm.kind.value,
            "type": self.vm.resource_type,
            "os": self.vm.os_type,
            "power_state": self.vm.power_state or "unknown",
            "patch_mode": self.vm.patch_mode,
            "hotpatch": self.vm.hotpatch,
            "image": self.vm.image,
            "assess": self.assess,
            "reboot_expected": self.reboot_expected,
            "expectation": self.summary,
        }


def expectation(vm: Vm, cycle: Cycle) -> Expectation:
    """What this cycle expects of ``vm``: assessed or not, a reboot or not, and why."""
    if not vm.handled:
        return Expectation(vm, False, False, f"not handled: {vm.resource_type or 'unknown type'} (listed, never sent)")
    if not vm.assessable:
        return Expectation(vm, False, False, f"not assessable: {vm.power_state} (counted, not skipped)")
    if vm.hotpatch:
        if cycle.reboot_expected:
            return Expectation(vm, True, True, f"{cycle.kind.value}: takes the baseline, reboot expected")
        return Expectation(vm, True, False, "hotpatch month: hotpatch without reboot; a reboot is suspicious")
    if vm.hotpatch_enabled and not vm.hotpatch_capable:
        note = (
            f"hotpatch enabled but the image {vm.image or '(none)'} is not a hotpatch image "
            "(publisher, offer and SKU): treated as not enrolled"
        )
        return Expectation(vm, True, True, f"{note}; Critical/Security by the deadline, reboot as needed")
    return Expectation(vm, True, True, "not hotpatch-enrolled: Critical/Security by the deadline, reboot as needed")
