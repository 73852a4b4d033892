"""A new leader handles the alerts its predecessor accepted as soon as it takes the lease.

Two ``autonomic run`` processes share one PostgreSQL ledger and one fake API server
(lease: 3 s, renewed within 2 s, polled every 0.5 s). Replica A leads and accepts an
alert (200); replica B starts as a warm standby; A is killed (SIGKILL: no release, no
cycle) before its next remediation cycle. B used to handle the stored alert only at its
own next remediation cycle, up to 30 s (the remediation period) after it took the lease:
in this set-up about 25 s after A died. It runs a cycle as soon as it leads now.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.harness.servers import free_port, fresh_schema
from tests.integration.daemon.payloads import CRASHLOOP_DELIVERY

RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"
TOKEN = "am-s3cret"
LEASE = "leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 0.5s"

pytestmark = pytest.mark.postgres


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    yield server
    server.stop()


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except OSError:
        return 0, {}


class Replica:
    def __init__(self, tmp_path: Path, fake: FakeApiServer, ledger_url: str, name: str) -> None:
        token = tmp_path / "am-token"
        token.write_text(TOKEN)
        self.port = free_port()
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(
            f"""
mode: propose
prometheus: {{url: "http://127.0.0.1:{free_port()}", timeout: 1s}}
ledger: {{url: "{ledger_url}"}}
leaderElection: {{namespace: autonomic, {LEASE}}}
server: {{host: 127.0.0.1, port: {self.port}}}
runbooks: [{RUNBOOKS}]
alertmanager: {{enabled: true, token: {{file: {token}}}}}
"""
        )
        self.log = (tmp_path / f"{name}.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(cfg), "--kube-host", fake.url],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "POD_NAME": name},
        )
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, why: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while _get(f"{self.base}/readyz")[1].get("why") != why:
            assert self.process.poll() is None, "the replica exited"
            assert time.monotonic() < deadline, f"not {why!r} after {timeout:g} s"
            time.sleep(0.1)

    def post_alert(self) -> tuple[int, bytes]:
        body = CRASHLOOP_DELIVERY
        request = urllib.request.Request(
            f"{self.base}/webhooks/alertmanager",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=3) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def handled_at(engine: sa.Engine) -> float | None:
    with engine.connect() as conn:
        value = conn.execute(sa.text("SELECT handled_at FROM alerts")).scalar()
    return None if value is None else float(value)


def test_a_new_leader_handles_the_dead_leaders_alert_soon_after_taking_the_lease(
    fake: FakeApiServer, tmp_path: Path, postgres_url: str
) -> None:
    url, _schema = fresh_schema(postgres_url)
    a = Replica(tmp_path, fake, url, "autonomic-0")
    b: Replica | None = None
    engine = sa.create_engine(url)
    try:
        a.wait_ready("leader")
        b = Replica(tmp_path, fake, url, "autonomic-1")
        b.wait_ready("standby (warm)")
        status, answer = a.post_alert()
        assert status == 200, answer
        a.process.kill()  # dies before its next remediation cycle: nothing released
        killed = time.time()
        a.process.wait()
        assert handled_at(engine) is None

        led_at = None
        deadline = time.monotonic() + 60
        while (done := handled_at(engine)) is None:
            if led_at is None and _get(f"{b.base}/readyz")[1].get("leader"):
                led_at = time.time()
            assert time.monotonic() < deadline, "the stored alert was never handled"
            time.sleep(0.05)
        led_at = led_at or done
        print(
            f"\ntakeover: lease taken {led_at - killed:.1f} s after the leader died; "
            f"its alert handled {done - killed:.1f} s after ({done - led_at:.1f} s after "
            "the takeover)"
        )
        # The lease expires 3 s after its last renewal; B polls every 0.25 s. Handled at
        # B's first cycle as leader, not at its next 30-s period.
        assert done - killed < 10.0
    finally:
        engine.dispose()
        a.stop()
        if b is not None:
            b.stop()
