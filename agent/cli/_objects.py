"""A cluster read from a file of Kubernetes objects, for `autonomic runbooks test`.

``load_objects(path)`` reads what ``kubectl get -o yaml`` prints (a ``List``, or one
object per YAML document), checks the fields the cluster port reads, and returns the
objects with every problem as ``file:line: path: message``.

``ObjectsCluster`` is the Kubernetes adapter itself (``KubernetesCluster``: the same
reads, the same translation into the engine's state values, the same write code)
with its API calls answered from those objects instead of an API server
(``ObjectsApi``). Reads return the objects; a write is answered only when it is a
server-side dry run, so the adapter's own dry run describes each change (``replicas 3
-> 5``, ``rollback from revision 4 to 3 (web=shop/web:1.4 -> web=shop/web:1.3)``), and
any real write is refused: nothing is written anywhere.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.adapters.kube_api import KINDS, KubeApi
from agent.adapters.kube_errors import ObjectGoneError, RetryPolicy
from agent.adapters.kube_ops import Operations
from agent.adapters.kube_state import parse_time
from agent.adapters.kubernetes import KubernetesCluster
from agent.errors import PermanentError

__all__ = ["ObjectsApi", "ObjectsCluster", "ObjectsFile", "load_objects"]

Obj = dict[str, Any]
Path_ = tuple[str | int, ...]

# The kinds the cluster port reads (Events are written, never read from a file).
READ_KINDS = tuple(kind for kind in KINDS if kind != "Event")

# Fields the adapter reads as whole numbers, and as RFC 3339 times, by kind ("*": any).
_INT_FIELDS: dict[str, tuple[Path_, ...]] = {
    "Deployment": (
        ("spec", "replicas"),
        ("status", "readyReplicas"),
        ("status", "updatedReplicas"),
        ("status", "availableReplicas"),
    ),
    "StatefulSet": (
        ("spec", "replicas"),
        ("status", "readyReplicas"),
        ("status", "updatedReplicas"),
        ("status", "availableReplicas"),
    ),
    "Rollout": (("spec", "replicas"), ("status", "readyReplicas")),
    "HorizontalPodAutoscaler": (
        ("spec", "minReplicas"),
        ("spec", "maxReplicas"),
        ("status", "currentReplicas"),
        ("status", "desiredReplicas"),
    ),
    "*": (("metadata", "generation"),),
}
_TIME_FIELDS: tuple[Path_, ...] = (
    ("metadata", "creationTimestamp"),
    ("metadata", "deletionTimestamp"),
    ("status", "startTime"),
)


@dataclass
class ObjectsFile:
    """What ``load_objects`` read: the objects, the problems, and what it passed over."""

    path: Path
    objects: list[Obj] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)  # kind -> how many

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for obj in self.objects:
            out[obj["kind"]] = out.get(obj["kind"], 0) + 1
        return out


def _line(node: yaml.Node, path: Path_) -> int:
    """The 1-based line of ``path`` inside ``node`` (the deepest part that exists)."""
    for part in path:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            child = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1


def _shown(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def _plain(value: Any) -> Any:
    """YAML's own timestamps (unquoted times) as the RFC 3339 text the API serves."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _get(obj: Any, path: Path_) -> Any:
    for part in path:
        if isinstance(part, str) and isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(part, int) and isinstance(obj, list) and part < len(obj):
            obj = obj[part]
        else:
            return None
    return obj


