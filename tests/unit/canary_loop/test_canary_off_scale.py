"""The canary loop on a p99 beyond its histogram's largest bucket (+Inf from Prometheus)."""

from __future__ import annotations

import json
import logging
import math

import pytest

from agent.ledger import Ledger
from agent.loops.canary import CanaryLoop
from agent.server import Request
from agent.sim.metrics import SimMetrics
from tests.unit.canary_loop.test_canary_catch_up import _PrometheusLike, _set
from tests.unit.canary_loop.test_canary_loop import CANARY, ledger, rig

__all__ = ["ledger"]  # the fixture, shared


def test_a_canary_p99_at_inf_is_said_once_then_a_person_is_asked(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the judge took the +Inf, clamped to the float maximum, as a measured
    latency and rolled the canary back on a number nobody measured (with an absolute
    tolerance it crashed on NaN, every cycle). Now each such interval is not judged, said
    once in the log and in the endpoints' note, and the 8th running (the judge's
    ``min_intervals``) is a final inconclusive verdict, escalated, saying what to do."""
    loop, signals, clock, _cluster = rig(ledger, canary_slowdown=math.inf)
    query = {"namespace": ["shop"], "canary": ["search-canary"]}
    with caplog.at_level(logging.INFO, logger="autonomic.canary"):
        for _ in range(7):
            clock.advance(60)
            loop.cycle()
            assert not ledger.decisions(kind="canary")
            body = json.loads(loop.argo(Request("GET", "/canary/verdict", query, {}, b"")).body)
            assert body["verdict"] == "continue"
            assert "the canary's value is +Inf" in body["note"]
        clock.advance(60)
        loop.cycle()
    said = [
        r.getMessage()
        for r in caplog.records
        if r.name == "autonomic.canary" and "+Inf" in r.getMessage()
    ]
    assert len(said) == 1, said
    assert said[0] == (
        f"canary {CANARY}: no interval this time: metric 'latency_p99': the canary's value "
        "is +Inf, not a number the judge can compare; for a histogram_quantile that means "
        "the quantile fell in the +Inf bucket, beyond the histogram's largest finite "
        "bucket: add buckets with a larger le so that it has a number"
    )
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "inconclusive"
    assert (decision.route, decision.status) == ("escalate", "escalated")
    assert signals == []
    body = json.loads(loop.argo(Request("GET", "/canary/verdict", query, {}, b"")).body)
    assert body["verdict"] == "inconclusive"
    assert body["reason"] == "OffScale"
    sentence = body["sentence"]
    assert "latency_p99: the canary's value has been +Inf for 8 intervals running" in sentence


def test_a_canary_p99_at_minus_inf_asks_a_person_saying_it_is_unusable(
    ledger: Ledger,
) -> None:
    """-Inf for a latency (a broken query; the metric's better side) was refused every
    interval and never counted: the canary waited, silent, for ``maxDuration``. Now the
    8th running is a final inconclusive verdict, escalated, that calls the value unusable
    rather than worse (nor better: nothing was measured)."""
    loop, signals, clock, _cluster = rig(ledger, canary_slowdown=-math.inf)
    for _ in range(7):
        clock.advance(60)
        loop.cycle()
        assert not ledger.decisions(kind="canary")
    clock.advance(60)
    loop.cycle()
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "inconclusive"
    assert (decision.route, decision.status) == ("escalate", "escalated")
    assert signals == []
    assert decision.evidence["judge_reason"] == "OffScale"
    assert (
        "latency_p99: the canary's value has been -Inf for 8 intervals running while the "
        "baseline's was finite, none of them judged: beyond the metric's better end, which "
        "is no measurement, so unusable (no evidence the canary is better); check the "
        "metric's query"
    ) in decision.reason


def test_a_canary_refused_every_interval_past_max_duration_is_decided_then(
    ledger: Ledger,
) -> None:
    """Both sides' p99 +Inf from the 5th interval on (the baseline off the scale: no
    ``OffScale``, the canary is no worse there): every interval after it was refused, no
    interval was judged again, and the analysis never ended, "continue" long past
    ``maxDuration`` (1 h), as the judge decides only on an interval it judges. It is now
    decided at the first interval refused from ``maxDuration`` on, on the intervals
    judged (as ``autonomic judge`` decides files that end so): inconclusive, escalated."""
    loop, _signals, clock, _cluster = rig(ledger, canary_slowdown=1.0)
    metrics = loop.reader
    assert isinstance(metrics, SimMetrics)
    for minute in range(5, 120):
        for workload in ("search", "search-canary"):
            _set(metrics, "lat", workload, clock.now() + 60 * minute, math.inf)
    for _ in range(59):  # the analysis begins at the 1st: 3540 s of it by the 59th
        clock.advance(60)
        loop.cycle()
    assert ledger.decisions(kind="canary") == []
    clock.advance(60)  # 3600 s: its maximum duration
    loop.cycle()
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "inconclusive"
    assert (decision.route, decision.status) == ("escalate", "escalated")
    (analysis,) = loop.analyses.values()
    assert analysis.latest is not None and analysis.latest.final
    assert analysis.latest.elapsed_seconds == 3600.0


def test_a_restart_decides_refused_intervals_past_max_duration_where_the_live_run_would(
    ledger: Ledger,
) -> None:
    """As above, with the daemon down from the 30th interval to the 65th: the restart
    reads the intervals back and decides at the one at ``maxDuration`` (3600 s), where
    the live run would have, not at its own cycle 5 minutes later."""
    first, _signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    metrics = first.reader
    assert isinstance(metrics, SimMetrics)
    for minute in range(5, 120):
        for workload in ("search", "search-canary"):
            _set(metrics, "lat", workload, clock.now() + 60 * minute, math.inf)
    for _ in range(30):
        clock.advance(60)
        first.cycle()
    restarted = CanaryLoop(
        first.settings,
        reader=_PrometheusLike(metrics),
        cluster=cluster,
        decisions=first.decisions,
        clock=clock,
        submit=[].extend,
        events=first.events,
    )
    clock.advance(35 * 60)
    restarted.cycle()
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "inconclusive"
    assert decision.evidence["decided_after_seconds"] == 3600.0
