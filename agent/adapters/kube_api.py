"""A thin, table-driven layer over the official ``kubernetes`` client.

The table is ``KINDS``: for each kind Autonomic reads or writes, its API group, version
and resource, and the client class and method name it is reached through (a custom
resource, Argo's Rollout, through ``CustomObjectsApi``). Every call goes through the
generated typed API methods (so the wire format is the client's own), asks for raw JSON
(``_preload_content=False``) so the adapter works with plain dicts, carries a (connect,
read) timeout, and is retried and translated by ``kube_errors.call_with_retries``, which
is told each call's (verb, group, resource) as an ``ApiCall`` (so that a refusal names
the permission missing). What the calls need is ``kubernetes.REQUIRED_RBAC``: a test
runs every read and write against the fake API server and checks that the requests it
received are exactly what ``REQUIRED_RBAC`` grants
(``tests/integration/kube/test_kube_reads.py``), one that every call site in ``agent/``
with its kind written out is granted, read from the source with the verb and resource
each method below gives its ``ApiCall`` (``tests/unit/manifests/test_rbac_calls.py``),
and another that the ClusterRole grants exactly that (``tests/unit/manifests/test_rbac.py``).

Writes are fenced by ``may_write`` (the leader gate's ``is_leader``, when the daemon
elects a leader): it is asked again before every try of every write that changes an
object (a patch, a scale, a delete, an eviction), not only before the first, and a
write it refuses is not sent (``NotLeaderError``). The executor checks the lease before
it writes, but a write can take long after that: a retry follows a timeout of up to the
read timeout (30 s) and a backoff, a 409 is read again and written again, and a drain
evicts pod after pod; meanwhile the lease may have run out and another replica may have
taken over. Events are not fenced: they change nothing anyone acts on, and one posted
late still records what this replica did.

Every request the API server refuses with 403 is told to ``on_refused`` (the daemon's
``autonomic_kube_permission_denied_total``) as its verb, its resource as ``kubectl``
names it (``ApiCall.rbac_resource``) and whether the daemon works without it: a list or
watch of an optional kind (``KindInfo.optional``: Argo Rollouts, volume expansion, drain
planning), which its callers take as "none there" (``kube_cache.OptionalKind``). A
refusal is told once per request: a 403 is not retried. A 403 whose words are not the
authorizer's (an admission plugin's: a ResourceQuota exceeded, a namespace being deleted,
a claim whose class cannot resize: ``RefusedByAdmissionError``) is not told: no
permission is missing.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from agent.adapters.kube_errors import (
    ApiCall,
    NotLeaderError,
    PermissionDeniedError,
    RefusedByAdmissionError,
    RetryPolicy,
    call_with_retries,
    is_budget_refusal,
    is_multiple_budgets,
    status_of,
)
from agent.errors import PermanentError, TransientError
from agent.kube_access import KubernetesIdentity, PlannedWrite

__all__ = [
    "KINDS",
    "KindInfo",
    "KubeApi",
    "RefusalHook",
    "SubjectAccessReviewer",
    "WatchExpiredError",
]

Obj = dict[str, Any]
T = TypeVar("T")
# Told of each request the API server refused (403): its verb, its resource as kubectl
# names it (``ApiCall.rbac_resource``), and whether it was a read the daemon works
# without (a list or watch of an optional kind).
RefusalHook = Callable[[str, str, bool], None]


@dataclass(frozen=True)
class KindInfo:
    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool
    api: str  # name of the client class, e.g. "AppsV1Api"
    snake: str  # method infix, e.g. "stateful_set" ("" for a custom resource)
    # What reads the kind and may do without it: a custom resource's product ("Argo
    # Rollouts"), whose CRD the cluster may not have installed, or a feature ("volume
    # expansion") that a ClusterRole from before it may not grant. "" for the kinds
    # Autonomic cannot work without.
    optional: str = ""
    # What is not done while the kind cannot be read, as the log says it.
    unread: str = "so not scaled"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def kinds(self) -> str:
        """The kind in the plural, as a sentence says it: ``Deployments``, ``StorageClasses``."""
        return f"{self.kind}es" if self.kind.endswith("s") else f"{self.kind}s"

    @property
    def resource(self) -> str:
        """``rollouts.argoproj.io``, ``deployments.apps``, ``pods``: as the API names it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo("Deployment", "apps", "v1", "deployments", True, "AppsV1Api", "deployment"),
        KindInfo("StatefulSet", "apps", "v1", "statefulsets", True, "AppsV1Api", "stateful_set"),
        KindInfo(
            "Rollout",
            "argoproj.io",
            "v1alpha1",
            "rollouts",
            True,
            "CustomObjectsApi",
            "",
            optional="Argo Rollouts",
        ),
        KindInfo("ReplicaSet", "apps", "v1", "replicasets", True, "AppsV1Api", "replica_set"),
        KindInfo("Pod", "", "v1", "pods", True, "CoreV1Api", "pod"),
        KindInfo("Node", "", "v1", "nodes", False, "CoreV1Api", "node"),
        KindInfo(
            "PersistentVolumeClaim",
            "",
            "v1",
            "persistentvolumeclaims",
            True,
            "CoreV1Api",
            "persistent_volume_claim",
            optional="volume expansion",
            unread="so no volume is expanded",
        ),
        KindInfo(
            "StorageClass",
            "storage.k8s.io",
            "v1",
            "storageclasses",
            False,
            "StorageV1Api",
            "storage_class",
            optional="volume expansion",
            unread="so no volume is expanded",
        ),
        KindInfo("Event", "", "v1", "events", True, "CoreV1Api", "event"),
        KindInfo(
            "HorizontalPodAutoscaler",
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            True,
            "AutoscalingV2Api",
            "horizontal_pod_autoscaler",
        ),
        KindInfo(
            "PodDisruptionBudget",
            "policy",
            "v1",
            "poddisruptionbudgets",
            True,
            "PolicyV1Api",
            "pod_disruption_budget",
            # Read by a drain's plan only: a ClusterRole that does not grant list on
            # them leaves the plan saying so, and the drain goes on.
            optional="drain planning",
            unread="so a drain's plan cannot say which budgets would refuse an eviction",
        ),
    )
}

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"


