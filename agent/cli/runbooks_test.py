"""`autonomic runbooks test`: what runbooks would do to a given cluster, offline.

    autonomic runbooks test RUNBOOK.yaml [MORE...] --objects CLUSTER.yaml
        [--alert ALERT.json] [--signal KIND:NAME:TARGET[:key=value,...]]
        [--metric 'QUERY=VALUE'] [--at TIME] [--config FILE] [--json]

The objects are read by the Kubernetes adapter itself (``_objects.ObjectsCluster``),
the signals come from the same detection (``detect_kubernetes_signals``) and alert
intake (``remediation.alerts``) as the daemon's, and each (signal, runbook) pair goes
through the engine's own steps in the engine's order (``RemediationEngine.handle`` and
``_handle_one``): storm gate, match, plan, PromQL preconditions, guards, one decision per
incident and per target. Guards start from a fresh ledger (no cooldowns, hourly or
per-target counts, open breakers or runs in flight). Each planned operation is then sent
to the adapter as a server-side dry run, which says the exact change. The route is the
one a decision would take with no track record yet, under the config's mode and
thresholds. Nothing is written, no ledger is opened.

Exit status: 0 when at least one runbook would decide (act, ask or escalate); 3 when
none would (nothing matched, or everything was skipped or denied); 1 for a bad runbook,
objects file, alert file, --signal or --metric (each problem on its own line).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remediation.digits import ascii_digits, plain_number

if TYPE_CHECKING:  # imported lazily so that `autonomic --help` stays fast
    from agent.settings import Settings
    from remediation.guards import GlobalLimits, GuardState
    from remediation.planning import GuardResult, Plan
    from remediation.ports import ObjectRef
    from remediation.schema import Runbook
    from remediation.signals import Signal
    from remediation.snapshot import ClusterSnapshot, FiringAlert

__all__ = ["EXIT_NOTHING", "register", "run_test"]

EXIT_BAD_INPUT = 1
EXIT_NOTHING = 3
SIGNAL_KINDS = ("kubernetes", "alert", "anomaly", "forecastBreach", "canary")
UNMATCHED_SHOWN = 20
# Runbooks whose triggers did not take the signal up: "unmatched" here, with their near
# misses said by ``near_misses`` (the daemon keeps a TriggerNotMet one for `why`).
NOT_TAKEN = frozenset({"NoTriggerMatch", "TriggerNotMet"})


class BadInputError(Exception):
    """Problems with the inputs, one line each; the command prints them and exits 1."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def register(actions: argparse._SubParsersAction[Any]) -> None:
    test = actions.add_parser(
        "test",
        help="preview what runbooks would do to a cluster given as Kubernetes objects",
        description="Preview, offline, what runbooks would do to the cluster in --objects "
        "(kubectl get -o yaml output): for each signal, which runbooks take it up and why "
        "not, preconditions, guards on a fresh ledger, each planned change as the adapter's "
        "server-side dry run shows it, verification, and the route. Nothing is written. "
        "Exit 0 when a runbook would decide, 3 when none would, 1 on bad input.",
    )
    test.add_argument(
        "paths", nargs="+", metavar="RUNBOOK", help="runbook files or directories, as validate"
    )
    test.add_argument(
        "--objects",
        required=True,
        type=Path,
        metavar="FILE",
        help="Kubernetes objects as `kubectl get -o yaml` prints them (a List or several "
        "YAML documents): Deployments, ReplicaSets, Pods, Nodes, HPAs, PVCs, StorageClasses...",
    )
    test.add_argument(
        "--alert",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="an Alertmanager webhook body (JSON), one alert ({labels, ...}) or one alert's "
        "labels ({alertname: ..., namespace: ...}); repeatable",
    )
    test.add_argument(
        "--signal",
        action="append",
        default=[],
        metavar="KIND:NAME:TARGET",
        help="a signal to test instead of those the objects raise: kubernetes:PodNotReady:"
        "Pod/shop/web-1, anomaly:http_error_ratio:Deployment/shop/web, forecastBreach:"
        "requests_per_second:Deployment/shop/web:excess=0.3 (a breach's NAME is "
        "requests_per_second on scaling.loadQuery, else the workload's load query name: "
        "forecastBreach:queue_depth:Deployment/shop/worker), canary:rollback:Deployment/"
        "shop/web:confidence=0.85, alert:KubePodCrashLooping:Pod/shop/web-1:severity=warning",
    )
    test.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="QUERY=VALUE",
        help="the value a PromQL precondition's query returns (the query as written after "
        "{{placeholders}} are filled, or a part of it); VALUE a number or 'none' (no data)",
    )
    test.add_argument(
        "--at",
        metavar="TIME",
        help="judge at this time (ISO 8601, e.g. 2026-11-18T10:00:00Z; default: now)",
    )
    test.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the daemon's config, for its mode, routing thresholds and safety limits "
        "(default: the daemon's defaults)",
    )
    test.add_argument("--json", action="store_true", help="print the preview as one JSON object")
    test.set_defaults(handler=run_test)


# ------------------------------------------------------------------------ inputs


