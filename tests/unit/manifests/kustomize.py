"""A small, strict kustomize renderer: enough for ``manifests/`` and its e2e overlay.

The kustomize binary is not available everywhere the tests run (no Debian package), so
the tests render the base themselves. This supports exactly the features the base and
the overlay use, and refuses any other kustomization field by name, so a new feature
in ``manifests/`` fails loudly here instead of being silently ignored:

* ``resources`` (YAML files and kustomization directories), ``namespace``;
* ``configMapGenerator`` (``files`` as ``key=path`` or ``path``, ``literals``,
  ``behavior`` create/replace/merge, ``options``) and ``generatorOptions``;
* generated names with kustomize's content-hash suffix, and the rewriting of
  references to them in pod templates;
* ``images`` (``newName``, ``newTag``, ``digest``).

Where ``kubectl`` is installed, a test checks this renderer against ``kubectl
kustomize`` object by object, including the hash suffixes.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "StorageClass",
        "PersistentVolume",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)
SUPPORTED_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "namespace",
        "resources",
        "configMapGenerator",
        "generatorOptions",
        "images",
    }
)
POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})


class KustomizeError(Exception):
    """The kustomization uses something this renderer does not implement, or is wrong."""


@dataclass
class _Generated:
    """A generated ConfigMap, with its name before any hash suffix."""

    obj: Obj
    hashed: bool


@dataclass
class _Build:
    plain: list[Obj] = field(default_factory=list)
    generated: dict[str, _Generated] = field(default_factory=dict)


def render(directory: Path) -> list[Obj]:
    """Render a kustomization directory to the list of objects ``kubectl apply -k`` sends."""
    build = _build(directory.resolve())
    renames: dict[str, str] = {}
    objects = [copy.deepcopy(o) for o in build.plain]
    for original, generated in build.generated.items():
        obj = copy.deepcopy(generated.obj)
        if generated.hashed:
            obj["metadata"]["name"] = f"{original}-{configmap_hash(obj)}"
        renames[original] = obj["metadata"]["name"]
        objects.append(obj)
    for obj in objects:
        if obj["kind"] in POD_TEMPLATE_KINDS:
            _rename_configmap_refs(obj["spec"]["template"]["spec"], renames)
    return objects


def configmap_hash(obj: Obj) -> str:
    """Kustomize's name suffix for a ConfigMap: sha256 of a canonical JSON, 10 chars.

    The JSON is Go's ``encoding/json`` of {kind, name, data[, binaryData]} (sorted keys,
    HTML characters escaped); the suffix swaps a few characters so that it never reads
    as a word or a number. Kustomize 5 hashes generated maps before their name is set,
    so the name is empty: the suffix depends on the content only (checked against
    ``kubectl kustomize`` 5.5 in test_kustomize.py).
    """
    encoded: Obj = {"kind": "ConfigMap", "name": "", "data": obj["data"]}
    if obj.get("binaryData"):
        encoded["binaryData"] = obj["binaryData"]
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _build(directory: Path) -> _Build:
    path = directory / "kustomization.yaml"
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise KustomizeError(f"{path}: cannot read: {exc.strerror or exc}") from None
    unknown = sorted(set(spec) - SUPPORTED_FIELDS)
    if unknown:
        raise KustomizeError(
            f"{path}: this test renderer does not implement {', '.join(unknown)}; "
            "extend tests/unit/manifests/kustomize.py or keep the base simpler"
        )
    build = _Build()
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            child = _build(target)
            build.plain.extend(child.plain)
            for name, generated in child.generated.items():
                if name in build.generated:
                    raise KustomizeError(f"{path}: ConfigMap {name} is generated twice")
                build.generated[name] = generated
        elif target.is_file():
            build.plain.extend(_load_objects(target))
        else:
            raise KustomizeError(f"{path}: resource {entry} does not exist")
    defaults = spec.get("generatorOptions", {})
    for generator in spec.get("configMapGenerator", []):
        _generate(directory, path, generator, defaults, build)
    namespace = spec.get("namespace")
    if namespace:
        for obj in [*build.plain, *(g.obj for g in build.generated.values())]:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
    for image in spec.get("images", []):
        for obj in build.plain:
            if obj["kind"] in POD_TEMPLATE_KINDS:
                _set_image(obj["spec"]["template"]["spec"], image)
    return build


def _load_objects(path: Path) -> list[Obj]:
    objects = [o for o in yaml.safe_load_all(path.read_text(encoding="utf-8")) if o]
    for obj in objects:
        if not isinstance(obj, dict) or "kind" not in obj or "metadata" not in obj:
            raise KustomizeError(f"{path}: every document must be a Kubernetes object")
    return objects


def _generate(directory: Path, path: Path, generator: Obj, defaults: Obj, build: _Build) -> None:
    unknown = sorted(set(generator) - {"name", "behavior", "files", "literals", "options"})
    if unknown:
        raise KustomizeError(f"{path}: configMapGenerator field {', '.join(unknown)} unsupported")
    name = generator["name"]
    data: dict[str, str] = {}
    for entry in generator.get("files", []):
        key, _, source = entry.rpartition("=")
        file = directory / source
        data[key or Path(source).name] = file.read_text(encoding="utf-8")
    for entry in generator.get("literals", []):
        key, sep, value = entry.partition("=")
        if not sep:
            raise KustomizeError(f"{path}: literal {entry!r} is not KEY=VALUE")
        data[key] = value
    options = {**defaults, **generator.get("options", {})}
    labels = {**defaults.get("labels", {}), **generator.get("options", {}).get("labels", {})}
    annotations = {
        **defaults.get("annotations", {}),
        **generator.get("options", {}).get("annotations", {}),
    }
    behavior = generator.get("behavior", "create")
    existing = build.generated.get(name)
    if behavior == "create":
        if existing is not None:
            raise KustomizeError(f"{path}: ConfigMap {name} exists; use behavior: replace/merge")
        metadata: Obj = {"name": name}
        if labels:
            metadata["labels"] = labels
        if annotations:
            metadata["annotations"] = annotations
        obj: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}
        build.generated[name] = _Generated(obj, not options.get("disableNameSuffixHash", False))
        return
    if existing is None:
        raise KustomizeError(f"{path}: behavior {behavior} but no ConfigMap {name} to change")
    if behavior == "replace":
        existing.obj["data"] = data
    elif behavior == "merge":
        existing.obj["data"] = {**existing.obj["data"], **data}
    else:
        raise KustomizeError(f"{path}: unknown behavior {behavior!r}")
    meta = existing.obj["metadata"]
    if labels:
        meta["labels"] = {**meta.get("labels", {}), **labels}
    if annotations:
        meta["annotations"] = {**meta.get("annotations", {}), **annotations}


def _containers(pod_spec: Obj) -> list[Obj]:
    return [*pod_spec.get("initContainers", []), *pod_spec.get("containers", [])]


def _set_image(pod_spec: Obj, image: Obj) -> None:
    for container in _containers(pod_spec):
        ref = container["image"]
        repo = ref.split("@", 1)[0]
        if ":" in repo.rsplit("/", 1)[-1]:
            repo = repo.rsplit(":", 1)[0]
        if repo != image["name"]:
            continue
        new = image.get("newName", repo)
        if "digest" in image:
            container["image"] = f"{new}@{image['digest']}"
        elif "newTag" in image:
            container["image"] = f"{new}:{image['newTag']}"
        else:
            container["image"] = new + ref[len(repo) :]


def _rename_configmap_refs(pod_spec: Obj, renames: dict[str, str]) -> None:
    def rename(holder: Obj | None) -> None:
        if holder and holder.get("name") in renames:
            holder["name"] = renames[holder["name"]]

    for volume in pod_spec.get("volumes", []):
        rename(volume.get("configMap"))
        for source in (volume.get("projected") or {}).get("sources", []):
            rename(source.get("configMap"))
    for container in _containers(pod_spec):
        for env in container.get("env", []):
            rename((env.get("valueFrom") or {}).get("configMapKeyRef"))
        for env_from in container.get("envFrom", []):
            rename(env_from.get("configMapRef"))


def find(objects: list[Obj], kind: str, name: str | None = None) -> list[Obj]:
    """Objects of one kind (and name, before any hash suffix), in render order."""
    return [o for o in objects if o["kind"] == kind and (name is None or _base_name(o) == name)]


def _base_name(obj: Obj) -> str:
    name: str = obj["metadata"]["name"]
    stem, _, suffix = name.rpartition("-")
    if obj["kind"] == "ConfigMap" and len(suffix) == 10 and stem:
        return stem
    return name


def only(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    """The one object of a kind (and name); fails the test clearly otherwise."""
    found = find(objects, kind, name)
    if len(found) != 1:
        raise AssertionError(f"expected exactly one {kind} {name or ''}, found {len(found)}")
    return found[0]
