"""Alertmanager's deliveries to two daemons sharing one ledger, over HTTP, as an operator
sees them in ``/metrics`` and the log.

Two replicas (``build_daemon``, their HTTP servers started) on one SQLite ledger and one
fake API server: a standby (leader election on, the lease never won) and a leader
(election off). The standby answers 503, the leader 200, an HA peer's copy is a
duplicate, and a ledger that fails gives 503. ``/metrics`` used to say nothing of any
of it (the webhook's counts were kept in memory only), and an alert stored was not
logged: nothing showed whether Alertmanager reached Autonomic at all.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.daemon import Daemon, build_daemon
from agent.runtime import Runtime
from agent.settings import load_settings
from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.harness.servers import free_port
from tests.integration.daemon.served import daemon_config

RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"
TOKEN = "am-s3cret"


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    yield server
    server.stop()


def replica(tmp_path: Path, fake: FakeApiServer, *, leader: bool) -> tuple[Daemon, Runtime, str]:
    port = free_port()
    cfg = daemon_config(
        tmp_path,
        port,
        am_token=TOKEN,
        leader_election=f"enabled: {str(not leader).lower()}, namespace: autonomic",
        runbooks=str(RUNBOOKS),
    )
    daemon, runtime = build_daemon(load_settings(cfg, {}), {}, kube_host=fake.url)
    assert runtime.server is not None
    runtime.server.start()
    return daemon, runtime, f"http://127.0.0.1:{port}"


def delivery(status: str = "firing") -> bytes:
    """A version-4 delivery as Alertmanager sends it: a group of two alerts."""
    alerts = [
        {
            "status": status,
            "labels": {"alertname": name, "namespace": "shop", "severity": "warning"},
            "annotations": {},
            "startsAt": "2026-11-23T12:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": fingerprint,
        }
        for name, fingerprint in (("KubeHpaMaxedOut", "4a1"), ("KubeQuotaExceeded", "c41"))
    ]
    return json.dumps(
        {
            "version": "4",
            "groupKey": '{}:{namespace="shop"}',
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "autonomic",
            "groupLabels": {"namespace": "shop"},
            "commonLabels": {"namespace": "shop"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": alerts,
        }
    ).encode()


def post(base: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{base}/webhooks/alertmanager",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def post_as(base: str, body: bytes, content_type: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{base}/webhooks/alertmanager",
        data=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {TOKEN}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def counted(base: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = r'^autonomic_alertmanager_alerts_total\{result="(\w+)"\} (\S+)$'
    return {m[1]: float(m[2]) for m in re.finditer(pattern, text, re.M)}


def webhook_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings logged, but for start-up's about the shipped runbooks (one of them
    fires on an anomaly query this test's configuration does not have)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and not r.getMessage().startswith("runbooks: ")
    ]


def test_metrics_and_the_log_say_what_became_of_alertmanagers_deliveries(
    fake: FakeApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="autonomic.webhooks")
    leader, leader_runtime, leader_url = replica(tmp_path, fake, leader=True)
    _standby, standby_runtime, standby_url = replica(tmp_path, fake, leader=False)
    try:
        status, answer = post(standby_url, delivery())
        assert status == 503 and "standby" in answer["error"]
        assert counted(standby_url) == {"standby": 2.0}

        assert post(leader_url, delivery()) == (200, {"accepted": 2, "duplicates": 0})
        # What is stored and waiting is listed over HTTP, on either replica (one ledger).
        for url in (leader_url, standby_url):
            with urllib.request.urlopen(f"{url}/alerts", timeout=5) as response:
                listed = json.loads(response.read())
            assert [(a["name"], a["state"]) for a in listed["alerts"]] == [
                ("KubeQuotaExceeded", "pending"),
                ("KubeHpaMaxedOut", "pending"),
            ]
        stored = [r.getMessage() for r in caplog.records if "stored" in r.getMessage()]
        assert stored == [
            "Alertmanager webhook: 2 new alert(s) stored for the next remediation cycle "
            "(KubeHpaMaxedOut firing, KubeQuotaExceeded firing), 0 duplicate(s)"
        ]
        # The HA peer's copy of the same group: duplicates, not logged again.
        assert post(leader_url, delivery()) == (200, {"accepted": 0, "duplicates": 2})
        assert len([r for r in caplog.records if "stored" in r.getMessage()]) == 1

        def refuse(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO ALERTS"):
                raise sa.exc.OperationalError(statement, {}, OSError("disk I/O error"))

        engine = leader.ledger.engine  # type: ignore[attr-defined]
        sa.event.listen(engine, "before_cursor_execute", refuse)
        status, answer = post(leader_url, delivery("resolved"))
        sa.event.remove(engine, "before_cursor_execute", refuse)
        assert status == 503 and "retry" in answer["error"]
        assert post(leader_url, delivery("resolved")) == (200, {"accepted": 2, "duplicates": 0})
        assert counted(leader_url) == {"accepted": 4.0, "duplicate": 2.0, "unstored": 2.0}
    finally:
        standby_runtime.stop()
        leader_runtime.stop()


def refusals(base: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = r'^autonomic_alertmanager_refused_total\{reason="(\w+)"\} (\S+)$'
    return {m[1]: float(m[2]) for m in re.finditer(pattern, text, re.M)}


def test_deliveries_refused_with_a_4xx_are_counted_and_said(
    fake: FakeApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Alertmanager does not retry a 4xx: the alerts in such a delivery are lost. A token
    set as basic_auth, a group over maxBodyBytes (measured with Alertmanager 0.25: 1,000
    alerts of 1.3 KB, "unexpected status code 413" in its log at every group_interval)
    or another media type used to leave no trace on Autonomic's side: no log line, no
    count, the server refusing the big body before the webhook saw it."""
    caplog.set_level(logging.INFO, logger="autonomic.webhooks")
    _leader, runtime, url = replica(tmp_path, fake, leader=True)
    try:
        basic = {"Authorization": "Basic YWxlcnRtYW5hZ2VyOmFtLXMzY3JldA=="}
        for _ in range(2):
            request = urllib.request.Request(
                f"{url}/webhooks/alertmanager", data=delivery(), headers=basic
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=5)
            assert refused.value.code == 401

        # A body over maxBodyBytes (1 MiB): refused on its Content-Length.
        port = int(url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.putrequest("POST", "/webhooks/alertmanager")
        for name, value in (
            ("Content-Type", "application/json"),
            ("Authorization", f"Bearer {TOKEN}"),
            ("Content-Length", str(3 << 20)),
        ):
            conn.putheader(name, value)
        conn.endheaders()
        assert conn.getresponse().status == 413
        conn.close()

        status, _ = post_as(url, delivery(), "text/plain")
        assert status == 415
        assert refusals(url) == {"unauthorized": 2.0, "too_large": 1.0, "media_type": 1.0}
        said = webhook_warnings(caplog)
        assert said == [
            "Alertmanager webhook: a delivery refused, 401, missing or wrong bearer token: it "
            "sent an Authorization header of scheme 'Basic', not Bearer. Alertmanager does "
            "not retry a 4xx: the alerts in it are lost until it sends them again, refused "
            "again unless this is changed: give the webhook_configs receiver "
            "http_config.authorization with type Bearer and credentials_file holding the "
            "token alertmanager.token names",
            "Alertmanager webhook: a delivery refused, 413, body of 3145728 bytes is larger "
            "than alertmanager.maxBodyBytes, 1048576 bytes. Alertmanager does not retry a "
            "4xx: the alerts in it are lost until it sends them again, refused again unless "
            "this is changed: "
            "raise alertmanager.maxBodyBytes, or set max_alerts on the webhook_configs "
            "receiver",
            "Alertmanager webhook: a delivery refused, 415, expected application/json, got "
            "text/plain. Alertmanager does not retry a 4xx: the alerts in it are lost until "
            "it sends them again, refused again unless this is changed: Alertmanager sends "
            "application/json: is something else posting here?",
        ]
        assert counted(url) == {}  # no alert of theirs was taken in
    finally:
        runtime.stop()


def test_alerts_alertmanager_left_out_of_a_delivery_are_said(
    fake: FakeApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``truncatedAlerts`` (the receiver's max_alerts) used to be read and ignored."""
    caplog.set_level(logging.INFO, logger="autonomic.webhooks")
    _leader, runtime, url = replica(tmp_path, fake, leader=True)
    try:
        body = json.loads(delivery())
        body["truncatedAlerts"] = 3
        status, answer = post(url, json.dumps(body).encode())
        assert (status, answer) == (200, {"accepted": 2, "duplicates": 0, "truncated": 3})
        assert counted(url) == {"accepted": 2.0, "truncated": 3.0}
        (line,) = webhook_warnings(caplog)
        assert line == (
            'Alertmanager webhook: group {}:{namespace="shop"} came without 3 of its alerts, '
            "left out by Alertmanager (max_alerts on the webhook_configs receiver): no "
            "runbook runs for those until they are in a delivery; raise or remove max_alerts "
            "to send them"
        )
    finally:
        runtime.stop()