def _parse_at(text: str | None) -> float:
    if text is None:
        return time.time()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError([f"--at {text}: not an ISO 8601 time (2026-11-18T10:00:00Z)"]) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _parse_metrics(given: list[str]) -> list[tuple[str, float | None]]:
    out: list[tuple[str, float | None]] = []
    problems = []
    for text in given:
        query, sep, raw = text.rpartition("=")
        value: float | None
        if not sep or not query.strip():
            problems.append(f"--metric {text!r}: write QUERY=VALUE (e.g. 'http_requests_total=12')")
            continue
        if raw.strip().lower() in ("none", "nodata", ""):
            value = None
        else:
            try:
                value = _float(raw.strip())
            except ValueError:
                problems.append(
                    f"--metric {text!r}: the value {raw!r} is not a number (or 'none' for no data)"
                )
                continue
            if math.isnan(value):
                value = None
        out.append((query.strip(), value))
    if problems:
        raise BadInputError(problems)
    return out


def _answer(query: str, metrics: list[tuple[str, float | None]]) -> tuple[bool, float | None]:
    """The value ``--metric`` gives ``query``: the same text (spaces aside), else the
    longest given part of it. (False, None) when none does: no data, as with no Prometheus."""

    def squeeze(text: str) -> str:
        return "".join(text.split())

    for given, value in metrics:
        if squeeze(given) == squeeze(query):
            return True, value
    parts = [(given, value) for given, value in metrics if squeeze(given) in squeeze(query)]
    if parts:
        return True, max(parts, key=lambda part: len(part[0]))[1]
    return False, None


def _ref(text: str, where: str) -> ObjectRef:
    from agent.cli.why_cmd import _KIND_NAMES
    from remediation.ports import ObjectRef

    kinds = {
        "deployment": "Deployment",
        "statefulset": "StatefulSet",
        "pod": "Pod",
        "node": "Node",
        "persistentvolumeclaim": "PersistentVolumeClaim",
        "horizontalpodautoscaler": "HorizontalPodAutoscaler",
        "job": "Job",
        "rollout": "Rollout",
    }
    parts = text.split("/")
    kind = kinds.get(parts[0].lower()) or _KIND_NAMES.get(parts[0].lower())
    if kind is None or len(parts) not in (2, 3) or not all(parts):
        raise BadInputError(
            [f"{where}: {text!r} is not an object (Kind/namespace/name, or Node/name)"]
        )
    if kind == "Node":
        if len(parts) != 2:
            raise BadInputError([f"{where}: a Node has no namespace: write Node/NAME"])
        return ObjectRef("Node", parts[1])
    if len(parts) != 3:
        raise BadInputError([f"{where}: write {kind}/NAMESPACE/NAME"])
    return ObjectRef(kind, parts[2], parts[1])  # type: ignore[arg-type]


