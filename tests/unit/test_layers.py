"""The layers stay as drawn in docs/architecture.md, and ``shared/`` has no import circle.

Every module's imports are read from its source (``ast``, so imports inside functions and
under ``TYPE_CHECKING`` count too: a lazy import is still a dependency):

- the domain imports no adapter, service, presentation, command, entry point or Azure SDK;
- a service imports no adapter (it knows the ports in ``shared/services/ports/``);
- an adapter imports from the services layer only the ports and their value types, and the
  ports import nothing above the domain;
- no module of ``shared/`` reaches itself again through its imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ENTRY = ("shared.commands", "shared.cli", "shared.runtime", "functions", "function_app")
PORTS = "shared.services.ports"


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # the module, or the package's submodule when ``from pkg import submodule``
    line: int

    def where(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    files = [ROOT / "function_app.py", *sorted((ROOT / "shared").rglob("*.py")), *(ROOT / "functions").rglob("*.py")]
    return {module_name(p): p for p in files}


MODULES = sources()


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(name: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, name, path.name == "__init__.py")
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                yield Import(name, sub if sub in MODULES else module, node.lineno)


ALL = sorted({i for name, path in MODULES.items() for i in imports_of(name, path)}, key=Import.where)


def within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_imports_are_read_including_lazy_ones() -> None:
    # The reader must see what the test guards: a lazy import inside a function body and the
    # submodule of ``from package import submodule`` (runtime's adapters are all imported lazily).
    seen = {(i.importer, i.imported) for i in ALL}
    assert ("shared.runtime", "shared.adapters.arm") in seen
    assert ("shared.adapters.arm", "shared.adapters.identity") in seen
    assert len(MODULES) > 50


def test_the_domain_imports_no_adapter_service_entry_point_or_sdk() -> None:
    bad = [
        i.where()
        for i in ALL
        if within(i.importer, "shared.domain")
        and within(
            i.imported, "shared.adapters", "shared.services", "shared.presentation", "shared.config", *ENTRY, "azure"
        )
    ]
    assert bad == []


def test_services_know_ports_never_adapters() -> None:
    bad = [
        i.where()
        for i in ALL
        if within(i.importer, "shared.services") and within(i.imported, "shared.adapters", *ENTRY, "azure")
    ]
    assert bad == []


def test_adapters_import_only_ports_from_the_services_layer() -> None:
    bad = [
        i.where()
        for i in ALL
        if within(i.importer, "shared.adapters")
        and (within(i.imported, "shared.services", *ENTRY) and not within(i.imported, PORTS))
    ]
    assert bad == []


def test_ports_stand_on_the_domain_alone() -> None:
    # An adapter that imports a port must not pull a use case in through it.
    bad = [
        i.where()
        for i in ALL
        if within(i.importer, PORTS)
        and within(i.imported, "shared", "functions", "function_app", "azure")
        and not within(i.imported, PORTS, "shared.domain", "shared.limits")
    ]
    assert bad == []


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_shared() -> None:
    edges: dict[str, set[str]] = {}
    for i in ALL:
        inside = within(i.importer, "shared") and i.imported in MODULES and within(i.imported, "shared")
        if inside and i.imported != i.importer:
            edges.setdefault(i.importer, set()).add(i.imported)
    assert cycles(edges) == []
