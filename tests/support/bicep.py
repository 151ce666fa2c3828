"""Static checks of ``infra/`` and a parsed view of the Bicep for tests.

``python -m tests.support.bicep [infra]`` (run by ``make infra-check`` inside ``.venv-infra``):

1. **Syntax**: every ``.bicep`` file parses with tree-sitter-bicep (a full Bicep grammar)
   without error nodes, and with pycep, the parser checkov itself uses. checkov skips a
   file it cannot parse with only a debug log, so the second parse is what guarantees the
   scan below saw every file.
2. **Types**: every resource type and API version, every property name written, every
   literal where the type allows only certain values, against Bicep's published type
   definitions (:mod:`tests.support.bicep_types`; what is and is not checked is said there).
3. **Scan**: checkov over ``infra/`` (Bicep framework, offline); every failed check fails
   the run; skips must carry a reason in place (``//checkov:skip=CKV_...:reason``).

The last line printed is one JSON object with the counts.

:func:`parse` gives tests pycep's JSON view of one file (pycep comes with requirements-dev).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

_SKIP = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")


@cache
def _pycep() -> Any:
    from pycep import BicepParser

    return BicepParser()


@cache
def parse(path: Path) -> dict[str, Any]:
    """pycep's JSON of one Bicep file (parameters, variables, resources, modules, outputs)."""
    return dict(_pycep().parse(file_path=path))


def bicep_files(folder: Path = INFRA) -> list[Path]:
    return sorted(folder.rglob("*.bicep"))


def syntax_errors(path: Path) -> list[str]:
    """Problems found by tree-sitter-bicep and by pycep; empty when the file is valid."""
    import tree_sitter_bicep
    from tree_sitter import Language, Parser

    source = path.read_bytes()
    tree = Parser(Language(tree_sitter_bicep.language())).parse(source)
    problems: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            row, col = node.start_point
            what = "missing " + node.type if node.is_missing else "unexpected input"
            text = source[node.start_byte : node.end_byte].decode(errors="replace").splitlines()
            problems.append(f"{path.name}:{row + 1}:{col + 1}: {what} {text[0][:60]!r}" if text else what)
        elif node.has_error:
            stack.extend(node.children)
    try:
        parse(path)
    except Exception as exc:  # pycep raises lark's errors and ValueError
        problems.append(f"{path.name}: pycep (checkov's parser) cannot parse it: {str(exc).splitlines()[0][:200]}")
    return problems


def unjustified_skips(path: Path) -> list[str]:
    """``checkov:skip`` comments without a reason after the check id."""
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = _SKIP.search(line)
        if m and not (m.group(2) or "").strip():
            out.append(f"{path.name}:{n}: skip of {m.group(1)} has no reason")
    return out


def run_checkov(folder: Path) -> dict[str, Any]:
    """checkov's JSON report of ``folder`` (Bicep only; no download from any platform)."""
    cmd = [
        sys.executable,
        "-m",
        "checkov.main",
        "--directory",
        str(folder),
        "--framework",
        "bicep",
        "--skip-download",
        "--compact",
        "--quiet",
        "--output",
        "json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if not done.stdout.strip():
        raise SystemExit(f"checkov printed no report (exit {done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    merged: dict[str, Any] = {"summary": {}, "failed": [], "skipped": []}
    for r in reports:
        for key, value in r.get("summary", {}).items():
            if isinstance(value, int):
                merged["summary"][key] = merged["summary"].get(key, 0) + value
        merged["failed"] += r.get("results", {}).get("failed_checks", [])
        merged["skipped"] += r.get("results", {}).get("skipped_checks", [])
    return merged


def main(argv: list[str]) -> int:
    folder = Path(argv[0]).resolve() if argv else INFRA
    files = bicep_files(folder)
    if not files:
        print(f"no .bicep files under {folder}")
        return 1
    problems = [p for f in files for p in syntax_errors(f) + unjustified_skips(f)]
    for p in problems:
        print(p)
    print(f"syntax: {len(files)} Bicep files, {len(problems)} problems (tree-sitter-bicep and pycep)")
    if problems:
        return 1

    from tests.support.bicep_types import check_file, covered

    type_problems = [p for f in files for p in check_file(f, parse(f))]
    for p in type_problems:
        print(f"TYPE {p}")
    resources = sum(len(parse(f).get("resources", {})) for f in files)
    print(
        f"types: {resources} resource declarations against {len(covered())} published resource types "
        f"(Azure/bicep-types-az), {len(type_problems)} problems"
    )
    if type_problems:
        return 1

    result = run_checkov(folder)
    for check in result["failed"]:
        where = f"{Path(check['file_path']).name}:{check['file_line_range'][0]}"
        print(f"FAILED {check['check_id']} {check['resource']} ({where}): {check['check_name']}")
    summary = result["summary"]
    counts = {k: summary.get(k, 0) for k in ("passed", "failed", "skipped", "parsing_errors", "resource_count")}
    counts["files"] = len(files)
    counts["type_problems"] = len(type_problems)
    ok = counts["failed"] == 0 and counts["parsing_errors"] == 0 and counts["resource_count"] > 0
    print(f"checkov: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    print(json.dumps({"infra_check": "ok" if ok else "failed", **counts}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
