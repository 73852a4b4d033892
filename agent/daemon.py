"""The composition root: settings in, a running daemon out.

``build_daemon`` wires the real adapters (Prometheus, Kubernetes, Slack or the
ledger-only channel, the ledger) to the loops and returns a ``Runtime``. Nothing reads
the environment or the clock except through what is passed in here.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.clock import Clock, SystemClock
from agent.decisions import DecisionService
from agent.errors import ConfigError, TransientError
from agent.executor import Executor
from agent.ledger import Ledger, open_ledger
from agent.loops.anomaly import AnomalyLoop
from agent.loops.canary import CanaryLoop
from agent.loops.scaling import ScalingLoop
from agent.observability import Metrics
from agent.remediation_engine import RemediationEngine
from agent.runtime import AlwaysLeader, Job, LeaderGate, Runtime
from agent.server import HttpServer, Request, Response, json_response
from agent.settings import Settings, resolve_secret
from agent.webhooks import AlertIntake
from remediation.guards import GlobalLimits
from remediation.loading import RunbookLoadError, load_paths
from remediation.schema import Runbook

__all__ = ["Daemon", "ElectionGate", "build_daemon", "load_runbooks"]

log = logging.getLogger("autonomic.daemon")


def load_runbooks(settings: Settings) -> list[Runbook]:
    """All configured runbooks, or ``ConfigError`` naming every bad file, line and field."""
    try:
        return list(load_paths(list(settings.runbooks)))
    except RunbookLoadError as exc:
        raise ConfigError(f"refusing to start: invalid runbooks:\n{exc}") from None


class ElectionGate:
    """Runs a ``LeaderElector`` on a thread of its own."""

    def __init__(self, elector: Any) -> None:
        self.elector = elector
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def is_leader(self) -> bool:
        return bool(self.elector.is_leader())

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.elector.run, args=(self._stop,), name="autonomic-lease", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


@dataclass
class Daemon:
    """The loops and what they share; ``jobs()`` is what the runtime schedules."""

    settings: Settings
    clock: Clock
    ledger: Ledger
    metrics: Metrics
    decisions: DecisionService
    engine: RemediationEngine
    anomaly: AnomalyLoop
    gate: LeaderGate
    alerts: AlertIntake
    scaling: ScalingLoop | None = None
    canary: CanaryLoop | None = None
    extra_jobs: list[Job] = field(default_factory=list)
    remediation_period: float = 30.0
    _was_leader: bool = False

    def remediation_cycle(self) -> None:
        leader = self.gate.is_leader()
        if leader and not self._was_leader:
            counts = self.engine.recover()
            log.info("became leader; recovered in-flight work: %s", counts)
        self._was_leader = leader
        if leader:
            self.engine.cycle()

    def anomaly_cycle(self) -> None:
        self.anomaly.cycle()
        self.metrics.anomaly_series.set(self.anomaly.status.series)
        self.metrics.anomaly_contexts.set(self.anomaly.status.contexts)

    def housekeeping(self) -> None:
        now = self.clock.now()
        pruned = self.ledger.prune(now - self.settings.ledger.retention_days * 86400)
        recent = self.ledger.decisions(since=now - 7 * 86400, limit=20_000)
        types = {d.decision_type for d in recent if d.kind != "anomaly"}
        for decision_type in sorted(types):
            self.decisions.recalibrate(decision_type)
        self.decisions.publish_gauges(recent)
        log.info("housekeeping: pruned %s; recalibrated %d decision types", pruned, len(types))

    def jobs(self) -> list[Job]:
        jobs = [
            Job("remediation", self.remediation_period, self.remediation_cycle, leader_only=False),
            Job("housekeeping", 3600.0, self.housekeeping),
        ]
        if self.settings.anomaly_queries:
            period = min(q.step for q in self.settings.anomaly_queries)
            jobs.append(Job("anomaly", max(period, 15.0), self.anomaly_cycle))
        if self.scaling is not None:
            jobs.append(Job("scaling", self.settings.scaling.period, self.scaling.cycle))
        if self.canary is not None:
            jobs.append(Job("canary", self.settings.canary.period, self.canary.cycle))
        return jobs + self.extra_jobs

    def ready(self) -> tuple[bool, str]:
        try:
            self.ledger.schema_version()
        except TransientError as exc:
            return False, f"ledger unreachable: {exc}"
        return True, "leader" if self.gate.is_leader() else "standby (warm)"


def build_daemon(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    clock: Clock | None = None,
    kube_host: str | None = None,
) -> tuple[Daemon, Runtime]:
    from agent.adapters.kubernetes import KubernetesCluster, load_api_client
    from agent.adapters.prometheus import PrometheusReader
    from agent.adapters.slack import build_approvals
    from agent.leader import LeaderElector, LeaseConfig

    clock = clock or SystemClock()
    runbooks = load_runbooks(settings)
    password = resolve_secret(settings.ledger.password, environ)
    ledger = open_ledger(
        settings.ledger.url,
        clock.now(),
        password=password.get_secret_value() if password else None,
    )
    metrics = Metrics()
    identity = environ.get("POD_NAME") or socket.gethostname() or f"autonomic-{os.getpid()}"
    api_client = load_api_client(
        host=kube_host,
        kubeconfig=str(settings.cluster.kubeconfig) if settings.cluster.kubeconfig else None,
        context=settings.cluster.context,
        in_cluster=settings.cluster.in_cluster,
        watches=KubernetesCluster.watch_count(settings.cluster.namespaces),
    )
    cluster = KubernetesCluster(
        api_client,
        identity=identity,
        namespaces=settings.cluster.namespaces,
        exclude_namespaces=settings.cluster.exclude_namespaces,
        resync_seconds=settings.cluster.resync,
    )
    token = resolve_secret(settings.prometheus.bearer_token, environ)
    reader = PrometheusReader(
        settings.prometheus.url,
        timeout=settings.prometheus.timeout,
        stale_after=settings.prometheus.stale_after,
        headers={"Authorization": f"Bearer {token.get_secret_value()}"} if token else None,
        verify_tls=settings.prometheus.verify_tls,
    )
    gate: LeaderGate
    if settings.leader_election.enabled:
        election = settings.leader_election
        gate = ElectionGate(
            LeaderElector(
                api_client,
                LeaseConfig(
                    identity=identity,
                    name=election.lease_name,
                    namespace=election.namespace,
                    lease_duration=election.lease_duration,
                    renew_deadline=election.renew_deadline,
                    retry_period=election.retry_period,
                ),
            )
        )
    else:
        gate = AlwaysLeader()
    approvals, receiver = build_approvals(settings.slack, environ, ledger, clock=clock.now)
    decisions = DecisionService(
        ledger, clock, settings.routing, mode=settings.mode, approvals=approvals, metrics=metrics
    )
    executor = Executor(
        ledger, cluster, clock, owner=identity, is_leader=gate.is_leader, metrics=metrics
    )

    def forward(signals: Any) -> None:
        engine.submit(signals)

    intake = AlertIntake(
        token=resolve_secret(settings.alertmanager.token, environ)
        if settings.alertmanager.enabled
        else None,
        clock=clock.now,
        submit=forward,
        max_body_bytes=settings.alertmanager.max_body_bytes,
    )

    def instant(query: str) -> float | None:
        values = [v for _, _, v in reader.instant(query, clock.now())]
        if len(values) != 1:
            return None
        return values[0]

    engine = RemediationEngine(
        runbooks=runbooks,
        ledger=ledger,
        decisions=decisions,
        executor=executor,
        reader=cluster,
        clock=clock,
        limits=GlobalLimits(
            max_actions_per_hour=settings.safety.max_actions_per_hour,
            storm_triggers_per_minute=settings.safety.storm_threshold,
            storm_cooldown=settings.safety.storm_cooldown,
            target_cooldown=settings.safety.cooldown,
            approved_max_wait=settings.safety.approved_max_wait,
        ),
        query=instant,
        alerts=intake.firing,
    )
    if settings.safety.paused:
        engine.pause(True, "safety.paused is set in the configuration")
    anomaly = AnomalyLoop(
        settings.anomaly_queries,
        reader=reader,
        ledger=ledger,
        decisions=decisions,
        submit=engine.submit,
        clock=clock,
    )
    scaling = (
        ScalingLoop(
            settings.scaling,
            reader=reader,
            cluster=cluster,
            decisions=decisions,
            executor=executor,
            clock=clock,
            submit=engine.submit,
            opt_in_label=settings.cluster.opt_in_label,
        )
        if settings.scaling.enabled
        else None
    )
    canary = (
        CanaryLoop(
            settings.canary,
            reader=reader,
            cluster=cluster,
            decisions=decisions,
            clock=clock,
            submit=engine.submit,
            opt_in_label=settings.cluster.opt_in_label,
            events=lambda ref, reason, message, warning: cluster.post_event(
                ref, reason, message, warning=warning
            ),
        )
        if settings.canary.enabled
        else None
    )
    daemon = Daemon(
        settings, clock, ledger, metrics, decisions, engine, anomaly, gate, intake, scaling, canary
    )
    server = HttpServer(
        settings.server.host,
        settings.server.port,
        max_body_bytes=max(settings.alertmanager.max_body_bytes, 1_048_576),
    )
    server.route("POST", "/webhooks/alertmanager", intake.handle)
    server.route("GET", "/approvals", lambda _r: _pending(ledger))
    if canary is not None:
        server.route("GET", "/canary/verdict", canary.argo)
        server.route("POST", "/canary/flagger", canary.flagger)
    if receiver is not None:

        def slack(request: Request) -> Response:
            status, body = receiver.handle_interaction(request.body, request.headers, clock.now())
            return Response(status, body, "application/json")

        server.route("POST", "/slack/interactions", slack)

    def stop() -> None:
        approvals.close()
        cluster.stop()
        ledger.close()

    cluster.start()
    runtime = Runtime(
        daemon.jobs(), metrics=metrics, gate=gate, server=server, ready=daemon.ready, on_stop=stop
    )
    return daemon, runtime


def _pending(ledger: Ledger) -> Response:
    out = []
    for question in ledger.questions():
        record = ledger.get_decision(question.decision_id)
        out.append(
            {
                "question": question.id,
                "decision": question.decision_id,
                "expires_at": question.expires_at,
                "subject": record.subject if record else None,
                "reason": record.reason if record else None,
                "confidence": record.confidence if record else None,
                "proposal": record.proposal if record else None,
            }
        )
    return json_response(200, {"pending": out})
