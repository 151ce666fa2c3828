"""Sovereign clouds: the app finds its own storage in whichever cloud it runs, from the
settings infra/ deploys there, and never assumes the public cloud's storage suffix."""

from __future__ import annotations

import re

import pytest

from shared.adapters.outcome_store import outcomes_target
from shared.adapters.storage import app_storage_target
from shared.config import load_settings
from tests.support.bicep import INFRA, parse

# Storage DNS suffixes per cloud, as Bicep's environment().suffixes.storage gives them there
# (Azure/azure-cli src/azure-cli-core/azure/cli/core/cloud.py, storage_endpoint).
SUFFIXES = {
    "AzurePublicCloud": "core.windows.net",
    "AzureUSGovernment": "core.usgovcloudapi.net",
    "AzureChinaCloud": "core.chinacloudapi.cn",
}


def deployed_storage_settings(account: str, suffix: str) -> dict[str, str]:
    """The AzureWebJobsStorage__* settings functionApp.bicep deploys, evaluated for one cloud."""
    platform = parse(INFRA / "modules" / "functionApp.bicep")["variables"]["platformSettings"]["value"]
    out = {}
    for name, value in platform.items():
        if not name.startswith("AzureWebJobsStorage__") or not isinstance(value, str):
            continue
        uri = value.replace("${storageAccountName}", account).replace("${storageSuffix}", suffix)
        out[name] = uri.replace("${identityClientId}", "00000000-0000-0000-0000-000000000001")
    return out


@pytest.mark.parametrize("cloud", sorted(SUFFIXES))
def test_the_app_reaches_its_storage_in_every_cloud_from_what_infra_deploys(cloud: str) -> None:
    env = {**deployed_storage_settings("stpw", SUFFIXES[cloud]), "AZURE_CLOUD": cloud}
    assert "AzureWebJobsStorage__accountName" not in env, "public-cloud only: deploy the service URIs"
    assert not any("${" in v for v in env.values()), env
    target = app_storage_target(load_settings(env), env)
    assert target.uses_identity
    assert target.table_url == f"https://stpw.table.{SUFFIXES[cloud]}"
    assert target.queue_url == f"https://stpw.queue.{SUFFIXES[cloud]}"
    assert outcomes_target(load_settings(env), env) == target


@pytest.mark.parametrize("cloud", sorted(SUFFIXES))
def test_an_account_name_alone_takes_the_storage_suffix_of_azure_cloud(cloud: str) -> None:
    env = {"AzureWebJobsStorage__accountName": "stpw", "AZURE_CLOUD": cloud}
    target = app_storage_target(load_settings(env), env)
    assert target.table_url == f"https://stpw.table.{SUFFIXES[cloud]}"
    assert target.queue_url == f"https://stpw.queue.{SUFFIXES[cloud]}"
    outcomes = {"OUTCOMES_STORAGE__accountName": "stout", "OUTCOMES_STORAGE": "", "AZURE_CLOUD": cloud}
    # OUTCOMES_STORAGE names another account by URL or connection string; an account URL is kept as given.
    url = f"https://stout.table.{SUFFIXES[cloud]}"
    assert outcomes_target(load_settings({**outcomes, "OUTCOMES_STORAGE": url}), outcomes).table_url == url


def test_the_app_builds_no_public_cloud_storage_url_itself() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    hard_coded = [
        f"{p.relative_to(root)}:{n}"
        for folder in ("shared", "functions")
        for p in sorted((root / folder).rglob("*.py"))
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"\.(table|queue|blob)\.core\.windows\.net", line)
    ]
    assert hard_coded == []
