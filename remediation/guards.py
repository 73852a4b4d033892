"""Guards: may this plan run now? Pure functions over a ``GuardState`` value.

The limits that keep remediation from repeating, running away or fighting people:

- a global pause switch and global freeze windows;
- a storm cooldown: when more than N triggers arrive within a minute, nothing new starts
  until the storm has been quiet for a while (stale statuses during a storm are how
  healthy things get "remediated");
- a circuit breaker per runbook (closed -> open after N consecutive failures -> half-open
  after ``openFor``, which lets one trial run through; inconclusive counts as failure, a
  run that wrote nothing does not, unless the cluster refused its plan as wrong);
- concurrency per runbook (one drain at a time), cooldown per target, maximum actions per
  hour per runbook and globally, and optionally a count per target over a window
  (``maxActionsPerTarget``: at most twice a day on one Deployment);
- blast radius: at most ``maxTargets`` objects and a minimum healthy fraction left;
- a disruption budget: at most so many pods disrupted (restarted, evicted, deleted) in a
  sliding hour across all runbooks, and optionally per namespace
  (``safety.maxPodsDisruptedPerHour``); a drain goes on within the room left;
- people first: a target a human changed recently is left to them, and a change a human
  made after ours is never undone (``check_undo``).

``GuardState`` is a value: the engine loads it from the ledger (where it survives restarts
and is shared by replicas), asks ``check``, and records what happened with the
``record_*`` functions, which return a new state. ``results`` gives every guard that
applies, passed or not, with what it required and what it saw, for the decision's
evidence. Nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from remediation._types import counted as count_of
from remediation.drain_notes import shown as shown_names
from remediation.durations import format_duration
from remediation.planning import Disruption, GuardResult, Plan
from remediation.ports import Drain, ObjectRef
from remediation.schema import CircuitBreaker, Guards
from remediation.windows import WindowFields, contains, describe, to_utc_text

__all__ = [
    "PRUNE_KEEP",
    "ActionRecord",
    "BreakerState",
    "DisruptionRecord",
    "Gate",
    "GlobalLimits",
    "GuardState",
    "HoldWindow",
    "acts_on_same",
    "breaker_status",
    "check",
    "check_all",
    "check_undo",
    "disruption_gate",
    "disruption_room",
    "held_past_cooldown",
    "hold_window",
    "over_budget",
    "plan_writes",
    "prune",
    "record_disruption",
    "record_finish",
    "record_start",
    "record_trigger",
    "release_unstarted",
    "results",
    "set_pause",
    "storm_gate",
]

HOUR = 3600.0
MINUTE = 60.0
# How long ``prune`` keeps actions by default (a runbook's ``maxActionsPerTarget.within``
# may ask the engine to keep them longer).
PRUNE_KEEP = 2 * 86400.0


@dataclass(frozen=True)
class Gate:
    """A guard's answer: ``Gate(False, "Cooldown", "Deployment shop/web was acted on 4m
    ago; the cooldown is 30m")``. The same pair goes to the log, Slack, Events, metrics."""

    allowed: bool
    reason_code: str
    message: str


@dataclass(frozen=True)
class GlobalLimits:
    """Daemon-wide limits, from settings (not from any one runbook); the defaults are the
    daemon's (``agent.settings.SafetySettings``)."""

    max_actions_per_hour: int = 20
    storm_triggers_per_minute: int = 20
    storm_cooldown: float = 900.0
    # The shortest time between two actions on one object, whatever a runbook's own
    # ``cooldownPerTarget`` says (a runbook may ask for longer, not shorter).
    target_cooldown: float = 600.0
    freeze_windows: tuple[WindowFields, ...] = ()
    # An approved decision that guards have held back (paused, storm, hourly limit,
    # concurrency) this long no longer describes the moment it was approved for.
    approved_max_wait: float = 3600.0
    # A person's request to undo an action that no leader carried out this long after it
    # was made (none ran, or remediation was paused) expires instead of running late.
    undo_request_ttl: float = 3600.0
    # Pods disrupted (restarted, evicted, deleted, scaled away) in a sliding hour, across
    # all runbooks, and in any one namespace; None: no limit.
    max_pods_disrupted_per_hour: int | None = 50
    max_pods_disrupted_per_hour_per_namespace: int | None = None
    # An incident whose question expired unanswered (or whose approved run was held back
    # past ``approved_max_wait``, or whose decision was escalated) and that goes on is
    # decided again once this long has
    # passed since (the runbook's cooldown on its target when that is longer); one a
    # person rejected, after ``reask_after_reject`` (None: never, the "no" stands for the
    # incident's life).
    reask_after: float = 3600.0
    reask_after_reject: float | None = 86400.0


@dataclass(frozen=True)
class ActionRecord:
    """An action started by ``runbook`` on ``target`` at ``at`` (epoch seconds).
    ``counted_as``: what ``maxActionsPerTarget`` counts it on when not the target itself
    (a Pod's owning workload). ``dry_run``: a ``dryRun`` runbook's run, which changed
    nothing: it counts for that runbook's own limits only (``counts_for``)."""

    runbook: str
    target: ObjectRef
    at: float
    counted_as: ObjectRef | None = None
    dry_run: bool = False
    # The other objects its operations write (a promoted canary's stable Deployment, a
    # workload's HPA): busy and cooling down for every runbook, as the target is.
    writes: tuple[ObjectRef, ...] = ()

    @property
    def objects(self) -> tuple[ObjectRef, ...]:
        """Everything the run writes: its target and ``writes``."""
        return (self.target, *self.writes)

    def counts_for(self, runbook: str) -> bool:
        """Whether this run counts against ``runbook``'s cooldowns and the limits across
        runbooks: any real action does; a dry run only for its own runbook (its record
        shows what it would have done under its guards, and it must not hold back a
        runbook that acts, nor be "our last action" a person's change came after)."""
        return not self.dry_run or self.runbook == runbook

    @property
    def counted_on(self) -> ObjectRef:
        return self.counted_as or self.target


