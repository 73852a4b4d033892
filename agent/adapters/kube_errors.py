"""Kubernetes API failures, translated into Autonomic's two error families.

    409 Conflict            -> ``ConflictError`` (internal: re-read and try again, bounded)
    429 / 5xx / timeouts    -> retried with bounded backoff, then ``TransientError``
    429 from a PDB          -> ``BlockedByBudgetError`` (transient: the budget may free up later)
    500 "more than one PDB" -> ``PermanentError`` (``MultipleDisruptionBudgets``: never retried)
    the lease lost          -> ``NotLeaderError`` (transient; a write not sent, see ``KubeApi``)
    403 Forbidden           -> ``PermissionDeniedError`` naming verb, resource and namespace;
                               ``RefusedByAdmissionError`` (a subclass) when the server's
                               words are not the authorizer's (a quota, a namespace being
                               deleted, a volume that cannot grow, a validating webhook)
    404 Not Found           -> ``ObjectGoneError`` (record and stop)
    400 / 422               -> ``InvalidRequestError``
    an object not readable  -> ``BadObjectError`` (``kube_state``: a field of the wrong shape)

Every error carries a ``reason`` code that the pure core can match on without
importing this module (``err.reason == "DisruptionBudget"``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from agent.errors import PermanentError, TransientError

__all__ = [
    "ApiCall",
    "BadObjectError",
    "BlockedByBudgetError",
    "ConflictError",
    "InvalidRequestError",
    "NotLeaderError",
    "ObjectGoneError",
    "PermissionDeniedError",
    "RefusedByAdmissionError",
    "RetryPolicy",
    "UndoRefusedError",
    "call_with_retries",
    "is_budget_refusal",
    "is_multiple_budgets",
    "status_of",
]

T = TypeVar("T")


class ObjectGoneError(PermanentError):
    """The object no longer exists (404), or was replaced by another with the same name."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="NotFound")


class BadObjectError(PermanentError):
    """An object the API server sent that cannot be read as the model it stands for (a
    count that is negative, fractional or text; a list where a map belongs). The message
    names the object and the field; callers that list skip it, and say so."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="BadObject")


class PermissionDeniedError(PermanentError):
    """Autonomic's ServiceAccount lacks a permission; the message names it."""

    def __init__(self, message: str, *, verb: str, group: str, resource: str, namespace: str):
        super().__init__(message, reason="Forbidden")
        self.verb, self.group, self.resource, self.namespace = verb, group, resource, namespace


class RefusedByAdmissionError(PermissionDeniedError):
    """A 403 Forbidden that is not the authorizer's: an admission plugin refused the
    request (a ResourceQuota it would exceed, a namespace being deleted, a claim whose
    StorageClass cannot resize, a validating webhook that answers 403). Granting a
    permission does not help, so it is not counted as a missing one
    (``KubeApi.on_refused``); it keeps the ``Forbidden`` reason of every 403."""


# The authorizer's words in every 403 it gives (k8s.io/apiserver, responsewriters'
# ``forbiddenMessage``): 'User "system:serviceaccount:autonomic:autonomic" cannot patch
# resource "deployments/scale" in API group "apps" in the namespace "shop"' (or 'cannot
# get path "/..."' for a request that is not on a resource).
_AUTHORIZER_WORDS = re.compile(r'\bcannot \S+ (resource|path) "')


def is_authorization_refusal(status_body: dict[str, Any]) -> bool:
    """Whether a 403's Status is the authorizer's (RBAC: a permission is missing), rather
    than an admission plugin's. A 403 without a Status message (a proxy's page) is taken
    as the authorizer's: a missing permission is the one to look for."""
    message = status_body.get("message")
    if not isinstance(message, str) or not message:
        return True
    return _AUTHORIZER_WORDS.search(message) is not None


class InvalidRequestError(PermanentError):
    """The API server rejected the request as invalid (400/422): retrying will not help."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="Invalid")


class BlockedByBudgetError(TransientError):
    """An eviction was refused because a PodDisruptionBudget allows no disruption now."""

    def __init__(self, message: str, *, delay: float = 30.0) -> None:
        super().__init__(message, delay=delay, reason="DisruptionBudget")


class NotLeaderError(TransientError):
    """A write not sent because this replica no longer holds the lease: its authority
    ran out while the write was being made (a slow read before it, a retry after a
    timeout, the next eviction of a drain). An earlier try of the same write may have
    reached the server, so whether it happened is for the next leader to find out."""

    def __init__(self, message: str) -> None:
        super().__init__(message, delay=0.0, reason="NotLeader")


class UndoRefusedError(PermanentError):
    """Undo would overwrite someone else's change, or the operation cannot be undone."""


