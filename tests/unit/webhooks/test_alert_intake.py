from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from agent.alert_inbox import AlertInbox
from agent.ledger import open_ledger
from agent.observability import Metrics
from agent.server import Request
from agent.webhooks import AlertIntake
from remediation.alerts import MAX_ALERTS, parse_payload, to_signals
from remediation.signals import Signal


def payload(status: str = "firing", fingerprint: str = "abc123", **labels: str) -> bytes:
    alert = {
        "status": status,
        "labels": {
            "alertname": "KubePodCrashLooping",
            "namespace": "shop",
            "pod": "web-1",
            "severity": "warning",
            **labels,
        },
        "annotations": {"summary": "crash-looping"},
        "startsAt": "2026-11-22T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    }
    body = {
        "version": "4",
        "groupKey": '{}:{alertname="KubePodCrashLooping"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "autonomic",
        "groupLabels": {"alertname": "KubePodCrashLooping"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager",
        "alerts": [alert],
    }
    return json.dumps(body).encode()


def request(body: bytes, token: str | None = "s3cret", content_type: str = "application/json"):  # type: ignore[no-untyped-def]
    headers = {"content-type": content_type}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return Request("POST", "/webhooks/alertmanager", {}, headers, body)


def intake(is_leader: Callable[[], bool] = lambda: True) -> AlertIntake:
    # An in-memory SQLite ledger (one connection per thread): these tests are one thread.
    inbox = AlertInbox(open_ledger("sqlite://", 1000.0), lambda: 1000.0)
    return AlertIntake(
        token=SecretStr("s3cret"), clock=lambda: 1000.0, inbox=inbox, is_leader=is_leader
    )


def stored(hook: AlertIntake) -> list[Signal]:
    """The signals the intake stored in the ledger that no cycle has handled yet."""
    return [alert.signal for alert in hook.inbox.pending()]


def test_valid_alert_becomes_one_signal_and_resends_are_deduplicated() -> None:
    hook = intake()
    first = hook.handle(request(payload()))
    assert first.status == 200 and json.loads(first.body) == {"accepted": 1, "duplicates": 0}
    again = hook.handle(request(payload()))  # Alertmanager re-sends the group
    assert json.loads(again.body) == {"accepted": 0, "duplicates": 1}
    got = stored(hook)
    assert len(got) == 1 and got[0].name == "KubePodCrashLooping"
    # what the engine takes from the ledger is the signal the payload made, field by field
    assert got == list(to_signals(parse_payload(payload()), 1000.0))
    assert [a.fingerprint for a in hook.firing()] == ["abc123"]
    resolved = hook.handle(request(payload(status="resolved")))
    assert resolved.status == 200 and hook.firing() == ()


def test_bad_token_and_bad_bodies_get_4xx_and_store_nothing() -> None:
    hook = intake()
    assert hook.handle(request(payload(), token=None)).status == 401
    assert hook.handle(request(payload(), token="wrong")).status == 401
    assert hook.handle(request(b"{not json")).status == 400
    assert hook.handle(request(b'{"version": "4"}')).status == 400
    assert hook.handle(request(payload(), content_type="text/plain")).status == 415
    huge = hook.handle(request(b"x" * (2 << 20)))
    assert huge.status == 413
    assert stored(hook) == []


def test_a_larger_max_body_bytes_is_the_limit_the_payload_is_held_to() -> None:
    """``alertmanager.maxBodyBytes`` may be raised to 64 MiB for big alert groups. The
    payload parser used to refuse anything over 1 MiB whatever the setting said, with a
    413 Alertmanager does not retry: a big group was lost."""
    inbox = AlertInbox(open_ledger("sqlite://", 1000.0), lambda: 1000.0)
    hook = AlertIntake(
        token=SecretStr("s3cret"), clock=lambda: 1000.0, inbox=inbox, max_body_bytes=2 << 20
    )
    body = json.loads(payload())
    first = body["alerts"][0]
    body["alerts"] = [
        first | {"fingerprint": f"fp{i}", "labels": first["labels"] | {"pod": f"web-{i}"}}
        for i in range(4000)
    ]
    raw = json.dumps(body).encode()
    assert 1 << 20 < len(raw) <= 2 << 20
    accepted = hook.handle(request(raw))
    assert accepted.status == 200, accepted.body
    assert json.loads(accepted.body) == {"accepted": 4000, "duplicates": 0}
    over = hook.handle(request(raw + b" " * ((2 << 20) - len(raw) + 1)))
    assert over.status == 413
    assert f"is larger than the limit, alertmanager.maxBodyBytes: {2 << 20} bytes" in (
        over.body.decode()
    )


def test_a_group_of_more_than_10000_alerts_is_taken_for_its_first_10000(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It used to get a 400, which Alertmanager does not retry: the whole group was lost.
    Now the first 10,000 are stored, and the rest counted, logged and answered as dropped."""
    metrics = Metrics()
    inbox = AlertInbox(open_ledger("sqlite://", 1000.0), lambda: 1000.0)
    hook = AlertIntake(
        token=SecretStr("s3cret"),
        clock=lambda: 1000.0,
        inbox=inbox,
        max_body_bytes=4 << 20,
        metrics=metrics,
    )
    body = json.loads(payload())
    first = body["alerts"][0]
    body["alerts"] = [first | {"fingerprint": f"fp{i}"} for i in range(MAX_ALERTS + 3)]
    with caplog.at_level(logging.WARNING, logger="autonomic.webhooks"):
        answer = hook.handle(request(json.dumps(body).encode()))
    assert answer.status == 200, answer.body
    assert json.loads(answer.body) == {"accepted": MAX_ALERTS, "duplicates": 0, "dropped": 3}
    fingerprints = {a.fingerprint for a in hook.firing()}
    assert len(fingerprints) == MAX_ALERTS and f"fp{MAX_ALERTS - 1}" in fingerprints
    assert not fingerprints & {f"fp{MAX_ALERTS + i}" for i in range(3)}
    counted = metrics.registry.get_sample_value
    assert counted("autonomic_alertmanager_alerts_total", {"result": "dropped"}) == 3
    assert counted("autonomic_alertmanager_alerts_total", {"result": "accepted"}) == MAX_ALERTS
    (line,) = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert line == (
        'Alertmanager webhook: group {}:{alertname="KubePodCrashLooping"} sent 10003 alerts, '
        "more than the 10000 one delivery is taken in for: the first 10000 were taken, the "
        "last 3 dropped (Alertmanager's max_alerts on the receiver chooses how many it sends)"
    )
    # A payload with a bad alert among too many is still malformed: a 400 naming it.
    body["alerts"][5] = {key: value for key, value in first.items() if key != "fingerprint"}
    refused = hook.handle(request(json.dumps(body).encode()))
    assert refused.status == 400 and "alerts[5].fingerprint" in refused.body.decode()


def test_the_bearer_scheme_is_case_insensitive_and_the_media_type_exact() -> None:
    hook = intake()
    headers = {"content-type": "application/json; charset=utf-8", "authorization": "bearer s3cret"}
    assert (
        hook.handle(Request("POST", "/webhooks/alertmanager", {}, headers, payload())).status == 200
    )
    for scheme in ("Basic s3cret", "s3cret", "Bearer  s3cret-and-more"):
        headers = {"content-type": "application/json", "authorization": scheme}
        denied = hook.handle(Request("POST", "/webhooks/alertmanager", {}, headers, payload()))
        assert denied.status == 401, scheme
    for media in ("application/x-www-form-urlencoded; x=json", "text/json-ish", "jsonp"):
        assert hook.handle(request(payload(), content_type=media)).status == 415, media
    assert hook.handle(request(payload(), content_type="application/vnd.x+json")).status == 200
    assert len(stored(hook)) == 1  # the first; the +json one is a resend of the same alert


def test_disabled_webhook_is_404() -> None:
    hook = AlertIntake(
        token=None, clock=lambda: 0.0, inbox=AlertInbox(open_ledger("sqlite://", 0.0), time)
    )
    assert hook.handle(request(payload())).status == 404


_SHARED: dict[int, AlertIntake] = {}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bodies_never_crash(body: bytes) -> None:
    hook = _SHARED[0] if _SHARED else _SHARED.setdefault(0, intake())  # one ledger for all
    before = len(stored(hook))
    response = hook.handle(request(body))
    assert response.status in (200, 400, 413)
    if response.status != 200:
        assert len(stored(hook)) == before


def test_a_standby_refuses_alerts_for_a_retry_and_takes_them_once_it_leads() -> None:
    """The Service sends Alertmanager to either replica. A standby used to answer
    200 "accepted" and queue the alert for a remediation cycle it never runs: lost, and
    its resolution too. It answers 503 now (Alertmanager retries 5xx), on a connection
    it closes, so that the retry may reach the leader; it remembers nothing of it."""
    leading = [False]
    hook = intake(is_leader=lambda: leading[0])
    refused = hook.handle(request(payload()))
    assert refused.status == 503 and refused.close
    assert refused.headers["Retry-After"] == "1"
    assert "standby" in json.loads(refused.body)["error"]
    assert stored(hook) == [] and hook.firing() == () and hook.accepted == 0
    # A payload that is wrong is wrong on any replica: a 4xx, which is not retried.
    assert hook.handle(request(b"{")).status == 400
    assert hook.handle(request(payload(), token="nope")).status == 401
    leading[0] = True  # this replica takes the lease; Alertmanager's retry arrives
    taken = hook.handle(request(payload()))
    assert taken.status == 200 and json.loads(taken.body) == {"accepted": 1, "duplicates": 0}
    assert len(stored(hook)) == 1 and len(hook.firing()) == 1