def _options(text: str, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for term in filter(None, text.split(",")):
        key, sep, value = term.partition("=")
        if not sep or not key:
            raise BadInputError([f"{where}: {term!r} is not key=value"])
        out[key.strip()] = value.strip()
    return out


def _number(options: dict[str, str], key: str, default: float, where: str) -> float:
    raw = options.pop(key, None)
    if raw is None:
        return default
    try:
        value = _float(raw)
    except ValueError:
        raise BadInputError([f"{where}: {key}={raw!r} is not a number"]) from None
    if not math.isfinite(value):
        raise BadInputError([f"{where}: {key}={raw!r} is not a finite number"])
    return value


def _revision(options: dict[str, str], default: int, where: str) -> int:
    """``revision=N``: a Deployment revision is a whole number from 1 (``int`` of the
    number read would have cut ``2.5`` to 2 and taken ``0`` or ``-3``)."""
    raw = options.pop("revision", None)
    if raw is None:
        return default
    if not ascii_digits(raw, 18) or int(raw) < 1:
        raise BadInputError(
            [f"{where}: revision={raw!r} is not a revision; write a whole number from 1"]
        )
    return int(raw)


_SPELLED = frozenset({"nan", "inf", "infinity"})


def _float(text: str) -> float:
    """``float`` of a number written in ASCII digits (``0.5``, ``12``, ``1e3``) or of a
    spelled NaN or infinity, which each caller then takes or refuses by name. ``float``
    alone also reads "٣" or "１２" and "1_000": a value typed in digits nobody meant
    became the preview's input. ``ValueError`` for those."""
    if not plain_number(text) and text.lower().lstrip("+-") not in _SPELLED:
        raise ValueError(text)
    return float(text)


def _given_signal(
    text: str, detected: tuple[Signal, ...], snapshot: ClusterSnapshot, now: float
) -> tuple[Signal, ...]:
    """One ``--signal``: a Kubernetes condition the objects must show (taken as detected,
    with its real restart count and since), or an alert, anomaly, forecast breach or
    canary verdict made as their sources make them."""
    from forecasting.anomaly.calibration import NAB as INCIDENT_CALIBRATION
    from forecasting.canary.calibration import calibrated_confidence
    from forecasting.canary.verdict import Decision
    from remediation.alerts import AlertmanagerPayload, parse_payload, to_signals
    from remediation.signals import (
        BREACH_RATIO,
        anomaly_signal,
        breach_confidence,
        canary_confidence,
        canary_signal,
        forecast_breach_signal,
    )

    where = f"--signal {text}"
    parts = text.split(":", 3)
    if len(parts) < 3 or parts[0] not in SIGNAL_KINDS or not parts[1]:
        raise BadInputError(
            [
                f"{where}: write KIND:NAME:TARGET[:key=value,...] with KIND one of "
                f"{', '.join(SIGNAL_KINDS)} (e.g. kubernetes:PodNotReady:Pod/shop/web-1)"
            ]
        )
    kind, name, target_text = parts[0], parts[1], parts[2]
    options = _options(parts[3] if len(parts) == 4 else "", where)
    target = _ref(target_text, where)
    if kind == "kubernetes":
        if options:
            raise BadInputError(
                [f"{where}: a kubernetes signal takes no options; the objects say it"]
            )
        found = tuple(s for s in detected if s.name == name and s.target == target)
        if not found:
            shown = sorted({s.name for s in detected if s.target == target})
            seen = (
                f"they show {', '.join(shown)} on it" if shown else "they show no condition on it"
            )
            raise BadInputError([f"{where}: the objects show no {name} on {target}; {seen}"])
        return found
    # an alert's default is the webhook's; an anomaly's the most the daemon's anomaly
    # signals carry (an incident opening at score 1: the calibrated share that was real);
    # a forecast breach's what the scaling loop states for its excess (0.8 at 20 % above
    # the forecast's bound, up to 0.95 from 50 %), which it signals only from 20 %; a
    # canary verdict's the least the canary loop sends one with when no person approved
    # it (the judge's calibrated confidence at the bottom of that verdict's table: 0.9949
    # for a rollback, 0.6727 for a promotion today; 0.5 for continue and inconclusive,
    # which it never sends)
    excess = _number(options, "excess", 0.5, where) if kind == "forecastBreach" else 0.0
    if kind == "forecastBreach" and excess < BREACH_RATIO:
        raise BadInputError(
            [
                f"{where}: excess={excess:g}: the scaling loop signals a forecast breach "
                f"only from excess={BREACH_RATIO:g} ({BREACH_RATIO:.0%} above the "
                "forecast's upper bound)"
            ]
        )
    default = {
        "alert": 0.9,
        "anomaly": INCIDENT_CALIBRATION.probability(1.0),
        "forecastBreach": breach_confidence(excess),
    }.get(kind, 1.0)
    if kind == "canary" and name in {d.value for d in Decision}:
        default = canary_confidence(calibrated_confidence(Decision(name), 0.0))
    confidence = _number(options, "confidence", default, where)
    if not 0.0 <= confidence <= 1.0:
        raise BadInputError([f"{where}: confidence={confidence:g} is not between 0 and 1"])
    signal: Signal
    if kind == "alert":
        labels = {"alertname": name, **options}
        if target.namespace:
            labels["namespace"] = target.namespace
        label = {"PersistentVolumeClaim": "persistentvolumeclaim", "Job": "job_name"}
        labels[label.get(target.kind, target.kind.lower())] = target.name
        body = {
            "version": "4",
            "groupKey": "{}",
            "status": "firing",
            "receiver": "autonomic",
            "alerts": [_alert(labels, now, confidence)],
        }
        payload: AlertmanagerPayload = parse_payload(json.dumps(body))
        return to_signals(payload, now)
    if kind == "anomaly":
        direction = options.pop("direction", "up")
        if direction not in ("up", "down"):
            raise BadInputError([f"{where}: direction={direction!r}: write up or down"])
        signal = anomaly_signal(
            metric=name,
            target=target,
            observed=2.0 if direction == "up" else -1.0,
            lower=0.0,
            upper=1.0,
            score=confidence,
            confidence=confidence,
            at=now,
        )
    elif kind == "forecastBreach":
        signal = forecast_breach_signal(
            metric=name,
            target=target,
            observed=1.0 + excess,
            forecast_upper=1.0,
            confidence=confidence,
            at=now,
        )
    else:
        if name not in ("promote", "rollback", "continue", "inconclusive"):
            raise BadInputError(
                [f"{where}: a canary verdict is promote, rollback, continue or inconclusive"]
            )
        workload = snapshot.workload(target)
        revision = _revision(options, workload.revision if workload else 1, where)
        signal = canary_signal(
            verdict=name,  # type: ignore[arg-type]
            target=target,
            confidence=confidence,
            at=now,
            revision=revision,
        )
    if options:
        raise BadInputError([f"{where}: unknown option {', '.join(sorted(options))}"])
    # The sources' numbers were made up for the signal's shape: say where it came from.
    return (replace(signal, evidence={"given": text}),)


def near_misses(signal: Signal, runbooks: tuple[Runbook, ...]) -> list[str]:
    """Why the triggers written for this very condition or alert do not accept ``signal``
    (not held for ``heldFor`` yet, too few restarts, a matcher, ``minConfidence``): a
    signal no runbook takes is otherwise listed with no reason, as if no runbook were
    about it."""
    from remediation.durations import format_duration
    from remediation.schema import AlertTrigger, KubernetesTrigger

    out = []
    for runbook in runbooks:
        for trigger in runbook.spec.triggers:
            if isinstance(trigger, KubernetesTrigger):
                if signal.kind != "kubernetes" or signal.name != trigger.condition:
                    continue
            elif isinstance(trigger, AlertTrigger):
                if signal.kind != "alert" or signal.name != trigger.alertname:
                    continue
            else:
                continue
            why = []
            if signal.confidence < trigger.min_confidence:
                why.append(
                    f"needs confidence {trigger.min_confidence:g}; the signal has "
                    f"{signal.confidence:g}"
                )
            failed = [m for m in trigger.matchers if not m.matches(signal.labels)]
            if failed:
                seen = ", ".join(f"{m.name}={signal.labels.get(m.name, '')!r}" for m in failed)
                why.append(f"{', '.join(map(str, failed))} rejects the signal's {seen}")
            if isinstance(trigger, KubernetesTrigger):
                if signal.count < trigger.min_count and trigger.condition in (
                    "CrashLoopBackOff",
                    "OOMKilled",
                ):
                    why.append(f"needs {trigger.min_count} restarts; saw {signal.count}")
                if trigger.held_for > 0:
                    needs = f"needs it held for {format_duration(trigger.held_for)}"
                    if signal.since is None:
                        why.append(f"{needs}; the objects do not say since when it holds")
                    elif signal.observed_at - signal.since < trigger.held_for:
                        held = format_duration(max(signal.observed_at - signal.since, 0))
                        why.append(f"{needs}; held {held} (since {_when(signal.since)})")
            if why:
                out.append(f"{runbook.name} does not take it: {'; '.join(why)}")
    return out


def _alert(labels: dict[str, Any], now: float, confidence: float | None = None) -> dict[str, Any]:
    """One firing alert from its labels, as Alertmanager would send it."""
    import hashlib

    digest = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    alert: dict[str, Any] = {
        "status": "firing",
        "labels": labels,
        "startsAt": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fingerprint": digest,
    }
    if confidence is not None:
        alert["annotations"] = {"autonomic.dev/confidence": f"{confidence:g}"}
    return alert


def _load_alert(path: Path, now: float) -> Any:
    """An Alertmanager webhook body, one alert, or one alert's labels, validated as the
    webhook validates them; problems as ``file:line: field: message``."""
    from remediation.alerts import PayloadError, parse_payload

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:  # a bad input like any other: named, and the command exits 1
        raise BadInputError([f"{path}: cannot read the alert: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise BadInputError([f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8"]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError([f"{path}:{exc.lineno}: not JSON: {exc.msg}"]) from None
    if not isinstance(data, dict):
        raise BadInputError(
            [f"{path}:1: expected a JSON object (a webhook body, an alert or labels)"]
        )
    if "alerts" in data:
        body = data
    elif "labels" in data:
        alert = {"status": "firing", **data}
        if "startsAt" not in alert:
            alert["startsAt"] = _alert({}, now)["startsAt"]
        if "fingerprint" not in alert and isinstance(data["labels"], dict):
            alert["fingerprint"] = _alert(data["labels"], now)["fingerprint"]
        body = _wrap(alert)
    else:
        body = _wrap(_alert(data, now))
    try:
        return parse_payload(json.dumps(body))
    except PayloadError as exc:
        lines = text.splitlines()
        problems = []
        for issue in exc.issues:
            field_path, _, message = issue.partition(": ")
            key = field_path.rsplit(".", 1)[-1].split("[")[0]
            line = next((i + 1 for i, t in enumerate(lines) if f'"{key}"' in t), 1)
            if "alerts" not in data:  # the file held one alert or its labels
                field_path = field_path.removeprefix("alerts[0].").removeprefix("alerts[0]")
                if "labels" not in data:
                    field_path = field_path.removeprefix("labels").lstrip(".") or "(labels)"
            problems.append(f"{path}:{line}: {field_path}: {message}")
        raise BadInputError(problems) from None


def _wrap(alert: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": "{}",
        "status": "firing",
        "receiver": "autonomic",
        "alerts": [alert],
    }


# ------------------------------------------------------------------------ preview


@dataclass
class Change:
    planned: str  # the plan's diff line
    operation: dict[str, Any]
    dry_run: str  # the adapter's dry-run summary, or why the dry run was refused
    refused: str | None = None  # the reason code when the dry run was refused
    details: list[str] = field(default_factory=list)


@dataclass
class RunbookPreview:
    runbook: str
    outcome: str  # decided | skipped | denied | duplicate | no-match
    reason_code: str
    message: str
    target: str | None = None
    mode: str | None = None
    checks: list[GuardResult] = field(default_factory=list)  # preconditions as judged
    guards: list[GuardResult] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)
    verification: list[str] = field(default_factory=list)
    on_failure: str | None = None
    routing: dict[str, Any] | None = None
    missing_metrics: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)  # what the objects leave out


