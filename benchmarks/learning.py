"""A simulated month of on-call: does Autonomic learn to act alone, and stay right?

    .venv/bin/python benchmarks/learning.py --days 28 --seed 1 --seed 2 --seed 3 \\
        --out benchmarks/learning_RESULTS.md

What is real and what is simulated:

- REAL: the decision layer. Every incident becomes a ``Proposal`` to ``DecisionService``
  over a SQLite ledger, with the decision type, ``maxAutonomy`` and forced-approval rules
  of the shipped runbooks (``runbooks/*.yaml``, loaded with the real loader). Questions go
  through ``Approvals`` (exactly-once answers, TTL expiry that escalates, snoozes, late
  answers kept as verdicts), outcomes
  through ``record_outcome``, thresholds through ``recalibrate`` once an hour for every
  decision type, as the daemon's housekeeping does. Confidence is whatever the decision
  layer computes from the signal and the ledger's track record.
- SIMULATED: the cluster and the verification. Driving the remediation engine on the
  simulated cluster for a month would mean about 80,000 engine cycles per seed (one per
  30 s of simulated time, each with a cluster snapshot and ledger reads); this script
  drives ``DecisionService`` directly instead (the engine is not exercised) and draws each
  action's verification from the fault's hidden ground truth (a real fault the action
  fixes verifies; a real fault it does not fix fails verification after the runbook's
  window; acting on a false trigger *verifies*, because nothing was broken, and is only
  caught if a person notices and undoes it later). Verification timing (settle, interval,
  passes, window) comes from each runbook.

The hidden world (chosen before the first run, not tuned on its results):

- faults per day: Poisson, ``--rate`` (default 10) over 24 Deployments in 4 namespaces and
  8 nodes; deploy-related faults mostly in working hours;
- the fault catalogue ``FAULTS``: share, trigger, how often the runbook's action is right;
  noisy triggers (anomaly, forecast breach, canary verdict) are real with probability
  equal to their stated confidence (a calibrated detector);
- the on-call (``OnCall``): answers most questions within minutes in working hours,
  fewer and later at night (the question TTL is the daemon's default, 15 min), sometimes
  snoozes, sometimes never answers; approves or rejects by a policy per fault that the
  daemon never sees (for example: never raises memory in ``payments``; rejects restarts
  of pods that are stuck for a persistent reason, most of the time);
- people notice a wrong action on a false trigger 70 % of the time, hours later, and undo
  it (a human correction recorded in the ledger);
- ``--hindsight P`` (default 0, added in session 13, after the world above): after
  handling an escalation, the person records with probability P whether the proposal was
  the fix (``autonomic feedback``, through the same ``judge`` the CLI calls): right when
  the fault was real, the action fixes it and policy allows it. Drawn from its own random
  stream, so the incidents and everything else the on-call does are unchanged;
- ``--drift DAY:FAULT:FIX_RATE`` (off by default, added in session 15): from DAY on, the
  runbook's action fixes FAULT only FIX_RATE of the time (``Drift``): how long a runbook
  keeps acting alone once its world has changed under it.

``--world clean`` is a learning-speed check, not the benchmark: every trigger real, every
action right, an on-call who approves all but memory raises in ``payments`` (see
``CLEAN_FAULTS``).

Reported by week: automation rate (automatic / all actionable decisions), wrong automatic
actions (ground truth, and the share of automatic actions), questions asked, escalations
(low confidence, expired questions, failed verifications), median time to remediation of
real faults from detection. Also an oracle's automation rate on the same decisions: a
router that knows each decision's true probability of being right and automates exactly
those at 99 % or more that the runbooks allow to be automatic. It is the ceiling under the
1 % wrong-rate target, given the runbooks' caps.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import heapq
import logging
import math
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.approvals import Approvals, Dispatcher, LedgerOnlyChannel  # noqa: E402
from agent.clock import FakeClock  # noqa: E402
from agent.decisions import DecisionService, Proposal  # noqa: E402
from agent.ledger import Ledger, open_ledger  # noqa: E402
from agent.observability import Metrics  # noqa: E402
from agent.settings import RoutingSettings  # noqa: E402
from agent.verdicts import HINDSIGHT, judge  # noqa: E402
from remediation.family import siblings  # noqa: E402
from remediation.loading import load_paths  # noqa: E402
from remediation.schema import Runbook  # noqa: E402

RUNBOOKS = ROOT / "runbooks"
START = datetime(2026, 10, 5, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC
DAY = 86400.0
WEEK = 7 * DAY
QUESTION_TTL = 900.0  # the daemon's default slack.questionTTL
SNOOZE = 1800.0
TRUE_RIGHT_FOR_AUTO = 0.99  # the oracle automates at this true probability or above


# ------------------------------------------------------------------ the hidden world


@dataclass(frozen=True)
class Fault:
    """One kind of injected fault, the runbook that answers it, and the hidden truth."""

    name: str
    runbook: str
    target_kind: str  # Deployment | Pod | Node
    trigger: str  # what the daemon sees
    share: float  # of all incidents
    detect_after: float  # seconds from the fault to the trigger
    signal: tuple[float, float]  # the trigger's stated confidence, uniform in this range
    noisy: bool  # True: the trigger is real with probability equal to its confidence
    fix_rate: float  # probability that the action fixes a real fault
    working_hours: bool  # mostly happens in working hours (deploys)


FAULTS: tuple[Fault, ...] = (
    # a bad image crash-loops; rolling back fixes it unless a dependency changed too
    Fault(
        "bad-rollout",
        "crashloop-after-rollout-rollback",
        "Deployment",
        "kubernetes:CrashLoopBackOff",
        0.25,
        180,
        (1.0, 1.0),
        False,
        0.99,
        True,
    ),
    Fault(
        "bad-image-tag",
        "imagepull-after-rollout-rollback",
        "Deployment",
        "kubernetes:ImagePullBackOff",
        0.08,
        300,
        (1.0, 1.0),
        False,
        0.995,
        True,
    ),
    # organic growth is fixed by more memory; a leak is not (15 %)
    Fault(
        "oom",
        "oom-raise-memory-limit",
        "Deployment",
        "kubernetes:OOMKilled",
        0.15,
        600,
        (1.0, 1.0),
        False,
        0.85,
        False,
    ),
    # a transient wedge is fixed by a restart; a persistent cause is not (30 %)
    Fault(
        "stuck-pod",
        "restart-stuck-pods",
        "Pod",
        "kubernetes:PodNotReady",
        0.15,
        900,
        (1.0, 1.0),
        False,
        0.70,
        False,
    ),
    Fault(
        "node-notready",
        "node-notready-drain",
        "Node",
        "kubernetes:NodeNotReady",
        0.05,
        300,
        (1.0, 1.0),
        False,
        0.97,
        False,
    ),
    # anomaly on the error ratio mid-rollout: real with probability = its confidence
    Fault(
        "error-spike",
        "error-rate-pause-rollout",
        "Deployment",
        "anomaly:http_error_ratio",
        0.12,
        120,
        (0.6, 1.0),
        True,
        0.97,
        True,
    ),
    Fault(
        "traffic-surge",
        "traffic-surge-scale-out",
        "Deployment",
        "forecastBreach:requests_per_second",
        0.12,
        120,
        (0.7, 1.0),
        True,
        0.98,
        False,
    ),
    Fault(
        "canary-regression",
        "canary-rollback",
        "Deployment",
        "canary:rollback",
        0.08,
        600,
        (0.8, 1.0),
        True,
        0.99,
        True,
    ),
)


# The "clean" world (``--world clean``): a learning-speed check, not the benchmark. Every
# trigger is a real fault and every runbook's action is the right remediation of the
# fault that triggered it; the on-call approves every proposal except memory raises in
# ``payments`` (its one fixed policy). Same shares, timings, fleet, runbooks and caps as
# the default world. Nothing can be wrong here except by policy, so the wrong-action half
# of the target is met by construction; what it shows is how fast the learner reaches
# the ceiling the runbooks' caps leave. Defined before its first run; not tuned after.
CLEAN_FAULTS: tuple[Fault, ...] = tuple(
    dataclasses.replace(fault, noisy=False, fix_rate=1.0) for fault in FAULTS
)


@dataclass(frozen=True)
class Drift:
    """The world changes under a runbook: from ``day`` on, its action fixes ``fault`` only
    ``fix_rate`` of the time (the truth the oracle and the verification see; the on-call
    approves as before, since a person cannot see it either). The incidents and every draw
    are the same as without it: only the threshold each "does it fix it" draw is
    compared with changes."""

    day: float
    fault: str
    fix_rate: float

    def applies(self, fault: Fault, at: float) -> bool:
        return fault.name == self.fault and at >= START + self.day * DAY


def true_rightness(fault: Fault, signal: float) -> float:
    """The hidden probability that acting on this trigger is right."""
    return (signal if fault.noisy else 1.0) * fault.fix_rate


@dataclass(frozen=True)
class Workload:
    namespace: str
    name: str
    replicas: int


def make_fleet(rng: random.Random) -> tuple[list[Workload], list[str]]:
    sizes = [2, 3, 3, 4, 4, 6, 8]
    names = {
        "shop": ["frontend", "cart", "checkout", "catalog", "images", "reviews", "recs", "mailer"],
        "payments": ["api", "ledger", "fraud", "payouts", "webhooks"],
        "search": ["indexer", "query", "suggest", "crawler", "ranker"],
        "platform": ["auth", "gateway", "config", "audit", "jobs", "notify"],
    }
    fleet = [
        Workload(ns, name, rng.choice(sizes)) for ns, members in names.items() for name in members
    ]
    # two big services: their rollbacks and memory raises need approval by runbook rule
    fleet[0] = Workload("shop", "frontend", 30)
    fleet[13] = Workload("search", "indexer", 24)
    return fleet, [f"node-{i}" for i in range(8)]


def working(at: float) -> bool:
    moment = datetime.fromtimestamp(at, UTC)
    return moment.weekday() < 5 and 8 <= moment.hour < 18


@dataclass(frozen=True)
class OnCall:
    """The scripted on-call. The daemon never sees this policy; it sees only answers."""

    answer_rate_working: float = 0.95
    answer_rate_off: float = 0.75
    median_delay_working: float = 240.0
    median_delay_off: float = 900.0
    snooze_rate: float = 0.1
    notice_wrong_rate: float = 0.7  # a wrong action on a false trigger, noticed and undone
    consistent: bool = False  # the clean world: approve all but payments memory raises
    # After handling an escalation, how often the person also records, with `autonomic
    # feedback`, whether the proposal was the fix (0: never, the world as first defined).
    hindsight_rate: float = 0.0

    def delay(self, at: float, rng: random.Random) -> float | None:
        """Seconds until the answer, or None: never answers."""
        day = working(at)
        if rng.random() > (self.answer_rate_working if day else self.answer_rate_off):
            return None
        median = self.median_delay_working if day else self.median_delay_off
        return median * math.exp(0.8 * rng.gauss(0.0, 1.0))

    def verdict(
        self, fault: Fault, real: bool, fixes: bool, namespace: str, rng: random.Random
    ) -> str:
        """Approve or reject, by a per-fault policy that looks at what a person can see."""
        p_approve: float
        if self.consistent:
            p_approve = 0.0 if (fault.name == "oom" and namespace == "payments") else 1.0
        elif fault.name in ("bad-rollout", "bad-image-tag"):
            p_approve = 1.0  # a crash right after a deploy: roll it back
        elif fault.name == "oom":
            if namespace == "payments":
                p_approve = 0.0  # policy: payments memory changes go through review
            else:
                p_approve = 0.95 if fixes else 0.4  # a leak is often recognised
        elif fault.name == "stuck-pod":
            p_approve = 0.9 if fixes else 0.2  # the logs tell transient from persistent
        elif fault.name == "node-notready":
            p_approve = 0.95
        elif fault.name == "traffic-surge":
            p_approve = 0.95 if real else 0.3  # scaling out is cheap; often let through
        else:  # error-spike, canary-regression
            p_approve = (0.95 if fixes else 0.3) if real else 0.15
        return "approved" if rng.random() < p_approve else "rejected"

    def in_hindsight(self, fault: Fault, real: bool, fixes: bool, namespace: str) -> bool:
        """Whether, having handled it, the person says the proposal was the fix: the
        fault was real, the action fixes it, and policy would have allowed it."""
        return real and fixes and not (fault.name == "oom" and namespace == "payments")

    def manual_fix(self, at: float, rng: random.Random) -> float:
        """Seconds a person needs to fix the fault by hand, from when they look at it."""
        median = 1800.0 if working(at) else 3600.0
        return median * math.exp(0.6 * rng.gauss(0.0, 1.0))

    def respond(self, at: float, rng: random.Random) -> float:
        """Seconds from an escalation until a person starts looking."""
        median = 600.0 if working(at) else 1500.0
        return median * math.exp(0.6 * rng.gauss(0.0, 1.0))


# -------------------------------------------------------------------- bookkeeping


@dataclass
class Incident:
    number: int
    fault: Fault
    target: str
    namespace: str
    replicas_affected: int
    signal: float
    real: bool
    fixes: bool
    started_at: float
    detected_at: float = 0.0
    decision_id: str = ""
    question_id: str | None = None
    route: str = ""
    confidence: float = 0.0
    capped: bool = False  # maxAutonomy or a forced approval keeps it from acting alone
    answer: str | None = None  # approved | rejected | expired | None
    late_answer: bool = False
    executed_at: float | None = None
    recorded: str | None = None  # right | wrong (what the ledger says)
    corrected: bool = False
    escalated: bool = False
    remediated_at: float | None = None
    hindsight: bool | None = None  # the person's verdict on an escalated proposal

    @property
    def right(self) -> bool:
        return self.real and self.fixes

    @property
    def week(self) -> int:
        return int((self.detected_at - START) // WEEK)

    @property
    def oracle_auto(self) -> bool:
        return not self.capped and true_rightness(self.fault, self.signal) >= TRUE_RIGHT_FOR_AUTO


class InlineDispatcher(Dispatcher):
    """Run an answer's follow-ups at once, on this thread: the month stays deterministic."""

    def submit(self, task: Callable[[], None]) -> None:
        task()


