"""``SocketModeLeader``: Socket Mode while this replica leads, and only then.

The real ``SlackReceiver`` and slack-sdk's builtin ``SocketModeClient``, against the
Web API stand-in and the websocket stand-in (``tests/fakeslack/socket_mode.py``). Who
leads is a plain flag here (the gate is not what is under test; the daemon tests in
``tests/integration/daemon/test_slack_socket_mode.py`` use the real Lease election), and
the clock is the tests' own, so that the retry delays can be checked exactly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from agent.adapters.slack import SlackReceiver
from agent.daemon import SocketModeLeader
from agent.observability import JsonFormatter, Metrics, TextFormatter
from tests.fakeslack import SocketModeServer, block_actions_payload
from tests.integration.slack.conftest import (
    APP_TOKEN,
    CHANNEL,
    REPLAY,
    TOKEN,
    Rig,
    stop_socket_mode_promptly,
)

if TYPE_CHECKING:
    from agent.adapters.slack import SocketState

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


def _connected(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("autonomic_slack_socket_connected")


def _wait(until: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _state(rig: Rig) -> SocketState:
    state = rig.receiver.socket_state()
    assert state is not None
    return state


def test_a_lost_connection_is_said_once_and_its_return_once_and_the_gauge_follows(
    rig: Rig, sockets: SocketModeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """slack-sdk reconnects by itself and says so only in its own silent log: the
    leader's check says the loss once, however many reconnections fail, and the return
    once it has held for 30 s; ``autonomic_slack_socket_connected`` and readiness follow
    at once."""
    rig.receiver.socket_ping_interval = 0.5  # slack-sdk looks (and reconnects) this often
    metrics = Metrics()
    leader = SocketModeLeader(rig.receiver, Lease(), rig.clock, metrics)
    caplog.set_level(logging.INFO)
    assert _connected(metrics) is None  # nothing set before the first check

    leader.sync()
    first = sockets.wait_for_connection()
    assert _connected(metrics) == 1.0 and leader.describe() is None

    # The connection is cut, and Slack will not hand out a new URL for a while.
    rig.slack.fail_next("apps.connections.open", 500, times=1000)
    sockets.drop(first, reset=True)
    _wait(lambda: not _state(rig).connected, "the client to see the connection gone")
    leader.sync()
    assert _connected(metrics) == 0.0
    [lost] = [r for r in _logged(caplog) if "lost" in r.getMessage()]
    assert lost.levelno == logging.WARNING
    # The reason is what went wrong last: the reset itself, or, when slack-sdk's first
    # attempt to reconnect already failed before this check, Slack's 500 (a race).
    assert lost.getMessage().startswith(
        (
            "Slack Socket Mode: the connection to Slack was lost (the connection failed (",
            "Slack Socket Mode: the connection to Slack was lost (Slack answered "
            "apps.connections.open with HTTP 500)",
        )
    ), lost.getMessage()
    assert "are not received until it reconnects" in lost.getMessage()

    _wait(lambda: _state(rig).failed_reconnects >= 2, "two failed reconnections")
    rig.clock.advance(40)
    leader.sync()
    leader.sync()
    assert _connected(metrics) == 0.0
    assert [r for r in _logged(caplog) if r.levelno >= logging.WARNING] == [lost]  # once
    assert leader.describe() == (
        "Slack Socket Mode not connected for 40 s (Slack answers are not received)"
    )
    assert _state(rig).failure == "Slack answered apps.connections.open with HTTP 500"

    rig.slack.clear_faults("apps.connections.open")  # Slack is back
    second = sockets.wait_for_connection(2)
    _wait(lambda: _state(rig).connected, "the client to reconnect")
    failed = _state(rig).failed_reconnects
    rig.clock.advance(5)
    leader.sync()
    assert _connected(metrics) == 1.0 and leader.describe() is None
    # Said once it has held for 30 s (a connection that keeps dropping is one outage).
    assert not [r for r in _logged(caplog) if "again" in r.getMessage()]
    rig.clock.advance(30)
    leader.sync()
    leader.sync()
    [back] = [r for r in _logged(caplog) if "again" in r.getMessage()]
    assert back.levelno == logging.INFO
    assert back.getMessage() == (
        f"Slack Socket Mode: connected again after 45 s without a connection ({failed} "
        "failed attempts to reconnect); Slack answers are received again"
    )

    # An answer arrives over the new connection.
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    payload = block_actions_payload(
        asked.question_id, "approve", user_id="U0ALICE", channel_id=CHANNEL, action_ts=rig.clock()
    )
    envelope_id = sockets.push_interactive(payload, conn=second)
    sockets.wait_for_ack(envelope_id)

    # Nothing the daemon logged, in either format, carries a token or a URL's ticket.
    tickets = [c.ticket for c in sockets.connections]
    secrets = [TOKEN, APP_TOKEN, *tickets, "ticket="]
    for record in [r for r in caplog.records if r.name.startswith("autonomic")]:
        for line in (JsonFormatter().format(record), TextFormatter().format(record)):
            assert not [s for s in secrets if s in line], line


def test_a_standby_sets_no_connection_gauge_and_clears_the_one_it_set_as_leader(
    rig: Rig, sockets: SocketModeServer
) -> None:
    metrics = Metrics()
    lease = Lease(held=False)
    leader = SocketModeLeader(rig.receiver, lease, rig.clock, metrics)
    leader.sync()
    assert _connected(metrics) is None and leader.describe() is None

    lease.held = True
    rig.slack.fail_next("apps.connections.open", 500)
    leader.sync()  # leads without a connection: 0, and readiness says since when
    assert _connected(metrics) == 0.0
    rig.clock.advance(5)
    assert leader.describe() == (
        "Slack Socket Mode not connected for 5 s (Slack answers are not received)"
    )
    leader.sync()
    sockets.wait_for_connection()
    assert _connected(metrics) == 1.0 and leader.describe() is None

    lease.held = False
    leader.sync()
    assert _connected(metrics) is None and leader.describe() is None
    metrics.slack_socket_connected.set(1)
    metrics.standby()  # the remediation cycle on a standby clears it too
    assert _connected(metrics) is None
