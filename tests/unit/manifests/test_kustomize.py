"""The test renderer agrees with kustomize, and refuses what it does not implement."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.manifests.conftest import BASE, E2E_OVERLAY
from tests.unit.manifests.kustomize import KustomizeError, Obj, configmap_hash, render


def _key(obj: Obj) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace", ""), meta["name"]


def _kubectl_kustomize(directory: Path) -> list[Obj]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [o for o in yaml.safe_load_all(out) if o]


@pytest.mark.parametrize("directory", [BASE, E2E_OVERLAY], ids=["base", "e2e-overlay"])
def test_renderer_matches_kubectl_kustomize(directory: Path) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed: cannot compare with `kubectl kustomize`")
    ours = {_key(o): o for o in render(directory)}
    theirs = {_key(o): o for o in _kubectl_kustomize(directory)}
    assert sorted(ours) == sorted(theirs)
    for key, obj in ours.items():
        assert obj == theirs[key], f"{key} differs from kubectl kustomize"


def test_the_hash_suffix_depends_on_the_content_only() -> None:
    # Known value from `kubectl kustomize` 5.5 for a generator with `literals: [a=b]`.
    one: Obj = {"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}}
    assert configmap_hash(one) == "4h2mbtbbt6"
    renamed = {**one, "metadata": {"name": "y"}}
    assert configmap_hash(renamed) == configmap_hash(one)
    changed = {**one, "data": {"a": "c"}}
    assert configmap_hash(changed) != configmap_hash(one)


def test_generated_config_names_carry_the_hash_and_the_deployment_follows(
    base: list[Obj],
) -> None:
    config = next(o for o in base if o["kind"] == "ConfigMap"
                  and o["metadata"]["name"].startswith("autonomic-config-"))  # fmt: skip
    assert config["metadata"]["name"] == f"autonomic-config-{configmap_hash(config)}"
    deployment = next(o for o in base if o["kind"] == "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == config["metadata"]["name"]


def test_overlay_changes_the_image_and_the_config(base: list[Obj], overlay: list[Obj]) -> None:
    def image(objects: list[Obj]) -> str:
        deployment = next(o for o in objects if o["kind"] == "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        return str(container["image"])

    assert image(base) == "autonomic:0.1.0"
    assert image(overlay) == "autonomic:e2e"
    names = {o["metadata"]["name"] for o in overlay if o["kind"] == "ConfigMap"}
    base_names = {o["metadata"]["name"] for o in base if o["kind"] == "ConfigMap"}
    assert len(names) == len(base_names) == 3
    assert len(names & base_names) == 2  # only the config changed


def test_unsupported_kustomize_features_are_refused(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\npatches: []\n")
    with pytest.raises(KustomizeError, match="does not implement patches"):
        render(tmp_path)


def test_missing_resources_are_reported(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [nowhere.yaml]\n")
    with pytest.raises(KustomizeError, match=r"resource nowhere\.yaml does not exist"):
        render(tmp_path)
