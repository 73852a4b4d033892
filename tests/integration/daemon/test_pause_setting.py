"""``safety.paused`` is the only way to pause remediation, and the pause is kept in the
ledger: a daemon started with it on, then started again with it off, kept every runbook
denied ``Paused: remediation is paused globally: safety.paused is set in the
configuration``, a setting no longer set, with nothing to lift it. Built by
``build_daemon`` against the fake API server, twice on one ledger."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.settings import Settings
from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.fakekube.seed import seed_node
from tests.harness.servers import free_port


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    seed_node(server.store, "node-1")
    yield server
    server.stop()


def _paused_after_start(
    fake: FakeApiServer, tmp_path: Path, paused: bool, pause_with: str | None = None
) -> str | None:
    """Why remediation is paused once a daemon has started with ``safety.paused`` (and,
    with ``pause_with``, been paused for that reason once started)."""
    from agent.daemon import _pause_reason, build_daemon

    settings = Settings.model_validate(
        {
            "safety": {"paused": paused},
            "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.sqlite'}"},
            "leaderElection": {"enabled": False},
            "runbooks": [],
            "server": {"host": "127.0.0.1", "port": free_port()},
        }
    )
    daemon, runtime = build_daemon(settings, {}, kube_host=fake.url)
    assert runtime.server is not None
    runtime.server.start()  # so that runtime.stop() can shut it down
    try:
        if pause_with is not None:
            daemon.engine.pause(True, pause_with)
        return _pause_reason(daemon.engine)
    finally:
        runtime.stop()


def test_a_pause_the_setting_no_longer_asks_for_is_lifted(
    fake: FakeApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert _paused_after_start(fake, tmp_path, paused=True) == (
        "safety.paused is set in the configuration"
    )
    with caplog.at_level(logging.INFO, logger="autonomic.daemon"):
        assert _paused_after_start(fake, tmp_path, paused=False) is None
    assert (
        "remediation no longer paused: safety.paused is false (the pause was: safety.paused "
        "is set in the configuration)"
    ) in caplog.text
    assert _paused_after_start(fake, tmp_path, paused=True) is not None  # and on again


def test_a_pause_set_for_another_reason_is_not_the_settings_to_lift(
    fake: FakeApiServer, tmp_path: Path
) -> None:
    why = "incident 4711: stop all remediation (alice)"
    assert _paused_after_start(fake, tmp_path, paused=False, pause_with=why) == why
    assert _paused_after_start(fake, tmp_path, paused=False) == why  # a restart keeps it
    assert _paused_after_start(fake, tmp_path, paused=True) == why  # and its reason
