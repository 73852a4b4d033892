"""Sibling runbooks: runbooks whose track records say something about each other.

A new runbook starts from a skeptical prior and must earn its autonomy one answer at a
time. When another runbook already takes the *same actions on the same kind of object,
started by the same kind of evidence*, its record is evidence about the new one: a
rollback after a bad rollout that has been right forty times says something about a
rollback after a bad image tag. The decision layer lends part of a sibling's record to
the prior (``agent.calibration.track_record_confidence``); a runbook's own record still
decides in the end, because the loan is capped and down-weighted.

Siblings, exactly: the same target kind, the same sequence of cluster-changing action
types (``notify`` ignored), and only event triggers (``kubernetes`` conditions and
``alert``s) on both sides. A runbook started by a statistical signal (``anomaly``,
``forecastBreach``, ``canary``) has no siblings: its rightness is the detector's as much
as the action's, and another detector's record says nothing about this one.
"""

from __future__ import annotations

from collections.abc import Iterable

from remediation.schema import AlertTrigger, KubernetesTrigger, Runbook

__all__ = ["family_key", "siblings"]


def family_key(runbook: Runbook) -> tuple[str, ...] | None:
    """What siblings share, or None for a runbook that has none."""
    if not all(isinstance(t, KubernetesTrigger | AlertTrigger) for t in runbook.spec.triggers):
        return None
    actions = tuple(a.type for a in runbook.spec.actions if a.type != "notify")
    if not actions:
        return None
    return (runbook.spec.target.kind, *actions)


def siblings(runbook: Runbook, runbooks: Iterable[Runbook]) -> tuple[str, ...]:
    """Names of ``runbook``'s siblings among ``runbooks``, sorted, itself excluded."""
    key = family_key(runbook)
    if key is None:
        return ()
    return tuple(
        sorted(
            other.name
            for other in runbooks
            if other.name != runbook.name and family_key(other) == key
        )
    )
