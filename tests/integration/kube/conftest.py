"""Fixtures: a fake API server per test, the real client pointed at it, the adapter."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent.adapters.kube_errors import RetryPolicy
from agent.adapters.kubernetes import KubernetesCluster, load_api_client
from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.fakekube.seed import seed_deployment, seed_hpa, seed_node

FAST = RetryPolicy(
    attempts=3, base_delay=0.01, max_delay=0.05, conflict_attempts=3, request_timeout=(1.0, 1.0)
)


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for ``check()`` to hold (watches deliver asynchronously); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver(bookmark_interval=0.2)
    yield server
    server.stop()


@pytest.fixture
def api_client(fake: FakeApiServer) -> Iterator[Any]:
    client = load_api_client(host=fake.url)
    yield client
    client.close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def cluster(api_client: Any, sleeps: list[float]) -> Iterator[KubernetesCluster]:
    adapter = KubernetesCluster(
        api_client,
        identity="autonomic-test",
        policy=FAST,
        sleep=sleeps.append,
        resync_seconds=30,
        watch_timeout=5,
    )
    yield adapter
    adapter.stop()


@pytest.fixture
def shop(fake: FakeApiServer) -> dict[str, Any]:
    """Two nodes, a Deployment 'web' (3 revisions, 3 pods) with an HPA, in 'shop'."""
    seed_node(fake.store, "node-1")
    seed_node(fake.store, "node-2")
    objects = seed_deployment(
        fake.store,
        "web",
        namespace="shop",
        replicas=3,
        images=("web:v1", "web:v2", "web:v3"),
        nodes=("node-1", "node-2"),
        resources={"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    )
    objects["hpa"] = seed_hpa(fake.store, "web", target="web", namespace="shop", min_replicas=2)
    return objects