@dataclass(frozen=True)
class DisruptionRecord:
    """``pods`` pods of ``namespace`` disrupted by ``runbook`` acting on ``target`` at
    ``at``: one per namespace when an action starts, one per drain round."""

    runbook: str
    target: ObjectRef
    at: float
    namespace: str
    pods: int


@dataclass(frozen=True)
class BreakerState:
    """Consecutive failures of one runbook and, once open, when it opened."""

    consecutive_failures: int = 0
    opened_at: float | None = None
    trial_running: bool = False


@dataclass(frozen=True)
class GuardState:
    """Everything the guards remember. Persist it; treat mappings as read-only."""

    paused: bool = False
    pause_reason: str = ""
    actions: tuple[ActionRecord, ...] = ()
    in_flight: tuple[ActionRecord, ...] = ()
    breakers: Mapping[str, BreakerState] = field(default_factory=dict)
    trigger_times: tuple[float, ...] = ()
    storm_seen_at: float | None = None
    # When the current storm began (the first over-limit minute after a quiet spell):
    # one storm, one summary, whatever its length, across restarts and replicas.
    storm_started_at: float | None = None
    # Pods disrupted, for the hourly disruption budget.
    disrupted: tuple[DisruptionRecord, ...] = ()


BreakerStatus = Literal["closed", "open", "half-open"]


def breaker_status(state: BreakerState, spec: CircuitBreaker, now: float) -> BreakerStatus:
    """Closed, open (for ``openFor`` after opening), or half-open (one trial allowed)."""
    if state.opened_at is None:
        return "closed"
    if now - state.opened_at < spec.open_for:
        return "open"
    return "half-open"


def _when(at: float, now: float) -> str:
    """When a hold ends, both ways a person reads it: "in 14m (at 2026-11-23 06:50:00 UTC)"."""
    return f"in {format_duration(max(at - now, 0.0))} (at {to_utc_text(at)})"


def _room_at(times: list[float], limit: int, within: float = HOUR) -> float:
    """When fewer than ``limit`` of the actions at ``times`` are left in the sliding
    ``within``: once all but ``limit - 1`` of them have left it."""
    ordered = sorted(times)
    return ordered[len(ordered) - limit] + within


def _allow() -> Gate:
    return Gate(True, "Allowed", "every guard allows this action")


def plan_writes(plan: Plan) -> tuple[ObjectRef, ...]:
    """The objects ``plan``'s operations write other than its target (a promoted
    canary's stable Deployment, the HPA of a scaled workload), each once, in order."""
    return tuple(dict.fromkeys(op.target for op in plan.operations if op.target != plan.target))


def _on_subject(record: ActionRecord, plan: Plan, *, written: bool) -> bool:
    """Whether ``record`` wrote what ``plan`` is about: its target, or for a Pod the
    workload that owns it (``Plan.counted_as``: our actions on the workload itself and on
    any of its pods count, a replacement pod having a new name). ``written``: also any
    other object the plan writes (``plan_writes``)."""
    objects = record.objects
    if plan.target in objects:
        return True
    on = plan.counted_as
    if on is not None and (on in objects or record.counted_on == on):
        return True
    return written and any(ref in objects for ref in plan_writes(plan))


def _last_action_on_subject(
    state: GuardState, plan: Plan, runbook: str | None = None, *, written: bool = True
) -> ActionRecord | None:
    """Our last action that wrote what ``plan`` is about (``_on_subject``): its target,
    or a Pod's workload or another of its pods, and (``written``) any other object the
    plan writes. Whichever runbook's run wrote it: a run that writes an object is as
    recent on it as a run targeting it (a promotion's on the stable Deployment)."""
    by = plan.runbook if runbook is None else runbook
    records = [
        r for r in state.actions if r.counts_for(by) and _on_subject(r, plan, written=written)
    ]
    return max(records, key=lambda r: r.at) if records else None


def acts_on_same(record: ActionRecord, plan: Plan) -> bool:
    """Whether the in-flight ``record`` acts on what ``plan`` would: an object both
    write (the target, a promoted canary's stable Deployment, a workload's HPA), or,
    where one side is a Pod, the same workload (a pod of it, or the workload itself)."""
    if _on_subject(record, plan, written=True):
        return True
    return record.counted_as is not None and record.counted_as in (
        plan.target,
        *plan_writes(plan),
    )


def _common(record: ActionRecord, plan: Plan) -> ObjectRef | None:
    """The first object ``plan`` writes (its target first) that ``record``'s run wrote
    too; None when they meet only on a Pod's workload."""
    return next((ref for ref in (plan.target, *plan_writes(plan)) if ref in record.objects), None)


def _written_by(record: ActionRecord, ref: ObjectRef) -> str:
    """``ref`` as ``record``'s run wrote it: said with the run when not its target."""
    if ref == record.target:
        return str(ref)
    return f"{ref} (written by {record.runbook}'s run on {record.target})"


