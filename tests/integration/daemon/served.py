"""A daemon built as ``autonomic run`` builds it and served on 127.0.0.1, for tests that
talk to its HTTP port: every route, a SQLite ledger unless told otherwise, and, when asked
for, the Alertmanager webhook with a token and Slack over HTTP (the stand-in)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from agent.daemon import build_daemon
from agent.runtime import Runtime
from agent.settings import load_settings
from tests.harness.servers import free_port
from tests.integration.slack.conftest import CHANNEL, SECRET, TOKEN

ENVIRON = {"SLACK_BOT": TOKEN, "SLACK_SIGNING": SECRET}


def daemon_config(
    tmp: Path,
    port: int,
    *,
    slack_url: str | None = None,
    am_token: str | None = None,
    alertmanager: str = "",
    server: str = "",
    ledger: str = "",
    leader_election: str = "enabled: false",
    runbooks: str = "",
    more: str = "",
) -> Path:
    """Writes ``autonomic-PORT.yaml`` in ``tmp`` (two replicas can share one ``tmp`` and
    its ledger) and gives its path. Each keyword adds to or replaces one part:

    - ``slack_url``: a ``slack`` section, receiving over HTTP from that stand-in;
    - ``am_token``: the Alertmanager webhook on, with this token in a file; ``alertmanager``
      adds settings to that section (``", maxBodyBytes: 4194304"``);
    - ``server`` adds settings to that section (``", readToken: {env: X}"``);
    - ``ledger``: the ledger's URL (SQLite in ``tmp`` when empty);
    - ``leader_election``: that section's settings; ``runbooks``: the list's items;
    - ``more``: whole top-level sections, as YAML lines.
    """
    ledger = ledger or f"sqlite:///{tmp / 'ledger.sqlite'}"
    lines = [
        "mode: propose",
        f'prometheus: {{url: "http://127.0.0.1:{free_port()}", timeout: 1s}}',
        f'ledger: {{url: "{ledger}"}}',
        f"leaderElection: {{{leader_election}}}",
        f"server: {{host: 127.0.0.1, port: {port}{server}}}",
        f"runbooks: [{runbooks}]",
    ]
    if am_token is not None:
        (tmp / "am-token").write_text(am_token)
        token = f"{{file: {tmp / 'am-token'}}}"
        lines.append(f"alertmanager: {{enabled: true, token: {token}{alertmanager}}}")
    if slack_url is not None:
        lines += [
            "slack:",
            "  enabled: true",
            "  botToken: {env: SLACK_BOT}",
            "  signingSecret: {env: SLACK_SIGNING}",
            f"  channel: {CHANNEL}",
            "  approvers: [U0ALICE]",
            "  receive: http",
            f'  baseURL: "{slack_url}/api/"',
        ]
    if more:
        lines.append(more)
    cfg = tmp / f"autonomic-{port}.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


@contextmanager
def served_daemon(
    tmp: Path,
    kube_url: str,
    slack_url: str | None = None,
    am_token: str | None = None,
    *,
    alertmanager: str = "",
    server: str = "",
    ledger: str = "",
    more: str = "",
    environ: Mapping[str, str] | None = None,
) -> Iterator[int]:
    """The daemon's port while its HTTP server serves (its jobs are not started); the
    settings are ``daemon_config``'s, ``environ`` adds to the environment it reads."""
    port = free_port()
    cfg = daemon_config(
        tmp,
        port,
        slack_url=slack_url,
        am_token=am_token,
        alertmanager=alertmanager,
        server=server,
        ledger=ledger,
        more=more,
    )
    env = ENVIRON | dict(environ or {})
    _daemon, runtime = build_daemon(load_settings(cfg, env), env, kube_host=kube_url)
    assert isinstance(runtime, Runtime) and runtime.server is not None
    runtime.server.start()
    try:
        yield port
    finally:
        runtime.stop()
