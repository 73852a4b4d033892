"""Alertmanager webhook payloads (version 4): parse, deduplicate, turn into signals.

Alertmanager re-sends a group on every ``repeat_interval`` and HA peers each send their
own copy, so the same alert arrives many times. An alert is one incident per
(fingerprint, startsAt): that pair is the signal's dedup key. Parsing is strict about
what the engine needs (status, labels with an ``alertname``, RFC 3339 times, fingerprint)
and lenient about fields Alertmanager may add later. Every malformed body raises
``PayloadError`` with a message naming the field, which the HTTP adapter returns as 400.

A delivery is taken in for its first ``MAX_ALERTS`` alerts, in the order Alertmanager sent
them (as its own ``max_alerts`` truncates a group); the rest are counted as ``dropped``,
not refused: Alertmanager does not retry a 4xx, so a refusal would lose the whole group.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Literal

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from pydantic_core import ErrorDetails

from remediation.digits import plain_number
from remediation.ports import ObjectRef
from remediation.signals import Signal
from remediation.snapshot import FiringAlert
from remediation.validation import explain, field_path

__all__ = [
    "MAX_ALERTS",
    "MAX_BODY_BYTES",
    "AlertmanagerAlert",
    "AlertmanagerPayload",
    "PayloadError",
    "alert_target",
    "parse_payload",
    "to_signals",
    "update_firing",
]

MAX_BODY_BYTES = 1_048_576
MAX_ALERTS = 10_000  # taken in from one delivery; the alerts after them are dropped, counted
CONFIDENCE_ANNOTATION = "autonomic.dev/confidence"
DEFAULT_ALERT_CONFIDENCE = 0.9

LabelMap = dict[Annotated[str, Field(max_length=1024)], Annotated[str, Field(max_length=16384)]]


class PayloadError(ValueError):
    """A webhook body that is not a valid Alertmanager v4 payload; ``issues`` per field."""

    def __init__(self, issues: Iterable[str], *, status: int = 400) -> None:
        self.issues = tuple(issues)
        self.status = status
        super().__init__("invalid Alertmanager payload: " + "; ".join(self.issues))


class _Intake(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class AlertmanagerAlert(_Intake):
    """One alert inside the payload."""

    status: Literal["firing", "resolved"]
    labels: LabelMap
    annotations: LabelMap = Field(default_factory=dict)
    startsAt: datetime  # noqa: N815 - Alertmanager's field name
    endsAt: datetime | None = None  # noqa: N815
    generatorURL: str = Field(default="", max_length=8192)  # noqa: N815
    fingerprint: str = Field(min_length=1, max_length=128)

    @field_validator("labels")
    @classmethod
    def _has_alertname(cls, labels: dict[str, str]) -> dict[str, str]:
        if not labels.get("alertname"):
            raise ValueError("every alert needs an 'alertname' label")
        return labels

    @field_validator("startsAt", "endsAt")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("times must carry a timezone (RFC 3339, e.g. ...Z)")
        return value

    @property
    def name(self) -> str:
        return self.labels["alertname"]

    @property
    def dedup_key(self) -> str:
        return f"alert/{self.fingerprint}/{self.startsAt.isoformat()}"


class AlertmanagerPayload(_Intake):
    """The whole webhook body (``version`` must be "4")."""

    version: Literal["4"]
    groupKey: str = Field(max_length=16384)  # noqa: N815
    truncatedAlerts: int = Field(default=0, ge=0)  # noqa: N815
    status: Literal["firing", "resolved"]
    receiver: str = Field(max_length=1024)
    groupLabels: LabelMap = Field(default_factory=dict)  # noqa: N815
    commonLabels: LabelMap = Field(default_factory=dict)  # noqa: N815
    commonAnnotations: LabelMap = Field(default_factory=dict)  # noqa: N815
    externalURL: str = Field(default="", max_length=8192)  # noqa: N815
    alerts: tuple[AlertmanagerAlert, ...] = Field(max_length=MAX_ALERTS)
    _dropped: int = PrivateAttr(default=0)

    @property
    def dropped(self) -> int:
        """The alerts after the first ``MAX_ALERTS`` of the delivery, not taken in."""
        return self._dropped


def _only_too_many_alerts(error: ValidationError) -> bool:
    """Whether the one problem found was the number of alerts."""
    return [(e["type"], tuple(e["loc"])) for e in error.errors()] == [("too_long", ("alerts",))]


def _first_alerts(body: bytes | str) -> AlertmanagerPayload:
    """The payload with its first ``MAX_ALERTS`` alerts, validated (the body is JSON)."""
    data = pydantic_core.from_json(body)
    alerts = data["alerts"]
    payload = AlertmanagerPayload.model_validate_json(
        pydantic_core.to_json({**data, "alerts": alerts[:MAX_ALERTS]})
    )
    payload._dropped = len(alerts) - MAX_ALERTS
    return payload


def _issue(item: ErrorDetails) -> str:
    """``alerts[0].status: ...``: the field, then what is wrong in the words the
    runbooks and the configuration use for a missing key or a value that is not one of
    the choices (a JSON body has no line to name, and YAML's shapes do not apply)."""
    where = field_path(tuple(item["loc"])) or "(body)"
    if item["type"] in ("missing", "literal_error"):
        return f"{where}: {explain(item)}"
    return f"{where}: {str(item['msg']).removeprefix('Value error, ')}"


def parse_payload(body: bytes | str, *, max_bytes: int = MAX_BODY_BYTES) -> AlertmanagerPayload:
    """Validate a webhook body; raise ``PayloadError`` (status 400, or 413 when larger
    than ``max_bytes``: the daemon passes its ``alertmanager.maxBodyBytes``).

    A body with more than ``MAX_ALERTS`` alerts is taken for its first ``MAX_ALERTS`` (a
    fault among those is still a 400); the payload's ``dropped`` says how many were left.
    """
    size = len(body.encode("utf-8") if isinstance(body, str) else body)
    if size > max_bytes:
        raise PayloadError([f"body is {size} bytes; the limit is {max_bytes}"], status=413)
    try:
        try:
            return AlertmanagerPayload.model_validate_json(body)
        except ValidationError as error:
            # pydantic reports the number alone when there are too many, valid or not
            if not _only_too_many_alerts(error):
                raise
            return _first_alerts(body)
    except ValidationError as error:
        issues = [_issue(item) for item in error.errors(include_url=False)[:20]]
        raise PayloadError(issues) from None
    except (RecursionError, OverflowError, UnicodeError) as error:
        raise PayloadError([f"body cannot be read as JSON: {type(error).__name__}"]) from None


def alert_target(labels: dict[str, str]) -> ObjectRef | None:
    """The object an alert is about, from kube-state-metrics-style labels.

    An alert that names a HorizontalPodAutoscaler (``horizontalpodautoscaler``, as
    kube-state-metrics writes it) is about the HPA, unless it names a Deployment or
    StatefulSet as well (the alerting rule chose that one): matching resolves the HPA to
    the workload it scales. So is one that names a Job (``job_name``: kube-state-metrics'
    label, since Prometheus keeps ``job`` for the scrape job) about the Job. Both come
    before ``pod``: kube-state-metrics' HPA and Job metrics have no pod, so a ``pod``
    label on them is the exporter's own, added by the scrape (kube-prometheus-stack
    keeps it).

    Otherwise Pod is preferred (most specific; matching resolves it to its owner), then
    Deployment, StatefulSet, PersistentVolumeClaim and Node. ``None`` when the labels
    name no object. A claim comes before a node: the kubelet's volume metrics
    (``kubelet_volume_stats_*``, behind ``KubePersistentVolumeFillingUp``) carry the
    ``node`` that mounts the volume as well, and the alert is about the claim.
    """
    namespace = labels.get("namespace") or None
    workload_named = bool(labels.get("deployment") or labels.get("statefulset"))
    if namespace and not workload_named:
        if labels.get("horizontalpodautoscaler"):
            hpa = labels["horizontalpodautoscaler"]
            return ObjectRef("HorizontalPodAutoscaler", hpa, namespace)
        if labels.get("job_name"):
            return ObjectRef("Job", labels["job_name"], namespace)
    if labels.get("pod") and namespace:
        return ObjectRef("Pod", labels["pod"], namespace)
    if labels.get("deployment") and namespace:
        return ObjectRef("Deployment", labels["deployment"], namespace)
    if labels.get("statefulset") and namespace:
        return ObjectRef("StatefulSet", labels["statefulset"], namespace)
    if labels.get("persistentvolumeclaim") and namespace:
        return ObjectRef("PersistentVolumeClaim", labels["persistentvolumeclaim"], namespace)
    if labels.get("node"):
        return ObjectRef("Node", labels["node"])
    return None


def _confidence(alert: AlertmanagerAlert, default: float) -> float:
    raw = alert.annotations.get(CONFIDENCE_ANNOTATION)
    if raw is None:
        return default
    # float() alone also reads " 0.9 ", "٠.٩" (Arabic-Indic digits), "nan" and "1_0".
    if not plain_number(raw):
        return default
    value = float(raw)
    return value if 0.0 <= value <= 1.0 else default


def to_signals(
    payload: AlertmanagerPayload,
    received_at: float,
    *,
    default_confidence: float = DEFAULT_ALERT_CONFIDENCE,
) -> tuple[Signal, ...]:
    """One signal per alert, deduplicated within the payload on (fingerprint, startsAt).

    An alert is a rule a person wrote, not a measured probability: it gets
    ``default_confidence`` unless its ``autonomic.dev/confidence`` annotation says otherwise.
    """
    seen: set[str] = set()
    signals: list[Signal] = []
    for alert in payload.alerts:
        if alert.dedup_key in seen:
            continue
        seen.add(alert.dedup_key)
        signals.append(
            Signal(
                kind="alert",
                name=alert.name,
                target=alert_target(alert.labels),
                labels=dict(alert.labels),
                confidence=_confidence(alert, default_confidence),
                observed_at=received_at,
                dedup_key=alert.dedup_key,
                evidence={
                    "fingerprint": alert.fingerprint,
                    "annotations": dict(alert.annotations),
                    "generatorURL": alert.generatorURL,
                    "receiver": payload.receiver,
                    "groupKey": payload.groupKey,
                },
                since=alert.startsAt.timestamp(),
                status=alert.status,
            )
        )
    return tuple(signals)


def update_firing(
    firing: tuple[FiringAlert, ...], payload: AlertmanagerPayload
) -> tuple[FiringAlert, ...]:
    """The set of firing alerts after ``payload``: firing ones added, resolved ones removed."""
    current = {alert.fingerprint: alert for alert in firing}
    for alert in payload.alerts:
        if alert.status == "resolved":
            current.pop(alert.fingerprint, None)
        else:
            current[alert.fingerprint] = FiringAlert(
                name=alert.name,
                labels=dict(alert.labels),
                fingerprint=alert.fingerprint,
                starts_at=alert.startsAt.timestamp(),
            )
    return tuple(sorted(current.values(), key=lambda a: (a.name, a.fingerprint)))
