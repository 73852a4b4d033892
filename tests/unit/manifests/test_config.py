"""The config and runbooks the cluster gets are ones the daemon accepts.

The ConfigMap's config is written where the pod sees it and loaded with the daemon's
own ``load_settings`` (with the Deployment's environment overrides applied), then
checked with ``autonomic config check``; the runbooks ConfigMap loads with the
runbook loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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
