"""Guards, table-driven: each row is a state, a plan and the gate expected."""

from __future__ import annotations

from dataclasses import replace

import pytest

from remediation.guards import (
    ActionRecord,
    BreakerState,
    GlobalLimits,
    GuardState,
    breaker_status,
    check,
    check_all,
    check_undo,
    hold_window,
    prune,
    record_finish,
    record_start,
    record_trigger,
    release_unstarted,
    results,
    set_pause,
)
from remediation.planning import Plan, plan
from remediation.ports import ObjectRef
from remediation.schema import Guards
from remediation.snapshot import ClusterSnapshot
from remediation.windows import WindowFields

from .builders import NOW, deployment, pod, runbook, signal

RUNBOOK = runbook(
    """
    triggers: [{type: kubernetes, condition: CrashLoopBackOff}]
    target: {kind: Deployment}
    actions: [{type: rollback}]
    verification: {checks: [{type: kubernetes, condition: podsReady}]}
    guards:
      cooldownPerTarget: 30m
      maxActionsPerHour: 3
      maxConcurrent: 1
      blastRadius: {maxTargets: 1, minHealthyFraction: 0.5}
      circuitBreaker: {failures: 2, openFor: 1h}
    """,
    name="rb",
)
GUARDS: Guards = RUNBOOK.spec.guards
WEB = deployment()
OTHER = ObjectRef("Deployment", "api", "shop")
LIMITS = GlobalLimits(max_actions_per_hour=5, storm_triggers_per_minute=10, storm_cooldown=600)


def make_plan(**changes: object) -> Plan:
    pods = tuple(pod(f"web-{i}", WEB) for i in range(3))
    result = plan(RUNBOOK, signal(target=WEB.ref), ClusterSnapshot((WEB,), pods), NOW)
    assert isinstance(result, Plan)
    return replace(result, **changes)  # type: ignore[arg-type]


def actions(
    *ages: float, runbook_name: str = "rb", target: ObjectRef = OTHER
) -> tuple[ActionRecord, ...]:
    return tuple(ActionRecord(runbook_name, target, NOW - age) for age in ages)


PLAN = make_plan()
FREEZE = WindowFields.model_validate(
    {"timezone": "UTC", "dates": ({"start": "2026-11-01", "end": "2026-12-01"},)}
)

