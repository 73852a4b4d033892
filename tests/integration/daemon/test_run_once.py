"""`autonomic run --once`, the smoke test, as a real process: 0 when every job ran
against the (fake) API server and Prometheus answered, 1 with a line naming the jobs when
the API cannot be reached, whether leader election is on (the lease cannot be read) or
off, 3 when every job ran but Prometheus could not be read, 4 when the ledger's database
could not be reached, and 2 when its URL cannot work."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.fakekube.seed import seed_node
from tests.harness.servers import PrometheusServer, free_port, openmetrics, prometheus_server

RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    seed_node(server.store, "node-1")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def prometheus(prometheus_binaries: None) -> Iterator[PrometheusServer]:
    with prometheus_server(openmetrics([("up", {"job": "x"}, [(1_700_000_000.0, 1.0)])])) as server:
        yield server


def once(
    tmp_path: Path,
    kube_host: str,
    election: str,
    prometheus: str | None = None,
    extra: str = "",
    ledger: str | None = None,
) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "autonomic.yaml"
    url = prometheus or f"http://127.0.0.1:{free_port()}"  # nothing listens there
    ledger = ledger or f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    config.write_text(
        f"""
mode: propose
prometheus: {{url: "{url}", timeout: 1s}}
ledger: {{url: "{ledger}"}}
leaderElection: {{{election}}}
server: {{host: 127.0.0.1, port: {free_port()}}}
runbooks: [{RUNBOOKS}]
{extra}"""
    )
    argv = ["run", "--config", str(config), "--once", "--kube-host", kube_host]
    return subprocess.run(
        [sys.executable, "-m", "agent", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "POD_NAME": "autonomic-0"},
        check=False,
    )


ELECTION = "namespace: autonomic, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 0.5s"


@pytest.mark.prometheus
def test_once_exits_0_when_every_job_ran(
    fake: FakeApiServer, prometheus: PrometheusServer, tmp_path: Path
) -> None:
    """No job read Prometheus here (no anomaly queries, no opted-in workloads): the
    smoke test asked it once itself, and it answered."""
    done = once(tmp_path, fake.url, ELECTION, prometheus.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "remediation=ok remediation-takeover=ok housekeeping=ok scaling=ok canary=ok "
        "prometheus=ok ledger=ok\n"
    )
    assert "did not run cleanly" not in done.stderr and "Prometheus could not" not in done.stderr


QUERY = 'anomalyQueries: [{name: web-rps, expr: "sum(rate(http_requests_total[1m]))", step: 60s}]'


@pytest.mark.parametrize("extra", ["", QUERY], ids=["probed", "read-by-the-anomaly-loop"])
def test_once_exits_3_when_prometheus_cannot_be_read(
    fake: FakeApiServer, tmp_path: Path, extra: str
) -> None:
    """The operator's wrong `prometheus.url`: the anomaly loop carries on (its query is
    marked degraded) and every job is ok, but the smoke test does not pass: the output
    says prometheus=failed, the last line how many requests failed, why, and where."""
    port = free_port()
    done = once(tmp_path, fake.url, ELECTION, f"http://127.0.0.1:{port}", extra)
    assert done.returncode == 3, done.stderr
    jobs = "remediation=ok remediation-takeover=ok housekeeping=ok " + (
        "anomaly=ok " if extra else ""
    )
    assert done.stdout == jobs + "scaling=ok canary=ok prometheus=failed ledger=ok\n"
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "autonomic: run --once: every job ran, but Prometheus could not be read: 1 of 1 "
        "requests failed (PrometheusDown: 1); the last: cannot connect to Prometheus at "
        f"http://127.0.0.1:{port}; is prometheus.url right, and Prometheus reachable from here?"
    )


# A shorter lease where the test waits it out: --once gives up on the lease after its
# duration and one retry period (1.2 s here, 3.5 s with ELECTION).
SHORT_ELECTION = "namespace: autonomic, leaseDuration: 1s, renewDeadline: 0.6s, retryPeriod: 0.2s"


def test_once_exits_1_when_the_lease_cannot_be_read(tmp_path: Path) -> None:
    done = once(tmp_path, f"http://127.0.0.1:{free_port()}", SHORT_ELECTION)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    summary = done.stderr.strip().splitlines()[-1]
    assert summary.startswith("autonomic: run --once: 3 of 5 jobs did not run cleanly: ")
    assert "scaling (not-leader)" in summary and "within 1.2 s" in summary


def test_once_exits_1_when_the_api_is_down_without_leader_election(tmp_path: Path) -> None:
    done = once(tmp_path, f"http://127.0.0.1:{free_port()}", "enabled: false")
    assert done.returncode == 1
    summary = done.stderr.strip().splitlines()[-1]
    assert summary.startswith("autonomic: run --once: ")
    assert "scaling (transient-error)" in summary and "the errors are in the log above" in summary
    assert "; Prometheus could not be read: 1 of 1 requests failed (PrometheusDown: 1)" in summary


def test_once_exits_4_when_the_ledger_cannot_be_reached(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    """A PostgreSQL ledger whose server is down: no job runs (nothing could be recorded),
    the lease is not sought, Prometheus is still tried, and the last line says why."""
    port = free_port()
    ledger = f"postgresql://autonomic@127.0.0.1:{port}/autonomic"
    done = once(tmp_path, fake.url, ELECTION, ledger=ledger)
    assert done.returncode == 4, done.stderr
    assert done.stdout == (
        "remediation=no-ledger remediation-takeover=no-ledger housekeeping=no-ledger "
        "scaling=no-ledger canary=no-ledger prometheus=failed ledger=failed\n"
    )
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "autonomic: run --once: no job ran: the ledger could not be reached: cannot connect "
        f"to postgresql+psycopg://autonomic@127.0.0.1:{port}/autonomic: connection failed: "
    ), last
    assert "Connection refused" in last
    assert "; is ledger.url right, and the database up and reachable from here?; " in last
    assert "; Prometheus could not be read: 1 of 1 requests failed (PrometheusDown: 1)" in last
    assert fake.store.objects("Lease", "autonomic") == []


@pytest.mark.postgres
def test_once_exits_2_when_the_ledger_url_cannot_work(
    fake: FakeApiServer, tmp_path: Path, postgres_url: str
) -> None:
    ledger = postgres_url.rsplit("/", 1)[0] + "/no_such_db"
    done = once(tmp_path, fake.url, ELECTION, ledger=ledger)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"autonomic: error: cannot open the ledger at {ledger}: "), last
    assert "(3D000: the database does not exist; retrying will not help: " in last