def _problems_of(obj: Obj) -> Iterator[tuple[Path_, str]]:
    """What in one object the adapter could not read as it is meant (path, message)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        yield ("metadata",), "expected a mapping with at least 'name'"
        return
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        yield ("metadata", "name"), "every object needs a name (a string)"
    namespace = meta.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        yield ("metadata", "namespace"), f"expected a string, got {namespace!r}"
    for section in ("labels", "annotations"):
        values = meta.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            yield ("metadata", section), "expected a mapping of names to strings"
            continue
        for key, value in values.items():
            if not isinstance(value, str):
                shown = str(value).lower() if isinstance(value, bool) else repr(value)
                yield (
                    ("metadata", section, key),
                    f'expected a string, got {shown} (quote it: "{shown}"; Kubernetes keeps '
                    "label and annotation values as strings)",
                )
    for path in (*_INT_FIELDS.get(obj["kind"], ()), *_INT_FIELDS["*"]):
        value = _get(obj, path)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            yield path, f"expected a whole number, got {value!r}"
    times: list[Path_] = list(_TIME_FIELDS)
    for i, _ in enumerate(_get(obj, ("status", "conditions")) or []):
        times.append(("status", "conditions", i, "lastTransitionTime"))
    for section in ("containerStatuses", "initContainerStatuses"):
        for i, status in enumerate(_get(obj, ("status", section)) or []):
            count = status.get("restartCount") if isinstance(status, dict) else None
            if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
                yield (
                    ("status", section, i, "restartCount"),
                    f"expected a whole number, got {count!r}",
                )
    for path in times:
        value = _get(obj, path)
        if value is not None and parse_time(value) is None:
            yield path, f"expected an RFC 3339 time such as 2026-11-18T10:00:00Z, got {value!r}"


def load_objects(path: Path) -> ObjectsFile:
    """Read a file of Kubernetes objects (``kubectl get -o yaml``: a List or several
    documents; JSON too). Kinds the cluster port does not read (Services, ConfigMaps...)
    are counted in ``ignored``; every problem is ``file:line: path: message``."""
    found = ObjectsFile(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:  # a bad input like any other: named, and `runbooks test` exits 1
        found.problems.append(f"{path}: cannot read the objects: {exc.strerror or exc}")
        return found
    except UnicodeDecodeError as exc:
        found.problems.append(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8")
        return found
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        found.problems.append(f"{path}:{at} not YAML: {problem}")
        return found
    seen: dict[tuple[str, str, str], int] = {}
    for node, document in zip(nodes, documents, strict=True):
        if document is None:
            continue
        items: list[tuple[Any, yaml.Node, Path_]]
        if isinstance(document, dict) and str(document.get("kind", "")).endswith("List"):
            listed = document.get("items")
            if not isinstance(listed, list):
                found.problems.append(
                    f"{path}:{_line(node, ('items',))}: items: a {document['kind']} needs a "
                    "list of objects under 'items'"
                )
                continue
            items = [(item, node, ("items", i)) for i, item in enumerate(listed)]
        else:
            items = [(document, node, ())]
        for item, root, where in items:
            line = _line(root, where)
            if not isinstance(item, dict):
                found.problems.append(
                    f"{path}:{line}: {_shown(where)}: expected a Kubernetes object (a mapping "
                    f"with kind and metadata), got {type(item).__name__}"
                )
                continue
            kind = item.get("kind")
            if not isinstance(kind, str) or not kind:
                found.problems.append(
                    f"{path}:{line}: {_shown((*where, 'kind'))}: every object needs a kind "
                    "(Deployment, Pod, Node...)"
                )
                continue
            if kind not in READ_KINDS:
                found.ignored[kind] = found.ignored.get(kind, 0) + 1
                continue
            bad = list(_problems_of(item))
            for field_path, message in bad:
                full = (*where, *field_path)
                found.problems.append(
                    f"{path}:{_line(root, full)}: {_shown(full)}: {message} ({kind})"
                )
            if bad:
                continue
            obj = _plain(copy.deepcopy(item))
            meta = obj["metadata"]
            if KINDS[kind].namespaced:
                meta.setdefault("namespace", "default")  # as kubectl apply puts it
            else:
                meta.pop("namespace", None)
            key = (kind, meta.get("namespace") or "", meta["name"])
            if key in seen:
                name = f"{key[1]}/{key[2]}" if key[1] else key[2]
                found.problems.append(
                    f"{path}:{line}: {_shown(where)}: {kind} {name} is listed twice (first "
                    f"at line {seen[key]})"
                )
                continue
            seen[key] = line
            found.objects.append(obj)
    _fill_uids(found.objects)
    return found


def _fill_uids(objects: Sequence[Obj]) -> None:
    """Objects written by hand often have no ``uid``, and owners are matched by uid: an
    object without one gets one made from its kind and name, and an ownerReference
    without one gets the uid of the object it names (same kind, name and namespace)."""
    uids: dict[tuple[str, str, str], str] = {}
    for obj in objects:
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace") or "", meta["name"])
        meta.setdefault("uid", f"uid-{key[0].lower()}-{key[1]}-{key[2]}")
        meta.setdefault("resourceVersion", "1")
        uids[key] = str(meta["uid"])
    for obj in objects:
        meta = obj["metadata"]
        for owner in meta.get("ownerReferences") or []:
            if isinstance(owner, dict) and not owner.get("uid"):
                named = (str(owner.get("kind")), meta.get("namespace") or "", owner.get("name"))
                if named in uids:
                    owner["uid"] = uids[named]


def _selected(obj: Obj, selector: str | None, *, fields: bool) -> bool:
    """``a=b,c=d`` on labels, or on dotted field paths (``spec.nodeName=worker-1``)."""
    if not selector:
        return True
    for term in selector.split(","):
        key, _, wanted = term.partition("=")
        if fields:
            value = _get(obj, tuple(key.split(".")))
        else:
            value = ((obj.get("metadata") or {}).get("labels") or {}).get(key)
        if value is None or str(value) != wanted:
            return False
    return True


class ObjectsApi(KubeApi):
    """``KubeApi`` answered from a list of objects. Writes are answered only as dry
    runs (nothing is stored); a real write raises ``PermanentError`` (``ReadOnly``)."""

    def __init__(self, objects: Sequence[Obj]) -> None:  # no API client: nothing to reach
        self.policy = RetryPolicy()
        self._sleep: Callable[[float], None] = lambda _s: None
        self._store: dict[tuple[str, str, str], Obj] = {}
        for obj in objects:
            meta = obj["metadata"]
            self._store[(obj["kind"], meta.get("namespace") or "", meta["name"])] = obj

    def _get(self, kind: str, namespace: str | None, name: str) -> Obj:
        scope = (namespace or "") if KINDS[kind].namespaced else ""
        found = self._store.get((kind, scope, name))
        if found is None:
            where = f"{namespace}/" if scope else ""
            raise ObjectGoneError(f"{kind} {where}{name} is not in the objects file")
        return found

    def _dry_run_only(self, dry_run: bool, what: str) -> None:
        if not dry_run:
            raise PermanentError(
                f"{what}: the preview writes nothing (only server-side dry runs are answered)",
                reason="ReadOnly",
            )

    def read(self, kind: str, namespace: str | None, name: str) -> Obj:
        return copy.deepcopy(self._get(kind, namespace, name))

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        policy: RetryPolicy | None = None,  # nothing to retry or wait for here
    ) -> tuple[list[Obj], str]:
        items = [
            copy.deepcopy(obj)
            for (k, ns, _), obj in sorted(self._store.items(), key=lambda kv: kv[0])
            if k == kind
            and (not namespace or not KINDS[kind].namespaced or ns == namespace)
            and _selected(obj, label_selector, fields=False)
            and _selected(obj, field_selector, fields=True)
        ]
        for item in items:
            item.setdefault("apiVersion", KINDS[kind].api_version)
        return items, "1"

    def watch(self, *args: Any, **kwargs: Any) -> Iterator[Obj]:
        raise PermanentError("the preview does not watch", reason="ReadOnly")

    def read_scale(self, kind: str, namespace: str, name: str) -> Obj:
        obj = self._get(kind, namespace, name)
        replicas = (obj.get("spec") or {}).get("replicas", 1)
        meta = obj["metadata"]
        return {
            "spec": {"replicas": replicas},
            "metadata": {"resourceVersion": meta["resourceVersion"]},
        }

    def patch(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        body: Obj,
        *,
        content_type: str = "",
        dry_run: bool = False,
    ) -> Obj:
        self._dry_run_only(dry_run, f"patch {kind} {name}")
        return copy.deepcopy(self._get(kind, namespace, name))

    def patch_scale(
        self, kind: str, namespace: str, name: str, body: Obj, *, dry_run: bool = False
    ) -> Obj:
        self._dry_run_only(dry_run, f"scale {kind} {name}")
        return self.read_scale(kind, namespace, name)

    def delete_pod(self, namespace: str, name: str, *, uid: str, dry_run: bool = False) -> Obj:
        self._dry_run_only(dry_run, f"delete pod {name}")
        return copy.deepcopy(self._get("Pod", namespace, name))

    def evict_pod(
        self, namespace: str, name: str, *, uid: str | None = None, dry_run: bool = False
    ) -> Obj:
        self._dry_run_only(dry_run, f"evict pod {name}")
        self._get("Pod", namespace, name)
        return {"kind": "Status", "status": "Success"}

    def create_event(self, namespace: str, body: Obj) -> Obj:
        raise PermanentError("the preview posts no Event", reason="ReadOnly")


class ObjectsCluster(KubernetesCluster):
    """The Kubernetes adapter over ``ObjectsApi``: reads come from the objects file (by
    direct listing: no watch is started), writes are server-side dry runs at most."""

    def __init__(self, objects: Sequence[Obj], now: float) -> None:
        super().__init__(None, wall_clock=lambda: now)
        self.api = ObjectsApi(objects)
        self.operations = Operations(self.api, wall_clock=lambda: now)