@dataclass(frozen=True)
class _Judged:
    """One guard as judged: its result for the record, and its reason code and message
    (the denial's, when it did not pass)."""

    code: str
    result: GuardResult
    message: str = ""


def _judge(
    plan: Plan, guards: Guards, state: GuardState, limits: GlobalLimits, now: float
) -> list[_Judged]:
    judged: list[_Judged] = []

    def judge(code: str, name: str, required: str, seen: str, denial: str | None) -> None:
        result = GuardResult(name, required, seen, denial is None)
        judged.append(_Judged(code, result, denial or ""))

    why = f": {state.pause_reason}" if state.pause_reason else ""
    judge(
        "Paused",
        "pause",
        "remediation not paused",
        f"paused{why}" if state.paused else "not paused",
        f"remediation is paused globally{why}" if state.paused else None,
    )
    for window in limits.freeze_windows:
        inside = contains(window, now)
        judge(
            "GlobalFreeze",
            f"global freeze {describe(window)}",
            "outside the window",
            "inside" if inside else "outside",
            f"inside the global change freeze {describe(window)}" if inside else None,
        )
    storm = storm_gate(state, limits, now)
    recent = sum(1 for t in state.trigger_times if now - MINUTE < t <= now)
    judge(
        storm.reason_code if storm is not None else "Storm",
        "storm",
        f"at most {limits.storm_triggers_per_minute} triggers a minute, then "
        f"{format_duration(limits.storm_cooldown)} quiet",
        f"{recent} in the last minute"
        + (
            f", a storm {format_duration(max(now - state.storm_seen_at, 0))} ago"
            if state.storm_seen_at is not None
            else ""
        ),
        storm.message if storm is not None else None,
    )
    breaker = state.breakers.get(plan.runbook, BreakerState())
    status = breaker_status(breaker, guards.circuit_breaker, now)
    denial = None
    if status == "open":
        half_open = (breaker.opened_at or now) + guards.circuit_breaker.open_for
        denial = (
            f"{plan.runbook} failed {breaker.consecutive_failures} times in a row; its "
            f"circuit breaker is open for {format_duration(guards.circuit_breaker.open_for)} "
            f"and half-opens, letting one trial run through, {_when(half_open, now)}"
        )
    elif status == "half-open" and breaker.trial_running:
        denial = f"a trial run of {plan.runbook} is already in flight"
    judge(
        "CircuitOpen" if status == "open" else "CircuitHalfOpen",
        "circuitBreaker",
        f"the breaker closed (it opens after {guards.circuit_breaker.failures} failures in a "
        "row), or half-open with no trial running",
        f"{status}, {breaker.consecutive_failures} failures in a row"
        + (", a trial running" if breaker.trial_running else ""),
        denial,
    )
    running = [r for r in state.in_flight if r.runbook == plan.runbook]
    judge(
        "Concurrency",
        "maxConcurrent",
        f"fewer than {guards.max_concurrent} runs of {plan.runbook} in flight",
        f"{len(running)} in flight",
        f"{len(running)} run(s) of {plan.runbook} in flight (limit {guards.max_concurrent})"
        if len(running) >= guards.max_concurrent
        else None,
    )
    busy = next((r for r in state.in_flight if acts_on_same(r, plan)), None)
    shared = None if busy is None else _common(busy, plan)
    others = plan_writes(plan)
    also = f" or any other object it writes ({', '.join(map(str, others))})" if others else ""
    judge(
        "TargetBusy",
        "targetBusy",
        "no other run acting on the target"
        + (f", its workload {plan.counted_as} or another of its pods" if plan.counted_as else "")
        + also,
        f"another run is acting on {busy.target}" if busy else "none",
        (
            f"another run is already acting on {plan.target}"
            if busy.target == plan.target
            else f"another run is already writing {_written_by(busy, shared)}, which this "
            "plan writes too; this one waits for it to end"
            if shared is not None
            else f"another run is already acting on {busy.target}, which shares {plan.target}'s "
            f"workload; this one waits for it to end"
        )
        if busy
        else None,
    )
    # A Pod's cooldown is its workload's: a deleted pod's replacement, or its sibling, has
    # a new name, and keyed on the pod's own name the cooldown would never apply. An
    # object the plan writes besides its target cools down too, whichever run wrote it.
    last = _last_action_on_subject(state, plan)
    cooldown = max(guards.cooldown_per_target, limits.target_cooldown)
    cooling = last is not None and now - last.at < cooldown
    subject = f"{plan.counted_as} or any of its pods" if plan.counted_as else "the target"
    common = None if last is None else _common(last, plan)
    judge(
        "Cooldown",
        "cooldownPerTarget",
        f"{format_duration(cooldown)} since the last action on {subject}" + also,
        f"last acted on {format_duration(now - last.at)} ago"
        + ("" if last.target == plan.target else f" ({last.target})")
        if last is not None
        else "not acted on yet",
        (
            f"{plan.target} was acted on {format_duration(now - last.at)} ago"
            if last.target == plan.target
            else f"{_written_by(last, common)}, which this plan writes too, was written "
            f"{format_duration(now - last.at)} ago"
            if common is not None
            else f"{last.target}, which shares {plan.target}'s workload, was acted on "
            f"{format_duration(now - last.at)} ago"
        )
        + f"; the cooldown is {format_duration(cooldown)}, so it ends "
        + _when(last.at + cooldown, now)
        if last is not None and cooling
        else None,
    )
    hour = [r for r in state.actions if now - HOUR < r.at <= now and r.counts_for(plan.runbook)]
    mine = sum(1 for r in hour if r.runbook == plan.runbook)
    judge(
        "RunbookRateLimit",
        "maxActionsPerHour",
        f"fewer than {guards.max_actions_per_hour} actions of {plan.runbook} in the last hour",
        f"{mine}",
        f"{plan.runbook} acted {mine} times in the last hour "
        f"(limit {guards.max_actions_per_hour}); the next action is allowed "
        + _when(
            _room_at(
                [r.at for r in hour if r.runbook == plan.runbook], guards.max_actions_per_hour
            ),
            now,
        )
        if mine >= guards.max_actions_per_hour
        else None,
    )
    per_target = guards.max_actions_per_target
    if per_target is not None:
        count, within = per_target.count, per_target.within
        on = _counted_on(plan)
        times = sorted(
            r.at
            for r in state.actions
            if r.runbook == plan.runbook and r.counted_on == on and now - within < r.at <= now
        )
        span = format_duration(within)
        denial = None
        if len(times) >= count:
            # The next run is allowed once all but count - 1 of these have left the window.
            allowed_at = times[len(times) - count] + within
            what = str(plan.target) if on == plan.target else f"the pods of {on}"
            denial = (
                f"{plan.runbook} acted on {what} {len(times)} time"
                f"{'s' if len(times) != 1 else ''} in the last {span} (limit {count} per "
                f"{span}); the next action is allowed {_when(allowed_at, now)}"
            )
        judge(
            "TargetRateLimit",
            "maxActionsPerTarget",
            f"fewer than {count} actions of {plan.runbook} on the target"
            + ("" if on == plan.target else f" (any pod of {on})")
            + f" in the last {span}",
            f"{len(times)}",
            denial,
        )
    judge(
        "GlobalRateLimit",
        "globalActionsPerHour",
        f"fewer than {limits.max_actions_per_hour} actions in the last hour, all runbooks",
        f"{len(hour)}",
        (
            "safety.maxActionsPerHour is 0: no runbook acts by itself"
            if limits.max_actions_per_hour == 0
            else f"{len(hour)} actions in the last hour across all runbooks "
            f"(limit {limits.max_actions_per_hour}); the next action is allowed "
            + _when(_room_at([r.at for r in hour], limits.max_actions_per_hour), now)
        )
        if len(hour) >= limits.max_actions_per_hour
        else None,
    )
    for budget in _budgets(plan, state, limits, now):
        judge("DisruptionBudget", budget.name, budget.required, budget.seen, budget.denial)
    blast = guards.blast_radius
    judge(
        "BlastRadius",
        "blastRadius.maxTargets",
        f"at most {blast.max_targets} object{'s' if blast.max_targets != 1 else ''} changed",
        f"{plan.blast.targets}",
        f"the plan changes {plan.blast.targets} objects; the limit is {blast.max_targets}"
        if plan.blast.targets > blast.max_targets
        else None,
    )
    if plan.changes:
        fraction = plan.blast.healthy_fraction_after
        unread = _unread_counted(plan)
        judge(
            "MinHealthy",
            "blastRadius.minHealthyFraction",
            f"at least {blast.min_healthy_fraction:.0%} of the selected set healthy after",
            f"{plan.blast.healthy_after}/{plan.blast.selected} ({fraction:.0%}){unread}",
            f"only {plan.blast.healthy_after}/{plan.blast.selected} would stay healthy "
            f"({fraction:.0%}); the runbook needs {blast.min_healthy_fraction:.0%}{unread}"
            if fraction < blast.min_healthy_fraction
            else None,
        )
    # Do not fight a person: if someone other than Autonomic and the cluster's own
    # controllers (a person, or a tool acting for one, such as a GitOps controller)
    # changed the target after our last action on it, they are handling it. (A person's
    # change that *caused* the incident, such as the rollout a crash-loop rollback
    # undoes, came before any action of ours.)
    human = plan.human_changed_at
    # A Pod's change by someone else is read from its workload (planning's
    # ``_human_changed_at``), so "after our last action" is judged on the workload too.
    # Someone else's change is read on the target (a Pod's workload): judged against our
    # last write of that, by whichever run.
    last = _last_action_on_subject(state, plan, runbook="", written=False)  # real actions
    fighting = (
        human is not None
        and last is not None
        and human > last.at
        and now - human < guards.cooldown_per_target
    )
    judge(
        "HumanRecentlyChanged",
        "humanChange",
        f"no change by anyone else after our last action, in the last "
        f"{format_duration(guards.cooldown_per_target)}",
        "no change by anyone else recorded"
        if human is None
        else f"changed by someone else {format_duration(max(now - human, 0))} ago, "
        + (
            "before any action of ours"
            if last is None
            else ("after" if human > last.at else "before") + " our last action"
        ),
        f"someone other than Autonomic and the cluster's controllers (a person, kubectl, a "
        f"GitOps tool) changed {plan.counted_as or plan.target} "
        f"{format_duration(max(now - human, 0))} ago, after our last action on it"
        + (f" or its pods (it owns {plan.target})" if plan.counted_as else "")
        + "; leaving it to them, and acting again no sooner than "
        + _when(human + guards.cooldown_per_target, now)
        if fighting and human is not None
        else None,
    )
    return judged


