"""The config and runbooks the cluster gets are ones the daemon accepts.

The ConfigMap's config is written where the pod sees it and loaded with the daemon's
own ``load_settings`` (with the Deployment's environment overrides applied), then
checked with ``autonomic config check``; the runbooks ConfigMap loads with the
runbook loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.cli import main as autonomic
from agent.settings import load_settings
from remediation.loading import load_paths
from tests.unit.manifests.kustomize import Obj, only


def _container(objects: list[Obj]) -> dict[str, Any]:
    spec = only(objects, "Deployment", "autonomic")["spec"]["template"]["spec"]
    container: dict[str, Any] = spec["containers"][0]
    return container


def _mount(objects: list[Obj], root: Path) -> Path:
    """Write the ConfigMaps under ``root`` as the pod mounts them; return the config path."""
    container = _container(objects)
    config_path: str = container["args"][container["args"].index("--config") + 1]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    config = only(objects, "ConfigMap", "autonomic-config")
    target = root / config_path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(config["data"]["autonomic.yaml"], encoding="utf-8")
    runbooks = root / mounts["runbooks"].lstrip("/")
    runbooks.mkdir(parents=True, exist_ok=True)
    for name, text in only(objects, "ConfigMap", "autonomic-runbooks")["data"].items():
        (runbooks / name).write_text(text, encoding="utf-8")
    return target


def _pod_environment(objects: list[Obj], namespace: str) -> dict[str, str]:
    """The container's environment, with the downward API filled in as the kubelet would."""
    environ = {}
    for env in _container(objects)["env"]:
        if "value" in env:
            environ[env["name"]] = env["value"]
        else:
            field = env["valueFrom"]["fieldRef"]["fieldPath"]
            environ[env["name"]] = {
                "metadata.name": "autonomic-7d9c-abcde",
                "metadata.namespace": namespace,
            }[field]
    return environ


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_the_configmap_config_loads(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    objects: list[Obj] = request.getfixturevalue(which)
    namespace = only(objects, "Deployment", "autonomic")["metadata"]["namespace"]
    path = _mount(objects, tmp_path)
    settings = load_settings(path, _pod_environment(objects, namespace))
    assert settings.cluster.in_cluster is True
    assert settings.leader_election.enabled is True
    assert settings.leader_election.namespace == namespace
    assert settings.server.port == 8080
    assert settings.runbooks == (path.parent / "runbooks",)
    # The ledger file lives on the writable ledger volume.
    ledger_dir = "/var/lib/autonomic/"
    assert settings.ledger.url.startswith(f"sqlite:///{ledger_dir}")
    mounts = {m["mountPath"] for m in _container(objects)["volumeMounts"]}
    assert ledger_dir.rstrip("/") in mounts


def test_the_base_starts_safe(base: list[Obj], tmp_path: Path) -> None:
    settings = load_settings(_mount(base, tmp_path))
    assert settings.mode == "propose", "the shipped base must not act without approval"
    assert settings.slack.enabled is False  # until the user creates the Secret


def test_the_deployment_environment_names_real_settings(base: list[Obj], tmp_path: Path) -> None:
    """An override with a typo would be refused at start-up; catch it here instead."""
    path = _mount(base, tmp_path)
    settings = load_settings(path, _pod_environment(base, "elsewhere"))
    assert settings.leader_election.namespace == "elsewhere"


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_config_check_accepts_the_mounted_config(
    which: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    objects: list[Obj] = request.getfixturevalue(which)
    path = _mount(objects, tmp_path)
    assert autonomic(["config", "check", str(path)]) == 0
    assert f"{path}: OK" in capsys.readouterr().out


def test_the_runbooks_configmap_loads(base: list[Obj], tmp_path: Path) -> None:
    path = _mount(base, tmp_path)
    runbooks = load_paths([path.parent / "runbooks"])
    data = only(base, "ConfigMap", "autonomic-runbooks")["data"]
    assert len(runbooks) == len(data) > 0


def test_the_settings_the_config_offers_commented_out_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped config shows settings to turn on (Slack's secrets, the Alertmanager and
    canary tokens, an anomaly query, the read token) as comments. Uncommented, all at
    once, each must be a setting the daemon accepts, and each secret file one the Secret
    (``secret.example.yaml``) provides under the Deployment's mount."""
    import re

    from tests.unit.manifests.conftest import BASE

    text = (BASE / "config" / "autonomic.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    body = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    setting = re.compile(r"^(\s*)# (\s*(?:- )?[a-z][A-Za-z]*:(?: .*)?)$")
    offered = [
        (i, match) for i, line in enumerate(lines) if i >= body and (match := setting.match(line))
    ]
    assert len(offered) >= 10, [lines[i] for i, _ in offered]  # the pattern is not stale
    for i, match in offered:
        lines[i] = match.group(1) + match.group(2)
    path = tmp_path / "autonomic.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = load_settings(path)
    assert settings.canary.token is not None and settings.server.read_token is not None
    assert [query.name for query in settings.anomaly_queries] == ["http_error_ratio"]
    assert autonomic(["config", "check", str(path), "--runbooks", str(BASE / "runbooks")]) == 0
    capsys.readouterr()

    secret = yaml.safe_load((BASE / "secret.example.yaml").read_text(encoding="utf-8"))
    example = (BASE / "secret.example.yaml").read_text(encoding="utf-8")
    keys = set(secret["stringData"]) | set(re.findall(r"^  # ([a-z-]+): ", example, re.M))
    mount = "/var/run/secrets/autonomic/slack/"
    files = set(re.findall(r"\{file: " + re.escape(mount) + r"([a-z-]+)\}", "\n".join(lines)))
    assert files and files <= keys, files - keys
