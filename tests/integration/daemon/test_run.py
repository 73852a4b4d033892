"""`autonomic run` as a real process against the fake Kubernetes API server."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.fakekube.seed import seed_deployment, seed_hpa, seed_node
from tests.harness.gates import SwitchGate
from tests.harness.servers import free_port
from tests.integration.daemon.payloads import CRASHLOOP_DELIVERY

RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    seed_node(server.store, "node-1")
    seed_deployment(server.store, "web", namespace="shop", labels={"autonomic.dev/enabled": "true"})
    yield server
    server.stop()


def config(tmp_path: Path, port: int, **extra: str) -> Path:
    path = tmp_path / "autonomic.yaml"
    path.write_text(
        f"""
mode: propose
prometheus: {{url: "http://127.0.0.1:{free_port()}", timeout: 1s}}
ledger: {{url: "sqlite:///{tmp_path / "ledger.sqlite"}"}}
leaderElection: {{namespace: autonomic, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 0.5s}}
server: {{host: 127.0.0.1, port: {port}}}
runbooks: [{RUNBOOKS}]
"""
        + "".join(f"{k}: {v}\n" for k, v in extra.items())
    )
    return path


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except OSError:
        return 0, {}


def start(cfg: Path, fake: FakeApiServer, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent",
            "run",
            "--config",
            str(cfg),
            "--kube-host",
            fake.url,
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "POD_NAME": "autonomic-0"},
    )


def test_run_serves_probes_leads_and_stops_on_sigterm(fake: FakeApiServer, tmp_path: Path) -> None:
    port = free_port()
    queries = '[{name: web-rps, expr: "sum(rate(http_requests_total[1m]))", step: 15s}]'
    process = start(config(tmp_path, port, anomalyQueries=queries), fake)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        ready: dict[str, object] = {}
        while time.monotonic() < deadline:
            status, ready = _get(f"{base}/readyz")
            if status == 200 and ready.get("leader"):
                break
            time.sleep(0.2)
        assert ready.get("leader") is True, ready
        with urllib.request.urlopen(f"{base}/metrics", timeout=3) as response:
            text = response.read().decode()
        assert "autonomic_leader 1.0" in text
        resident = re.search(r"^process_resident_memory_bytes (\S+)$", text, re.M)
        assert resident is not None and float(resident.group(1)) > 10e6  # the daemon's own
        assert re.search(r"^autonomic_anomaly_contexts \S+$", text, re.M)
        # Prometheus is down here: the anomaly query scores nothing, and says so
        while 'autonomic_anomaly_query_scoring{query="web-rps"}' not in text:
            assert time.monotonic() < deadline + 15, "the anomaly query's health never showed"
            time.sleep(0.2)
            with urllib.request.urlopen(f"{base}/metrics", timeout=3) as response:
                text = response.read().decode()
        assert 'autonomic_anomaly_query_scoring{query="web-rps"} 0.0' in text
        # ...and the metrics source's own metrics say why, though no job failed
        failed = re.search(
            r'^autonomic_prometheus_request_failures_total\{reason="PrometheusDown"\} (\S+)$',
            text,
            re.M,
        )
        assert failed is not None and float(failed.group(1)) >= 1, text
        assert "autonomic_prometheus_last_success_timestamp_seconds 0.0" in text
        assert 'autonomic_errors_total{kind="PrometheusDown"}' not in text
        assert _get(f"{base}/approvals")[0] == 200
        # the parameters reach the endpoint: approvals list's --limit/--since, refused alike
        assert _get(f"{base}/approvals?limit=5&since=all")[0] == 200
        assert _get(f"{base}/approvals?limit=0")[0] == 400
        assert _get(f"{base}/approvals?since=soon")[0] == 400
        (lease,) = fake.store.objects("Lease", "autonomic")
        assert lease["spec"]["holderIdentity"] == "autonomic-0"
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err[-2000:]
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert lines[-1]["message"].startswith("stopped in ")  # the last line: then it exits
    failed = [line["message"] for line in lines if "anomaly query web-rps" in line["message"]]
    assert sum("nothing scored: the read failed" in message for message in failed) == 1
    (lease,) = fake.store.objects("Lease", "autonomic")
    assert not lease["spec"].get("holderIdentity")  # released on shutdown


def test_sigterm_ends_the_process_within_its_budget_though_a_job_is_stuck(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    """The anomaly job is stuck reading a Prometheus that accepts the connection and
    never answers. SIGTERM abandons it once its share of the shutdown budget is spent,
    and the process ends right after "stopped": it used to wait for that job after
    saying so (the scheduler's worker threads are joined at the interpreter's exit)
    until the read timed out, or Kubernetes' SIGKILL came first."""
    budget = 3.0
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens; never answers
        accepted: list[socket.socket] = []
        threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
        port = free_port()
        cfg = tmp_path / "autonomic.yaml"
        cfg.write_text(
            f"""
mode: propose
prometheus: {{url: "http://127.0.0.1:{silent.getsockname()[1]}", timeout: 120s}}
ledger: {{url: "sqlite:///{tmp_path / "ledger.sqlite"}"}}
leaderElection: {{namespace: autonomic, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 0.5s}}
server: {{host: 127.0.0.1, port: {port}}}
runbooks: []
scaling: {{enabled: false}}
canary: {{enabled: false}}
anomalyQueries: [{{name: web-rps, expr: "sum(rate(http_requests_total[1m]))", step: 15s}}]
"""
        )
        process = start(cfg, fake, "--shutdown-budget", str(budget))
        try:
            deadline = time.monotonic() + 30
            while not accepted:  # the anomaly job's first read is under way
                assert time.monotonic() < deadline, "the anomaly job never read Prometheus"
                assert process.poll() is None, process.communicate()[1][-2000:]
                time.sleep(0.05)
            time.sleep(0.5)
            # SIGUSR1 dumps every thread's stack and changes nothing: the stuck read
            # shows where it is stuck, and the daemon keeps running.
            process.send_signal(signal.SIGUSR1)
            time.sleep(0.5)
            assert process.poll() is None
        finally:
            began = time.monotonic()
            process.send_signal(signal.SIGTERM)
            _out, err = process.communicate(timeout=30)
            took = time.monotonic() - began
            for conn in accepted:
                conn.close()
    assert process.returncode == 0, err[-2000:]
    assert took < budget + 1.5, err[-2000:]
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    assert any(
        m.startswith("shutdown: a job was still running") and "abandoning anomaly" in m
        for m in messages
    ), messages[-10:]
    assert messages[-1].startswith("stopped in ")
    (lease,) = fake.store.objects("Lease", "autonomic")
    assert not lease["spec"].get("holderIdentity")  # released, the job abandoned
    # The dump came before the shutdown: faulthandler's "Thread 0x..." blocks, one of
    # them in the Prometheus reader's socket read.
    dump = err[: err.index("received SIGTERM")]
    assert dump.count("Thread 0x") >= 2, dump[-2000:]
    stuck = [block for block in dump.split("Thread 0x") if "agent/adapters/prometheus" in block]
    assert stuck and "socket.py" in stuck[0], dump[-3000:]


