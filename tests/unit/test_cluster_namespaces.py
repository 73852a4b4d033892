"""``cluster.namespaces`` and ``cluster.excludeNamespaces`` may not name the same
namespace: the config is refused, naming both fields and the namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.errors import ConfigError
from agent.settings import ClusterSettings, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "autonomic.yaml"
    path.write_text(text)
    return path


def test_a_namespace_listed_and_excluded_by_default_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        ClusterSettings(namespaces=("shop", "kube-system"))
    [error] = caught.value.errors()
    message = str(error["msg"])
    assert "cluster.namespaces" in message and "cluster.excludeNamespaces" in message
    assert "lists kube-system, which" in message and "shop" not in message


def test_overlap_with_a_configured_exclusion_names_every_namespace_in_both() -> None:
    with pytest.raises(ValidationError, match=r"lists b, c, which cluster\.excludeNamespaces"):
        ClusterSettings.model_validate(
            {"namespaces": ["a", "b", "c", "b"], "excludeNamespaces": ["c", "b", "z"]}
        )


def test_the_config_file_error_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, "cluster:\n  namespaces: [shop, kube-public]\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert str(path) in message
    assert "cluster" in message and "cluster.namespaces" in message
    assert "kube-public" in message


def test_disjoint_namespaces_and_exclusions_are_accepted(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, "cluster:\n  namespaces: [shop, kube-system]\n  excludeNamespaces: []\n")
    )
    assert settings.cluster.namespaces == ("shop", "kube-system")
    assert settings.cluster.exclude_namespaces == ()
    defaults = ClusterSettings(namespaces=("shop", "billing"))
    assert defaults.namespaces == ("shop", "billing")
    assert "kube-system" in defaults.exclude_namespaces
