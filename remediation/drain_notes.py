"""What a drain says about the pods it cannot move, in the same words wherever it is
said: in the plan, in each round's result (and so its escalation), in verification.

- a pod annotated ``cluster-autoscaler.kubernetes.io/safe-to-evict: "false"`` is never
  evicted (the cluster autoscaler does not remove its node; draino skips it): the drain
  leaves it in place and ends incomplete;
- a StatefulSet's pod on a NotReady node, once deleted (by an eviction, or by the taint
  manager), stays Terminating: the kubelet cannot confirm it stopped, and the StatefulSet
  controller does not start a pod of the same name while the old one may still run. It
  is replaced only once the Node is deleted or tainted
  ``node.kubernetes.io/out-of-service`` (non-graceful node shutdown). Autonomic says so
  and does neither by itself: only a person knows the machine is really off.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "OUT_OF_SERVICE_TAINT",
    "SAFE_TO_EVICT_ANNOTATION",
    "not_replaced",
    "protected_left",
    "shown",
]

SAFE_TO_EVICT_ANNOTATION = "cluster-autoscaler.kubernetes.io/safe-to-evict"
OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service"


def shown(names: Sequence[str], limit: int = 5) -> str:
    """``a, b, c`` or ``a, b, c, d, e and 3 more``."""
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if names[limit:] else "")


def protected_left(pods: Sequence[str]) -> str:
    """The sentence for the pods (``namespace/name``) a drain leaves because they are
    annotated safe-to-evict: "false"."""
    return (
        f'{len(pods)} left in place, annotated {SAFE_TO_EVICT_ANNOTATION}: "false" (their '
        f"owners ask that they never be evicted): {shown(pods)}; remove the annotation or "
        "move them by hand, then drain again"
    )


def not_replaced(node: str, pods: Sequence[tuple[str, str]]) -> str:
    """The sentence for StatefulSet pods stuck Terminating on the NotReady ``node``:
    ``pods`` are (``namespace/name`` of the pod, name of its StatefulSet)."""
    named = shown([f"{pod} (StatefulSet {owner})" for pod, owner in pods])
    return (
        f"StatefulSet pod{'s' if len(pods) != 1 else ''} {named} will not be replaced until "
        f"node {node} is deleted or tainted out-of-service: the node is NotReady, so its "
        "kubelet cannot confirm the pod stopped, and a StatefulSet never starts a second pod "
        "of the same name; once the machine is known to be off, delete the Node or run "
        f"kubectl taint nodes {node} {OUT_OF_SERVICE_TAINT}=nodeshutdown:NoExecute"
    )