@dataclass
class SignalPreview:
    signal: Signal
    runbooks: list[RunbookPreview]
    no_trigger: list[str]  # runbooks none of whose triggers accept it


@dataclass
class Preview:
    at: float
    objects: dict[str, int]
    ignored: dict[str, int]
    runbooks: list[str]
    signals: list[SignalPreview]
    unmatched: list[Signal]  # no runbook's trigger accepts them
    paused: bool
    near: dict[int, list[str]] = field(default_factory=dict)  # unmatched index -> why not

    @property
    def decided(self) -> int:
        return sum(1 for s in self.signals for r in s.runbooks if r.outcome == "decided")


def _snapshot(cluster: Any, alerts: tuple[FiringAlert, ...], now: float) -> ClusterSnapshot:
    """The cluster as the engine reads it each cycle (``RemediationEngine.snapshot``)."""
    from agent.errors import PermanentError
    from remediation.snapshot import ClusterSnapshot

    workloads, hpas = [], []
    for workload in cluster.list_workloads():
        try:
            hpa = cluster.get_hpa_for(workload.ref)
        except PermanentError as exc:
            if exc.reason != "BadObject":
                raise
            continue  # its HPA cannot be read: left out, as the engine leaves it out
        workloads.append(workload)
        if hpa is not None:
            hpas.append(hpa)
    return ClusterSnapshot(
        workloads=tuple(workloads),
        pods=tuple(cluster.list_pods()),
        nodes=tuple(cluster.list_nodes()),
        hpas=tuple(hpas),
        alerts=alerts,
        taken_at=now,
        claims=tuple(cluster.list_volume_claims()),
    )


