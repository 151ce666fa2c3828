"""The docs stay true: the README's five-minute tour runs as written on a fresh copy of the
repository, and every command line shown anywhere in the docs is one the command line
accepts (its sub-command and options exist and parse)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from shared.adapters.azurite import STANDARD_PORTS, ports_free, wait_port
from shared.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def tour() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    return bash_blocks(section)


def cli_lines() -> list[tuple[str, str]]:
    """Every ``python -m shared.cli ...`` line of every bash block (continuations joined)."""
    found = []
    for doc in DOCS:
        for block in bash_blocks(doc.read_text()):
            for raw in block.replace("\\\n", " ").splitlines():
                line = raw.split(" #", 1)[0].strip()
                if "-m shared.cli" in line and not line.startswith("#"):
                    found.append((doc.name, line))
    return found


def test_the_docs_show_command_lines() -> None:
    assert len(cli_lines()) >= 10
    assert len(tour()) == 2, "the tour is two bash blocks: make demo, then what it prints"


@pytest.mark.parametrize(("doc", "line"), cli_lines(), ids=lambda v: v if len(v) < 60 else v[:60])
def test_every_command_line_in_the_docs_parses(doc: str, line: str) -> None:
    words = shlex.split(line)
    args = words[words.index("shared.cli") + 1 :]
    args = [a for a in args if not a.startswith(("|", ">"))]
    if "|" in args:
        args = args[: args.index("|")]
    try:
        build_parser().parse_args(args)
    except SystemExit as exc:  # argparse's own refusal
        pytest.fail(f"{doc}: `{line}` is not a valid command line (argparse exit {exc.code})")


def _fresh_copy(dest: Path) -> None:
    """The working tree's tracked files (what a clone has), with the built environments linked."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)  # keeps mtimes, so make sees its setup as done
    for env in (".venv", "node_modules"):
        (dest / env).symlink_to(ROOT / env)


@pytest.mark.azurite
def test_the_five_minute_tour_runs_as_written_on_a_fresh_copy(tmp_path: Path) -> None:
    stamp = ROOT / "node_modules" / ".stamp-package-lock"
    if not stamp.exists() or stamp.stat().st_mtime < (ROOT / "package-lock.json").stat().st_mtime:
        pytest.skip("run `make setup` first: the tour must not reinstall the shared node_modules")
    if not ports_free(STANDARD_PORTS):
        pytest.skip("Azurite's standard ports are taken here; the tour starts its own Azurite on them")
    clone = tmp_path / "patch-watch"
    _fresh_copy(clone)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AzureWebJobsStorage", "OUTCOMES_STORAGE", "OUTCOMES_TABLE_PREFIX")
    }
    for inherited in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # under `make test`, a user's fresh shell
        env.pop(inherited, None)
    demo_block, explore_block = tour()

    demo = subprocess.run(["bash", "-euo", "pipefail", "-c", demo_block], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    printed = demo.stdout.split("== Explore what the demo stored ==", 1)[1].strip().splitlines()
    shown = [line for line in explore_block.strip().splitlines() if line.strip()]
    assert [p.strip() for p in printed] == [s.strip() for s in shown], (
        "the README's tour differs from what make demo prints"
    )

    first, rest = shown[0], "\n".join(shown[1:])
    azurite = subprocess.Popen(["bash", "-c", first.split("#", 1)[0].strip().rstrip("&")], cwd=clone, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        assert wait_port(STANDARD_PORTS[2], 60)
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", rest], cwd=clone, env=env, capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip
    finally:
        os.killpg(azurite.pid, signal.SIGTERM)
        azurite.wait(30)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "maintenance runs         7" in done.stdout
    assert (clone / "out" / "report-2026-10.html").is_file()