def _unread_counted(plan: Plan) -> str:
    """For ``MinHealthy``: the objects of the selected set that could not be read, which
    count as not healthy (a node that cannot be read may be cordoned or NotReady), and
    how the hold ends; "" when there are none."""
    names = plan.blast.unread
    if not names:
        return ""
    one = len(names) == 1
    return (
        f"; {len(names)} of the selected set could not be read "
        f"({'node' if one else 'nodes'} {shown_names(list(names))}) and "
        f"{'counts' if one else 'count'} as not healthy, as "
        f"{'it' if one else 'they'} may be cordoned or NotReady: this holds until "
        f"{'it reads' if one else 'they read'} again (autonomic_kube_objects_unread_total), "
        "or until the runbook's target no longer selects "
        f"{'it' if one else 'them'} (excludeNames)"
    )


def _counted_on(plan: Plan) -> ObjectRef:
    """What ``maxActionsPerTarget`` counts the plan's runs on: the target, or a Pod's
    owning workload (``Plan.counted_as``)."""
    return plan.counted_as or plan.target


def _drains(plan: Plan) -> bool:
    return any(isinstance(op, Drain) for op in plan.operations)


@dataclass(frozen=True)
class _Budget:
    """One disruption budget (all namespaces, or one) as judged for a plan."""

    name: str
    required: str
    seen: str
    denial: str | None
    counted: tuple[DisruptionRecord, ...]
    until: float | None  # when the plan fits again (None: it fits, or never will)


