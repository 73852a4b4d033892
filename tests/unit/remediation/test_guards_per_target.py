"""``guards.maxActionsPerTarget``: at most N runs of a runbook on one target in a window.

"At most twice a day" used to be faked with a cooldown (``cooldownPerTarget: 4h31m`` in a
9-hour day); these check the count itself: what counts, the window's edges, and the
sentence that says when the next run is allowed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from remediation.guards import ActionRecord, GlobalLimits, GuardState, check, results
from remediation.loading import RunbookLoadError, load_text
from remediation.planning import Plan, plan
from remediation.ports import ObjectRef
from remediation.snapshot import ClusterSnapshot
from remediation.windows import to_utc_text

from .builders import NOW, deployment, pod, runbook, signal

DAY = 86400.0
HOUR = 3600.0
MINUTE = 60.0
RUNBOOK = runbook(
    """
    triggers: [{type: kubernetes, condition: CrashLoopBackOff}]
    target: {kind: Deployment}
    actions: [{type: rolloutRestart}]
    verification: {checks: [{type: kubernetes, condition: podsReady}]}
    onFailure: {undo: false}
    guards:
      cooldownPerTarget: 30m
      maxActionsPerHour: 10
      maxActionsPerTarget: {count: 2, within: 24h}
    """,
    name="rb",
)
WEB = deployment()
OTHER = ObjectRef("Deployment", "api", "shop")
LIMITS = GlobalLimits(max_actions_per_hour=50)


def make_plan() -> Plan:
    pods = tuple(pod(f"web-{i}", WEB) for i in range(3))
    result = plan(RUNBOOK, signal(target=WEB.ref), ClusterSnapshot((WEB,), pods), NOW)
    assert isinstance(result, Plan)
    return result


PLAN = make_plan()


def acted(*ages_hours: float, runbook_name: str = "rb", target: ObjectRef = WEB.ref) -> GuardState:
    return GuardState(
        actions=tuple(ActionRecord(runbook_name, target, NOW - h * HOUR) for h in ages_hours)
    )


def gate(state: GuardState):  # type: ignore[no-untyped-def]
    return check(PLAN, RUNBOOK.spec.guards, state, LIMITS, NOW)


def test_the_schema_reads_count_and_window() -> None:
    limit = RUNBOOK.spec.guards.max_actions_per_target
    assert limit is not None and (limit.count, limit.within) == (2, DAY)


def test_under_the_count_is_allowed() -> None:
    assert gate(acted(10)).reason_code == "Allowed"


def test_at_the_count_is_denied_saying_count_window_and_when() -> None:
    result = gate(acted(10, 3))
    assert not result.allowed and result.reason_code == "TargetRateLimit"
    # The older of the two leaves the window 24h after it ran: 14h from now.
    assert result.message == (
        f"rb acted on {WEB.ref} 2 times in the last 1d (limit 2 per 1d); the next action "
        f"is allowed in 14h (at {to_utc_text(NOW + 14 * HOUR)})"
    )


def test_more_than_the_count_waits_for_enough_of_them_to_leave() -> None:
    # Three in the window (a limit lowered since): two must leave, so the second oldest
    # (12h ago) decides: allowed 12h from now, not 4h (when the oldest leaves).
    result = gate(acted(20, 12, 1))
    assert result.reason_code == "TargetRateLimit"
    assert "3 times in the last 1d" in result.message
    assert f"allowed in 12h (at {to_utc_text(NOW + 12 * HOUR)})" in result.message


def test_the_window_slides() -> None:
    # A run exactly 24h ago is out of the window; one a second less than that is in.
    assert gate(acted(24, 3)).reason_code == "Allowed"
    edge = GuardState(
        actions=(
            ActionRecord("rb", WEB.ref, NOW - DAY + 1),
            ActionRecord("rb", WEB.ref, NOW - 3 * HOUR),
        )
    )
    result = gate(edge)
    assert result.reason_code == "TargetRateLimit"
    assert "allowed in 1s" in result.message


def test_counted_per_target_not_per_runbook() -> None:
    # Runs of the same runbook on another Deployment do not count (maxActionsPerHour
    # counts those), nor do another runbook's runs on this one (cooldownPerTarget and
    # the global limits see those).
    assert gate(acted(10, 3, 2, target=OTHER)).reason_code == "Allowed"
    assert gate(acted(10, 3, 2, runbook_name="other-runbook")).reason_code == "Allowed"
    mixed = GuardState(actions=(*acted(10, target=OTHER).actions, *acted(3).actions))
    assert gate(mixed).reason_code == "Allowed"


def test_results_say_what_it_needs_and_saw() -> None:
    judged = {r.name: r for r in results(PLAN, RUNBOOK.spec.guards, acted(10), LIMITS, NOW)}
    limit = judged["maxActionsPerTarget"]
    assert limit.passed and limit.seen == "1"
    assert limit.required == "fewer than 2 actions of rb on the target in the last 1d"


def test_absent_when_not_written() -> None:
    guards = RUNBOOK.spec.guards.model_copy(update={"max_actions_per_target": None})
    names = [r.name for r in results(PLAN, guards, acted(10, 3), LIMITS, NOW)]
    assert "maxActionsPerTarget" not in names
    assert check(PLAN, guards, acted(10, 3), LIMITS, NOW).reason_code == "Allowed"


# ---------------------------------------------------------------------------- validation

DOC = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata: {name: twice-a-day, description: restart at most twice a day}
spec:
  triggers: [{type: kubernetes, condition: CrashLoopBackOff}]
  target: {kind: Deployment}
  actions: [{type: rolloutRestart}]
  verification: {checks: [{type: kubernetes, condition: podsReady}]}
  onFailure: {undo: false}
  guards:
    maxActionsPerTarget:
      count: 2
      within: 24h
"""


