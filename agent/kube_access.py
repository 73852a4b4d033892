"""May the approver make these writes themselves? (``slack.requireKubernetesAccess``)

An approval hands Autonomic's own permissions to whoever clicked. With
``slack.requireKubernetesAccess: true`` an approval is taken only from a person who could
make every write of the approved plan with their own Kubernetes identity: their Slack
user id is mapped to a Kubernetes user name (and groups) in
``slack.kubernetesIdentities``, and for each write a ``SubjectAccessReview`` is created
as that user. Any write denied, any review that fails, an answerer with no mapping, or a
decision whose writes cannot be listed when it is approved: the approval is refused, and
the question stays open for someone else.

The writes are read from the decision as recorded when it was asked: a runbook plan's
``operations``, a floor's ``op`` on its workload or HPA. A canary verdict whose yes is
taken up by runbooks without asking again (``yes_acts``) has no such list (the runbooks
plan their writes after the yes), so it is refused; one whose yes writes nothing itself
(a runbook asks again, and that question is checked) needs no review.

The check runs where the answer is recorded (``Approvals.answer``): for a Slack click
that is the click worker, off the request's thread, so Slack's 3 s acknowledgement does
not wait on the reviews (``SlackReceiver.handle_interaction`` answers 200 after
``ack_wait`` at the latest; a refusal is then said in a reply only the clicker sees).
Checking before the compare-and-set, rather than when the approved plan starts, keeps a
refused approval from closing the question: nobody else could answer it then.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from agent.errors import AutonomicError
from agent.ledger import DecisionRecord

if TYPE_CHECKING:
    from agent.settings import SlackSettings

__all__ = [
    "AccessCheck",
    "AccessReviewer",
    "KubernetesIdentity",
    "PlannedWrite",
    "access_check",
    "planned_writes",
]

log = logging.getLogger("autonomic.kube_access")

# group and plural of each kind a plan writes (as the Kubernetes adapter's ``KINDS``).
_RESOURCES: dict[str, tuple[str, str]] = {
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "ReplicaSet": ("apps", "replicasets"),
    "Rollout": ("argoproj.io", "rollouts"),
    "Pod": ("", "pods"),
    "Node": ("", "nodes"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers"),
}


@dataclass(frozen=True)
class KubernetesIdentity:
    """Whom a Slack user is in Kubernetes, as a SubjectAccessReview names them."""

    user: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedWrite:
    """One request an approved plan will send: a SubjectAccessReview's resourceAttributes.
    ``namespace`` "" is cluster-scoped (a node), or every namespace; ``name`` "" is any."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    def said(self) -> str:
        """``patch deployments/scale in shop (web)``."""
        what = self.resource + (f"/{self.subresource}" if self.subresource else "")
        where = f" in {self.namespace}" if self.namespace else " cluster-wide"
        return f"{self.verb} {what}{where}" + (f" ({self.name})" if self.name else "")

    def attributes(self) -> dict[str, str]:
        """``spec.resourceAttributes`` of the review (empty values left out)."""
        out = {
            "verb": self.verb,
            "group": self.group,
            "resource": self.resource,
            "subresource": self.subresource,
            "namespace": self.namespace,
            "name": self.name,
        }
        return {k: v for k, v in out.items() if v or k == "group"}


class AccessReviewer(Protocol):
    """The port: asks the API server whether ``identity`` may make ``write``.

    Returns ``(allowed, reason)`` (the authorizer's reason, possibly empty); raises an
    ``AutonomicError`` when the review itself could not be made."""

    def review(self, identity: KubernetesIdentity, write: PlannedWrite) -> tuple[bool, str]: ...


class UnknownWritesError(ValueError):
    """The writes approving this decision makes cannot be listed now."""


def _ref(text: str) -> tuple[str, str, str]:
    """``Deployment/shop/web`` -> (kind, namespace, name); ``Node/n1`` -> (kind, "", name)."""
    parts = text.split("/")
    if len(parts) == 3 and all(parts[::2]):
        return parts[0], parts[1], parts[2]
    if len(parts) == 2 and all(parts):
        return parts[0], "", parts[1]
    raise UnknownWritesError(f"cannot read an object reference from {text!r}")


def _write(verb: str, kind: str, namespace: str, name: str, subresource: str = "") -> PlannedWrite:
    if kind not in _RESOURCES:
        raise UnknownWritesError(f"no Kubernetes resource is known for kind {kind}")
    group, plural = _RESOURCES[kind]
    return PlannedWrite(verb, group, plural, subresource, namespace, name)