def _room_back(counted: list[DisruptionRecord], used: int, limit: int, need: int) -> float | None:
    """When ``need`` pods fit under ``limit`` again as the ``counted`` records (oldest
    first, ``used`` pods in all) leave the hour; None when they never will."""
    if need > limit:
        return None
    for record in counted:
        used -= record.pods
        if used + need <= limit:
            return record.at + HOUR
    return None  # pragma: no cover - all of them leaving leaves room


def _budgets(plan: Plan, state: GuardState, limits: GlobalLimits, now: float) -> list[_Budget]:
    """The disruption budgets that apply to ``plan``: the cluster's, and each namespace's
    the plan disrupts pods in. A drain needs room for one pod (it evicts within the room
    left, round by round); any other plan, for all the pods it disrupts, or, when that is
    more than the budget itself, for the whole budget: an hour in which nothing else was
    disrupted (``over_budget`` makes a person approve such a plan first)."""
    hour = sorted((r for r in state.disrupted if now - HOUR < r.at <= now), key=lambda r: r.at)
    drain = _drains(plan)
    wanted = plan.disruption
    scopes: list[tuple[str | None, int, int]] = []
    if limits.max_pods_disrupted_per_hour is not None:
        scopes.append((None, limits.max_pods_disrupted_per_hour, wanted.pods))
    if limits.max_pods_disrupted_per_hour_per_namespace is not None:
        limit = limits.max_pods_disrupted_per_hour_per_namespace
        scopes += [(ns, limit, n) for ns, n in wanted.by_namespace]
    out = []
    for namespace, limit, pods in scopes:
        counted = [r for r in hour if namespace is None or r.namespace == namespace]
        used = sum(r.pods for r in counted)
        need = min(pods, 1) if drain else min(pods, limit)
        where = "across all runbooks" if namespace is None else f"in namespace {namespace}"
        what = f"{pods} pod{'s' if pods != 1 else ''}"
        denial = until = None
        if used + need > limit:
            until = _room_back(counted, used, limit, need)
            if drain:
                left = f"the drain of {plan.target.name} waits for room"
            elif pods > limit:
                left = (
                    f"the plan disrupts {what}, more than the budget: it needs an hour in "
                    "which nothing else was disrupted"
                )
            else:
                left = f"the plan disrupts {what}"
            if until is None:  # pragma: no cover - need <= limit: the hour always empties
                back = ""
            else:
                back = (
                    f"; room comes back in {format_duration(until - now)} (at {to_utc_text(until)})"
                )
            denial = (
                f"{count_of(used, 'pod')} disrupted in the last hour {where} "
                f"(budget {limit} an hour); "
                f"{left}{back}"
            )
        out.append(
            _Budget(
                "maxPodsDisruptedPerHour"
                + ("" if namespace is None else f"PerNamespace ({namespace})"),
                f"at most {count_of(limit, 'pod')} disrupted in the last hour {where}, "
                "with this plan's "
                + ("first eviction (a drain goes on within the room left)" if drain else what),
                f"{used} disrupted in the last hour; this plan {what}",
                denial,
                tuple(counted),
                until,
            )
        )
    return out


def over_budget(plan: Plan, limits: GlobalLimits) -> str | None:
    """Why a person must approve ``plan`` first, when it alone disrupts more pods than a
    disruption budget allows in an hour (a rollout restart or rollback of a workload
    bigger than the budget): it runs only in an hour with no other disruption, and only
    once someone said so. None when it fits, and for a drain (it goes on within the room
    left)."""
    if _drains(plan):
        return None
    wanted = plan.disruption
    total = limits.max_pods_disrupted_per_hour
    if total is not None and wanted.pods > total:
        return (
            f"disrupts {count_of(wanted.pods, 'pod')}, more than "
            f"safety.maxPodsDisruptedPerHour ({total})"
        )
    each = limits.max_pods_disrupted_per_hour_per_namespace
    if each is not None:
        for namespace, pods in wanted.by_namespace:
            if pods > each:
                return (
                    f"disrupts {count_of(pods, 'pod')} in namespace {namespace}, more than "
                    f"safety.maxPodsDisruptedPerHourPerNamespace ({each})"
                )
    return None


