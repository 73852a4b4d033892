"""``SocketModeLeader``: Socket Mode while this replica leads, and only then.

The real ``SlackReceiver`` and slack-sdk's builtin ``SocketModeClient``, against the
Web API stand-in and the websocket stand-in (``tests/fakeslack/socket_mode.py``). Who
leads is a plain flag here (the gate is not what is under test; the daemon tests in
``tests/integration/daemon/test_slack_socket_mode.py`` use the real Lease election), and
the clock is the tests' own, so that the retry delays can be checked exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from agent.adapters.slack import SlackReceiver
from agent.daemon import SocketModeLeader
from agent.observability import Metrics
from tests.fakeslack import SocketModeServer, block_actions_payload
from tests.integration.slack.conftest import CHANNEL, REPLAY, Rig, stop_socket_mode_promptly

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


@dataclass
class Lease:
    """Whether this replica holds the lease, as ``gate.is_leader`` would answer."""

    held: bool = True

    def __call__(self) -> bool:
        return self.held


@pytest.fixture
def sockets(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> Iterator[SocketModeServer]:
    """The websocket stand-in, nothing connected to it yet."""
    for name in PROXY_VARIABLES:  # slack-sdk would route through a proxy from the env
        monkeypatch.delenv(name, raising=False)
    server = rig.slack.attach_socket_mode()
    yield server
    server.stop()  # drops the connections: stopping the client then does not wait 3 s
    stop_socket_mode_promptly(rig.receiver)


def _logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The daemon's own log records (slack-sdk logs its side of a failure too)."""
    return [r for r in caplog.records if r.name == "autonomic.daemon"]


def _opened(rig: Rig) -> int:
    return len(rig.slack.calls_to("apps.connections.open"))


def test_it_listens_only_while_this_replica_leads(rig: Rig, sockets: SocketModeServer) -> None:
    lease = Lease(held=False)
    leader = SocketModeLeader(rig.receiver, lease, rig.clock)

    leader.sync()  # a standby: no connection, not even a URL asked for
    assert not rig.receiver.listening
    assert _opened(rig) == 0 and sockets.connections == []

    lease.held = True  # takes the lease
    leader.sync()
    first = sockets.wait_for_connection()
    assert rig.receiver.listening
    leader.sync()  # still the leader: the same connection
    assert _opened(rig) == 1 and sockets.open_connections() == [first]

    # An answer arrives over it and is recorded.
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    payload = block_actions_payload(
        asked.question_id, "approve", user_id="U0ALICE", channel_id=CHANNEL, action_ts=rig.clock()
    )
    sockets.wait_for_ack(sockets.push_interactive(payload))
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"

    lease.held = False  # loses the lease
    leader.sync()
    assert not rig.receiver.listening
    assert first.wait_closed(1.0)  # closed by the time sync returned
    assert sockets.open_connections() == []
    leader.sync()  # nothing reconnects while it is not the leader
    assert _opened(rig) == 1 and len(sockets.connections) == 1

    lease.held = True  # a new term: a new connection
    leader.sync()
    second = sockets.wait_for_connection(2)
    assert second.open and _opened(rig) == 2

    leader.close()  # shutdown: hangs up, and stays down even while leading
    assert second.wait_closed(1.0) and not rig.receiver.listening
    leader.sync()
    leader.close()  # idempotent
    assert _opened(rig) == 2 and sockets.open_connections() == []


def test_a_failed_connection_is_logged_and_retried_later_with_backoff(
    rig: Rig, sockets: SocketModeServer, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    leader = SocketModeLeader(
        rig.receiver, Lease(), rig.clock, metrics, retry_min=5.0, retry_max=12.0
    )
    rig.slack.fail_next("apps.connections.open", 500, times=3)
    caplog.set_level(logging.WARNING)

    leader.sync()  # Slack answers 500: logged, not raised
    assert not rig.receiver.listening and _opened(rig) == 1
    [record] = _logged(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("Slack Socket Mode: could not connect (attempt 1)")
    assert "retrying in 5 s" in record.getMessage()

    for delay in (5.0, 10.0, 12.0):  # the wait doubles, up to retry_max
        rig.clock.advance(delay - 0.5)
        attempts = _opened(rig)
        leader.sync()  # too early: Slack is not asked
        assert _opened(rig) == attempts
        rig.clock.advance(0.5)
        leader.sync()
        assert _opened(rig) == attempts + 1
    sockets.wait_for_connection()  # the fourth attempt got through
    assert rig.receiver.listening and leader.failures == 0
    assert [r.getMessage().split(" (attempt ")[1][0] for r in _logged(caplog)] == ["1", "2", "3"]
    errors = metrics.registry.get_sample_value(
        "autonomic_errors_total", {"kind": "SlackUnavailable"}
    )
    assert errors == 3.0


def test_a_refused_app_token_is_an_error_in_the_log_and_still_retried(
    rig: Rig, sockets: SocketModeServer, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = SlackReceiver(
        rig.approvals,
        rig.receiver.approvers,
        signing_secret=None,
        replay_window=REPLAY,
        app_token=SecretStr("xapp-wrong"),
        socket_base_url=rig.slack.url + "/api/",
    )
    leader = SocketModeLeader(receiver, Lease(), rig.clock, retry_min=5.0)
    caplog.set_level(logging.WARNING)

    leader.sync()
    [record] = _logged(caplog)
    assert record.levelno == logging.ERROR
    assert "invalid_auth (check slack.appToken" in record.getMessage()
    assert "xapp-wrong" not in record.getMessage()
    rig.clock.advance(5.0)
    leader.sync()  # a person may have fixed the token meanwhile: asked again
    assert _opened(rig) == 2 and not receiver.listening
    assert sockets.connections == []
