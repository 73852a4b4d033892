"""A refused Authorization header is described, never written out."""

from __future__ import annotations

import logging

import pytest

from agent.server import Request
from tests.unit.webhooks.test_alert_intake import intake, payload


@pytest.mark.parametrize(
    "header",
    [
        "s3cret",  # the right token, sent without its scheme (http_config.authorization
        # with an empty type, or a proxy that strips it)
        "s3cret-and-some-more-of-a-long-token",
        "\ts3cret",
    ],
)
def test_a_token_sent_without_a_scheme_is_not_logged(
    header: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The word before the first space was logged as the "scheme" (its first 20
    characters): a token sent on its own, without ``Bearer``, went to the log."""
    hook = intake()
    request = Request(
        "POST",
        "/webhooks/alertmanager",
        {},
        {"content-type": "application/json", "authorization": header},
        payload(),
    )
    with caplog.at_level(logging.WARNING, logger="autonomic.webhooks"):
        assert hook.handle(request).status == 401
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "401, missing or wrong bearer token" in said
    assert "s3cret" not in said
    assert "without a scheme" in said


def test_a_scheme_is_still_named(caplog: pytest.LogCaptureFixture) -> None:
    hook = intake()
    request = Request(
        "POST",
        "/webhooks/alertmanager",
        {},
        {"content-type": "application/json", "authorization": "Basic s3cret"},
        payload(),
    )
    with caplog.at_level(logging.WARNING, logger="autonomic.webhooks"):
        assert hook.handle(request).status == 401
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "of scheme 'Basic', not Bearer" in said
    assert "s3cret" not in said


@pytest.mark.parametrize(
    ("header", "sent"),
    [
        ("Bearer wrong", "a bearer token that is not alertmanager.token"),
        ("Bearer", "a bearer token that is not alertmanager.token"),
        ("s3cret s3cret", "a scheme other than Bearer"),
    ],
)
def test_other_refusals_say_what_was_sent_without_it(
    header: str, sent: str, caplog: pytest.LogCaptureFixture
) -> None:
    hook = intake()
    request = Request(
        "POST",
        "/webhooks/alertmanager",
        {},
        {"content-type": "application/json", "authorization": header},
        payload(),
    )
    with caplog.at_level(logging.WARNING, logger="autonomic.webhooks"):
        assert hook.handle(request).status == 401
    said = " ".join(r.getMessage() for r in caplog.records)
    assert sent in said
    assert "s3cret" not in said
