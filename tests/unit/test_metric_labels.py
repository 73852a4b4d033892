"""Label values of the daemon's own metrics come from a bounded set."""

from __future__ import annotations

from agent.adapters.slack import _HINTS, _TRANSIENT_CODES
from agent.observability import SLACK_ERROR_CODES, reason_label


def test_a_slack_reason_is_its_own_label_only_for_a_documented_code_or_status() -> None:
    assert reason_label("Slack:token_revoked") == "Slack:token_revoked"
    assert reason_label("Slack:HTTP 404") == "Slack:HTTP 404"
    assert reason_label("SlackUnreachable") == "SlackUnreachable"  # the daemon's own codes
    assert reason_label("PrometheusHTTP503") == "PrometheusHTTP503"
    for made_up in ("Slack:", "Slack:HTTP 4040", "Slack:no such thing", "Slack:" + "x" * 500):
        assert reason_label(made_up) == "Slack:other"


def test_every_code_the_daemon_treats_on_its_own_keeps_its_label() -> None:
    """A code the Slack client gives a hint or a retry for is one an alert or a person
    looks for by name (``Slack:message_not_found`` is left out of AutonomicSlackRefused)."""
    assert set(_HINTS) | _TRANSIENT_CODES <= SLACK_ERROR_CODES


def test_a_slack_status_of_other_digits_is_not_a_label_of_its_own() -> None:
    """Three characters ``isdigit`` holds for are not an HTTP status unless ASCII: an
    error code Slack's body carries (``HTTP ٤٠٤``, ``HTTP ²²²``) must not grow the
    label's values."""
    for made_up in ("Slack:HTTP ٤٠٤", "Slack:HTTP ²²²", "Slack:HTTP ４０４"):
        assert reason_label(made_up) == "Slack:other"
