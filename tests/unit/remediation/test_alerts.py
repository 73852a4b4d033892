"""Alertmanager webhook v4 payloads: parsing, deduplication, targets, firing set."""

from __future__ import annotations

import json
from typing import Any

import pytest

from remediation.alerts import PayloadError, alert_target, parse_payload, to_signals, update_firing
from remediation.ports import ObjectRef


def payload(*alerts: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": "4",
        "groupKey": '{}:{alertname="KubePodCrashLooping"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "autonomic",
        "groupLabels": {"alertname": "KubePodCrashLooping"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }
    body.update(fields)
    return body


def alert(
    fingerprint: str = "a1b2", starts: str = "2026-11-22T10:00:00Z", **labels: str
) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "web-1"}
        | labels,
        "annotations": {"summary": "crash looping"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    }


def test_parse_and_convert() -> None:
    parsed = parse_payload(json.dumps(payload(alert(), alert("c3d4", pod="web-2"))))
    signals = to_signals(parsed, received_at=100.0)
    assert [s.target for s in signals] == [
        ObjectRef("Pod", "web-1", "shop"),
        ObjectRef("Pod", "web-2", "shop"),
    ]
    first = signals[0]
    assert first.kind == "alert" and first.name == "KubePodCrashLooping"
    assert first.dedup_key == "alert/a1b2/2026-11-22T10:00:00+00:00"
    assert first.evidence["fingerprint"] == "a1b2" and first.confidence == 0.9


def test_resends_deduplicate_on_fingerprint_and_start() -> None:
    again = parse_payload(json.dumps(payload(alert(), alert())))
    assert len(to_signals(again, 1.0)) == 1
    restarted = parse_payload(json.dumps(payload(alert(), alert(starts="2026-11-22T11:00:00Z"))))
    assert len(to_signals(restarted, 1.0)) == 2  # same alert firing again is a new incident


def test_confidence_annotation() -> None:
    body = alert()
    body["annotations"]["autonomic.dev/confidence"] = "0.55"
    (sig,) = to_signals(parse_payload(json.dumps(payload(body))), 1.0)
    assert sig.confidence == 0.55


@pytest.mark.parametrize(
    ("labels", "target"),
    [
        ({"namespace": "a", "deployment": "web"}, ObjectRef("Deployment", "web", "a")),
        ({"namespace": "a", "statefulset": "db"}, ObjectRef("StatefulSet", "db", "a")),
        ({"node": "n1"}, ObjectRef("Node", "n1")),
        ({"namespace": "a", "pod": "p", "node": "n1"}, ObjectRef("Pod", "p", "a")),
        ({"pod": "p"}, None),
        ({}, None),
        # an HPA's alert (KubeHpaMaxedOut): matching resolves it to what the HPA scales
        (
            {"namespace": "a", "horizontalpodautoscaler": "web"},
            ObjectRef("HorizontalPodAutoscaler", "web", "a"),
        ),
        # kube-prometheus-stack's scrape adds the exporter's own pod: the HPA wins
        (
            {"namespace": "a", "horizontalpodautoscaler": "web", "pod": "kube-state-metrics-5c"},
            ObjectRef("HorizontalPodAutoscaler", "web", "a"),
        ),
        # a rule that names the workload as well keeps it
        (
            {"namespace": "a", "horizontalpodautoscaler": "web", "deployment": "api"},
            ObjectRef("Deployment", "api", "a"),
        ),
        (
            {"namespace": "a", "horizontalpodautoscaler": "web", "statefulset": "db"},
            ObjectRef("StatefulSet", "db", "a"),
        ),
        ({"horizontalpodautoscaler": "web"}, None),  # no namespace: no object
        # a Job's alert (KubeJobFailed): kube-state-metrics' 'job_name', never 'job' (the
        # scrape job), and before the exporter's own 'pod'
        (
            {"namespace": "a", "job_name": "backup-29177885", "job": "kube-state-metrics"},
            ObjectRef("Job", "backup-29177885", "a"),
        ),
        (
            {"namespace": "a", "job_name": "backup-1", "pod": "kube-state-metrics-5c"},
            ObjectRef("Job", "backup-1", "a"),
        ),
        ({"namespace": "a", "job": "kube-state-metrics"}, None),
        ({"job_name": "backup-1"}, None),
    ],
)
def test_alert_target(labels: dict[str, str], target: ObjectRef | None) -> None:
    assert alert_target(labels) == target


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("not json", "Invalid JSON"),
        ("[]", "(body)"),
        (json.dumps(payload(alert(), version="3")), "version"),
        (json.dumps(payload(alert(starts="yesterday"))), "alerts[0].startsAt"),
        (json.dumps(payload(alert(starts="2026-11-22T10:00:00"))), "timezone"),
        (json.dumps(payload(alert(alertname=""))), "alertname"),
        (json.dumps(payload(alert(), status="weird")), "status"),
        (json.dumps(payload(alert(fingerprint=""))), "fingerprint"),
        (json.dumps(payload({"status": "firing"})), "alerts[0].labels"),
    ],
)
def test_malformed_payloads(body: str, fragment: str) -> None:
    with pytest.raises(PayloadError) as raised:
        parse_payload(body)
    assert raised.value.status == 400
    assert fragment in str(raised.value)


def test_a_missing_field_and_a_wrong_choice_read_as_in_runbooks_and_the_config() -> None:
    """They were pydantic's own words, "groupKey: Field required" and "alerts[0].status:
    Input should be 'firing' or 'resolved'", where a runbook or the configuration says
    "required key is missing" and the value written with the choice it may have meant."""
    body = payload(alert())
    del body["groupKey"]
    body["alerts"][0]["status"] = "firin"
    with pytest.raises(PayloadError) as raised:
        parse_payload(json.dumps(body))
    assert raised.value.issues == (
        "groupKey: required key is missing",
        "alerts[0].status: must be 'firing' or 'resolved', got 'firin' (did you mean 'firing'?)",
    )


def test_oversized_body_is_413() -> None:
    with pytest.raises(PayloadError) as raised:
        parse_payload(b" " * 1_048_577)
    assert raised.value.status == 413


def test_firing_set_follows_resolutions() -> None:
    firing = update_firing((), parse_payload(json.dumps(payload(alert(), alert("c3d4")))))
    assert [a.fingerprint for a in firing] == ["a1b2", "c3d4"]
    resolved = alert("a1b2")
    resolved["status"] = "resolved"
    firing = update_firing(firing, parse_payload(json.dumps(payload(resolved, status="resolved"))))
    assert [a.fingerprint for a in firing] == ["c3d4"]


@pytest.mark.parametrize("written", ["\u0660.\u0665", "\uff10.5", " 0.5", "0_5", "nan", "5e-1x"])
def test_confidence_annotation_not_plainly_written_falls_back(written: str) -> None:
    """float() read "٠.٥" and "０.5" as 0.5 and "0_5" as 5 (then out of range): an
    annotation not written as a plain ASCII number is not read, as "high" is not."""
    body = alert()
    body["annotations"]["autonomic.dev/confidence"] = written
    (sig,) = to_signals(parse_payload(json.dumps(payload(body))), 1.0, default_confidence=0.75)
    assert sig.confidence == 0.75