def test_invalid_runbook_stops_start_up_and_names_it(fake: FakeApiServer, tmp_path: Path) -> None:
    bad = tmp_path / "runbooks"
    bad.mkdir()
    (bad / "broken.yaml").write_text(
        "apiVersion: autonomic.dev/v1alpha1\nkind: Runbook\n"
        "metadata: {name: x}\nspec:\n  bogus: 1\n"
    )
    cfg = config(tmp_path, free_port())
    cfg.write_text(cfg.read_text().replace(str(RUNBOOKS), str(bad)))
    done = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(cfg), "--kube-host", fake.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "broken.yaml" in done.stderr and "refusing to start" in done.stderr


def test_global_freeze_windows_reach_the_remediation_engine(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    """`safety.freezeWindows` is written as a runbook's freezeWindow is (YAML dates and
    all) and becomes the engine's global freeze: no runbook acts inside it."""
    from agent.daemon import build_daemon
    from agent.settings import load_settings
    from remediation.windows import contains

    cfg = config(
        tmp_path,
        free_port(),
        safety=(
            "{freezeWindows: [{name: year-end freeze, timezone: Europe/Paris,"
            " dates: [{start: 2026-12-20, end: 2027-01-04}]}]}"
        ),
    )
    settings = load_settings(cfg, {})
    daemon, runtime = build_daemon(settings, {}, kube_host=fake.url)
    assert runtime.server is not None
    runtime.server.start()  # so that runtime.stop() can shut it down
    try:
        (window,) = daemon.engine.limits.freeze_windows
        assert window.name == "year-end freeze"
        christmas = 1_798_200_000.0  # 2026-12-25 12:00 UTC
        assert contains(window, christmas) and not contains(window, christmas + 30 * 86400)
    finally:
        runtime.stop()  # stops the cluster's watches too: no thread outlives the test


def test_a_new_leader_settles_the_old_leaders_work_before_any_job_acts(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    """Whichever job runs first in a leadership term (scaling's every 60 s may come
    before remediation's every 30 s) recovers what was left in flight before acting, once
    per term; a recovery that fails is tried again by the next job, which does not act."""
    from agent.daemon import build_daemon
    from agent.errors import TransientError
    from agent.settings import load_settings

    settings = load_settings(config(tmp_path, free_port()), {})
    daemon, runtime = build_daemon(settings, {}, kube_host=fake.url)
    assert runtime.server is not None
    runtime.server.start()
    try:
        calls: list[str] = []
        ledger_down = [True]

        def recover() -> dict[str, int]:
            if ledger_down[0]:
                raise TransientError("ledger unreachable", reason="Ledger")
            calls.append("recover")
            return {}

        gate = SwitchGate()
        daemon.gate = gate
        daemon.engine.recover = recover  # type: ignore[method-assign]
        daemon.engine.cycle = lambda: calls.append("remediation")  # type: ignore[method-assign]
        assert daemon.scaling is not None and daemon.canary is not None
        daemon.scaling.cycle = lambda: calls.append("scaling")  # type: ignore[method-assign]
        daemon.canary.cycle = lambda: calls.append("canary")  # type: ignore[method-assign]
        jobs = {job.name: job for job in daemon.jobs()}

        jobs["scaling"].fn()  # a standby: nothing to recover, nothing done
        jobs["remediation"].fn()
        assert calls == []

        gate.leader = True
        with pytest.raises(TransientError):  # the ledger is down: no recovery, no action
            jobs["scaling"].fn()
        assert calls == []
        ledger_down[0] = False
        jobs["scaling"].fn()
        jobs["canary"].fn()
        jobs["remediation"].fn()
        assert calls == ["recover", "scaling", "canary", "remediation"]

        gate.leader = False  # lost the lease; the remediation job runs on every replica
        jobs["remediation"].fn()
        gate.leader = True  # leads again: the first job recovers again
        jobs["canary"].fn()
        assert calls[4:] == ["recover", "canary"]

        jobs["scaling"].fn()  # the same term: no second recovery
        gate.lose_and_regain()  # lost and won back between two jobs: another may have acted
        jobs["remediation"].fn()
        assert calls[6:] == ["scaling", "recover", "remediation"]
    finally:
        runtime.stop()


def test_a_replica_that_begins_to_lead_runs_the_remediation_cycle_at_once(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    """The remediation job runs every 30 s: a new leader used to handle the alerts its
    predecessor stored only then. The takeover job (every lease poll, 0.5 s here) runs the
    cycle once per leadership term, once the watch caches are filled, never on a standby
    and never beside a cycle already running."""
    from agent.daemon import build_daemon
    from agent.settings import load_settings

    settings = load_settings(config(tmp_path, free_port()), {})
    daemon, runtime = build_daemon(settings, {}, kube_host=fake.url)
    try:
        calls: list[str] = []
        waiting: list[str | None] = ["waiting for the Kubernetes API server to list Pod"]
        release, running = threading.Event(), threading.Event()

        def cycle() -> None:
            calls.append("cycle")
            running.set()
            release.wait(5)

        gate = SwitchGate()
        daemon.gate = gate
        daemon.engine.recover = lambda: calls.append("recover") or {}  # type: ignore[method-assign,func-returns-value]
        daemon.engine.cycle = cycle  # type: ignore[method-assign,assignment]
        daemon.cluster_waiting = lambda: waiting[0]
        release.set()
        jobs = {job.name: job for job in daemon.jobs()}
        takeover = jobs["remediation-takeover"]
        assert (takeover.period, takeover.leader_only, takeover.jitter) == (0.5, False, 0.0)

        takeover.fn()  # a standby never acts
        assert calls == []
        # ...and shows no stale count of the stored alerts from when it last led
        daemon.metrics.alerts_pending.set(3)
        daemon.metrics.alerts_pending_age.set(40)
        jobs["remediation"].fn()
        assert calls == []
        pending = daemon.metrics.registry.get_sample_value("autonomic_alerts_pending")
        oldest = "autonomic_alerts_pending_oldest_age_seconds"
        assert (pending, daemon.metrics.registry.get_sample_value(oldest)) == (0.0, 0.0)
        gate.leader = True
        takeover.fn()  # leads, but its caches are not filled yet: waits
        assert calls == ["recover"]
        waiting[0] = None
        takeover.fn()
        takeover.fn()  # once per term
        assert calls == ["recover", "cycle"]
        jobs["remediation"].fn()  # the periodic cycle goes on as before
        assert calls == ["recover", "cycle", "cycle"]

        gate.lose_and_regain()  # a new term: at once again
        takeover.fn()
        assert calls[3:] == ["recover", "cycle"]

        # A cycle running when a new term begins: the takeover does not start another.
        release.clear()
        running.clear()
        periodic = threading.Thread(target=jobs["remediation"].fn)
        periodic.start()
        assert running.wait(5)
        gate.lose_and_regain()
        takeover.fn()
        release.set()
        periodic.join(5)
        assert calls[5:] == ["cycle", "recover"]
        takeover.fn()  # the next look runs the new term's cycle
        assert calls[7:] == ["cycle"]
    finally:
        runtime.stop()


def test_a_replica_that_stops_leading_drops_the_leader_only_series(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    """What a replica set while it led (a runbook's breaker open, a workload's floor and
    hold, a canary's verdict, a type's thresholds) used to stay on its /metrics once it
    was a standby, with the values of its last cycle: a breaker the new leader closed
    still 1 there (``AutonomicRunbookBreakerOpen`` takes the max over replicas), a
    deleted workload's floor for ever. A standby's remediation job removes them; when it
    leads again its loops publish afresh (a workload whose incident closed meanwhile is
    simply not published, not a KeyError)."""
    from agent.daemon import build_daemon
    from agent.settings import load_settings

    settings = load_settings(config(tmp_path, free_port()), {})
    daemon, runtime = build_daemon(settings, {}, kube_host=fake.url)
    try:
        gate = SwitchGate(leader=True)
        daemon.gate = gate
        m = daemon.metrics
        m.breaker_open.labels(runbook="crashloop-restart").set(1)
        m.scaling_floor.labels(workload="Deployment/shop/web").set(4)
        m.scaling_held.labels(workload="Deployment/shop/web", reason="LoadGap").set(1)
        m.scaling_forecast_mase.labels(workload="Deployment/shop/web").set(0.8)
        m.scaling_forecast_coverage.labels(workload="Deployment/shop/web", level="95").set(0.9)
        m.anomaly_query_scoring.labels("error-rate").set(0)
        m.anomaly_series_warming.labels("error-rate").set(3)
        m.anomaly_series_below_volume.labels("error-rate").set(1)
        m.anomaly_series.set(12)
        m.canary_verdict.labels("shop/web-canary", "rollback").set(1)
        m.canary_metric_status.labels("shop/web-canary", "errors", "regressed", "false").set(1)
        m.automation_rate.labels(decision_type="crashloop-restart/Pod").set(0.5)
        m.threshold.labels(decision_type="crashloop-restart/Pod", band="auto").set(0.9)
        m.anomaly_open_series.labels(workload="Deployment/shop/web").set(2)
        daemon.anomaly._published = {"Deployment/shop/web"}
        # the leader-only gauges with labels (docs/deploy.md says which)
        leader_only = {
            "autonomic_runbook_breaker_open",
            "autonomic_scaling_recommended_replicas",
            "autonomic_scaling_held",
            "autonomic_scaling_forecast_mase",
            "autonomic_scaling_forecast_coverage",
            "autonomic_anomaly_query_scoring",
            "autonomic_anomaly_series_below_volume",
            "autonomic_anomaly_series_warming",
            "autonomic_anomaly_open_series",
            "autonomic_canary_verdict",
            "autonomic_canary_metric_status",
            "autonomic_automation_rate",
            "autonomic_threshold",
        }

        def exported() -> set[str]:
            return {
                sample.name
                for family in m.registry.collect()
                for sample in family.samples
                if family.name in leader_only
            }

        assert exported() == leader_only  # as it led
        gate.leader = False
        jobs = {job.name: job for job in daemon.jobs()}
        jobs["remediation"].fn()
        assert exported() == set()
        assert m.registry.get_sample_value("autonomic_anomaly_series") == 0.0

        gate.leader = True  # leads again; the incident closed meanwhile
        daemon.anomaly._publish_open(daemon.clock.now())
        assert daemon.anomaly._published == set()
    finally:
        runtime.stop()


def test_a_standby_sends_alertmanager_elsewhere_and_takes_alerts_once_it_leads(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    """The Service sends Alertmanager to either replica. A standby used to answer 200
    "accepted" to an alert and queue it for a remediation cycle it never runs. It answers
    503 and closes the connection (Alertmanager retries 5xx, and the retry may reach the
    leader); once it holds the lease, it takes the alert in."""
    from datetime import UTC, datetime

    def micro_time() -> str:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    fake.store.put(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "autonomic-leader", "namespace": "autonomic"},
            "spec": {
                "holderIdentity": "autonomic-1",  # the other replica leads
                "leaseDurationSeconds": 3,
                "acquireTime": micro_time(),
                "renewTime": micro_time(),
                "leaseTransitions": 0,
            },
        }
    )
    token = tmp_path / "am-token"
    token.write_text("am-s3cret")
    port = free_port()
    cfg = config(tmp_path, port, alertmanager=f"{{enabled: true, token: {{file: {token}}}}}")
    body = CRASHLOOP_DELIVERY

    def post_alert() -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/webhooks/alertmanager",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": "Bearer am-s3cret"},
        )
        try:
            with urllib.request.urlopen(request, timeout=3) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    stop = threading.Event()

    def keep_renewing() -> None:  # the other replica, alive until told to stop
        while not stop.wait(0.5):
            fake.store.modify(
                "Lease",
                "autonomic",
                "autonomic-leader",
                lambda o: o["spec"].update(renewTime=micro_time()),
            )

    renewer = threading.Thread(target=keep_renewing, daemon=True)
    renewer.start()
    process = start(cfg, fake)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while _get(f"{base}/readyz") != (
            200,
            {"ready": True, "why": "standby (warm)", "leader": False},
        ):
            assert time.monotonic() < deadline, "never became a ready standby"
            time.sleep(0.2)
        status, headers, answer = post_alert()
        assert status == 503, answer
        assert headers.get("Connection") == "close" and headers.get("Retry-After") == "1"
        assert b"standby" in answer
        stop.set()  # the other replica is gone: this one takes the lease
        renewer.join()
        while not _get(f"{base}/readyz")[1].get("leader"):
            assert time.monotonic() < deadline + 15, "never took the lease"
            time.sleep(0.2)
        status, _headers, answer = post_alert()  # Alertmanager's retry
        assert status == 200 and json.loads(answer) == {"accepted": 1, "duplicates": 0}
    finally:
        stop.set()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_scaling_shows_each_held_workload_with_its_reason(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    """``status.held`` was the loop's memory only: the docs named it, and nothing showed
    it. ``GET /scaling`` (leader) and ``autonomic_scaling_held`` do. Prometheus is down
    here, so the opted-in workload is held, reason ``ReadFailed``."""
    from agent.daemon import build_daemon
    from agent.settings import load_settings

    def predictive(obj: dict[str, object]) -> None:
        meta = obj["metadata"]
        assert isinstance(meta, dict)
        meta["annotations"] = {
            "autonomic.dev/predictive": "true",
            "autonomic.dev/capacity-per-pod": "20",
        }

    fake.store.modify("Deployment", "shop", "web", predictive)
    settings = load_settings(config(tmp_path, free_port()), {})
    daemon, runtime = build_daemon(settings, {}, kube_host=fake.url)
    assert runtime.server is not None
    runtime.server.start()
    base = f"http://127.0.0.1:{runtime.server.port}"
    try:
        gate = SwitchGate()
        daemon.gate = gate
        jobs = {job.name: job for job in daemon.jobs()}
        status, body = _get(f"{base}/scaling")
        assert status == 200 and body["leader"] is False and "standby" in str(body["note"])
        gate.leader = True
        jobs["scaling"].fn()
        status, body = _get(f"{base}/scaling")
        assert status == 200 and body["leader"] is True
        held = body["held"]
        assert isinstance(held, dict)
        web = held["Deployment/shop/web"]
        assert web["reason"] == "ReadFailed" and "Prometheus" in web["why"], web
        with urllib.request.urlopen(f"{base}/metrics", timeout=3) as response:
            text = response.read().decode()
        assert (
            'autonomic_scaling_held{reason="ReadFailed",workload="Deployment/shop/web"} 1.0' in text
        )
    finally:
        runtime.stop()


def test_scaling_shows_what_each_of_the_hpas_metrics_proposes(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    """``GET /scaling`` (leader) says, for a workload the loop scales, what each of its
    HPA's metrics proposes from the HPA's last reported status and which one decides
    (kubernetes/kubernetes#109538): cpu at 91 % of 70 % on 5 replicas proposes 7, 180
    requests a pod against 100 propose 9 and decide, a queue with no reading is said so.
    Shown even while the workload is held (Prometheus is down here)."""
    from agent.daemon import build_daemon
    from agent.settings import load_settings

    def predictive(obj: dict[str, object]) -> None:
        meta = obj["metadata"]
        assert isinstance(meta, dict)
        meta["annotations"] = {"autonomic.dev/predictive": "true"}
        # At the 5 replicas the HPA reports, all up and ready: the pod-read metrics
        # scale the ready pods outside their band.
        spec, status = obj["spec"], obj["status"]
        assert isinstance(spec, dict) and isinstance(status, dict)
        spec["replicas"] = 5
        status.update(replicas=5, readyReplicas=5, updatedReplicas=5, availableReplicas=5)

    fake.store.modify("Deployment", "shop", "web", predictive)
    hpa = seed_hpa(fake.store, "web", target="web", namespace="shop", min_replicas=2)

    def metrics(obj: dict[str, Any]) -> None:
        obj["spec"]["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70},
                },
            },
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "http_requests"},
                    "target": {"type": "AverageValue", "averageValue": "100"},
                },
            },
            {
                "type": "External",
                "external": {
                    "metric": {"name": "queue"},
                    "target": {"type": "Value", "value": "1k"},
                },
            },
        ]
        obj["status"] = {
            "currentReplicas": 5,
            "desiredReplicas": 9,
            "currentMetrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": 91}},
                },
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "http_requests"},
                        "current": {"averageValue": "180"},
                    },
                },
            ],
        }

    fake.store.modify("HorizontalPodAutoscaler", "shop", hpa["metadata"]["name"], metrics)
    settings = load_settings(config(tmp_path, free_port()), {})
    daemon, runtime = build_daemon(settings, {}, kube_host=fake.url)
    assert runtime.server is not None
    runtime.server.start()
    base = f"http://127.0.0.1:{runtime.server.port}"
    try:
        gate = SwitchGate()
        daemon.gate = gate
        gate.leader = True
        jobs = {job.name: job for job in daemon.jobs()}
        jobs["scaling"].fn()
        status, body = _get(f"{base}/scaling")
        assert status == 200 and body["leader"] is True
        shown = cast(dict[str, Any], body["hpaMetrics"])["Deployment/shop/web"]
        assert shown["hpa"] == "HorizontalPodAutoscaler/shop/web"
        assert (shown["currentReplicas"], shown["statusReplicas"], shown["readyReplicas"]) == (
            5,
            5,
            5,
        )
        assert [(m["name"], m["current"], m["proposes"]) for m in shown["metrics"]] == [
            ("cpu", "91%", 7),
            ("http_requests", "180", 9),
            ("queue", None, None),
        ]
        assert shown["decides"] == "http_requests" and shown["proposes"] == 9
        assert "queue has no reading" in shown["summary"]
    finally:
        runtime.stop()