def _limits(settings: Settings) -> GlobalLimits:
    """The global limits as the daemon builds them from its settings."""
    from remediation.guards import GlobalLimits

    safety = settings.safety
    return GlobalLimits(
        max_actions_per_hour=safety.max_actions_per_hour,
        storm_triggers_per_minute=safety.storm_threshold,
        storm_cooldown=safety.storm_cooldown,
        target_cooldown=safety.cooldown,
        approved_max_wait=safety.approved_max_wait,
        freeze_windows=safety.freeze_windows,
        max_pods_disrupted_per_hour=safety.max_pods_disrupted_per_hour,
        max_pods_disrupted_per_hour_per_namespace=(
            safety.max_pods_disrupted_per_hour_per_namespace
        ),
    )


def _dry_run(cluster: Any, plan: Plan) -> list[Change]:
    from agent.errors import AutonomicError
    from remediation.ports import Drain, operation_to_dict

    out = []
    for change in plan.changes:
        operation = change.operation
        try:
            result = cluster.apply(operation, dry_run=True)
        except AutonomicError as exc:
            reason = getattr(exc, "reason", type(exc).__name__)
            out.append(
                Change(change.summary, operation_to_dict(operation), str(exc), refused=reason)
            )
            continue
        details = []
        if isinstance(operation, Drain):
            after = result.after
            if after.get("evicted"):
                details.append(f"would evict: {', '.join(after['evicted'])}")
            if after.get("over_budget"):
                details.append(f"left over maxEvictions: {', '.join(after['over_budget'])}")
            if after.get("skipped"):
                details.append(f"left in place: {', '.join(after['skipped'])}")
        out.append(
            Change(change.summary, operation_to_dict(operation), result.summary, None, details)
        )
    return out


def _missing_pods(target: ObjectRef, snapshot: ClusterSnapshot) -> list[str]:
    """A workload that wants replicas but has no Pod in the objects: every pod counts as
    unhealthy (blastRadius.minHealthyFraction), which hand-written objects would
    otherwise make look like the runbook's fault."""
    workload = snapshot.workload(target)
    if workload is None or workload.replicas <= 0 or snapshot.pods_of(target):
        return []
    via = "the StatefulSet" if target.kind == "StatefulSet" else "a ReplicaSet of it"
    return [
        f"the objects hold no Pod of {target} ({workload.replicas} replicas wanted), so none "
        f"counts as healthy: add its pods (kubectl get pods -o yaml), each with an "
        f"ownerReference to {via}"
    ]


def _verification_lines(plan: Plan) -> list[str]:
    from remediation.durations import format_duration

    spec = plan.verification
    if spec is None:
        return []
    passes = f"{spec.passes_required} pass{'es' if spec.passes_required != 1 else ''} in a row"
    lines = [
        f"after {format_duration(spec.settle)}, every {format_duration(spec.interval)} for up "
        f"to {format_duration(spec.window)}, {passes} of:"
    ]
    for check in spec.checks:
        if check.kind == "alertResolved":
            lines.append(check.describe())
        else:
            lines.append(f"{check.kind} {check.describe()}")
    return lines


def _routing(plan: Plan, signal: Signal, settings: Settings, now: float) -> dict[str, Any]:
    """The route a decision of this plan would take with no track record yet (a fresh
    ledger), as ``DecisionService.decide`` computes it."""
    from agent.calibration import track_record_confidence
    from agent.decisions import Proposal
    from agent.routing import Thresholds, route

    # A runbook's skeptical prior, as the engine's proposals leave it.
    prior = Proposal.__dataclass_fields__["prior_success"].default
    assert isinstance(prior, float)
    confidence = track_record_confidence(
        signal.confidence,
        [],
        now,
        prior_strength=settings.routing.prior_strength,
        prior_success=prior,
        half_life=settings.routing.memory,
    )
    forced = "; ".join(plan.approval_reasons) if plan.approval_required else None
    chosen = route(
        confidence,
        Thresholds(auto=settings.routing.auto, ask=settings.routing.ask),
        mode=settings.mode,
        max_autonomy=plan.max_autonomy,
        forced_approval=forced,
        shadow=plan.mode == "shadow",
    )
    # What happens once a track record lifts the confidence: the question above is not
    # the last word, unless the runbook or the daemon's mode caps it.
    later = None
    if chosen.route == "ask" and plan.max_autonomy == "auto" and not forced:
        later = (
            "still ask: the daemon's mode propose asks before every action (mode: act in "
            "the config lets it act alone)"
            if settings.mode == "propose"
            else "act alone"
        )
        later = f"once its track record reaches the automatic threshold, it would {later}"
    return {
        "route": chosen.route,
        "reason_code": chosen.reason_code,
        "message": chosen.message,
        "later": later,
        "confidence": round(confidence, 4),
        "max_autonomy": plan.max_autonomy,
        "approval_required": list(plan.approval_reasons),
        "mode": settings.mode,
        "asks": chosen.route == "ask",
    }


