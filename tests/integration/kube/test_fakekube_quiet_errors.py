"""``quiet_errors=True``: the fake API server prints no traceback for a request that
failed (the crash and soak benchmarks kill clients mid-request, and those tracebacks are
noise), also once an outage has rebound its listener."""

from __future__ import annotations

import pytest

from tests.fakekube import FakeApiServer, start_fake_apiserver


def fail_a_request(fake: FakeApiServer) -> None:
    """What the listener does when a request's handler raises: report it."""
    try:
        raise ConnectionResetError("the client went away mid-request")
    except ConnectionResetError:
        fake._httpd.handle_error(None, ("127.0.0.1", 1))  # the request is not read


def test_by_default_a_failed_request_prints_its_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = start_fake_apiserver()
    try:
        fail_a_request(fake)
    finally:
        fake.stop()
    assert "ConnectionResetError" in capsys.readouterr().err


def test_a_quiet_server_prints_none_before_or_after_an_outage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = start_fake_apiserver(quiet_errors=True)
    try:
        fail_a_request(fake)
        fake.go_down()
        fake.come_back()
        fail_a_request(fake)
    finally:
        fake.stop()
    assert capsys.readouterr().err == ""