class WatchExpiredError(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


def _read_json(response: Any, call: ApiCall | None = None) -> Obj:
    """The answer's JSON object. An answer that is not one (an HTML page from a proxy or
    load balancer in front of the API server, a body cut short) is a ``TransientError``
    (``BadAnswer``): the pass that made the call ends and is tried again, as for a 5xx.
    Before, it was a ``ValueError`` that escaped as an unexpected error."""
    data = response.data
    what = call.describe() if call is not None else "a request"
    try:
        result = json.loads(data) if data else {}
    except ValueError:  # not JSON, or not UTF-8
        start = bytes(data[:60]) if isinstance(data, bytes | bytearray) else str(data)[:60]
        raise TransientError(
            f"{what}: the API server's answer is not JSON (a proxy in between?), "
            f"starting {start!r}",
            reason="BadAnswer",
        ) from None
    if not isinstance(result, dict):
        raise TransientError(
            f"{what}: the API server answered with JSON that is not an object "
            f"({type(result).__name__})",
            reason="BadAnswer",
        )
    return result


# A SubjectAccessReview an approval waits on (``review_access``): one retry, short
# timeouts, so that a slow API server refuses the approval in seconds, not minutes.
REVIEW_POLICY = RetryPolicy(attempts=2, base_delay=0.2, max_delay=0.5, request_timeout=(2.0, 5.0))


class KubeApi:
    """Dict-in, dict-out access to the resources Autonomic uses."""

    on_refused: RefusalHook | None = None

    def __init__(
        self,
        api_client: Any,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        may_write: Callable[[], bool] | None = None,
        on_refused: RefusalHook | None = None,
    ) -> None:
        from kubernetes import client

        self.api_client = api_client
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        # Whether this replica may write now (None: always), asked before each try.
        self.may_write = may_write
        self.on_refused = on_refused
        self._apis = {
            name: getattr(client, name)(api_client)
            for name in (
                "AppsV1Api",
                "AuthorizationV1Api",
                "CoreV1Api",
                "AutoscalingV2Api",
                "PolicyV1Api",
                "StorageV1Api",
                "CustomObjectsApi",
            )
        }

    # ------------------------------------------------------------------ helpers

    def _method(self, info: KindInfo, action: str, namespace: str | None) -> Any:
        api = self._apis[info.api]
        if info.api == "CustomObjectsApi":
            return _custom_method(api, info, action, namespace)
        if action in ("read_scale", "patch_scale"):
            verb = action.removesuffix("_scale")
            return getattr(api, f"{verb}_namespaced_{info.snake}_scale")
        if not info.namespaced:
            return getattr(api, f"{action}_{info.snake}")
        if action == "list" and not namespace:
            return getattr(api, f"list_{info.snake}_for_all_namespaces")
        return getattr(api, f"{action}_namespaced_{info.snake}")

    def _call(
        self,
        call: ApiCall,
        fn: Callable[[], T],
        *,
        optional: bool = False,
        policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> T:
        """``call_with_retries``, with a refusal (403) told to ``on_refused``;
        ``optional``: a read the daemon works without (see the module's docstring);
        ``policy``: this call's retries, instead of the adapter's."""
        try:
            result: T = call_with_retries(
                fn, call, policy or self.policy, sleep=self._sleep, **kwargs
            )
        except PermissionDeniedError as exc:
            # an admission plugin's 403 (a quota, a namespace being deleted) is no
            # missing permission: not told, so it does not fire AutonomicPermissionDenied
            if self.on_refused is not None and not isinstance(exc, RefusedByAdmissionError):
                self.on_refused(call.verb, call.rbac_resource, optional)
            raise
        return result

    def _run(self, call: ApiCall, fn: Callable[[], Any], **kwargs: Any) -> Obj:
        return self._call(call, lambda: _read_json(fn(), call), **kwargs)

    def _write(self, call: ApiCall, fn: Callable[[], Any], **kwargs: Any) -> Obj:
        """``_run`` for a write that changes an object: each try is sent only while
        ``may_write`` allows it (see the module's docstring)."""

        def fenced() -> Any:
            if self.may_write is not None and not self.may_write():
                raise NotLeaderError(
                    f"not sending {call.describe()}: this replica no longer holds the "
                    "lease (it ran out while the write was being made or retried)"
                )
            return fn()

        return self._run(call, fenced, **kwargs)

    def _removed(self, call: ApiCall) -> Callable[[], Obj]:
        """The answer to a removal whose retry found the object gone: the earlier try,
        whose answer was lost, removed it (the object was read just before)."""
        return lambda: {
            "kind": "Status",
            "status": "Success",
            "message": f"{call.describe()}: gone when retried; an earlier try removed it",
        }

    def _where(self, info: KindInfo, namespace: str | None) -> tuple[Any, ...]:
        return (namespace,) if info.namespaced and namespace else ()

    def _opts(self, policy: RetryPolicy | None = None) -> dict[str, Any]:
        timeout = (policy or self.policy).request_timeout
        return {"_preload_content": False, "_request_timeout": timeout}

    # -------------------------------------------------------------------- reads

    def read(self, kind: str, namespace: str | None, name: str) -> Obj:
        info = KINDS[kind]
        method = self._method(info, "read", namespace)
        call = ApiCall("get", info.group, info.plural, namespace, name)
        return self._run(call, lambda: method(name, *self._where(info, namespace), **self._opts()))

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        policy: RetryPolicy | None = None,
    ) -> tuple[list[Obj], str]:
        """Items (with kind/apiVersion filled in) and the list's resourceVersion.
        ``policy``: this LIST's retries and timeout, instead of the adapter's (a read
        that must not keep its caller waiting: a decision's Events)."""
        info = KINDS[kind]
        method = self._method(info, "list", namespace)
        call = ApiCall("list", info.group, info.plural, namespace)
        query = {
            k: v
            for k, v in (("label_selector", label_selector), ("field_selector", field_selector))
            if v
        }
        body = self._run(
            call,
            lambda: method(*self._where(info, namespace), **query, **self._opts(policy)),
            optional=bool(info.optional),
            policy=policy,
        )
        items = body.get("items") or []
        for item in items:
            item.setdefault("kind", info.kind)
            item.setdefault("apiVersion", info.api_version)
        return items, str((body.get("metadata") or {}).get("resourceVersion", ""))

    def watch(
        self,
        kind: str,
        namespace: str | None,
        resource_version: str,
        *,
        timeout_seconds: int,
        on_response: Callable[[Any], None] | None = None,
    ) -> Iterator[Obj]:
        """Yield raw watch events until the server ends the stream.

        Raises ``WatchExpiredError`` on a 410 ERROR event; network failures propagate.
        """
        info = KINDS[kind]
        method = self._method(info, "list", namespace)
        call = ApiCall("watch", info.group, info.plural, namespace)

        def open_stream() -> Any:
            return method(
                *self._where(info, namespace),
                watch=True,
                resource_version=resource_version,
                timeout_seconds=timeout_seconds,
                allow_watch_bookmarks=True,
                _preload_content=False,
                _request_timeout=(self.policy.request_timeout[0], timeout_seconds + 15),
            )

        response = self._call(call, open_stream, optional=bool(info.optional))
        if on_response is not None:
            on_response(response)
        try:
            for line in _lines(response):
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    if status.get("code") == 410:
                        raise WatchExpiredError(status.get("message", "resourceVersion too old"))
                    raise RuntimeError(f"watch of {info.plural} failed: {status}")
                yield event
        finally:
            response.release_conn()

    def read_scale(self, kind: str, namespace: str, name: str) -> Obj:
        info = KINDS[kind]
        method = self._method(info, "read_scale", namespace)
        call = ApiCall("get", info.group, f"{info.plural}/scale", namespace, name)
        return self._run(call, lambda: method(name, namespace, **self._opts()))

    # ------------------------------------------------------------------- writes

    def patch(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        body: Obj,
        *,
        content_type: str = MERGE_PATCH,
        dry_run: bool = False,
    ) -> Obj:
        info = KINDS[kind]
        method = self._method(info, "patch", namespace)
        call = ApiCall("patch", info.group, info.plural, namespace, name)
        return self._write(
            call,
            lambda: method(
                name,
                *self._where(info, namespace),
                body,
                dry_run="All" if dry_run else None,
                field_manager="autonomic",
                _content_type=content_type,
                **self._opts(),
            ),
        )

    def patch_scale(
        self, kind: str, namespace: str, name: str, body: Obj, *, dry_run: bool = False
    ) -> Obj:
        info = KINDS[kind]
        method = self._method(info, "patch_scale", namespace)
        call = ApiCall("patch", info.group, f"{info.plural}/scale", namespace, name)
        return self._write(
            call,
            lambda: method(
                name,
                namespace,
                body,
                dry_run="All" if dry_run else None,
                field_manager="autonomic",
                _content_type=MERGE_PATCH,
                **self._opts(),
            ),
        )

    def delete_pod(self, namespace: str, name: str, *, uid: str, dry_run: bool = False) -> Obj:
        api = self._apis["CoreV1Api"]
        call = ApiCall("delete", "", "pods", namespace, name)
        options = {"preconditions": {"uid": uid}}
        return self._write(
            call,
            lambda: api.delete_namespaced_pod(
                name, namespace, body=options, dry_run="All" if dry_run else None, **self._opts()
            ),
            gone_on_retry=self._removed(call),
        )

    def evict_pod(
        self, namespace: str, name: str, *, uid: str | None = None, dry_run: bool = False
    ) -> Obj:
        """POST an Eviction. A 429 that names a DisruptionBudget is not retried here, nor
        a 500 refusing a pod under more than one PodDisruptionBudget (a
        ``PermanentError``: asking again gets the same answer). ``uid``: the pod meant
        (``deleteOptions.preconditions.uid``); another pod of that name since (a
        StatefulSet's, created again) is refused, ``TargetReplacedError``."""
        api = self._apis["CoreV1Api"]
        call = ApiCall("create", "", "pods/eviction", namespace, name)
        body: Obj = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        options: Obj = {}
        if uid:
            options["preconditions"] = {"uid": uid}
        if dry_run:
            options["dryRun"] = ["All"]
        if options:
            body["deleteOptions"] = options

        def retryable(exc: Exception) -> bool:
            status, payload = status_of(exc)
            if status == 429:
                return not is_budget_refusal(payload)
            if is_multiple_budgets(status, payload):
                return False
            return status >= 500 or status == 0

        return self._write(
            call,
            lambda: api.create_namespaced_pod_eviction(
                name, namespace, body, dry_run="All" if dry_run else None, **self._opts()
            ),
            retry_if=retryable,
            gone_on_retry=self._removed(call),
        )

    def review_access(
        self, user: str, groups: tuple[str, ...], attributes: dict[str, str]
    ) -> tuple[bool, str]:
        """Create a SubjectAccessReview (authorization.k8s.io/v1): may ``user`` (in
        ``groups``) make the request ``attributes`` describe (``spec.resourceAttributes``)?
        ``(allowed, reason)``; the authorizer's ``evaluationError``, when it names one and
        did not allow, raises ``PermanentError``. Retried briefly: an answer to an approval
        waits on it (``REVIEW_POLICY``)."""
        api = self._apis["AuthorizationV1Api"]
        call = ApiCall("create", "authorization.k8s.io", "subjectaccessreviews")
        body: Obj = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": list(groups),
                "resourceAttributes": attributes,
            },
        }
        answer = self._run(
            call,
            lambda: api.create_subject_access_review(body, **self._opts(REVIEW_POLICY)),
            policy=REVIEW_POLICY,
        )
        status = answer.get("status") or {}
        allowed = status.get("allowed") is True and status.get("denied") is not True
        error = str(status.get("evaluationError") or "")
        if not allowed and error:
            raise PermanentError(f"the API server could not evaluate the review: {error}")
        return allowed, str(status.get("reason") or "")

    def create_event(self, namespace: str, body: Obj) -> Obj:
        api = self._apis["CoreV1Api"]
        call = ApiCall("create", "", "events", namespace)
        return self._run(
            call,
            lambda: api.create_namespaced_event(namespace, body, **self._opts()),
            exists_on_retry=lambda: body,  # its name is its own (a random suffix): ours
        )


