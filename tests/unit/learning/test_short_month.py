"""A few simulated days of benchmarks/learning.py: the on-call's answers earn autonomy,
and the autonomy stays right (judged by the hidden ground truth, not by the ledger)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from agent.ledger import open_ledger
from benchmarks.learning import DAY, FAULTS, START, Drift, Month, OnCall, by_week, simulate


def ledger_url(factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{factory.mktemp('learning') / 'ledger.sqlite'}"


@pytest.fixture(scope="module", params=[1, 2])
def month(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Month:
    """Six busy days of the benchmark's world, unchanged."""
    return simulate(days=6, seed=request.param, ledger_url=ledger_url(tmp_path_factory), rate=30.0)


@pytest.fixture(scope="module")
def reliable_month(tmp_path_factory: pytest.TempPathFactory) -> Month:
    """A world whose rollbacks are always right: nothing but the answers to learn from."""
    rollback = dataclasses.replace(FAULTS[0], share=0.5, fix_rate=1.0)
    image = dataclasses.replace(FAULTS[1], share=0.2, fix_rate=1.0)
    stuck = dataclasses.replace(FAULTS[3], share=0.3)
    return simulate(
        days=4,
        seed=5,
        ledger_url=ledger_url(tmp_path_factory),
        rate=30.0,
        faults=(rollback, image, stuck),
    )


def automation(month: Month, first_day: int, last_day: int) -> float:
    members = [
        i
        for i in month.incidents
        if first_day <= (i.detected_at - START) // DAY <= last_day
        and i.route in ("auto", "ask", "escalate")
    ]
    assert members
    return sum(i.route == "auto" for i in members) / len(members)


def test_no_history_means_no_automatic_action_before_answers_came_in(month: Month) -> None:
    """The skeptical prior asks until answers come in: a runbook acts alone only after
    people approved it several times: 8 from the pool's cap (0.85), 6 with a sibling's
    full lending (10 outcomes' worth, prior 0.75: (3 + 10 + 6) / (4 + 10 + 6) = 0.95)."""
    incidents = sorted(month.incidents, key=lambda i: i.detected_at)
    first_auto: dict[str, int] = {}
    for n, incident in enumerate(incidents):
        runbook = incident.fault.runbook
        if incident.route == "auto" and runbook not in first_auto:
            first_auto[runbook] = n
            approved = sum(
                1
                for earlier in incidents[:n]
                if earlier.fault.runbook == runbook and earlier.answer == "approved"
            )
            assert approved >= 6, (runbook, approved)
    assert first_auto  # the six days did earn some autonomy
    assert automation(month, 0, 0) < 0.05  # and the first day is nearly all asked


def test_answers_earn_autonomy(reliable_month: Month) -> None:
    assert automation(reliable_month, 3, 3) >= 0.4
    assert automation(reliable_month, 3, 3) > automation(reliable_month, 0, 0)
    rollbacks = sorted(
        (i for i in reliable_month.incidents if i.fault.name == "bad-rollout"),
        key=lambda i: i.detected_at,
    )
    assert all(i.route == "ask" for i in rollbacks[:10])  # the skeptical prior asks first
    first_auto = min(i.detected_at for i in rollbacks if i.route == "auto")
    approved_before = [
        i for i in rollbacks if i.detected_at < first_auto and i.answer == "approved"
    ]
    assert len(approved_before) >= 10  # autonomy came from answers, not from the start
    stuck = [i for i in reliable_month.incidents if i.fault.name == "stuck-pod"]
    assert not any(i.route == "auto" for i in stuck)  # 70 % right: never earns autonomy


def test_automation_rises_in_the_benchmark_world(month: Month) -> None:
    assert automation(month, 3, 5) > automation(month, 0, 1)


def test_wrong_automatic_actions_stay_rare(month: Month) -> None:
    automatic = [i for i in month.incidents if i.route == "auto"]
    wrong = [i for i in automatic if not i.right]
    assert len(wrong) <= max(1, 0.03 * len(automatic))


def test_runbook_caps_hold_and_thresholds_stay_in_bounds(month: Month) -> None:
    for incident in month.incidents:
        if incident.capped:
            assert incident.route != "auto", incident
    for auto, ask in month.thresholds.values():
        assert 0.6 <= ask <= auto <= 0.995  # never relaxed past the floor (routing.ask)


def test_weekly_rows_add_up(month: Month) -> None:
    (row,) = by_week(month)
    actionable = [i for i in month.incidents if i.route in ("auto", "ask", "escalate")]
    escalated = sum(i.route == "escalate" for i in actionable)
    assert row.decisions == len(actionable)
    assert row.automatic + row.questions + escalated == len(actionable)
    assert row.wrong_automatic == sum(i.route == "auto" and not i.right for i in actionable)


def twins(factory: pytest.TempPathFactory, days: int, **variant: Any) -> tuple[Month, Month]:
    """The same busy days (seed 3) simulated as they are and with ``variant``."""
    plain = simulate(days=days, seed=3, ledger_url=ledger_url(factory), rate=30.0)
    other = simulate(days=days, seed=3, ledger_url=ledger_url(factory), rate=30.0, **variant)
    return plain, other


def test_hindsight_on_escalations_reaches_the_ledger_and_leaves_the_world_alone(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    plain, judged = twins(tmp_path_factory, 3, oncall=OnCall(hindsight_rate=1.0))

    def world(month: Month) -> list[tuple[str, str, float, bool, bool]]:
        return [(i.fault.name, i.target, i.started_at, i.real, i.fixes) for i in month.incidents]

    assert world(plain) == world(judged)  # the same faults, drawn the same way
    assert all(i.hindsight is None for i in plain.incidents)
    verdicts = {i.decision_id: i for i in judged.incidents if i.hindsight is not None}
    assert verdicts
    for incident in verdicts.values():
        assert incident.escalated and incident.executed_at is None
        policy = not (incident.fault.name == "oom" and incident.namespace == "payments")
        assert incident.hindsight == (incident.real and incident.fixes and policy)
    ledger = open_ledger(judged.ledger_url, START)
    try:
        for decision_id, incident in verdicts.items():
            rows = [f for f in ledger.feedback_for(decision_id) if f["kind"] == "hindsight"]
            assert [(f["outcome"], f["actor"]) for f in rows] == [
                ("right" if incident.hindsight else "wrong", "oncall")
            ]
    finally:
        ledger.close()


def test_a_drift_changes_only_the_truth_after_its_day(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``--drift``: the same incidents, drawn the same way; from the drift's day on, the
    drifted fault's action fixes it at the new rate (here never)."""
    plain, drifted = twins(tmp_path_factory, 2, drift=Drift(1.0, "bad-rollout", 0.0))
    before = {i.number: i for i in plain.incidents}
    after = {i.number: i for i in drifted.incidents}
    assert set(before) == set(after)
    changed = 0
    for number, incident in after.items():
        same = before[number]
        assert (incident.target, incident.started_at, incident.signal, incident.real) == (
            same.target,
            same.started_at,
            same.signal,
            same.real,
        )
        if incident.fault.name == "bad-rollout" and incident.started_at >= START + DAY:
            assert incident.fault.fix_rate == 0.0 and not incident.fixes
            changed += same.fixes
        else:
            assert incident.fault == same.fault and incident.fixes == same.fixes
    assert changed > 0  # some rollbacks that fixed it before no longer do
