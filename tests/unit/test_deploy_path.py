"""The deploy path, rehearsed: azd up, azd deploy, azd down, azd up again, with the real
hooks of azure.yaml acting on the azd environment file (tests/support/azd_rehearsal.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.azd_rehearsal import ROOT, DeploymentError, Rehearsal, hook_scripts, resolve_parameters

SUB = "5b4b650e-28b9-4790-b3ab-ddbd88d727c4"
CFG = f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.Maintenance/maintenanceConfigurations/sat-0200"


def fresh(tmp_path: Path, disabled_hooks: frozenset[str] = frozenset()) -> Rehearsal:
    r = Rehearsal(tmp_path, disabled_hooks=set(disabled_hooks))
    r.new(AZURE_LOCATION="westeurope", TARGET_SUBSCRIPTION_IDS=SUB, WATCHED_MAINTENANCE_CONFIGURATIONS=CFG)
    return r


def wiring(r: Rehearsal) -> list[str]:
    return [p.parameters["wireEvents"] for p in r.provisions()]


def test_up_deploy_down_up_wires_events_only_once_the_functions_exist(tmp_path: Path) -> None:
    r = fresh(tmp_path)
    r.up()  # provision (no wiring), deploy, postdeploy hook: WIRE_EVENTS=true, provision again
    assert wiring(r) == ["false", "true"]
    assert r.env()["WIRE_EVENTS"] == "true" and r.env()["EVENTS_WIRED"] == "true"
    assert all(p.parameters["targetSubscriptionIds"] == SUB for p in r.provisions())

    r.deploy()  # a code update: the hook sees WIRE_EVENTS=true and provisions nothing
    assert wiring(r) == ["false", "true"]

    r.down()  # postdown hook: the functions are gone, so is the wiring
    assert r.env()["WIRE_EVENTS"] == "false"
    assert r.state()["events_wired"] is False

    r.up()  # the reinstall: first provision without wiring, then the hook wires again
    assert wiring(r) == ["false", "true", "false", "true"]
    assert r.env()["EVENTS_WIRED"] == "true" and r.state()["events_wired"] is True


def test_without_the_postdown_hook_the_reinstall_fails_at_its_first_provision(tmp_path: Path) -> None:
    r = fresh(tmp_path, disabled_hooks=frozenset({"postdown"}))
    r.up()
    r.down()
    assert r.env()["WIRE_EVENTS"] == "true"  # what azd down alone leaves behind
    with pytest.raises(DeploymentError, match="wireEvents=true while the functions are not deployed"):
        r.up()


def test_later_provisions_keep_the_wiring(tmp_path: Path) -> None:
    r = fresh(tmp_path)
    r.up()
    r.env_set("TARGET_SUBSCRIPTION_IDS", f"{SUB},11111111-2222-3333-4444-555555555555")
    r.provision()  # the README's "add a subscription" step
    assert wiring(r) == ["false", "true", "true"]
    assert r.provisions()[-1].parameters["targetSubscriptionIds"].endswith("555555555555")


def test_a_fresh_environment_defaults_to_no_wiring_and_the_hooks_exist() -> None:
    assert resolve_parameters({"AZURE_ENV_NAME": "x", "AZURE_LOCATION": "y"})["wireEvents"] == "false"
    hooks = hook_scripts()
    assert set(hooks) == {"postdeploy", "postdown"}
    for script in hooks.values():
        path = ROOT / script
        assert path.exists() and path.with_suffix(".ps1").exists(), script


def test_the_operations_guide_describes_the_same_path() -> None:
    readme = (ROOT / "docs" / "operations.md").read_text()
    section = readme.split("### With azd, step by step", 1)[1].split("\n### ", 1)[0]
    for step in ("postdeploy", "postdown", "wire-events.sh", "reset-wiring.sh", "WIRE_EVENTS", "azd down"):
        assert step in section, f"docs/operations.md's azd steps do not mention {step}"
