"""A rehearsal of the azd deploy path at the level of the azd environment file.

What azd does with this project, reduced to what decides the deployment: the environment
file ``.azure/<env>/.env`` (``KEY="value"`` lines, set by ``azd env set``), the parameters
``infra/main.parameters.json`` resolves from it (``${VAR}`` / ``${VAR=default}``), the
outputs a provision writes back, and the hooks ``azure.yaml`` declares, which run as real
shell scripts with the environment's values in their environment and ``azd`` on their PATH.
That ``azd`` is this module (``python -m tests.support.azd_rehearsal``): ``env set``,
``env get-value`` and ``provision`` act on the same files. Azure itself is reduced to one
fact the two-pass deployment exists for: Event Grid validates an Azure Function
destination (and the action group reads its function's key), so a provision with
``wireEvents=true`` fails while the functions are not deployed.

Used by tests/unit/test_deploy_path.py; docs/operations.md's "With azd, step by step" follows it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)(?:=([^}]*))?\}")


class DeploymentError(RuntimeError):
    pass


def read_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        if "=" not in line or line.lstrip().startswith("#"):
            continue
        key, value = line.split("=", 1)
        out[key.strip()] = json.loads(value) if value.startswith('"') else value
    return out


def write_env_file(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={json.dumps(v)}\n" for k, v in sorted(values.items())))


def resolve_parameters(values: dict[str, str], root: Path = ROOT) -> dict[str, str]:
    """main.parameters.json with the environment's values substituted, as azd does."""
    params = json.loads((root / "infra" / "main.parameters.json").read_text())["parameters"]
    out = {}
    for name, entry in params.items():
        out[name] = _PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or (m.group(2) or ""), entry["value"])
    return out


def hook_scripts(root: Path = ROOT) -> dict[str, str]:
    """azure.yaml's hooks: name -> the POSIX script it runs."""
    hooks: dict[str, str] = {}
    current = None
    in_hooks = posix = False
    for line in (root / "azure.yaml").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        text = line.strip()
        if indent == 0:
            in_hooks = text == "hooks:"
        elif in_hooks and indent == 2 and text.endswith(":"):
            current, posix = text[:-1], False
        elif in_hooks and indent == 4:
            posix = text == "posix:"
        elif in_hooks and posix and current and text.startswith("run:"):
            hooks[current] = text.split(":", 1)[1].strip()
    return hooks


@dataclass
class Provision:
    parameters: dict[str, str]


@dataclass
class Rehearsal:
    """One azd project directory and its environment, with a fake Azure."""

    workdir: Path
    env_name: str = "patchwatch-rehearsal"
    disabled_hooks: set[str] = field(default_factory=set)

    @property
    def env_file(self) -> Path:
        return self.workdir / ".azure" / self.env_name / ".env"

    @property
    def state_file(self) -> Path:
        return self.workdir / "azure-state.json"

    # -- the fake Azure ----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        if self.state_file.exists():
            return dict(json.loads(self.state_file.read_text()))
        return {"functions_deployed": False, "provisions": [], "events_wired": False}

    def _save(self, state: dict[str, Any]) -> None:
        self.state_file.write_text(json.dumps(state, indent=1))

    def provisions(self) -> list[Provision]:
        return [Provision(p) for p in self.state()["provisions"]]

    # -- azd commands ---------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return read_env_file(self.env_file)

    def env_set(self, key: str, value: str) -> None:
        values = self.env()
        values[key] = value
        write_env_file(self.env_file, values)

    def new(self, **settings: str) -> None:
        """``azd env new`` plus ``azd env set`` for each setting."""
        config = self.workdir / ".azure" / "config.json"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(json.dumps({"version": 1, "defaultEnvironment": self.env_name}))
        write_env_file(self.env_file, {"AZURE_ENV_NAME": self.env_name, **settings})

    def provision(self) -> Provision:
        params = resolve_parameters(self.env())
        state = self.state()
        wire = params["wireEvents"].lower() == "true"
        if wire and not state["functions_deployed"]:
            raise DeploymentError(
                "provision with wireEvents=true while the functions are not deployed: Event Grid cannot "
                "validate the Azure Function destination and the action group cannot read its key"
            )
        state["provisions"].append(params)
        state["events_wired"] = wire
        self._save(state)
        values = self.env()  # outputs of main.bicep that azd stores in the environment
        values.update(
            AZURE_RESOURCE_GROUP=params["resourceGroupName"] or f"rg-{params['environmentName']}",
            AZURE_FUNCTION_APP_NAME=f"func-{self.env_name}",
            EVENTS_WIRED="true" if wire else "false",
        )
        write_env_file(self.env_file, values)
        return Provision(params)

    def deploy(self) -> None:
        """``azd deploy``: the code is published, then the postdeploy hook runs."""
        state = self.state()
        state["functions_deployed"] = True
        self._save(state)
        self.run_hook("postdeploy")

    def up(self) -> None:
        """``azd up``: provision, then deploy (with its hooks)."""
        self.provision()
        self.deploy()

    def down(self) -> None:
        """``azd down``: the app's resource group (and with it the functions) is deleted."""
        state = self.state()
        state.update(functions_deployed=False, events_wired=False)
        self._save(state)
        self.run_hook("postdown")

    def run_hook(self, name: str) -> str:
        script = hook_scripts().get(name)
        if script is None or name in self.disabled_hooks:
            return ""
        bindir = self.workdir / "bin"
        bindir.mkdir(exist_ok=True)
        fake = bindir / "azd"
        fake.write_text(
            "#!/bin/sh\n"
            f"exec {shlex.quote(sys.executable)} -m tests.support.azd_rehearsal "
            f'{shlex.quote(str(self.workdir))} {shlex.quote(self.env_name)} "$@"\n'
        )
        fake.chmod(0o755)
        env = {**os.environ, **self.env(), "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
        env["PYTHONPATH"] = str(ROOT)
        done = subprocess.run(
            ["sh", str(ROOT / script)], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise DeploymentError(f"hook {name} failed ({done.returncode}): {done.stdout}{done.stderr}")
        return done.stdout


def main(argv: list[str]) -> int:
    """The ``azd`` the hooks call: ``env set K V``, ``env get-value K``, ``provision``."""
    workdir, env_name, *args = argv
    rehearsal = Rehearsal(Path(workdir), env_name)
    if args[:2] == ["env", "set"] and len(args) == 4:
        rehearsal.env_set(args[2], args[3])
        return 0
    if args[:2] == ["env", "get-value"] and len(args) == 3:
        print(rehearsal.env().get(args[2], ""))
        return 0
    if args[:1] == ["provision"]:
        try:
            rehearsal.provision()
        except DeploymentError as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            return 1
        return 0
    print(f"azd rehearsal: unsupported command {args}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
