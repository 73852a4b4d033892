"""An incident the automation refuses to handle is handed to a person, once.

A guard denial that means "the automation will not handle this" (a limit on how often
it may act reached, its circuit breaker open, a plan too big) records one escalated
decision of type ``held/<runbook>`` per runbook, target, reason and spell of the limit,
found again in the ledger after a restart; one that means someone or something is on
it (a cooldown, a run in flight) records none. None of them is ever executed, judged,
or counted in the runbook's record."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agent.cli.explain_cmd import render
from agent.errors import InputError
from agent.ids import short_id
from agent.ledger import DecisionRecord
from agent.remediation_engine import Handled
from agent.verdicts import judge
from remediation.ports import ObjectRef
from remediation.windows import to_utc_iso, to_utc_text
from tests.unit.engine.harness import WEB, Rig, latency_anomaly, restarted, rig, web

HOUR = 3600.0
API = ObjectRef("Deployment", "api", "shop")
RUNBOOK = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata: {name: latency-restart, description: restart on latency at most 3 times in 6h}
spec:
  mode: enforce
  maxAutonomy: auto
  triggers: [{type: anomaly, metric: latency_p99}]
  target: {kind: Deployment, requireLabels: {autonomic.dev/enabled: "true"}}
  actions: [{type: rolloutRestart}]
  verification:
    settle: 30s
    window: 5m
    checks: [CHECK]
  onFailure: {undo: false}
  guards:
    cooldownPerTarget: 10m
    maxActionsPerTarget: {count: 3, within: 6h}
    circuitBreaker: {failures: 2, openFor: 1h}
"""
PODS_READY = "{type: kubernetes, condition: podsReady}"
# No Prometheus in the rig: a PromQL check has no data, and the run fails verification.
NO_DATA = '{type: promql, query: "up", condition: "> 0"}'


def _rig(tmp_path: Path, check: str = PODS_READY, *, auto: float = 0.7) -> Rig:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "latency-restart.yaml").write_text(RUNBOOK.replace("CHECK", check))
    r = rig(tmp_path, runbooks=folder, auto=auto, ask=min(auto, 0.5))
    r.sim.add_workload(web())
    r.sim.add_workload(replace(web(), ref=API))
    return r


def _restarted(r: Rig) -> Rig:
    return restarted(r)


def _anomaly(r: Rig, target: ObjectRef = WEB, *, run: float = 600) -> Handled:
    return latency_anomaly(r, target, run=run)


def _hand_offs(r: Rig) -> list[DecisionRecord]:
    return r.ledger.decisions(kind="remediation", type_prefix="held/", limit=100)


def _escalations(r: Rig, record: DecisionRecord) -> list[str]:
    return [
        f["detail"]["why"] for f in r.ledger.feedback_for(record.id) if f["kind"] == "escalation"
    ]


def _nothing_ran_from(r: Rig, records: list[DecisionRecord]) -> None:
    ids = {h.id for h in records}
    for status in ("running", "verifying", "succeeded", "failed", "undone", "escalated"):
        assert not ids & {e["decision_id"] for e in r.ledger.executions([status])}
    for record in records:
        again = r.ledger.get_decision(record.id)
        assert again is not None and again.status == "escalated"


