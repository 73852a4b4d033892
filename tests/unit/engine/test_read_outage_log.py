"""Runbooks' PromQL reads while Prometheus is down, or has stopped storing: the engine
logged a warning on every read of every cycle (three checks on 20 targets: dozens of
lines a minute for the whole outage). It now tells each outage as one story: a warning
as it begins, a summary at most once a minute with how many reads failed, and one line
when a read is answered again. A read not made because Prometheus stopped storing has
its own reason code, ``PrometheusFrozen``, and is counted in
``autonomic_prometheus_request_failures_total``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.errors import TransientError
from agent.metrics_port import runbook_query
from remediation.readings import PROMETHEUS_FROZEN, PROMETHEUS_UNAVAILABLE, NoValue
from remediation.windows import to_utc_text
from tests.unit.engine.harness import START, rig

QUERIES = [f'sum(rate(errors{{pod="web-{n}", check="{c}"}}[5m]))' for n in range(20) for c in "abc"]


class FakePrometheus:
    """A ``MetricsReader`` with an ingestion clock: ``down`` refuses every request;
    ``stored``: when it last stored a sample (None: it cannot tell)."""

    def __init__(self) -> None:
        self.down = False
        self.stored: float | None = None

    def range(self, query: str, start: float, end: float, step: float, now: float) -> list[object]:
        raise AssertionError("runbooks read instants only")

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        if self.down:
            raise TransientError("cannot connect to Prometheus", reason="PrometheusDown")
        return [({}, at, 0.5)]

    def newest_sample(self) -> float | None:
        return self.stored


def _told(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The engine's lines since the last call."""
    lines = [r.getMessage() for r in caplog.records if r.name == "autonomic.remediation"]
    caplog.clear()
    return lines


def test_an_outage_of_runbook_reads_is_told_once_then_once_a_minute_then_when_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    r = rig(tmp_path)
    prometheus = FakePrometheus()
    r.engine.query = runbook_query(prometheus, r.clock.now)
    metrics = r.decisions.metrics.prometheus_failures

    def cycles(seconds: float) -> list[float | NoValue | None]:
        """A cycle every 30 s for ``seconds``, each reading every query."""
        read: list[float | NoValue | None] = []
        for _ in range(int(seconds // 30)):
            read += [r.engine._instant(q) for q in QUERIES]
            r.clock.advance(30)
        return read

    caplog.set_level(logging.INFO, logger="autonomic.remediation")
    assert set(cycles(60)) == {0.5} and _told(caplog) == []

    # Down for 5 minutes: 10 cycles of 60 reads.
    prometheus.down = True
    read = cycles(300)
    assert {v.reason_code for v in read if isinstance(v, NoValue)} == {PROMETHEUS_UNAVAILABLE}
    assert len(read) == 600
    lines = _told(caplog)
    assert len(lines) == 5, lines  # began, then a summary at 1, 2, 3 and 4 minutes
    assert lines[0].startswith(
        "runbook reads from Prometheus are failing: cannot connect to Prometheus (PrometheusDown)"
    )
    assert "A summary follows every 60 s" in lines[0]
    for minutes, line in enumerate(lines[1:], 1):
        took = "60 s" if minutes == 1 else f"{minutes} min"
        assert line.startswith(
            f"runbook reads from Prometheus still failing, for {took} (since "
        ), line
        failed = 60 * 2 * minutes + 1  # told at the first read of the cycle a minute on
        assert f": {failed} reads failed (PrometheusDown {failed}), none answered" in line
    prometheus.down = False
    assert cycles(30) == [0.5] * 60
    assert _told(caplog) == [
        "runbook reads from Prometheus are answered again, after 5 min failing (since "
        f"{to_utc_text(START + 60)}; 600 reads failed: PrometheusDown 600)"
    ]
    # Those failures are the reader's to count (``WatchedReader``), not the engine's.
    assert metrics.labels(reason=PROMETHEUS_FROZEN)._value.get() == 0

    # Storing nothing for 3 minutes: no read is made, each is PrometheusFrozen, counted.
    # Within a minute of the last line, its first failures wait for the next line.
    r.clock.advance(15)  # past the 10 s the ingestion answer is kept
    prometheus.stored = r.clock.now() - 180
    read = cycles(150)
    assert {v.reason_code for v in read if isinstance(v, NoValue)} == {PROMETHEUS_FROZEN}
    assert len(read) == 300
    assert metrics.labels(reason=PROMETHEUS_FROZEN)._value.get() == 300
    began, goes_on = _told(caplog)
    assert began.startswith(
        "runbook reads from Prometheus are failing since "
        f"{to_utc_text(r.clock.now() - 150)}: Prometheus has stored no new sample since "
    )
    assert "(PrometheusFrozen)" in began
    assert ": 181 reads failed (PrometheusFrozen 181), none answered" in goes_on
    prometheus.stored = r.clock.now()
    r.clock.advance(15)
    assert cycles(30) == [0.5] * 60
    (over,) = _told(caplog)
    assert over.startswith("runbook reads from Prometheus are answered again, after 3 min ")
    assert over.endswith("300 reads failed: PrometheusFrozen 300)")