def disruption_gate(plan: Plan, state: GuardState, limits: GlobalLimits, now: float) -> Gate | None:
    """The disruption budget alone: the first budget ``plan`` would go over, or None."""
    for budget in _budgets(plan, state, limits, now):
        if budget.denial is not None:
            return Gate(False, "DisruptionBudget", budget.denial)
    return None


def disruption_room(
    state: GuardState, limits: GlobalLimits, now: float
) -> tuple[int | None, dict[str, int]]:
    """Room left in the disruption budgets: pods that may still be disrupted in this
    hour across all runbooks (None: no limit), and for each namespace that has used some
    of its budget, the room left in it (a namespace not named has all of it). A drain
    round evicts within these."""
    hour = [r for r in state.disrupted if now - HOUR < r.at <= now]
    total = limits.max_pods_disrupted_per_hour
    room = None if total is None else max(total - sum(r.pods for r in hour), 0)
    per_ns: dict[str, int] = {}
    limit = limits.max_pods_disrupted_per_hour_per_namespace
    if limit is not None:
        for r in hour:
            per_ns[r.namespace] = per_ns.get(r.namespace, limit) - r.pods
        per_ns = {ns: max(n, 0) for ns, n in per_ns.items()}
    return room, per_ns


def _gates(
    plan: Plan, guards: Guards, state: GuardState, limits: GlobalLimits, now: float
) -> list[Gate]:
    return [
        Gate(False, j.code, j.message)
        for j in _judge(plan, guards, state, limits, now)
        if not j.result.passed
    ]


# Notify-only plans change nothing: only these guards apply to them (the pause switch,
# and the storm guard: one summary instead of a thousand messages).
_NOTIFY_GUARDS = ("Paused", "Storm", "StormCooldown")


def results(
    plan: Plan, guards: Guards, state: GuardState, limits: GlobalLimits, now: float
) -> tuple[GuardResult, ...]:
    """Every guard that applies to ``plan``, passed or not, with what it required and
    what it saw, for the decision's evidence (``check`` says the first denial)."""
    judged = _judge(plan, guards, state, limits, now)
    if not plan.changes:
        judged = [j for j in judged if j.code in _NOTIFY_GUARDS]
    return tuple(j.result for j in judged)


def storm_gate(state: GuardState, limits: GlobalLimits, now: float) -> Gate | None:
    """The storm guard alone (it needs no plan): ``Storm`` while more than the limit of
    triggers arrived in the last minute, ``StormCooldown`` until it has been quiet for
    ``storm_cooldown``; None when neither holds."""
    recent = sum(1 for t in state.trigger_times if now - MINUTE < t <= now)
    if recent > limits.storm_triggers_per_minute:
        return Gate(
            False,
            "Storm",
            f"{recent} triggers in the last minute (limit {limits.storm_triggers_per_minute}); "
            "waiting for the storm to pass",
        )
    if state.storm_seen_at is not None and now - state.storm_seen_at < limits.storm_cooldown:
        left = limits.storm_cooldown - (now - state.storm_seen_at)
        return Gate(
            False,
            "StormCooldown",
            f"a trigger storm ended recently; actions resume {_when(now + left, now)}, "
            f"once it has been quiet for {format_duration(limits.storm_cooldown)}",
        )
    return None


def check_all(
    plan: Plan, guards: Guards, state: GuardState, limits: GlobalLimits, now: float
) -> tuple[Gate, ...]:
    """Every guard that denies ``plan`` (empty when all allow), for explanations."""
    return tuple(_gates(plan, guards, state, limits, now))


def check(plan: Plan, guards: Guards, state: GuardState, limits: GlobalLimits, now: float) -> Gate:
    """The first guard that denies ``plan``, or ``Gate(True, "Allowed", ...)``.

    Notify-only plans change nothing, so only the pause switch and the storm guard (one
    summary instead of a thousand messages) apply to them.
    """
    gates = _gates(plan, guards, state, limits, now)
    if not plan.changes:
        gates = [g for g in gates if g.reason_code in _NOTIFY_GUARDS]
    return gates[0] if gates else _allow()


def check_undo(
    target: ObjectRef, acted_at: float, human_changed_at: float | None, state: GuardState
) -> Gate:
    """May we undo our change to ``target``? Never over a change someone else (a person,
    a GitOps tool: anyone but Autonomic and the cluster's controllers) made since."""
    if human_changed_at is not None and human_changed_at > acted_at:
        return Gate(
            False,
            "HumanChangedSinceAction",
            f"someone other than Autonomic changed {target} after our action; not undoing "
            "their change",
        )
    if state.paused:
        why = f" ({state.pause_reason})" if state.pause_reason else ""
        return Gate(
            False, "Paused", f"remediation is paused globally{why}; the undo is left to a person"
        )
    return Gate(True, "Allowed", f"{target} is as we left it; undo may run")


@dataclass(frozen=True)
class HoldWindow:
    """The spell a limit holds a runbook back for, as a denial of ``reason_code`` reads it:
    when it began (the oldest run it counts, or when the breaker opened), until when it
    holds at least (the next run allowed; the breaker half-open), and the runs counted
    (oldest first; none for the breaker)."""

    reason_code: str
    started_at: float
    until: float
    runs: tuple[ActionRecord, ...] = ()


