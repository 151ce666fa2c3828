"""Update Manager dynamic scopes: a subscription- or resource-group-level configuration
assignment whose ``filter`` selects machines, resolved to machines through Resource Graph.

The filter's shape is the Maintenance REST spec's ``ConfigurationAssignmentFilterProperties``
(azure-rest-api-specs specification/maintenance/resource-manager/Microsoft.Maintenance/
stable/2023-04-01/Maintenance.json; example ConfigurationAssignmentsForSubscriptions_CreateOrUpdate.json):
``resourceTypes``, ``resourceGroups``, ``osTypes``, ``locations`` and ``tagSettings``
{``tags``: name -> values, ``filterOperator``: ``Any`` | ``All``}. Pure: no SDK, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.domain.fleet import ARC_MACHINE_TYPE, AZURE_VM_TYPE
from shared.domain.region import region_key

#: The machine types a dynamic scope can select (the filter's resourceTypes; Update Manager
#: dynamic scoping docs: Azure VMs and Arc-enabled servers).
SCOPABLE_TYPES = (AZURE_VM_TYPE, ARC_MACHINE_TYPE)
_SCOPE = re.compile(r"^/subscriptions/(?P<sub>[^/]+)(?:/resourcegroups/(?P<rg>[^/]+))?/?$", re.IGNORECASE)


class ScopeError(ValueError):
    pass


@dataclass(frozen=True)
class DynamicScope:
    """One dynamic-scope assignment: where it applies and what it selects."""

    assignment_id: str
    configuration_id: str
    subscription_id: str
    resource_group: str = ""  # a resource-group-level assignment
    resource_types: tuple[str, ...] = SCOPABLE_TYPES
    resource_groups: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    os_types: tuple[str, ...] = ()
    tags: tuple[tuple[str, tuple[str, ...]], ...] = ()
    tag_operator: str = "Any"  # Any | All (TagOperators in the spec)
    notes: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_assignment(
        cls, assignment_id: str, configuration_id: str, scope_id: str, filter_: Mapping[str, Any] | None
    ) -> DynamicScope:
        """From an assignment whose ``resourceId`` is a subscription or resource group."""
        m = _SCOPE.match((scope_id or "").strip())
        if not m:
            raise ScopeError(f"{assignment_id}: resourceId {scope_id!r} is not a subscription or resource group")
        f = dict(filter_ or {})
        types = tuple(str(t).lower() for t in f.get("resourceTypes") or ())
        unknown = tuple(t for t in types if t not in SCOPABLE_TYPES)
        wanted = tuple(t for t in types if t in SCOPABLE_TYPES) if types else SCOPABLE_TYPES
        tag_settings = dict(f.get("tagSettings") or {})
        tags = tuple(
            (str(name), tuple(str(v) for v in (values or ())))
            for name, values in sorted(dict(tag_settings.get("tags") or {}).items())
        )
        operator = str(tag_settings.get("filterOperator") or "Any")
        if operator.lower() not in ("any", "all"):
            raise ScopeError(f"{assignment_id}: tagSettings.filterOperator {operator!r} is not Any or All")
        return cls(
            assignment_id=assignment_id,
            configuration_id=configuration_id,
            subscription_id=m["sub"],
            resource_group=m["rg"] or "",
            resource_types=wanted,
            resource_groups=_strings(f.get("resourceGroups")),
            locations=tuple(region_key(loc) for loc in _strings(f.get("locations"))),
            os_types=_strings(f.get("osTypes")),
            tags=tags,
            tag_operator="All" if operator.lower() == "all" else "Any",
            notes=tuple(f"resource type {t} is not a machine type Patch Watch handles" for t in unknown),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "assignment": self.assignment_id,
            "configuration": self.configuration_id,
            "scope": f"/subscriptions/{self.subscription_id}"
            + (f"/resourceGroups/{self.resource_group}" if self.resource_group else ""),
            "resource_types": list(self.resource_types),
            "resource_groups": list(self.resource_groups),
            "locations": list(self.locations),
            "os_types": list(self.os_types),
            "tags": {k: list(v) for k, v in self.tags},
            "tag_operator": self.tag_operator,
        }


def _strings(values: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in (values or ()) if str(v).strip())


def is_scope_assignment(resource_id: str) -> bool:
    """True for an assignment made at a subscription or resource group (a dynamic scope)."""
    return bool(_SCOPE.match((resource_id or "").strip()))