CASES = [
    ("all clear", GuardState(), PLAN, LIMITS, "Allowed"),
    ("paused", GuardState(paused=True, pause_reason="incident 42"), PLAN, LIMITS, "Paused"),
    (
        "global freeze",
        GuardState(),
        PLAN,
        replace(LIMITS, freeze_windows=(FREEZE,)),
        "GlobalFreeze",
    ),
    (
        "storm now",
        GuardState(trigger_times=tuple(NOW - i for i in range(11))),
        PLAN,
        LIMITS,
        "Storm",
    ),
    ("storm cooling down", GuardState(storm_seen_at=NOW - 300), PLAN, LIMITS, "StormCooldown"),
    ("storm over", GuardState(storm_seen_at=NOW - 601), PLAN, LIMITS, "Allowed"),
    (
        "breaker open",
        GuardState(breakers={"rb": BreakerState(2, NOW - 60)}),
        PLAN,
        LIMITS,
        "CircuitOpen",
    ),
    (
        "breaker half-open",
        GuardState(breakers={"rb": BreakerState(2, NOW - 3601)}),
        PLAN,
        LIMITS,
        "Allowed",
    ),
    (
        "half-open trial running",
        GuardState(breakers={"rb": BreakerState(2, NOW - 3601, trial_running=True)}),
        PLAN,
        LIMITS,
        "CircuitHalfOpen",
    ),
    ("concurrency", GuardState(in_flight=actions(10)), PLAN, LIMITS, "Concurrency"),
    (
        "target busy",
        GuardState(in_flight=actions(10, runbook_name="x", target=WEB.ref)),
        PLAN,
        LIMITS,
        "TargetBusy",
    ),
    ("cooldown", GuardState(actions=actions(600, target=WEB.ref)), PLAN, LIMITS, "Cooldown"),
    ("cooldown over", GuardState(actions=actions(1801, target=WEB.ref)), PLAN, LIMITS, "Allowed"),
    (
        "runbook rate",
        GuardState(actions=actions(3500, 3000, 2500)),
        PLAN,
        LIMITS,
        "RunbookRateLimit",
    ),
    ("hour window slides", GuardState(actions=actions(3601, 3000, 2500)), PLAN, LIMITS, "Allowed"),
    (
        "global rate",
        GuardState(actions=actions(100, 200, 300, 400, 500, runbook_name="x")),
        PLAN,
        LIMITS,
        "GlobalRateLimit",
    ),
    (
        "blast radius",
        GuardState(),
        make_plan(blast=replace(PLAN.blast, targets=2)),
        LIMITS,
        "BlastRadius",
    ),
    (
        "min healthy",
        GuardState(),
        make_plan(blast=replace(PLAN.blast, selected=4, healthy_after=1)),
        LIMITS,
        "MinHealthy",
    ),
    (
        "human changed it after our action",
        GuardState(actions=(ActionRecord("other", WEB.ref, NOW - 7000),)),
        make_plan(human_changed_at=NOW - 120),
        LIMITS,
        "HumanRecentlyChanged",
    ),
    (
        "human change that caused the incident",
        GuardState(),
        make_plan(human_changed_at=NOW - 120),
        LIMITS,
        "Allowed",
    ),
    ("human long ago", GuardState(), make_plan(human_changed_at=NOW - 7200), LIMITS, "Allowed"),
]


@pytest.mark.parametrize(
    ("name", "state", "the_plan", "limits", "code"), CASES, ids=[c[0] for c in CASES]
)
def test_gate(
    name: str, state: GuardState, the_plan: Plan, limits: GlobalLimits, code: str
) -> None:
    gate = check(the_plan, GUARDS, state, limits, NOW)
    assert gate.reason_code == code, gate
    assert gate.allowed is (code == "Allowed")
    assert gate.message


@pytest.mark.parametrize(
    ("name", "state", "the_plan", "limits", "code"), CASES, ids=[c[0] for c in CASES]
)
def test_results_fail_where_the_gates_deny(
    name: str, state: GuardState, the_plan: Plan, limits: GlobalLimits, code: str
) -> None:
    """Every guard is judged for the record, and the ones that fail are exactly the
    denials ``check_all`` lists, in the same order."""
    judged = results(the_plan, GUARDS, state, limits, NOW)
    denials = check_all(the_plan, GUARDS, state, limits, NOW)
    assert len(judged) >= 11  # a global freeze window adds one
    assert len([r for r in judged if not r.passed]) == len(denials)
    assert (code == "Allowed") is all(r.passed for r in judged)


def test_results_say_what_was_required_and_what_was_seen() -> None:
    state = GuardState(actions=actions(600, target=WEB.ref))
    judged = {r.name: r for r in results(PLAN, GUARDS, state, LIMITS, NOW)}
    cooldown = judged["cooldownPerTarget"]
    assert (cooldown.required, cooldown.seen, cooldown.passed) == (
        "30m since the last action on the target",
        "last acted on 10m ago",
        False,
    )
    healthy = judged["blastRadius.minHealthyFraction"]
    assert healthy.passed and healthy.required.startswith("at least 50%")
    assert judged["maxActionsPerHour"].seen == "1"  # that action, 10 minutes ago
    assert judged["humanChange"].passed