def preview(
    runbooks: tuple[Runbook, ...],
    cluster: Any,
    signals: list[Signal],
    snapshot: ClusterSnapshot,
    now: float,
    settings: Settings,
    metrics: list[tuple[str, float | None]],
) -> tuple[list[SignalPreview], list[Signal]]:
    """Each signal through the engine's steps (``RemediationEngine.handle``), on a guard
    state as a fresh ledger holds it."""
    from agent.undo import undo_said
    from remediation.guards import GuardState, check, record_trigger, set_pause, storm_gate
    from remediation.guards import results as guard_results
    from remediation.matching import match
    from remediation.planning import NoAction, check_preconditions, precondition_results
    from remediation.planning import plan as make_plan

    limits = _limits(settings)
    results = [(signal, match(runbooks, signal, snapshot)) for signal in signals]
    state: GuardState = GuardState()
    if settings.safety.paused:
        state = set_pause(state, True, "safety.paused is set in the config")
    # The storm guard counts the triggers taken up, once per incident (dedup key).
    fresh = {signal.dedup_key for signal, result in results if result.matches}
    for _ in fresh:
        state = record_trigger(state, now, limits)
    decided_incidents: dict[str, int] = {}  # incident key -> signal number
    open_targets: dict[tuple[str, str], int] = {}  # (runbook, target) -> signal number
    out: list[SignalPreview] = []
    unmatched: list[Signal] = []
    for number, (signal, result) in enumerate(results, start=1):
        items: list[RunbookPreview] = [
            RunbookPreview(skip.runbook, "no-match", skip.reason_code, skip.message)
            for skip in result.skipped
            if skip.reason_code not in NOT_TAKEN
        ]
        no_trigger = [s.runbook for s in result.skipped if s.reason_code in NOT_TAKEN]
        if not result.matches and not items:
            unmatched.append(signal)
            continue
        for found in result.matches:
            runbook = found.runbook
            item = RunbookPreview(runbook.name, "", "", "", target=str(found.target))
            items.append(item)
            storm = storm_gate(state, limits, now)
            if storm is not None:
                item.outcome, item.reason_code, item.message = (
                    "denied",
                    storm.reason_code,
                    storm.message,
                )
                continue
            planned = make_plan(runbook, signal, snapshot, now)
            if isinstance(planned, NoAction):
                item.outcome, item.reason_code, item.message = (
                    "skipped",
                    planned.reason_code,
                    planned.message,
                )
                continue
            item.mode = planned.mode
            item.changes = _dry_run(cluster, planned)
            item.notifications = [n.message for n in planned.notifications]
            item.verification = _verification_lines(planned)
            ops: list[str] = [op.op for op in planned.operations]
            undo = undo_said(ops, planned.undo_on_failure)
            if undo == "undone if verification fails":
                undo = "undo what was written"
            elif undo == "no undo":
                undo = "leave what was written"
            escalate = "escalate" if runbook.spec.on_failure.escalate else "do not escalate"
            item.on_failure = f"{undo}, {escalate}"
            item.checks = list(planned.checked)
            key = planned.incident_key
            if key in decided_incidents:
                item.outcome, item.reason_code = "duplicate", "AlreadyDecided"
                item.message = (
                    f"the same incident as signal {decided_incidents[key]} has a decision"
                )
                continue
            if planned.preconditions:
                values: dict[str, float | None] = {}
                for condition in planned.preconditions:
                    answered, values[condition.query] = _answer(condition.query, metrics)
                    if not answered:
                        item.missing_metrics.append(condition.query)
                item.checks += precondition_results(planned, values)
                blocked = check_preconditions(planned, values)
                if blocked is not None:
                    item.outcome, item.reason_code, item.message = (
                        "skipped",
                        blocked.reason_code,
                        blocked.message,
                    )
                    continue
            item.guards = list(guard_results(planned, runbook.spec.guards, state, limits, now))
            item.hints = _missing_pods(planned.target, snapshot)
            gate = check(planned, runbook.spec.guards, state, limits, now)
            if not gate.allowed:
                item.outcome, item.reason_code, item.message = (
                    "denied",
                    gate.reason_code,
                    gate.message,
                )
                continue
            pair = (runbook.name, str(planned.target))
            if pair in open_targets:
                item.outcome, item.reason_code = "duplicate", "OpenDecision"
                item.message = (
                    f"the decision of {runbook.name} on {planned.target} from signal "
                    f"{open_targets[pair]} would still be open"
                )
                continue
            decided_incidents[key] = number
            open_targets[pair] = number
            item.routing = _routing(planned, signal, settings, now)
            item.outcome, item.reason_code = "decided", item.routing["reason_code"]
            item.message = item.routing["message"]
        out.append(SignalPreview(signal, items, no_trigger))
    return out, unmatched


# ------------------------------------------------------------------------ output


