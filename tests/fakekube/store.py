"""The fake API server's state: typed resources, objects, resourceVersions, watch history.

One lock guards everything; every successful write takes the next global
resourceVersion (as etcd's revision does) and appends a change record that watches
read. History is bounded, and ``compact()`` forgets it, so a watch from an older
resourceVersion gets the 410 Gone an etcd compaction causes.
"""

from __future__ import annotations

import builtins
import copy
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from remediation.quantity import parse_quantity
from tests.fakekube.patches import PatchError, json_patch, merge_patch, strategic_merge_patch
from tests.fakekube.selectors import parse_field_selector, parse_label_selector

__all__ = ["RESOURCES", "ApiError", "Change", "ResourceType", "Store", "find_resource"]

Obj = dict[str, Any]
# Who makes a write, as managedFields records it: (field manager, subresource or "").
Writer = tuple[str, str]


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()
    # A custom resource (served because its CRD is installed): its list items keep their
    # kind and apiVersion, and its scale subresource reads the paths the CRD names.
    custom: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``deployments.apps`` / ``pods``: how API server messages name a resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "pods", "Pod", True, frozenset({"status", "eviction"})),
    ResourceType("", "v1", "nodes", "Node", False, frozenset({"status"})),
    ResourceType("", "v1", "events", "Event", True),
    ResourceType(
        "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, frozenset({"status"})
    ),
    ResourceType("storage.k8s.io", "v1", "storageclasses", "StorageClass", False),
    ResourceType("apps", "v1", "deployments", "Deployment", True, frozenset({"status", "scale"})),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, frozenset({"status", "scale"})),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", True, frozenset({"status", "scale"})),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", True, frozenset({"status"})),
    ResourceType(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        True,
        frozenset({"status"}),
    ),
    ResourceType(
        "policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, frozenset({"status"})
    ),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True),
    ResourceType("events.k8s.io", "v1", "events", "Event", True),
    # Create-only: answered from the server's access rules (``FakeApiServer.grant``),
    # never stored.
    ResourceType(
        "authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False
    ),
    # Argo Rollouts' CRD (argoproj.io/v1alpha1), with its status and scale subresources.
    ResourceType(
        "argoproj.io", "v1alpha1", "rollouts", "Rollout", True, frozenset({"status", "scale"}), True
    ),
)

# The scale subresource of a custom resource, as its CRD declares it: where the status
# replicas and the label selector (a string) are read from. Argo Rollouts' CRD:
# ``statusReplicasPath: .status.HPAReplicas``, ``labelSelectorPath: .status.selector``
# (``specReplicasPath`` is ``.spec.replicas``, as for the built-in kinds).
CUSTOM_SCALE: dict[tuple[str, str], tuple[str, str]] = {
    ("argoproj.io", "rollouts"): ("HPAReplicas", "selector"),
}


def find_resource(group: str, version: str, plural: str) -> ResourceType | None:
    for resource in RESOURCES:
        if (resource.group, resource.version, resource.plural) == (group, version, plural):
            return resource
    return None


def resource_for_kind(api_version: str, kind: str) -> ResourceType:
    for resource in RESOURCES:
        if resource.api_version == api_version and resource.kind == kind:
            return resource
    raise KeyError(f"the fake API server does not serve {api_version} {kind}")


# ------------------------------------------------------------------------------ errors


class ApiError(Exception):
    """A failure the server answers with a ``Status`` body (without ``reason`` when it is
    empty, as the real server's answers built by hand, not by apimachinery's errors,
    are)."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if not self.reason:
            del body["reason"]
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(rt: ResourceType, name: str, kind: str | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = kind or rt.plural
    return details


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.qualified} "{name}" not found', _details(rt, name))


def conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        _details(rt, name),
    )


def uid_precondition_failed(
    rt: ResourceType, name: str, wanted: str, actual: str | None
) -> ApiError:
    """409 for a uid precondition the object does not meet, worded as the storage
    layer's ``Preconditions.Check`` (an invalid-object storage error, made a Conflict)."""
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {rt.qualified} "{name}": StorageError: invalid '
        f"object, Code: 4, Key: /registry/{rt.plural}/{name}, ResourceVersion: 0, "
        f"AdditionalErrorMsg: Precondition failed: UID in precondition: {wanted}, UID in "
        f"object meta: {actual or ''}",
        _details(rt, name),
    )


def delete_preconditions_met(
    rt: ResourceType, obj: Obj, preconditions: dict[str, str] | None
) -> None:
    """Refuse a delete (or an eviction) whose ``DeleteOptions.preconditions`` the stored
    object does not meet, as ``rest.BeforeDelete`` does before anything is written: a
    Conflict on the resource named by its kind ("Pod", "Deployment.apps"), worded as the
    real server words it. A uid that is not the object's is another object of the same
    name (the one meant was deleted and created again); checked before the
    resourceVersion."""
    meta = obj["metadata"]
    checks = (
        ("uid", "UID", "The object might have been deleted and then recreated"),
        ("resourceVersion", "ResourceVersion", "The object might have been modified"),
    )
    for field, shown, why in checks:
        expected = (preconditions or {}).get(field)
        if expected and expected != meta.get(field):
            resource = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
            details: dict[str, Any] = {"name": meta["name"], "kind": rt.kind}
            if rt.group:
                details["group"] = rt.group
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource} "{meta["name"]}": the {shown} '
                f"in the precondition ({expected}) does not match the {shown} in record "
                f"({meta.get(field) or ''}). {why}",
                details,
            )


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', _details(rt, name)
    )


