"""The demo can be explored: ``make demo``'s own command, then every command it prints at the
end, run as printed in a shell, against what the demo stored. One demo run tells one story:
the tables it shows, the report it writes and the commands it suggests count the same things."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shared.adapters.azurite import wait_port
from tests.support.azurite import closed_connection, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.azurite
def test_the_commands_the_demo_prints_run_against_what_it_stored(tmp_path: Path) -> None:
    data = tmp_path / "azurite"
    env = {
        **os.environ,
        "AzureWebJobsStorage": closed_connection(),
        "OUTCOMES_STORAGE": "",
        "ALLOWED_SUBSCRIPTION_IDS": "",
        "OUTCOMES_TABLE_PREFIX": "pw",
    }
    demo = subprocess.run(
        [sys.executable, "-m", "shared.cli", "demo", "--data", str(data)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    summary = demo.stdout.split("== Compliance report 2026-10 ==")[1]
    tour = demo.stdout.split("== Explore what the demo stored ==")[1].strip().splitlines()
    commands = [line.strip() for line in tour]
    assert commands[0].split("#")[0].strip().endswith("&") and "azurite" in commands[0]

    # Azurite as printed (the standard ports when they were free, else the ones the demo used),
    # then the rest of the lines, in one shell, as a user pastes them.
    env["AzureWebJobsStorage"] = "UseDevelopmentStorage=true"
    port = int(m[1]) if (m := re.search(r"--tablePort (\d+)", commands[0])) else 10002
    rest = "\n".join(commands[1:]).replace(".venv/bin/python", sys.executable)
    azurite = subprocess.Popen(
        ["bash", "-c", commands[0].split("#")[0].strip().rstrip("&")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert wait_port(port, 60), "the printed Azurite command did not open its table port"
        shell = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", rest],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        os.killpg(azurite.pid, signal.SIGTERM)
        azurite.wait(30)
    assert shell.returncode == 0, shell.stderr
    out = shell.stdout
    # the same counts as the demo's own report
    for label in ("VMs in scope", "maintenance runs", "SQL maintenance notices", "health dips"):
        assert _row(out, label) == _row(summary, label), label
    assert "Cycle 2026-10: round 0 (fanned-out), 4 VMs in the roster" in out
    assert "Wrote out/report-2026-10.html" in out
    assert "patch-failed" in out  # the replayed failed run's alert


def _row(text: str, label: str) -> str:
    match = re.search(rf"^{re.escape(label)}\s+(\S+)", text, re.MULTILINE)
    assert match, f"{label!r} not in:\n{text}"
    return match[1]


@pytest.mark.azurite
def test_npm_run_azurite_starts_and_keeps_its_data_in_the_ignored_folder() -> None:
    """The README's ``npm run azurite`` (here on free ports, so it cannot meet another Azurite)."""
    ports = [free_port(), free_port(), free_port()]
    proc = subprocess.Popen(
        [
            "npm",
            "run",
            "azurite",
            "--",
            "--blobPort",
            str(ports[0]),
            "--queuePort",
            str(ports[1]),
            "--tablePort",
            str(ports[2]),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert wait_port(ports[2], 60), "npm run azurite did not start"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "error" not in out.lower(), out
    assert (ROOT / ".azurite" / "__azurite_db_table__.json").is_file()
    ignored = subprocess.run(["git", "check-ignore", "-q", ".azurite/"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, ".azurite/ must stay out of git"
