"""Preconditions, guards, triggers and checks that could never pass, and settings that
could never take effect, refused at load.

A runbook that can never act (or never be verified) fails silently in production: it is
loaded, it matches, and every time it is skipped, denied or undone. These are caught when
it is loaded, with the reason. Only what is provably impossible from the runbook alone
is refused, never what merely looks unlikely:

- a ``changedWithin`` of 0s (a rollout less than no time ago), or on a target whose
  rollouts are never read (a StatefulSet, a Node, a claim, a Job);
- PromQL preconditions (or verification checks) on the same query whose conditions no
  value meets at once (``> 5`` and ``< 3``, ``== 1`` and ``!= 1``);
- freeze and maintenance windows that leave no moment to act: a freeze window open all
  the time, a maintenance window whose cron names only dates that do not exist (the
  30th of February), and weekly windows in one timezone that together leave no minute
  of the week inside every maintenance window and outside every freeze window;
- ``blastRadius.minHealthyFraction: 1`` with a cordon or drain (the node it acts on
  leaves the healthy set, so fewer than all stay healthy);
- ``blastRadius.maxTargets`` below the number of objects the actions change on every run
  (a rollout restart and an HPA floor are two);
- trigger matchers that contradict each other on one label, so the trigger never fires;
- a Kubernetes check that reads a kind of object the target is not (``nodeReady`` on a
  Deployment, ``volumeExpanded`` on anything but a PersistentVolumeClaim), which would
  always be inconclusive;
- ``onFailure.undo: true``, written, when every action that changes the cluster is one
  no undo can reverse (``NOT_UNDOABLE``: a deleted pod, a restart, a grown volume): the
  author counts on a safety net that would restore nothing. Left to its default, the
  undo is not refused (``remediation.crosschecks.notes`` says what it will not reverse).

Windows in different timezones, regexes against regexes and queries that differ in
their text are not compared: daylight saving, regex languages and PromQL make those
guesses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

from remediation._types import Comparison
from remediation.matchers import LabelMatcher
from remediation.parts import Parts
from remediation.schema import (
    ACTION_KINDS,
    NODE_CHECKS,
    NOT_UNDOABLE,
    VOLUME_CHECKS,
    ChangedWithin,
    FreezeWindow,
    KubernetesCheck,
    MaintenanceWindow,
    PromoteCanaryAction,
    PromqlCheck,
    PromqlPrecondition,
    ScaleAction,
)
from remediation.windows import (
    MINUTES_PER_WEEK,
    cron_always_open,
    cron_never_starts,
    describe,
    week_mask,
)

__all__ = ["never_pass", "satisfiable"]

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]
NEVER_ACTS = "so the runbook could never act"
_WHOLE_WEEK = (1 << MINUTES_PER_WEEK) - 1


def never_pass(parts: Parts) -> list[Problem]:
    """Every part of the runbook that could never pass, with why (see the module doc)."""
    return [
        *_changed_within(parts),
        *_conditions(parts),
        *_windows(parts),
        *_min_healthy(parts),
        *_max_targets(parts),
        *_trigger_matchers(parts),
        *_check_kinds(parts),
        *_undo(parts),
    ]


# ---------------------------------------------------------------------- preconditions


# Why ``changedWithin`` could never hold on a target of each kind: it reads when a
# Deployment (a Pod's: its Deployment) last rolled out, from its newest ReplicaSet.
_NEVER_ROLLED_OUT = {
    "StatefulSet": "a StatefulSet rolls out through ControllerRevisions, which Autonomic "
    "does not read, so its last rollout is never known",
    "Node": "a Node is never rolled out",
    "PersistentVolumeClaim": "a PersistentVolumeClaim is never rolled out",
    "Job": "Autonomic does not read Jobs",
}


def _changed_within(parts: Parts) -> Iterator[Problem]:
    for index, condition in parts.known(parts.preconditions):
        if not isinstance(condition, ChangedWithin):
            continue
        if condition.within <= 0:
            yield (
                ("spec", "preconditions", index, "within"),
                "'within: 0s' can never hold (the target would have to have been rolled out "
                f"less than no time ago), {NEVER_ACTS}; give the period after a rollout in "
                "which to act, e.g. '30m'",
            )
        why = _NEVER_ROLLED_OUT.get(parts.kind or "")
        if why is not None:
            yield (
                ("spec", "preconditions", index, "type"),
                f"changedWithin reads when a Deployment (or a Pod's Deployment) last rolled "
                f"out, but spec.target.kind is {parts.kind}: {why}; it could never hold, "
                f"{NEVER_ACTS}; remove it",
            )


def satisfiable(comparisons: Sequence[Comparison]) -> bool:
    """True when some number meets every comparison at once."""
    low, low_open = float("-inf"), True
    high, high_open = float("inf"), True
    equal: set[float] = set()
    unequal: set[float] = set()
    for comparison in comparisons:
        op, value = comparison.op, comparison.threshold
        if op in (">", ">=") and (value > low or (value == low and op == ">")):
            low, low_open = value, op == ">"
        elif op in ("<", "<=") and (value < high or (value == high and op == "<")):
            high, high_open = value, op == "<"
        elif op == "==":
            equal.add(value)
        elif op == "!=":
            unequal.add(value)
    if equal:
        return len(equal) == 1 and all(c.holds(next(iter(equal))) for c in comparisons)
    if low < high:
        return True
    return low == high and not (low_open or high_open) and low not in unequal


def _query_key(query: str) -> str:
    return " ".join(query.split())


def _conditions(parts: Parts) -> Iterator[Problem]:
    preconditions = [
        (index, c.query, c.condition)
        for index, c in parts.known(parts.preconditions)
        if isinstance(c, PromqlPrecondition)
    ]
    yield from _contradictions(
        preconditions,
        ("spec", "preconditions"),
        f"these preconditions can never all hold, {NEVER_ACTS}",
    )
    checks = [
        (index, c.query, c.condition)
        for index, c in parts.known(parts.checks)
        if isinstance(c, PromqlCheck)
    ]
    yield from _contradictions(
        checks,
        ("spec", "verification", "checks"),
        "these checks can never pass in the same round, so the verification could never "
        "pass and every run would fail",
    )


def _contradictions(
    items: list[tuple[int, str, Comparison]], where: Loc, consequence: str
) -> Iterator[Problem]:
    """Conditions on one query (its text, spaces aside) that no value meets at once: one
    problem per query, at the first condition that leaves no value, naming the one it
    contradicts (or all those before it, when no single one does)."""
    groups: dict[str, list[tuple[int, Comparison]]] = {}
    for index, query, comparison in items:
        groups.setdefault(_query_key(query), []).append((index, comparison))
    name = ".".join(str(part) for part in where[1:])
    for group in groups.values():
        for position in range(1, len(group)):
            if satisfiable([c for _, c in group[: position + 1]]):
                continue
            index, comparison = group[position]
            earlier = group[:position]
            pair = [item for item in earlier if not satisfiable([item[1], comparison])]
            named = pair[:1] or earlier
            shown = " and ".join(f"'{c}' ({name}[{i}])" for i, c in named)
            together = " and ".join(str(c) for _, c in [*named, (index, comparison)])
            yield (
                (*where, index, "condition"),
                f"'{comparison}' contradicts {shown} on the same query: no value is "
                f"{together} at once: {consequence}",
            )
            break


# ---------------------------------------------------------------------------- windows

WindowKind = Literal["freezeWindow", "maintenanceWindow"]


def _windows(parts: Parts) -> Iterator[Problem]:
    by_zone: dict[str, list[tuple[int, FreezeWindow | MaintenanceWindow]]] = {}
    for index, window in parts.known(parts.preconditions):
        if not isinstance(window, FreezeWindow | MaintenanceWindow):
            continue
        if window.cron is not None:
            if isinstance(window, FreezeWindow) and cron_always_open(window.cron):
                yield (
                    ("spec", "preconditions", index, "cron"),
                    f"cron '{window.cron}' starts this freeze window every minute: it is "
                    f"always open, {NEVER_ACTS}",
                )
            never = cron_never_starts(window.cron)
            if isinstance(window, MaintenanceWindow) and never is not None:
                yield (
                    ("spec", "preconditions", index, "cron"),
                    f"cron '{window.cron}' never starts ({never}): this maintenance window "
                    f"never opens, {NEVER_ACTS}",
                )
        if window.weekly is not None:
            by_zone.setdefault(window.timezone, []).append((index, window))
    for windows in by_zone.values():
        problem = _week_left(windows)
        if problem is not None:
            yield problem


def _week_left(windows: list[tuple[int, FreezeWindow | MaintenanceWindow]]) -> Problem | None:
    """Weekly windows of one timezone that leave no minute of the week to act in: the
    problem, at the window that closed the last minute."""
    allowed = _WHOLE_WEEK
    involved: list[tuple[int, FreezeWindow | MaintenanceWindow]] = []
    for index, window in windows:
        mask = week_mask(window.weekly or ())
        after = allowed & mask if isinstance(window, MaintenanceWindow) else allowed & ~mask
        if after != allowed:
            involved.append((index, window))
        allowed = after
        if allowed:
            continue
        loc: Loc = ("spec", "preconditions", index, "weekly")
        others = [(i, w) for i, w in involved if i != index]
        shown = " and ".join(f"preconditions[{i}] {describe(w)}" for i, w in others)
        kinds = {w.type for _, w in involved}
        if not others:
            return loc, f"this freeze window covers the whole week, {NEVER_ACTS}"
        if kinds == {"freezeWindow"}:
            return loc, f"with {shown}, the freeze windows cover the whole week, {NEVER_ACTS}"
        if kinds == {"maintenanceWindow"}:
            return (
                loc,
                f"this maintenance window never overlaps {shown}, and every maintenance "
                f"window must be open at once, {NEVER_ACTS}",
            )
        return (
            loc,
            f"with {shown}, no minute of the week is inside every maintenance window and "
            f"outside every freeze window, {NEVER_ACTS}",
        )
    return None


# ----------------------------------------------------------------------------- guards


def _allowed_actions(parts: Parts) -> list[tuple[str, object]]:
    """(type, value) of the actions whose type is known and can act on the target kind."""
    kind = parts.kind
    if kind is None:
        return []
    return [
        (e.tag, e.value)
        for e in parts.actions or ()
        if e.tag is not None and kind in ACTION_KINDS[e.tag]
    ]


def _min_healthy(parts: Parts) -> Iterator[Problem]:
    guards = parts.guards_have("blastRadius")
    if guards is None or guards.blast_radius.min_healthy_fraction < 1.0:
        return
    takes_out = sorted({tag for tag, _ in _allowed_actions(parts) if tag in ("cordon", "drain")})
    if takes_out:
        yield (
            ("spec", "guards", "blastRadius", "minHealthyFraction"),
            f"a {' or '.join(takes_out)} takes its node out of the healthy nodes, so fewer "
            "than all of them stay healthy: 'minHealthyFraction: 1' could never be met and "
            "the runbook could never act; lower it (e.g. to 0.7)",
        )


def _max_targets(parts: Parts) -> Iterator[Problem]:
    guards, kind = parts.guards_have("blastRadius"), parts.kind
    if guards is None or kind is None:
        return
    target = f"the {kind}"
    objects: dict[str, str] = {}
    either = False  # a scale that may write the workload or its HPA
    for tag, value in _allowed_actions(parts):
        if tag in ("deletePod", "evictPod") and kind != "Pod":
            objects["pods"] = "at least one of its pods"
        elif tag in ("setHpaMinReplicas", "raiseHpaMaxReplicas"):
            objects["hpa"] = "its HorizontalPodAutoscaler"
        elif tag == "scale" and not (isinstance(value, ScaleAction) and value.hpa == "ignore"):
            either = True
        elif tag == "promoteCanary":
            objects["stable"] = "the stable Deployment it promotes to"
            if not isinstance(value, PromoteCanaryAction) or value.scale_canary_to_zero:
                objects["target"] = f"{target} (the canary, scaled to 0)"
        elif tag != "notify":
            objects["target"] = target
    names = list(objects.values())
    if either and not {"target", "hpa"} & objects.keys():
        names.append(f"{target} or its HorizontalPodAutoscaler")
    limit = guards.blast_radius.max_targets
    if len(names) > limit:
        yield (
            ("spec", "guards", "blastRadius", "maxTargets"),
            f"every run changes at least {len(names)} objects ({', '.join(names)}): a "
            f"'maxTargets' of {limit} could never be met and the runbook could never act; "
            f"raise it to {len(names)}",
        )


# --------------------------------------------------------------------------- triggers


def _contradicts(first: LabelMatcher, second: LabelMatcher) -> bool:
    """True when no value of their (common) label satisfies both matchers. Only a
    matcher for one exact value is compared: regexes against regexes are not."""
    if first.op == "=":
        return not second.matches({first.name: first.value})
    if second.op == "=":
        return not first.matches({second.name: second.value})
    return False


def _trigger_matchers(parts: Parts) -> Iterator[Problem]:
    for index, trigger in parts.known(parts.triggers):
        # An alert trigger's own alertname matchers are checked against its alertname.
        skip = "alertname" if trigger.type == "alert" else None
        matchers = trigger.matchers
        for number, matcher in enumerate(matchers):
            if matcher.name == skip:
                continue
            earlier = next(
                (
                    (i, other)
                    for i, other in enumerate(matchers[:number])
                    if other.name == matcher.name and _contradicts(other, matcher)
                ),
                None,
            )
            if earlier is not None:
                yield (
                    ("spec", "triggers", index, "matchers", number),
                    f"matcher {matcher} contradicts {earlier[1]} (matchers[{earlier[0]}]): "
                    f"no value of label '{matcher.name}' satisfies both, so the trigger "
                    "could never fire",
                )


# ----------------------------------------------------------------------------- checks


_READS = {
    "node": "a Node",
    "volume": "a PersistentVolumeClaim",
    "workload": "a workload and its pods",
}
_USE = {
    "node": "nodeReady, nodeCordoned or nodeDrained",
    "volume": "volumeExpanded",
    "workload": "deploymentAvailable, rolloutComplete, podsReady, noCrashLoop, "
    "noImagePullBackOff, noOOMKilled or hpaNotMaxedOut",
}


def _check_family(condition: str) -> str:
    if condition in NODE_CHECKS:
        return "node"
    return "volume" if condition in VOLUME_CHECKS else "workload"


def _kind_family(kind: str) -> str:
    return {"Node": "node", "PersistentVolumeClaim": "volume"}.get(kind, "workload")


def _check_kinds(parts: Parts) -> Iterator[Problem]:
    kind = parts.kind
    if kind is None:
        return
    for index, check in parts.known(parts.checks):
        if not isinstance(check, KubernetesCheck):
            continue
        if kind == "Job":
            yield (
                ("spec", "verification", "checks", index, "condition"),
                f"check '{check.condition}' reads {_READS[_check_family(check.condition)]}, "
                "but spec.target.kind is Job, and no kubernetes check reads a Job: it would "
                "always be inconclusive; use a promql or alertResolved check",
            )
            continue
        reads, wanted = _check_family(check.condition), _kind_family(kind)
        if reads == wanted:
            continue
        yield (
            ("spec", "verification", "checks", index, "condition"),
            f"check '{check.condition}' reads {_READS[reads]}, but spec.target.kind is {kind}: "
            "it would always be inconclusive, so the verification could never pass and every "
            f"run would fail; use {_USE[wanted]}",
        )


# ---------------------------------------------------------------------------- onFailure


def _undo(parts: Parts) -> Iterator[Problem]:
    if parts.undo is not True or parts.actions is None:
        return
    if any(entry.tag is None for entry in parts.actions):
        return  # an action of unknown type might be one an undo reverses
    writes = [(i, e.tag) for i, e in enumerate(parts.actions) if e.tag not in (None, "notify")]
    if not writes or any(tag not in NOT_UNDOABLE for _, tag in writes):
        return
    shown = "; ".join(f"{tag}, actions[{i}]: {NOT_UNDOABLE[tag]}" for i, tag in writes)
    yield (
        ("spec", "onFailure", "undo"),
        f"'undo: true' could never undo anything, as nothing this runbook changes can be "
        f"undone ({shown}), so a failed verification would restore nothing; write "
        "'undo: false' (a failure is escalated to a person all the same)",
    )
