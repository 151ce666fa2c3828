"""The `plan` and `windows` commands and their machine contracts."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.cli import main
from shared.domain.sql_catalog import REGIONS

ROOT = Path(__file__).resolve().parents[2]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_plan_json_contract(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PATCH_OFFSET_DAYS", raising=False)
    monkeypatch.delenv("BASELINE_MONTHS", raising=False)
    assert run_json(capsys, "plan", "--month", "2026-04") == {
        "month": "2026-04",
        "patch_tuesday": "2026-04-14",
        "scheduled_date": "2026-04-14",
        "release_utc": "2026-04-14T17:00:00Z",
        "cycle_kind": "planned-baseline",
        "reboot_expected": True,
        "install_deadline_utc": "2026-05-14T17:00:00Z",
    }


def test_plan_options_and_environment_fallback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = run_json(capsys, "plan", "--month", "2026-05", "--unplanned-baseline", "2026-05", "--offset-days", "4")
    assert isinstance(out, dict)
    assert (out["cycle_kind"], out["reboot_expected"], out["scheduled_date"]) == (
        "unplanned-baseline",
        True,
        "2026-05-16",
    )
    monkeypatch.setenv("BASELINE_MONTHS", "5")
    monkeypatch.setenv("PATCH_OFFSET_DAYS", "-2")
    out = run_json(capsys, "plan", "--month", "2026-05")
    assert isinstance(out, dict)
    assert (out["cycle_kind"], out["scheduled_date"]) == ("planned-baseline", "2026-05-10")
    out = run_json(capsys, "plan", "--month", "2026-05", "--baseline-months", "1,4,7,10")
    assert isinstance(out, dict)
    assert out["cycle_kind"] == "hotpatch"


def test_plan_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--month", "2026-03"]) == 0
    out = capsys.readouterr().out
    assert "hotpatch month" in out and "2026-03-10T17:00:00Z" in out and "Reboot expected      no" in out


def test_plan_bad_input_exits_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["plan", "--month", "2026-13"])
    assert exit_.value.code == 2
    assert "month must be 1..12" in capsys.readouterr().err
    assert main(["plan", "--month", "2026-04", "--offset-days", "40"]) == 2
    assert "PATCH_OFFSET_DAYS='40'" in capsys.readouterr().err


def test_windows_json_contract_across_dst(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "windows", "--config", "SQL_EastUS_DB_1", "--from", "2026-03-01", "--to", "2026-03-15")
    assert isinstance(out, list)
    assert len(out) == 8  # Mon-Thu of two weeks
    assert out[0] == {
        "start_utc": "2026-03-03T03:00:00Z",
        "end_utc": "2026-03-03T11:00:00Z",
        "start_local": "2026-03-02T22:00:00-05:00",
        "end_local": "2026-03-03T06:00:00-05:00",
        "time_zone": "America/New_York",
    }
    assert out[-1]["start_utc"] == "2026-03-13T02:00:00Z"  # after the change: EDT
    assert out[-1]["start_local"] == "2026-03-12T22:00:00-04:00"


def test_windows_range_is_local_from_inclusive_to_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(
        capsys, "windows", "--config", "SQL_AustraliaEast_DB_2", "--from", "2026-04-03", "--to", "2026-04-05"
    )
    assert isinstance(out, list)
    assert [w["start_local"] for w in out] == ["2026-04-03T22:00:00+11:00", "2026-04-04T22:00:00+11:00"]
    assert out[1]["end_local"] == "2026-04-05T06:00:00+10:00"  # nine hours: Sydney falls back


def test_windows_with_recur(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(
        capsys,
        "windows",
        "--recur",
        "Month Second Tuesday Offset4",
        "--start",
        "2026-01-01 02:00",
        "--duration",
        "03:55",
        "--time-zone",
        "W. Europe Standard Time",
        "--from",
        "2026-03-01",
        "--to",
        "2026-05-01",
    )
    assert isinstance(out, list)
    assert [(w["start_local"], w["end_local"]) for w in out] == [
        ("2026-03-14T02:00:00+01:00", "2026-03-14T05:55:00+01:00"),
        ("2026-04-18T02:00:00+02:00", "2026-04-18T05:55:00+02:00"),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["windows", "--config", "SQL_Atlantis_DB_1", "--from", "2026-03-01", "--to", "2026-03-02"], "'Atlantis'"),
        (
            [
                "windows",
                "--recur",
                "Week Funday",
                "--start",
                "2026-01-01 02:00",
                "--duration",
                "02:00",
                "--time-zone",
                "UTC",
                "--from",
                "2026-03-01",
                "--to",
                "2026-03-02",
            ],
            "'Funday'",
        ),
        (
            ["windows", "--recur", "Day", "--from", "2026-03-01", "--to", "2026-03-02"],
            "--start, --duration, --time-zone",
        ),
        (["windows", "--config", "SQL_EastUS_DB_1", "--from", "2026-03-05", "--to", "2026-03-01"], "before --from"),
    ],
)
def test_windows_errors(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_windows_for_every_catalog_region(capsys: pytest.CaptureFixture[str]) -> None:
    for region in REGIONS:
        kind = "DB" if region.databases else "MI"
        out = run_json(
            capsys,
            "windows",
            "--config",
            f"SQL_{region.config_token}_{kind}_2",
            "--from",
            "2026-01-01",
            "--to",
            "2027-01-01",
        )
        assert isinstance(out, list)
        assert len(out) in (156, 157), region.display_name  # Fri-Sun of every week in a year
        assert all(w["start_local"][11:16] == "22:00" and w["end_local"][11:16] == "06:00" for w in out)


def test_module_entry_point_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "plan", "--month", "2035-12", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(done.stdout)["patch_tuesday"] == "2035-12-11"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_counts_on_a_terminal_and_is_silent_in_a_pipe() -> None:
    from shared.commands import progress

    terminal, pipe = _Terminal(), io.StringIO()
    assert list(progress(["a", "b", "c"], "replaying files", stream=terminal)) == ["a", "b", "c"]
    assert list(progress(["a", "b", "c"], "replaying files", stream=pipe)) == ["a", "b", "c"]
    shown = terminal.getvalue()
    assert "\rreplaying files: 1/3" in shown and "\rreplaying files: 3/3" in shown
    assert shown.endswith("\r")  # the line is cleared: what follows starts clean
    assert pipe.getvalue() == ""


def test_long_cells_wrap_instead_of_being_cut(capsys: pytest.CaptureFixture[str]) -> None:
    from shared.commands import print_table

    message = "vm-web-03 has not taken the baseline: " + "KB5062553 " * 20
    print_table(("kind", "message"), [("baseline-missed", message)], wrap={1: 40})
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= len("baseline-missed") + 2 + 40 for line in lines)
    assert " ".join(line[17:].strip() for line in lines[2:]) == message.strip()