@dataclass
class Month:
    """A month of decisions: the incidents, the ledger they went through, the thresholds."""

    seed: int
    days: int
    incidents: list[Incident]
    ledger_url: str
    thresholds: dict[str, tuple[float, float]]
    wall_seconds: float


@dataclass
class _Queue:
    events: list[tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    seq: int = 0

    def at(self, when: float, action: Callable[[], None]) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, self.seq, action))


# --------------------------------------------------------------------- the month


class Simulation:
    def __init__(
        self,
        *,
        days: int,
        seed: int,
        ledger: Ledger,
        rate: float,
        routing: RoutingSettings,
        oncall: OnCall,
        faults: tuple[Fault, ...] = FAULTS,
        progress: Callable[[str], None] | None = None,
        drift: Drift | None = None,
    ) -> None:
        self.days = days
        self.faults = faults
        self.drift = drift
        self.rng = random.Random(seed)
        # Its own stream, so that recording hindsight or not leaves the world unchanged.
        self.hindsight_rng = random.Random(seed * 7919 + 17)
        self.seed = seed
        self.ledger = ledger
        self.rate = rate
        self.oncall = oncall
        self.progress = progress
        self.clock = FakeClock(START)
        self.approvals = Approvals(
            ledger,
            LedgerOnlyChannel(ledger, self.clock.now),
            ttl=QUESTION_TTL,
            snooze=SNOOZE,
            dispatcher=InlineDispatcher(),
        )
        self.decisions = DecisionService(
            ledger, self.clock, routing, mode="act", approvals=self.approvals, metrics=Metrics()
        )
        self.runbooks: dict[str, Runbook] = {r.name: r for r in load_paths([RUNBOOKS])}
        self.fleet, self.nodes = make_fleet(self.rng)
        self.queue = _Queue()
        self.incidents: list[Incident] = []
        self.types: set[str] = set()

    # ---------------------------------------------------------------- setup
    def inject(self) -> None:
        """Draw the month's faults (times, targets, hidden truth) up front."""
        end = START + self.days * DAY
        weights = [f.share for f in self.faults]
        count = _poisson(self.rng, self.rate * self.days)
        for number in range(count):
            fault = self.rng.choices(self.faults, weights)[0]
            at = self.rng.uniform(START, end)
            if fault.working_hours and self.rng.random() < 0.85:
                for _ in range(50):  # deploys happen in working hours
                    if working(at):
                        break
                    at = self.rng.uniform(START, end)
            workload = self.rng.choice(self.fleet)
            # Subjects as the daemon writes them (``str(ObjectRef)``): ``Kind/namespace/name``.
            if fault.target_kind == "Node":
                target, namespace, affected = f"Node/{self.rng.choice(self.nodes)}", "", 10
            elif fault.target_kind == "Pod":
                target = f"Pod/{workload.namespace}/{workload.name}-{self.rng.randrange(16**5):05x}"
                namespace, affected = workload.namespace, 1
            else:
                target = f"Deployment/{workload.namespace}/{workload.name}"
                namespace, affected = workload.namespace, workload.replicas
            low, high = fault.signal
            signal = round(self.rng.uniform(low, high), 3)
            real = self.rng.random() < signal if fault.noisy else True
            if self.drift is not None and self.drift.applies(fault, at):
                fault = dataclasses.replace(fault, fix_rate=self.drift.fix_rate)
            fixes = self.rng.random() < fault.fix_rate
            incident = Incident(number, fault, target, namespace, affected, signal, real, fixes, at)
            self.incidents.append(incident)
            self.queue.at(at + fault.detect_after, functools.partial(self.detect, incident))
        for hour in range(1, self.days * 24 + 1):
            self.queue.at(START + hour * 3600.0 - 1e-3, self.housekeeping)

    # --------------------------------------------------------------- events
    def run(self) -> None:
        self.inject()
        end = START + self.days * DAY
        last_day = -1
        while self.queue.events:
            when, _, action = heapq.heappop(self.queue.events)
            self.clock.set(max(when, self.clock.now()))
            action()
            day = int((self.clock.now() - START) // DAY)
            if self.progress and day != last_day and day < self.days:
                last_day = day
                self.progress(f"seed {self.seed}: day {day + 1}/{self.days}")
            if self.clock.now() > end + 7 * DAY:
                break  # stragglers (manual fixes days later) are not waited for

    def housekeeping(self) -> None:
        """Hourly, as ``Daemon.housekeeping``: recalibrate every decision type seen."""
        for decision_type in sorted(self.types):
            self.decisions.recalibrate(decision_type)

    def detect(self, incident: Incident) -> None:
        now = self.clock.now()
        incident.detected_at = now
        fault = incident.fault
        runbook = self.runbooks[fault.runbook]
        forced = _approval_reasons(runbook, incident)
        decision_type = f"{runbook.name}/{fault.target_kind}"
        self.types.add(decision_type)
        incident.capped = runbook.spec.max_autonomy != "auto" or bool(forced)
        routed = self.decisions.decide(
            Proposal(
                kind="remediation",
                decision_type=decision_type,
                subject=incident.target,
                proposal={"runbook": runbook.name, "target": incident.target},
                signal_confidence=incident.signal,
                reason_code=fault.trigger,
                reason=f"{fault.trigger} on {incident.target}",
                evidence={"trigger": fault.trigger, "signal_confidence": incident.signal},
                model_version=f"runbook {runbook.name}@{runbook.metadata.version}",
                max_autonomy=runbook.spec.max_autonomy,
                forced_approval="; ".join(forced) or None,
                incident_key=f"bench|{incident.number}",
                siblings=tuple(
                    f"{name}/{fault.target_kind}"
                    for name in siblings(runbook, self.runbooks.values())
                ),
            )
        )
        incident.decision_id = routed.decision_id
        incident.route = routed.route
        incident.confidence = routed.confidence
        if routed.route == "auto":
            self.execute(incident)
        elif routed.route == "ask":
            incident.question_id = routed.question_id
            self.schedule_answer(incident, now)
            self.queue.at(now + QUESTION_TTL + 30.0, lambda: self.expire(incident))
        else:
            incident.escalated = True
            self.human_takes_over(incident, now + self.oncall.respond(now, self.rng))

    def schedule_answer(self, incident: Incident, asked_at: float) -> None:
        delay = self.oncall.delay(asked_at, self.rng)
        if delay is None:
            return
        verdict = self.oncall.verdict(
            incident.fault, incident.real, incident.fixes, incident.namespace, self.rng
        )
        if delay > 600.0 and self.rng.random() < self.oncall.snooze_rate:
            self.queue.at(asked_at + 0.4 * delay, lambda: self.snooze(incident))
        self.queue.at(asked_at + delay, lambda: self.answer(incident, verdict))

    def snooze(self, incident: Incident) -> None:
        assert incident.question_id is not None
        if self.decisions.answer(incident.question_id, "snoozed", "oncall", via="slack"):
            question = self.ledger.question(incident.question_id)
            assert question is not None
            self.queue.at(question.expires_at + 30.0, lambda: self.expire(incident))

    def answer(self, incident: Incident, verdict: str) -> None:
        assert incident.question_id is not None
        if not self.decisions.answer(incident.question_id, verdict, "oncall", via="slack"):
            incident.late_answer = True
            return
        now = self.clock.now()
        incident.answer = verdict
        if verdict == "approved":
            self.execute(incident)
        else:
            incident.recorded = "wrong"
            if incident.real:
                self.remediated(incident, now + self.oncall.manual_fix(now, self.rng))

    def expire(self, incident: Incident) -> None:
        """The engine's 30-second cycle calls ``expire_due``; this is that call."""
        self.decisions.expire_due()
        record = self.ledger.get_decision(incident.decision_id)
        if record is not None and record.status == "expired" and incident.answer is None:
            now = self.clock.now()
            incident.answer = "expired"
            incident.escalated = True
            self.human_takes_over(incident, now + self.oncall.respond(now, self.rng))

    def human_takes_over(self, incident: Incident, looks_at: float) -> None:
        done = looks_at + 600.0  # a false trigger: ten minutes to see there is nothing
        if incident.real:
            done = looks_at + self.oncall.manual_fix(looks_at, self.rng)
            self.remediated(incident, done)
        if self.hindsight_rng.random() < self.oncall.hindsight_rate:
            self.queue.at(done, lambda: self.judge_in_hindsight(incident))

    def judge_in_hindsight(self, incident: Incident) -> None:
        """``autonomic feedback ID --right|--wrong`` on a proposal nobody acted on."""
        record = self.ledger.get_decision(incident.decision_id)
        if record is None or record.status not in HINDSIGHT:
            return  # carried out after all (a failed verification): it has its verdict
        right = self.oncall.in_hindsight(
            incident.fault, incident.real, incident.fixes, incident.namespace
        )
        judge(self.ledger, record, right=right, actor="oncall", at=self.clock.now())
        incident.hindsight = right

    def remediated(self, incident: Incident, at: float) -> None:
        if incident.remediated_at is None:
            incident.remediated_at = at

    def execute(self, incident: Incident) -> None:
        now = self.clock.now()
        self.ledger.transition(incident.decision_id, ["approved"], "executing", now)
        self.ledger.transition(incident.decision_id, ["executing"], "verifying", now)
        incident.executed_at = now
        spec = self.runbooks[incident.fault.runbook].spec.verification
        assert spec is not None
        if incident.right or not incident.real:
            # fixed, or nothing was broken: the checks pass
            done = now + spec.settle + spec.interval * spec.passes_required
            self.queue.at(done, lambda: self.verified(incident, passed=True))
        else:
            self.queue.at(
                now + spec.settle + spec.window, lambda: self.verified(incident, passed=False)
            )

    def verified(self, incident: Incident, *, passed: bool) -> None:
        now = self.clock.now()
        runbook = self.runbooks[incident.fault.runbook]
        if passed:
            self.decisions.record_outcome(incident.decision_id, right=True, status="verified")
            incident.recorded = "right"
            if incident.real:
                self.remediated(incident, now)
            elif incident.route == "auto" and self.rng.random() < self.oncall.notice_wrong_rate:
                later = now + 7200.0 * math.exp(0.7 * self.rng.gauss(0.0, 1.0))
                self.queue.at(later, lambda: self.correct(incident))
            return
        self.decisions.record_outcome(
            incident.decision_id,
            right=False,
            status="undone" if runbook.spec.on_failure.undo else "failed",
        )
        incident.recorded = "wrong"
        incident.escalated = True
        self.approvals.escalate(incident.decision_id, "remediation failed verification", now)
        self.human_takes_over(incident, now + self.oncall.respond(now, self.rng))

    def correct(self, incident: Incident) -> None:
        """A person finds an action on a false trigger and undoes it."""
        self.decisions.record_outcome(
            incident.decision_id,
            right=False,
            status="undone",
            kind="correction",
            actor="oncall",
            detail={"why": "the trigger was false; undone by hand"},
        )
        incident.recorded = "wrong"
        incident.corrected = True


def _poisson(rng: random.Random, mean: float) -> int:
    """Poisson draw (normal approximation above 50; exact below)."""
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _skip_fsync(ledger: Ledger) -> None:
    """A throwaway simulation ledger need not survive a power cut: no fsync per commit
    (never do this to a daemon's ledger, whose intents must survive)."""
    import sqlalchemy as sa
    from sqlalchemy.engine.interfaces import DBAPIConnection

    if ledger.engine.dialect.name != "sqlite":
        return

    def fast(dbapi_connection: DBAPIConnection, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    sa.event.listen(ledger.engine, "connect", fast)
    ledger.engine.dispose()  # reconnect with the pragma


def _approval_reasons(runbook: Runbook, incident: Incident) -> list[str]:
    """The runbook's ``requireApprovalWhen`` rules, as the planner applies them."""
    rules = runbook.spec.require_approval_when
    if rules is None:
        return []
    reasons = []
    if (
        rules.replicas_affected_over is not None
        and incident.replicas_affected > rules.replicas_affected_over
    ):
        reasons.append(f"affects {incident.replicas_affected} replicas")
    if incident.namespace and incident.namespace in rules.namespaces:
        reasons.append(f"namespace {incident.namespace}")
    if rules.confidence_below is not None and incident.signal < rules.confidence_below:
        reasons.append(f"signal confidence {incident.signal:.2f} < {rules.confidence_below}")
    return reasons


def simulate(
    *,
    days: int,
    seed: int,
    ledger_url: str,
    rate: float = 10.0,
    routing: RoutingSettings | None = None,
    oncall: OnCall | None = None,
    faults: tuple[Fault, ...] = FAULTS,
    progress: Callable[[str], None] | None = None,
    drift: Drift | None = None,
) -> Month:
    """Run the month through a fresh ledger at ``ledger_url``; return what happened."""
    logging.getLogger("autonomic").setLevel(logging.ERROR)
    logging.getLogger("agent").setLevel(logging.ERROR)
    began = time.perf_counter()
    ledger = open_ledger(ledger_url, START)
    _skip_fsync(ledger)
    sim = Simulation(
        days=days,
        seed=seed,
        ledger=ledger,
        rate=rate,
        routing=routing or RoutingSettings(),
        oncall=oncall or OnCall(),
        faults=faults,
        progress=progress,
        drift=drift,
    )
    sim.run()
    thresholds = {
        t: (th.auto, th.ask) for t in sorted(sim.types) if (th := sim.decisions.thresholds(t))
    }
    ledger.close()
    done = [i for i in sim.incidents if i.decision_id]
    return Month(seed, days, done, ledger_url, thresholds, time.perf_counter() - began)


# ------------------------------------------------------------------------ report


@dataclass(frozen=True)
class WeekRow:
    week: int
    decisions: int
    automatic: int
    automation: float
    wrong_automatic: int
    wrong_share: float
    questions: int
    escalations: int
    median_ttr_min: float
    oracle_automation: float
    recorded_wrong_automatic: int
    oracle_recall: float  # of the decisions the oracle would automate, the share automated


def by_week(month: Month) -> list[WeekRow]:
    rows = []
    weeks = sorted({i.week for i in month.incidents})
    for week in weeks:
        members = [
            i for i in month.incidents if i.week == week and i.route in ("auto", "ask", "escalate")
        ]
        if not members:
            continue
        auto = [i for i in members if i.route == "auto"]
        wrong = [i for i in auto if not i.right]
        recorded_wrong = [i for i in auto if i.recorded == "wrong"]
        oracle = [i for i in members if i.oracle_auto]
        ttr = [
            (i.remediated_at - i.detected_at) / 60
            for i in members
            if i.real and i.remediated_at is not None
        ]
        rows.append(
            WeekRow(
                week + 1,
                len(members),
                len(auto),
                len(auto) / len(members),
                len(wrong),
                len(wrong) / len(auto) if auto else 0.0,
                sum(i.route == "ask" for i in members),
                sum(i.escalated for i in members),
                statistics.median(ttr) if ttr else float("nan"),
                len(oracle) / len(members),
                len(recorded_wrong),
                sum(i.route == "auto" for i in oracle) / len(oracle) if oracle else 0.0,
            )
        )
    return rows


def type_table(month: Month, week: int) -> list[tuple[str, int, int, int, int, int, float, float]]:
    """Per decision type in one week: decisions, auto, ask, escalate, wrong auto, mean
    stated confidence, true rightness rate."""
    out = []
    for fault in FAULTS:
        members = [i for i in month.incidents if i.fault.name == fault.name and i.week == week - 1]
        if not members:
            continue
        out.append(
            (
                f"{fault.runbook}/{fault.target_kind}",
                len(members),
                sum(i.route == "auto" for i in members),
                sum(i.route == "ask" for i in members),
                sum(i.route == "escalate" for i in members),
                sum(i.route == "auto" and not i.right for i in members),
                statistics.fmean(i.confidence for i in members),
                statistics.fmean(i.right for i in members),
            )
        )
    return out


def truth_reliability(
    months: list[Month], bins: int = 10
) -> list[tuple[float, float, int, float, float]]:
    """Stated confidence vs ground-truth rightness (not what the ledger recorded)."""
    rows = []
    every = [i for m in months for i in m.incidents if i.route in ("auto", "ask", "escalate")]
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [
            i
            for i in every
            if low <= i.confidence < high or (b == bins - 1 and i.confidence == 1.0)
        ]
        if members:
            rows.append(
                (
                    low,
                    high,
                    len(members),
                    statistics.fmean(i.confidence for i in members),
                    statistics.fmean(i.right for i in members),
                )
            )
    return rows


def week_table(rows: list[WeekRow]) -> list[str]:
    lines = [
        "| week | actionable | automatic | automation | oracle ceiling | oracle's automated "
        "| wrong automatic (truth) | wrong automatic (ledger) | questions | escalations "
        "| median TTR (min) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.week} | {r.decisions} | {r.automatic} | {r.automation:.1%} | "
            f"{r.oracle_automation:.1%} | {r.oracle_recall:.1%} | "
            f"{r.wrong_automatic} ({r.wrong_share:.1%}) | {r.recorded_wrong_automatic} | "
            f"{r.questions} | {r.escalations} | {r.median_ttr_min:.1f} |"
        )
    return lines


def target_table(months: list[Month], week: int = 4) -> list[str]:
    """The issue's target per seed: automation > 70 % in week 4, wrong automatic < 1 %."""
    lines = [
        f"| seed | week {week} automation | wrong automatic | oracle ceiling | "
        "oracle's automated | target met |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for month in months:
        rows = [r for r in by_week(month) if r.week == week]
        if not rows:
            lines.append(f"| {month.seed} | – | – | – | – | no week {week} |")
            continue
        r = rows[0]
        met = r.automation > 0.70 and r.wrong_share < 0.01
        lines.append(
            f"| {month.seed} | {r.automation:.1%} | {r.wrong_automatic} of {r.automatic} "
            f"({r.wrong_share:.1%}) | {r.oracle_automation:.1%} | {r.oracle_recall:.1%} | "
            f"{'yes' if met else '**no**'} |"
        )
    return lines


def render(
    months: list[Month], command: str, started: str, routing: RoutingSettings | None = None
) -> str:
    from agent.cli.calibration_cmd import calibration_report, render_markdown

    lines = [
        "# Learning from the on-call: a simulated month",
        "",
        f"Command: `{command}`",
        "",
        f"Date: {started}. Machine: {platform.machine()}, {_cpus()} cores (shared, noisy), "
        f"Python {platform.python_version()}.",
        "",
        "See the docstring of `benchmarks/learning.py` for what is real (the decision layer, "
        "ledger, approvals, hourly recalibration, runbook caps) and what is simulated (the "
        "faults, their hidden truth, verification outcomes, the on-call).",
        "",
    ]
    lines += ["## The target, per seed", "", *target_table(months), ""]
    for month in months:
        rows = by_week(month)
        lines += [
            f"## Seed {month.seed} ({len(month.incidents)} incidents, {month.wall_seconds:.1f} s)",
            "",
        ]
        lines += week_table(rows)
        judged = [i.hindsight for i in month.incidents if i.hindsight is not None]
        if judged:
            said = f"{len(judged)} ({sum(judged)} right)"
            lines += ["", f"Hindsight verdicts on escalations: {said}."]
        lines.append("")
    lines += [f"## Week 4 by decision type (seed {months[0].seed})", ""]
    lines += [
        "| decision type | decisions | auto | ask | escalate | wrong auto | mean stated conf. "
        "| true right rate |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in type_table(months[0], min(4, max(1, months[0].days // 7))):
        name, n, a, q, e, w, c, r = row
        lines.append(f"| {name} | {n} | {a} | {q} | {e} | {w} | {c:.3f} | {r:.1%} |")
    lines += ["", "## Stated confidence vs ground truth (all seeds)", ""]
    lines += ["| confidence | decisions | mean stated | truly right |", "|---|---:|---:|---:|"]
    for low, high, n, stated, truth in truth_reliability(months):
        lines.append(f"| {low:.1f}–{high:.1f} | {n} | {stated:.3f} | {truth:.3f} |")
    ledger = open_ledger(months[0].ledger_url, START)
    report = calibration_report(
        ledger, routing or RoutingSettings(), now=START + months[0].days * 86400.0
    )
    ledger.close()
    lines += [
        "",
        f"## `autonomic calibration` on the ledger of seed {months[0].seed}",
        "",
        "What the daemon itself can see: recorded right/wrong outcomes (verification and "
        "human answers and corrections), not the hidden truth.",
        "",
    ]
    lines += render_markdown(report)
    return "\n".join(lines) + "\n"


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument(
        "--seed", type=int, action="append", help="repeat for several seeds (default 1..3)"
    )
    parser.add_argument("--rate", type=float, default=10.0, help="faults per day (default 10)")
    parser.add_argument("--out", type=Path, help="write the markdown results here")
    parser.add_argument(
        "--ledger-dir", type=Path, help="keep the ledgers here (default: a temp dir)"
    )
    parser.add_argument(
        "--memory",
        default="60d",
        help="routing.memory, the track record's half-life (default 60d, the daemon's)",
    )
    parser.add_argument(
        "--prior-strength",
        type=float,
        default=4.0,
        help="routing.priorStrength (default 4, the daemon's)",
    )
    parser.add_argument(
        "--sibling-weight",
        type=float,
        default=0.5,
        help="routing.siblingWeight (default 0.5, the daemon's; 0 turns lending off)",
    )
    parser.add_argument(
        "--pool-cap",
        type=float,
        default=0.85,
        help="routing.poolCap (default 0.85, the daemon's; 0 turns the pool of other "
        "runbooks' records off)",
    )
    parser.add_argument(
        "--per-namespace",
        choices=("on", "off"),
        default="off",
        help="routing.perNamespace (default off, the daemon's): a type's record in the "
        "subject's namespace may lower its confidence there",
    )
    parser.add_argument(
        "--hindsight",
        type=float,
        default=0.0,
        help="the share of handled escalations whose proposal the on-call then judges "
        "with `autonomic feedback` (default 0: never)",
    )
    parser.add_argument(
        "--world",
        choices=("default", "clean"),
        default="default",
        help="default: the benchmark's world; clean: every trigger real, every action "
        "right, a consistent on-call (a learning-speed check, see CLEAN_FAULTS)",
    )
    parser.add_argument(
        "--drift",
        metavar="DAY:FAULT:FIX_RATE",
        help="the world changes: from DAY on, the runbook's action fixes FAULT only FIX_RATE "
        "of the time (for example 14:bad-rollout:0.7); the incidents stay the same",
    )
    args = parser.parse_args(argv)
    drift = None
    if args.drift:
        try:
            day, name, rate = args.drift.split(":")
            drift = Drift(float(day), name, float(rate))
        except ValueError:
            parser.error(f"--drift wants DAY:FAULT:FIX_RATE, got {args.drift!r}")
        if drift.fault not in {f.name for f in FAULTS}:
            names = ", ".join(f.name for f in FAULTS)
            parser.error(f"--drift: no fault {drift.fault!r} (the faults: {names})")
        if not (0 <= drift.fix_rate <= 1 and 0 <= drift.day <= args.days):
            parser.error(f"--drift: need 0 <= DAY <= --days and 0 <= FIX_RATE <= 1: {args.drift}")
    try:
        routing = RoutingSettings.model_validate(
            {
                "memory": args.memory,
                "priorStrength": args.prior_strength,
                "siblingWeight": args.sibling_weight,
                "poolCap": args.pool_cap,
                "perNamespace": args.per_namespace == "on",
            }
        )
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in getattr(exc, "errors", lambda: [])()
        )
        parser.error(f"--memory/--prior-strength/--sibling-weight/--pool-cap: {problems or exc}")
    seeds = args.seed or [1, 2, 3]
    folder = args.ledger_dir or Path(tempfile.mkdtemp(prefix="autonomic-learning-"))
    folder.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).strftime("%Y-%m-%d")
    months = []
    for seed in seeds:
        path = folder / f"learning-seed{seed}.sqlite"
        path.unlink(missing_ok=True)
        month = simulate(
            days=args.days,
            seed=seed,
            ledger_url=f"sqlite:///{path}",
            rate=args.rate,
            routing=routing,
            oncall=OnCall(consistent=args.world == "clean", hindsight_rate=args.hindsight),
            faults=CLEAN_FAULTS if args.world == "clean" else FAULTS,
            progress=lambda text: print(text, file=sys.stderr, flush=True),
            drift=drift,
        )
        months.append(month)
        for line in week_table(by_week(month)):
            print(line, file=sys.stderr)
        print(f"ledger: {path}", file=sys.stderr)
    command = "python benchmarks/learning.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = render(months, command.strip(), started, routing)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