def issues(text: str) -> list[str]:
    with pytest.raises(RunbookLoadError) as caught:
        load_text(text, "twice.yaml")
    return [str(issue) for issue in caught.value.issues]


def test_the_document_loads() -> None:
    (loaded,) = load_text(DOC, "twice.yaml")
    assert loaded.spec.guards.max_actions_per_target is not None


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        (
            "count: 2",
            "count: 0",
            "twice.yaml:12: spec.guards.maxActionsPerTarget.count: must be at least 1, got 0",
        ),
        (
            "count: 2",
            'count: "2"',
            "twice.yaml:12: spec.guards.maxActionsPerTarget.count: expected a whole number, "
            'got the string "2" (remove the quotes)',
        ),
        (
            "within: 24h",
            "within: 0s",
            "twice.yaml:13: spec.guards.maxActionsPerTarget.within: 'within' must be longer "
            "than 0s (e.g. '24h') (got '0s')",
        ),
        (
            "within: 24h",
            "within: 30d",
            "twice.yaml:13: spec.guards.maxActionsPerTarget.within: 'within' is at most 7d "
            "(the ledger keeps no longer a history of actions); write '7d' or less (got '30d')",
        ),
        (
            "within: 24h",
            "within: 24",
            "twice.yaml:13: spec.guards.maxActionsPerTarget.within: write the duration with "
            "a unit, e.g. '24s' or '24m', not a bare number (got 24)",
        ),
        (
            "      within: 24h\n",
            "",
            "twice.yaml:12: spec.guards.maxActionsPerTarget.within: required key is missing",
        ),
        (
            "  guards:\n",
            "  guards:\n    cooldownPerTarget: 30d\n",
            "twice.yaml:11: spec.guards.cooldownPerTarget: 'cooldownPerTarget' is at most 7d "
            "(the ledger keeps no longer a history of actions); write '7d' or less, or pause "
            "the runbook (got '30d')",
        ),
    ],
)
def test_bad_values_are_named_at_their_line(before: str, after: str, message: str) -> None:
    assert issues(DOC.replace(before, after)) == [message]


def test_a_misspelt_key_is_named() -> None:
    assert issues(DOC.replace("count: 2", "cuont: 2")) == [
        "twice.yaml:12: spec.guards.maxActionsPerTarget.count: required key is missing",
        "twice.yaml:12: spec.guards.maxActionsPerTarget.cuont: unknown key (did you mean "
        "'count'? the keys here are count, within)",
    ]


POD_RUNBOOK = runbook(
    """
    triggers: [{type: kubernetes, condition: PodNotReady}]
    target: {kind: Pod}
    actions: [{type: deletePod, reasons: [NotReady], maxPods: 1}]
    verification: {checks: [{type: kubernetes, condition: podsReady}]}
    onFailure: {undo: false}
    guards:
      cooldownPerTarget: 30m
      maxActionsPerHour: 10
      maxActionsPerTarget: {count: 3, within: 6h}
      blastRadius: {minHealthyFraction: 0}
    """,
    name="restart-pods",
)