class SubjectAccessReviewer:
    """``agent.kube_access.AccessReviewer`` over the API server: one SubjectAccessReview
    per write asked about."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api

    def review(self, identity: KubernetesIdentity, write: PlannedWrite) -> tuple[bool, str]:
        return self.api.review_access(identity.user, identity.groups, write.attributes())


def _custom_method(api: Any, info: KindInfo, action: str, namespace: str | None) -> Any:
    """The ``CustomObjectsApi`` call for ``action`` on a namespaced custom resource, taking
    its arguments as the typed APIs' calls do: ``(name, namespace, body)`` for a write,
    ``(name, namespace)`` for a read, ``(namespace)`` or nothing for a list; the group,
    version and plural come from ``info``."""
    g, v, p = info.group, info.version, info.plural
    calls: dict[str, Callable[..., Any]] = {
        "read": lambda name, ns, **kw: api.get_namespaced_custom_object(g, v, ns, p, name, **kw),
        "patch": lambda name, ns, body, **kw: api.patch_namespaced_custom_object(
            g, v, ns, p, name, body, **kw
        ),
        "read_scale": lambda name, ns, **kw: api.get_namespaced_custom_object_scale(
            g, v, ns, p, name, **kw
        ),
        "patch_scale": lambda name, ns, body, **kw: api.patch_namespaced_custom_object_scale(
            g, v, ns, p, name, body, **kw
        ),
        "list": (
            (lambda ns, **kw: api.list_namespaced_custom_object(g, v, ns, p, **kw))
            if namespace
            else (lambda **kw: api.list_cluster_custom_object(g, v, p, **kw))
        ),
    }
    return calls[action]


def _lines(response: Any) -> Iterator[str]:
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line.decode("utf-8")
    if buffer.strip():
        yield buffer.decode("utf-8")


def interrupt(response: Any) -> None:
    """Unblock a thread reading a watch stream (used on shutdown)."""
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
