"""Every manifest validates offline against the Kubernetes OpenAPI schemas, strictly.

``kubernetes-validate`` ships the JSON schemas of each Kubernetes release; strict mode
refuses unknown fields, so a misspelt key fails here rather than being dropped by the
API server. The version is pinned to the one the kind suite runs (tests/e2e/kind.sh).
"""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from tests.unit.manifests.conftest import BASE, REPO
from tests.unit.manifests.kustomize import Obj

KUBERNETES_VERSION = "1.32.0"
SAMPLE = REPO / "tests" / "e2e" / "sample"


def _validate(obj: Obj) -> None:
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def _name(obj: Obj) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def test_the_pinned_version_is_shipped_by_kubernetes_validate() -> None:
    from kubernetes_validate.utils import all_versions  # type: ignore[import-untyped]

    assert KUBERNETES_VERSION in all_versions()
    kind_script = (REPO / "tests" / "e2e" / "kind.sh").read_text(encoding="utf-8")
    major_minor = KUBERNETES_VERSION.rsplit(".", 1)[0]
    assert f"kindest/node:v{major_minor}." in kind_script


def test_every_object_of_the_base_validates_strictly(base: list[Obj]) -> None:
    kinds = {o["kind"] for o in base}
    assert kinds >= {
        "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
        "RoleBinding", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget",
        "NetworkPolicy",
    }  # fmt: skip
    for obj in base:
        try:
            _validate(obj)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{_name(obj)}: {path}: {exc.message}")


def test_the_e2e_overlay_and_sample_validate(overlay: list[Obj]) -> None:
    sample = [o for f in sorted(SAMPLE.glob("*.yaml")) if f.name != "broken-patch.yaml"
              for o in yaml.safe_load_all(f.read_text(encoding="utf-8")) if o]  # fmt: skip
    assert {o["kind"] for o in sample} == {"Namespace", "Deployment"}
    for obj in [*overlay, *sample]:
        _validate(obj)


def test_the_example_secret_validates_and_is_not_applied(base: list[Obj]) -> None:
    example = yaml.safe_load((BASE / "secret.example.yaml").read_text(encoding="utf-8"))
    _validate(example)
    assert example["metadata"]["name"] == "autonomic-slack"
    assert not [o for o in base if o["kind"] == "Secret"], "the base must not ship a Secret"


def test_the_grafana_dashboard_configmap_is_labelled_for_the_sidecar(base: list[Obj]) -> None:
    maps = [o for o in base if o["kind"] == "ConfigMap"
            and o["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]  # fmt: skip
    assert [m["metadata"]["name"] for m in maps] == ["autonomic-grafana-dashboard"]
    shipped = (BASE / "grafana" / "autonomic-dashboard.json").read_text(encoding="utf-8")
    assert maps[0]["data"] == {"autonomic-dashboard.json": shipped}


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("spec", "template", "spec", "containers", 0, "securityContex"), {}),  # typo
        (("spec", "replicas"), "two"),
        (("spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"), "8080"),
    ],
    ids=["unknown-field", "wrong-type", "string-port"],
)
def test_strict_validation_catches_mistakes(
    base: list[Obj], where: tuple[str | int, ...], value: object
) -> None:
    broken = copy.deepcopy(next(o for o in base if o["kind"] == "Deployment"))
    holder: Any = broken
    for step in where[:-1]:
        holder = holder[step]
    holder[where[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(broken)


def test_every_yaml_file_in_manifests_is_listed_or_is_the_example() -> None:
    """A manifest file nobody lists would never be applied: list it, or name it example."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text(encoding="utf-8"))
    resources = set(kustomization["resources"])
    for path in sorted(BASE.glob("*.yaml")):
        if path.name in {"kustomization.yaml", "secret.example.yaml"}:
            continue
        assert path.name in resources, f"manifests/{path.name} is not in kustomization.yaml"
    assert "secret.example.yaml" not in resources
