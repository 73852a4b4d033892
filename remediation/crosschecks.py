"""Rules that span fields of a runbook, checked at load time after the schema.

An action that cannot apply to the target kind, a verification missing or waiting on an
alert no trigger provides, an unknown ``{{placeholder}}``, a namespace both selected and
excluded, and every precondition, guard, trigger or check that could never pass
(``remediation.impossible``).

The rules run on ``remediation.parts.Parts``: a valid runbook's parts, or the parts of
a document with schema errors that are well-formed on their own. Each rule looks only at
the parts it needs and is skipped when one of them is malformed, so a document's schema
errors and cross-field errors are reported together, and no error is reported that a
schema error alone would explain.
"""

from __future__ import annotations

from collections.abc import Iterator

from remediation.impossible import never_pass
from remediation.parts import Parts, parts_of_runbook
from remediation.quantity import parse_quantity
from remediation.schema import (
    ACTION_KINDS,
    NODE_CONDITIONS,
    AlertTrigger,
    ExpandVolumeAction,
    KubernetesTrigger,
    NotifyAction,
    PatchResourcesAction,
    PromqlCheck,
    PromqlPrecondition,
    Runbook,
)
from remediation.templating import check_template

__all__ = ["Loc", "check_parts", "check_semantics"]

Loc = tuple[str | int, ...]
MEBIBYTE = 2**20


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
        *never_pass(parts),
    ]


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
        if isinstance(action, PatchResourcesAction) and parse_quantity(action.max) <= 0:
            yield ("spec", "actions", index, "max"), "'max' must be above 0"
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
        if trigger.held_for > 0 and trigger.condition in ("CrashLoopBackOff", "OOMKilled"):
            yield (
                ("spec", "triggers", index, "heldFor"),
                f"the cluster does not say since when a pod is in {trigger.condition}, so "
                "'heldFor' could never be proven; use 'minCount' (restarts) instead",
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


def _templates(parts: Parts) -> Iterator[tuple[Loc, str]]:
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
    for loc, text in texts:
        message = check_template(text)
        if message is not None:
            yield loc, message


def _target(parts: Parts) -> Iterator[tuple[Loc, str]]:
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
