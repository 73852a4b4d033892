"""``build_daemon`` fences the cluster's writes with the lease: the Kubernetes adapter asks
the leader gate before every try of every write (``KubeApi.may_write``), so a write (or
its retry) is never sent by a replica that does not hold the lease, whoever calls it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.adapters.kube_errors import NotLeaderError
from agent.daemon import build_daemon
from agent.settings import load_settings
from remediation.ports import ObjectRef, Scale
from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.fakekube.seed import seed_deployment
from tests.harness.servers import free_port

WEB = ObjectRef("Deployment", "web", "shop")


@pytest.fixture
def kube() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    yield server
    server.stop()


def test_the_daemons_writes_wait_for_the_lease(tmp_path: Path, kube: FakeApiServer) -> None:
    seed_deployment(kube.store, "web", namespace="shop", replicas=3)
    path = tmp_path / "autonomic.yaml"
    path.write_text(
        f"""
mode: act
prometheus: {{url: "http://127.0.0.1:{free_port()}", timeout: 1s}}
ledger: {{url: "sqlite:///{tmp_path / "ledger.sqlite"}"}}
leaderElection: {{namespace: autonomic, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 0.5s}}
server: {{host: 127.0.0.1, port: {free_port()}}}
runbooks: []
"""
    )
    daemon, runtime = build_daemon(
        load_settings(path, {}), {"POD_NAME": "autonomic-0"}, kube_host=kube.url
    )
    try:
        writer = daemon.engine.executor.writer
        with pytest.raises(NotLeaderError):
            writer.apply(Scale(WEB, 5))  # the lease not sought yet: nothing is sent
        assert [r for r in kube.requests if r.verb == "patch"] == []
        assert daemon.gate.elector.step() is True  # type: ignore[attr-defined]
        assert writer.apply(Scale(WEB, 5)).changed
        (deployment,) = kube.store.objects("Deployment", "shop")
        assert deployment["spec"]["replicas"] == 5
    finally:
        runtime.on_stop()  # the watches build_daemon started, the ledger
