"""Alertmanager's deliveries out of order, over HTTP: a firing alert that no longer fires
when the remediation cycle takes it in starts no runbook.

Three Alertmanager 0.25 replicas gossiping (measured, docs/deploy.md#alertmanager) sent
one resolved notification, then two firing copies of the same alert (same fingerprint and
``startsAt``) from the peers that had not sent it. Had the first firing delivery not been
stored (Autonomic down, a standby's 503 past Alertmanager's retries), such a late copy
was stored as a new firing alert and the next cycle made a decision for an alert already
resolved; so was one whose resolution arrived before the cycle, or whose ``endsAt`` had
passed, while the firing set (``noOtherAlertFiring``) already left them out.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.server import HttpServer
from tests.fakekube.seed import seed_hpa
from tests.harness.servers import free_port
from tests.integration.remediation.rig import TOKEN, KubeRig, build_rig, rfc3339, seed_web
from tests.integration.remediation.test_hpa_and_job_alerts import maxed_out

NOTIFY = "hpa-maxed-out-notify"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[KubeRig, str]]:
    """A replica whose webhook listens on a real port; an HPA at its ceiling."""
    built = build_rig(tmp_path)
    seed_web(built)
    seed_hpa(built.server.store, "web-autoscaler", target="web", namespace="shop", max_replicas=3)
    server = HttpServer("127.0.0.1", free_port())
    server.route("POST", "/webhooks/alertmanager", built.intake.handle)
    server.start()
    yield built, f"http://127.0.0.1:{server.port}/webhooks/alertmanager"
    server.stop()
    built.close()


def deliver(url: str, alert: dict[str, Any], peer: int = 0) -> Any:
    """POST one alert as Alertmanager replica ``peer`` sends it; its JSON answer."""
    body = {
        "version": "4",
        "groupKey": '{}:{alertname="KubeHpaMaxedOut"}',
        "truncatedAlerts": 0,
        "status": alert["status"],
        "receiver": "autonomic",
        "groupLabels": {"alertname": "KubeHpaMaxedOut"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": f"http://alertmanager-{peer}:9093",
        "alerts": [alert],
    }
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def firing(rig: KubeRig, **extra: Any) -> dict[str, Any]:
    return {**maxed_out(rig, "web-autoscaler"), "endsAt": "0001-01-01T00:00:00Z", **extra}


def resolved(alert: dict[str, Any], at: float) -> dict[str, Any]:
    return {**alert, "status": "resolved", "endsAt": rfc3339(at)}


def cycle(rig: KubeRig) -> list[tuple[str | None, str, str]]:
    rig.clock.advance(30)
    return [(h.runbook, h.outcome, h.reason_code) for h in rig.cycle()]


def test_a_firing_copy_after_its_resolution_starts_nothing(
    rig: tuple[KubeRig, str], caplog: pytest.LogCaptureFixture
) -> None:
    r, url = rig
    alert = firing(r)
    assert deliver(url, resolved(alert, r.clock.now() - 5), peer=1)["accepted"] == 1
    assert deliver(url, alert, peer=0) == {"accepted": 1, "duplicates": 0}  # a late copy
    assert deliver(url, alert, peer=2) == {"accepted": 0, "duplicates": 1}
    with caplog.at_level(logging.INFO, logger="autonomic.remediation"):
        outcomes = cycle(r)
    assert (None, "skipped", "AlertNotFiring") in outcomes
    assert all(runbook != NOTIFY for runbook, _, _ in outcomes)
    assert r.decisions_of(NOTIFY) == [] and r.ledger.pending_alerts() == []
    (line,) = [m for m in caplog.messages if "no longer fires" in m]
    assert "alert KubeHpaMaxedOut on HorizontalPodAutoscaler/shop/web-autoscaler" in line
    assert "fingerprint 4a1" in line and "its resolution has been delivered" in line
    assert cycle(r) == []  # handled: not taken in again


def test_an_alert_resolved_before_the_cycle_took_it_in_starts_nothing(
    rig: tuple[KubeRig, str],
) -> None:
    r, url = rig
    alert = firing(r)
    deliver(url, alert)
    deliver(url, resolved(alert, r.clock.now()))
    assert (None, "skipped", "AlertNotFiring") in cycle(r)
    assert r.decisions_of(NOTIFY) == []


def test_a_firing_alert_whose_ends_at_has_passed_starts_nothing(
    rig: tuple[KubeRig, str], caplog: pytest.LogCaptureFixture
) -> None:
    r, url = rig
    deliver(url, firing(r, endsAt=rfc3339(r.clock.now() - 60)))
    with caplog.at_level(logging.INFO, logger="autonomic.remediation"):
        assert (None, "skipped", "AlertNotFiring") in cycle(r)
    assert r.decisions_of(NOTIFY) == []
    assert any("its endsAt, " in m and "has passed" in m for m in caplog.messages)


def test_an_alert_still_firing_is_decided_and_its_next_firing_after_a_resolution_too(
    rig: tuple[KubeRig, str],
) -> None:
    """The control: what still fires is handled, late copies or not."""
    r, url = rig
    alert = firing(r)
    deliver(url, alert, peer=0)
    deliver(url, alert, peer=1)
    assert (NOTIFY, "decided", "NeedsApproval") in cycle(r)
    deliver(url, resolved(alert, r.clock.now()))
    deliver(url, alert, peer=2)  # the peer's late copy: stored before, a duplicate
    again = firing(r, startsAt=rfc3339(r.clock.now()), fingerprint="4a1")
    r.clock.advance(600)
    assert deliver(url, again) == {"accepted": 1, "duplicates": 0}
    outcomes = cycle(r)
    assert (None, "skipped", "AlertNotFiring") not in outcomes
    assert any(runbook == NOTIFY for runbook, _, _ in outcomes)