def _pod_plan(name: str) -> Plan:
    """A plan to delete the stuck pod ``name`` of WEB (its siblings Ready)."""
    stuck = pod(name, WEB, ready=False)
    pods = (stuck, *(pod(f"web-ok-{i}", WEB) for i in range(3)))
    made = plan(
        POD_RUNBOOK,
        signal(name="PodNotReady", target=stuck.ref),
        ClusterSnapshot((WEB,), pods),
        NOW,
    )
    assert isinstance(made, Plan), made
    return made


def test_a_pod_target_counts_the_runs_on_any_pod_of_its_workload() -> None:
    """A replacement pod has a new name: counted per pod, the limit would start again
    with each one and never stop a fix that does not stick. The pods of one workload
    share the count; another workload's pods do not."""
    first = _pod_plan("web-aaaa")
    assert first.counted_as == WEB.ref
    state = GuardState()
    for i, name in enumerate(("web-aaaa", "web-bbbb", "web-cccc")):
        earlier = _pod_plan(name)
        at = NOW - (3 - i) * HOUR
        state = GuardState(
            actions=(
                *state.actions,
                ActionRecord("restart-pods", earlier.target, at, earlier.counted_as),
            )
        )
    fourth = _pod_plan("web-dddd")
    denied = check(fourth, POD_RUNBOOK.spec.guards, state, LIMITS, NOW)
    assert denied.reason_code == "TargetRateLimit"
    assert denied.message.startswith(
        f"restart-pods acted on the pods of {WEB.ref} 3 times in the last 6h (limit 3 per 6h)"
    )
    (limit,) = [
        r
        for r in results(fourth, POD_RUNBOOK.spec.guards, state, LIMITS, NOW)
        if r.name == "maxActionsPerTarget"
    ]
    assert f"(any pod of {WEB.ref})" in limit.required
    # Runs recorded before the owner was kept (no counted_as) count on their pod only.
    old = GuardState(
        actions=tuple(ActionRecord("restart-pods", r.target, r.at) for r in state.actions)
    )
    assert check(fourth, POD_RUNBOOK.spec.guards, old, LIMITS, NOW).allowed


@pytest.mark.parametrize(
    ("acted_on", "counted_as"),
    [("pod", True), ("workload", False)],
    ids=["another-pod-of-it", "the-workload-itself"],
)
def test_a_pod_target_is_left_to_a_person_who_changed_its_workload_after_us(
    acted_on: str, counted_as: bool
) -> None:
    """Someone else's change to a Pod target is read from its workload, so our last
    action is looked for on the workload and any of its pods, by any runbook: a
    replacement pod's own name has never been acted on."""
    earlier = _pod_plan("web-aaaa")
    target = earlier.target if acted_on == "pod" else WEB.ref
    state = GuardState(
        actions=(
            ActionRecord(
                "restart-pods" if acted_on == "pod" else "raise-memory",
                target,
                NOW - 40 * MINUTE,
                earlier.counted_as if counted_as else None,
            ),
        )
    )
    changed = replace(_pod_plan("web-bbbb"), human_changed_at=NOW - 20 * MINUTE)
    denied = check(changed, POD_RUNBOOK.spec.guards, state, LIMITS, NOW)
    assert denied.reason_code == "HumanRecentlyChanged"
    said = f"changed {WEB.ref} 20m ago, after our last action on it or its pods"
    assert said in denied.message
    before = replace(changed, human_changed_at=NOW - 50 * MINUTE)
    assert check(before, POD_RUNBOOK.spec.guards, state, LIMITS, NOW).allowed


def test_a_pod_targets_cooldown_is_its_workloads() -> None:
    """``cooldownPerTarget`` on a Pod runbook: the pod it deleted is gone, and its
    replacement or sibling has a new name, so keyed on the pod's own name the cooldown
    never applied and a workload's pods could be deleted one after the other. The last
    action on any pod of the workload, or on the workload itself, starts it."""
    earlier = _pod_plan("web-aaaa")
    sibling = _pod_plan("web-bbbb")
    recent = GuardState(
        actions=(ActionRecord("restart-pods", earlier.target, NOW - 10 * MINUTE, WEB.ref),)
    )
    denied = check(sibling, POD_RUNBOOK.spec.guards, recent, LIMITS, NOW)
    assert denied.reason_code == "Cooldown"
    assert denied.message == (
        f"{earlier.target}, which shares {sibling.target}'s workload, was acted on 10m ago; "
        f"the cooldown is 30m, so it ends in 20m (at {to_utc_text(NOW + 20 * MINUTE)})"
    )
    (judged,) = [
        r
        for r in results(sibling, POD_RUNBOOK.spec.guards, recent, LIMITS, NOW)
        if r.name == "cooldownPerTarget"
    ]
    assert judged.required == f"30m since the last action on {WEB.ref} or any of its pods"
    on_workload = GuardState(actions=(ActionRecord("rollback", WEB.ref, NOW - 10 * MINUTE),))
    assert check(sibling, POD_RUNBOOK.spec.guards, on_workload, LIMITS, NOW).reason_code == (
        "Cooldown"
    )
    older = GuardState(
        actions=(ActionRecord("restart-pods", earlier.target, NOW - 40 * MINUTE, WEB.ref),)
    )
    assert check(sibling, POD_RUNBOOK.spec.guards, older, LIMITS, NOW).allowed
    other = GuardState(
        actions=(ActionRecord("restart-pods", ObjectRef("Pod", "api-1", "shop"), NOW, OTHER),)
    )
    assert check(sibling, POD_RUNBOOK.spec.guards, other, LIMITS, NOW).allowed