def _counted(runs: list[ActionRecord], limit: int, within: float) -> HoldWindow | None:
    runs.sort(key=lambda r: r.at)
    if not runs or len(runs) < limit or limit <= 0:
        return None  # a limit of 0 holds until the configuration changes: no end to say
    # Allowed again once all but limit - 1 of these have left the window.
    return HoldWindow("", runs[0].at, runs[len(runs) - limit].at + within, tuple(runs))


def _cooldown_ends(
    plan: Plan, guards: Guards, state: GuardState, limits: GlobalLimits
) -> float | None:
    """When the cooldown on ``plan``'s target ends (the last action on it plus the
    longer of the runbook's and the global cooldown), or None if it was never acted on.
    A Pod's is its workload's, as ``Cooldown`` judges it."""
    last = _last_action_on_subject(state, plan)
    if last is None:
        return None
    return last.at + max(guards.cooldown_per_target, limits.target_cooldown)


def held_past_cooldown(
    plan: Plan, guards: Guards, state: GuardState, limits: GlobalLimits, now: float
) -> Gate | None:
    """A denial behind a cooldown that will still hold when the cooldown ends: the limit
    a person should hear about now rather than once the cooldown has passed. Counted
    limits (runs per target, per runbook, in all; the breaker; the disruption budget)
    whose spell outlasts the cooldown, and a plan wider than the blast radius (it stays
    too wide). None when the first denial is not ``Cooldown`` or nothing outlasts it."""
    gates = _gates(plan, guards, state, limits, now)
    if not gates or gates[0].reason_code != "Cooldown":
        return None
    ends = _cooldown_ends(plan, guards, state, limits)
    for gate in gates[1:]:
        if gate.reason_code == "BlastRadius":
            return gate
        if gate.reason_code in _COUNTED and ends is not None:
            window = hold_window(plan, guards, state, limits, now, gate.reason_code)
            if window is not None and window.until > ends:
                return gate
    return None


# The denials that count runs, pods or failures: ``hold_window`` says how long each holds.
_COUNTED = (
    "TargetRateLimit",
    "RunbookRateLimit",
    "GlobalRateLimit",
    "CircuitOpen",
    "DisruptionBudget",
)


def hold_window(
    plan: Plan,
    guards: Guards,
    state: GuardState,
    limits: GlobalLimits,
    now: float,
    reason_code: str,
) -> HoldWindow | None:
    """For a denial that counts runs, pods or failures (``TargetRateLimit``,
    ``RunbookRateLimit``, ``GlobalRateLimit``, ``DisruptionBudget``, ``CircuitOpen``):
    the spell it holds for, so that one spell is handed to a person once. None for any
    other reason, or when the state does not show the limit reached."""
    window: HoldWindow | None = None
    hour = [r for r in state.actions if now - HOUR < r.at <= now and r.counts_for(plan.runbook)]
    if reason_code == "TargetRateLimit" and guards.max_actions_per_target is not None:
        limit = guards.max_actions_per_target
        window = _counted(
            [
                r
                for r in state.actions
                if r.runbook == plan.runbook
                and r.counted_on == _counted_on(plan)
                and now - limit.within < r.at <= now
            ],
            limit.count,
            limit.within,
        )
    elif reason_code == "RunbookRateLimit":
        window = _counted(
            [r for r in hour if r.runbook == plan.runbook], guards.max_actions_per_hour, HOUR
        )
    elif reason_code == "GlobalRateLimit":
        window = _counted(hour, limits.max_actions_per_hour, HOUR)
    elif reason_code == "CircuitOpen":
        opened = state.breakers.get(plan.runbook, BreakerState()).opened_at
        if opened is not None:
            window = HoldWindow("", opened, opened + guards.circuit_breaker.open_for)
    elif reason_code == "DisruptionBudget":
        over = [b for b in _budgets(plan, state, limits, now) if b.denial is not None]
        if over and over[0].counted:
            budget = over[0]
            runs: dict[tuple[str, ObjectRef, float], ActionRecord] = {}
            for r in budget.counted:
                runs.setdefault(
                    (r.runbook, r.target, r.at), ActionRecord(r.runbook, r.target, r.at)
                )
            # A plan that can never fit is held until a person acts: for an hour, the
            # budget's span, when it is asked again.
            until = budget.until if budget.until is not None else now + HOUR
            window = HoldWindow("", budget.counted[0].at, until, tuple(runs.values()))
    return None if window is None else replace(window, reason_code=reason_code)


# ------------------------------------------------------------------------- transitions


def record_trigger(state: GuardState, now: float, limits: GlobalLimits) -> GuardState:
    """Count one incoming trigger; marks a storm when the last minute exceeds the limit."""
    times = (*(t for t in state.trigger_times if now - MINUTE < t <= now), now)
    storm, started = state.storm_seen_at, state.storm_started_at
    if len(times) > limits.storm_triggers_per_minute:
        if storm is None or now - storm >= limits.storm_cooldown:
            started = now  # quiet for a whole cooldown before: a new storm
        storm = now
    return replace(state, trigger_times=times, storm_seen_at=storm, storm_started_at=started)


