"""Rules that span fields of a runbook, checked at load time after the schema.

An action that cannot apply to the target kind, a verification missing or waiting on an
alert no trigger provides, an unknown ``{{placeholder}}``, a namespace both selected and
excluded, a setting the runbook would never read (``minCount`` on a condition without
restarts, namespaces on a Node), and every precondition, guard, trigger, check or undo
that could never pass or take effect (``remediation.impossible``).

``notes`` says what a valid runbook does that its author may not expect: the actions a
failed verification's undo will not reverse. A note is not a problem: the runbook loads.

The rules run on ``remediation.parts.Parts``: a valid runbook's parts, or the parts of
a document with schema errors that are well-formed on their own. Each rule looks only at
the parts it needs and is skipped when one of them is malformed, so a document's schema
errors and cross-field errors are reported together, and no error is reported that a
schema error alone would explain.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from remediation.impossible import never_pass
from remediation.parts import Parts, parts_of_runbook
from remediation.quantity import parse_quantity
from remediation.schema import (
    ACTION_KINDS,
    CANARY_OF,
    NODE_CONDITIONS,
    NOT_UNDOABLE,
    UNDONE_IN_PART,
    AlertTrigger,
    CanaryTrigger,
    ExpandVolumeAction,
    KubernetesTrigger,
    NotifyAction,
    PatchResourcesAction,
    PromqlCheck,
    PromqlPrecondition,
    Runbook,
)
from remediation.templating import check_template

__all__ = ["Loc", "check_parts", "check_semantics", "notes"]

Loc = tuple[str | int, ...]
MEBIBYTE = 2**20
# The conditions whose signals count a pod's restarts, which 'minCount' is compared with.
RESTART_CONDITIONS = ("CrashLoopBackOff", "OOMKilled")


def check_semantics(runbook: Runbook) -> list[tuple[Loc, str]]:
    """Rules that span fields; returns (YAML path, message) pairs, empty when sound."""
    return check_parts(parts_of_runbook(runbook))


def check_parts(parts: Parts) -> list[tuple[Loc, str]]:
    """The cross-field rules on whatever parts are well-formed (see the module doc)."""
    return [
        *_actions(parts),
        *_verification(parts),
        *_triggers(parts),
        *_templates(parts),
        *_target(parts),
        *_approval(parts),
        *_promotion(parts),
        *never_pass(parts),
    ]


def _promotion(parts: Parts) -> Iterator[tuple[Loc, str]]:
    """A ``promoteCanary`` runbook acts on a native canary's ``promote`` verdict only: every
    trigger a canary trigger for that verdict alone, and a target selector that lets a
    canary Deployment through (its ``autonomic.dev/canary-of`` label names its stable)."""
    promotes = [i for i, e in enumerate(parts.actions or ()) if e.tag == "promoteCanary"]
    if not promotes:
        for loc, text in _texts(parts):
            if "stable" in _placeholders(text):
                yield (
                    loc,
                    "{{stable}} names the stable Deployment of the canary 'promoteCanary' "
                    "promotes; this runbook has no promoteCanary action, so it would be empty",
                )
        return
    for index, entry in enumerate(parts.triggers or ()):
        trigger = entry.value
        if entry.tag is not None and entry.tag != "canary":
            yield (
                ("spec", "triggers", index, "type"),
                f"'promoteCanary' (actions[{promotes[0]}]) acts on a canary 'promote' verdict "
                f"only, and a '{entry.tag}' trigger never carries one: use "
                "'type: canary' with 'verdicts: [promote]'",
            )
        elif isinstance(trigger, CanaryTrigger) and set(trigger.verdicts) != {"promote"}:
            others = ", ".join(v for v in trigger.verdicts if v != "promote")
            yield (
                ("spec", "triggers", index, "verdicts"),
                f"'promoteCanary' (actions[{promotes[0]}]) promotes a canary the judge "
                f"found good, and this trigger also accepts {others}: a release the judge "
                "did not pass would be promoted; write 'verdicts: [promote]'",
            )
    target = parts.target_has("requireLabels", "excludeLabels")
    if target is None:
        return
    if CANARY_OF in target.exclude_labels:
        yield (
            ("spec", "target", "excludeLabels", CANARY_OF),
            f"a native canary carries {CANARY_OF} (naming its stable Deployment), and "
            "'promoteCanary' acts on nothing else: excluding it would leave the runbook "
            "nothing to promote; remove it",
        )
    if target.require_labels.get(CANARY_OF) == "":
        yield (
            ("spec", "target", "requireLabels", CANARY_OF),
            f"{CANARY_OF} must name the stable Deployment, so no canary has it empty; "
            "remove it (the action reads the label itself)",
        )


# The most cores a CPU ceiling may name: more than any node has, so a larger one caps
# nothing (most often a memory size written for cpu: '2Gi' is 2147483648 cores).
MAX_CORES = 1024


def _resource_ceiling(action: PatchResourcesAction) -> str | None:
    """Why a ``patchResources`` ``max`` is no ceiling for its resource (None: it is one).
    A quantity means bytes for memory and cores for CPU, and one written for the other
    resource parses all the same: a memory size as a CPU ceiling caps nothing, and a
    core count as a memory ceiling (``'4'``: 4 bytes) never lets a limit be raised."""
    value = parse_quantity(action.max)
    if value <= 0:
        return "'max' must be above 0"
    if action.resource == "memory" and value < MEBIBYTE:
        return (
            f"'max' is {action.max}, less than 1Mi of memory (memory is counted in bytes): "
            "write a size such as '2Gi' or '512Mi'"
        )
    if action.resource == "cpu" and value > MAX_CORES:
        return (
            f"'max' is {action.max}, {math.ceil(value)} cores: more than any node has, so it "
            f"would cap nothing (at most {MAX_CORES}); CPU is counted in cores, such as '2' "
            "or '1500m'"
        )
    return None


def _actions(parts: Parts) -> Iterator[tuple[Loc, str]]:
    kind = parts.kind
    for index, entry in enumerate(parts.actions or ()):
        if entry.tag is not None and kind is not None and kind not in ACTION_KINDS[entry.tag]:
            allowed = ACTION_KINDS[entry.tag]
            yield (
                ("spec", "actions", index, "type"),
                f"action '{entry.tag}' cannot act on a {kind}; "
                f"it needs spec.target.kind {' or '.join(sorted(allowed))}",
            )
        action = entry.value
        if isinstance(action, PatchResourcesAction):
            message = _resource_ceiling(action)
            if message is not None:
                yield ("spec", "actions", index, "max"), message
        if isinstance(action, ExpandVolumeAction):
            if parse_quantity(action.max) < MEBIBYTE:
                yield (
                    ("spec", "actions", index, "max"),
                    f"'max' is {action.max}, less than 1Mi: write a volume size such as '500Gi'",
                )
            if action.add is not None and parse_quantity(action.add) <= 0:
                yield ("spec", "actions", index, "add"), "'add' must be above 0"


def _verification(parts: Parts) -> Iterator[tuple[Loc, str]]:
    writes = any(e.tag not in (None, "notify") for e in parts.actions or ())
    if writes and parts.has_verification is False:
        yield (
            ("spec", "verification"),
            "an action that changes the cluster needs 'verification' "
            "(checks that tell whether it worked)",
        )
    trigger_tags = [e.tag for e in parts.triggers or ()]
    if parts.triggers is None or None in trigger_tags:
        return  # a trigger of unknown type may be an alert: nothing to say about alerts
    has_alert = "alert" in trigger_tags
    checks = parts.checks or ()
    if not has_alert:
        for index, check in enumerate(checks):
            if check.tag == "alertResolved":
                yield (
                    ("spec", "verification", "checks", index, "type"),
                    "'alertResolved' needs an 'alert' trigger; no trigger here is an alert",
                )
    check_tags = [check.tag for check in checks]
    if (
        has_alert
        and check_tags
        and all(tag == "alertResolved" for tag in check_tags)
        and any(tag != "alert" for tag in trigger_tags)
    ):
        yield (
            ("spec", "verification", "checks"),
            "runs started by a non-alert trigger have no alert to wait for; add a "
            "promql or kubernetes check besides 'alertResolved'",
        )


def _triggers(parts: Parts) -> Iterator[tuple[Loc, str]]:
    kind = parts.kind
    if kind == "Job":
        for index, entry in enumerate(parts.triggers or ()):
            if entry.tag is not None and entry.tag != "alert":
                yield (
                    ("spec", "triggers", index, "type"),
                    f"a '{entry.tag}' trigger never names a Job; only an alert does (by its "
                    "'job_name' label, e.g. KubeJobFailed): use an 'alert' trigger",
                )
        return
    for index, trigger in parts.known(parts.triggers):
        if not isinstance(trigger, KubernetesTrigger):
            continue
        if trigger.held_for > 0 and trigger.condition in RESTART_CONDITIONS:
            yield (
                ("spec", "triggers", index, "heldFor"),
                f"the cluster does not say since when a pod is in {trigger.condition}, so "
                "'heldFor' could never be proven; use 'minCount' (restarts) instead",
            )
        if trigger.min_count > 1 and trigger.condition not in RESTART_CONDITIONS:
            yield (
                ("spec", "triggers", index, "minCount"),
                f"'minCount' counts a pod's restarts, and only CrashLoopBackOff and OOMKilled "
                f"are counted: on {trigger.condition} it is never read, so the trigger would "
                "fire on the first signal; use 'heldFor' (how long the condition must hold) "
                "instead",
            )
        if kind == "PersistentVolumeClaim":
            yield (
                ("spec", "triggers", index, "type"),
                f"condition {trigger.condition} is about a "
                f"{'node' if trigger.condition in NODE_CONDITIONS else 'pod or workload'}; "
                "no kubernetes condition names a PersistentVolumeClaim: use an 'alert' "
                "trigger (e.g. KubePersistentVolumeFillingUp)",
            )
            continue
        if kind == "StatefulSet" and trigger.condition == "RolloutFailed":
            yield (
                ("spec", "triggers", index, "condition"),
                "condition RolloutFailed is a Deployment's Progressing condition turning "
                "False (ProgressDeadlineExceeded); a StatefulSet has no progress deadline, "
                "so Kubernetes never reports its rollout failed and the trigger could never "
                "fire; use CrashLoopBackOff, ImagePullBackOff or PodNotReady on its pods",
            )
            continue
        node_condition = trigger.condition in NODE_CONDITIONS
        if kind is not None and node_condition != (kind == "Node"):
            want = "Node" if node_condition else "a Pod, Deployment or StatefulSet"
            yield (
                ("spec", "triggers", index, "condition"),
                f"condition {trigger.condition} is about a "
                f"{'node' if node_condition else 'pod or workload'}, "
                f"but spec.target.kind is {kind}; use {want}",
            )
    for index, trigger in parts.known(parts.triggers):
        if not isinstance(trigger, AlertTrigger):
            continue
        for number, matcher in enumerate(trigger.matchers):
            if matcher.name == "alertname" and not matcher.matches(
                {"alertname": trigger.alertname}
            ):
                yield (
                    ("spec", "triggers", index, "matchers", number),
                    f"matcher {matcher} rejects the alert this trigger names "
                    f"({trigger.alertname!r}), so the trigger could never fire; "
                    "drop the matcher or write one trigger per alert name",
                )


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", text))


# Placeholders a target of some kinds never fills: rendered as "", a selector such as
# namespace="" matches only series without the label, so a query about the wrong
# thing answers (a count "or vector(0)" passes a precondition about nothing).
_NEVER_FILLED = {
    "namespace": (
        frozenset({"Node"}),
        "a Node has no namespace",
    ),
    "node": (
        frozenset({"Deployment", "StatefulSet", "PersistentVolumeClaim", "Job"}),
        "{{node}} is the node of a Node target or of a Pod target's pod",
    ),
}


def _templates(parts: Parts) -> Iterator[tuple[Loc, str]]:
    for loc, text in _texts(parts):
        message = check_template(text)
        if message is not None:
            yield loc, message
            continue
        for name in sorted(_placeholders(text)):
            kinds, why = _NEVER_FILLED.get(name, (frozenset(), ""))
            if parts.kind in kinds:
                yield (
                    loc,
                    f"{{{{{name}}}}} is always empty on a {parts.kind} runbook ({why}): a "
                    f'selector such as {name}="" matches only series without that label, '
                    "so the query would be about something else; drop it or choose by "
                    "another label",
                )


def _texts(parts: Parts) -> list[tuple[Loc, str]]:
    """Every text with placeholders: PromQL preconditions and checks, notify messages."""
    texts: list[tuple[Loc, str]] = []
    for index, condition in parts.known(parts.preconditions):
        if isinstance(condition, PromqlPrecondition):
            texts.append((("spec", "preconditions", index, "query"), condition.query))
    for index, action in parts.known(parts.actions):
        if isinstance(action, NotifyAction):
            texts.append((("spec", "actions", index, "message"), action.message))
    for index, check in parts.known(parts.checks):
        if isinstance(check, PromqlCheck):
            texts.append((("spec", "verification", "checks", index, "query"), check.query))
    return texts


def _target(parts: Parts) -> Iterator[tuple[Loc, str]]:
    if parts.kind == "Node":
        node = parts.target
        written = {
            "namespaces": node.namespaces if node else (),
            "excludeNamespaces": node.exclude_namespaces if node else (),
        }
        for key, names in written.items():
            if names and parts.target_has(key) is not None:
                yield (
                    ("spec", "target", key),
                    f"a Node has no namespace, so '{key}' would never be read and the "
                    "runbook would act on any node; choose nodes by their labels "
                    "('requireLabels', 'excludeLabels') or names ('excludeNames')",
                )
    target = parts.target_has("namespaces", "excludeNamespaces")
    both = sorted(set(target.namespaces) & set(target.exclude_namespaces)) if target else []
    if both:
        yield (
            ("spec", "target", "excludeNamespaces"),
            f"namespace {', '.join(both)} is both in 'namespaces' and in "
            "'excludeNamespaces'; remove it from one",
        )
    target = parts.target_has("requireLabels", "excludeLabels")
    if parts.kind == "Job" and target is not None:
        named = (("requireLabels", target.require_labels), ("excludeLabels", target.exclude_labels))
        for key, labels in named:
            if labels:
                yield (
                    ("spec", "target", key),
                    f"'{key}' cannot be checked on a Job: Autonomic does not read Jobs, so "
                    "not their labels; select Jobs by 'namespaces', 'excludeNamespaces' "
                    "and 'excludeNames'",
                )
    for key, value in sorted(target.exclude_labels.items()) if target else ():
        if target is not None and target.require_labels.get(key) == value:
            yield (
                ("spec", "target", "excludeLabels", key),
                f"label {key}={value} is both required ('requireLabels') and excluded, "
                "so no target could ever be selected; remove it from one",
            )


def _approval(parts: Parts) -> Iterator[tuple[Loc, str]]:
    rules = parts.approval_has("namespaces")
    if parts.kind == "Node" and rules is not None and rules.namespaces:
        yield (
            ("spec", "requireApprovalWhen", "namespaces"),
            "a Node has no namespace, so these namespaces would never require an approval; "
            "to have a person approve every run, write 'maxAutonomy: ask'",
        )


def notes(runbook: Runbook) -> list[tuple[Loc, str]]:
    """What a valid runbook leaves unsaid: a ``mode`` left to its default, ``shadow``
    (the runbook acts on nothing, which a first runbook's author rarely means), and what
    its undo will not reverse, at ``onFailure.undo``."""
    found: list[tuple[Loc, str]] = []
    if "mode" not in runbook.spec.model_fields_set:
        found.append(
            (
                ("spec", "mode"),
                "not set, so the runbook is in shadow mode: it records what it would do and "
                "changes nothing; write 'mode: enforce' for it to act (or 'mode: shadow' to "
                "say so)",
            )
        )
    return (
        found
        + _anomaly_confidence_notes(runbook)
        + _canary_confidence_notes(runbook)
        + _canary_verdict_notes(runbook)
        + _zero_fallback_notes(runbook)
        + _undo_notes(runbook)
    )


# ``or vector(0)``, ``or on() vector(0)``, ``OR ignoring(pod) vector(1)``: a constant put
# in place of whatever series the query did not return.
_CONSTANT_FALLBACK = re.compile(
    r"\bor\s+(?:(?:on|ignoring)\s*\([^)]*\)\s*)?vector\s*\(\s*([-+]?[0-9.]+(?:e[-+]?[0-9]+)?)\s*\)",
    re.IGNORECASE,
)


def _zero_fallback_notes(runbook: Runbook) -> list[tuple[Loc, str]]:
    """A PromQL precondition or check with ``or vector(0)``: a series that is missing (a
    target whose scrape stopped, a metric renamed) reads as that constant, so a
    precondition such as ``errors > 0.05`` is false and a check such as ``errors < 0.01``
    passes on no data at all. Said, not refused: some authors mean it (a counter that
    does not exist until the first error); without it the engine already treats no data
    as no data (a precondition holds the runbook back, a check stays undecided)."""
    found: list[tuple[Loc, str]] = []
    queries: list[tuple[Loc, str, str]] = [
        (("spec", "preconditions", index, "query"), condition.query, "precondition")
        for index, condition in enumerate(runbook.spec.preconditions)
        if isinstance(condition, PromqlPrecondition)
    ]
    if runbook.spec.verification is not None:
        queries += [
            (("spec", "verification", "checks", index, "query"), check.query, "check")
            for index, check in enumerate(runbook.spec.verification.checks)
            if isinstance(check, PromqlCheck)
        ]
    for loc, query, what in queries:
        match = _CONSTANT_FALLBACK.search(query)
        if match is None:
            continue
        value = f"{float(match.group(1)):g}"
        if what == "precondition":
            effect = (
                "the precondition is judged on that number instead of holding the runbook "
                "back (NoData): a condition such as '> 0.05' fails, one such as '< 0.05' "
                "passes"
            )
        else:
            effect = (
                "the check is judged on that number instead of staying undecided: a "
                "condition such as '< 0.01' passes on no data"
            )
        found.append(
            (
                loc,
                f"'{match.group(0)}' reads a missing series (a target whose scrape stopped, "
                f"a metric renamed) as {value}, so {effect}; drop it unless that is meant: "
                "without it, no data is reported as no data",
            )
        )
    return found


def _anomaly_confidence_notes(runbook: Runbook) -> list[tuple[Loc, str]]:
    """An anomaly trigger whose ``minConfidence`` is above the most an anomaly signal
    carries (its calibrated confidence, at most the top step of the NAB map; it was the
    detector's 0.9999 before): no anomaly can start the runbook. Said, not refused: a
    runbook written for the old numbers must not stop the daemon at an upgrade."""
    asked = [
        (index, trigger.min_confidence)
        for index, trigger in enumerate(runbook.spec.triggers)
        if trigger.type == "anomaly" and trigger.min_confidence > 0
    ]
    if not asked:
        return []
    # numpy comes with the package: only for a runbook that needs it
    from forecasting.anomaly.calibration import NAB

    top = max(NAB.probabilities)
    return [
        (
            ("spec", "triggers", index, "minConfidence"),
            f"{wanted:g} is above the most an anomaly signal carries ({top:g}: its confidence "
            "is the share of incidents opened at its score that were real on NAB's labelled "
            "files, not the detector's 0.9999), so no anomaly will ever start this runbook; "
            f"lower it to {top:g} or less (see docs/configuration.md, Anomaly confidence)",
        )
        for index, wanted in asked
        if wanted > top
    ]


def _canary_verdict_notes(runbook: Runbook) -> list[tuple[Loc, str]]:
    """A canary trigger on a verdict the canary loop never sends to the runbooks: only a
    rollback or a promotion is sent; ``continue`` is no verdict yet, and ``inconclusive``
    (the maximum duration reached, a canary off its metric's scale) is escalated to a
    person. Said, not refused: the runbook's other verdicts still start it."""
    found: list[tuple[Loc, str]] = []
    for index, trigger in enumerate(runbook.spec.triggers):
        if trigger.type != "canary":
            continue
        never = [v for v in trigger.verdicts if v in ("continue", "inconclusive")]
        if not never:
            continue
        said = " or ".join(f"a {v}" if v == "continue" else f"an {v}" for v in never)
        found.append(
            (
                ("spec", "triggers", index, "verdicts"),
                f"Autonomic never sends {said} verdict to the runbooks (a continue is no "
                "verdict yet; an inconclusive one, the maximum duration reached or a canary "
                "off its metric's scale, OffScale, is escalated to a person with its "
                f"findings), so this trigger never fires on {' or '.join(never)}; only "
                "rollback and promote verdicts start a runbook",
            )
        )
    return found


def _canary_confidence_notes(runbook: Runbook) -> list[tuple[Loc, str]]:
    """A canary trigger whose ``minConfidence`` is above the most the judge states for one
    of its verdicts (the top knot of that verdict's table in
    ``forecasting.canary.calibration``; a promotion's is far below a rollback's): the
    judge's own verdict never starts the runbook, only one a person approved (sent with
    ``CANARY_CONFIRMED`` or the judge's confidence, whichever is more:
    ``canary_confidence``); and above that too, no verdict at all. Said, not refused, as
    for anomalies; read from the table, so a refit that lowers it is said at the next
    load."""
    from forecasting.canary.calibration import CALIBRATION
    from forecasting.canary.verdict import Decision
    from remediation.signals import CANARY_CONFIRMED, canary_confidence

    found: list[tuple[Loc, str]] = []
    for index, trigger in enumerate(runbook.spec.triggers):
        if trigger.type != "canary" or trigger.min_confidence <= 0:
            continue
        for verdict in trigger.verdicts:
            knots = CALIBRATION.get(Decision(verdict))
            if not knots:
                continue  # continue, inconclusive: never sent to the runbooks
            top = max(p for _, p in knots)
            if trigger.min_confidence <= top:
                continue
            approved = canary_confidence(top, approved=True)
            if trigger.min_confidence <= approved:
                who = (
                    "the judge's own verdict never starts this runbook; only one a person "
                    f"approved does (it is sent at {CANARY_CONFIRMED:g}), and one routed "
                    "automatically is dropped"
                )
            else:
                who = (
                    f"no {verdict} verdict ever starts this runbook, not even one a person "
                    f"approved (sent at {CANARY_CONFIRMED:g} or the judge's confidence, "
                    f"whichever is more: at most {approved:g})"
                )
            found.append(
                (
                    ("spec", "triggers", index, "minConfidence"),
                    f"{trigger.min_confidence:g} is above the most the canary judge states "
                    f"for a {verdict} verdict ({top:g}: its calibrated confidence, "
                    f"forecasting/canary/calibration.py), so {who}; lower it to {top:g} or "
                    "less (see runbooks/canary-promote.yaml)",
                )
            )
    return found


def _undo_notes(runbook: Runbook) -> list[tuple[Loc, str]]:
    """What a valid runbook's undo will not reverse, at ``onFailure.undo``; empty when it
    undoes everything it changes, or is not asked to undo."""
    if not runbook.spec.on_failure.undo:
        return []
    writes = [
        (index, action.type)
        for index, action in enumerate(runbook.spec.actions)
        if action.type != "notify"
    ]
    kept = [(i, tag, NOT_UNDOABLE[tag]) for i, tag in writes if tag in NOT_UNDOABLE]
    partly = [(i, tag, UNDONE_IN_PART[tag]) for i, tag in writes if tag in UNDONE_IN_PART]
    if not kept and not partly:
        return []
    loc: Loc = ("spec", "onFailure", "undo")
    if len(kept) == len(writes):
        # Only an 'undo: true' left to its default gets here: written, it is refused.
        shown = "; ".join(f"{tag}, actions[{i}]: {why}" for i, tag, why in kept)
        return [
            (
                loc,
                f"'undo' is true by default, but nothing this runbook changes can be undone "
                f"({shown}): a failed verification would restore nothing and is escalated; "
                "write 'undo: false' to say so",
            )
        ]
    whole = [
        f"{tag} (actions[{i}])"
        for i, tag in writes
        if tag not in NOT_UNDOABLE and tag not in UNDONE_IN_PART
    ]
    whole += [f"{tag} (actions[{i}]) only in part ({why})" for i, tag, why in partly]
    text = f"on a failed verification the undo reverses {' and '.join(whole)}"
    if kept:
        text += ", but not " + " or ".join(f"{tag} (actions[{i}]: {why})" for i, tag, why in kept)
        text += "; the run is then recorded as failed, not undone, and escalated"
    return [(loc, text)]