def _when(at: float) -> str:
    from remediation.windows import to_utc_text

    return to_utc_text(at)


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in sorted(counts.items()))


def _verdict(item: RunbookPreview) -> str:
    if item.outcome == "decided":
        route = (item.routing or {}).get("route", "?")
        words = {
            "auto": "would act alone",
            "ask": "would ask a person first",
            "escalate": "would escalate to a person",
            "shadow": "would record what it would do (shadow runbook), and act on nothing",
            "observe": "would record only (observe mode)",
        }
        return f"{words.get(route, route)} [{item.reason_code}]"
    words = {
        "skipped": "would not act",
        "denied": "would be held back by a guard",
        "duplicate": "would not decide again",
        "no-match": "does not take it up",
    }
    return f"{words[item.outcome]} [{item.reason_code}]: {item.message}"


def render_text(result: Preview) -> str:
    lines = [
        f"Preview at {_when(result.at)} of {len(result.runbooks)} runbook"
        f"{'s' if len(result.runbooks) != 1 else ''} on "
        f"{_counted(result.objects) or 'no objects'}; nothing is written, no ledger is opened.",
        "Guards start from a fresh ledger: no cooldowns, hourly or per-target counts, open "
        "circuit breakers or runs in flight are known.",
    ]
    if result.ignored:
        lines.append(f"Not read (the cluster port does not read them): {_counted(result.ignored)}.")
    if result.paused:
        lines.append("Remediation is paused in the config (safety.paused): every plan is denied.")
    for number, item in enumerate(result.signals, start=1):
        lines += ["", f"signal {number}: {item.signal.describe()}"]
        for rb in item.runbooks:
            where = f" on {rb.target}" if rb.target else ""
            lines.append(f"  {rb.runbook}{where}: {_verdict(rb)}")
            if rb.outcome == "no-match":
                continue
            if rb.mode is not None and rb.mode != "enforce":
                lines.append(
                    f"    mode {rb.mode}: "
                    + (
                        "the daemon would only dry-run these writes"
                        if rb.mode == "dryRun"
                        else "the daemon records what it would do and writes nothing"
                    )
                )
            if rb.checks:
                lines.append("    preconditions")
                lines += [
                    f"      {'pass' if c.passed else 'FAIL'}  {c.name}: needs {c.required}; "
                    f"saw {c.seen}"
                    for c in rb.checks
                ]
            for query in rb.missing_metrics:
                lines.append(f"      no --metric answers {query!r}: no data, as with no Prometheus")
            if rb.guards:
                # In full: what failed, and the blast radius (it depends on the plan);
                # the other guards that pass, by name (--json has every one in full).
                full = [g for g in rb.guards if not g.passed or g.name.startswith("blast")]
                quiet = [g.name for g in rb.guards if g not in full]
                passing = sum(1 for g in rb.guards if g.passed)
                lines.append(f"    guards (fresh ledger): {passing} of {len(rb.guards)} pass")
                lines += [
                    f"      {'pass' if g.passed else 'FAIL'}  {g.name}: needs {g.required}; "
                    f"saw {g.seen}"
                    for g in full
                ]
                if quiet:
                    lines.append(f"      pass  {', '.join(quiet)}")
            lines += [f"    note: {hint}" for hint in rb.hints]
            if rb.changes:
                planned = "would make" if rb.outcome == "decided" else "planned, not made"
                lines.append(f"    changes ({planned}), in order")
                for step, change in enumerate(rb.changes, start=1):
                    lines.append(f"      {step}. {change.planned}")
                    if change.refused:
                        lines.append(
                            f"         dry run refused [{change.refused}]: {change.dry_run}"
                        )
                    else:
                        lines.append(f"         dry run: {change.dry_run}")
                    lines += [f"         {detail}" for detail in change.details]
            elif rb.mode is not None:
                lines.append("    changes: none (notify only)")
            lines += [f"    notify: {note}" for note in rb.notifications]
            if rb.verification:
                lines.append(f"    verification {rb.verification[0]}")
                lines += [f"      {check}" for check in rb.verification[1:]]
            if rb.on_failure and rb.changes:
                lines.append(f"    on failure: {rb.on_failure}")
            if rb.routing is not None:
                forced = rb.routing["approval_required"]
                lines.append(
                    f"    routing: maxAutonomy {rb.routing['max_autonomy']}; "
                    + (
                        f"requireApprovalWhen forces a question: {'; '.join(forced)}"
                        if forced
                        else "requireApprovalWhen forces no question"
                    )
                    + f"; the daemon's mode {rb.routing['mode']}"
                )
                lines.append(f"      with no track record yet: {rb.routing['message']}")
                if rb.routing.get("later"):
                    lines.append(f"      {rb.routing['later']}")
    if result.unmatched:
        lines += ["", f"{len(result.unmatched)} signal(s) no runbook's trigger accepts:"]
        for index, unmatched in enumerate(result.unmatched[:UNMATCHED_SHOWN]):
            lines.append(f"  {unmatched.describe()}")
            lines += [f"    {why}" for why in result.near.get(index, [])]
        if len(result.unmatched) > UNMATCHED_SHOWN:
            lines.append(f"  ... and {len(result.unmatched) - UNMATCHED_SHOWN} more")
    if not result.signals and not result.unmatched:
        lines += ["", "The objects raise no signal, and none was given (--alert, --signal)."]
    lines.append("")
    decided = result.decided
    lines.append(
        f"{decided} decision{'s' if decided != 1 else ''} would be made."
        if decided
        else "No runbook would decide anything (exit status 3)."
    )
    return "\n".join(lines)