def invalid(rt: ResourceType, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 with one cause per (field, message), worded like the API server."""
    title = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    text = "; ".join(f"{field}: {message}" for field, message in causes)
    if len(causes) > 1:
        text = f"[{text}]"
    details = _details(rt, name, kind=rt.kind)
    details["causes"] = [
        {"reason": "FieldValueInvalid", "message": message, "field": field}
        for field, message in causes
    ]
    return ApiError(422, "Invalid", f'{title} "{name}" is invalid: {text}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(rt: ResourceType, name: str, why: str) -> ApiError:
    """403 from admission (not RBAC): ``persistentvolumeclaims "data" is forbidden: ...``."""
    return ApiError(
        403, "Forbidden", f'{rt.qualified} "{name}" is forbidden: {why}', _details(rt, name)
    )


def _storage(claim: Obj) -> str | None:
    value = (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get(
        "storage"
    )
    return value if isinstance(value, str) else None


# -------------------------------------------------------------------------- validation

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MICROTIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$")
# metav1.MicroTime fields are parsed with Go's "2006-01-02T15:04:05.000000Z07:00" layout:
# exactly six fractional digits, or the whole request is rejected as undecodable (400).
_MICROTIME_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Lease": (("spec", "acquireTime"), ("spec", "renewTime")),
    "Event": (("eventTime",), ("series", "lastObservedTime")),
}


def _check_decodable(rt: ResourceType, obj: Obj) -> None:
    for path in _MICROTIME_FIELDS.get(rt.kind, ()):
        node: Any = obj
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None and not (isinstance(node, str) and _MICROTIME_RE.match(node)):
            raise bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                f'parsing time "{node}" as "2006-01-02T15:04:05.000000Z07:00": '
                "cannot parse as RFC3339 with microseconds"
            )


def _validate(rt: ResourceType, obj: Obj) -> list[tuple[str, str]]:
    causes: list[tuple[str, str]] = []
    name = obj["metadata"].get("name", "")
    if not _NAME_RE.match(name) or len(name) > 253:
        causes.append(
            (
                "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must '
                "consist of lower case alphanumeric characters, '-' or '.'",
            )
        )
    spec = obj.get("spec") or {}
    replicas = spec.get("replicas")
    workload = rt.kind in ("Deployment", "StatefulSet", "ReplicaSet", "Rollout")
    if workload and replicas is not None and (not isinstance(replicas, int) or replicas < 0):
        causes.append(
            ("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")
        )
    if rt.kind == "HorizontalPodAutoscaler":
        low, high = spec.get("minReplicas", 1), spec.get("maxReplicas", 0)
        if not isinstance(low, int) or low < 1:
            causes.append(
                ("spec.minReplicas", f"Invalid value: {low}: must be greater than or equal to 1")
            )
        elif isinstance(high, int) and high < low:
            causes.append(
                (
                    "spec.maxReplicas",
                    f"Invalid value: {high}: must be greater than or equal to `minReplicas`",
                )
            )
    if rt.kind == "Lease":
        duration = spec.get("leaseDurationSeconds")
        if duration is not None and (not isinstance(duration, int) or duration <= 0):
            causes.append(
                ("spec.leaseDurationSeconds", f"Invalid value: {duration}: must be greater than 0")
            )
    return causes


# --------------------------------------------------------------------- field ownership

# A field path as managedFields' ``fieldsV1`` names it, one key per level:
# ("spec", "minReplicas") is {"f:spec": {"f:minReplicas": {}}}.
FieldPath = tuple[str, ...]
# The metadata the API server keeps itself: no manager owns it.
_SERVER_METADATA = frozenset(
    {
        "name",
        "namespace",
        "generateName",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)
_MISSING: Any = object()


def _owned_part(rt: ResourceType, obj: Obj | None, subresource: str) -> Obj:
    """What of ``obj`` a write through ``subresource`` can own: ``status`` alone through
    the status subresource; otherwise everything but the type, the server's metadata and
    (a kind with a status subresource) the status."""
    if obj is None:
        return {}
    if subresource == "status":
        return {"status": obj["status"]} if "status" in obj else {}
    part = {
        k: v
        for k, v in obj.items()
        if k not in ("apiVersion", "kind", "metadata")
        and not (k == "status" and "status" in rt.subresources)
    }
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_METADATA}
    if meta:
        part["metadata"] = meta
    return part


def _leaves(value: Any, path: FieldPath, into: set[FieldPath]) -> None:
    """Every field path under ``value`` (a map's keys, level by level; a list or a
    scalar, or an empty map, is one field: the fake keeps no list keys)."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _leaves(item, (*path, str(key)), into)
    else:
        into.add(path)


def _diff(
    old: Any, new: Any, path: FieldPath, taken: set[FieldPath], removed: set[FieldPath]
) -> None:
    if isinstance(old, dict) and isinstance(new, dict) and (old or new):
        for key in old.keys() | new.keys():
            _diff(old.get(key, _MISSING), new.get(key, _MISSING), (*path, str(key)), taken, removed)
    elif new is _MISSING:
        removed.add(path)
    elif old is _MISSING or old != new:
        _leaves(new, path, taken)


def _changed_fields(
    rt: ResourceType, old: Obj | None, new: Obj, subresource: str
) -> tuple[set[FieldPath], set[FieldPath]]:
    """The fields a write from ``old`` (None: a create) to ``new`` set or changed, and
    those it removed, as managedFields counts them for its writer."""
    taken: set[FieldPath] = set()
    removed: set[FieldPath] = set()
    _diff(_owned_part(rt, old, subresource), _owned_part(rt, new, subresource), (), taken, removed)
    return taken - {()}, removed - {()}


def _overlaps(a: FieldPath, b: FieldPath) -> bool:
    """Whether one path is the other or lies under it."""
    return a[: len(b)] == b or b[: len(a)] == a


def _field_paths(fields: Any, path: FieldPath = ()) -> set[FieldPath]:
    """The field paths a ``fieldsV1`` set names (its ``f:`` keys; other keys, such as
    the real server's ``.`` or list keys, are passed over)."""
    found: set[FieldPath] = set()
    if not isinstance(fields, dict):
        return found
    for key, inner in fields.items():
        if not isinstance(key, str) or not key.startswith("f:"):
            continue
        below = (*path, key[2:])
        deeper = _field_paths(inner, below)
        found |= deeper or {below}
    return found


# The API server keeps at most this many Update entries on an object, merging the oldest
# into one entry per apiVersion named ``OLD_UPDATES`` (apimachinery's capmanagers.go).
MAX_UPDATERS = 10
OLD_UPDATES = "ancient-changes"


def _cap_updaters(entries: list[Obj]) -> None:
    """Merge the oldest Update entries (by time in seconds, then manager) into the
    ``ancient-changes`` bucket of their apiVersion until at most ``MAX_UPDATERS`` are
    left, in place, as the API server's ``capManagersManager`` does: the first entry
    of a version is merged only once a second of that version is, the bucket owns the
    fields of all it holds, carries no subresource, and takes the newest merged time."""
    updaters = [e for e in entries if e.get("operation") == "Update"]
    updaters.sort(
        key=lambda e: (_epoch(e.get("time")), e.get("manager", ""), e.get("subresource", ""))
    )
    first: dict[str, Obj] = {}
    for entry in updaters:
        if sum(e.get("operation") == "Update" for e in entries) <= MAX_UPDATERS:
            return
        version = entry.get("apiVersion", "")
        if version not in first:
            first[version] = entry
            continue
        bucket = next((e for e in entries if _is_bucket(e, version)), first[version])
        if bucket is entry:
            continue  # the bucket itself, newer than an entry it could take in
        newest = max(bucket.get("time"), entry.get("time"), key=_epoch)
        bucket.update(manager=OLD_UPDATES, time=newest)
        bucket.pop("subresource", None)
        owned = _field_paths(bucket.get("fieldsV1")) | _field_paths(entry.get("fieldsV1"))
        bucket["fieldsV1"] = _fields_v1(owned)
        entries[:] = [e for e in entries if e is not entry]


def _is_bucket(entry: Obj, version: str) -> bool:
    return (entry.get("manager"), entry.get("operation"), entry.get("apiVersion", "")) == (
        OLD_UPDATES,
        "Update",
        version,
    ) and "subresource" not in entry


def _epoch(value: Any) -> int:
    """A managedFields ``time`` in whole seconds (0 when absent or unparseable, as the
    API server sorts an entry without a time)."""
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _fields_v1(paths: set[FieldPath]) -> Obj:
    """``paths`` as a ``fieldsV1`` set."""
    root: Obj = {}
    for path in sorted(paths):
        node = root
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return root


# ---------------------------------------------------------------------------- the store


@dataclass(frozen=True)
class Change:
    resource_version: int
    type: str  # ADDED | MODIFIED | DELETED
    key: tuple[str, str]
    namespace: str
    old: Obj | None
    new: Obj


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def selector_string(selector: Obj | None) -> str:
    """A LabelSelector as the query-parameter string the Scale status carries."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr["key"], expr["operator"], sorted(expr.get("values") or [])
        if operator == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists":
            parts.append(key)
        else:
            parts.append(f"!{key}")
    return ",".join(parts)


class Store:
    """All objects of the fake cluster. Methods raise ``ApiError`` as the server would."""

    def __init__(self, history_limit: int = 2000) -> None:
        self.cond = threading.Condition()
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._rv = 100
        self._history: deque[Change] = deque(maxlen=history_limit)
        self._oldest_watchable = self._rv
        # What stamps ``metadata.managedFields[].time`` (epoch seconds): a test on a fake
        # clock sets its own, so a write's time compares with its clock's.
        self.clock: Callable[[], float] = time.time
        # Set while the disruption controller writes a PDB's status (``_judge_budgets``).
        self._judging = False
        # False: the stand-in Deployment controller observes a new spec as it is written
        # (``status.observedGeneration`` follows ``metadata.generation`` at once). True, as
        # a real controller, which catches up some time after the write: a spec written
        # leaves the generation observed behind until something plays the controller
        # (``modify``, a test's controller writing the Deployment's status).
        self.deployments_lag = False

    # -------------------------------------------------------------------- reads

    @property
    def resource_version(self) -> int:
        with self.cond:
            return self._rv

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        with self.cond:
            obj = self._objects.get(rt.key, {}).get((namespace, name))
            if obj is None:
                raise not_found(rt, name)
            return copy.deepcopy(obj)

    def list(
        self,
        rt: ResourceType,
        namespace: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[Obj], int]:
        labels_match = parse_label_selector(label_selector)
        fields_match = parse_field_selector(field_selector, rt.kind)
        with self.cond:
            items = [
                copy.deepcopy(obj)
                for (ns, _), obj in sorted(self._objects.get(rt.key, {}).items())
                if (not namespace or ns == namespace) and labels_match(obj) and fields_match(obj)
            ]
            return items, self._rv

    def changes_after(self, resource_version: int) -> builtins.list[Change]:
        """Changes newer than ``resource_version``; 410 Gone if history no longer has them."""
        with self.cond:
            if resource_version < self._oldest_watchable:
                raise ApiError(
                    410,
                    "Expired",
                    f"too old resource version: {resource_version} ({self._oldest_watchable})",
                )
            return [c for c in self._history if c.resource_version > resource_version]

    def compact(self) -> int:
        """Forget watch history (like an etcd compaction); returns the new floor."""
        with self.cond:
            self._history.clear()
            self._oldest_watchable = self._rv
            return self._rv

    # ------------------------------------------------------------------- writes

    def _commit(self, rt: ResourceType, old: Obj | None, new: Obj | None, dry_run: bool) -> Obj:
        """Store ``new`` (or delete ``old`` when ``new`` is None) and record the change."""
        target = new if new is not None else old
        assert target is not None
        if dry_run:
            return copy.deepcopy(target)
        meta = target["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        self._rv += 1
        bucket = self._objects.setdefault(rt.key, {})
        if new is None:
            bucket.pop(key, None)
            gone = copy.deepcopy(target)
            gone["metadata"]["resourceVersion"] = str(self._rv)
            change = Change(self._rv, "DELETED", rt.key, key[0], old, gone)
        else:
            new["metadata"]["resourceVersion"] = str(self._rv)
            bucket[key] = new
            change = Change(self._rv, "MODIFIED" if old else "ADDED", rt.key, key[0], old, new)
        if len(self._history) == self._history.maxlen:
            self._oldest_watchable = self._history[0].resource_version
        self._history.append(change)
        self.cond.notify_all()
        if rt.kind in _BUDGET_INPUTS and not self._judging:
            self._judge_budgets(key[0])
        return copy.deepcopy(change.new)

    # ------------------------------------------------------ disruption controller

    def _judge_budgets(self, namespace: str) -> None:
        """The disruption controller: after any change to a pod, a PDB or a controller's
        scale in ``namespace``, write each PDB's status there as the real controller
        does (a change of status only, as a MODIFIED watch event)."""
        pdbs = resource_for_kind("policy/v1", "PodDisruptionBudget")
        budgets = [b for (ns, _), b in self._objects.get(pdbs.key, {}).items() if ns == namespace]
        self._judging = True
        try:
            for budget in budgets:
                status = self._budget_status(namespace, budget)
                if budget.get("status") != status:
                    updated = copy.deepcopy(budget)
                    updated["status"] = status
                    self._commit(pdbs, budget, updated, False)
        finally:
            self._judging = False

    def _budget_pods(self, namespace: str, budget: Obj) -> builtins.list[Obj]:
        """The pods a PDB selects: none without ``spec.selector``, every pod of the
        namespace with an empty one (policy/v1)."""
        selector = (budget.get("spec") or {}).get("selector")
        if selector is None:
            return []
        match = parse_label_selector(selector_string(selector))
        pods = resource_for_kind("v1", "Pod")
        return [
            pod
            for (ns, _), pod in sorted(self._objects.get(pods.key, {}).items())
            if ns == namespace and match(pod)
        ]

    def _expected_pods(self, namespace: str, pods: builtins.list[Obj]) -> int | None:
        """The summed scale of the controllers of ``pods``, as the disruption controller
        reckons expected pods (``getExpectedScale``): a Deployment's for the pods of its
        ReplicaSets, any other ReplicaSet's own (an Argo Rollout's, each), a
        StatefulSet's. A pod with no controller is left out (unmanaged); None when a
        pod's controller is not one of those or is not in the store: the controller
        cannot judge the PDB then (``failSafe``: no disruption allowed, ``SyncFailed``)."""
        seen: dict[tuple[str, str], int] = {}
        for pod in pods:
            owner = _controller(pod)
            if owner is None:
                continue
            kind, name = owner.get("kind", ""), owner.get("name", "")
            if kind == "ReplicaSet":
                rs = self._objects.get(_RS_KEY, {}).get((namespace, name))
                if rs is None:
                    return None
                parent = _controller(rs)
                if parent is not None and parent.get("kind") == "Deployment":
                    found = self._objects.get(_DEPLOYMENT_KEY, {}).get(
                        (namespace, parent.get("name", ""))
                    )
                    if found is None:
                        return None
                    kind, name, rs = "Deployment", parent.get("name", ""), found
                seen[(kind, name)] = int((rs.get("spec") or {}).get("replicas", 1))
            elif kind == "StatefulSet":
                sts = self._objects.get(_STS_KEY, {}).get((namespace, name))
                if sts is None:
                    return None
                seen[(kind, name)] = int((sts.get("spec") or {}).get("replicas", 1))
            else:
                return None
        return sum(seen.values())

    def _budget_status(self, namespace: str, budget: Obj) -> Obj:
        """A PDB's status as the disruption controller computes it (``trySync``):
        healthy pods are ready and not terminating. With an integer ``minAvailable``,
        expected pods are the pods the selector matches (terminating ones too) and the
        desired healthy that number; with ``maxUnavailable`` or a percentage, expected
        pods are the controllers' scale (``_expected_pods``); none allowed while none
        are expected. A controller it cannot read leaves no disruption allowed
        (``SyncFailed``), the rest of the status as it was."""
        spec = budget.get("spec") or {}
        covered = self._budget_pods(namespace, budget)
        live = [p for p in covered if not p["metadata"].get("deletionTimestamp")]
        healthy = sum(1 for p in live if _pod_ready(p))
        minimum = spec.get("minAvailable")
        generation = budget["metadata"].get("generation", 1)
        old_status = budget.get("status") or {}
        if spec.get("maxUnavailable") is None and isinstance(minimum, int):
            expected: int | None = len(covered)
        else:
            expected = self._expected_pods(namespace, covered)
        if expected is None:
            desired = int(old_status.get("desiredHealthy", 0))
            allowed, reason = 0, "SyncFailed"
            expected = int(old_status.get("expectedPods", 0))
            healthy = int(old_status.get("currentHealthy", 0))
        else:
            desired = _desired_healthy(spec, expected)
            allowed = max(0, healthy - desired) if expected > 0 else 0
            reason = "SufficientPods" if allowed > 0 else "InsufficientPods"
        condition = {
            "type": "DisruptionAllowed",
            "status": "True" if allowed > 0 else "False",
            "reason": reason,
            "message": "",
            "observedGeneration": generation,
        }
        old = next(
            (c for c in old_status.get("conditions") or [] if c.get("type") == "DisruptionAllowed"),
            None,
        )
        if old is not None and old.get("status") == condition["status"]:
            condition["lastTransitionTime"] = old["lastTransitionTime"]
        else:
            condition["lastTransitionTime"] = now_rfc3339()
        return {
            "observedGeneration": generation,
            "disruptionsAllowed": allowed,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "conditions": [condition],
        }

    def _manage(self, rt: ResourceType, old: Obj | None, new: Obj, writer: Writer | None) -> None:
        """Record ``writer`` (manager, subresource) in ``new``'s ``managedFields`` as the
        API server does for an ``Update`` (a create, a PUT or a patch) that changes the
        object: one entry per manager, operation and subresource, its ``time`` the
        write's, in whole seconds, and its ``fieldsV1`` the fields it owns. The writer
        takes the fields its write set or changed (``_changed_fields``; on a create every
        field it wrote), and no other entry keeps them: an Update takes a field over
        without a conflict; a field the write removed is nobody's. As on a real server
        (structured-merge-diff's ``Updater.Update``, the API server's
        ``managedFieldsUpdater``), an entry this write leaves owning nothing is dropped,
        and a write that set or changed no field (one that only removed fields, such as
        a bare uncordon: ``spec.unschedulable`` removed) records no writer: no entry is
        added and no time renewed. A field written with the value it already has is not
        taken either. Always operation ``Update`` (the fake takes no server-side apply).
        Without a writer (the test aids) the entries stay as they were, and an entry a
        test seeded owning nothing is left as it is."""
        meta = new["metadata"]
        old_entries = (old or {}).get("metadata", {}).get("managedFields")
        entries = [dict(e) for e in old_entries if isinstance(e, dict)] if old_entries else []
        if writer is not None:
            manager, subresource = writer
            taken, removed = _changed_fields(rt, old, new, subresource)
            gone = taken | removed
            emptied: list[Obj] = []
            for entry in entries:
                owned = _field_paths(entry.get("fieldsV1"))
                kept = {p for p in owned if not any(_overlaps(p, q) for q in gone)}
                if kept != owned:
                    entry["fieldsV1"] = _fields_v1(kept)
                    if not kept:
                        emptied.append(entry)
            entries = [e for e in entries if not any(e is x for x in emptied)]
            stamp = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for entry in entries if taken else ():
                if (entry.get("manager"), entry.get("operation"), entry.get("subresource", "")) == (
                    manager,
                    "Update",
                    subresource,
                ):
                    entry["time"] = stamp
                    owned = _field_paths(entry.get("fieldsV1"))
                    entry["fieldsV1"] = _fields_v1(owned | taken)
                    break
            else:
                if taken:
                    entry = {
                        "manager": manager,
                        "operation": "Update",
                        "apiVersion": rt.api_version,
                        "time": stamp,
                        "fieldsType": "FieldsV1",
                        "fieldsV1": _fields_v1(taken),
                    }
                    if subresource:
                        entry["subresource"] = subresource
                    entries.append(entry)
            _cap_updaters(entries)
        if entries:
            meta["managedFields"] = entries
        else:
            meta.pop("managedFields", None)

    def create(
        self,
        rt: ResourceType,
        namespace: str,
        body: Obj,
        *,
        dry_run: bool = False,
        writer: Writer | None = None,
    ) -> Obj:
        _check_decodable(rt, body)
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = namespace
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            raise invalid(
                rt, "", [("metadata.name", "Required value: name or generateName is required")]
            )
        if causes := _validate(rt, obj):
            raise invalid(rt, meta["name"], causes)
        with self.cond:
            if (namespace, meta["name"]) in self._objects.get(rt.key, {}):
                raise already_exists(rt, meta["name"])
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta.pop("resourceVersion", None)
            if writer is not None:
                self._manage(rt, None, obj, writer)
            if "spec" in obj:
                meta["generation"] = 1
            return self._commit(rt, None, obj, dry_run)

    def _finish_update(
        self,
        rt: ResourceType,
        old: Obj,
        new: Obj,
        subresource: str | None,
        dry_run: bool,
        writer: Writer | None = None,
        *,
        patched: bool = False,
    ) -> Obj:
        """Apply API server update rules to ``new``, check preconditions, commit.

        A ``metadata.uid`` that is not the object's: an update (PUT) names it as a
        precondition (``defaultUpdatedObjectInfo.Preconditions``), checked before
        anything else: 409 "Precondition failed: UID in precondition". A patch
        (``patched``) carries none: the patched object is judged after its
        resourceVersion, by the metadata validation of an update, 422 "metadata.uid:
        field is immutable", as a real API server answers."""
        _check_decodable(rt, new)
        name = old["metadata"]["name"]
        new_meta = new.setdefault("metadata", {})
        if new_meta.get("name", name) != name:
            raise bad_request(
                f"the name of the object ({new_meta.get('name')}) does not match the name on "
                f"the URL ({name})"
            )
        wanted_uid = new_meta.get("uid")
        other_uid = wanted_uid not in (None, "") and wanted_uid != old["metadata"].get("uid")
        if other_uid and not patched:
            raise uid_precondition_failed(rt, name, str(wanted_uid), old["metadata"].get("uid"))
        wanted_rv = new_meta.get("resourceVersion")
        if wanted_rv not in (None, "") and wanted_rv != old["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        if other_uid:
            raise invalid(
                rt, name, [("metadata.uid", f'Invalid value: "{wanted_uid}": field is immutable')]
            )
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif "status" in rt.subresources:
            # The main resource ignores status changes; they go through /status.
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        meta = new["metadata"]
        for fixed in ("name", "namespace", "uid", "creationTimestamp", "generation"):
            if fixed in old["metadata"]:
                meta[fixed] = old["metadata"][fixed]
        meta.pop("resourceVersion", None)
        if "spec" in new and new.get("spec") != old.get("spec"):
            meta["generation"] = int(old["metadata"].get("generation", 0)) + 1
            observes = rt.kind == "Deployment" and not self.deployments_lag
            if observes and "observedGeneration" in (new.get("status") or {}):
                # A stand-in for a Deployment controller that observes a new spec at
                # once (and does nothing else: no ReplicaSet, no revision). A test makes
                # one that lags with ``modify``, which this path does not take, or with
                # ``deployments_lag`` for every spec written through the API.
                new["status"]["observedGeneration"] = meta["generation"]
        if causes := _validate(rt, new):
            raise invalid(rt, name, causes)
        if rt.kind == "PersistentVolumeClaim" and subresource != "status":
            self._check_resize(rt, old, new)
        comparable_old = {k: v for k, v in old.items() if k != "metadata"}
        comparable_new = {k: v for k, v in new.items() if k != "metadata"}
        old_meta = {
            k: v
            for k, v in old["metadata"].items()
            if k not in ("resourceVersion", "managedFields")
        }
        meta.pop("managedFields", None)  # the server's to keep, whatever the body says
        if comparable_old == comparable_new and old_meta == meta:
            # A no-op write does not bump the resourceVersion (nor a manager's time),
            # as on a real server.
            return copy.deepcopy(old)
        self._manage(rt, old, new, writer)
        return self._commit(rt, old, new, dry_run)

    def _check_resize(self, rt: ResourceType, old: Obj, new: Obj) -> None:
        """A claim's storage request, as the API server judges a change to it: never
        lower (validation, 422), and higher only when its StorageClass sets
        ``allowVolumeExpansion: true`` (the PersistentVolumeClaimResize admission
        plugin, 403)."""
        before, after = _storage(old), _storage(new)
        if before is None or after is None or before == after:
            return
        name = old["metadata"]["name"]
        if parse_quantity(after) < parse_quantity(before):
            raise invalid(
                rt,
                name,
                [
                    (
                        "spec.resources.requests.storage",
                        "Forbidden: field can not be less than previous value",
                    )
                ],
            )
        class_name = (old.get("spec") or {}).get("storageClassName") or ""
        storage_class = self._objects.get(("storage.k8s.io", "storageclasses"), {}).get(
            ("", class_name)
        )
        if storage_class is None or storage_class.get("allowVolumeExpansion") is not True:
            raise forbidden(
                rt,
                name,
                "only dynamically provisioned pvc can be resized and the storageclass that "
                "provisions the pvc must support resize",
            )

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        writer: Writer | None = None,
    ) -> Obj:
        with self.cond:
            old = self._objects.get(rt.key, {}).get((namespace, name))
            if old is None:
                raise not_found(rt, name)
            return self._finish_update(
                rt, copy.deepcopy(old), copy.deepcopy(body), subresource, dry_run, writer
            )

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        writer: Writer | None = None,
    ) -> Obj:
        with self.cond:
            old = self._objects.get(rt.key, {}).get((namespace, name))
            if old is None:
                raise not_found(rt, name)
            new = apply_patch(rt, name, content_type, old, patch)
            return self._finish_update(
                rt, copy.deepcopy(old), new, subresource, dry_run, writer, patched=True
            )

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        dry_run: bool = False,
        preconditions: dict[str, str] | None = None,
        graceful: bool = False,
    ) -> Obj:
        """Delete at once: the fake has no kubelet, so it acts as one that confirms at
        once. Except, for a ``graceful`` delete (an HTTP DELETE without
        ``gracePeriodSeconds: 0``, an eviction) of a pod bound to a node that is not
        Ready: as on a real server, the pod is only marked (``deletionTimestamp``) and
        stays Terminating, as no kubelet confirms it stopped. The test aids (called
        directly) delete at once, as a force delete does."""
        with self.cond:
            old = self._objects.get(rt.key, {}).get((namespace, name))
            if old is None:
                raise not_found(rt, name)
            delete_preconditions_met(rt, old, preconditions)
            if graceful and rt.kind == "Pod" and self._kubelet_unreachable(old):
                if old["metadata"].get("deletionTimestamp"):
                    return copy.deepcopy(old)  # already terminating: nothing changes
                marked = copy.deepcopy(old)
                marked["metadata"]["deletionTimestamp"] = datetime.fromtimestamp(
                    self.clock(), UTC
                ).strftime("%Y-%m-%dT%H:%M:%SZ")
                grace = (old.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
                marked["metadata"]["deletionGracePeriodSeconds"] = grace
                return self._commit(rt, old, marked, dry_run)
            return self._commit(rt, old, None, dry_run)

    def _kubelet_unreachable(self, pod: Obj) -> bool:
        """Whether ``pod`` is bound to a Node whose Ready condition is not True (its
        kubelet cannot confirm a deletion). A pod bound to no node, or to a Node that
        does not exist, has no kubelet to wait for."""
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = self._objects.get(resource_for_kind("v1", "Node").key, {}).get(("", node_name or ""))
        if not node_name or node is None:
            return False
        conditions = (node.get("status") or {}).get("conditions") or []
        return not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    # ------------------------------------------------------------------- scale

    def get_scale(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        return scale_of(self.get(rt, namespace, name), rt)

    def update_scale(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        scale: Obj,
        *,
        dry_run: bool = False,
        writer: Writer | None = None,
    ) -> Obj:
        with self.cond:
            parent = self.get(rt, namespace, name)
            # As the registry's scale update does (deployments/scale and the like): a
            # uid in the Scale's metadata is a precondition on the parent's.
            scale_uid = (scale.get("metadata") or {}).get("uid")
            if scale_uid and scale_uid != parent["metadata"].get("uid"):
                scale_type = ResourceType("autoscaling", "v1", f"{rt.plural}/scale", "Scale", True)
                raise uid_precondition_failed(
                    scale_type, name, scale_uid, parent["metadata"].get("uid")
                )
            replicas = (scale.get("spec") or {}).get("replicas", 0)
            if not isinstance(replicas, int) or replicas < 0:
                scale_type = ResourceType("autoscaling", "v1", rt.plural, "Scale", True)
                causes = [
                    (
                        "spec.replicas",
                        f"Invalid value: {replicas}: must be greater than or equal to 0",
                    )
                ]
                raise invalid(scale_type, name, causes)
            parent.setdefault("spec", {})["replicas"] = replicas
            parent["metadata"]["resourceVersion"] = (scale.get("metadata") or {}).get(
                "resourceVersion"
            )
            self.update(rt, namespace, name, parent, dry_run=dry_run, writer=writer)
            result = scale_of(self.get(rt, namespace, name), rt)
            if dry_run:
                result["spec"]["replicas"] = replicas
            return result

    def patch_scale(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        *,
        dry_run: bool = False,
        writer: Writer | None = None,
    ) -> Obj:
        with self.cond:
            scale = self.get_scale(rt, namespace, name)
            patched = apply_patch(rt, name, content_type, scale, patch)
            return self.update_scale(rt, namespace, name, patched, dry_run=dry_run, writer=writer)

    # ---------------------------------------------------------------- eviction

    def evict(
        self,
        namespace: str,
        name: str,
        *,
        dry_run: bool = False,
        preconditions: dict[str, str] | None = None,
    ) -> Obj:
        """policy/v1 Eviction: delete the pod unless a PodDisruptionBudget forbids it.

        ``preconditions``: the Eviction's ``deleteOptions.preconditions``. As
        ``pkg/registry/core/pod/storage/eviction.go`` does, the pod of that name is read
        and judged by its budget first (a 429 comes before anything else); the delete
        that follows (after the DisruptionTarget condition's update, which checks them
        too) refuses a uid that is not the pod's: 409 "the UID in the precondition (...)
        does not match the UID in record (...)". The real server retries that conflict
        for a pod it may evict without a budget (terminal, Pending) for about 10 s
        before answering it; the fake answers at once."""
        pods = resource_for_kind("v1", "Pod")
        pdbs = resource_for_kind("policy/v1", "PodDisruptionBudget")
        with self.cond:
            pod = self.get(pods, namespace, name)
            phase = (pod.get("status") or {}).get("phase")
            if phase not in ("Succeeded", "Failed"):
                self._check_budget(pods, pdbs, namespace, pod, dry_run)
            self.delete(
                pods, namespace, name, dry_run=dry_run, graceful=True, preconditions=preconditions
            )
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }

    def _check_budget(
        self, pods: ResourceType, pdbs: ResourceType, namespace: str, pod: Obj, dry_run: bool
    ) -> None:
        name = pod["metadata"]["name"]
        matching = [
            budget
            for budget in self.list(pdbs, namespace)[0]
            if any(p["metadata"]["name"] == name for p in self._budget_pods(namespace, budget))
        ]
        if not matching:
            return
        if len(matching) > 1:
            # As pkg/registry/core/pod/storage/eviction.go answers it: a Status with
            # code 500 and this message, and no reason, whatever the budgets allow.
            raise ApiError(
                500,
                "",
                "This pod has more than one PodDisruptionBudget, which the eviction "
                "subresource does not support.",
            )
        budget = matching[0]
        judged = self._budget_status(namespace, budget)
        healthy, desired = judged["currentHealthy"], judged["desiredHealthy"]
        allowed = judged["disruptionsAllowed"]
        if allowed <= 0 and (_pod_ready(pod) or healthy < desired):
            raise ApiError(
                429,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.",
                {
                    "causes": [
                        {
                            "reason": "DisruptionBudget",
                            "message": f"The disruption budget {budget['metadata']['name']} "
                            f"needs {desired} healthy pods and has {healthy} currently",
                        }
                    ]
                },
            )
        # The pod is deleted next, and the disruption controller writes the new status
        # (``_judge_budgets``), as it does once the real API server has taken one off.

    # ---------------------------------------------------------------- test aids

    def put(self, obj: Obj) -> Obj:
        """Create or overwrite ``obj`` (its apiVersion/kind pick the resource), for seeding."""
        rt = resource_for_kind(obj["apiVersion"], obj["kind"])
        namespace = obj["metadata"].get("namespace", "default") if rt.namespaced else ""
        with self.cond:
            existing = self._objects.get(rt.key, {}).get((namespace, obj["metadata"]["name"]))
            if existing is None:
                return self.create(rt, namespace, obj)
            body = copy.deepcopy(obj)
            body["metadata"].pop("resourceVersion", None)
            stored = self.update(rt, namespace, obj["metadata"]["name"], body)
            if "status" in obj and "status" in rt.subresources:
                stored = self.update(
                    rt, namespace, obj["metadata"]["name"], body, subresource="status"
                )
            return stored

    def modify(self, kind: str, namespace: str, name: str, change: Callable[[Obj], None]) -> Obj:
        """Mutate a stored object in place through ``change`` (status included), as a
        controller or another actor would; records a MODIFIED event."""
        rt = next(r for r in RESOURCES if r.kind == kind)
        with self.cond:
            old = self.get(rt, namespace if rt.namespaced else "", name)
            new = copy.deepcopy(old)
            change(new)
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return self._commit(rt, old, new, False)

    def objects(self, kind: str, namespace: str = "") -> builtins.list[Obj]:
        rt = next(r for r in RESOURCES if r.kind == kind)
        return self.list(rt, namespace)[0]


def apply_patch(rt: ResourceType, name: str, content_type: str, current: Obj, patch: Any) -> Obj:
    media = content_type.split(";", maxsplit=1)[0].strip()
    try:
        if media == "application/json-patch+json":
            result = json_patch(current, patch)
        elif media == "application/merge-patch+json":
            result = merge_patch(current, patch)
        elif media == "application/strategic-merge-patch+json":
            result = strategic_merge_patch(current, patch)
        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types "
                f"include: application/json-patch+json, application/merge-patch+json, "
                f"application/strategic-merge-patch+json (got {media!r})",
            )
    except PatchError as exc:
        raise invalid(rt, name, [("patch", str(exc))]) from exc
    if not isinstance(result, dict):
        raise bad_request("the patch did not produce an object")
    return result


