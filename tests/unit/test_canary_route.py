"""The canary endpoints answer from the verdict's decision, not from the verdict alone.

A final verdict is a decision routed like any other: a rollback or promotion a person
must approve is held until they do, a rejected rollback lets the canary go on, and the
payload says which decision, route and status the answer comes from.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast

import pytest
from pydantic import SecretStr

from agent.approvals import Approvals, LedgerOnlyChannel
from agent.caller_token import CallerToken
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.errors import TransientError
from agent.ledger import Decision, Ledger, open_ledger
from agent.loops.canary import CANARY_OF, CanaryLoop, standing
from agent.observability import Metrics
from agent.server import Request, Response, json_response
from agent.settings import CanarySettings, RoutingSettings
from agent.sim.cluster import SimCluster, SimWorkload, Template
from agent.sim.metrics import SimMetrics
from remediation.ports import ObjectRef
from remediation.signals import Signal
from tests.harness.ledger_faults import GoneAfterClosing

STABLE = ObjectRef("Deployment", "search", "shop")
CANARY = ObjectRef("Deployment", "search-canary", "shop")
SEL = '{namespace="$namespace",deployment="$workload"}'
TTL = 900.0
SLOW, HEALTHY = 1.5, 1.0  # the canary's latency relative to the stable's

Mode = Literal["observe", "propose", "act"]


def approved_rollback(
    stable: ObjectRef, *, route: str = "ask", confidence: float = 0.8, **proposal: Any
) -> Decision:
    """An ``approved`` rollback verdict on ``stable``'s canary (``<name>-canary``), its
    release ``<name>:4`` rejected for the baseline's ``<name>:3``; ``proposal`` entries
    are added to (or replace) the verdict's own."""
    canary = ObjectRef(stable.kind, f"{stable.name}-canary", stable.namespace)
    return Decision(
        kind="canary",
        decision_type="canary/rollback",
        subject=str(canary),
        proposal={
            "verdict": "rollback",
            "baseline": str(stable),
            "revision": 1,
            "images": [f"{stable.name}:4"],
            "baseline_images": [f"{stable.name}:3"],
            **proposal,
        },
        confidence=confidence,
        reason_code="CanaryRollback",
        reason="slower than its baseline",
        evidence={},
        model_version="canary-judge/1",
        route=route,
        status="approved",
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


class Rig:
    """The canary loop over a simulated cluster and metrics, with a ledger-only channel."""

    def __init__(self, ledger: Ledger, slowdown: float, mode: Mode = "act") -> None:
        self.ledger = ledger
        self.clock = FakeClock(1_700_000_000)
        cluster = SimCluster(["n1"], self.clock.now())
        labels = {"autonomic.dev/enabled": "true"}
        cluster.add_workload(
            SimWorkload(STABLE, 4, {1: Template("search:3")}, 1, 80, 30, labels=labels)
        )
        cluster.add_workload(
            SimWorkload(
                CANARY,
                1,
                {1: Template("search:4")},
                1,
                80,
                30,
                labels={**labels, CANARY_OF: "search"},
            )
        )
        self.cluster = cluster
        metrics = SimMetrics()
        rng = random.Random(5)
        for minute in range(120):
            at = self.clock.now() + 60 * minute
            for ref, factor in ((STABLE, 1.0), (CANARY, slowdown)):
                series = {"namespace": "shop", "deployment": ref.name}
                metrics.record("lat", series, at, 100 * factor * rng.lognormvariate(0, 0.05))
                metrics.record("req", series, at, 600.0)
                metrics.record("err", series, at, float(rng.random() < 0.3))
        self.approvals = Approvals(
            ledger, LedgerOnlyChannel(ledger, self.clock.now), ttl=TTL, snooze=900
        )
        self.metrics = Metrics()
        self.decisions = DecisionService(
            ledger,
            self.clock,
            RoutingSettings(),
            mode=mode,
            approvals=self.approvals,
            metrics=self.metrics,
        )
        self.signals: list[Signal] = []
        self.loop = CanaryLoop(
            CanarySettings(
                queries={"latency_p99": "lat" + SEL, "errors": "err" + SEL, "requests": "req" + SEL}
            ),
            reader=metrics,
            cluster=cluster,
            decisions=self.decisions,
            clock=self.clock,
            submit=self.signals.extend,
        )

    def judge_until_recorded(self, minutes: int = 90) -> str:
        """Cycle until the judge's final verdict is recorded; its decision id."""
        for _ in range(minutes):
            self.clock.advance(60)
            self.loop.cycle()
            ids = [a.decision_id for a in self.loop.analyses.values() if a.decision_id]
            if ids:
                return ids[0]
        raise AssertionError("no final verdict")

    def question_of(self, decision_id: str) -> str:
        (question,) = self.ledger.questions_for([decision_id])
        return question.id

    def argo(self) -> dict[str, Any]:
        response = self.loop.argo(
            Request(
                "GET",
                "/canary/verdict",
                {"namespace": ["shop"], "canary": ["search-canary"]},
                {},
                b"",
            )
        )
        assert response.status == 200
        body: dict[str, Any] = json.loads(response.body)
        return body

    def flagger(self, hook: str = "", phase: str = "Progressing") -> Response:
        body: dict[str, Any] = {"name": "search-canary", "namespace": "shop", "phase": phase}
        if hook:
            body["metadata"] = {"type": hook}
        return self.loop.flagger(
            Request("POST", "/canary/flagger", {}, {}, json.dumps(body).encode())
        )

    def flagger_statuses(self) -> dict[str, int]:
        """Flagger's answer per kind of webhook: a plain check, each gate, a Promoting phase."""
        return {
            "rollout": self.flagger("rollout").status,
            "untyped": self.flagger().status,
            "confirm-rollout": self.flagger("confirm-rollout").status,
            "confirm-traffic-increase": self.flagger("confirm-traffic-increase").status,
            "confirm-promotion": self.flagger("confirm-promotion").status,
            "Promoting": self.flagger(phase="Promoting").status,
        }

    def close(self) -> None:
        self.approvals.dispatcher.drain()
        self.approvals.close()


@pytest.fixture
def rigs(ledger: Ledger) -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.close()


def make(rigs: list[Rig], ledger: Ledger, slowdown: float, mode: Mode = "act") -> Rig:
    rig = Rig(ledger, slowdown, mode)
    rigs.append(rig)
    return rig


HOLD = {
    "rollout": 200,
    "untyped": 200,
    "confirm-rollout": 425,
    "confirm-traffic-increase": 425,
    "confirm-promotion": 425,
    "Promoting": 425,
}
ROLL_BACK = dict.fromkeys(HOLD, 409)
PROMOTE = dict.fromkeys(HOLD, 200)


def test_a_rollback_waiting_for_a_person_is_held_not_carried_out(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    rig = make(rigs, ledger, SLOW, mode="propose")  # propose mode asks before acting
    decision_id = rig.judge_until_recorded()
    record = ledger.get_decision(decision_id)
    assert record is not None and (record.route, record.status) == ("ask", "asked")
    assert rig.signals == []  # nothing went to the runbooks either
    body = rig.argo()
    assert body["verdict"] == "inconclusive" and body["judge_verdict"] == "rollback"
    assert decision_id in body["reason"] and "awaiting an answer" in body["reason"]
    assert (body["decision_id"], body["route"], body["decision_status"]) == (
        decision_id,
        "ask",
        "asked",
    )
    assert body["confidence"] > 0.9 and body["metrics"]  # the judge's fields are kept
    assert rig.flagger_statuses() == HOLD
    held = json.loads(rig.flagger("confirm-traffic-increase").body)
    assert held["decision_status"] == "asked" and decision_id in held["reason"]


def test_an_approved_rollback_is_carried_out_and_stays_so_once_done(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    rig = make(rigs, ledger, SLOW, mode="propose")
    decision_id = rig.judge_until_recorded()
    assert rig.decisions.answer(rig.question_of(decision_id), "approved", "alice")
    body = rig.argo()
    assert body["verdict"] == "rollback" and body["decision_status"] == "approved"
    assert rig.flagger_statuses() == ROLL_BACK
    assert rig.signals == []  # nothing goes to the runbooks before the cycle settles it
    rig.clock.advance(60)
    rig.loop.cycle()  # settles the approved verdict as done, and hands it to the runbooks
    record = ledger.get_decision(decision_id)
    assert record is not None and record.status == "done"
    (signal,) = rig.signals  # the canary-rollback runbook carries out a native rollback
    assert (signal.kind, signal.name, str(signal.target)) == ("canary", "rollback", record.subject)
    assert signal.confidence >= 0.99  # a person looked
    assert signal.evidence["verdict_decision"] == decision_id
    # What was judged, for the runbook to compare with the canary it plans on.
    assert signal.evidence["images"] == record.proposal["images"] != []
    assert signal.dedup_key.endswith("/rollback") and "/rev" in signal.dedup_key
    rig.clock.advance(60)
    rig.loop.cycle()
    assert len(rig.signals) == 1  # once
    body = rig.argo()
    assert (body["verdict"], body["route"], body["decision_status"]) == ("rollback", "ask", "done")
    assert rig.flagger_statuses() == ROLL_BACK


def test_a_rejected_rollback_lets_the_canary_go_on_but_not_be_promoted(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    rig = make(rigs, ledger, SLOW, mode="propose")
    decision_id = rig.judge_until_recorded()
    assert rig.decisions.answer(
        rig.question_of(decision_id), "rejected", "alice", "the latency is the new cache warming"
    )
    body = rig.argo()
    assert body["verdict"] == "continue" and body["judge_verdict"] == "rollback"
    assert body["decision_status"] == "rejected" and "rejected" in body["reason"]
    assert decision_id in body["reason"]
    assert rig.flagger_statuses() == {
        "rollout": 200,
        "untyped": 200,
        "confirm-rollout": 200,
        "confirm-traffic-increase": 200,
        "confirm-promotion": 425,
        "Promoting": 425,
    }
    rig.clock.advance(60)
    rig.loop.cycle()  # only approved verdicts become done: the rejection stands
    assert rig.argo()["verdict"] == "continue"


def test_an_unanswered_rollback_that_expired_is_held(ledger: Ledger, rigs: list[Rig]) -> None:
    rig = make(rigs, ledger, SLOW, mode="propose")
    decision_id = rig.judge_until_recorded()
    rig.clock.advance(TTL + 1)
    assert rig.decisions.expire_due() == [decision_id]
    body = rig.argo()
    assert body["verdict"] == "inconclusive" and body["decision_status"] == "expired"
    assert "nobody answered" in body["reason"] and decision_id in body["reason"]
    assert rig.flagger_statuses() == HOLD


def test_an_escalated_rollback_is_held(ledger: Ledger, rigs: list[Rig]) -> None:
    # Thresholds learnt for canary rollbacks that no verdict reaches: below ask, escalate.
    ledger.record_thresholds("canary/rollback", 1.0, 1.0, {"reason_code": "Test"}, 0.0)
    rig = make(rigs, ledger, SLOW)
    decision_id = rig.judge_until_recorded()
    body = rig.argo()
    assert (body["route"], body["decision_status"]) == ("escalate", "escalated")
    assert body["verdict"] == "inconclusive" and "escalated" in body["reason"]
    assert rig.flagger_statuses() == HOLD
    assert rig.signals == []
    assert decision_id in body["note"]


def test_an_automatic_rollback_is_carried_out_with_its_decision_shown(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    rig = make(rigs, ledger, SLOW)
    decision_id = rig.judge_until_recorded()
    assert [s.name for s in rig.signals] == ["rollback"]
    body = rig.argo()
    assert (body["verdict"], body["route"], body["decision_status"]) == (
        "rollback",
        "auto",
        "approved",
    )
    assert body["reason"] == body["judge_reason"]  # the judge's own reason code
    assert rig.flagger_statuses() == ROLL_BACK
    rig.clock.advance(60)
    rig.loop.cycle()
    assert rig.argo()["decision_status"] == "done"
    assert rig.flagger_statuses() == ROLL_BACK
    assert decision_id == rig.argo()["decision_id"]


def test_a_promotion_waits_for_its_approval(ledger: Ledger, rigs: list[Rig]) -> None:
    rig = make(rigs, ledger, HEALTHY)
    decision_id = rig.judge_until_recorded()
    record = ledger.get_decision(decision_id)
    # The healthy canary is promoted with a confidence between the canary's ask (0.5)
    # and automatic (0.9) thresholds: a person approves the promotion.
    assert record is not None and record.proposal["verdict"] == "promote"
    assert (record.route, record.status) == ("ask", "asked")
    before = rig.argo()
    assert before["verdict"] == "inconclusive" and before["judge_verdict"] == "promote"
    assert rig.flagger_statuses() == HOLD
    assert rig.decisions.answer(rig.question_of(decision_id), "approved", "alice")
    assert rig.argo()["verdict"] == "promote"
    assert rig.flagger_statuses() == PROMOTE
    rig.clock.advance(60)
    rig.loop.cycle()
    after = rig.argo()
    assert (after["verdict"], after["decision_status"]) == ("promote", "done")
    assert rig.flagger_statuses() == PROMOTE


def test_a_rejected_promotion_is_held(ledger: Ledger, rigs: list[Rig]) -> None:
    rig = make(rigs, ledger, HEALTHY)
    decision_id = rig.judge_until_recorded()
    assert rig.decisions.answer(rig.question_of(decision_id), "rejected", "alice")
    body = rig.argo()
    assert (body["verdict"], body["decision_status"]) == ("inconclusive", "rejected")
    assert "holding the promotion" in body["reason"] and decision_id in body["reason"]
    assert rig.flagger_statuses() == HOLD


def test_observe_mode_reports_the_judges_verdict_and_says_nothing_was_decided(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    rig = make(rigs, ledger, SLOW, mode="observe")
    decision_id = rig.judge_until_recorded()
    body = rig.argo()
    assert (body["verdict"], body["route"], body["decision_status"]) == (
        "rollback",
        "observe",
        "observed",
    )
    assert body["decision_id"] == decision_id and "observe mode" in body["note"]
    assert rig.flagger_statuses() == ROLL_BACK
    assert rig.signals == []


def test_before_the_verdict_is_final_the_payload_names_no_decision(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    rig = make(rigs, ledger, HEALTHY)
    unknown = rig.argo()
    assert unknown["verdict"] == "continue" and unknown["decision_id"] is None
    rig.clock.advance(60)
    rig.loop.cycle()
    early = rig.argo()
    assert early["verdict"] == "continue" and early["judge_verdict"] == "continue"
    assert (early["decision_id"], early["route"], early["decision_status"]) == (None, None, None)
    assert rig.flagger().status == 200
    assert rig.flagger("confirm-promotion").status == 425


def test_an_unreadable_ledger_holds_an_asked_verdict_instead_of_failing(
    ledger: Ledger, rigs: list[Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = make(rigs, ledger, SLOW, mode="propose")
    decision_id = rig.judge_until_recorded()

    def unreachable(_: str) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(ledger, "get_decision", unreachable)
    body = rig.argo()
    assert body["verdict"] == "inconclusive" and body["decision_status"] is None
    assert "could not be read" in body["reason"] and decision_id in body["reason"]
    assert rig.flagger_statuses() == HOLD  # a check passes rather than count a failure


def test_an_unreadable_ledger_keeps_an_automatic_rollback(
    ledger: Ledger, rigs: list[Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = make(rigs, ledger, SLOW)
    rig.judge_until_recorded()

    def unreachable(_: str) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(ledger, "get_decision", unreachable)
    body = rig.argo()
    assert (body["verdict"], body["route"], body["decision_status"]) == ("rollback", "auto", None)
    assert rig.flagger_statuses() == ROLL_BACK


@pytest.mark.parametrize(
    ("judged", "route", "status", "answer", "hold"),
    [
        ("rollback", "auto", "approved", "rollback", False),
        ("rollback", "ask", "done", "rollback", False),
        ("promote", "ask", "approved", "promote", False),
        ("rollback", "ask", "asked", "inconclusive", True),
        ("rollback", "ask", "rejected", "continue", False),
        ("promote", "ask", "rejected", "inconclusive", True),
        ("promote", "ask", "expired", "inconclusive", True),
        ("promote", "escalate", "escalated", "inconclusive", True),
        ("inconclusive", "ask", "asked", "inconclusive", True),
        ("inconclusive", "ask", "approved", "inconclusive", True),
        ("inconclusive", "ask", "rejected", "inconclusive", True),
        ("inconclusive", "escalate", "escalated", "inconclusive", True),
        ("rollback", "observe", "observed", "rollback", False),
        ("promote", "shadow", "shadowed", "promote", False),
        ("rollback", "ask", "superseded", "inconclusive", True),  # unknown here: hold
        ("rollback", "ask", None, "inconclusive", True),
        ("rollback", "auto", None, "rollback", False),
    ],
)
def test_the_answer_for_each_route_and_status(
    judged: str, route: str, status: str | None, answer: str, hold: bool
) -> None:
    got, held, note = standing(judged, "d1", route, status, "could not be read")
    assert (got, held) == (answer, hold)
    assert "d1" in note


def test_recalibration_starts_from_the_thresholds_the_verdict_was_routed_with(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    rig = make(rigs, ledger, HEALTHY)
    decision_id = rig.judge_until_recorded()
    record = ledger.get_decision(decision_id)
    assert record is not None and record.decision_type == "canary/promote"
    assert (record.evidence["routing"]["auto"], record.evidence["routing"]["ask"]) == (0.9, 0.5)
    step = rig.decisions.recalibrate("canary/promote")
    assert (step.thresholds.auto, step.thresholds.ask) == (0.9, 0.5)  # not the global 0.95/0.6
    auto = rig.metrics.threshold.labels(decision_type="canary/promote", band="auto")
    assert auto._value.get() == 0.9


# ------------------------------------------------- did the verdict stick (outcomes)


def verdicts(ledger: Ledger, decision_id: str) -> list[tuple[str, str]]:
    return [
        (row["outcome"], row["detail"]["why"])
        for row in ledger.feedback_for(decision_id)
        if row["kind"] == "verification"
    ]


def cycles(rig: Rig, minutes: int) -> None:
    for _ in range(minutes):
        rig.clock.advance(60)
        rig.loop.cycle()


def test_a_rollback_that_stuck_for_an_hour_is_right(ledger: Ledger, rigs: list[Rig]) -> None:
    rig = make(rigs, ledger, SLOW)
    decision_id = rig.judge_until_recorded()
    cycles(rig, 30)
    assert verdicts(ledger, decision_id) == []  # still watching
    cycles(rig, 32)
    [(outcome, why)] = verdicts(ledger, decision_id)
    assert outcome == "right" and "stayed out of the stable" in why
    assert rig.decisions.track_record("canary/rollback")[0].right


def test_a_rollback_someone_overrode_is_wrong(ledger: Ledger, rigs: list[Rig]) -> None:
    rig = make(rigs, ledger, SLOW)
    decision_id = rig.judge_until_recorded()
    cycles(rig, 10)
    cast(Any, rig.loop.cluster).roll_out(STABLE, "search:4")  # promoted by hand anyway
    cycles(rig, 1)
    [(outcome, why)] = verdicts(ledger, decision_id)
    assert outcome == "wrong" and "became the stable's" in why
    assert not rig.decisions.track_record("canary/rollback")[0].right


@pytest.mark.parametrize("undone", [False, True])
def test_a_promotion_is_right_if_it_is_kept_and_wrong_if_it_is_undone(
    ledger: Ledger, rigs: list[Rig], undone: bool
) -> None:
    rig = make(rigs, ledger, HEALTHY)
    decision_id = rig.judge_until_recorded()
    assert rig.decisions.answer(rig.question_of(decision_id), "approved", "alice")
    cycles(rig, 2)
    cluster = cast(Any, rig.loop.cluster)
    cluster.roll_out(STABLE, "search:4")  # the delivery tool promotes
    cycles(rig, 10)
    if undone:
        cluster.roll_out(STABLE, "search:3")  # and someone puts the old release back
    cycles(rig, 55)
    [(outcome, why)] = verdicts(ledger, decision_id)
    if undone:
        assert outcome == "wrong" and "went back to the release it replaced" in why
    else:
        assert outcome == "right" and "kept it" in why


def test_a_promotion_never_carried_out_gets_no_verdict(ledger: Ledger, rigs: list[Rig]) -> None:
    rig = make(rigs, ledger, HEALTHY)
    decision_id = rig.judge_until_recorded()
    assert rig.decisions.answer(rig.question_of(decision_id), "approved", "alice")
    cycles(rig, 62)
    [(outcome, why)] = verdicts(ledger, decision_id)
    assert outcome == "unverified" and "not promoted" in why
    assert rig.decisions.track_record("canary/promote") == []


def test_a_restarted_loop_goes_on_watching(ledger: Ledger, rigs: list[Rig]) -> None:
    rig = make(rigs, ledger, SLOW)
    decision_id = rig.judge_until_recorded()
    cycles(rig, 5)
    fresh = CanaryLoop(
        rig.loop.settings,
        reader=rig.loop.reader,
        cluster=rig.loop.cluster,
        decisions=rig.decisions,
        clock=rig.clock,
        submit=rig.signals.extend,
    )
    rig.loop = fresh
    cycles(rig, 10)
    cast(Any, fresh.cluster).roll_out(STABLE, "search:4")
    cycles(rig, 1)
    [(outcome, _)] = verdicts(ledger, decision_id)
    assert outcome == "wrong"


def test_a_verdict_acted_on_late_is_watched_after_a_restart(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    """A rollback verdict made two hours (or three days) ago and approved ten minutes
    ago (a late answer): a restarted loop still watches it; one acted on over an hour
    ago is closed as unverified."""
    rig = make(rigs, ledger, SLOW)
    now = rig.clock.now()

    def verdict(made: float, acted: float) -> str:
        decision_id = ledger.record_decision(approved_rollback(STABLE), made)
        assert ledger.transition(decision_id, ["approved"], "done", acted)
        return decision_id

    late = verdict(now - 7200.0, now - 600.0)
    days_late = verdict(now - 3 * 86400.0, now - 600.0)
    old = verdict(now - 7200.0, now - 4000.0)
    rig.loop.cycle()
    assert late in rig.loop.watching and days_late in rig.loop.watching
    assert old not in rig.loop.watching
    # the old one's hour ended while the loop was down: closed, and it says why
    [(outcome, why)] = verdicts(ledger, old)
    assert outcome == "unverified" and "not running" in why
    rig.loop.cycle()
    assert len(verdicts(ledger, old)) == 1  # said once


def restarted(rig: Rig) -> CanaryLoop:
    """A new loop over the same cluster, metrics and ledger (a restart, a new leader)."""
    rig.loop = CanaryLoop(
        rig.loop.settings,
        reader=rig.loop.reader,
        cluster=rig.loop.cluster,
        decisions=rig.decisions,
        clock=rig.clock,
        submit=rig.signals.extend,
    )
    return rig.loop


def test_a_restart_answers_from_the_recorded_verdict_and_does_not_ask_again(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    """A rollback waiting for a person when the daemon restarts stays held (Flagger's gates
    wait), and the same canary revision is neither judged nor asked about a second time."""
    rig = make(rigs, ledger, SLOW, mode="propose")
    decision_id = rig.judge_until_recorded()
    assert rig.flagger_statuses() == HOLD
    restarted(rig)
    cycles(rig, 1)
    body = rig.argo()
    assert (body["verdict"], body["decision_id"]) == ("inconclusive", decision_id)
    assert (body["judge_verdict"], body["judge_reason"]) == ("rollback", "CriticalRegression")
    assert rig.flagger_statuses() == HOLD
    cycles(rig, 60)
    assert [d.id for d in ledger.decisions(kind="canary")] == [decision_id]
    assert len(ledger.questions()) == 1


def test_a_restart_after_an_automatic_rollback_keeps_answering_rollback(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    rig = make(rigs, ledger, SLOW)
    decision_id = rig.judge_until_recorded()
    sent = len(rig.signals)
    # canary-rollback took it up before the restart (as the engine records it): a verdict
    # no runbook decision names is sent again (tests/unit/canary_loop/
    # test_canary_crash_restart.py).
    ledger.record_decision(
        Decision(
            kind="remediation",
            decision_type="canary-rollback/rollback",
            subject=str(CANARY),
            proposal={},
            confidence=0.75,
            reason_code="Canary",
            reason="rolled back",
            evidence={"signal": {"verdict_decision": decision_id}},
            model_version="runbook/1",
            route="auto",
            status="verified",
        ),
        rig.clock.now(),
    )
    restarted(rig)
    cycles(rig, 1)
    assert rig.argo()["verdict"] == "rollback" and rig.flagger_statuses() == ROLL_BACK
    assert len(rig.signals) == sent  # not sent to the runbooks a second time
    assert [d.id for d in ledger.decisions(kind="canary")] == [decision_id]


def test_a_release_rolled_out_after_a_rollback_is_not_answered_with_its_verdict(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    """The fixed release is rolled out and Flagger calls before the loop's next cycle:
    the rollback verdict on the release before is not the answer (to Flagger's first
    check, with the default threshold of 1, it would roll the fix back at once)."""
    rig = make(rigs, ledger, SLOW)
    decision_id = rig.judge_until_recorded()
    assert rig.flagger_statuses() == ROLL_BACK
    cast(Any, rig.loop.cluster).roll_out(CANARY, "search:5")  # no cycle since
    body = rig.argo()
    assert (body["verdict"], body["decision_id"]) == ("continue", None)
    assert "revision 2 (search:5)" in body["reason"] and "next cycle" in body["reason"]
    # Checks and the traffic gates pass, as for any canary not judged yet; promotion waits.
    assert rig.flagger_statuses() == {
        **PROMOTE,
        "confirm-promotion": 425,
        "Promoting": 425,
    }
    cycles(rig, 1)  # the loop takes the new release: judged afresh, not decided again
    assert rig.argo()["decision_id"] is None and rig.flagger("rollout").status == 200
    assert [d.id for d in ledger.decisions(kind="canary")] == [decision_id]


@pytest.mark.parametrize(
    ("slowdown", "mode", "status"),
    [(SLOW, "act", 200), (SLOW, "propose", 412), (HEALTHY, "act", 412)],
)
def test_a_rollback_webhook_rolls_back_only_on_a_rollback(
    ledger: Ledger, rigs: list[Rig], slowdown: float, mode: Mode, status: int
) -> None:
    """Flagger rolls back on a 2xx from a ``rollback`` webhook: a healthy canary, or a
    rollback still waiting for a person, must not get one."""
    rig = make(rigs, ledger, slowdown, mode=mode)
    assert rig.flagger("rollback").status == 412  # not judged yet
    rig.judge_until_recorded()
    assert rig.flagger("rollback").status == status
    assert rig.flagger("rollback", phase="WaitingPromotion").status == status


def test_a_final_verdict_the_ledger_refused_is_recorded_at_the_next_cycle(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    """A locked ledger when the verdict is final: held meanwhile and saying why, then
    recorded and acted on once the ledger takes it (it used to hold for good)."""
    from agent.errors import TransientError

    rig = make(rigs, ledger, SLOW)
    record = ledger.record_decision
    refused: list[bool] = []

    def once_locked(*args: Any, **kwargs: Any) -> str:
        if not refused:
            refused.append(True)
            raise TransientError("database is locked")
        return record(*args, **kwargs)

    ledger.record_decision = once_locked  # type: ignore[method-assign]
    for _ in range(90):
        rig.clock.advance(60)
        rig.loop.cycle()
        if refused:
            break
    body = rig.argo()
    assert body["verdict"] == "inconclusive" and "database is locked" in body["note"]
    assert rig.flagger_statuses() == HOLD
    cycles(rig, 1)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "rollback" and decision.route == "auto"
    assert rig.argo()["decision_id"] == decision.id and rig.flagger_statuses() == ROLL_BACK
    assert [s.name for s in rig.signals] == ["rollback"]


def test_a_standby_holds_instead_of_answering_continue(ledger: Ledger, rigs: list[Rig]) -> None:
    """Both replicas serve the endpoints behind one Service, but only the leader judges:
    the standby's "continue" opened the gates the leader held for a person's answer."""
    rig = make(rigs, ledger, SLOW, mode="propose")
    rig.judge_until_recorded()
    assert rig.flagger_statuses() == HOLD
    leading = [True]
    rig.loop.is_leader = lambda: leading[0]
    assert rig.flagger_statuses() == HOLD
    leading[0] = False
    standby = CanaryLoop(
        rig.loop.settings,
        reader=rig.loop.reader,
        cluster=rig.loop.cluster,
        decisions=rig.decisions,
        clock=rig.clock,
        submit=rig.signals.extend,
        is_leader=lambda: False,
    )
    for loop in (rig.loop, standby):  # the leader that lost the lease, and a standby
        rig.loop = loop
        assert rig.flagger_statuses() == HOLD
        body = rig.argo()
        assert body["verdict"] == "inconclusive" and "standby" in body["note"]


def test_an_analysis_taken_up_after_restarts_keeps_its_evidence(
    ledger: Ledger, rigs: list[Rig], tmp_path: Path
) -> None:
    """A daemon restarting every five minutes (fewer intervals than any metric needs)
    reads the analysis's earlier intervals back from Prometheus at each restart, so it
    reaches the verdict a daemon that never restarted reaches, at about the same time."""
    steady = make(rigs, ledger, HEALTHY)
    (reference,) = [steady.judge_until_recorded()]
    expected = ledger.get_decision(reference)
    assert expected is not None and expected.decision_type == "canary/promote"
    other = open_ledger(f"sqlite:///{tmp_path / 'restarting.sqlite'}", 0)
    try:
        rig = make(rigs, other, HEALTHY)
        begun = rig.clock.now()
        for _ in range(16):  # 80 minutes
            cycles(rig, 5)
            restarted(rig)
            if other.decisions(kind="canary"):
                break
        (decision,) = other.decisions(kind="canary")
        assert decision.decision_type == expected.decision_type
        assert abs(decision.created_at - expected.created_at) <= 5 * 60
        assert decision.created_at - begun < 3600 - 600  # well before the maximum
    finally:
        other.close()


def test_an_analysis_taken_up_after_restarts_keeps_its_maximum_duration(
    ledger: Ledger, rigs: list[Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the earlier intervals cannot be read back (Prometheus refuses the range
    query), each restart judges afresh; the start is in the ledger, so at the maximum
    duration, counted from the first start, the analysis ends and a person decides
    (before, a daemon restarting every five minutes never finished one)."""
    rig = make(rigs, ledger, HEALTHY)

    def refused(*_args: object, **_kwargs: object) -> list[object]:
        raise TransientError("Prometheus is down", reason="Unreachable")

    monkeypatch.setattr(rig.loop.reader, "range", refused)
    first = rig.clock.now() + 60
    for _ in range(16):  # 80 minutes
        cycles(rig, 5)
        restarted(rig)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.decision_type == "canary/inconclusive"
    assert "maximum duration" in decision.reason
    assert 3600 - 60 <= decision.created_at - first <= 3600  # the first interval counts whole
    assert len(ledger.guard_keys("canary/started/")) == 1


def test_an_analysis_started_again_in_the_same_process_gets_a_new_clock(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    """One that ended before a verdict (its label removed, say) and comes back starts
    afresh: its earlier start does not end it at once."""
    rig = make(rigs, ledger, HEALTHY)
    cycles(rig, 5)  # fewer intervals than any metric needs: no verdict yet
    cluster = cast(Any, rig.loop.cluster)
    canary = cluster.workloads[CANARY]
    labels = dict(canary.labels)
    canary.labels = {k: v for k, v in labels.items() if k != CANARY_OF}
    cycles(rig, 60)  # gone for longer than the maximum duration: the analysis ended
    canary.labels = labels
    cycles(rig, 5)
    assert ledger.decisions(kind="canary") == []  # not ended at once on the old clock


def ask(loop: CanaryLoop, namespace: str, canary: str) -> tuple[int, dict[str, int]]:
    """(Argo's status, Flagger's status per kind of webhook) for a name."""
    argo = loop.argo(
        Request("GET", "/canary/verdict", {"namespace": [namespace], "canary": [canary]}, {}, b"")
    )
    flagger: dict[str, int] = {}
    for hook in ("rollout", "", "confirm-rollout", "confirm-traffic-increase", "confirm-promotion"):
        body: dict[str, Any] = {"name": canary, "namespace": namespace, "phase": "Progressing"}
        if hook:
            body["metadata"] = {"type": hook}
        request = Request("POST", "/canary/flagger", {}, {}, json.dumps(body).encode())
        flagger[hook or "untyped"] = loop.flagger(request).status
    return argo.status, flagger


NOT_FOUND = dict.fromkeys(("rollout", "untyped", "confirm-rollout", "confirm-traffic-increase",
                           "confirm-promotion"), 404)  # fmt: skip


def test_a_name_that_is_no_canary_is_a_404_not_continue(ledger: Ledger, rigs: list[Rig]) -> None:
    """A typo in the analysis's canary name answered "continue": to Flagger a passing
    check (the rollout went on, judged by nothing), to Argo an inconclusive measurement.
    A name no Deployment or StatefulSet has, in the namespace asked, is a 404 saying so:
    Argo counts an error (the rollout aborts past consecutiveErrorLimit), Flagger a
    failed check (a rollback past its threshold) or a gate that does not open."""
    rig = make(rigs, ledger, HEALTHY)
    # The real canary, not judged yet (no cycle has run): still "continue", as before.
    assert rig.argo()["verdict"] == "continue" and rig.flagger("rollout").status == 200
    for namespace, name in (("shop", "serch-canary"), ("shops", "search-canary")):
        status, flagger = ask(rig.loop, namespace, name)
        assert (status, flagger) == (404, NOT_FOUND)
        response = rig.loop.argo(
            Request("GET", "/canary/verdict", {"namespace": [namespace], "canary": [name]}, {}, b"")
        )
        body = json.loads(response.body)
        assert "verdict" not in body and (body["namespace"], body["canary"]) == (namespace, name)
        assert body["error"] == (
            f"{namespace}/{name} is not a canary Autonomic judges: no Deployment, StatefulSet "
            f"or Argo Rollout named {name} in namespace {namespace} (of those Autonomic reads); "
            "check the "
            "name and namespace the delivery tool asks for"
        )


def test_an_argo_rollout_with_no_canary_to_judge_is_a_404_saying_why(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    """An opted-in Rollout is judged while its canary strategy rolls a canary ReplicaSet
    out (``tests/integration/kube/test_rollout_canary.py``); one with no canary to judge
    (here: no strategy) is a 404 that says so, not "continue" for ever."""
    rig = make(rigs, ledger, HEALTHY)
    cluster = cast(SimCluster, rig.loop.cluster)
    rollout = ObjectRef("Rollout", "checkout", "shop")
    cluster.add_workload(
        SimWorkload(rollout, 3, {1: Template("checkout:2")}, 1, 80, 30,
                    labels={"autonomic.dev/enabled": "true",
                            "autonomic.dev/judge-canary": "true"})
    )  # fmt: skip
    status, flagger = ask(rig.loop, "shop", "checkout")
    assert (status, flagger) == (404, NOT_FOUND)
    body = json.loads(rig.loop.argo(
        Request("GET", "/canary/verdict", {"namespace": ["shop"], "canary": ["checkout"]}, {}, b"")
    ).body)  # fmt: skip
    assert "Rollout shop/checkout has no strategy" in body["error"]
    assert (
        "judges the new ReplicaSet of a Rollout with the canary strategy (spec.strategy.canary) "
        "or the blueGreen strategy (spec.strategy.blueGreen) only"
    ) in body["error"]
    assert "no Deployment, StatefulSet" not in body["error"]


def test_a_workload_not_labelled_or_not_opted_in_is_a_404_saying_which(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    rig = make(rigs, ledger, HEALTHY)
    cluster = cast(SimCluster, rig.loop.cluster)
    # The stable itself (a common slip: the analysis names the stable, not the canary).
    status, _ = ask(rig.loop, "shop", "search")
    body = json.loads(rig.loop.argo(
        Request("GET", "/canary/verdict", {"namespace": ["shop"], "canary": ["search"]}, {}, b"")
    ).body)  # fmt: skip
    assert status == 404
    assert "Deployment shop/search has no autonomic.dev/canary-of label" in body["error"]
    del cluster._workload_for(CANARY).labels["autonomic.dev/enabled"]
    assert ask(rig.loop, "shop", "search-canary") == (404, NOT_FOUND)
    body = json.loads(
        rig.loop.argo(
            Request(
                "GET", "/canary/verdict", {"namespace": ["shop"], "canary": ["search-canary"]},
                {}, b"",
            )
        ).body
    )  # fmt: skip
    assert 'is not opted in (autonomic.dev/enabled: "true")' in body["error"]


def test_a_canary_created_since_the_last_cycle_is_not_judged_yet_not_unknown(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    """The loop learns of a canary at its next cycle (a minute); the endpoints look in the
    cluster, so a canary its delivery tool asks about before then is "not judged yet"."""
    rig = make(rigs, ledger, HEALTHY)
    rig.judge_until_recorded()
    cluster = cast(SimCluster, rig.loop.cluster)
    late = ObjectRef("StatefulSet", "cart-canary", "shop")
    labels = {"autonomic.dev/enabled": "true", CANARY_OF: "cart"}
    cluster.add_workload(SimWorkload(late, 1, {1: Template("cart:2")}, 1, 80, 30, labels=labels))
    status, flagger = ask(rig.loop, "shop", "cart-canary")
    assert status == 200 and flagger["rollout"] == 200 and flagger["confirm-promotion"] == 425
    body = json.loads(
        rig.loop.argo(
            Request(
                "GET", "/canary/verdict", {"namespace": ["shop"], "canary": ["cart-canary"]},
                {}, b"",
            )
        ).body
    )  # fmt: skip
    assert body["verdict"] == "continue" and body["reason"] == "no interval judged yet"


def test_a_cluster_that_cannot_be_read_holds_rather_than_calls_a_name_unknown(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    """Whether a name exists cannot be told without the cluster: held (Flagger's plain
    checks pass, its gates wait), never a 404 (a rollback) nor a 500 (a failed check)."""
    rig = make(rigs, ledger, HEALTHY)

    def unreachable(ref: ObjectRef) -> None:
        raise TransientError("get deployments failed (network failure)", reason="Unavailable")

    rig.loop.cluster.get_workload = unreachable  # type: ignore[assignment,method-assign]
    status, flagger = ask(rig.loop, "shop", "serch-canary")
    assert status == 200 and flagger == HOLD_CHECKS
    body = rig.argo()  # the real name: no analysis yet either, so looked up, and held
    assert body["verdict"] == "inconclusive"
    assert body["note"].startswith("the cluster could not be read to tell whether it exists")


HOLD_CHECKS = {k: v for k, v in HOLD.items() if k != "Promoting"}


def test_a_standby_answers_an_unknown_name_with_a_404_too(ledger: Ledger, rigs: list[Rig]) -> None:
    """A standby judges nothing, but reads the same cluster: a typo is a 404 from either
    replica, and the real name is held by the standby as before."""
    rig = make(rigs, ledger, HEALTHY)
    rig.loop.is_leader = lambda: False
    assert ask(rig.loop, "shop", "serch-canary") == (404, NOT_FOUND)
    assert rig.flagger_statuses() == HOLD and rig.argo()["verdict"] == "inconclusive"


def test_a_rollback_approved_after_the_canary_moved_on_is_not_handed_on(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    """The canary was rolled out again (a fix) while the rollback question was open. The
    canary-rollback runbook rolls back whatever revision the Deployment is at: the
    approval used to be handed on and would have rolled back the fix. It is closed as
    superseded, with why, and nothing goes to the runbooks. (Approved before the loop's
    next cycle: once the loop sees the fix, it closes the question itself, below.)"""
    rig = make(rigs, ledger, SLOW, mode="propose")
    decision_id = rig.judge_until_recorded()
    rig.cluster.roll_out(CANARY, "search:5")  # the fix, rolled out while the question waits
    assert rig.decisions.answer(rig.question_of(decision_id), "approved", "alice")
    rig.clock.advance(60)
    rig.loop.cycle()
    record = ledger.get_decision(decision_id)
    assert record is not None and record.status == "superseded"
    assert rig.signals == []  # nothing to the runbooks
    (closed,) = [f for f in ledger.feedback_for(decision_id) if f["kind"] == "execution"]
    assert closed["outcome"] == "superseded"
    assert (
        "is now at revision 2 (search:5), not the revision 1 (search:4)"
        in (closed["detail"]["why"])
    )
    rig.clock.advance(60)
    rig.loop.cycle()
    assert rig.signals == [] and ledger.get_decision(decision_id).status == "superseded"  # type: ignore[union-attr]


def test_a_rollback_overtaken_keeps_its_why_though_the_ledger_fails_midway(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    """As above, and the ledger goes away right after the approved rollback is closed
    ``superseded``. The closing and its ``execution`` row, with why, were two
    transactions: the verdict stayed closed with no why for ``autonomic explain``, and
    nothing came back to it (no longer approved). They are one transaction now."""
    rig = make(rigs, ledger, SLOW, mode="propose")
    decision_id = rig.judge_until_recorded()
    rig.cluster.roll_out(CANARY, "search:5")
    assert rig.decisions.answer(rig.question_of(decision_id), "approved", "alice")
    gone = GoneAfterClosing(ledger, "superseded", ("transition", "add_feedback"))
    rig.clock.advance(60)
    with contextlib.suppress(TransientError):  # the cycle's next write, if any
        rig.loop.cycle()
    assert gone.happened  # closed, and the ledger went away after it
    gone.back()
    for _ in range(2):
        rig.clock.advance(60)
        rig.loop.cycle()
    record = ledger.get_decision(decision_id)
    assert record is not None and record.status == "superseded"
    assert rig.signals == []
    rows = [f for f in ledger.feedback_for(decision_id) if f["kind"] == "execution"]
    assert [(f["outcome"], f["detail"]["reason"]) for f in rows] == [
        ("superseded", "CanaryMovedOn")
    ]


def superseded_story(ledger: Ledger, decision_id: str) -> tuple[Any, list[dict[str, Any]]]:
    """The decision's question and its feedback, once closed as superseded."""
    record = ledger.get_decision(decision_id)
    assert record is not None and record.status == "superseded"
    (question,) = ledger.questions_for([decision_id])
    return question, ledger.feedback_for(decision_id)


@pytest.mark.parametrize(
    ("settle", "why"),
    [
        (
            lambda rig: rig.cluster.roll_out(CANARY, "search:5"),
            "no longer needed: Deployment/shop/search-canary is now at revision 2 (search:5), "
            "not the revision 1 (search:4) that was judged",
        ),
        (
            lambda rig: rig.cluster.roll_out(STABLE, "search:4"),
            "no longer needed: its stable Deployment/shop/search now runs search:4, the "
            "release judged: it was promoted",
        ),
        (
            lambda rig: setattr(rig.cluster.workloads[CANARY], "replicas", 0),
            "no longer needed: Deployment/shop/search-canary is scaled to zero replicas",
        ),
    ],
    ids=["rolled-out-again", "promoted", "scaled-to-zero"],
)
def test_a_question_the_rollout_was_settled_without_is_closed_not_left_to_expire(
    ledger: Ledger, rigs: list[Rig], settle: Any, why: str
) -> None:
    """The rollback question is open when the canary is settled without it (a fix rolled
    out, Flagger promoting it to its -primary, Flagger scaling it to zero once it rolled
    back). It used to stay open until it expired, and its expiry escalated a question that
    meant nothing. Now the next cycle closes it as superseded, saying why; it is not
    escalated, nothing is counted right or wrong, and a later answer changes nothing."""
    rig = make(rigs, ledger, SLOW, mode="propose")
    decision_id = rig.judge_until_recorded()
    question_id = rig.question_of(decision_id)
    settle(rig)
    rig.clock.advance(60)
    rig.loop.cycle()
    question, feedback = superseded_story(ledger, decision_id)
    assert question.status == "superseded" and question.answered_by == "autonomic"
    assert question.answer_reason.startswith(why)
    assert [(f["kind"], f["outcome"]) for f in feedback] == [("superseded", "superseded")]
    assert feedback[0]["detail"]["reason"] == "CanaryMovedOn"
    # A late approval is refused and changes nothing; nor does the TTL running out.
    assert not rig.decisions.answer(question_id, "approved", "alice")
    outcome = rig.approvals.answer(question_id, "approved", "bob", rig.clock.now())
    assert (outcome.accepted, outcome.code) == (False, "Superseded")
    assert "already settled" in outcome.message and why in outcome.message
    rig.clock.advance(TTL)
    assert rig.decisions.expire_due() == []
    rig.clock.advance(60)
    rig.loop.cycle()
    question, feedback = superseded_story(ledger, decision_id)
    assert question.status == "superseded" and rig.signals == []
    assert [f["kind"] for f in feedback] == ["superseded"]  # no escalation, no verdict
    assert ledger.outcomes("canary/rollback") == []  # nobody's answer: not in the track record


def test_an_unchanged_canary_keeps_its_question_open(ledger: Ledger, rigs: list[Rig]) -> None:
    """Nothing settled the rollout: the question stays open for its answer."""
    rig = make(rigs, ledger, SLOW, mode="propose")
    decision_id = rig.judge_until_recorded()
    for _ in range(3):
        rig.clock.advance(60)
        rig.loop.cycle()
    record = ledger.get_decision(decision_id)
    assert record is not None and record.status == "asked"
    assert rig.decisions.answer(rig.question_of(decision_id), "approved", "alice")


def flagger_payload(hook: str | None, phase: str) -> bytes:
    """A webhook body as Flagger's ``CallWebhook`` marshals ``CanaryWebhookPayload``
    (fluxcd/flagger pkg/controller/webhook.go): name, namespace, phase, checksum, and
    the webhook's own ``metadata`` (strings only); the webhook's type is not in it."""
    body: dict[str, Any] = {
        "name": "search-canary",
        "namespace": "shop",
        "phase": phase,
        "checksum": "5d7f8c9b4",
    }
    if hook is not None:
        body["metadata"] = {"type": hook, "cmd": "ignored"}
    return json.dumps(body).encode()


# The phase Flagger sends with each kind of webhook (pkg/controller/scheduler_hooks.go,
# scheduler.go): the gates and the checks "Progressing" whatever the canary's phase;
# confirm-rollout and rollback the canary's phase; post-rollout "Succeeded" or "Failed".
FLAGGER_CALLS = [
    ("rollout", "Progressing"),
    ("confirm-rollout", "Progressing"),
    ("confirm-traffic-increase", "Progressing"),
    ("confirm-promotion", "Progressing"),
    ("rollback", "WaitingPromotion"),
]


def test_the_answers_to_webhooks_shaped_as_flagger_sends_them(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    """A promotion waiting for its approval, asked by each kind of webhook as real Flagger
    calls it. Flagger calls a confirm-promotion webhook with phase "Progressing", never
    "Promoting", so only ``metadata.type`` makes it a gate: without the type it is a plain
    check, and a plain check passes while a person decides."""
    rig = make(rigs, ledger, HEALTHY)
    rig.judge_until_recorded()

    def status(hook: str | None, phase: str) -> int:
        request = Request("POST", "/canary/flagger", {}, {}, flagger_payload(hook, phase))
        return rig.loop.flagger(request).status

    assert {hook: status(hook, phase) for hook, phase in FLAGGER_CALLS} == {
        "rollout": 200,
        "confirm-rollout": 425,
        "confirm-traffic-increase": 425,
        "confirm-promotion": 425,
        "rollback": 412,
    }
    assert status(None, "Progressing") == 200  # an untyped confirm-promotion: not a gate
    assert status("post-rollout", "Succeeded") == 200  # told after the fact; only logged


def post_rollout(rig: Rig, phase: str, hook: str | None = "post-rollout") -> Response:
    """Flagger's post-rollout call, shaped as it sends it (``flagger_payload``)."""
    request = Request("POST", "/canary/flagger", {}, {}, flagger_payload(hook, phase))
    return rig.loop.flagger(request)


@pytest.mark.parametrize(
    ("slowdown", "phase", "why"),
    [
        (
            SLOW,
            "Failed",
            "no longer needed: Flagger reported the rollout of Deployment/shop/search-canary "
            "Failed (its post-rollout webhook): it rolled the canary back",
        ),
        (
            HEALTHY,
            "Succeeded",
            "no longer needed: Flagger reported the rollout of Deployment/shop/search-canary "
            "Succeeded (its post-rollout webhook): it promoted the canary",
        ),
    ],
    ids=["rolled-back", "promoted"],
)
def test_flaggers_post_rollout_closes_the_open_question_at_once(
    ledger: Ledger, rigs: list[Rig], slowdown: float, phase: str, why: str
) -> None:
    """Flagger ended the rollout while the question about its verdict was open: its
    post-rollout webhook says so, and the question is closed then, as superseded, not at
    the loop's next cycle (which sees the canary settled only once its objects show it)."""
    rig = make(rigs, ledger, slowdown, mode="propose")
    decision_id = rig.judge_until_recorded()
    question_id = rig.question_of(decision_id)
    response = post_rollout(rig, phase)
    assert response.status == 200
    body = json.loads(response.body)
    assert (body["decision_id"], body["decision_status"]) == (decision_id, "superseded")
    question, feedback = superseded_story(ledger, decision_id)  # no cycle ran
    assert question.status == "superseded" and question.answered_by == "autonomic"
    assert question.answer_reason.startswith(why)
    assert [(f["kind"], f["outcome"]) for f in feedback] == [("superseded", "superseded")]
    assert feedback[0]["detail"]["reason"] == "CanaryMovedOn"
    # Flagger calls its post-rollout hooks once; a second call changes nothing.
    assert post_rollout(rig, phase).status == 200
    assert [f["kind"] for f in ledger.feedback_for(decision_id)] == ["superseded"]
    outcome = rig.approvals.answer(question_id, "approved", "bob", rig.clock.now())
    assert (outcome.accepted, outcome.code) == (False, "Superseded")
    rig.clock.advance(60)
    rig.loop.cycle()
    assert rig.signals == [] and ledger.outcomes(f"canary/{body['judge_verdict']}") == []


def test_post_rollout_changes_no_verdict_otherwise(ledger: Ledger, rigs: list[Rig]) -> None:
    """Only an open question is closed, and only by a typed post-rollout saying
    Succeeded or Failed; a decision acted on, answered or expired stands."""
    rig = make(rigs, ledger, SLOW, mode="propose")
    decision_id = rig.judge_until_recorded()
    assert post_rollout(rig, "Progressing").status == 200  # no end of rollout
    assert post_rollout(rig, "Failed", hook=None).status == 200  # untyped: a plain check
    assert post_rollout(rig, "Failed", hook="rollout").status == 200  # a check: held
    record = ledger.get_decision(decision_id)
    assert record is not None and record.status == "asked"
    # A standby (or a leader that lost the lease) names no decision: nothing closed.
    rig.loop.is_leader = lambda: False
    assert post_rollout(rig, "Failed").status == 200
    assert ledger.get_decision(decision_id).status == "asked"  # type: ignore[union-attr]
    rig.loop.is_leader = None
    assert rig.decisions.answer(rig.question_of(decision_id), "rejected", "alice")
    assert post_rollout(rig, "Failed").status == 200
    assert ledger.get_decision(decision_id).status == "rejected"  # type: ignore[union-attr]
    assert rig.argo()["verdict"] == "continue"  # the rejection still stands


def test_post_rollout_after_an_automatic_rollback_keeps_it(ledger: Ledger, rigs: list[Rig]) -> None:
    rig = make(rigs, ledger, SLOW)  # act mode: the rollback is routed auto
    decision_id = rig.judge_until_recorded()
    response = post_rollout(rig, "Failed")
    assert response.status == 200  # told after the fact: no failed hook in Flagger's log
    body = json.loads(response.body)
    assert (body["verdict"], body["decision_status"]) == ("rollback", "approved")
    rig.clock.advance(60)
    rig.loop.cycle()
    assert ledger.get_decision(decision_id).status == "done"  # type: ignore[union-attr]
    assert [s.name for s in rig.signals] == ["rollback"]


def test_a_post_rollout_without_the_canary_token_closes_nothing(
    ledger: Ledger, rigs: list[Rig]
) -> None:
    """/canary/flagger had no authentication: any caller that could reach the pod could
    close the open question about a canary's verdict with a post-rollout call. With
    canary.token set, a call without it (401) or with another (403) changes nothing; one
    with it, in Flagger's metadata or as a bearer token, is served."""
    rig = make(rigs, ledger, SLOW, mode="propose")
    decision_id = rig.judge_until_recorded()
    refused: list[str] = []
    caller = CallerToken(
        SecretStr("c4nary"), setting="canary.token", clock=rig.clock.now, refused=refused.append
    )
    flagger = caller.guard(rig.loop.flagger, in_metadata=True)
    argo = caller.guard(rig.loop.argo)

    def post(headers: dict[str, str], token: str | None) -> Response:
        body = json.loads(flagger_payload("post-rollout", "Failed"))
        if token is not None:
            body["metadata"]["token"] = token
        return flagger(Request("POST", "/canary/flagger", {}, headers, json.dumps(body).encode()))

    def verdict(headers: dict[str, str]) -> int:
        query = {"namespace": ["shop"], "canary": ["search-canary"]}
        return argo(Request("GET", "/canary/verdict", query, headers, b"")).status

    for headers, token, expected in [
        ({}, None, 401),
        ({}, "guess", 403),
        ({"authorization": "Bearer guess"}, None, 403),
        ({"authorization": "Bearer guess"}, "c4nary", 403),  # a wrong header is not excused
        ({"authorization": "Basic YTpi"}, None, 403),
    ]:
        response = post(headers, token)
        assert response.status == expected
        assert b"c4nary" not in response.body
        assert (response.headers.get("WWW-Authenticate") is not None) == (expected == 401)
    assert [verdict({}), verdict({"authorization": "Bearer guess"})] == [401, 403]
    assert refused == ["missing", "wrong", "wrong", "wrong", "wrong", "missing", "wrong"]
    record = ledger.get_decision(decision_id)
    assert record is not None and record.status == "asked"  # nothing was closed
    assert [f["kind"] for f in ledger.feedback_for(decision_id)] == []
    assert verdict({"authorization": "bearer c4nary"}) == 200  # the scheme is any case
    response = post({}, "c4nary")  # Flagger sends no headers: the token in its metadata
    assert response.status == 200
    assert json.loads(response.body)["decision_status"] == "superseded"
    record = ledger.get_decision(decision_id)
    assert record is not None and record.status == "superseded"


def test_without_a_canary_token_the_endpoints_answer_anyone() -> None:
    caller = CallerToken(None, setting="canary.token", clock=lambda: 0.0)
    answered = json_response(200, {})
    request = Request("POST", "/canary/flagger", {}, {}, b"{}")
    assert caller.guard(lambda _r: answered, in_metadata=True)(request) is answered
    assert caller.headers_check(in_metadata=False)({"authorization": "Bearer x"}) is None
