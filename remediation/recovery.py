"""Whether the pod or node condition that started a run is over, read from the cluster.

A remediation can reach its first write long after the condition that started it: a
late answer, a guard that held it. Before that write the engine asks ``condition_over``
with a snapshot of now. It says the condition is over only when the object shows it
positively: cleared *after* the condition the decision was made on (its start, or the
decision's time when that is not known) and steady since for a settle time. Anything
short of that (the object not read, a time not known, a restart since, the condition
back, cleared too recently) is a reason to go on, and the answer says which: a false
"over" would cancel a needed remediation.

Per condition:

- ``NodeNotReady``: the node's Ready condition True, turned True after the NotReady
  the decision was made on, at least ``SETTLE`` ago (a node that flaps turns it again).
- ``DiskPressure``, ``MemoryPressure``, ``PIDPressure``: that condition False (not
  Unknown: a node that stopped reporting says nothing), turned False after it turned
  True, at least ``SETTLE`` ago.
- ``PodNotReady``, ``CrashLoopBackOff``, ``ImagePullBackOff``: the pod Running and
  Ready, turned Ready after the condition started (after the decision, for a crash loop,
  whose start is not known), at least the settle time ago (``CRASH_SETTLE`` for a crash
  loop), with no restart since the decision (its restart count as then; one more for a
  crash loop, whose container leaves its back-off by being started again, which counts
  as a restart) and not waiting in the reason the trigger matched. When the run acts on
  the pod itself (its target is the pod), a pod gone (deleted, being deleted, or ended)
  leaves it nothing to act on: over. When its target is the workload that owns the pod,
  the workload's pods are what matter: the pod, if still there, judged as above, and
  every other pod of the workload Ready without a break for the settle time and not in
  that reason, as many Ready as the workload wants. Their restart counts at the decision
  were not recorded; a container that restarts turns its pod's Ready condition False, so
  Ready without a break for the settle time stands for "no restart in that time".
- A pod, node or workload that exists but could not be read (``ClusterSnapshot.unread``)
  is not gone: not over; nor is a workload one of whose pods could not be read.
- ``OOMKilled`` and every other condition: not judged (None). The kubelet keeps a
  container's last termination reason until it ends again, and a pod not killed again
  for a while is between kills, not healed: its memory grows back to the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediation._types import counted
from remediation.durations import format_duration
from remediation.ports import NodeState, ObjectRef, PodState
from remediation.snapshot import ClusterSnapshot
from remediation.windows import to_utc_text

__all__ = ["CRASH_SETTLE", "SETTLE", "Recovery", "condition_over"]

# How long a condition must have stayed cleared before a run it started is called off:
# several node-controller grace periods (40 s) for a node, a node runbook's heldFor.
SETTLE = 300.0
# A crash loop: the kubelet resets a container's restart back-off once it has run for
# 10 minutes without a problem; until then it is, to Kubernetes too, still in the loop.
CRASH_SETTLE = 600.0

_NODE = {
    # condition -> (node condition type, its status once over, what it was, what it is)
    "NodeNotReady": ("Ready", "True", "NotReady", "Ready"),
    **{
        kind: (kind, "False", f"under {kind}", f"free of {kind}")
        for kind in ("DiskPressure", "MemoryPressure", "PIDPressure")
    },
}
_POD = {
    # condition -> (the waiting reasons it matched, what it was)
    "PodNotReady": (frozenset(), "not ready"),
    "CrashLoopBackOff": (frozenset({"CrashLoopBackOff"}), "in CrashLoopBackOff"),
    "ImagePullBackOff": (frozenset({"ImagePullBackOff", "ErrImagePull"}), "in ImagePullBackOff"),
}
_WORKLOADS = ("Deployment", "StatefulSet", "Rollout")


@dataclass(frozen=True)
class Recovery:
    """``over``: the condition is over, and ``why`` says so for the decision's thread
    (the object, the condition, since when); not over: ``why`` says why the run goes
    on, for the log."""

    over: bool
    why: str


def condition_over(
    condition: str,
    subject: ObjectRef,
    target: ObjectRef,
    *,
    since: float | None,
    seen: Mapping[str, Any],
    decided_at: float,
    snapshot: ClusterSnapshot,
) -> Recovery | None:
    """Whether ``condition`` (a Kubernetes-condition signal's name), seen on ``subject``
    when a decision on ``target`` was made at ``decided_at``, is over in ``snapshot``.
    ``since``: when the condition started, as the signal said (None: not known);
    ``seen``: the signal's evidence, the pod's state then (``restarts``, ``ready``).
    None for a condition not judged here."""
    now = snapshot.taken_at
    after = since if since is not None else decided_at
    if condition in _NODE:
        return _node_over(condition, subject, target, after, now, snapshot)
    if condition in _POD and subject.kind == "Pod":
        settle = CRASH_SETTLE if condition == "CrashLoopBackOff" else SETTLE
        return _pod_over(condition, subject, target, after, seen, now, settle, snapshot)
    return None


def _node_over(
    condition: str,
    subject: ObjectRef,
    target: ObjectRef,
    after: float,
    now: float,
    snapshot: ClusterSnapshot,
) -> Recovery:
    kind, good, was, state = _NODE[condition]
    if target != subject:
        return Recovery(False, f"its target {target} is not {subject}, the node it was on")
    node = snapshot.node(subject.name)
    if node is None:
        why = snapshot.unread_why(subject)
        if why is not None:
            return Recovery(False, f"{subject} could not be read: {why}")
        return Recovery(False, f"{subject} is not in the cluster as read now")
    status = node.conditions.get(kind, "Unknown")
    if status != good:
        return Recovery(False, f"{subject} is still {was} ({kind} is {status})")
    return _steady(node, subject, kind, was, state, after, now)


def _steady(
    node: NodeState,
    subject: ObjectRef,
    kind: str,
    was: str,
    state: str,
    after: float,
    now: float,
) -> Recovery:
    turned = node.condition_since.get(kind)
    if turned is None:
        return Recovery(False, f"{subject} is {state}, but since when is not known")
    if turned <= after:
        return Recovery(
            False,
            f"{subject} is {state} since {to_utc_text(turned)}, not since after the "
            f"condition this decision was made on ({to_utc_text(after)})",
        )
    if now - turned < SETTLE:
        return Recovery(
            False,
            f"{subject} is {state} again, but only since {to_utc_text(turned)}, less than "
            f"{format_duration(SETTLE)} before this check",
        )
    return Recovery(
        True,
        f"{subject}, {was} when this decision was made, has been {state} since "
        f"{to_utc_text(turned)} ({format_duration(now - turned)} without a break)",
    )


def _pod_over(
    condition: str,
    subject: ObjectRef,
    target: ObjectRef,
    after: float,
    seen: Mapping[str, Any],
    now: float,
    settle: float,
    snapshot: ClusterSnapshot,
) -> Recovery:
    reasons, was = _POD[condition]
    # A pod (or workload) that exists but could not be read is not gone: not known.
    for ref in (subject, target):
        why = snapshot.unread_why(ref)
        if why is not None:
            return Recovery(False, f"{ref} could not be read: {why}")
    pod = snapshot.pod(subject)
    gone = _gone(pod)
    if target == subject:
        if gone is not None:
            return Recovery(
                True,
                f"{subject}, {was} when this decision was made, {gone}",
            )
        assert pod is not None
        return _pod_recovered(pod, reasons, was, after, seen, now, settle)
    if target.kind not in _WORKLOADS or (pod is not None and pod.owner != target):
        return Recovery(False, f"its target {target} is not the workload of {subject}")
    workload = snapshot.workload(target)
    if workload is None:
        return Recovery(False, f"{target} is not in the cluster as read now")
    if gone is None:
        assert pod is not None
        first = _pod_recovered(pod, reasons, was, after, seen, now, settle)
        if not first.over:
            return first
        said = first.why
    else:
        said = f"{subject}, {was} when this decision was made, {gone}"
    others = [p for p in snapshot.pods_of(target) if not p.deleting and p.ref != subject]
    hidden = [u for u in snapshot.unread_pods_of(target) if u.ref != subject]
    if hidden:
        return Recovery(
            False,
            f"{counted(len(hidden), 'pod')} of {target} could not be read, so whether "
            f"{'it is' if len(hidden) == 1 else 'they are'} Ready is not known: "
            f"{hidden[0].why}",
        )
    for other in others:
        doubt = _pod_steady(other, reasons, now, settle)
        if doubt is not None:
            return Recovery(False, f"{doubt}, a pod of {target}")
    ready = len(others) + (gone is None)
    if ready < max(workload.replicas, 1):
        return Recovery(
            False, f"{target} has {ready} Ready pods of the {workload.replicas} it wants"
        )
    if not others:
        return Recovery(True, f"{said}, and it is the only pod {target} wants")
    none_in = f", none {was}" if reasons else ""
    return Recovery(
        True,
        f"{said}, and the other {'pod' if len(others) == 1 else f'{len(others)} pods'} of "
        f"{target} {'has' if len(others) == 1 else 'have'} been Ready for "
        f"{format_duration(settle)} or more{none_in}",
    )


def _gone(pod: PodState | None) -> str | None:
    """How a pod is gone (None: it is not)."""
    if pod is None:
        return "no longer exists (deleted, or replaced by its controller)"
    if pod.deleting:
        return "is being deleted"
    if pod.terminal:
        return f"has ended (phase {pod.phase})"
    return None


def _pod_recovered(
    pod: PodState,
    reasons: frozenset[str],
    was: str,
    after: float,
    seen: Mapping[str, Any],
    now: float,
    settle: float,
) -> Recovery:
    """Whether the pod the condition was seen on is over it: not only Ready and steady,
    but Ready since after the condition, and not restarted since the decision."""
    doubt = _pod_steady(pod, reasons, now, settle)
    if doubt is not None:
        return Recovery(False, doubt)
    then = seen.get("restarts")
    if seen.get("ready") is not False or not isinstance(then, int):
        return Recovery(False, f"{pod.ref}'s state when this decision was made is not recorded")
    # A container waiting out a crash loop's back-off leaves it by being started again,
    # which counts as a restart: that one, and no other.
    allowed = 1 if "CrashLoopBackOff" in reasons else 0
    if not then <= pod.restarts <= then + allowed:
        return Recovery(
            False,
            f"{pod.ref} has restarted since this decision was made ({pod.restarts} restarts, "
            f"{then} then)",
        )
    assert pod.ready_at is not None  # _pod_steady
    if pod.ready_at <= after:
        return Recovery(
            False,
            f"{pod.ref} is Ready since {to_utc_text(pod.ready_at)}, not since after the "
            f"condition this decision was made on ({to_utc_text(after)})",
        )
    return Recovery(
        True,
        f"{pod.ref}, {was} when this decision was made, has been Ready since "
        f"{to_utc_text(pod.ready_at)} ({format_duration(now - pod.ready_at)} without a "
        f"break), {_restarts(pod.restarts, then)}",
    )


def _pod_steady(pod: PodState, reasons: frozenset[str], now: float, settle: float) -> str | None:
    """Why ``pod`` is not Ready without a break for ``settle`` (None: it is)."""
    if pod.waiting_reason is not None and pod.waiting_reason in reasons:
        return f"{pod.ref} is still in {pod.waiting_reason}"
    if pod.phase != "Running" or not pod.ready:
        return f"{pod.ref} is not Ready (phase {pod.phase})"
    if pod.ready_at is None:
        return f"{pod.ref} is Ready, but since when is not known"
    if now - pod.ready_at < settle:
        return (
            f"{pod.ref} is Ready again, but only since {to_utc_text(pod.ready_at)}, less "
            f"than {format_duration(settle)} before this check"
        )
    return None


def _restarts(now: int, then: int) -> str:
    if now == then:
        return f"with no restart since ({now}, as then)"
    return f"started once since, out of its back-off ({now} restarts, {then} then)"