def test_a_fix_that_does_not_stick_is_handed_off_once_per_window(tmp_path: Path) -> None:
    r = _rig(tmp_path)
    ran = []
    for n in range(3):
        handled = _anomaly(r)
        assert handled.outcome == "decided" and handled.decision_id is not None
        ran.append(handled.decision_id)
        # Verified 10 minutes on, within the 10-minute cooldown of its start: a denial
        # for a run that just happened is not handed off while the runbook may act again
        # once the cooldown ends...
        cooling = _anomaly(r, run=60)
        assert (cooling.outcome, cooling.reason_code) == ("denied", "Cooldown")
        if n < 2:
            assert _hand_offs(r) == []
        r.clock.advance(HOUR)
    assert [r.ledger.get_decision(i).status for i in ran] == ["verified"] * 3  # type: ignore[union-attr]
    # ... but after the third run, the limit of 3 in 6h outlasts the cooldown: the fault
    # came back within the cooldown and the runbook will not act when it ends, so the
    # person hears of it then, not an hour later.
    (held,) = _hand_offs(r)
    assert held.created_at == pytest.approx(r.clock.now() - HOUR, abs=120)

    denied = _anomaly(r)
    assert (denied.outcome, denied.reason_code) == ("denied", "TargetRateLimit")
    assert [h.id for h in _hand_offs(r)] == [held.id]
    first_run = min(a.at for a in r.engine.guard_state()[0].actions if a.target == WEB)
    until = to_utc_text(first_run + 6 * HOUR)
    expected = (
        f"latency-restart has acted on {WEB} 3 times in the last 6h (decisions "
        f"{short_id(ran[0])} verified, {short_id(ran[1])} verified, {short_id(ran[2])} "
        "verified); it will not "
        f"act on it again until {until}: the cause is probably elsewhere. Find out why {WEB} "
        f"keeps coming back (`autonomic why {WEB}`)."
    )
    assert (held.decision_type, held.subject, held.route, held.status) == (
        "held/latency-restart",
        str(WEB),
        "escalate",
        "escalated",
    )
    assert (held.reason_code, held.reason) == ("TargetRateLimit", expected)
    assert held.proposal == {
        "action": "hold",
        "runbook": "latency-restart",
        "guard": "TargetRateLimit",
        "until": to_utc_iso(first_run + 6 * HOUR),  # machine-readable: ISO 8601
    }
    # Escalated through the approvals channel (here the ledger's: `autonomic approvals`).
    assert _escalations(r, held) == [expected]
    # `autonomic explain` says the guards handed it off, not that a confidence was low.
    story = render(r.ledger, held.id)
    assert (
        "route      escalate: handed to a person by the guards (TargetRateLimit); no "
        "confidence was judged and nothing was proposed to run" in story
    )
    assert "below the ask threshold" not in story

    # More signals in the same window: still denied, no new hand-off.
    r.clock.advance(HOUR)
    assert _anomaly(r).reason_code == "TargetRateLimit"
    assert _anomaly(r).reason_code == "TargetRateLimit"
    # Nor after a restart: the ledger knows the window was handed off.
    r = _restarted(r)
    assert _anomaly(r).reason_code == "TargetRateLimit"
    assert [h.id for h in _hand_offs(r)] == [held.id]

    # The window ends: the runbook acts again (a fourth time), and the next limit is a
    # new spell, handed off anew.
    r.clock.advance(first_run + 6 * HOUR - r.clock.now())
    again = _anomaly(r)
    assert again.outcome == "decided"
    r.clock.advance(900)
    assert _anomaly(r).reason_code == "TargetRateLimit"
    newest, oldest = _hand_offs(r)
    assert oldest.id == held.id and newest.reason_code == "TargetRateLimit"
    assert again.decision_id is not None and short_id(again.decision_id) in newest.reason
    _nothing_ran_from(r, [newest, oldest])


def test_a_hand_off_is_never_executed_judged_or_counted(tmp_path: Path) -> None:
    r = _rig(tmp_path)
    for _ in range(3):
        _anomaly(r)
        r.clock.advance(HOUR)
    _anomaly(r)
    (held,) = _hand_offs(r)
    r.run(600)
    r.engine.execute_approved()
    _nothing_ran_from(r, [held])
    # Nothing to call the fix or not: a verdict on it is refused, and from the chat too.
    with pytest.raises(InputError, match="hand-off"):
        judge(r.ledger, held, right=True, actor="alice", at=r.clock.now())
    said = r.decisions.approvals.judge(held.id, right=False, actor="alice", now=0.0, via="t")
    assert (said.accepted, said.code) == (False, "NotJudgeable")
    # The runbook's record holds its three verified runs, nothing of the hand-off.
    rows = r.ledger.outcomes("latency-restart/Deployment", limit=100)
    assert [verdict for _, _, verdict, _ in rows] == ["right"] * 3
    assert r.ledger.outcomes("held/latency-restart", limit=100) == []
    # Counted by type and route, apart from the runbook's own decisions.
    metric = r.decisions.metrics.decisions.labels(
        kind="remediation",
        decision_type="held/latency-restart",
        route="escalate",
        outcome="proposed",
    )
    assert metric._value.get() == 1
    # Not in the automation rate (the runbook acted alone three times out of three).
    r.decisions.publish_gauges(since=0.0)
    registry = r.decisions.metrics.registry
    rate = "autonomic_automation_rate"
    assert registry.get_sample_value(rate, {"decision_type": "latency-restart/Deployment"}) == 1.0
    assert registry.get_sample_value(rate, {"decision_type": "held/latency-restart"}) is None