class TargetReplacedError(PermanentError):
    """The write named the object Autonomic read (its ``metadata.uid``), and the object
    of that name is now another one: deleted and created again since. Never retried:
    the write would land on someone else's object."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="TargetReplaced")


def is_uid_mismatch(status: int, body: dict[str, Any]) -> bool:
    """Whether a write's refusal is the API server's answer to a ``metadata.uid`` that
    is not the object's: 409 "Precondition failed: UID in precondition" (an update, a
    scale subresource; a delete whose object was replaced during it), 409 "the UID in
    the precondition (...) does not match the UID in record" (a delete, an eviction:
    ``DeleteOptions.preconditions.uid``), or 422 with a cause on ``metadata.uid``
    ("field is immutable": a patch of the main resource, judged after its
    resourceVersion)."""
    message = str(body.get("message") or "")
    if status == 409:
        return "UID in precondition" in message or "UID in the precondition" in message
    if status == 422:
        causes = (body.get("details") or {}).get("causes") or []
        return any(isinstance(c, dict) and c.get("field") == "metadata.uid" for c in causes)
    return False


class ConflictError(Exception):
    """409: the object changed since it was read. Callers re-read and retry (bounded).

    ``after_unanswered``: an earlier try of the same request got no usable answer (a
    network failure, a 5xx), so it may have been applied and the 409 may be the
    server refusing the retry's stale resourceVersion; False: the first answer was the
    409, so someone else wrote the object between the read and this write."""

    def __init__(self, message: str, *, after_unanswered: bool = False) -> None:
        super().__init__(message)
        self.after_unanswered = after_unanswered


@dataclass(frozen=True)
class ApiCall:
    """What a request does, in RBAC terms, so errors can say what is missing."""

    verb: str
    group: str
    resource: str
    namespace: str | None = None
    name: str | None = None

    @property
    def rbac_resource(self) -> str:
        """The resource with its API group, as ``kubectl`` and the metrics name it:
        ``pods``, ``pods/eviction``, ``deployments.apps``, ``deployments.apps/scale``,
        ``rollouts.argoproj.io``. A closed set: the kinds and subresources Autonomic uses."""
        plural, slash, sub = self.resource.partition("/")
        return f"{plural}.{self.group}{slash}{sub}" if self.group else self.resource

    def describe(self) -> str:
        where = f" in namespace {self.namespace!r}" if self.namespace else " (cluster scope)"
        group = self.group or "core"
        target = f" {self.name!r}" if self.name else ""
        return f"{self.verb} {self.resource}{target} (API group {group}){where}"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for retries: a transient failure is retried ``attempts - 1`` times with
    exponential backoff from ``base_delay`` capped at ``max_delay``; a 409 re-read
    happens at most ``conflict_attempts`` times."""

    attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    conflict_attempts: int = 4
    request_timeout: tuple[float, float] = (5.0, 30.0)  # (connect, read) seconds


def status_of(exc: Exception) -> tuple[int, dict[str, Any]]:
    """(HTTP status, parsed Status body) of a client exception; 0 for network failures."""
    status = getattr(exc, "status", None)
    if not isinstance(status, int):
        return 0, {}
    raw = getattr(exc, "body", None)
    try:
        body = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        body = {}
    return status, body if isinstance(body, dict) else {}


def is_budget_refusal(status_body: dict[str, Any]) -> bool:
    """Whether a 429 Status is a PodDisruptionBudget refusal (not API throttling)."""
    causes = (status_body.get("details") or {}).get("causes") or []
    return any(cause.get("reason") == "DisruptionBudget" for cause in causes)


# What the eviction API answers (HTTP 500, a Status with no reason) for a pod that two or
# more PodDisruptionBudgets select: pkg/registry/core/pod/storage/eviction.go, "This pod
# has more than one PodDisruptionBudget, which the eviction subresource does not support."
MULTIPLE_BUDGETS = "more than one PodDisruptionBudget"


def is_multiple_budgets(status: int, status_body: dict[str, Any]) -> bool:
    """Whether an answer is the eviction API's refusal of a pod under two or more
    PodDisruptionBudgets: a 500 that no retry changes, unlike a 500 from an overloaded
    server or a webhook that timed out. Only the message tells them apart."""
    return status == 500 and MULTIPLE_BUDGETS in str(status_body.get("message") or "")


def _is_network_failure(exc: Exception) -> bool:
    import urllib3

    return isinstance(exc, (urllib3.exceptions.HTTPError, OSError, TimeoutError))