def test_the_human_change_guard_says_what_was_recorded() -> None:
    state = GuardState(actions=actions(600, target=WEB.ref))
    nothing = {r.name: r for r in results(make_plan(), GUARDS, state, LIMITS, NOW)}
    assert nothing["humanChange"].seen == "no change by anyone else recorded"
    after = make_plan(human_changed_at=NOW - 120)
    judged = {r.name: r for r in results(after, GUARDS, state, LIMITS, NOW)}
    assert judged["humanChange"].seen == "changed by someone else 2m ago, after our last action"
    assert not judged["humanChange"].passed
    (denial,) = [
        g
        for g in check_all(after, GUARDS, state, LIMITS, NOW)
        if g.reason_code == "HumanRecentlyChanged"
    ]
    assert denial.message.startswith(
        "someone other than Autonomic and the cluster's controllers (a person, kubectl, a "
        "GitOps tool) changed Deployment/shop/web 2m ago"
    )


def test_notify_only_plans_record_only_the_guards_that_apply() -> None:
    notify = make_plan(changes=())
    assert [r.name for r in results(notify, GUARDS, GuardState(), LIMITS, NOW)] == [
        "pause",
        "storm",
    ]


def test_check_all_lists_every_denial() -> None:
    state = GuardState(paused=True, actions=actions(60, target=WEB.ref))
    codes = [g.reason_code for g in check_all(PLAN, GUARDS, state, LIMITS, NOW)]
    assert codes == ["Paused", "Cooldown"]


def test_notify_only_plans_skip_action_limits() -> None:
    notify = make_plan(changes=())
    state = GuardState(actions=actions(60, target=WEB.ref), breakers={"rb": BreakerState(5, NOW)})
    assert check(notify, GUARDS, state, LIMITS, NOW).allowed
    assert check(notify, GUARDS, set_pause(state, True), LIMITS, NOW).reason_code == "Paused"


def test_breaker_lifecycle() -> None:
    spec = GUARDS.circuit_breaker
    state = GuardState()
    for at in (NOW, NOW + 10):
        state = record_start(state, PLAN, GUARDS, at)
        state = record_finish(state, "rb", WEB.ref, False, GUARDS, at + 5)
    breaker = state.breakers["rb"]
    assert breaker_status(breaker, spec, NOW + 20) == "open"
    assert check(PLAN, GUARDS, state, LIMITS, NOW + 20).reason_code == "CircuitOpen"
    later = NOW + 15 + 3600
    assert breaker_status(breaker, spec, later) == "half-open"
    state = record_start(state, PLAN, GUARDS, later)
    assert state.breakers["rb"].trial_running
    failed = record_finish(state, "rb", WEB.ref, False, GUARDS, later + 5)
    assert breaker_status(failed.breakers["rb"], spec, later + 10) == "open"  # trial failed
    healed = record_finish(state, "rb", WEB.ref, True, GUARDS, later + 5)
    assert breaker_status(healed.breakers["rb"], spec, later + 10) == "closed"
    assert healed.in_flight == ()


def test_storm_is_marked_and_pruned() -> None:
    state = GuardState()
    for i in range(11):
        state = record_trigger(state, NOW + i, LIMITS)
    assert state.storm_seen_at == NOW + 10
    assert check(PLAN, GUARDS, state, LIMITS, NOW + 11).reason_code == "Storm"
    quiet = prune(state, NOW + 200)
    assert quiet.trigger_times == ()
    assert check(PLAN, GUARDS, quiet, LIMITS, NOW + 200).reason_code == "StormCooldown"
    assert check(PLAN, GUARDS, quiet, LIMITS, NOW + 611).allowed


def test_never_undo_a_human_change() -> None:
    assert not check_undo(WEB.ref, NOW, NOW + 30, GuardState()).allowed
    assert check_undo(WEB.ref, NOW, NOW + 30, GuardState()).reason_code == "HumanChangedSinceAction"
    assert check_undo(WEB.ref, NOW, NOW - 30, GuardState()).allowed
    assert check_undo(WEB.ref, NOW, None, GuardState()).allowed


