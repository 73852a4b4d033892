"""The predictive scaling loop in ``act`` mode on the real adapters (the Kubernetes
client against the in-repo API server, a real Prometheus, the executor and a SQLite
ledger), for the scaling tests that drive it cycle by cycle on a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.adapters.kubernetes import KubernetesCluster, load_api_client
from agent.adapters.prometheus import PrometheusReader
from agent.approvals import Approvals, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.executor import Executor
from agent.ledger import Ledger, open_ledger
from agent.loops.scaling import ScalingLoop
from agent.observability import Metrics
from agent.settings import RoutingSettings, ScalingSettings
from remediation.ports import Operation, OperationResult
from tests.fakekube import FakeApiServer
from tests.harness.servers import PrometheusServer
from tests.integration.kube.conftest import FAST


class ScalingRig:
    """The loop reading ``query`` (and ``load_queries`` by name, for the workloads whose
    ``autonomic.dev/load-query`` picks one) from ``prometheus``, the clock at ``start``. With
    ``started`` the cluster's watch caches are started (and synced) first; otherwise the
    adapter lists directly until they are."""

    def __init__(
        self,
        prometheus: PrometheusServer,
        fake: FakeApiServer,
        tmp_path: Path,
        *,
        start: float,
        query: str,
        started: bool = False,
        load_queries: dict[str, str] | None = None,
    ) -> None:
        self.fake = fake
        self.api = load_api_client(host=fake.url)
        self.cluster = KubernetesCluster(
            self.api, identity="autonomic-test", policy=FAST, watch_timeout=5
        )
        if started:
            assert self.cluster.start(wait=5)
        self.clock = FakeClock(start)
        self.ledger: Ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", start)
        self.approvals = Approvals(
            self.ledger, LedgerOnlyChannel(self.ledger, self.clock.now), ttl=900, snooze=900
        )
        metrics = Metrics()
        decisions = DecisionService(
            self.ledger,
            self.clock,
            RoutingSettings(),
            mode="act",
            approvals=self.approvals,
            metrics=metrics,
        )
        self.executor = Executor(
            self.ledger,
            self.cluster,
            self.clock,
            owner="autonomic-test",
            is_leader=lambda: True,
            metrics=metrics,
        )
        self.loop = ScalingLoop(
            ScalingSettings(loadQuery=query, loadQueries=load_queries or {}),
            reader=PrometheusReader(prometheus.url),
            cluster=self.cluster,
            decisions=decisions,
            executor=self.executor,
            clock=self.clock,
            submit=lambda signals: None,
            metrics=metrics,
        )

    def cycles(self, count: int) -> None:
        for _ in range(count):
            self.loop.cycle()
            self.clock.advance(60)

    def before_each_write(self, change: Any) -> None:
        """``change()`` runs after the loop decided and the executor read the HPA, just
        before the write: someone else's write in between."""
        self.executor.writer = ChangedFirst(self.cluster, change)

    def close(self) -> None:
        self.approvals.close()
        self.cluster.stop()
        self.api.close()
        self.ledger.close()


class ChangedFirst:
    """The cluster adapter, with ``change()`` run before each write."""

    def __init__(self, cluster: KubernetesCluster, change: Any) -> None:
        self.cluster, self.change = cluster, change

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cluster, name)

    def apply(
        self, operation: Operation, *, dry_run: bool = False, uid: str | None = None
    ) -> OperationResult:
        self.change()
        return self.cluster.apply(operation, dry_run=dry_run, uid=uid)