def scale_of(parent: Obj, rt: ResourceType | None = None) -> Obj:
    meta = parent["metadata"]
    status = parent.get("status") or {}
    custom = CUSTOM_SCALE.get(rt.key) if rt is not None else None
    if custom is not None:
        replicas_field, selector_field = custom
        replicas, selector = status.get(replicas_field, 0), str(status.get(selector_field) or "")
    else:
        replicas = status.get("replicas", 0)
        selector = selector_string((parent.get("spec") or {}).get("selector"))
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace", ""),
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": (parent.get("spec") or {}).get("replicas", 1)},
        "status": {"replicas": replicas, "selector": selector},
    }


# What the disruption controller reads: a change to any of them re-judges the namespace's PDBs.
_BUDGET_INPUTS = frozenset(
    {"Pod", "PodDisruptionBudget", "ReplicaSet", "Deployment", "StatefulSet", "Rollout"}
)
_RS_KEY = ("apps", "replicasets")
_DEPLOYMENT_KEY = ("apps", "deployments")
_STS_KEY = ("apps", "statefulsets")


def _controller(obj: Obj) -> Obj | None:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((o for o in owners if o.get("controller")), None)


def _pod_ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _desired_healthy(spec: Obj, expected: int) -> int:
    def amount(value: Any) -> int:
        if isinstance(value, str) and value.endswith("%"):
            return math.ceil(float(value[:-1]) / 100 * expected)
        return int(value)

    if spec.get("minAvailable") is not None:
        return amount(spec["minAvailable"])
    if spec.get("maxUnavailable") is not None:
        return max(0, expected - amount(spec["maxUnavailable"]))
    return expected