def test_min_healthy_from_real_plan() -> None:
    rb = runbook(
        """
        triggers: [{type: kubernetes, condition: PodNotReady}]
        target: {kind: Deployment}
        actions: [{type: evictPod, reasons: [NotReady], maxPods: 2}]
        verification: {checks: [{type: kubernetes, condition: podsReady}]}
        guards: {blastRadius: {maxTargets: 2, minHealthyFraction: 0.6}}
        """
    )
    web = deployment(replicas=4)
    pods = (pod("a", web, ready=False), pod("b", web, ready=False), pod("c", web), pod("d", web))
    result = plan(
        rb, signal(name="PodNotReady", target=web.ref), ClusterSnapshot((web,), pods), NOW
    )
    assert isinstance(result, Plan)
    assert result.blast.healthy_fraction_after == 0.5
    assert check(result, rb.spec.guards, GuardState(), LIMITS, NOW).reason_code == "MinHealthy"


def test_global_cooldown_is_a_floor_under_the_runbooks_own() -> None:
    # The runbook asks for 30 min between actions on one object; safety.cooldown can
    # lengthen that, never shorten it.
    state = GuardState(actions=actions(45 * 60, target=WEB.ref))
    assert check(PLAN, GUARDS, state, replace(LIMITS, target_cooldown=600.0), NOW).allowed
    longer = check(PLAN, GUARDS, state, replace(LIMITS, target_cooldown=3600.0), NOW)
    assert longer.reason_code == "Cooldown"
    assert "1h" in longer.message
    recent = GuardState(actions=actions(20 * 60, target=WEB.ref))
    shorter = check(PLAN, GUARDS, recent, replace(LIMITS, target_cooldown=60.0), NOW)
    assert shorter.reason_code == "Cooldown"


def _hold(state: GuardState, code: str, at: float = NOW, limits: GlobalLimits = LIMITS) -> str:
    (gate,) = [g for g in check_all(PLAN, GUARDS, state, limits, at) if g.reason_code == code]
    return gate.message


def test_every_hold_that_ends_at_a_known_time_says_when() -> None:
    """An on-call reading a denial wants to know until when: each limit whose end is
    known says it both ways, "in 20m" and the UTC time (NOW is 2026-11-18 11:06:40 UTC)."""
    acted = GuardState(actions=actions(10 * 60, target=WEB.ref))
    assert _hold(acted, "Cooldown") == (
        "Deployment/shop/web was acted on 10m ago; the cooldown is 30m, so it ends in 20m "
        "(at 2026-11-18 11:26:40 UTC)"
    )
    # rb acted 3 times (its limit) 50, 40 and 20 minutes ago: room again when the oldest
    # leaves the hour, in 10 minutes.
    busy = GuardState(actions=actions(50 * 60, 40 * 60, 20 * 60))
    assert _hold(busy, "RunbookRateLimit") == (
        "rb acted 3 times in the last hour (limit 3); the next action is allowed in 10m "
        "(at 2026-11-18 11:16:40 UTC)"
    )
    # Five actions in all (the global limit), two by another runbook: room again when the
    # oldest, 50 minutes ago, leaves the hour, in 10 minutes.
    everyone = GuardState(
        actions=actions(50 * 60, 30 * 60, runbook_name="other") + actions(45 * 60, 5 * 60, 1 * 60)
    )
    assert _hold(everyone, "GlobalRateLimit") == (
        "5 actions in the last hour across all runbooks (limit 5); the next action is "
        "allowed in 10m (at 2026-11-18 11:16:40 UTC)"
    )
    opened = GuardState(breakers={"rb": BreakerState(consecutive_failures=2, opened_at=NOW - 600)})
    assert _hold(opened, "CircuitOpen") == (
        "rb failed 2 times in a row; its circuit breaker is open for 1h and half-opens, "
        "letting one trial run through, in 50m (at 2026-11-18 11:56:40 UTC)"
    )
    stormed = GuardState(storm_seen_at=NOW - 120)
    assert _hold(stormed, "StormCooldown") == (
        "a trigger storm ended recently; actions resume in 8m (at 2026-11-18 11:14:40 UTC), "
        "once it has been quiet for 10m"
    )
    theirs = make_plan(human_changed_at=NOW - 5 * 60)
    touched = GuardState(actions=actions(40 * 60, target=WEB.ref))
    (gate,) = [
        g
        for g in check_all(theirs, GUARDS, touched, LIMITS, NOW)
        if g.reason_code == "HumanRecentlyChanged"
    ]
    assert gate.message.endswith(
        "; leaving it to them, and acting again no sooner than in 25m (at 2026-11-18 11:31:40 UTC)"
    )


