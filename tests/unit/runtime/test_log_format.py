"""The daemon's log lines: JSON for a collector, text for a person at a terminal."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from agent.observability import configure_logging, decision_context


@pytest.fixture(autouse=True)
def _restore_loggers() -> Iterator[None]:
    """``configure_logging`` replaces the daemon loggers' handlers: put them back."""
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate)
        for name in ("autonomic", "agent")
        for logger in [logging.getLogger(name)]
    }
    root = logging.getLogger().handlers[:]
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate
    logging.getLogger().handlers[:] = root


def _log_one(fmt: str) -> str:
    stream = io.StringIO()
    configure_logging("INFO", stream, fmt)
    try:
        raise RuntimeError("the ledger is locked")
    except RuntimeError:
        with decision_context("d-42"):
            logging.getLogger("autonomic.scaling").exception(
                "scaling shop/web: held", extra={"loop": "scaling"}
            )
    logging.getLogger("autonomic.scaling").debug("not shown at INFO")
    return stream.getvalue()


def test_json_lines_carry_the_decision_and_the_context() -> None:
    (line,) = _log_one("json").splitlines()
    entry = json.loads(line)
    assert entry["level"] == "error" and entry["logger"] == "autonomic.scaling"
    assert entry["message"] == "scaling shop/web: held"
    assert entry["decision_id"] == "d-42" and entry["loop"] == "scaling"
    assert "RuntimeError: the ledger is locked" in entry["error"]


def test_text_lines_read_as_a_line_with_its_context_and_the_traceback_below() -> None:
    first, *rest = _log_one("text").splitlines()
    assert first.endswith(
        " ERROR   autonomic.scaling: scaling shop/web: held [decision_id=d-42 loop=scaling]"
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first.split(" ")[0])
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "RuntimeError: the ledger is locked"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="json, text"):
        configure_logging("INFO", io.StringIO(), "yaml")


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_the_libraries_warnings_come_in_the_same_format_and_their_chatter_not_at_all(
    fmt: str,
) -> None:
    """A soak run found APScheduler's "skipped: maximum number of running instances
    reached" (once a second while a remediation cycle ran long) written as bare text among
    the JSON lines: the root logger had no handler, so Python's last resort wrote it. A
    library's warning comes in the daemon's format; a library with a NullHandler of its
    own (urllib3, slack_sdk) asked for silence and stays silent, as before."""
    stream = io.StringIO()
    configure_logging("DEBUG", stream, fmt)
    configure_logging("DEBUG", stream, fmt)  # a second call does not double the lines
    scheduler = logging.getLogger("apscheduler.executors.default")
    scheduler.warning('Run time of job "remediation" was missed by 0:00:31')
    scheduler.info('Running job "remediation" (scheduled at ...)')  # below WARNING: not shown
    quiet = logging.getLogger("soak.quiet.library")
    quiet.addHandler(logging.NullHandler())
    try:
        logging.getLogger("soak.quiet.library.pool").warning("Connection pool is full")
    finally:
        quiet.handlers.clear()
    (line,) = stream.getvalue().splitlines()
    if fmt == "json":
        entry = json.loads(line)
        assert (entry["level"], entry["logger"]) == ("warning", "apscheduler.executors.default")
        assert entry["message"] == 'Run time of job "remediation" was missed by 0:00:31'
    else:
        assert line.endswith(
            ' WARNING apscheduler.executors.default: Run time of job "remediation" was missed '
            "by 0:00:31"
        )


def test_slack_sdks_own_lines_for_a_failed_call_stay_out_of_the_daemons_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """slack-sdk logs a failed request itself, at ERROR ("Failed to send a request to
    Slack API server: ..."), and the request at DEBUG; the daemon reports the failure in
    its own words (``SlackApi``, ``autonomic_slack_request_failures_total``). slack-sdk's
    NullHandler keeps its records out of the daemon's output, whatever ``--log-level``
    says, so one failure is not two or three lines; and no record it writes carries the
    token (its request line says ``Authorization: (redacted)``)."""
    import socket

    from slack_sdk import WebClient

    token = "xoxb-1234-never-logged"
    stream = io.StringIO()
    configure_logging("DEBUG", stream, "json")
    with socket.socket() as closed:  # bound, never listening: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        client = WebClient(
            token=token, base_url=f"http://127.0.0.1:{port}/", retry_handlers=[], timeout=2
        )
        caplog.set_level(logging.DEBUG, logger="slack_sdk")  # pytest's handler, on the root
        with pytest.raises(OSError):
            client.api_call("chat.postMessage", json={"channel": "C1", "text": "hi"})
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("slack_sdk")]
    assert any(
        n == logging.ERROR and m.startswith("Failed to send a request to Slack API server")
        for n, m in said
    )
    assert stream.getvalue() == ""  # none of it in the daemon's output
    assert not [m for _, m in said if token in m]
