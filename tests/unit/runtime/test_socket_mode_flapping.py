"""``SocketModeLeader`` watching a connection that comes and goes, against a stand-in
receiver whose state the test sets at each check (the real client and websocket are in
``tests/integration/slack/test_slack_socket_mode_leader.py``)."""

from __future__ import annotations

import logging

import pytest

from agent.adapters.slack import SocketState
from agent.daemon import SocketModeLeader
from agent.observability import Metrics

TICKET = "ticket=7f3c0a9e-0000-4bad-beef-5ecre7"
URL = f"wss://wss-primary.slack.com/link/?{TICKET}&app_id=A0APP"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Receiver:
    """Listening from the start; ``connected`` is what the next check finds."""

    def __init__(self) -> None:
        self.listening = True
        self.connected = True
        self.failed_reconnects = 0
        self.stop_error: Exception | None = None

    def start_socket_mode(self) -> None:
        self.listening = True

    def stop_socket_mode(self) -> None:
        self.listening = False
        if self.stop_error is not None:
            raise self.stop_error

    def socket_state(self) -> SocketState | None:
        if not self.listening:
            return None
        failure = None if self.connected else "the connection failed (ConnectionResetError)"
        return SocketState(self.connected, failure, self.failed_reconnects)


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "autonomic.daemon"]


def _gauge(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("autonomic_slack_socket_connected")


def test_a_flapping_connection_is_said_once_lost_and_once_back_with_its_drops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Down at one check, up at the next, for two minutes (a check every 5 s): one
    warning, then once it has held for 30 s one line that counts the drops; the gauge
    follows every check. Before, each drop and each return was a line of its own: 24
    warnings and 24 "connected again" lines in those two minutes."""
    caplog.set_level(logging.INFO, logger="autonomic.daemon")
    receiver, clock, metrics = Receiver(), Clock(), Metrics()
    leader = SocketModeLeader(receiver, lambda: True, clock, metrics)
    leader.sync()
    gauges = []
    for check in range(48):  # 4 minutes: down, up, down, up, ...
        clock.now += 5
        receiver.connected = check % 2 == 1
        leader.sync()
        gauges.append(_gauge(metrics))
        receiver.failed_reconnects += 0 if receiver.connected else 1  # until the next
    assert gauges == [0.0, 1.0] * 24  # honest at every check
    lost = [m for m in _said(caplog) if "was lost" in m]
    assert len(lost) == 1
    assert not [m for m in _said(caplog) if "again" in m]  # it never held for 30 s

    for _ in range(7):  # then it holds: said once it has held for 30 s
        clock.now += 5
        leader.sync()
    [back] = [m for m in _said(caplog) if "again" in m]
    assert back == (
        "Slack Socket Mode: connected again, and has held for 30 s; the connection dropped "
        "24 times in 235 s, 120 s of them without a connection (24 failed attempts to "
        "reconnect); Slack answers are received again"
    )
    assert len([m for m in _said(caplog) if "was lost" in m]) == 1

    # A later, single loss is a new outage: said again, and its return as before.
    clock.now += 5
    receiver.connected = False
    leader.sync()
    receiver.failed_reconnects += 3
    clock.now += 20
    receiver.connected = True
    leader.sync()
    assert leader.describe() is None and _gauge(metrics) == 1.0
    clock.now += 30
    leader.sync()
    said = _said(caplog)
    assert len([m for m in said if "was lost" in m]) == 2
    assert said[-1] == (
        "Slack Socket Mode: connected again after 20 s without a connection (3 failed "
        "attempts to reconnect); Slack answers are received again"
    )


def test_losing_the_lease_mid_outage_starts_the_next_term_afresh(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="autonomic.daemon")
    receiver, clock, lease = Receiver(), Clock(), {"held": True}
    leader = SocketModeLeader(receiver, lambda: lease["held"], clock, Metrics())
    leader.sync()
    receiver.connected = False
    leader.sync()
    lease["held"] = False
    leader.sync()  # hangs up
    lease["held"], receiver.connected = True, True
    leader.sync()  # connects again: a new connection, no outage to say the end of
    clock.now += 60
    leader.sync()
    assert not [m for m in _said(caplog) if "again" in m]


def test_a_failed_hang_up_is_logged_without_the_exceptions_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """slack-sdk's exceptions may carry the wss URL, ticket and all: the line says the
    exception's type, with no text and no traceback."""
    caplog.set_level(logging.DEBUG)
    receiver, lease = Receiver(), {"held": True}
    leader = SocketModeLeader(receiver, lambda: lease["held"], Clock(), Metrics())
    leader.sync()
    receiver.stop_error = ConnectionError(f"closing {URL} failed")
    lease["held"] = False
    leader.sync()
    [failed] = [r for r in caplog.records if "closing the connection failed" in r.getMessage()]
    assert failed.getMessage() == (
        "Slack Socket Mode: closing the connection failed (ConnectionError)"
    )
    assert failed.exc_info is None
    for record in caplog.records:
        assert TICKET not in caplog.handler.format(record)