def test_a_pod_and_its_workload_are_not_acted_on_at_once() -> None:
    """A run on a workload and a run on one of its pods fight (a rollback replacing the
    pods while another runbook deletes one): while one is in flight the other waits."""
    pod_plan = _pod_plan("web-bbbb")
    rolling_back = GuardState(in_flight=(ActionRecord("rollback", WEB.ref, NOW - MINUTE),))
    denied = check(pod_plan, POD_RUNBOOK.spec.guards, rolling_back, LIMITS, NOW)
    assert (denied.reason_code, denied.message) == (
        "TargetBusy",
        f"another run is already acting on {WEB.ref}, which shares {pod_plan.target}'s "
        "workload; this one waits for it to end",
    )
    deleting = GuardState(
        in_flight=(ActionRecord("evict-pods", ObjectRef("Pod", "web-aaaa", "shop"), NOW, WEB.ref),)
    )
    assert check(pod_plan, POD_RUNBOOK.spec.guards, deleting, LIMITS, NOW).reason_code == (
        "TargetBusy"
    )
    workload_plan = make_plan()
    assert check(workload_plan, RUNBOOK.spec.guards, deleting, LIMITS, NOW).reason_code == (
        "TargetBusy"
    )
    elsewhere = GuardState(
        in_flight=(ActionRecord("evict-pods", ObjectRef("Pod", "api-1", "shop"), NOW, OTHER),)
    )
    assert check(pod_plan, POD_RUNBOOK.spec.guards, elsewhere, LIMITS, NOW).allowed
    assert check(workload_plan, RUNBOOK.spec.guards, elsewhere, LIMITS, NOW).allowed


def test_a_dry_run_counts_for_its_own_runbook_only() -> None:
    """A ``dryRun`` runbook's run changed nothing: it holds back its own next run (its
    record shows what it would have done under its guards) but not another runbook's,
    and a person's change after it is not a change after "our last action"."""
    dry = GuardState(actions=(ActionRecord("rb-dry", WEB.ref, NOW - 5 * MINUTE, dry_run=True),))
    assert gate(dry).allowed
    as_dry = replace(PLAN, runbook="rb-dry")
    assert check(as_dry, RUNBOOK.spec.guards, dry, LIMITS, NOW).reason_code == "Cooldown"
    real = GuardState(actions=(ActionRecord("rb-real", WEB.ref, NOW - 5 * MINUTE),))
    assert gate(real).reason_code == "Cooldown"
    hour = tuple(
        ActionRecord("rb-dry", OTHER, NOW - i * MINUTE, dry_run=True)
        for i in range(1, LIMITS.max_actions_per_hour + 1)
    )
    assert gate(GuardState(actions=hour)).allowed
    counted = tuple(replace(r, dry_run=False) for r in hour)
    assert gate(GuardState(actions=counted)).reason_code == "GlobalRateLimit"
    # A person changed web 10 minutes ago; the only run since the last real one (none)
    # was a dry run, 20 minutes ago: not a change of ours they came after.
    changed = replace(PLAN, human_changed_at=NOW - 10 * MINUTE)
    after_dry = GuardState(
        actions=(ActionRecord("rb-dry", WEB.ref, NOW - 40 * MINUTE, dry_run=True),)
    )
    assert check(changed, RUNBOOK.spec.guards, after_dry, LIMITS, NOW).allowed
    after_real = GuardState(actions=(ActionRecord("rb-real", WEB.ref, NOW - 40 * MINUTE),))
    assert check(changed, RUNBOOK.spec.guards, after_real, LIMITS, NOW).reason_code == (
        "HumanRecentlyChanged"
    )
