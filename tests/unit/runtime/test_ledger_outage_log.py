"""The ledger's database down: told once, summed up every 10 minutes, and once when it
answers again, for all the jobs together; every failed run still counted.

Each job used to log a warning at every period while the ledger was down (five jobs at
30 s to an hour: some 600 lines in an hour-long outage), then each its own "ran cleanly
again" line."""

from __future__ import annotations

import logging

import pytest

from agent.clock import FakeClock
from agent.errors import LEDGER_UNAVAILABLE, TransientError
from agent.observability import Metrics
from agent.runtime import Job, Runtime
from tests.harness.gates import RecordingGate

START = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC
DOWN = TransientError(
    "the ledger at postgresql+psycopg://autonomic:***@db:5432/autonomic is unreachable: "
    "connection refused",
    reason=LEDGER_UNAVAILABLE,
)


class Ledgerish:
    """A job that needs the ledger: it fails while ``down``, or with ``error`` if set."""

    def __init__(self) -> None:
        self.down = False
        self.error: Exception | None = None

    def __call__(self) -> None:
        if self.error is not None:
            raise self.error
        if self.down:
            raise DOWN


def _said(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str]]:
    return [
        (r.name, r.levelname, r.getMessage())
        for r in caplog.records
        if r.name.startswith("autonomic")
    ]


def test_a_ledger_outage_is_told_once_summed_up_and_its_end_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, metrics, ledger = FakeClock(START), Metrics(), Ledgerish()
    jobs = [Job("remediation", 30, ledger), Job("anomaly", 60, ledger)]
    runtime = Runtime(
        jobs,
        metrics=metrics,
        gate=RecordingGate(True),
        server=None,
        ready=lambda: (True, ""),
        clock=clock.now,
    )
    caplog.set_level(logging.INFO, logger="autonomic")

    def minutes(n: int) -> None:  # remediation every 30 s, anomaly every minute
        for step in range(2 * n):
            clock.advance(30)
            runtime._run_job(jobs[0])
            if step % 2:
                runtime._run_job(jobs[1])

    minutes(2)
    assert _said(caplog) == []
    ledger.down = True
    minutes(25)  # 50 + 25 runs failed
    ledger.down = False
    minutes(5)

    said = _said(caplog)
    assert [(name, level) for name, level, _ in said] == [
        ("autonomic.ledger", "WARNING"),  # at the first failed run
        ("autonomic.ledger", "WARNING"),  # 10 min on
        ("autonomic.ledger", "WARNING"),  # 20 min on
        ("autonomic.ledger", "INFO"),  # answered again
    ]
    began, *summaries, over = [message for _, _, message in said]
    assert began.startswith(
        "the ledger cannot be used: the ledger at postgresql+psycopg://autonomic:***@db:5432/"
        "autonomic is unreachable: connection refused (first met by the remediation job). "
    )
    assert "no action is taken meanwhile" in began and "A summary follows every 10 min" in began
    assert summaries[0] == (
        "the ledger still cannot be used, for 10 min (since 2026-11-18 11:09:10 UTC): "
        "31 runs failed on it (anomaly 10, remediation 21); the last error: " + str(DOWN)
    )
    assert summaries[1].startswith("the ledger still cannot be used, for 20 min (since ")
    assert "61 runs failed on it (anomaly 20, remediation 41)" in summaries[1]
    assert over == (
        "the ledger answers again, after 25 min failing (since 2026-11-18 11:09:10 UTC; "
        "75 runs failed on it)"
    )
    # every failed run counted, whatever was told
    assert metrics.errors.labels(kind=LEDGER_UNAVAILABLE)._value.get() == 75


def test_other_failures_are_still_told_at_each_run_and_their_end_by_the_job(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A job that failed for another reason too says it ran cleanly again, as before; a
    job that does not need the ledger running cleanly does not end the ledger's story."""
    clock, ledger, other = FakeClock(START), Ledgerish(), Ledgerish()
    jobs = [Job("scaling", 60, ledger), Job("slack-approvers", 60, other)]
    runtime = Runtime(
        jobs,
        metrics=Metrics(),
        gate=RecordingGate(True),
        server=None,
        ready=lambda: (True, ""),
        clock=clock.now,
    )
    caplog.set_level(logging.INFO, logger="autonomic")
    ledger.down = True
    for _ in range(3):
        clock.advance(60)
        runtime._run_job(jobs[0])
        runtime._run_job(jobs[1])  # runs cleanly: it does not end the ledger's story
    ledger.error = TransientError("Prometheus is down", reason="PrometheusDown")
    clock.advance(60)
    runtime._run_job(jobs[0])
    ledger.error, ledger.down = None, False
    clock.advance(60)
    runtime._run_job(jobs[0])
    said = [message for _, _, message in _said(caplog)]
    assert len(said) == 4
    assert said[0].startswith("the ledger cannot be used: ")
    assert said[1] == "scaling: Prometheus is down (will retry next period)"
    assert said[2] == (
        "the ledger answers again, after 4 min failing (since 2026-11-18 11:07:40 UTC; "
        "3 runs failed on it)"
    )
    assert said[3].startswith("scaling: ran cleanly again, after 4 failed runs in a row")
