"""A daemon built as ``autonomic run`` builds it and served on 127.0.0.1: every route, a
SQLite ledger, Slack over HTTP (the stand-in), the Alertmanager webhook with a token.
For tests that talk to its HTTP port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.daemon import build_daemon
from agent.runtime import Runtime
from agent.settings import load_settings
from tests.harness.servers import free_port
from tests.integration.slack.conftest import CHANNEL, SECRET, TOKEN

ENVIRON = {"SLACK_BOT": TOKEN, "SLACK_SIGNING": SECRET}


@contextmanager
def served_daemon(
    tmp: Path, kube_url: str, slack_url: str, am_token: str, *, alertmanager: str = ""
) -> Iterator[int]:
    """The daemon's port while it serves; ``alertmanager`` adds settings to that section
    (", maxBodyBytes: 4194304")."""
    (tmp / "am-token").write_text(am_token)
    port = free_port()
    cfg = tmp / "autonomic.yaml"
    cfg.write_text(
        f"""
mode: propose
prometheus: {{url: "http://127.0.0.1:{free_port()}", timeout: 1s}}
ledger: {{url: "sqlite:///{tmp / "ledger.sqlite"}"}}
leaderElection: {{enabled: false}}
server: {{host: 127.0.0.1, port: {port}}}
runbooks: []
alertmanager: {{enabled: true, token: {{file: {tmp / "am-token"}}}{alertmanager}}}
slack:
  enabled: true
  botToken: {{env: SLACK_BOT}}
  signingSecret: {{env: SLACK_SIGNING}}
  channel: {CHANNEL}
  approvers: [U0ALICE]
  receive: http
  baseURL: "{slack_url}/api/"
"""
    )
    _daemon, runtime = build_daemon(load_settings(cfg, ENVIRON), ENVIRON, kube_host=kube_url)
    assert isinstance(runtime, Runtime) and runtime.server is not None
    runtime.server.start()
    try:
        yield port
    finally:
        runtime.stop()
