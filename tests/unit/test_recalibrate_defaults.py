"""Recalibration starts from the thresholds a decision type was routed with.

Canary verdicts route with 0.9/0.5 and scaling with its own pair until calibration has
stored thresholds for the type; recalibration (hourly, given only the type's name) must
start from those numbers, not from the global routing.auto/ask, and must find them in
the ledger after a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.approvals import Approvals, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import DecisionService, Proposal, before_rise
from agent.ledger import Decision, Ledger, open_ledger
from agent.observability import Metrics
from agent.routing import Thresholds
from agent.settings import RoutingSettings

CANARY = "canary/rollback"
CANARY_DEFAULTS = Thresholds(auto=0.9, ask=0.5)  # what the canary loop proposes with


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'l.sqlite'}"


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    opened = open_ledger(url, 0)
    yield opened
    opened.close()


def service(
    ledger: Ledger, clock: FakeClock, routing: RoutingSettings | None = None
) -> tuple[DecisionService, Metrics]:
    metrics = Metrics()
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=600, snooze=600)
    decisions = DecisionService(
        ledger,
        clock,
        routing or RoutingSettings(),  # global auto 0.95, ask 0.6
        mode="act",
        approvals=approvals,
        metrics=metrics,
    )
    return decisions, metrics


def proposal(
    decision_type: str = CANARY,
    defaults: Thresholds | None = CANARY_DEFAULTS,
    confidence: float = 0.99,
) -> Proposal:
    return Proposal(
        kind="canary",
        decision_type=decision_type,
        subject="Deployment/shop/search-canary",
        proposal={"verdict": "rollback"},
        signal_confidence=confidence,
        reason_code="CanaryRollback",
        reason="latency_p99 regressed by 50 %",
        evidence={},
        model_version="canary-judge/1",
        prior_success=1.0,
        default_thresholds=defaults,
    )


def gauge(metrics: Metrics, decision_type: str, band: str) -> float:
    value: Any = metrics.threshold.labels(decision_type=decision_type, band=band)._value.get()
    return float(value)


def verified_automatic(decisions: DecisionService, clock: FakeClock, n: int, **kw: Any) -> None:
    for _ in range(n):
        routed = decisions.decide(proposal(**kw))
        assert routed.route == "auto"
        decisions.record_outcome(routed.decision_id, right=True, status="verified")
        clock.advance(600)


def test_routing_records_the_defaults_it_used(ledger: Ledger) -> None:
    clock = FakeClock(1_000_000.0)
    decisions, _ = service(ledger, clock)
    own = decisions.decide(proposal())
    none = decisions.decide(proposal("restart/Deployment", defaults=None))
    own_record, none_record = (
        ledger.get_decision(own.decision_id),
        ledger.get_decision(none.decision_id),
    )
    assert own_record is not None and none_record is not None
    assert own_record.evidence["routing"]["defaults"] == {"auto": 0.9, "ask": 0.5, "source": "type"}
    assert none_record.evidence["routing"]["defaults"] == {
        "auto": 0.95,
        "ask": 0.6,
        "source": "global",
    }


def test_recalibration_before_any_move_keeps_and_shows_the_types_defaults(
    ledger: Ledger,
) -> None:
    clock = FakeClock(1_000_000.0)
    decisions, metrics = service(ledger, clock)
    assert decisions.decide(proposal(confidence=0.7)).route == "ask"  # routed with 0.9/0.5
    step = decisions.recalibrate(CANARY)
    assert step.thresholds == CANARY_DEFAULTS and not step.changed  # before: 0.95/0.6
    assert ledger.thresholds(CANARY) is None  # nothing moved, nothing stored
    assert gauge(metrics, CANARY, "auto") == 0.9
    assert gauge(metrics, CANARY, "ask") == 0.5


def test_the_defaults_are_found_in_the_ledger_after_a_restart(url: str) -> None:
    clock = FakeClock(1_000_000.0)
    first = open_ledger(url, 0)
    decisions, _ = service(first, clock)
    decisions.decide(proposal(confidence=0.7))
    first.close()
    reopened = open_ledger(url, clock.now())
    try:
        restarted, metrics = service(reopened, clock)
        assert restarted.default_thresholds(CANARY) == CANARY_DEFAULTS
        assert restarted.recalibrate(CANARY).thresholds == CANARY_DEFAULTS
        assert gauge(metrics, CANARY, "auto") == 0.9
    finally:
        reopened.close()


def test_the_first_stored_move_starts_from_the_types_defaults(ledger: Ledger) -> None:
    clock = FakeClock(1_000_000.0)
    decisions, _ = service(ledger, clock)
    verified_automatic(decisions, clock, 25)  # a clean record of automatic rollbacks
    step = decisions.recalibrate(CANARY)
    assert step.changed and step.reason_code == "CleanRecord"
    assert step.thresholds == Thresholds(auto=0.89, ask=0.5)  # before: 0.94 / 0.6
    assert ledger.thresholds(CANARY) == (0.89, 0.5)
    # Routing and recalibration now agree on the stored pair.
    assert decisions.thresholds(CANARY, CANARY_DEFAULTS) == Thresholds(0.89, 0.5)


def test_a_type_without_defaults_of_its_own_follows_the_global_settings(ledger: Ledger) -> None:
    clock = FakeClock(1_000_000.0)
    decisions, _ = service(ledger, clock)
    decisions.decide(proposal("restart/Deployment", defaults=None, confidence=0.7))
    assert decisions.recalibrate("restart/Deployment").thresholds == Thresholds(0.95, 0.6)
    # The operator changes the global pair: the type follows it, not what was recorded.
    changed, _ = service(ledger, clock, RoutingSettings(auto=0.9, ask=0.7))
    assert changed.recalibrate("restart/Deployment").thresholds == Thresholds(0.9, 0.7)
    assert changed.default_thresholds("never/routed") == Thresholds(0.9, 0.7)


def test_a_decision_recorded_before_defaults_were_recorded_gives_what_it_was_routed_with(
    ledger: Ledger,
) -> None:
    clock = FakeClock(1_000_000.0)
    decisions, _ = service(ledger, clock)
    ledger.record_decision(
        Decision(
            kind="scaling",
            decision_type="scale-ahead/Deployment",
            subject="Deployment/shop/web",
            proposal={"op": "scale"},
            confidence=0.7,
            reason_code="ForecastPeak",
            reason="peak ahead",
            evidence={"routing": {"auto": 0.8, "ask": 0.5, "confidence": 0.7}},
            model_version="profile/1",
            route="ask",
            status="asked",
        ),
        clock.now(),
    )
    assert decisions.default_thresholds("scale-ahead/Deployment") == Thresholds(0.8, 0.5)
    assert decisions.recalibrate("scale-ahead/Deployment").thresholds == Thresholds(0.8, 0.5)


def test_the_newest_routed_decision_gives_the_defaults(ledger: Ledger) -> None:
    clock = FakeClock(1_000_000.0)
    decisions, _ = service(ledger, clock)
    decisions.decide(proposal(confidence=0.7))
    clock.advance(60)
    decisions.decide(proposal(defaults=Thresholds(0.85, 0.55), confidence=0.7))  # new release
    assert decisions.default_thresholds(CANARY) == Thresholds(0.85, 0.55)


def test_auto_never_relaxes_below_the_types_own_ask(ledger: Ledger) -> None:
    clock = FakeClock(1_000_000.0)
    decisions, _ = service(ledger, clock)  # global ask 0.6
    strict = Thresholds(auto=0.9, ask=0.8)
    ledger.record_thresholds(CANARY, 0.805, 0.8, {"reason_code": "Earlier"}, clock.now())
    verified_automatic(decisions, clock, 25, defaults=strict)
    step = decisions.recalibrate(CANARY)
    # A clean record would relax 0.805 -> 0.795, under the type's ask: refused.
    assert not step.changed and step.thresholds == Thresholds(0.805, 0.8)
    # Thresholds stored below the type's ask (by an earlier release) are raised to it.
    ledger.record_thresholds(CANARY, 0.7, 0.6, {"reason_code": "Earlier"}, clock.now())
    raised = decisions.recalibrate(CANARY)
    assert raised.reason_code == "BelowFloor" and raised.thresholds.auto == 0.8


def test_the_global_ask_still_floors_a_type_whose_own_ask_is_lower(ledger: Ledger) -> None:
    clock = FakeClock(1_000_000.0)
    decisions, _ = service(ledger, clock)  # global ask 0.6 > canary ask 0.5
    ledger.record_thresholds(CANARY, 0.605, 0.5, {"reason_code": "Earlier"}, clock.now())
    verified_automatic(decisions, clock, 25)
    step = decisions.recalibrate(CANARY)
    assert not step.changed and step.thresholds.auto == 0.605


def move(auto: float, reason_code: str) -> dict[str, Any]:
    return {"auto": auto, "ask": 0.5, "evidence": {"reason_code": reason_code}}


def test_before_rise_reads_the_pair_a_rise_replaced() -> None:
    rise = move(0.995, "TooManyWrong")
    assert before_rise([], CANARY_DEFAULTS) is None
    assert before_rise([rise], CANARY_DEFAULTS) == CANARY_DEFAULTS
    assert before_rise([move(0.89, "CleanRecord"), rise], CANARY_DEFAULTS) == Thresholds(0.89, 0.5)
    assert before_rise([rise, move(0.9, "SetByHand")], CANARY_DEFAULTS) is None


def test_a_clean_run_since_a_rise_brings_the_pair_back_once(ledger: Ledger) -> None:
    """A rise stored in the ledger, then 299 right outcomes of the type's decisions (asked
    at first, automatic once the record lifts their confidence past 0.995): the next
    recalibration stores the defaults again, and the one after does not repeat it."""
    clock = FakeClock(1_000_000.0)
    decisions, metrics = service(ledger, clock)
    routed = decisions.decide(proposal(confidence=0.9))  # records the type's defaults
    decisions.record_outcome(routed.decision_id, right=False, status="failed")
    ledger.record_thresholds(CANARY, 0.995, 0.5, {"reason_code": "TooManyWrong"}, clock.now())
    clock.advance(60)
    routes = []
    for _ in range(299):
        routed = decisions.decide(proposal(confidence=0.9))
        routes.append(routed.route)
        decisions.record_outcome(routed.decision_id, right=True, status="verified")
        clock.advance(60)
    assert routes[0] == "ask"
    step = decisions.recalibrate(CANARY)
    assert (step.reason_code, step.thresholds) == ("CleanSinceRise", CANARY_DEFAULTS)
    assert ledger.thresholds(CANARY) == (0.9, 0.5)
    assert gauge(metrics, CANARY, "auto") == 0.9
    assert f"of them {routes.count('auto')} automatic" in step.message
    assert decisions.recalibrate(CANARY).reason_code != "CleanSinceRise"