def _operation_writes(op: Mapping[str, Any]) -> list[PlannedWrite]:
    """The requests one recorded operation (``operation_to_dict``) sends."""
    target = op.get("target") or {}
    kind, name = str(target.get("kind") or ""), str(target.get("name") or "")
    namespace = str(target.get("namespace") or "")
    kind_of = op.get("op")
    if kind_of == "scale":
        return [_write("patch", kind, namespace, name, "scale")]
    if kind_of == "delete_pod":
        return [_write("delete", kind, namespace, name)]
    if kind_of == "evict_pod":
        return [_write("create", kind, namespace, name, "eviction")]
    if kind_of == "drain":
        # The pods it evicts are chosen round by round, from every namespace: the
        # review asks for evictions anywhere.
        return [_write("patch", kind, namespace, name), _write("create", "Pod", "", "", "eviction")]
    if kind_of in (
        "set_hpa_min_replicas",
        "set_hpa_max_replicas",
        "rollout_restart",
        "rollback",
        "pause_rollout",
        "cordon",
        "patch_resources",
        "expand_volume",
        "set_images",
    ):
        return [_write("patch", kind, namespace, name)]
    raise UnknownWritesError(f"an operation {kind_of!r} whose requests are not known")


def planned_writes(record: DecisionRecord) -> list[PlannedWrite]:
    """Each request approving ``record`` makes Autonomic send, as recorded when it was
    asked; ``UnknownWritesError`` when that cannot be told."""
    proposal = record.proposal
    if record.kind == "remediation" and "operations" in proposal:
        return [w for op in proposal.get("operations") or () for w in _operation_writes(op)]
    if record.kind == "scaling" and proposal.get("op") == "scale":
        kind, namespace, name = _ref(record.subject)
        return [_write("patch", kind, namespace, name, "scale")]
    if record.kind == "scaling" and proposal.get("op") == "set_hpa_min_replicas":
        hpa = record.evidence.get("hpa")
        if not isinstance(hpa, str) or not hpa:
            raise UnknownWritesError("the HorizontalPodAutoscaler it writes is not recorded")
        kind, namespace, name = _ref(hpa)
        return [_write("patch", kind, namespace, name)]
    if record.kind == "canary":
        if record.evidence.get("yes_acts") is True:
            raise UnknownWritesError(
                "a yes is taken up by runbooks that plan their writes after it, without "
                "asking again"
            )
        # The yes writes nothing itself; a runbook that takes the verdict up asks again
        # under the setting, and that question is checked (``RemediationEngine.
        # _unchecked_upstream``), whatever this question said it would do.
        return []
    raise UnknownWritesError(f"what approving a {record.kind} decision writes is not known")


class AccessCheck:
    """The rule: an approval from ``actor`` of ``record`` stands only if every planned
    write is allowed to the actor's Kubernetes identity."""

    def __init__(
        self, identities: Mapping[str, KubernetesIdentity], reviewer: AccessReviewer
    ) -> None:
        self.identities = dict(identities)
        self.reviewer = reviewer

    def refusal(self, actor: str, record: DecisionRecord) -> str | None:
        """Why ``actor`` may not approve ``record``; None when they may."""
        identity = self.identities.get(actor)
        if identity is None:
            return (
                f"{actor} has no Kubernetes identity in slack.kubernetesIdentities, and "
                "slack.requireKubernetesAccess takes approvals only from people whose own "
                "access is checked"
            )
        who = f"{actor} ({identity.user})"
        try:
            writes = planned_writes(record)
        except UnknownWritesError as exc:
            return f"cannot check what {who} may do: {exc}"
        for write in _unique(writes):
            try:
                allowed, reason = self.reviewer.review(identity, write)
            except AutonomicError as exc:
                log.warning("access review of %s for %s failed: %s", who, write.said(), exc)
                return f"could not check whether {who} may {write.said()}: {exc}"
            if not allowed:
                return f"{who} may not {write.said()}" + (f": {reason}" if reason else "")
        return None


def _unique(writes: Sequence[PlannedWrite]) -> list[PlannedWrite]:
    return list(dict.fromkeys(writes))


def access_check(settings: SlackSettings, reviewer: AccessReviewer) -> AccessCheck | None:
    """The check ``settings`` ask for (``requireKubernetesAccess``), or None when off."""
    if not settings.require_kubernetes_access:
        return None
    identities = {
        slack_id: KubernetesIdentity(given.user, tuple(given.groups))
        for slack_id, given in settings.kubernetes_identities.items()
    }
    return AccessCheck(identities, reviewer)