def test_a_global_limit_of_zero_denies_every_action_and_says_why() -> None:
    """``safety.maxActionsPerHour: 0`` is allowed (nothing acts by itself); the sentence
    of its denial has no "next action" time to compute (it crashed the guard reading)."""
    none = replace(LIMITS, max_actions_per_hour=0)
    assert _hold(GuardState(), "GlobalRateLimit", limits=none) == (
        "safety.maxActionsPerHour is 0: no runbook acts by itself"
    )
    assert _hold(GuardState(actions=actions(50 * 60)), "GlobalRateLimit", limits=none) == (
        "safety.maxActionsPerHour is 0: no runbook acts by itself"
    )
    # and the spell it holds for has no end to hand to a person: none, not a crash
    assert (
        hold_window(
            PLAN, GUARDS, GuardState(actions=actions(50 * 60)), none, NOW, "GlobalRateLimit"
        )
        is None
    )


def test_a_run_closed_unstarted_gives_back_only_a_trial_it_took() -> None:
    """Started while the breaker was closed, held, closed unstarted once the breaker had
    opened and gone half-open with another run's trial under way: that trial stays
    taken. One started half-open was the trial, and gives it back."""
    web, api = ObjectRef("Deployment", "web", "shop"), ObjectRef("Deployment", "api", "shop")
    early = ActionRecord("rb", web, NOW - 900)  # before the breaker opened
    trial = ActionRecord("rb", api, NOW - 60)  # the half-open trial
    state = GuardState(
        actions=(early, trial),
        in_flight=(early, trial),
        breakers={"rb": BreakerState(3, opened_at=NOW - 600, trial_running=True)},
    )
    released = release_unstarted(state, "rb", web)
    assert released.in_flight == (trial,) and released.actions == (trial,)
    assert released.breakers["rb"].trial_running  # the other run's trial
    assert not release_unstarted(state, "rb", api).breakers["rb"].trial_running


def test_a_run_that_wrote_nothing_gives_back_only_a_trial_it_took() -> None:
    """A failure the breaker does not count (the run wrote nothing: held past
    approvedMaxWait, the API away) ends a run started while the breaker was closed,
    after the breaker opened and went half-open with another run's trial under way:
    that trial stays taken, or a second trial could start beside it. One started
    half-open was the trial, and gives it back."""
    web, api = ObjectRef("Deployment", "web", "shop"), ObjectRef("Deployment", "api", "shop")
    early = ActionRecord("rb", web, NOW - 900)  # before the breaker opened
    trial = ActionRecord("rb", api, NOW - 60)  # the half-open trial
    opened = BreakerState(3, opened_at=NOW - 600, trial_running=True)
    state = GuardState(actions=(early, trial), in_flight=(early, trial), breakers={"rb": opened})
    ended = record_finish(state, "rb", web, False, GUARDS, NOW, counted=False)
    assert ended.in_flight == (trial,)
    assert ended.breakers["rb"] == opened  # the other run's trial, the count as it was
    given = record_finish(state, "rb", api, False, GUARDS, NOW, counted=False)
    assert given.breakers["rb"] == replace(opened, trial_running=False)
