"""Compile-level checks of infra/ against Bicep's own type definitions.

The types are Microsoft's generated ``types.json`` files (Azure/bicep-types-az, copied
unchanged into ``tests/fixtures/published/bicep-types``; see the README there). For every
resource declared in infra/ (pycep's view of the Bicep):

- its type and API version (``Type@version``) must exist there;
- every property written in an object literal must exist on the type at that place
  (through nested objects, arrays, ``for`` loops, ``if`` conditions and discriminated
  objects), in the published casing, and must not be read-only;
- a literal string written where the type lists values (an enum such as ``endpointType``,
  ``kind``, ``sku.name``; for open enums too, which the compiler would accept) must be one
  of them; literal booleans and integers must be where the type expects one;
- an object written in full must carry the type's required properties.

Not checked (only the Bicep compiler does that): expressions (parameters, variables,
function results, interpolated strings) are taken as the right type; functions' API
versions (``listKeys(..., '2024-11-01')``); module parameter types; scopes.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

TYPES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "published" / "bicep-types"

REQUIRED, READ_ONLY = 1, 2
_LANGUAGE_KEYS = {"parent", "scope", "dependsOn"}  # Bicep's own, not the resource body's


@dataclass
class TypeFile:
    path: Path
    types: list[dict[str, Any]]

    def at(self, ref: dict[str, Any]) -> dict[str, Any]:
        index = int(ref["$ref"].rsplit("/", 1)[1])
        return self.types[index]


@cache
def resource_types() -> dict[str, tuple[TypeFile, dict[str, Any]]]:
    """``type@apiVersion`` (lower-case) -> the file and its ResourceType entry."""
    out: dict[str, tuple[TypeFile, dict[str, Any]]] = {}
    for path in sorted(TYPES_DIR.rglob("types.json.gz")):
        tf = TypeFile(path, json.loads(gzip.decompress(path.read_bytes())))
        for t in tf.types:
            if t["$type"] == "ResourceType":
                out[t["name"].lower()] = (tf, t)
    return out


@dataclass
class Checker:
    file: str
    symbols: set[str]
    problems: list[str] = field(default_factory=list)

    def problem(self, where: str, text: str) -> None:
        self.problems.append(f"{self.file}: {where}: {text}")

    def is_expression(self, value: Any) -> bool:
        if isinstance(value, dict):
            return any(k in value for k in ("operator", "function", "property_accessor"))
        return isinstance(value, str) and (value in self.symbols or "${" in value)

    def check(self, tf: TypeFile, ref: dict[str, Any], value: Any, where: str) -> None:
        t = tf.at(ref)
        kind = t["$type"]
        if isinstance(value, dict) and "loop_type" in value and "config" in value:  # [for x in ...: item]
            target = t["itemType"] if kind == "ArrayType" else ref
            self.check(tf, target, value["config"], f"{where}[for]")
            return
        if isinstance(value, dict) and "condition" in value and "config" in value:  # if (...) wrapper
            self.check(tf, ref, value["config"], where)
            return
        if self.is_expression(value) or value is None:
            return
        if kind == "AnyType":
            return
        if kind == "UnionType":
            elements = [tf.at(e) for e in t["elements"]]
            if isinstance(value, str) and any(e["$type"] == "StringLiteralType" for e in elements):
                # Closed enums and the published values of open ("modelAsString") ones: a value
                # outside them is a typo far more often than a new value.
                allowed = [e["value"] for e in elements if e["$type"] == "StringLiteralType"]
                if value not in allowed:
                    self.problem(where, f"{value!r} is not one of {allowed}")
                return
            for e_ref in t["elements"]:  # first element whose kind fits the value
                if self._fits(tf.at(e_ref), value):
                    self.check(tf, e_ref, value, where)
                    return
            return
        if kind == "StringLiteralType":
            if isinstance(value, str) and value != t["value"]:
                self.problem(where, f"{value!r} must be {t['value']!r}")
            return
        if kind in ("StringType", "IntegerType", "BooleanType"):
            if not self._fits(t, value):
                self.problem(where, f"{value!r} is not a {kind.removesuffix('Type').lower()}")
            return
        if kind == "ArrayType":
            if isinstance(value, list):
                for i, item in enumerate(value):
                    self.check(tf, t["itemType"], item, f"{where}[{i}]")
            else:
                self.problem(where, f"expected an array, got {type(value).__name__}")
            return
        if kind in ("ObjectType", "DiscriminatedObjectType"):
            if not isinstance(value, dict):
                self.problem(where, f"expected an object, got {type(value).__name__}")
                return
            self.check_object(tf, t, value, where)

    def _fits(self, t: dict[str, Any], value: Any) -> bool:
        kind = t["$type"]
        if kind in ("StringType", "StringLiteralType"):
            return isinstance(value, str)
        if kind == "BooleanType":
            return isinstance(value, bool)
        if kind == "IntegerType":
            return isinstance(value, int) and not isinstance(value, bool)
        if kind in ("ObjectType", "DiscriminatedObjectType"):
            return isinstance(value, dict)
        if kind == "ArrayType":
            return isinstance(value, list) or (isinstance(value, dict) and "loop_type" in value)
        return True

    def check_object(
        self, tf: TypeFile, t: dict[str, Any], value: dict[str, Any], where: str, top: bool = False
    ) -> None:
        properties = dict(t.get("properties", {}))
        if t["$type"] == "DiscriminatedObjectType":
            properties = dict(t.get("baseProperties", {}))
            key = t["discriminator"]
            chosen = value.get(key)
            if isinstance(chosen, str) and not self.is_expression(chosen):
                element = t["elements"].get(chosen)
                if element is None:
                    self.problem(f"{where}.{key}", f"{chosen!r} is not one of {sorted(t['elements'])}")
                    return
                properties.update(tf.at(element).get("properties", {}))
            else:
                return  # the variant is decided by an expression: nothing more to know
            properties[key] = {"type": {"$ref": "#/0"}, "flags": REQUIRED}
        extra = t.get("additionalProperties")
        lower = {k.lower(): k for k in properties}
        for key, item in value.items():
            if top and key in _LANGUAGE_KEYS:
                continue
            here = f"{where}.{key}" if where else key
            if key not in properties:
                if key.lower() in lower:
                    self.problem(here, f"is spelled {lower[key.lower()]!r} in the published type")
                elif extra is not None:
                    self.check(tf, extra, item, here)
                else:
                    self.problem(here, f"is not a property of {t.get('name', 'this object')}")
                continue
            prop = properties[key]
            if prop.get("flags", 0) & READ_ONLY and not prop.get("flags", 0) & REQUIRED:
                self.problem(here, "is read-only")
                continue
            if t["$type"] == "DiscriminatedObjectType" and key == t["discriminator"]:
                continue
            self.check(tf, prop["type"], item, here)
        for key, prop in properties.items():
            flags = prop.get("flags", 0)
            if flags & REQUIRED and not flags & READ_ONLY and key not in value and not (top and key == "name"):
                self.problem(f"{where}.{key}" if where else key, "is required")


def _unwrap(config: Any) -> Any:
    while isinstance(config, dict) and ("condition" in config or "loop_type" in config) and "config" in config:
        config = config["config"]
    return config


def _symbols(parsed: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for section in ("parameters", "variables", "resources", "modules"):
        names |= set(parsed.get(section, {}))
    text = json.dumps(parsed)  # loop item names ([for x in ...])
    for marker in ('"item_name": "', '"index_name": "'):
        for chunk in text.split(marker)[1:]:
            names.add(chunk.split('"', 1)[0])
    return names


def check_file(path: Path, parsed: dict[str, Any]) -> list[str]:
    """Problems of one parsed Bicep file against the published types; empty when it fits."""
    known = resource_types()
    checker = Checker(path.name, _symbols(parsed))
    for name, entry in parsed.get("resources", {}).items():
        full = f"{entry['type']}@{entry['api_version']}"
        found = known.get(full.lower())
        if found is None:
            checker.problem(name, f"{full} is not a published resource type and API version")
            continue
        tf, resource = found
        if resource["name"] != full:
            checker.problem(name, f"{full} is spelled {resource['name']} in the published types")
        if entry.get("existing"):
            continue
        body = _unwrap(entry["config"])
        checker.check_object(tf, tf.at(resource["body"]), body, "", top=True)
    return checker.problems


def covered() -> list[str]:
    """The ``type@apiVersion`` names the copied files define."""
    return sorted(resource["name"] for _, resource in resource_types().values())
