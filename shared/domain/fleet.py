"""The fleet: virtual machines in scope of a cycle, and what each is expected to do.

Pure: built by the Resource Graph adapter from its rows, stored in the cycle's roster,
read by the assessment rules and the ``plan --fleet`` command.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.domain.calendar import Cycle

#: Images that can enrol in hotpatching (Windows Server Azure Edition).
HOTPATCH_SKUS = re.compile(r"^(2022|2025)-datacenter-azure-edition", re.IGNORECASE)
_RESOURCE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/(?P<provider>[^/]+)/"
    r"(?P<type>[^/]+)/(?P<name>[^/]+)",
    re.IGNORECASE,
)
NOT_ASSESSABLE_POWER_STATES = frozenset({"deallocated", "deallocating", "stopped", "stopping"})


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

    @property
    def key(self) -> str:
        return vm_key(self.id)

    @property
    def image(self) -> str:
        parts = (self.image_publisher, self.image_offer, self.image_sku, self.image_version)
        return ":".join(parts) if any(parts) else ""

    @property
    def hotpatch_capable(self) -> bool:
        return bool(HOTPATCH_SKUS.match(self.image_sku or ""))

    @property
    def hotpatch(self) -> bool:
        """Enrolled in hotpatching: the setting, platform patch mode and an Azure Edition image."""
        return self.hotpatch_enabled and self.patch_mode.lower() == "automaticbyplatform" and self.hotpatch_capable

    @property
    def assessable(self) -> bool:
        return self.power_state not in NOT_ASSESSABLE_POWER_STATES

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vm:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


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
    if not vm.assessable:
        return Expectation(vm, False, False, f"not assessable: {vm.power_state} (counted, not skipped)")
    if vm.hotpatch:
        if cycle.reboot_expected:
            return Expectation(vm, True, True, f"{cycle.kind.value}: takes the baseline, reboot expected")
        return Expectation(vm, True, False, "hotpatch month: hotpatch without reboot; a reboot is suspicious")
    if vm.hotpatch_enabled and not vm.hotpatch_capable:
        note = "hotpatch enabled but the image is not Azure Edition: treated as not enrolled"
        return Expectation(vm, True, True, f"{note}; Critical/Security by the deadline, reboot as needed")
    return Expectation(vm, True, True, "not hotpatch-enrolled: Critical/Security by the deadline, reboot as needed")