def record_start(
    state: GuardState, plan: Plan, guards: Guards, now: float, *, dry_run: bool = False
) -> GuardState:
    """An action is starting: count it and the pods it disrupts (a drain's are counted
    round by round, ``record_disruption``), mark it in flight, claim a half-open trial.
    ``dry_run``: a ``dryRun`` runbook's run (``ActionRecord.counts_for``)."""
    record = ActionRecord(
        plan.runbook, plan.target, now, plan.counted_as, dry_run, writes=plan_writes(plan)
    )
    if not _drains(plan):
        state = record_disruption(state, plan.runbook, plan.target, plan.disruption, now)
    breakers = dict(state.breakers)
    breaker = breakers.get(plan.runbook, BreakerState())
    if breaker_status(breaker, guards.circuit_breaker, now) == "half-open":
        breakers[plan.runbook] = replace(breaker, trial_running=True)
    return replace(
        state,
        actions=(*state.actions, record),
        in_flight=(*state.in_flight, record),
        breakers=breakers,
    )


def record_finish(
    state: GuardState,
    runbook: str,
    target: ObjectRef,
    succeeded: bool,
    guards: Guards,
    now: float,
    *,
    counted: bool = True,
) -> GuardState:
    """A run ended (verified = success; failed, inconclusive or undone = failure).

    ``counted=False``: a failure the circuit breaker does not count, because the run
    wrote nothing to the cluster and the cluster did not refuse its plan as wrong (the
    API away, a permission missing, the target gone, a run closed unstarted after
    ``approvedMaxWait``): no longer in flight, a half-open trial it took given back (the
    next run is the trial), the breaker's count as it was. Its action stays counted."""
    in_flight = list(state.in_flight)
    mine: ActionRecord | None = None
    for index, record in enumerate(in_flight):
        if record.runbook == runbook and record.target == target:
            mine = in_flight.pop(index)
            break
    breakers = dict(state.breakers)
    breaker = breakers.get(runbook, BreakerState())
    if not succeeded and not counted:
        # Only its own trial: one started before the breaker opened took none, and a
        # trial running now is another run's (given back, a second could start beside it).
        if breaker.trial_running and (mine is None or _took_trial(breaker, mine)):
            breakers[runbook] = replace(breaker, trial_running=False)
    elif succeeded:
        breakers[runbook] = BreakerState()
    else:
        failures = breaker.consecutive_failures + 1
        was_trial = breaker.trial_running
        opens = was_trial or failures >= guards.circuit_breaker.failures
        breakers[runbook] = BreakerState(
            consecutive_failures=failures,
            opened_at=now if opens else breaker.opened_at,
            trial_running=False,
        )
    return replace(state, in_flight=tuple(in_flight), breakers=breakers)


def record_disruption(
    state: GuardState, runbook: str, target: ObjectRef, disruption: Disruption, now: float
) -> GuardState:
    """Count pods disrupted by ``runbook`` on ``target`` (an action's, or a drain round's
    evictions) against the hourly disruption budget."""
    added = tuple(
        DisruptionRecord(runbook, target, now, namespace, pods)
        for namespace, pods in disruption.by_namespace
        if pods > 0
    )
    return replace(state, disrupted=(*state.disrupted, *added)) if added else state


def release_unstarted(state: GuardState, runbook: str, target: ObjectRef) -> GuardState:
    """A run that ``record_start`` counted ends before it wrote anything (closed as
    superseded before its first write): no longer in flight, and its action, the pods it
    would have disrupted and a half-open trial it claimed are given back. Its breaker is
    left as it was: a run that never wrote is neither a success nor a failure.

    The trial is its own only if it started after the breaker opened (an open breaker
    lets nothing start, so it started half-open, as the trial). One that started before,
    the breaker closed, took none: a trial running now is another run's, and stays."""
    mine = next((r for r in state.in_flight if r.runbook == runbook and r.target == target), None)
    if mine is None:
        return state
    in_flight = list(state.in_flight)
    in_flight.remove(mine)
    actions = list(state.actions)
    if mine in actions:
        actions.remove(mine)
    disrupted = tuple(
        d
        for d in state.disrupted
        if not (d.runbook == runbook and d.target == target and d.at == mine.at)
    )
    breakers = dict(state.breakers)
    breaker = breakers.get(runbook)
    if breaker is not None and breaker.trial_running and _took_trial(breaker, mine):
        breakers[runbook] = replace(breaker, trial_running=False)
    return replace(
        state,
        in_flight=tuple(in_flight),
        actions=tuple(actions),
        disrupted=disrupted,
        breakers=breakers,
    )


def _took_trial(breaker: BreakerState, run: ActionRecord) -> bool:
    """Whether ``run`` took its breaker's half-open trial: it started after the breaker
    opened (an open breaker lets nothing start, so it started half-open, as the trial)."""
    return breaker.opened_at is not None and run.at >= breaker.opened_at


def set_pause(state: GuardState, paused: bool, reason: str = "") -> GuardState:
    """Flip the global pause switch (in-flight runs continue; nothing new starts)."""
    return replace(state, paused=paused, pause_reason=reason if paused else "")


def prune(state: GuardState, now: float, keep: float = PRUNE_KEEP) -> GuardState:
    """Forget actions and triggers older than ``keep`` seconds (bounded state)."""
    return replace(
        state,
        actions=tuple(r for r in state.actions if now - r.at < keep),
        disrupted=tuple(r for r in state.disrupted if now - r.at < HOUR),
        trigger_times=tuple(t for t in state.trigger_times if now - t < MINUTE),
    )