def test_housekeeping_prunes_handled_alerts_after_30_days_not_400(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    from agent.daemon import build_daemon
    from agent.ledger import AlertDelivery
    from agent.settings import load_settings

    daemon, runtime = build_daemon(
        load_settings(config(tmp_path, free_port()), {}), {}, kube_host=fake.url
    )
    try:
        now = time.time()
        for fingerprint, age_days in (("month-old", 31), ("recent", 29)):
            alert = AlertDelivery(fingerprint, now - age_days * 86400, "firing", "A", {}, {})
            daemon.ledger.record_alerts([alert], now - age_days * 86400)
        daemon.ledger.mark_alerts_handled([a.id for a in daemon.ledger.pending_alerts()], now)
        daemon.housekeeping()
        kept = daemon.ledger.firing_alerts(now, delivered_since=0)
        assert [a.fingerprint for a in kept] == ["recent"]
    finally:
        runtime.stop()


def test_housekeeping_prunes_guards_their_readers_no_longer_look_at(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    """A node's uncordon seen goes once no action on the node is inside the guards'
    window (the longest the runbooks loaded ask for), a learned capacity once older than
    the scaling loop reads back (7 days), a hold for replicas set by hand a day after it
    was written; what is still read stays. All were kept for good before."""
    from agent.daemon import build_daemon
    from agent.settings import load_settings

    daemon, runtime = build_daemon(
        load_settings(config(tmp_path, free_port()), {}), {}, kube_host=fake.url
    )
    try:
        now, day = time.time(), 86400.0
        ledger = daemon.ledger
        window = daemon.engine.actions_kept()
        assert window > 2 * day  # a runbook of ./runbooks keeps its actions longer
        for node, age in (("old", window + 3600), ("recent", window - 3600)):
            ledger.log_action("cordon-node", f"Node/{node}", now - age)
            seen = {"intent": 1, "cordoned_at": now - age, "at": now - age}
            assert ledger.put_guard(f"uncordoned/{node}", seen, 0, now - age)
        for key, age in (
            ("scaling/capacity/Deployment/shop/old", 8 * day),
            ("scaling/capacity/Deployment/shop/recent", 6 * day),
            ("scaling/taken-over/Deployment/shop/old", 2 * day),
            ("scaling/taken-over/Deployment/shop/recent", 3600.0),
        ):
            assert ledger.put_guard(key, {"saved_at": now - age}, 0, now - age)
        daemon.housekeeping()
        assert ledger.guard_keys("uncordoned/") == ["uncordoned/recent"]
        assert ledger.guard_keys("scaling/") == [
            "scaling/capacity/Deployment/shop/recent",
            "scaling/taken-over/Deployment/shop/recent",
        ]
    finally:
        runtime.stop()


def test_housekeeping_keeps_history_for_ledger_retention_days(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    """``ledger.retentionDays`` (docs/configuration.md) is what housekeeping prunes by."""
    from agent.daemon import build_daemon
    from agent.settings import load_settings

    settings = load_settings(
        config(tmp_path, free_port()), {"AUTONOMIC__LEDGER__RETENTION_DAYS": "10"}
    )
    assert settings.ledger.retention_days == 10
    daemon, runtime = build_daemon(settings, {}, kube_host=fake.url)
    try:
        now = time.time()
        for age_days in (11, 9):
            daemon.ledger.log_action(
                "restart", f"Deployment/shop/web-{age_days}", now - age_days * 86400
            )
        daemon.housekeeping()
        assert daemon.ledger.last_action_at("Deployment/shop/web-11") is None
        assert daemon.ledger.last_action_at("Deployment/shop/web-9") is not None
    finally:
        runtime.stop()
