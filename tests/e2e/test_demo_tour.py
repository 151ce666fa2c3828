"""The demo can be explored: ``make demo``'s own command, then every command it prints at the
end, run as printed in a shell, against what the demo stored. One demo run tells one story:
the tables it shows, the report it writes and the commands it suggests count the same things."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shared.adapters.azurite import wait_port
from tests.support.azurite import free_port

ROOT = Path(__file__).resolve().parents[2]


def _closed_store() -> str:
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        f"TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"
    )


@pytest.mark.azurite
def test_the_commands_the_demo_prints_run_against_what_it_stored(tmp_path: Path) -> None:
    data = tmp_path / "azurite"
    env = {
        **os.environ,
        "AzureWebJobsStorage": _closed_store(),
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
    assert commands[0].endswith("&") and "azurite" in commands[0]

    # Azurite as printed (the standard ports when they were free, else the ones the demo used),
    # then the rest of the lines, in one shell, as a user pastes them.
    env["AzureWebJobsStorage"] = "UseDevelopmentStorage=true"
    port = int(m[1]) if (m := re.search(r"--tablePort (\d+)", commands[0])) else 10002
    rest = "\n".join(commands[1:]).replace(".venv/bin/python", sys.executable)
    azurite = subprocess.Popen(
        ["bash", "-c", commands[0].rstrip("&").split("#")[0].replace("npm run azurite", _npm_azurite(data))],
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


def _npm_azurite(data: Path) -> str:
    """``npm run azurite`` is ``azurite ... --location .azurite``; the test's data folder is elsewhere."""
    script = json.loads((ROOT / "package.json").read_text())["scripts"]["azurite"]
    return f"{ROOT / 'node_modules' / '.bin'}/{script.replace('--location .azurite', f'--location {data}')}"


def _row(text: str, label: str) -> str:
    match = re.search(rf"^{re.escape(label)}\s+(\S+)", text, re.MULTILINE)
    assert match, f"{label!r} not in:\n{text}"
    return match[1]