def _result_dict(r: GuardResult) -> dict[str, Any]:
    return dict(r.to_dict())


def render_json(result: Preview) -> str:
    def signal(s: Signal) -> dict[str, Any]:
        return {
            "kind": s.kind,
            "name": s.name,
            "target": str(s.target) if s.target else None,
            "confidence": s.confidence,
            "description": s.describe(),
        }

    data = {
        "at": datetime.fromtimestamp(result.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "objects": result.objects,
        "ignored": result.ignored,
        "runbooks": result.runbooks,
        "guard_state": "fresh",
        "signals": [
            {
                "signal": signal(item.signal),
                "runbooks": [
                    {
                        "runbook": rb.runbook,
                        "outcome": rb.outcome,
                        "reason_code": rb.reason_code,
                        "message": rb.message,
                        "target": rb.target,
                        "mode": rb.mode,
                        "preconditions": [_result_dict(c) for c in rb.checks],
                        "missing_metrics": rb.missing_metrics,
                        "hints": rb.hints,
                        "guards": [_result_dict(g) for g in rb.guards],
                        "changes": [
                            {
                                "planned": c.planned,
                                "operation": c.operation,
                                "dry_run": c.dry_run,
                                "refused": c.refused,
                                "details": c.details,
                            }
                            for c in rb.changes
                        ],
                        "notifications": rb.notifications,
                        "verification": rb.verification,
                        "on_failure": rb.on_failure,
                        "routing": rb.routing,
                    }
                    for rb in item.runbooks
                ],
                "no_trigger": item.no_trigger,
            }
            for item in result.signals
        ],
        "unmatched": [
            {**signal(s), "near_misses": result.near.get(index, [])}
            for index, s in enumerate(result.unmatched)
        ],
        "decisions": result.decided,
    }
    return json.dumps(data, indent=2)


# ------------------------------------------------------------------------ command


def run_test(args: argparse.Namespace) -> int:
    try:
        result = _run(args)
    except BadInputError as exc:
        for problem in exc.problems:
            print(problem)
        count = len(exc.problems)
        print(
            f"runbooks test: {count} problem{'s' if count != 1 else ''} in the inputs; "
            "nothing was previewed",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    print(render_json(result) if args.json else render_text(result))
    return 0 if result.decided else EXIT_NOTHING


def _run(args: argparse.Namespace) -> Preview:
    import os

    from agent.cli._objects import ObjectsCluster, load_objects
    from agent.settings import Settings, load_settings
    from remediation.alerts import to_signals, update_firing
    from remediation.loading import check_paths
    from remediation.signals import detect_kubernetes_signals

    now = _parse_at(args.at)
    metrics = _parse_metrics(args.metric)
    settings = load_settings(args.config, dict(os.environ)) if args.config else Settings()
    problems: list[str] = []
    report = check_paths(args.paths)
    problems += [str(issue) for issue in report.issues]
    if not report.issues and not report.runbooks:
        problems.append(f"{', '.join(args.paths)}: no runbook found")
    objects = load_objects(args.objects)
    problems += objects.problems
    payloads = []
    for path in args.alert:
        try:
            payloads.append(_load_alert(path, now))
        except BadInputError as exc:
            problems += exc.problems
    if problems:
        raise BadInputError(problems)
    runbooks = tuple(runbook for _, runbook in report.runbooks)
    cluster = ObjectsCluster(objects.objects, now)
    firing: tuple[FiringAlert, ...] = ()
    alert_signals: list[Signal] = []
    for payload in payloads:
        firing = update_firing(firing, payload)
        alert_signals += to_signals(payload, now)
    try:
        snapshot = _snapshot(cluster, firing, now)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BadInputError(
            [f"{args.objects}: the objects could not be read as the cluster port reads them: {exc}"]
        ) from None
    detected = detect_kubernetes_signals(snapshot, now)
    signals: list[Signal] = []
    if args.signal:
        given_problems = []
        for text in args.signal:
            try:
                signals += _given_signal(text, detected, snapshot, now)
            except BadInputError as exc:
                given_problems += exc.problems
        if given_problems:
            raise BadInputError(given_problems)
        # The alerts given as signals are firing too, for noOtherAlertFiring.
        given_alerts = [s for s in signals if s.kind == "alert"]
        if given_alerts:
            from remediation.snapshot import FiringAlert

            firing = firing + tuple(
                FiringAlert(s.name, dict(s.labels), str(s.evidence.get("fingerprint")), now)
                for s in given_alerts
            )
            snapshot = replace(snapshot, alerts=firing)
    else:
        signals += detected
    signals += alert_signals
    previewed, unmatched = preview(runbooks, cluster, signals, snapshot, now, settings, metrics)
    return Preview(
        at=now,
        objects=objects.counts(),
        ignored=objects.ignored,
        runbooks=[r.name for r in runbooks],
        signals=previewed,
        unmatched=unmatched,
        paused=settings.safety.paused,
        near={index: why for index, s in enumerate(unmatched) if (why := near_misses(s, runbooks))},
    )