def test_the_breaker_opening_is_handed_off_once(tmp_path: Path) -> None:
    # Low thresholds: the runbook still acts alone after its first failure.
    r = _rig(tmp_path, NO_DATA, auto=0.2)
    gauge = r.decisions.metrics.breaker_open.labels(runbook="latency-restart")
    first = _anomaly(r, WEB).decision_id
    second = _anomaly(r, API).decision_id
    assert first is not None and second is not None
    assert [r.ledger.get_decision(i).status for i in (first, second)] == ["failed"] * 2  # type: ignore[union-attr]
    (held,) = _hand_offs(r)
    assert (held.reason_code, held.subject, held.status) == ("CircuitOpen", str(API), "escalated")
    opened = r.engine.guard_state()[0].breakers["latency-restart"].opened_at
    assert opened is not None
    expected = (
        f"latency-restart failed 2 times in a row (decisions {short_id(first)} on {WEB} failed, "
        f"{short_id(second)} on {API} failed); its circuit breaker opened at {to_utc_text(opened)} "
        "and it will not act on any target until it half-opens at "
        f"{to_utc_text(opened + HOUR)}, when one trial run may go. Handle {API} yourself, "
        "and find out why its runs fail (`autonomic explain ID`)."
    )
    assert held.reason == expected
    assert len(_escalations(r, held)) == 1
    assert gauge._value.get() == 1.0
    # Signals denied while it is open, on either target, and after a restart: no more.
    assert _anomaly(r, WEB, run=60).reason_code == "CircuitOpen"
    r = _restarted(r)
    assert _anomaly(r, API, run=60).reason_code == "CircuitOpen"
    assert [h.id for h in _hand_offs(r)] == [held.id]
    _nothing_ran_from(r, [held])
    # Half-open an hour after opening: the gauge says the breaker no longer holds.
    r.clock.advance(opened + HOUR - r.clock.now())
    r.engine.cycle()
    assert gauge._value.get() == 0.0


def test_a_hand_off_in_slack_has_no_verdict_buttons(tmp_path: Path) -> None:
    """The escalation of a decision nobody acted on asks "was it the fix?"; a hand-off
    (or a storm's summary) proposed nothing, so its message has no such buttons."""
    from agent.adapters.slack_blocks import HINDSIGHT_BLOCK_ID, escalation_blocks

    r = _rig(tmp_path)
    for _ in range(3):
        _anomaly(r)
        r.clock.advance(HOUR)
    _anomaly(r)
    (held,) = _hand_offs(r)
    blocks = escalation_blocks(held, held.reason, "S123")
    assert HINDSIGHT_BLOCK_ID not in {b.get("block_id") for b in blocks}
    # The same escalation of one of the runbook's own decisions still has them.
    own = replace(held, decision_type="latency-restart/Deployment")
    assert HINDSIGHT_BLOCK_ID in {b.get("block_id") for b in escalation_blocks(own, "x", None)}


def _rig_hourly(tmp_path: Path, cooldown: str) -> Rig:
    """The runbook with a limit of two runs an hour across targets and ``cooldown``."""
    folder = tmp_path / "runbooks"
    folder.mkdir(parents=True)
    text = RUNBOOK.replace("CHECK", PODS_READY)
    text = text.replace("cooldownPerTarget: 10m", f"cooldownPerTarget: {cooldown}")
    text = text.replace("maxActionsPerTarget: {count: 3, within: 6h}", "maxActionsPerHour: 2")
    (folder / "latency-restart.yaml").write_text(text)
    r = rig(tmp_path, runbooks=folder, auto=0.7, ask=0.5)
    r.sim.add_workload(web())
    r.sim.add_workload(replace(web(), ref=API))
    return r


def test_a_limit_behind_a_cooldown_is_handed_off_only_if_it_outlasts_it(
    tmp_path: Path,
) -> None:
    # Runs on api, then web, ten minutes apart: the runbook's two an hour are spent. Web's
    # fault comes back within its 10-minute cooldown; the hourly limit holds for most of
    # an hour more, so the runbook will not act when the cooldown ends: handed off now.
    r = _rig_hourly(tmp_path / "outlasts", "10m")
    assert _anomaly(r, API, run=600).outcome == "decided"
    assert _anomaly(r, WEB, run=240).outcome == "decided"
    back = _anomaly(r, WEB, run=0)
    assert (back.outcome, back.reason_code) == ("denied", "Cooldown")
    (held,) = _hand_offs(r)
    assert (held.reason_code, held.subject) == ("RunbookRateLimit", str(WEB))
    assert held.reason.startswith("latency-restart has acted 2 times in the last hour")

    # A 50-minute cooldown outlasts the hourly limit instead (api's run leaves the hour
    # 40 minutes before web's cooldown ends): the runbook may act then, so no hand-off.
    r = _rig_hourly(tmp_path / "lifts", "50m")
    assert _anomaly(r, API, run=1800).outcome == "decided"
    assert _anomaly(r, WEB, run=240).outcome == "decided"
    back = _anomaly(r, WEB, run=0)
    assert (back.outcome, back.reason_code) == ("denied", "Cooldown")
    assert _hand_offs(r) == []
