"""A small, protocol-faithful fake Kubernetes API server for tests.

    from tests.fakekube import start_fake_apiserver

    server = start_fake_apiserver()
    client = kubernetes.client.ApiClient(kubernetes.client.Configuration(host=server.url))
    ...
    server.stop()

``server.store`` holds the objects (seed them with ``tests.fakekube.seed``),
``server.inject(...)`` adds faults, ``server.forbid(...)`` denies a verb like RBAC,
``server.requests`` lists what was called. README.md says what is faithful and what is not.
"""

from __future__ import annotations

from tests.fakekube.server import SERVICE_ACCOUNT, FakeApiServer, Fault, RequestRecord
from tests.fakekube.store import ApiError, Store

__all__ = [
    "SERVICE_ACCOUNT",
    "ApiError",
    "FakeApiServer",
    "Fault",
    "RequestRecord",
    "Store",
    "start_fake_apiserver",
]


def start_fake_apiserver(
    *,
    bookmark_interval: float = 1.0,
    history_limit: int = 2000,
    argo_rollouts: bool = True,
    quiet_errors: bool = False,
) -> FakeApiServer:
    """Start a fake API server on 127.0.0.1 (random port); call ``.stop()`` when done.
    ``argo_rollouts=False``: a cluster without Argo Rollouts' CRD (``argoproj.io`` is 404).
    ``quiet_errors=True``: a failed request's traceback is not printed."""
    return FakeApiServer(
        Store(history_limit),
        bookmark_interval=bookmark_interval,
        argo_rollouts=argo_rollouts,
        quiet_errors=quiet_errors,
    ).start()