def _retry_after(exc: Exception) -> float | None:
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def translate(exc: Exception, call: ApiCall) -> Exception:
    """Map a client exception to the error Autonomic raises (not retried here)."""
    status, body = status_of(exc)
    message = body.get("message") or getattr(exc, "reason", None) or str(exc)
    if status == 429 and is_budget_refusal(body):
        causes = (body.get("details") or {}).get("causes") or [{}]
        return BlockedByBudgetError(
            f"{call.describe()} refused by a PodDisruptionBudget: {message} "
            f"({causes[0].get('message', 'no detail')})"
        )
    if is_multiple_budgets(status, body):
        return PermanentError(
            f"{call.describe()} refused for good: {message} Two or more "
            "PodDisruptionBudgets select this pod, and the eviction API refuses it every "
            "time until only one does (remove one, or narrow a selector; "
            f"kubectl -n {call.namespace or 'NAMESPACE'} get pdb)",
            reason="MultipleDisruptionBudgets",
        )
    if call.verb in ("patch", "update", "delete", "create") and is_uid_mismatch(status, body):
        return TargetReplacedError(
            f"refused: {call.describe()} named the object Autonomic read, and the "
            f"object of that name is now another one (deleted and replaced since; "
            f"the server said: {message}); leaving the new one as it is"
        )
    if status == 409:
        return ConflictError(f"{call.describe()}: {message}")
    if status == 404:
        return ObjectGoneError(f"cannot {call.describe()}: it no longer exists ({message})")
    if status == 403 and not is_authorization_refusal(body):
        return RefusedByAdmissionError(
            f"the API server refused to {call.describe()}: {message} (an admission check "
            "refused it, not RBAC: no permission is missing)",
            verb=call.verb,
            group=call.group,
            resource=call.resource,
            namespace=call.namespace or "",
        )
    if status == 403:
        return PermissionDeniedError(
            f"Autonomic is not allowed to {call.describe()}. Grant verb {call.verb!r} on "
            f"resource {call.resource!r} in API group {call.group or '(core)'!r} to its "
            f"ServiceAccount (ClusterRole/Role in manifests/). Server said: {message}",
            verb=call.verb,
            group=call.group,
            resource=call.resource,
            namespace=call.namespace or "",
        )
    if status in (400, 422):
        return InvalidRequestError(f"the API server rejected {call.describe()}: {message}")
    if status == 401:
        return PermanentError(
            f"the API server did not accept Autonomic's credentials for {call.describe()}; "
            "check the ServiceAccount token or kubeconfig",
            reason="Unauthorized",
        )
    if status == 429 or status >= 500 or status == 0:
        kind = "network failure" if status == 0 else f"HTTP {status}"
        return TransientError(
            f"{call.describe()} failed ({kind}): {message}",
            delay=_retry_after(exc) or 5.0,
            reason="ApiUnavailable",
        )
    return PermanentError(f"{call.describe()} failed with HTTP {status}: {message}")


def _retryable(exc: Exception) -> bool:
    status, _ = status_of(exc)
    if status == 0:
        return _is_network_failure(exc)
    return status == 429 or status >= 500


def call_with_retries(
    fn: Callable[[], T],
    call: ApiCall,
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    retry_if: Callable[[Exception], bool] = _retryable,
    gone_on_retry: Callable[[], T] | None = None,
    exists_on_retry: Callable[[], T] | None = None,
) -> T:
    """Run ``fn``; retry 429/5xx/network failures with bounded backoff; translate the rest.

    Raises ``ConflictError`` on 409 for the caller's read-modify-write loop.
    ``gone_on_retry`` (for writes that remove their object: a delete, an eviction): a 404
    after a try that got no usable answer (a network failure or a 5xx, which the server
    may have applied) means that try removed it; its value is the answer.
    ``exists_on_retry`` (for a create whose name nobody else can have chosen: an Event's
    random suffix): a 409 AlreadyExists after such a try means that try created it.
    """
    delay = policy.base_delay
    unanswered = False  # a try failed in a way that says nothing about whether it applied
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not hasattr(exc, "status") and not _is_network_failure(exc):
                raise
            status = status_of(exc)[0]
            if unanswered and gone_on_retry is not None and status == 404:
                return gone_on_retry()
            if unanswered and exists_on_retry is not None and status == 409:
                return exists_on_retry()
            unanswered = unanswered or status == 0 or status >= 500
            if attempt < policy.attempts and retry_if(exc):
                sleep(min(_retry_after(exc) or delay, policy.max_delay))
                delay = min(delay * 2, policy.max_delay)
                continue
            error = translate(exc, call)
            if isinstance(error, ConflictError):
                error.after_unanswered = unanswered
            if type(error) is TransientError:
                error = TransientError(
                    f"{error} (gave up after {attempt} attempts)",
                    delay=error.delay,
                    reason=error.reason,
                )
            # ``error`` is dropped from this frame as it leaves: the frame is in the
            # error's traceback, and holding it would make a cycle (the error, the
            # client's exception, its connection and frames) that only the cyclic
            # collector frees, after every failed call.
            try:
                raise error from exc
            finally:
                del error
    raise AssertionError("unreachable")  # pragma: no cover
