"""The canary loop: native canaries judged every interval, and the judge over HTTP.

Native canaries: a Deployment labelled ``autonomic.dev/canary-of: <stable>`` (and opted
in) is compared with the stable Deployment of that name in the same namespace over the
same intervals (one pair: the analysis starts again when the label names another
stable, or the stable rolls out another release, before the verdict; it ends when the
label goes or the canary is deleted, and a canary whose stable does not exist is not
judged, saying why). A fresh baseline, when there is one (``BASELINE_OF``: see
``CanaryLoop._fresh_baseline``), is read in the stable's place; it too is part of the
pair, and only the stable and the canary are ever acted on. Each interval, every column
the judge's spec needs is read with its PromQL template for both; the sequential judge
is asked; once its verdict is final it is recorded as a decision and sent to the
runbooks as a canary signal (a confident rollback acts through ``canary-rollback``; a
verdict routed to a person, as every
promotion is with today's calibration, is asked about, and once approved a promotion of
a canary labelled ``autonomic.dev/promote-canary: "true"`` goes through
``canary-promote``, which gives the stable the canary's images, without a second
question (in ``mode: propose`` too: the first question says what a yes does); an
inconclusive one is escalated, since only a person can settle it, by promoting or
aborting the rollout). Every final verdict is also posted as a Kubernetes Event on the canary
(`CanaryPromote`, `CanaryRollback` as a warning, `CanaryInconclusive`), with the judge's
sentence and the decision id, so `kubectl describe` shows it next to the rollout; the
delivery tool that owns the rollout reads the verdict from the endpoints below. A final
verdict is found again in the ledger after a restart or a change of leader, so the canary
revision is neither judged nor decided twice; one the ledger refused is recorded next cycle.
A crash must not lose what follows the record: the runbooks get a verdict through the
engine's queue, in memory, so after a restart a rollback or
promotion acted on in the last hour that no runbook decision names is sent again, once
(``_hand_on``, ``_send_lost``), as a copy (``Signal.resent``: the engine takes it up only
if no engine took up the first, which a cooldown or a guard may have held back), unless
its canary moved on or its rollout was settled another way since (``_settled_since``);
and a verdict of the last hour whose Event the ledger does not mark posted
(``EVENT_KEY``) has it posted then (at least once: a crash between the post and the mark
posts it twice).
A replica that leads again after another's turn does the same (``forget``): what it had
judged before is taken up from the ledger, not judged on to a second verdict.

Argo Rollouts' own canaries: an Argo Rollout with the canary strategy runs, while it is
mid-rollout, two ReplicaSets told apart by their ``rollouts-pod-template-hash``: the
canary (``status.currentPodHash``) and the stable (``status.stableRS``), whose pods are
named ``<rollout>-<hash>-<random>``. A Rollout opted in (the same opt-in label) and
labelled ``autonomic.dev/judge-canary: "true"`` is judged (one opted in for scaling alone
is not: its verdicts would be questions whose answers act on nothing unless an Argo
analysis consults the endpoint). While both
hashes are known and differ and the rollout is not aborted (``status.abort``), the canary
ReplicaSet is judged against the stable one in the same way (the same judge, decisions,
Events, posted on the Rollout, recovery after a restart and catch-up), each read with
``canary.rolloutQueries``, whose ``$replicaset`` is ``<rollout>-<hash>`` and
``$podTemplateHash`` the hash. A new canary hash starts a new analysis; a rollout that
finished (the hashes are equal) or was aborted ends it (a final verdict stands).

A Rollout with the blueGreen strategy is judged the same way before promotion: its preview
ReplicaSet (``status.currentPodHash``, which Argo's preview Service selects:
``status.blueGreen.previewSelector``) against its active one (the hash the active Service
selects, ``status.blueGreen.activeSelector``, which is ``stableRS`` until promotion), for
a ``prePromotionAnalysis`` that asks the endpoint. The preview serves only the traffic
someone sends to the preview Service (a smoke test, mirrored requests): with none, the
judge has no data and answers "continue" ("no verdict from no data"), and at
``canary.maxDuration`` an inconclusive verdict a person settles, never a promotion. Once
promoted (``activeSelector`` = ``currentPodHash``; ``stableRS`` moves only after a
``postPromotionAnalysis`` succeeds) the ReplicaSet it replaced is still up (Argo keeps a
ReplicaSet ``stableRS`` names, then ``scaleDownDelaySeconds``) but neither Service
selects it, so it serves no traffic: there is nothing to compare the new one with over
the same minutes, and post-promotion is not judged (an analysis without a final verdict
ends; a 404 says so).

Argo owns the rollout: the verdict reaches it only through the endpoint below (an Argo
``web`` metric's ``failureCondition``), never as a canary signal to the runbooks, so
nothing Autonomic runs writes to the Rollout. An acted-on verdict is watched on the hash
the Rollout serves its users with: ``stableRS``, or with blueGreen ``activeSelector``
(Argo switches it back when a postPromotionAnalysis fails, while ``stableRS`` never
moved). A promotion is right when the judged hash became that one and stayed.

The same judgement is served over HTTP to the delivery tool, for the canaries this loop
judges (a Deployment or StatefulSet labelled as above and opted in, the baseline being the
one the label names; or an opted-in Rollout mid-rollout, named by the Rollout's name, the
answer carrying the ``pod_template_hash`` judged and the ``stable_hash`` it was judged
against, the active one's with blueGreen). A canary not
judged yet (the loop takes a new one at its next cycle) gets "continue" with the reason
"no interval judged yet"; so does a canary rolled out again (another revision or release;
for a Rollout, another canary hash) since the loop's last cycle, until the loop takes the
new release: the verdict on the release before is not its answer. A name that is no such
canary, looked up in the cluster when no analysis answers for it (a typo, the wrong
namespace, the stable's name, a label missing, a Rollout not opted in, not mid-rollout,
aborted, of no strategy Autonomic knows, or blue-green and already promoted), gets a 404
whose JSON body (``error``) says which: "continue" for ever would, to Flagger, pass every
check while nothing judges the rollout, and to Argo pass every measurement. A
404 is an error measurement to Argo's ``web`` provider (past ``consecutiveErrorLimit``,
4 by default, the rollout aborts) and a failed check to Flagger (its body shown in the
event; a gate does not open): the analysis fails loudly, never promotes. When the
cluster cannot be read to tell, the name is held instead (below):

- ``GET /canary/verdict?namespace=N&canary=C`` for an Argo Rollouts
  ``web`` metric provider (``successCondition: result.verdict in ["promote",
  "continue"]``, ``failureCondition: result.verdict == "rollback"``: with both set, an
  answer that meets neither is an inconclusive measurement, which pauses the rollout, so
  "continue" must count as a success or the first answer would pause it);
- ``POST /canary/flagger`` for Flagger webhooks: 200 while the canary is healthy
  (and, for a ``confirm-promotion`` webhook, only once it may be promoted), 409 when
  it should be rolled back, 425 while a gate must wait. Flagger's payload (``name``,
  ``namespace``, ``phase``, ``checksum``, ``metadata``) does not say which kind of
  webhook called; name it in the webhook's ``metadata.type`` (``rollout``,
  ``confirm-rollout``, ``confirm-traffic-increase``, ``confirm-promotion``,
  ``rollback``, ``post-rollout``). No type counts as a plain check (``rollout``). A
  ``Promoting`` phase counts as ``confirm-promotion``, but Flagger calls its gates and
  checks with ``Progressing`` (``confirm-rollout`` and ``rollback`` with the canary's
  phase, ``post-rollout`` with ``Succeeded`` or ``Failed``), so only the type makes a
  real ``confirm-promotion`` webhook a gate. A ``rollback`` webhook rolls back on a 2xx,
  so one typed ``rollback`` gets 200 only when the answer is ``rollback`` (Flagger then
  rolls back, also while a gate waits) and 412 otherwise; registered as a ``rollback``
  webhook without the type, the endpoint would answer 200 for a healthy canary, and
  Flagger would roll it back. A ``post-rollout`` webhook is told after the fact
  (Flagger only logs its answer): 200, and with ``Succeeded`` or ``Failed`` it closes
  the open question about the canary's verdict at once (below); it changes no other
  decision.

Until the judge's verdict is final the endpoints answer with it (``continue``).
Once it is final it is a decision, routed like any other, and the endpoints answer
from that decision's state in the ledger, not from the verdict alone, so a verdict a
person must approve is not carried out before they do:

- acted on (routed ``auto``; or ``approved`` by a person, which ``cycle`` then moves to
  ``done``): the verdict. ``rollback``: Argo ``rollback``, Flagger 409. ``promote``:
  Argo ``promote``, Flagger 200 (``confirm-promotion`` included).
- held: waiting for a person's answer (``asked``), escalated (routed below the ask
  threshold), expired unanswered (a "no", escalated), a promotion a person rejected,
  any ``inconclusive`` verdict, and a decision whose state cannot be read from the
  ledger (unless it was routed ``auto``, which is acted on whatever the read). Argo
  ``inconclusive``: neither condition holds, so Argo records an inconclusive
  measurement, and past the metric's ``inconclusiveLimit`` (0 by default) pauses the
  rollout until a person promotes or aborts it. Flagger: 425 on the gates
  (``confirm-rollout``, ``confirm-traffic-increase``, ``confirm-promotion``), which wait
  without counting a failure, so neither traffic nor promotion moves; and 200 on plain
  checks. The checks pass because Flagger has no "wait" answer for them: any non-2xx
  counts toward its failure threshold and ends in a rollback, which would carry out a
  rollback nobody approved. To freeze traffic while a person decides, register the
  endpoint as a ``confirm-traffic-increase`` webhook too. A final verdict whose decision
  is still being recorded is held the same way.
- a rollback a person rejected: not carried out; the canary goes on. Argo
  ``continue`` (a successful measurement: the rollout goes on), Flagger 200 on
  checks and on ``confirm-rollout`` / ``confirm-traffic-increase``, 425 on promotion:
  the judge does not judge a revision again after its final verdict, so the
  promotion waits for a person (or for a new revision's verdict).
- observe mode (route ``observe``; ``shadow`` likewise): Autonomic writes nothing to the
  cluster, but the endpoints are reads the delivery tool chose to consult, so they
  answer with the judge's verdict as it is (``rollback``: Argo ``rollback``, Flagger
  409; ``inconclusive``: Flagger 425 on promotion only), with ``route`` and
  ``decision_status`` in the payload saying that Autonomic decided nothing.

A question still open when the rollout is settled without its answer (the canary rolled
out again or deleted; its stable running the judged release, or the canary scaled to
zero, as Flagger leaves it once it promotes or rolls back; a Rollout promoted to the
judged hash (blueGreen: its active Service selects it), or aborted) is closed at the
next cycle as ``superseded`` (``_settled``), "no longer needed", with why: not
escalated, and counted neither right nor wrong; when
Flagger's ``post-rollout`` webhook says so first, at once (``_rollout_ended``). The
endpoints hold it; a Rollout aborted so and then retried on the same hash is judged
afresh.

An expired question is held, not treated as a rejection: a rejection is a person's call
that the verdict is wrong, an expiry is nobody's call (and has been escalated).

Every answer carries the judge's fields (``confidence``, ``sentence``, ``metrics``...),
``judge_verdict`` and ``judge_reason`` (the judge's own verdict and reason code),
``decision_id``, ``route`` and ``decision_status`` (null before a final verdict), and
``note`` (why this answer). ``verdict`` is the endpoint's answer; when it differs from the
judge's, ``reason`` is the sentence that says why, naming the decision.

Only the leader runs the loop. A standby (the Service sends the delivery tool to either
replica) answers every canary as held: ``inconclusive``, Flagger 425 on the gates and 200
on checks, never ``continue``, which would open a gate the leader holds.

While Autonomic is paused (``autonomic pause``, ``safety.paused``: ``paused``), an answer
that moves a release is an action: every known canary is answered as held, whatever the
decision (Argo ``inconclusive``, which pauses the rollout until a person promotes or
aborts it; Flagger 425 on the gates, 412 to a ``rollback`` webhook, and 200 on plain
checks, the least harmful answer Flagger allows there: any other counts toward a
rollback). The body says why (``paused``) and what would have been answered
(``would_answer``); the first hold of each canary release's verdict in a pause is
recorded as an escalated ``held/canary`` decision, reason code ``Paused``, with the
answer held and the verdict decision in its evidence. A 404 for an unknown name stands:
it is no verdict. A native canary's verdict routed ``auto`` is not sent to the runbooks
while paused (they would deny it, and nothing would send it again): marked on its
decision, which stays approved, it is handed on at the first cycle after the pause, as
are the verdicts people approve meanwhile (unless the canary moved on since).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from agent.clock import Clock
from agent.decisions import DecisionService, Proposal, Routed
from agent.errors import PermanentError, TransientError
from agent.ids import short_id
from agent.ledger import HELD_PREFIX, DecisionRecord, Feedback
from agent.metrics_port import IngestionClock, MetricsReader, one_fresh_value
from agent.observability import Metrics
from agent.routing import Thresholds
from agent.server import Request, Response, json_response
from agent.settings import CanarySettings
from forecasting.canary import (
    CanaryDataError,
    CanaryJudge,
    Decision,
    Interval,
    JudgeSettings,
    Verdict,
    parse_spec,
)
from remediation._types import counted
from remediation.matching import match
from remediation.ports import (
    ClusterReader,
    Kind,
    ObjectRef,
    UnreadObject,
    UnreadReporter,
    WorkloadState,
)
from remediation.schema import CANARY_OF, PromoteCanaryAction, Runbook
from remediation.signals import CANARY_CONFIRMED, Signal, canary_confidence, canary_signal
from remediation.snapshot import ClusterSnapshot
from remediation.windows import to_utc_text

__all__ = ["BASELINE_OF", "CANARY_OF", "JUDGE_CANARY", "PROMOTE_CANARY", "CanaryLoop", "standing"]

log = logging.getLogger("autonomic.canary")

# Posts a Kubernetes Event: (target, reason, message, warning).
EventPoster = Callable[[ObjectRef, str, str, bool], None]

# An Argo Rollout's own canary is judged only with this label "true" (and opted in): the
# verdict acts only through an Argo analysis that asks the endpoint.
JUDGE_CANARY = "autonomic.dev/judge-canary"
# The opt-in of a native canary to ``canary-promote`` (its target's ``requireLabels``).
PROMOTE_CANARY = "autonomic.dev/promote-canary"
# A fresh baseline: a workload (opted in) of the stable's kind, in its namespace, running
# the stable's images, deployed with the canary so that the canary is compared with pods
# as new as its own; labelled with the stable's name. This loop never writes to it.
BASELINE_OF = "autonomic.dev/baseline-of"
CONFIRMED = CANARY_CONFIRMED  # the least confidence of a verdict a person approved, sent on
VERIFY_WINDOW = 3600.0  # how long an acted-on verdict is watched for whether it stuck
# Prometheus's newest stored sample (of any series) may be this much older than a cycle,
# at least, before its answers count as frozen: twice ``canary.period``, and no less
# than this, so that a scrape interval longer than a short period is not taken for one.
FROZEN_AFTER = 30.0


class _BaselineUnreadError(Exception):
    """An analysis taken up from the ledger names a fresh baseline that this cycle's
    listing left out as unreadable (``CanaryLoop._started``): not judged this cycle."""

    def __init__(self, ref: ObjectRef, why: str) -> None:
        super().__init__(f"{ref}: {why}")
        self.ref, self.why = ref, why


@dataclass
class Watch:
    """An acted-on verdict, watched until ``until``: see ``CanaryLoop._verify``."""

    decision_id: str
    verdict: str  # promote | rollback
    # The stable workload, or for an Argo Rollout the Rollout itself; what the stable
    # runs is then its ``stableRS`` hash, and the release is the canary's hash.
    baseline: ObjectRef
    images: tuple[str, ...]  # the release judged
    before: tuple[str, ...]  # what the stable ran when the verdict was made
    until: float
    promoted_at: float | None = None


# Decision statuses in which a final verdict counts as acted on: routed ``auto`` (recorded
# ``approved``) or approved by a person, and ``done`` once ``cycle`` has settled either.
ACTED = frozenset({"approved", "done"})
# A metric's name and sentence are the key and the value of ``evidence.findings``: its
# entry in ``evidence.metrics`` holds the rest (the numbers).
_SAID = frozenset({"name", "sentence"})
STARTED_KEY = "canary/started"  # ledger guard key prefix: when an analysis began
# Ledger guard key prefix: a verdict's Event was posted (``_announce``). A verdict found in
# the ledger after a restart without it has its Event posted then (``_start``).
EVENT_KEY = "canary/event"
# How long after its verdict a restart still posts an Event that was not posted, and
# sends to the runbooks a verdict acted on that no runbook took up: the API server's
# default ``--event-ttl``, and longer than a canary's verdict stays current.
AGAIN_WITHIN = 3600.0
# An analysis: the canary, its revision, the release under test and (an Argo Rollout's)
# the canary ReplicaSet's pod-template hash.
AnalysisKey = tuple[ObjectRef, int, tuple[str, ...], str]
# Flagger webhooks that wait on a non-2xx answer without counting a failure (named in
# the webhook's ``metadata.type``; ``confirm-promotion`` is handled on its own).
ADVANCE_GATES = frozenset({"confirm-rollout", "confirm-traffic-increase"})


@dataclass
class Analysis:
    canary: ObjectRef
    baseline: ObjectRef
    revision: int
    images: tuple[str, ...]
    judge: CanaryJudge
    started_at: float
    latest: Verdict | None = None
    recorded: bool = False
    decision_id: str | None = None
    route: str | None = None  # the route the final verdict's decision took
    baseline_images: tuple[str, ...] = ()  # what the stable ran when last seen
    history: list[tuple[float, str, float]] = field(default_factory=list)
    record_failed: bool = False  # recording the final verdict failed; it is tried again
    ended: bool = False  # ended before its verdict (see ``CanaryLoop._end``)
    # Its decision was closed as superseded (the rollout was settled without it): an
    # Argo Rollout mid-rollout again on the same hash (retried) is judged afresh.
    superseded: bool = False
    # An Argo Rollout's canary (``canary`` is the Rollout, ``baseline`` its stable
    # ReplicaSet): the pod-template hashes of the canary and stable ReplicaSets (with the
    # blueGreen strategy, of the preview and active ones), and the strategy; "", "" and ""
    # for a canary Deployment or StatefulSet.
    pod_hash: str = ""
    stable_hash: str = ""
    strategy: str = ""
    # This replica leads again (``CanaryLoop.forget``): what the analysis holds is from
    # before another leader's turn; it is taken up from the ledger at its next interval.
    retake: bool = False
    promotes: bool = False  # as ``Pair.promotes``, as the canary was last seen
    workload: WorkloadState | None = None  # as ``Pair.workload``, as last seen
    # A native canary's fresh baseline (``BASELINE_OF``) its series are compared with in
    # place of the stable's, or None; and the sentence that says what was compared.
    compared: ObjectRef | None = None
    compared_says: str = ""
    # ``started_at`` is the analysis's clock (``canary.maxDuration`` counts from it, for
    # this canary revision and stable release); ``evidence_since`` is when the judge's
    # evidence begins: later when what the canary is compared with changed since (a fresh
    # baseline appeared, went or changed), which drops the evidence but not the clock.
    # ``changes``: how many times it changed. Both are kept in the ledger (``_started``).
    evidence_since: float = 0.0
    changes: int = 0


@dataclass(frozen=True)
class Side:
    """One side of a comparison as its queries select it: ``ref`` names it in messages
    (the Deployment, or the Rollout's ReplicaSet), ``workload`` fills ``$workload``, and
    ``pod_hash`` (a Rollout's ReplicaSet only) ``$podTemplateHash`` and ``$replicaset``."""

    ref: ObjectRef
    workload: str
    pod_hash: str = ""


@dataclass(frozen=True)
class Pair:
    """What a canary is compared with now: the key of its analysis, and its stable."""

    canary: ObjectRef
    baseline: ObjectRef
    revision: int
    images: tuple[str, ...]
    baseline_images: tuple[str, ...]
    pod_hash: str = ""
    stable_hash: str = ""
    strategy: str = ""  # an Argo Rollout's: canary or blueGreen
    # A native canary labelled ``autonomic.dev/promote-canary: "true"``: a promotion of it
    # reaches ``canary-promote`` (the question says so).
    promotes: bool = False
    # A native canary as read: which runbooks would act on a verdict on it depends on its
    # labels (``CanaryLoop._acting``).
    workload: WorkloadState | None = None
    # A native canary's fresh baseline, whose series are read in place of the stable's
    # (``CanaryLoop._fresh_baseline``), or None; and what the verdict says of the comparison
    # (also when a baseline was there but not used, why).
    compared: ObjectRef | None = None
    compared_says: str = ""

    @property
    def key(self) -> AnalysisKey:
        return (self.canary, self.revision, self.images, self.pod_hash)


class CanaryLoop:
    def __init__(
        self,
        settings: CanarySettings,
        *,
        reader: MetricsReader,
        cluster: ClusterReader,
        decisions: DecisionService,
        clock: Clock,
        submit: Callable[[Sequence[Signal]], None],
        opt_in_label: str = "autonomic.dev/enabled",
        events: EventPoster | None = None,
        is_leader: Callable[[], bool] | None = None,
        metrics: Metrics | None = None,
        paused: Callable[[], str | None] | None = None,
        runbooks: Callable[[], Iterable[Runbook]] | None = None,
    ) -> None:
        self.settings = settings
        # The loaded runbooks (the engine's), read for what a yes to a promotion or a
        # rollback question does (``_if_approved``); None where there are none to read
        # (then a native canary's question says nothing of it).
        self.runbooks = runbooks
        # Why Autonomic is paused (``autonomic pause``, ``safety.paused``), or None: while
        # it is, no verdict that would move a release is answered or handed on.
        self.paused = paused
        self._held_said: set[str] = set()  # the pause holds recorded (``_record_hold``)
        # The webhook server's threads record holds: looked for and recorded one at a time,
        # so two endpoints asking at once record one hold, not two.
        self._holding = threading.Lock()
        self.metrics = metrics
        # The label sets of the canary gauges published at the last cycle (``_publish``).
        self._published: dict[str, set[tuple[str, ...]]] = {}
        # Only the leader judges; a standby's endpoints hold rather than answer "continue".
        self.is_leader = is_leader
        self.events = events
        self.specs = parse_spec(settings.spec)
        self.reader = reader
        self.cluster = cluster
        self.decisions = decisions
        self.clock = clock
        self.submit = submit
        self.opt_in_label = opt_in_label
        self.analyses: dict[AnalysisKey, Analysis] = {}
        # The analysis the endpoints answer from, per canary: the one last judged.
        self.current: dict[ObjectRef, AnalysisKey] = {}
        self.watching: dict[str, Watch] = {}  # acted-on verdicts, by decision id
        self._resumed: float | None = None  # when unverified verdicts were read back
        self._frozen_now: str | None = None  # this cycle's ``_frozen``, once asked
        self.errors: dict[str, str] = {}
        self._said: dict[str, tuple[str, str]] = {}  # canary -> (kind, words) _fault set
        # The items of this loop's passes whose handling raised (``_each_failed``): item ->
        # (its last error, the cycle it failed at). The traceback is logged when the error
        # is new; an item that did not fail at the last cycle is forgotten.
        self._failed: dict[str, tuple[str, int]] = {}
        self._round = 0  # cycles begun
        # Approved verdicts this process has sent to the runbooks (``_hand_on``) and not yet
        # marked done: a mark that failed is tried again without sending them again. In
        # memory, as the engine's queue they went to is: a restart sends them again.
        self._sent: set[str] = set()
        # Verdicts marked done whose watch did not start (an error after the mark): read
        # back at the next cycle, each alone, as after a restart (``_watch_unwatched``).
        self._unwatched: set[str] = set()
        # Verdicts routed auto that this process sent to the runbooks (``_announce``). The
        # engine's queue is in memory: one approved in the ledger but not sent by this
        # process (a crash between the record and the send) is sent at ``_hand_on``.
        self._announced: set[str] = set()
        # Whether this process has looked for verdicts acted on (``done``) that no runbook
        # took up: sent, then lost with the engine's queue in a crash (``_send_lost``).
        self._lost_sent = False
        # This cycle's fresh baselines (``BASELINE_OF``, opted in) by (namespace, the
        # stable they name), of any kind; and, per canary, why a baseline found for its
        # stable is not used, as last logged (said once, not every cycle).
        self._baselines: dict[tuple[str | None, str], list[WorkloadState]] = {}
        # What this cycle's listing left out as unreadable (there, but not read), and why.
        self._unreadable: dict[ObjectRef, str] = {}
        self._baseline_said: dict[ObjectRef, str] = {}

    def forget(self) -> None:
        """For a replica that begins to lead again: what it judged before is from before
        another leader's turn, which may have recorded the verdict (this replica's judge,
        short of the intervals of that turn, would decide it a second time) or verified a
        verdict it watches. Each analysis without a recorded verdict is taken up from the
        ledger at its next interval, as after a restart (its verdict if one was recorded,
        else its start and its intervals read back), and the verdicts to watch are read
        again. Until then the endpoints answer from what it holds."""
        for analysis in self.analyses.values():
            if not analysis.recorded:
                analysis.retake = True
        self.watching.clear()
        self._resumed = None

    # ------------------------------------------------------------------ loop
    def cycle(self) -> None:
        now = self.clock.now()
        for gone in self._said.keys() - self.errors.keys():  # faults ended since
            del self._said[gone]
        self._round += 1
        self._failed = {k: v for k, v in self._failed.items() if v[1] >= self._round - 1}
        unwatched = set(self._unwatched)  # read back this cycle; those added below, next
        # The verdicts approved and those still asked, in one read. Handing on the
        # approved ones makes no question, and a question answered since this read is
        # closed only if still asked (``supersede`` checks), so reading both first is as
        # reading the asked ones after. At most 2000 between them (1000 of each when they
        # were two reads); an approved one is handed on within the cycle, so few wait.
        open_verdicts = self.decisions.ledger.decisions(
            kind="canary", status=["approved", "asked"], limit=2000
        )
        # A verdict approved (by the route or a person) is the answer: the delivery tool
        # that owns the rollout acts on it (the endpoints count approved and done alike
        # as acted on), and the runbooks get it as a signal: an automatic one when it was
        # recorded, one a person approved now, as confirmed.
        approved = [r for r in open_verdicts if r.status == "approved"]
        self._sent &= {r.id for r in approved}  # marked done, or closed, since
        why_paused = self._pause()
        if why_paused is not None and approved:
            # Handing on is acting: they wait, still approved, and the endpoints hold
            # them, until the pause ends.
            log.info(
                "canary: %d approved verdict(s) not handed on: Autonomic is %s",
                len(approved),
                why_paused,
            )
            approved = []
        if why_paused is None and not self._lost_sent:
            self._send_lost(now)
        for record in approved:
            try:
                self._hand_on(record, now)
            except TransientError:
                raise
            except Exception as exc:
                self._each_failed(
                    f"verdict {record.id}",
                    f"handing on canary decision {record.id} ({record.decision_type} of "
                    f"{record.subject}, approved)",
                    exc,
                    "handed on again at the next cycle while it is approved, without "
                    "sending it to the runbooks twice (marked done before the error, it is "
                    "read back to be watched then); the other verdicts go on",
                )
        # A verdict still asked about whose canary its delivery tool (or a person) has
        # settled since: the question means nothing now, and its expiry would escalate it.
        for record in [r for r in open_verdicts if r.status == "asked"]:
            why = self._settled(record)
            if why:
                self._close_question(record, why)
        self._verify(now, unwatched)
        judged: set[ObjectRef] = set()
        self._frozen_now = None  # why Prometheus's answers are old now; asked once a cycle
        # A canary left out as unreadable is there: said so, not "gone".
        unread: list[UnreadObject] = []
        listed = (
            self.cluster.list_workloads(unread=unread)
            if isinstance(self.cluster, UnreadReporter)
            else self.cluster.list_workloads()
        )
        unreadable = {u.ref: u.why for u in unread}
        self._unreadable = unreadable
        listed = list(listed)
        self._baselines = {}
        for workload in listed:
            names = workload.labels.get(BASELINE_OF)
            if names and workload.labels.get(self.opt_in_label) == "true":
                at = (workload.ref.namespace, names)
                self._baselines.setdefault(at, []).append(workload)
        for workload in listed:
            if workload.labels.get(self.opt_in_label) != "true":
                continue
            if workload.ref.kind == "Rollout" and workload.labels.get(JUDGE_CANARY) == "true":
                pairing = self._rollout_pair
            elif workload.ref.kind in ("Deployment", "StatefulSet") and workload.labels.get(
                CANARY_OF
            ):
                pairing = self._native_pair
            else:
                continue
            judged.add(workload.ref)
            try:
                # Pairing reads the stable: one that is there but cannot be read (the
                # adapter's ``BadObjectError``) fails this canary only, as judging does.
                pair = pairing(workload)
                if pair is None:
                    continue
                self._judge_pair(pair, now)
            except TransientError:
                raise
            except Exception as exc:
                self._judge_failed(workload.ref, exc)
        for ref in [r for r in self.current if r not in judged]:
            if ref in unreadable:
                self._end(
                    ref,
                    f"it could not be read ({unreadable[ref]}): it is there, but its release "
                    "and its pods are not known; judged again once it can be read",
                )
            elif ref.kind == "Rollout":
                self._end(
                    ref,
                    f"it is gone, or no longer opted in ({self.opt_in_label}) and labelled "
                    f"{JUDGE_CANARY}",
                )
            else:
                self._end(ref, f"it is gone, or no longer labelled {CANARY_OF} and opted in")
        for ref in self._baseline_said.keys() - judged:
            del self._baseline_said[ref]
        self._publish(judged)

    def _hand_on(self, record: Any, now: float) -> None:
        """Hand on one approved verdict (``cycle``), then watch it (``_follow``). It is
        sent to the runbooks once: when marking it done fails after it was sent, the next
        cycle marks it without sending it again (``_sent``)."""
        # Routed auto while paused: not sent to the runbooks then (``_announce``). Routed
        # auto and not sent by this process: recorded before a crash that lost the signal
        # with the engine's queue (unless a runbook took it up first): sent now.
        sent = record.id in self._sent
        deferred = not sent and record.route == "auto" and self._deferred(record)
        lost = (
            not sent
            and record.route == "auto"
            and not deferred
            and record.id not in self._announced
            and not self._taken_up(record)
        )
        if not sent and (record.route != "auto" or deferred or lost):
            read = self._moved_on(record)
            if read is None:
                return  # the canary cannot be read now: looked at again next cycle
            moved_on, canary = read
            if not moved_on and lost:
                settled = self._settled_since(record, canary)
                if settled is None:
                    return  # its stable cannot be read now: looked at again next cycle
                moved_on = settled
            if moved_on:
                self._overtaken(record, moved_on, now)
                return
            self._confirmed(
                record,
                now,
                by_person=not (deferred or lost),
                canary=canary,
                judged=lost,
                resent=lost,
            )
            self._sent.add(record.id)
        if self.decisions.ledger.transition(record.id, ["approved"], "done", now):
            self._unwatched.add(record.id)  # until its watch has started below
            verdict = record.proposal.get("verdict", "the verdict")
            watched = (
                "active ReplicaSet (status.blueGreen.activeSelector)"
                if record.proposal.get("strategy") == "blueGreen"
                else "stable ReplicaSet"
            )
            self.decisions.progress(
                record.id,
                f"{verdict}: handed to Argo Rollouts through the verdict endpoint (no "
                f"runbook acts on a Rollout); its {watched} is watched for an hour"
                if record.proposal.get("pod_hash")
                else f"{verdict}: handed on (to the delivery tool through the verdict "
                "endpoints, and to the runbooks as a canary signal); the stable is watched "
                "for an hour",
            )
        self._sent.discard(record.id)
        self._announced.discard(record.id)
        self._follow(record, now)
        self._unwatched.discard(record.id)

    def _taken_up(self, record: DecisionRecord) -> bool:
        """Whether a runbook decision was started by verdict ``record`` (its signal's
        evidence names it: ``verdict_decision``)."""
        for later in self.decisions.ledger.decisions(
            kind="remediation", since=record.created_at, limit=1000
        ):
            signal = later.evidence.get("signal")
            if isinstance(signal, dict) and signal.get("verdict_decision") == record.id:
                return True
        return False

    def _send_lost(self, now: float) -> None:
        """Once a process: a native canary's
        rollback or promotion marked done within the last ``AGAIN_WITHIN`` that no runbook
        took up is sent to the runbooks again. ``_hand_on`` marks a verdict done as it
        sends it, into the engine's queue, which is in memory: a crash before the engine's
        next cycle lost it, and nothing sent it again (a promotion a person approved was
        never carried out). One whose canary has moved on since is not sent; one that no
        runbook takes up (not opted in) is only sent again, to no effect."""
        recent = self.decisions.ledger.decisions(
            kind="canary", status=["done"], updated_since=now - AGAIN_WITHIN, limit=1000
        )
        for record in recent:
            try:
                if not self._send_lost_one(record, now):
                    return  # the canary cannot be read now: looked for again next cycle
            except TransientError:
                raise
            except Exception as exc:
                self._each_failed(
                    f"verdict {record.id}",
                    f"looking whether canary decision {record.id} ({record.decision_type} of "
                    f"{record.subject}, acted on) reached the runbooks",
                    exc,
                    "not sent again (the other verdicts go on)",
                )
        self._lost_sent = True

    def _send_lost_one(self, record: DecisionRecord, now: float) -> bool:
        """One verdict of ``_send_lost``: sent again if no runbook took it up. False when
        its canary cannot be read now."""
        target = _subject_ref(record.subject)
        verdict = record.proposal.get("verdict")
        if target is None or target.kind == "Rollout" or record.proposal.get("pod_hash"):
            return True
        if verdict not in ("rollback", "promote") or self._taken_up(record):
            return True
        read = self._moved_on(record)
        if read is None:
            return False
        moved_on, canary = read
        settled = "" if moved_on else self._settled_since(record, canary)
        if settled is None:
            return False
        if moved_on or settled:
            log.info(
                "canary %s: %s verdict (decision %s) not sent to the runbooks again: %s",
                target,
                verdict,
                record.id,
                moved_on or settled,
            )
            return True
        by_person = record.route != "auto"
        self._confirmed(
            record, now, by_person=by_person, canary=canary, judged=not by_person, resent=True
        )
        log.warning(
            "canary %s: %s verdict (decision %s) was acted on but no runbook took it up "
            "(a restart lost it): sent to the runbooks again",
            target,
            verdict,
            record.id,
        )
        return True

    def _settled_since(self, record: DecisionRecord, canary: WorkloadState | None) -> str | None:
        """Why a native canary's verdict sent again after a restart (``_hand_on``,
        ``_send_lost``) no longer applies though its canary (``canary``, as read now) is
        at the revision and release judged: the rollout was settled another way since,
        as a question still asked would be closed for (``_settled``): the canary no
        longer labelled a canary or opted in, scaled to zero replicas, or its stable
        running the judged release (promoted by hand). "" when none of these; None
        when its stable cannot be read now. Before, only a canary deleted or rolled out
        again stopped the copy, and a restart sent a rollback or promotion a person had
        settled by hand to the runbooks again. An Argo Rollout's verdict is never
        settled so: it is not labelled a canary, and Argo, not the runbooks, acts on it
        (its canary moving on is told by its hash, in ``_moved_on``)."""
        target = _subject_ref(record.subject)
        if canary is None or record.proposal.get("pod_hash"):
            return ""
        if target is not None and target.kind == "Rollout":
            return ""
        if not canary.labels.get(CANARY_OF) or canary.labels.get(self.opt_in_label) != "true":
            return (
                f"{canary.ref} is no longer labelled {CANARY_OF} and opted in "
                f"({self.opt_in_label}): it is no longer judged as a canary"
            )
        if canary.replicas == 0:
            return (
                f"{canary.ref} is scaled to zero replicas: its rollout was finished or "
                "stopped another way"
            )
        judged = tuple(str(i) for i in record.proposal.get("images") or ())
        stable_ref = _subject_ref(str(record.proposal.get("baseline", "")))
        if not judged or stable_ref is None:
            return ""
        try:
            stable = self.cluster.get_workload(stable_ref)
        except (TransientError, PermanentError) as exc:
            log.warning("canary %s: cannot read its stable %s: %s", canary.ref, stable_ref, exc)
            return None
        if stable is not None and tuple(c.image for c in stable.containers) == judged:
            return (
                f"its stable {stable_ref} now runs {', '.join(judged)}, the release judged: "
                "it was promoted"
            )
        return ""

    def _watch_unwatched(self, now: float, due: set[str] | frozenset[str]) -> None:
        """Read back, each alone, the verdicts marked done at an earlier cycle whose watch
        did not start (an error after the mark), and watch them as after a restart
        (``_resume_one``). Only those: the other verdicts acted on are not read again."""
        for decision_id in sorted(due & self._unwatched):
            if decision_id in self.watching:
                self._unwatched.discard(decision_id)
                continue
            try:
                record = self.decisions.ledger.get_decision(decision_id)
                if record is not None and record.status == "done":
                    self._resume_one(record, now)
            except TransientError:
                raise
            except Exception as exc:
                self._each_failed(
                    f"verdict {decision_id}",
                    f"reading back canary decision {decision_id} (acted on) to watch it",
                    exc,
                    "not watched; read back again at the next cycle (the other verdicts go on)",
                )
                continue
            self._unwatched.discard(decision_id)

    def _publish(self, judged: set[ObjectRef]) -> None:
        """The canary gauges: for each canary seen this cycle with an analysis, its
        verdict (a final one stands while the canary exists), the judge's confidence, and
        each metric's estimate and status as the judge sees them. The series of a canary
        no longer there or no longer judged, and of a verdict or status no longer current,
        are removed, not left standing."""
        if self.metrics is None:
            return
        m = self.metrics
        gauges: dict[str, Any] = {
            "verdict": m.canary_verdict,
            "confidence": m.canary_confidence,
            "difference": m.canary_metric_difference,
            "status": m.canary_metric_status,
        }
        values: dict[str, dict[tuple[str, ...], float]] = {name: {} for name in gauges}
        for ref, key in self.current.items():
            if ref not in judged:
                continue
            analysis = self.analyses.get(key)
            verdict = analysis.latest if analysis is not None else None
            if verdict is None:
                continue
            canary = f"{ref.namespace}/{ref.name}"
            values["verdict"][(canary, verdict.decision.value)] = 1.0
            values["confidence"][(canary,)] = verdict.confidence
            for finding in verdict.metrics:
                estimate = finding.estimate
                values["difference"][(canary, finding.name)] = (
                    estimate if estimate is not None and math.isfinite(estimate) else math.nan
                )
                dry_run = "true" if finding.dry_run else "false"
                values["status"][(canary, finding.name, finding.status.value, dry_run)] = 1.0
        for name, gauge in gauges.items():
            for labels in self._published.get(name, set()) - values[name].keys():
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)
            for labels, value in values[name].items():
                gauge.labels(*labels).set(value)
            self._published[name] = set(values[name])

    def _native_pair(self, workload: WorkloadState) -> Pair | None:
        """A canary Deployment or StatefulSet and the stable its label names; None (its
        analysis ended, saying why) when there is none to compare it with now."""
        stable = workload.labels[CANARY_OF]
        images = tuple(c.image for c in workload.containers)
        stable_ref = ObjectRef(workload.ref.kind, stable, workload.ref.namespace)
        if stable_ref == workload.ref:
            self._end(workload.ref, f"{CANARY_OF} names the canary itself, not its stable")
            return None
        baseline = self.cluster.get_workload(stable_ref)
        if baseline is None:
            self._end(
                workload.ref,
                f"its stable {stable_ref} (named by {CANARY_OF}) does not exist; "
                "nothing to compare it with",
            )
            return None
        stable_images = tuple(c.image for c in baseline.containers)
        if stable_images == images:
            return None  # the canary runs what the stable runs (rolled back): nothing to judge
        compared, says = self._fresh_baseline(workload, baseline, stable_images)
        return Pair(
            workload.ref,
            stable_ref,
            workload.revision,
            images,
            stable_images,
            promotes=workload.labels.get(PROMOTE_CANARY) == "true",
            workload=workload,
            compared=compared,
            compared_says=says,
        )

    def _fresh_baseline(
        self, canary: WorkloadState, stable: WorkloadState, stable_images: tuple[str, ...]
    ) -> tuple[ObjectRef | None, str]:
        """The fresh baseline a native canary is compared with in place of its stable, and
        the sentence its verdict says of the comparison. A baseline is a workload of the
        stable's kind in its namespace, opted in and labelled ``BASELINE_OF`` with the
        stable's name (the canary and the stable themselves aside). It is used only when
        it is the only one, its pod template is the stable's (as far as it is read) and it
        is as large as the canary (``_unlike``); otherwise (one of another kind too) the
        stable is compared with, and why is logged once (until the reason changes) and
        said in the verdict's sentence. A baseline that began more than one
        ``canary.period`` before the canary's current release is still used, and the
        sentence says how much earlier (its pods may be warmer than the canary's). This
        loop never writes to it: promotion and rollback act on the stable and the canary
        (other loops and runbooks treat it as any opted-in workload)."""
        ref = stable.ref
        labelled = [
            w
            for w in self._baselines.get((ref.namespace, ref.name), [])
            if w.ref not in (canary.ref, ref)
        ]
        found = [w for w in labelled if w.ref.kind == ref.kind]
        if not labelled:
            self._baseline_said.pop(canary.ref, None)
            return None, ""
        stable_name = f"{ref.namespace}/{ref.name}"
        if not found:
            # Passed over in silence before: a baseline of another kind is a mistake
            # (a Deployment for a StatefulSet's canary) someone should hear of.
            names = ", ".join(sorted(str(w.ref) for w in labelled))
            why = (
                f"{names} labelled {BASELINE_OF}: {ref.name} "
                f"{'is' if len(labelled) == 1 else 'are'} not a {ref.kind}, as the stable "
                "is, so not used"
            )
        elif len(found) > 1:
            names = ", ".join(sorted(f"{w.ref.namespace}/{w.ref.name}" for w in found))
            why = (
                f"{len(found)} workloads are labelled {BASELINE_OF}: {ref.name} ({names}), "
                "so none is used: which one is the fresh baseline cannot be told"
            )
        else:
            (fresh,) = found
            why = _unlike(canary, stable, fresh)
            if not why:
                self._baseline_said.pop(canary.ref, None)
                return fresh.ref, self._baseline_sentence(canary, fresh)
        if self._baseline_said.get(canary.ref) != why:
            log.warning("canary %s: compared with its stable %s: %s", canary.ref, stable_name, why)
            self._baseline_said[canary.ref] = why
        return None, f"Compared with the stable {stable_name}: {why}."

    def _baseline_sentence(self, canary: WorkloadState, fresh: WorkloadState) -> str:
        """What a verdict says of the fresh baseline ``fresh`` it was judged against: its
        name, when its current release began, and how long before the canary's, when
        that is more than one ``canary.period``."""
        name = f"{fresh.ref.namespace}/{fresh.ref.name}"
        started = fresh.last_rollout_at
        if started is None:
            return (
                f"Compared with baseline {name} (when it started is not known), the "
                "stable's images."
            )
        says = f"Compared with baseline {name}, started {to_utc_text(started)}, the stable's images"
        began = canary.last_rollout_at
        if began is not None and began - started > self.settings.period:
            says += (
                f"; it started {_age(began - started)} before the canary, so it is not as "
                "fresh as the canary (its pods may be warmer)"
            )
        return says + "."

    def _rollout_pair(self, workload: WorkloadState) -> Pair | None:
        """An Argo Rollout mid-rollout: its canary ReplicaSet (``status.currentPodHash``)
        against its stable one (``status.stableRS``); with the blueGreen strategy, before
        promotion, its preview ReplicaSet (``status.currentPodHash``) against its active one
        (``status.blueGreen.activeSelector``). None when it has nothing to judge now
        (finished, aborted, promoted, no known strategy: ``_not_mid_rollout``): an analysis
        still judging it ends."""
        why = _not_mid_rollout(workload)
        if why:
            if workload.ref in self.current:
                self._end(workload.ref, why)
            return None
        ref = workload.ref
        baseline_hash = _serving_hash(workload)
        stable_ref = ObjectRef("ReplicaSet", f"{ref.name}-{baseline_hash}", ref.namespace)
        images = workload.images_by_hash.get(workload.pod_hash) or tuple(
            c.image for c in workload.containers
        )
        return Pair(
            ref,
            stable_ref,
            workload.revision,
            images,
            workload.images_by_hash.get(baseline_hash, ()),
            pod_hash=workload.pod_hash,
            stable_hash=baseline_hash,
            strategy=workload.strategy,
        )

    def _judge_pair(self, pair: Pair, now: float) -> None:
        """One interval of the pair's analysis (started, or taken up from the ledger, first)."""
        key = pair.key
        analysis = self.analyses.get(key)
        why = ""
        changed: Analysis | None = None  # the analysis whose comparison changed, if one did
        if analysis is not None and analysis.ended:
            why = "its earlier analysis ended before a verdict"
        elif analysis is not None and analysis.superseded and analysis.pod_hash:
            why = (
                f"its canary {analysis.pod_hash} is mid-rollout again (retried) and the "
                f"verdict on it, decision {analysis.decision_id}, was closed unanswered"
            )
        elif analysis is not None and analysis.baseline != pair.baseline:
            why = f"its stable is now {pair.baseline}, not {analysis.baseline}"
        elif (
            analysis is not None
            and not analysis.recorded
            and (analysis.baseline_images and analysis.baseline_images != pair.baseline_images)
        ):
            why = (
                f"its stable {pair.baseline} rolled out {', '.join(pair.baseline_images)} "
                f"(was {', '.join(analysis.baseline_images)}) during the analysis"
            )
        elif (
            analysis is not None
            and not analysis.recorded
            and analysis.compared is not None
            and pair.compared is None
            and analysis.compared in self._unreadable
        ):
            # Left out of the listing as unreadable is not gone: before, this started the
            # analysis again against the stable, and again against the baseline once it
            # could be read, throwing the evidence away twice. The interval is passed over.
            self.current[pair.canary] = key
            self._fault(
                pair.canary,
                f"no interval this time: its baseline {analysis.compared} could not be "
                f"read ({self._unreadable[analysis.compared]}); its series are not read "
                "in place of it until it can be",
            )
            return
        elif analysis is not None and not analysis.recorded and analysis.compared != pair.compared:
            # The series compared are others now, so the evidence so far is of another
            # pair and is dropped; the clock is not. Before, this started the analysis
            # again with a fresh clock, so a label toggled more often than maxDuration
            # kept the canary at "continue" for ever: no verdict, no escalation.
            was = (
                f"baseline {analysis.compared}"
                if analysis.compared is not None
                else f"its stable {pair.baseline}"
            )
            log.info(
                "canary %s: its evidence so far is dropped (its maximum duration still counts "
                "from %s): %s",
                pair.canary,
                to_utc_text(analysis.started_at),
                f"it is compared with baseline {pair.compared} now, not {was}"
                if pair.compared is not None
                else f"its baseline {analysis.compared} is gone or no longer usable: it is "
                f"compared with its stable {pair.baseline} now",
            )
            changed, analysis = analysis, None
        if why:
            log.info("canary %s: analysis started again: %s", pair.canary, why)
            analysis = None
        elif analysis is not None and analysis.retake:
            analysis = None  # taken up from the ledger (``forget``)
        if analysis is None:
            try:
                analysis = self._start(pair, now, fresh=bool(why), changed=changed)
            except (TransientError, PermanentError) as exc:
                self._fault(pair.canary, f"its earlier verdict could not be read: {exc}")
                return
            except _BaselineUnreadError as unread:
                # Taken up (a restart, a new leader) while the baseline its start names
                # is left out of the listing as unreadable: passed over, as the live run
                # passes it over, not taken for a change of the comparison.
                self.current[pair.canary] = key
                self._fault(
                    pair.canary,
                    f"no interval this time: its baseline {unread.ref} could not be read "
                    f"({unread.why}); its series are not read in place of it until it can be",
                )
                return
            self.analyses[key] = analysis
        self.current[pair.canary] = key
        if analysis.recorded:
            return
        if analysis.latest is not None and analysis.latest.final:
            self._record(analysis, analysis.latest)  # recording it failed before: again
            return
        analysis.baseline_images = pair.baseline_images
        analysis.promotes, analysis.workload = pair.promotes, pair.workload
        analysis.compared_says = pair.compared_says
        if self._frozen_now is None:
            self._frozen_now = self._frozen(now)
        if self._frozen_now:
            self._fault(pair.canary, f"no interval this time: {self._frozen_now}")
            return
        try:
            self._step(analysis, now)
        except (TransientError, PermanentError) as exc:
            self._fault(pair.canary, f"no interval this time: {exc}", kind="ReadFailed")
        except CanaryDataError as exc:
            self._fault(pair.canary, f"no interval this time: {exc}")

    def _judge_failed(self, ref: ObjectRef, exc: Exception) -> None:
        """Judging one canary raised an error that is not a ``TransientError`` and that
        ``_judge_pair`` does not expect (a bug, a stored analysis that cannot be read):
        counted and logged (``_each_failed``), kept as why the canary was not judged (the
        endpoints say it), and the other canaries go on; before, it ended the cycle at
        every cycle, and no canary after it was judged. Judged again at the next cycle."""
        name = str(ref)
        error = self._each_failed(
            name,
            f"canary {ref} could not be judged",
            exc,
            "judged again at the next cycle (the other canaries go on)",
        )
        self._said.pop(name, None)
        self.errors[name] = (
            f"not judged this cycle: {error} (an error Autonomic does not expect: the log "
            "has the traceback); judged again at the next cycle"
        )

    def _each_failed(self, item: str, what: str, exc: Exception, then: str) -> str:
        """One item of a pass of this loop (a canary to judge, an approved verdict to hand
        on, an acted-on verdict to watch) raised an error that is not a
        ``TransientError``: counted in ``autonomic_errors_total`` (``Unexpected``, or the
        ``PermanentError``'s reason) each time, and logged as ``what`` failed, with the
        error, ``then`` (what becomes of the item, the others going on) and the
        traceback, when the item's error is new (not the one it failed with at the last
        cycle). Returns the error, as "Type: message"."""
        kind = exc.reason if isinstance(exc, PermanentError) else "Unexpected"
        if self.metrics is not None:
            self.metrics.errors.labels(kind=kind).inc()
        error = f"{type(exc).__name__}: {exc}"
        last = self._failed.get(item)
        if last is None or last[0] != error:
            log.error(
                "%s: %s; %s",
                what,
                error,
                then,
                exc_info=None if isinstance(exc, PermanentError) else exc,
            )
        self._failed[item] = (error, self._round)
        return error

    def _frozen(self, now: float) -> str:
        """Why Prometheus's answers would be old numbers now, or "" when they are not (or
        it cannot be told): it has stored no sample, of any series, for two periods. A
        gauge column (a latency or memory gauge, read as it is) would still answer with
        its last value for Prometheus's 5-minute lookback, stamped as current, and each
        repeat would count as one more interval of evidence: a verdict on old numbers."""
        if not isinstance(self.reader, IngestionClock):
            return ""
        newest = self.reader.newest_sample()
        limit = max(2.0 * self.settings.period, FROZEN_AFTER)
        if newest is None or now - newest <= limit:
            return ""
        since = to_utc_text(newest)
        return (
            f"Prometheus has stored no new sample since {since} (its scrapes or remote "
            "writes have stopped), so its answers are old numbers; the analysis waits for "
            "fresh ones"
        )

    def _end(self, canary: ObjectRef, why: str) -> None:
        """``canary`` cannot be judged now (``why``): an analysis still judging it ends,
        so that it starts afresh once it can be; a final verdict stands."""
        key = self.current.get(canary)
        if key is not None and key in self.analyses:
            if self.analyses[key].recorded:
                return
            self.analyses[key].ended = True  # kept for its history (the simulation's report)
        self.current.pop(canary, None)
        if self.errors.get(str(canary)) != why:
            log.warning("canary %s: not judged: %s", canary, why)
            self.errors[str(canary)] = why

    def _start(
        self, pair: Pair, now: float, *, fresh: bool = False, changed: Analysis | None = None
    ) -> Analysis:
        """A new analysis of the pair; or, when the ledger already holds the final verdict
        on this pair (made before a restart or a change of leader), that verdict again,
        so that it is neither judged nor decided twice and the endpoints answer from it.
        ``changed``: this process's analysis of the same canary revision and stable, whose
        comparison changed (``_judge_pair``): the new one keeps its clock, not its evidence."""
        canary, baseline = pair.canary, pair.baseline
        key = _incident_key(canary, pair.revision, pair.images, pair.pod_hash)
        record = self.decisions.ledger.latest_for_incident(key)
        final = (
            record is not None
            and record.proposal.get("baseline") == str(baseline)
            # a Rollout's verdict closed unanswered: the rollout was retried, judged afresh
            and not (pair.pod_hash and record.status == "superseded")
        )
        started, since, changes = (
            (now, now, 0)
            if final
            else self._started(
                key, baseline, pair.baseline_images, now, fresh, pair.compared, changed
            )
        )
        judge = self._judge(started if started < now else None)
        analysis = Analysis(canary, baseline, pair.revision, pair.images, judge, started)
        analysis.evidence_since, analysis.changes = since, changes
        analysis.baseline_images = pair.baseline_images
        analysis.compared, analysis.compared_says = pair.compared, pair.compared_says
        analysis.promotes, analysis.workload = pair.promotes, pair.workload
        analysis.pod_hash, analysis.stable_hash = pair.pod_hash, pair.stable_hash
        analysis.strategy = pair.strategy
        if final and record is not None:
            analysis.latest = _recorded_verdict(record)
            # What the recorded verdict was compared with, not what is there now (a fresh
            # baseline is often deleted once the verdict is out).
            said = record.evidence.get("compared_with")
            analysis.compared = _subject_ref(str(record.proposal.get("compared_with") or ""))
            analysis.compared_says = said if isinstance(said, str) else ""
            analysis.route, analysis.decision_id = record.route, record.id
            analysis.recorded = True
            log.info("canary %s: its final verdict is decision %s", canary, record.id)
            if (
                record.created_at >= now - AGAIN_WITHIN
                and not self.decisions.ledger.guard(f"{EVENT_KEY}/{record.id}")[1]
            ):
                # Recorded, then a crash before its Event was posted: posted now.
                decision = str(record.proposal.get("verdict"))
                self._post_event(canary, decision, record.reason, record.id, record.route)
        elif since < now:
            replayed = self._catch_up(analysis, now)
            log.info(
                "canary %s: analysis taken up again, begun %.0f s ago (its maximum duration "
                "counts from then)%s; %s",
                canary,
                now - started,
                f", its evidence since {now - since:.0f} s ago (what it is compared with "
                f"changed {_times(changes)})"
                if since > started
                else "",
                replayed,
            )
        return analysis

    def _catch_up(self, analysis: Analysis, now: float) -> str:
        """Give an analysis taken up again (a restart, a new leader) the evidence it had:
        the intervals since its evidence began (``evidence_since``: its start, or the
        last change of what it is compared with), read back from Prometheus with one range
        query per column and side, fed to the new judge in order (the time the daemon was down
        included: the canary ran through it). The judge then goes on where the last one
        stopped, instead of collecting its evidence again from nothing. An interval the
        judge refuses (a counted metric's data it cannot use: a negative value, more
        events than trials, a counter reset) is skipped as the live run skips it, with no
        evidence changed, and said once in the log; before, one such interval threw all
        the others away. A read that fails leaves the judge empty, and the log says so."""
        period = self.settings.period
        # The intervals before this cycle's own, on this process's grid: now - k periods
        # for k = 1, 2, ... back to the start itself. The live run judged one interval at
        # the start (the cycle that begins an analysis judges at once) and one each period
        # after it: floor((now - start) / period) + 1 up to now (one at now included, when
        # now is on its grid), as many as these and this cycle's own. Before, the start
        # itself was left out, so a restart a whole number of periods after the start
        # (on the live run's grid) rebuilt a judge one interval short of the live one's.
        count = math.floor((now - analysis.evidence_since) / period + 1e-9)
        if count < 1:
            return "no earlier interval to read back"
        start = now - count * period
        try:
            sides = [
                self._read_range(side, start, now - period, count, now) for side in _sides(analysis)
            ]
        except (TransientError, PermanentError) as exc:
            return f"its earlier intervals could not be read back ({exc}): judging afresh"
        refused: list[tuple[float, str]] = []
        for i in range(count):
            at = start + i * period
            interval = Interval(at, sides[0][i], sides[1][i])
            try:
                verdict = analysis.judge.update(interval)
            except CanaryDataError as exc:  # as ``_judge_pair``: no interval, nothing changed
                refused.append((at, str(exc)))
                concluded = analysis.judge.conclude()  # from the maximum duration on, as live
                if concluded is None or not concluded.final:
                    continue
                verdict = concluded
            analysis.latest = verdict
            analysis.history.append((at, verdict.decision.value, verdict.confidence))
            if verdict.final:
                break
        read = f"{count} earlier intervals read back from Prometheus"
        if not refused:
            return read
        at, why = refused[-1]
        times = f"{len(refused)} interval{'s' if len(refused) != 1 else ''}"
        log.warning(
            "canary %s: %s read back not judged, as when read live (latest: no interval at %s: %s)",
            analysis.canary,
            times,
            to_utc_text(at),
            why,
        )
        return f"{read} ({times} not judged: data the judge cannot use)"

    def _read_range(
        self, side: Side, start: float, end: float, count: int, now: float
    ) -> list[dict[str, float]]:
        """``count`` rows of one value per column for ``side``, at ``start`` + i x period
        (as ``_read`` at each of those times: a query that returns several series is
        missing throughout). A sample a range read made a gap because it was +-Inf is
        read back as that value, as the live run's instant read had it: refused and
        counted toward ``OffScale`` again, never taken for a missing interval, on which
        the other metrics' evidence would grow where the live run had refused it."""
        rows: list[dict[str, float]] = [{} for _ in range(count)]
        for column, template in self._templates(side).items():
            query = _filled(template, side)
            found = self.reader.range(query, start, end, self.settings.period, now)
            values = found[0].series.values if len(found) == 1 else ()
            infinite = dict(found[0].infinite) if len(found) == 1 else {}
            for i, row in enumerate(rows):
                row[column] = infinite.get(i, float(values[i])) if i < len(values) else math.nan
        return rows

    def _judge(self, started: float | None) -> CanaryJudge:
        return CanaryJudge(
            self.specs,
            JudgeSettings(
                step_seconds=self.settings.period,
                max_duration_seconds=self.settings.max_duration,
                weigh_persistence=self.settings.weigh_persistence,
            ),
            started_at=started,
        )

    def _started(
        self,
        key: str,
        baseline: ObjectRef,
        baseline_images: tuple[str, ...],
        now: float,
        fresh: bool,
        compared: ObjectRef | None = None,
        changed: Analysis | None = None,
    ) -> tuple[float, float, int]:
        """When the analysis of this canary revision against this stable release began,
        when its evidence begins, and how many times what it is compared with changed:
        kept in the ledger, so a restart or a new leader takes it up with its clock
        running (a daemon restarting more often than ``maxDuration`` would otherwise never
        finish one) and reads back the evidence the live run had; ``now`` (and no change)
        for a new one, and for one this process starts again (``fresh``: it ended before
        a verdict, or its stable changed). A change of what it is compared with (a fresh
        baseline, ``compared``, appeared, went or changed: ``changed`` is this process's
        analysis then, else the ledger's start names another) keeps the clock and begins
        the evidence ``now``: before, it started the clock again too, so a label toggled
        more often than ``maxDuration`` kept the canary from any verdict. A start recorded
        before the evidence was kept apart (no ``since``) has its evidence from ``at``.
        A start naming a baseline this cycle's listing left out as unreadable, taken up
        with none (``compared`` None), is no change: ``_BaselineUnreadError`` is raised and the
        interval passed over, as the live run passes it over."""
        ledger = self.decisions.ledger
        value, version = ledger.guard(f"{STARTED_KEY}/{key}")
        same: dict[str, Any] = {"baseline": str(baseline), "baseline_images": list(baseline_images)}
        if compared is not None:
            same["compared"] = str(compared)
        at = value.get("at")
        kept = (
            not fresh
            and isinstance(at, int | float)
            and value.get("baseline") == same["baseline"]
            and value.get("baseline_images") == same["baseline_images"]
        )
        if kept and value.get("compared") == same.get("compared") and changed is None:
            return _clock(value, now)
        was = _subject_ref(str(value.get("compared") or "")) if kept else None
        if compared is None and changed is None and was in self._unreadable:
            assert was is not None
            raise _BaselineUnreadError(was, self._unreadable[was])  # not gone: unread
        if changed is not None:  # this process saw the comparison change
            begun, changes = changed.started_at, changed.changes + 1
        elif kept:  # it changed while no process judged it (a restart, a new leader)
            begun, _, before = _clock(value, now)
            changes = before + 1
        else:
            begun, changes = now, 0
        record = {"at": begun, "since": now, "changes": changes, **same}
        if not ledger.put_guard(f"{STARTED_KEY}/{key}", record, version, now):
            value, _ = ledger.guard(f"{STARTED_KEY}/{key}")  # another replica's, just now
            if isinstance(value.get("at"), int | float):
                return _clock(value, now)
        return begun, now, changes

    def _templates(self, side: Side) -> dict[str, str]:
        """The query templates for ``side``: a Rollout's ReplicaSet's, or a workload's."""
        return self.settings.rollout_queries if side.pod_hash else self.settings.queries

    def _queries(self, analysis: Analysis) -> dict[str, dict[str, str]]:
        """The queries each side of ``analysis`` is read with, by column, as sent."""
        baseline, canary = _sides(analysis)
        return {
            name: {
                column: _filled(template, side)
                for column, template in self._templates(side).items()
            }
            for name, side in (("baseline", baseline), ("canary", canary))
        }

    def _read(self, side: Side, now: float, problems: list[str] | None = None) -> dict[str, float]:
        """One value per column for ``side``; a query that returned several series is
        named in ``problems`` (it is missing every interval until it is aggregated)."""
        ref = side.ref
        row: dict[str, float] = {}
        for column, template in self._templates(side).items():
            query = _filled(template, side)
            # Missing, ambiguous or old (a stuck Prometheus, a caching proxy): not judged.
            found = self.reader.instant(query, now)
            value = one_fresh_value(found, now)
            row[column] = math.nan if value is None else value
            if len(found) > 1 and problems is not None:
                problems.append(
                    f"the {column!r} query for {ref} returned {len(found)} series, not one "
                    "(aggregate it, e.g. with sum): not judged"
                )
        return row

    def _fault(self, ref: ObjectRef, why: str, *, kind: str | None = None) -> None:
        """Keep why ``ref`` was not judged this cycle (the endpoints say it); log it when
        it starts or its reason changes, not every cycle it lasts (Prometheus down for an
        hour is one warning, not sixty). ``kind``: what counts as the same reason when
        the words change every cycle (a read failing, refused then timed out by turns,
        is one outage: the reader's own log summarises it)."""
        name, shown = str(ref), self.errors.get(str(ref))
        said = self._said.get(name)
        same = shown == why or (
            kind is not None and said is not None and said == (kind, shown)
        )  # the words now shown are this fault's, of the same kind
        if not same:
            log.warning("canary %s: %s", ref, why)
        if kind is not None:
            self._said[name] = (kind, why)
        else:
            self._said.pop(name, None)
        self.errors[name] = why

    def _step(self, analysis: Analysis, now: float) -> None:
        problems: list[str] = []
        baseline, canary = _sides(analysis)
        interval = Interval(
            timestamp=now,
            baseline=self._read(baseline, now, problems),
            canary=self._read(canary, now, problems),
        )
        try:
            verdict = analysis.judge.update(interval)
        except CanaryDataError:
            # Refused: from the maximum duration on, decided on the intervals judged, as
            # ``autonomic judge`` decides files that end so. Before, an analysis whose
            # every interval from then on was refused (both sides +Inf: no ``OffScale``,
            # the canary no worse there) never ended, "continue" for as long as it lasted.
            concluded = analysis.judge.conclude()
            if concluded is None or not concluded.final:
                raise
            verdict = concluded
        analysis.latest = verdict
        analysis.history.append((now, verdict.decision.value, verdict.confidence))
        problem = "; ".join(problems)
        if problem and self.errors.get(str(analysis.canary)) != problem:
            log.warning("canary %s: %s", analysis.canary, problem)
        if problem:
            self.errors[str(analysis.canary)] = problem
        elif self.errors.pop(str(analysis.canary), None) is not None:
            log.info("canary %s: judged again (an interval was read)", analysis.canary)
        if verdict.final:
            self._record(analysis, verdict)

    def _moved_on(self, record: Any) -> tuple[str, WorkloadState | None] | None:
        """Why a verdict a person approved no longer applies to its canary, "" when it
        does, with the canary as read now; None when the canary cannot be read to tell.
        An approval can come long after the question: the canary may have been rolled
        out again (a fix) or deleted since, and the canary-rollback runbook rolls back
        whatever revision the Deployment is at, so the approved rollback of the judged
        release would roll back the fix instead."""
        target = _subject_ref(record.subject)
        if target is None:
            return "", None
        try:
            workload = self.cluster.get_workload(target)
        except (TransientError, PermanentError) as exc:
            log.warning("canary %s: cannot read it to hand on an approved verdict: %s", target, exc)
            return None
        return _moved_on(record, target, workload), workload

    def _settled(self, record: DecisionRecord) -> str:
        """Why the open question about a final verdict no longer means anything, or ""
        (also when the cluster cannot be read: asked again next cycle). Besides a canary
        that moved on (``_moved_on``: deleted, rolled out again), the rollout may have
        been settled without the answer: an Argo Rollout promoted (its stable ReplicaSet
        is now the judged hash: the steps finished, or ``promote --full``) or aborted; a
        canary Deployment whose stable now runs the judged release (promoted: Flagger
        copies the canary's spec to its ``-primary``), or scaled to zero replicas (Flagger
        does so once it promotes or rolls back). The endpoints held the verdict while it
        was asked, so none of this was Autonomic's answer."""
        target = _subject_ref(record.subject)
        if target is None:
            return ""
        try:
            workload = self.cluster.get_workload(target)
            moved_on = _moved_on(record, target, workload)
            if moved_on or workload is None:
                return moved_on
            judged_hash = str(record.proposal.get("pod_hash") or "")
            if target.kind == "Rollout":
                if workload.strategy == "blueGreen" and workload.active_pod_hash == judged_hash:
                    return (
                        f"{target} was promoted: its active Service now selects {judged_hash}, "
                        "the one judged (status.blueGreen.activeSelector)"
                    )
                if workload.stable_pod_hash == judged_hash:
                    return (
                        f"{target} was promoted: its stable ReplicaSet is now {judged_hash}, "
                        "the one judged (its steps finished, or it was promoted with --full)"
                    )
                if workload.aborted:
                    return (
                        f"{target} was aborted (status.abort): its "
                        f"{'preview' if workload.strategy == 'blueGreen' else 'canary'} "
                        f"{judged_hash} was rolled back"
                    )
                return ""
            judged = tuple(str(i) for i in record.proposal.get("images") or ())
            stable_ref = _subject_ref(str(record.proposal.get("baseline", "")))
            stable = self.cluster.get_workload(stable_ref) if stable_ref is not None else None
        except (TransientError, PermanentError) as exc:
            log.warning(
                "canary %s: cannot read it to tell whether its question stands: %s", target, exc
            )
            return ""
        if judged and stable is not None and tuple(c.image for c in stable.containers) == judged:
            return (
                f"its stable {stable_ref} now runs {', '.join(judged)}, the release judged: "
                "it was promoted"
            )
        if workload.replicas == 0:
            return (
                f"{target} is scaled to zero replicas: its delivery tool finished the rollout "
                "(Flagger does so once it promotes or rolls back), or a person stopped it"
            )
        return ""

    def _close_question(self, record: DecisionRecord, why: str) -> bool:
        """Close the open question about a verdict the rollout was settled without, as
        superseded (``DecisionService.supersede``): no answer, no escalation, no verdict
        on the judge (nobody's answer); the question's message says why. Called by the
        loop and by the Flagger endpoint's thread (``post-rollout``); False when an
        answer or an expiry came first (that stands)."""
        if not self.decisions.supersede(record.id, why, reason="CanaryMovedOn"):
            return False
        for analysis in list(self.analyses.values()):  # a copy: the loop may change it
            if analysis.decision_id == record.id:
                analysis.superseded = True
        verdict = record.proposal.get("verdict", "the verdict")
        log.info(
            "canary %s: the question about %s is no longer needed: %s", record.subject, verdict, why
        )
        return True

    def _overtaken(self, record: Any, why: str, now: float) -> None:
        """An approved verdict overtaken by the canary before it was handed on: closed as
        ``superseded``, with why, and nothing sent to the runbooks."""
        verdict = record.proposal.get("verdict", "the verdict")
        text = (
            f"{verdict} not handed on: {why}; nothing was sent to the runbooks (the new "
            "release is judged afresh)"
        )
        # The closing and its why are one transaction: a ledger gone between the two left
        # the verdict closed with no why for ``autonomic explain``, and nothing came back
        # to it (no longer approved).
        detail = {"reason": "CanaryMovedOn", "why": text}
        row = Feedback(record.id, "execution", "superseded", "autonomic", detail)
        if self.decisions.ledger.transition(
            record.id, ["approved"], "superseded", now, feedback=[row]
        ):
            self.decisions.progress(record.id, text, final=True)
            for analysis in self.analyses.values():
                if analysis.decision_id == record.id:
                    analysis.superseded = True
            log.info("canary %s: approved %s", record.subject, text)

    def _confirmed(
        self,
        record: Any,
        now: float,
        *,
        by_person: bool = True,
        canary: WorkloadState | None = None,
        judged: bool = False,
        resent: bool = False,
    ) -> None:
        """Send a rollback or promotion a person approved to the runbooks (the
        ``canary-rollback`` runbook carries out a rollback of a native canary,
        ``canary-promote`` the promotion of an opted-in one). The
        signal's confidence is the judge's (``_judged``), at least ``CONFIRMED``: a person
        has looked (before, the decision's confidence was raised to ``CONFIRMED``: with a
        poor track record, a verdict the judge stated at 0.996 went out at 0.99, not what
        its question had read the runbooks at). One routed
        auto while Autonomic was paused (``by_person`` False) is sent now, after the
        pause, with its decision's confidence (at or above its automatic threshold, as
        runbooks/canary-rollback.yaml says). ``canary`` is the canary as read now (what
        the runbooks loaded now match, ``_promise_broken``). ``judged``: one routed auto
        sent again after a restart lost it (``_hand_on``, ``_send_lost``), at the judge's
        confidence as when it was recorded (``_announce``). ``resent``: sent again after a
        restart (``_hand_on``, ``_send_lost``), as a copy (``Signal.resent``): the first
        may have reached an engine, which held it back (a cooldown, a guard, a skip);
        the engine handles the copy only if no engine took that one up, so a restart
        neither runs it once the cooldown is over nor asks about it."""
        verdict = record.proposal.get("verdict")
        target = _subject_ref(record.subject)
        if verdict not in ("rollback", "promote") or target is None or target.kind == "Rollout":
            return  # a Rollout's verdict reaches Argo through the endpoint, not a runbook
        images = record.proposal.get("images") or []
        evidence: dict[str, Any] = {
            "sentence": record.reason,
            "verdict_decision": record.id,
            # What was judged: a canary deleted and created again starts at revision 1
            # again, so the runbook checks the images too (``planning._plan_promote``).
            "images": [str(i) for i in images],
        }
        if by_person:
            # The runbook does not ask the same question again where its confidence
            # would (``routing.route``).
            evidence["approved_by"] = self._approver(record)
            if record.evidence.get("yes_acts") is True:
                # Its question said what a yes does and that nothing asks again: the yes
                # is also the one ``mode: propose`` asks for, while the runbooks loaded
                # now still do what it said. A question that said nothing of it (asked
                # before it was said, or with the runbooks unreadable), or that something
                # asks again, leaves propose mode to ask once more, as the person was
                # told; so does one whose promise the runbooks no longer keep.
                # Only propose mode reads the flag: act mode is left as it was.
                propose = self.decisions.mode == "propose"
                broken = self._promise_broken(record, verdict, target, canary) if propose else ""
                if broken:
                    evidence["yes_promise_broken"] = broken
                    log.info("canary %s: approved; %s", target, broken)
                    self.decisions.progress(
                        record.id,
                        f"{broken}; under mode: propose this yes is not taken as the "
                        "runbooks' own: one that takes the verdict up asks once more",
                    )
                else:
                    evidence["yes_acts"] = True
        self.submit(
            [
                canary_signal(
                    verdict="rollback" if verdict == "rollback" else "promote",
                    target=target,
                    confidence=canary_confidence(
                        _judged(record) if by_person or judged else float(record.confidence),
                        approved=by_person,
                    ),
                    at=now,
                    revision=int(record.proposal.get("revision", 0)),
                    evidence=evidence,
                    run=",".join(str(i) for i in images) or None,
                    resent=resent,
                )
            ]
        )
        by = (
            "approved by a person"
            if by_person
            else "sent again (a restart lost it)"
            if judged
            else "held while Autonomic was paused"
        )
        log.info("canary %s: %s %s, sent to the runbooks", target, verdict, by)

    def _promise_broken(
        self, record: Any, verdict: str, target: ObjectRef, canary: WorkloadState | None
    ) -> str:
        """Why the "If approved" line an approved verdict's question carried (with
        ``yes_acts``: a runbook acts on it without asking again) no longer holds, or ""
        when the runbooks loaded now, matched against the canary as read now, still say
        the same line. Runbooks are loaded at start-up: a daemon restarted between the
        question and the answer may have another set (a runbook capped at ask, in shadow
        mode, removed, or another one taking the verdict up), and the person approved
        what the question said, not what these would do. Only this line is compared: a
        line that differs in any way, or that cannot be read now, breaks the promise."""
        told = record.evidence.get("if_approved")
        baseline = _subject_ref(str(record.proposal.get("baseline", "")))
        now_said = (
            self._yes_does(
                verdict,
                confidence=canary_confidence(_judged(record), approved=True),
                canary=target,
                baseline=baseline,
                revision=int(record.proposal.get("revision", 0)),
                images=tuple(str(i) for i in record.proposal.get("images") or ()),
                workload=canary,
            )
            if baseline is not None and canary is not None
            else None
        )
        if now_said is not None and now_said[1] and now_said[0] == told:
            return ""
        now = (
            f'"If approved, {now_said[0]}"'
            if now_said is not None
            else "what a yes does cannot be read (no runbooks to read, or the canary unread)"
        )
        return (
            "the runbooks changed since the question was asked (those loaded now, matched "
            f'against the canary as it is now): "If approved, {told}" was promised, now {now}'
        )

    def _approver(self, record: Any) -> str:
        """Who approved the verdict ``record``, as the runbook's decision names them: the
        person who answered its question, or "a person" when that cannot be read."""
        try:
            answered = [
                q.answered_by
                for q in self.decisions.ledger.questions_for([record.id])
                if q.status == "approved" and q.answered_by
            ]
        except Exception as exc:  # the name is a courtesy: the approval stands without it
            log.warning("canary %s: who approved it cannot be read: %s", record.subject, exc)
            answered = []
        who = answered[-1] if answered else "a person"
        return f"{who} (canary decision {record.id})"

    def _follow(self, record: Any, now: float) -> None:
        """Watch an acted-on rollback or promotion for ``VERIFY_WINDOW``: its outcome is
        whether it stuck (``_verify``)."""
        verdict = record.proposal.get("verdict")
        pod_hash = str(record.proposal.get("pod_hash") or "")
        if pod_hash:  # an Argo Rollout: what its stableRS is, in place of what the stable ran
            baseline = _subject_ref(record.subject)
            released: tuple[str, ...] = (pod_hash,)
            before: tuple[str, ...] = (str(record.proposal.get("stable_hash") or ""),)
        else:
            baseline = _subject_ref(str(record.proposal.get("baseline", "")))
            released = tuple(str(i) for i in record.proposal.get("images") or ())
            before = tuple(str(i) for i in record.proposal.get("baseline_images") or ())
        if verdict not in ("rollback", "promote") or baseline is None:
            return
        if record.id in self.watching:
            return
        self.watching[record.id] = Watch(
            record.id, str(verdict), baseline, released, before, now + VERIFY_WINDOW
        )

    def _verify(self, now: float, unwatched: set[str] | frozenset[str] = frozenset()) -> None:
        """Judge the watched verdicts by what the stable workload then ran.

        A promotion is right when the stable ran the promoted release and kept it (or
        moved on to a newer one) for ``VERIFY_WINDOW``, and wrong when it went back to
        the release it replaced within that time (someone undid it); never promoted in
        the window: no verdict. A rollback is wrong when the release it rejected became
        the stable's within the window anyway (someone overrode it), and right when that
        did not happen. Either way it is the decision's recorded outcome. ``unwatched``:
        the verdicts marked done at an earlier cycle whose watch did not start, read back
        now (``_watch_unwatched``)."""
        if self._resumed is None:
            self._resume(now)
        else:
            self._watch_unwatched(now, unwatched)
        # Each on its own: one whose check raises an error that is not a
        # ``TransientError`` (a bug, a stable of a shape it does not expect) is logged and
        # counted (``_each_failed``), and the others go on; before, it ended the cycle at
        # every cycle, and no verdict after it was judged (nor any canary).
        for watch in list(self.watching.values()):
            item = f"verdict {watch.decision_id}"
            try:
                seen = self._seen(watch, now)
            except TransientError:
                raise
            except Exception as exc:
                self._each_failed(
                    item,
                    f"checking canary decision {watch.decision_id} (whether its "
                    f"{watch.verdict} stuck, on {watch.baseline})",
                    exc,
                    "it is still watched, checked again at the next cycle; the other "
                    "verdicts go on",
                )
                continue
            if seen is None:
                continue
            del self.watching[watch.decision_id]
            try:
                self._judged(watch, *seen, now)
            except TransientError:
                raise
            except Exception as exc:
                self._each_failed(
                    item,
                    f"recording the outcome of canary decision {watch.decision_id}",
                    exc,
                    "it is no longer watched, its outcome not recorded (a restart or a "
                    "change of leader reads it back); the other verdicts go on",
                )

    def _seen(
        self, watch: Watch, now: float
    ) -> tuple[tuple[bool | None, str], tuple[str, ...]] | None:
        """What the stable of a watched verdict runs now, and whether that settles the
        verdict: (right or wrong or None for no verdict, why), and what it runs; None while
        it is watched on (``_verify``)."""
        stable = self.cluster.get_workload(watch.baseline)
        running: tuple[str, ...] = ()
        if stable is not None and watch.baseline.kind == "Rollout":
            serving = _serving_hash(stable)
            running = (serving,) if serving else ()
        elif stable is not None:
            running = tuple(c.image for c in stable.containers)
        outcome: tuple[bool | None, str] | None = None
        if watch.verdict == "promote":
            if running and running == watch.images:
                if watch.promoted_at is None:
                    watch.promoted_at = now
            elif watch.promoted_at is not None and running == watch.before:
                outcome = (False, "promoted, then the stable went back to the release it "
                           "replaced within the hour")  # fmt: skip
            if outcome is None and now >= watch.until:
                outcome = (
                    (True, "promoted, and the stable kept it (or a newer release) for an hour")
                    if watch.promoted_at is not None
                    else (None, "not promoted within the hour: nothing to judge")
                )
        elif running and running == watch.images:
            outcome = (False, "the release the judge rolled back became the stable's "
                       "within the hour")  # fmt: skip
        elif now >= watch.until:
            outcome = (True, "the rolled-back release stayed out of the stable for an hour")
        return None if outcome is None else (outcome, running)

    def _judged(
        self,
        watch: Watch,
        outcome: tuple[bool | None, str],
        running: tuple[str, ...],
        now: float,
    ) -> None:
        """Record the outcome ``_seen`` found for a watched verdict."""
        right, why = outcome
        verdict = "unverified" if right is None else "right" if right else "wrong"
        # The outcome first, with the question's final word (``said``), then the word:
        # a crash between the two leaves the rewrite to the next process's first sync
        # (``DecisionService._final_word``). Said first, the resumed watch judged the
        # verdict again and said it twice.
        said = f"{verdict}: {why}"
        detail = {"why": why, "stable_images": list(running), "said": said}
        if right is None:
            # Once-only (``Ledger.settle``, the decision left "done"), as a verdict is:
            # two replicas judging it at once (an old leader's watch beside the new
            # one's) keep one row, and only the one that wrote it says its word.
            # Before, each added its row and said it, the message and thread twice.
            row = Feedback(watch.decision_id, "verification", "unverified", "autonomic", detail)
            _, written = self.decisions.ledger.settle(watch.decision_id, (), "done", now, row)
            if not written:
                log.info("canary decision %s was judged already", short_id(watch.decision_id))
                return
        else:
            written = True
            with contextlib.suppress(KeyError):
                written = self.decisions.record_outcome(
                    watch.decision_id,
                    right=right,
                    status="done",
                    detail=detail,
                )
            if not written:
                # Judged and said already (another replica, while it led): its word
                # stands, and saying this one would rewrite the message a second time.
                log.info("canary decision %s was judged already", short_id(watch.decision_id))
                return
        self.decisions.progress(watch.decision_id, said, final=True)
        log.info("canary decision %s: %s", short_id(watch.decision_id), why)

    def _resume(self, now: float) -> None:
        """After a restart: watch again the verdicts acted on within the last
        ``VERIFY_WINDOW`` that have no verification yet, however long before that they
        were made (a person may answer days late). One whose hour ended while the daemon
        was down (in the last day) is closed as ``unverified``, saying so: what the stable
        ran during that hour was not seen, so it is neither right nor wrong."""
        self._resumed = now
        recent = self.decisions.ledger.decisions(
            kind="canary", status=["done"], updated_since=now - 86400.0, limit=1000
        )
        # Each on its own: one that raises an error that is not a ``TransientError`` (a
        # stored proposal it cannot read) is logged and counted (``_each_failed``), the
        # others go on, and the next cycle reads them back again.
        for record in recent:
            if record.id in self.watching:
                continue
            try:
                self._resume_one(record, now)
            except TransientError:
                raise
            except Exception as exc:
                self._resumed = None
                self._each_failed(
                    f"verdict {record.id}",
                    f"reading back canary decision {record.id} ({record.decision_type} of "
                    f"{record.subject}, acted on) to watch it",
                    exc,
                    "not watched; read back again at the next cycle (the other verdicts go on)",
                )

    def _resume_one(self, record: DecisionRecord, now: float) -> None:
        """One acted-on verdict of ``_resume``: watched, or closed as ``unverified``."""
        if record.proposal.get("verdict") not in ("rollback", "promote"):
            return
        kinds = {row["kind"] for row in self.decisions.ledger.feedback_for(record.id)}
        if "verification" in kinds:
            return
        if record.updated_at + VERIFY_WINDOW > now:
            self._follow(record, record.updated_at)
            return
        # Once-only (``Ledger.settle``): two replicas reading it back at once (a
        # restart's and a new term's) close it with one row, not one each.
        row = Feedback(
            record.id,
            "verification",
            "unverified",
            "autonomic",
            {
                "why": "its hour to be judged ended unwatched: Autonomic was not running "
                "(or could not watch it: its log says why)"
            },
        )
        if not self.decisions.ledger.settle(record.id, (), "done", now, row)[1]:
            return
        log.info("canary decision %s: not judged, its hour ended unwatched", short_id(record.id))

    def _record(self, analysis: Analysis, verdict: Verdict) -> None:
        """Record the final verdict as a decision. When the ledger refuses, the verdict
        is recorded at the next cycle (the endpoints hold it meanwhile)."""
        decision = verdict.decision.value
        findings = {m.name: m.sentence for m in verdict.metrics} if verdict.metrics else {}
        incident_key = _incident_key(
            analysis.canary, analysis.revision, analysis.images, analysis.pod_hash
        )
        try:
            if analysis.record_failed:  # the failed attempt may have recorded it all the same
                earlier = self.decisions.ledger.latest_for_incident(incident_key)
                if (
                    earlier is not None
                    and earlier.created_at >= analysis.started_at
                    and earlier.proposal.get("baseline") == str(analysis.baseline)
                ):
                    analysis.route, analysis.decision_id = earlier.route, earlier.id
                    analysis.recorded = True
                    self.errors.pop(str(analysis.canary), None)
                    self._announce(analysis, verdict, earlier.id, earlier.route)
                    return
            routed = self._decide(analysis, verdict, findings, incident_key)
        except (TransientError, PermanentError) as exc:
            analysis.record_failed = True
            self.errors[str(analysis.canary)] = (
                f"its final verdict ({decision}) is not recorded yet: {exc}"
            )
            log.warning(
                "canary %s: the final verdict (%s) was not recorded, trying again next cycle: %s",
                analysis.canary,
                decision,
                exc,
            )
            return
        analysis.recorded = True
        self.errors.pop(str(analysis.canary), None)
        analysis.route = routed.route  # before the id: the endpoints read the id first
        analysis.decision_id = routed.decision_id
        self._announce(analysis, verdict, routed.decision_id, routed.route)

    def _decide(
        self,
        analysis: Analysis,
        verdict: Verdict,
        findings: dict[str, str],
        incident_key: str,
    ) -> Routed:
        decision = verdict.decision.value
        return self.decisions.decide(
            Proposal(
                kind="canary",
                decision_type=f"canary/{decision}",
                subject=str(analysis.canary),
                proposal={
                    "verdict": decision,
                    "baseline": str(analysis.baseline),
                    # The fresh baseline whose series were compared, when one was.
                    **({"compared_with": str(analysis.compared)} if analysis.compared else {}),
                    "revision": analysis.revision,
                    "images": list(analysis.images),
                    "baseline_images": list(analysis.baseline_images),
                    **(
                        {
                            "pod_hash": analysis.pod_hash,
                            "stable_hash": analysis.stable_hash,
                            "strategy": analysis.strategy,
                        }
                        if analysis.pod_hash
                        else {}
                    ),
                },
                signal_confidence=verdict.confidence,
                reason_code=f"Canary{decision.title()}",
                reason=_sentence(analysis, verdict),
                evidence={
                    # Which series the canary's were compared with, when a fresh baseline
                    # was in question (used, or found and not used, and why).
                    **({"compared_with": analysis.compared_says} if analysis.compared_says else {}),
                    "findings": findings,
                    # The numbers behind each finding, and the queries they were read
                    # with: the sentences alone cannot be checked or re-run.
                    "metrics": {
                        m.name: {k: v for k, v in m.to_dict().items() if k not in _SAID}
                        for m in verdict.metrics
                    },
                    "queries": self._queries(analysis),
                    "decided_after_seconds": verdict.decided_after_seconds,
                    "judge_reason": verdict.reason,
                    # What a yes does, and whether it acts without another question
                    # (``_confirmed`` passes that on to the runbooks).
                    **(
                        {"if_approved": told[0], "yes_acts": told[1]}
                        if (told := self._if_approved(analysis, decision, verdict.confidence))
                        is not None
                        else {}
                    ),
                },
                model_version="canary-judge/1",
                prior_success=1.0,
                default_thresholds=Thresholds(auto=0.9, ask=0.5),
                # An inconclusive verdict is a person's call on the rollout itself (promote
                # or abort it in the delivery tool): Approve or Reject on it would move
                # nothing, so it is escalated with the findings, never asked.
                max_autonomy="escalate" if decision == "inconclusive" else "auto",
                capped_by=(
                    "the judge could not decide, so a person promotes or aborts the rollout:"
                    " autonomy is capped"
                ),
                incident_key=incident_key,
            )
        )

    def _if_approved(
        self, analysis: Analysis, decision: str, judged: float
    ) -> tuple[str, bool] | None:
        """What a person's yes to a promotion or a rollback does, for its question: the
        runbooks that would take up the approved verdict (``_confirmed`` sends it with the
        approver's name, at ``judged``, the judge's confidence, or ``CONFIRMED``, whichever
        is more: ``canary_confidence``), read from the loaded runbooks, each with
        what it writes and whether it asks again; the verdict endpoints answer the verdict
        either way. With it, whether the yes acts without another question: True only
        where at least one runbook takes it up and each that does acts "without asking
        again" (the decision's ``yes_acts``: only then does ``mode: propose`` take the yes
        as its own). None for an inconclusive verdict (escalated, never asked), and for a
        native canary when the runbooks cannot be read here: then what a yes does is not
        known, and the question does not guess."""
        if decision not in ("rollback", "promote"):
            return None
        if analysis.pod_hash:  # an Argo Rollout: Argo acts on the endpoint's answer
            # No runbook takes it up (``_confirmed``): nothing for propose mode to ask.
            if decision == "promote":
                return (
                    f"the verdict endpoint answers promote, and Argo promotes {analysis.canary}; "
                    "Autonomic writes nothing to it",
                    False,
                )
            return (
                "the verdict endpoint answers rollback to the Argo analysis that asks it; "
                f"Autonomic writes nothing to {analysis.canary}",
                False,
            )
        return self._yes_does(
            decision,
            confidence=canary_confidence(judged, approved=True),
            canary=analysis.canary,
            baseline=analysis.baseline,
            revision=analysis.revision,
            images=analysis.images,
            workload=analysis.workload,
        )

    def _yes_does(
        self,
        decision: str,
        *,
        confidence: float,
        canary: ObjectRef,
        baseline: ObjectRef,
        revision: int,
        images: tuple[str, ...],
        workload: WorkloadState | None,
    ) -> tuple[str, bool] | None:
        """``_if_approved`` for a native canary (``workload`` as read), from the runbooks
        loaded now: when the question is asked, and again when the approved verdict is
        handed on (``_promise_broken``), so that both read it alike; ``confidence`` is the
        one the approved verdict is sent with (before, ``CONFIRMED`` whatever the judge's:
        a rollback, sent at 0.9949 or more, was read at 0.99, and a runbook asking for
        more than 0.99 was said to take up no yes that it then took up)."""
        if self.runbooks is None or workload is None:
            return None
        approved = canary_signal(
            verdict="rollback" if decision == "rollback" else "promote",
            target=canary,
            confidence=confidence,
            at=self.clock.now(),
            revision=revision,
            evidence={"approved_by": "a person"},
            run=",".join(images) or None,
        )
        snapshot = ClusterSnapshot(workloads=(workload,), taken_at=self.clock.now())
        acting = [m.runbook for m in match(self.runbooks(), approved, snapshot).matches]
        if not acting:
            why = (
                f'the canary is not labelled {PROMOTE_CANARY}: "true"'
                if decision == "promote" and workload.labels.get(PROMOTE_CANARY) != "true"
                else "no loaded runbook takes up a "
                f"{'promotion' if decision == 'promote' else 'rollback'} of {canary}"
            )
            # Told nothing changes: a runbook loaded since then asks under propose mode.
            return (
                f"the verdict endpoints answer {decision} to the delivery tool that reads "
                f"them; Autonomic changes nothing itself ({why})",
                False,
            )
        does = [_what_a_runbook_does(r, canary, baseline, confidence) for r in acting]
        said = "; ".join(line for line, _ in does)
        return f"{said}; the verdict endpoints answer {decision}", all(acts for _, acts in does)

    def _announce(self, analysis: Analysis, verdict: Verdict, decision_id: str, route: str) -> None:
        """The recorded verdict as an Event on the canary, and to the runbooks when it
        was routed ``auto``."""
        decision = verdict.decision.value
        sentence = _sentence(analysis, verdict)
        self._post_event(analysis.canary, decision, sentence, decision_id, route)
        if decision in ("rollback", "promote") and route == "auto" and not analysis.pod_hash:
            # An Argo Rollout's verdict reaches Argo through the endpoint only: Argo owns
            # the rollout, and no runbook writes to a Rollout on a canary verdict.
            why = self._pause()
            if why is not None:
                self._defer(analysis, decision, decision_id, why)
                return
            self.submit(
                [
                    canary_signal(
                        verdict="rollback" if decision == "rollback" else "promote",
                        target=analysis.canary,
                        confidence=canary_confidence(verdict.confidence),
                        at=self.clock.now(),
                        revision=analysis.revision,
                        evidence={
                            "sentence": sentence,
                            "verdict_decision": decision_id,
                            "images": list(analysis.images),
                        },
                        run=",".join(analysis.images),
                    )
                ]
            )
            self._announced.add(decision_id)

    def _post_event(
        self, canary: ObjectRef, decision: str, sentence: str, decision_id: str, route: str
    ) -> None:
        """The verdict's Event on the canary, then its mark in the ledger (``EVENT_KEY``),
        by which a restart tells a verdict whose Event a crash kept from being posted
        (``_start``). A crash between the two posts it twice: at least once, not at most."""
        if self.events is None:
            return
        message = f"{sentence} Decision {decision_id}, routed {route}."
        try:
            self.events(canary, f"Canary{decision.title()}", message, decision == "rollback")
        except (TransientError, PermanentError) as exc:  # an Event is a report, not an act
            log.warning("canary %s: the verdict's Event was not posted: %s", canary, exc)
            return
        with contextlib.suppress(TransientError, PermanentError):  # a second one at worst
            self.decisions.ledger.put_guard(
                f"{EVENT_KEY}/{decision_id}", {"at": self.clock.now()}, 0, self.clock.now()
            )

    # ------------------------------------------------------------------ pause
    def _pause(self) -> str | None:
        """Why Autonomic is paused now, or None. A pause that cannot be read is taken as
        one: holding a release for a cycle harms less than moving it during a pause."""
        if self.paused is None:
            return None
        try:
            return self.paused()
        except Exception as exc:
            return f"perhaps paused (the pause could not be read from the ledger: {exc})"

    def _defer(self, analysis: Analysis, decision: str, decision_id: str, why: str) -> None:
        """A verdict routed auto while paused: not sent to the runbooks now (they would
        deny it ``Paused``, and nothing would send it again). Marked on the decision,
        which stays approved: the first cycle after the pause sends it (``cycle``)."""
        runbook = "canary-rollback" if decision == "rollback" else "canary-promote"
        self.decisions.ledger.add_feedback(
            decision_id,
            "execution",
            "paused",
            "autonomic",
            self.clock.now(),
            {"why": f"not sent to the runbooks while Autonomic is {why}", "pause": why},
        )
        self._record_hold(
            analysis.canary,
            f"{_incident_key(analysis.canary, analysis.revision, analysis.images)}|{decision}"
            "|runbooks",
            why,
            held=f"the {decision} verdict (decision {decision_id}) was not sent to the "
            f"{runbook} runbook",
            would=f"{decision} through the {runbook} runbook",
            answered="nothing sent; the decision stays approved",
            verdict_decision=decision_id,
            after=f"When the pause ends it is sent to the {runbook} runbook at the next "
            "canary cycle, unless the canary was rolled out again or deleted meanwhile",
        )
        log.warning(
            "canary %s: %s verdict not sent to the runbooks: Autonomic is %s",
            analysis.canary,
            decision,
            why,
        )

    def _deferred(self, record: DecisionRecord) -> bool:
        """Whether an approved verdict routed auto was held back by a pause (``_defer``)."""
        return any(
            row["kind"] == "execution" and row["outcome"] == "paused"
            for row in self.decisions.ledger.feedback_for(record.id)
        )

    def _held_answer(self, answer: _Answer, why: str) -> _Answer:
        """``answer`` held by the pause: ``inconclusive`` (Argo pauses the rollout;
        Flagger's gates wait, its plain checks pass, its ``rollback`` webhook gets 412),
        with what would have been answered in ``would_answer``."""
        note = (
            f"Autonomic is {why}: no answer that would move the release is given while it "
            f"is (it would have been {answer.verdict}); holding"
        )
        payload = dict(answer.payload)
        payload.update(verdict="inconclusive", reason=note, note=note, paused=why)
        payload["would_answer"] = answer.verdict
        return _Answer("inconclusive", True, payload, analysis=answer.analysis)

    def _record_hold(
        self,
        subject: ObjectRef | str,
        incident: str,
        why: str,
        *,
        held: str,
        would: str,
        answered: str,
        verdict_decision: str | None,
        after: str,
        evidence: dict[str, Any] | None = None,
    ) -> None:
        """Record a verdict the pause held as a decision (``held/canary``, reason code
        ``Paused``, escalated: never executed, never judged): once per pause and
        ``incident`` (the canary release and the verdict held, whichever endpoint or
        webhook asked first), found again by its incident key on another replica or
        after a restart. A failure is logged: the hold is in force anyway."""
        digest = hashlib.sha256(f"{incident}|{why}".encode()).hexdigest()[:24]
        key = f"held|Paused|{subject}"[:270] + f"|{digest}"
        with self._holding:
            self._record_hold_once(
                key, subject, why, held, would, answered, verdict_decision, after, evidence
            )

    def _record_hold_once(
        self,
        key: str,
        subject: ObjectRef | str,
        why: str,
        held: str,
        would: str,
        answered: str,
        verdict_decision: str | None,
        after: str,
        evidence: dict[str, Any] | None,
    ) -> None:
        """``_record_hold`` under its lock, for the hold of incident key ``key``."""
        if key in self._held_said:
            return
        text = (
            f"Autonomic is {why}. For {subject}, {held}: it would have been {would}; "
            f"{answered}. Nothing moved the release. {after}. To act on it now, do so "
            "yourself in the delivery tool, or resume Autonomic (`autonomic resume`)."
        )
        try:
            if self.decisions.ledger.latest_for_incident(key) is None:
                self.decisions.decide(
                    Proposal(
                        kind="canary",
                        decision_type=f"{HELD_PREFIX}canary",
                        subject=str(subject),
                        proposal={"action": "hold", "would": would, "answered": answered},
                        signal_confidence=0.0,
                        reason_code="Paused",
                        reason=text,
                        evidence={
                            "pause": why,
                            "would": would,
                            "answered": answered,
                            "verdict_decision": verdict_decision,
                            **(evidence or {}),
                        },
                        model_version="pause",
                        max_autonomy="escalate",
                        capped_by="Autonomic is paused",
                        incident_key=key,
                        escalation=text,
                    )
                )
        except Exception as exc:  # never a 500 to the delivery tool
            log.warning("canary %s: the pause's hold was not recorded: %s", subject, exc)
            return
        if len(self._held_said) > 10_000:
            self._held_said.clear()
        self._held_said.add(key)

    def _hold_if_paused(
        self,
        answer: _Answer,
        why: str,
        asked: tuple[str, str, str],
        would: str,
        held: str,
    ) -> None:
        """Record that the pause (``why``) held ``answer`` for ``asked`` (namespace,
        name, which endpoint asked) when it changed what the delivery tool was told:
        ``would`` and ``held`` differ."""
        if would == held:
            return
        namespace, name, asked_by = asked
        analysis = answer.analysis
        on = f" on canary ReplicaSet {analysis.pod_hash}" if analysis and analysis.pod_hash else ""
        subject: ObjectRef | str = (
            analysis.canary if analysis is not None else f"{namespace}/{name}"
        )
        incident = (
            _incident_key(analysis.canary, analysis.revision, analysis.images, analysis.pod_hash)
            if analysis is not None
            else f"canary/{namespace}/{name}"
        )
        decision_id = answer.payload.get("decision_id")
        after = "When the pause ends the endpoints answer with the verdict again" + (
            " (a Rollout the hold paused stays paused until a person promotes or aborts it: "
            "`kubectl argo rollouts promote NAME` or `abort NAME`)"
            if asked_by.startswith("Argo")
            else ""
        )
        self._record_hold(
            subject,
            f"{incident}|{answer.verdict}",
            why,
            held=f"{asked_by} asked for the verdict{on}",
            would=f"answered {would}" + (f", from decision {decision_id}" if decision_id else ""),
            answered=f"it was answered {held} instead, which holds the release where it is",
            verdict_decision=str(decision_id) if decision_id else None,
            after=after,
            evidence={
                "asked_by": asked_by,
                "would_answer": {"answer": would, "verdict": answer.verdict},
                "answered": held,
                "judge_verdict": answer.payload.get("judge_verdict"),
            },
        )

    # ------------------------------------------------------------------ HTTP
    def _find(self, namespace: str, canary: str) -> tuple[Analysis | None, str]:
        """The canary's current analysis (the one last judged: not an earlier revision's,
        nor one against a stable it no longer names), and why it is not judged, if so."""
        for ref, key in list(self.current.items()):  # a copy: the loop may change it
            if ref.namespace == namespace and ref.name == canary:
                return self.analyses.get(key), self.errors.get(str(ref), "")
        for kind in ("Deployment", "StatefulSet", "Rollout"):
            problem = self.errors.get(f"{kind}/{namespace}/{canary}")
            if problem:
                return None, problem
        return None, ""

    def _match(self, namespace: str, canary: str) -> tuple[str, str]:
        """Whether a canary this loop judges has that name, read from the cluster (the
        watch cache): ``("canary", "")`` when a Deployment or StatefulSet of that name is
        labelled ``autonomic.dev/canary-of`` and opted in (judged, or about to be: the
        loop takes it at its next cycle), ``("unknown", why)`` when none is, and
        ``("unreadable", why)`` when the cluster cannot be read to tell."""
        found: list[str] = []
        for kind in ("Deployment", "StatefulSet"):
            try:
                workload = self.cluster.get_workload(ObjectRef(kind, canary, namespace))
            except Exception as exc:  # never a 500: Flagger counts it as a failed check
                why = f"the cluster could not be read to tell whether it exists: {exc}"
                return "unreadable", why
            if workload is None:
                continue
            if not workload.labels.get(CANARY_OF):
                found.append(f"{kind} {namespace}/{canary} has no {CANARY_OF} label")
            elif workload.labels.get(self.opt_in_label) != "true":
                found.append(
                    f'{kind} {namespace}/{canary} is not opted in ({self.opt_in_label}: "true")'
                )
            else:
                return "canary", ""
        rollout = self._rollout(namespace, canary)
        if rollout is not None:
            why = (
                f'Rollout {namespace}/{canary} is not opted in ({self.opt_in_label}: "true")'
                if rollout.labels.get(self.opt_in_label) != "true"
                else f"Rollout {namespace}/{canary} is not labelled {JUDGE_CANARY}: "
                '"true", which asks Autonomic to judge its canary ReplicaSet'
                if rollout.labels.get(JUDGE_CANARY) != "true"
                else _not_mid_rollout(rollout)
            )
            if not why:
                return "canary", ""  # mid-rollout: the loop takes it at its next cycle
            found.append(why)
        what = "; ".join(found) or (
            f"no Deployment, StatefulSet or Argo Rollout named {canary} in namespace "
            f"{namespace} (of those Autonomic reads)"
        )
        return "unknown", (
            f"{namespace}/{canary} is not a canary Autonomic judges: {what}; check the "
            "name and namespace the delivery tool asks for"
        )

    def _superseded(self, analysis: Analysis) -> str:
        """Why ``analysis`` no longer answers for its canary, or "": the canary has been
        rolled out again (another revision or release) since the loop last looked, and
        the loop takes the new one at its next cycle. Until then the answer is "not judged
        yet", never the verdict on the release before: a rollback verdict on it, answered
        to the fixed release's first Flagger check, would roll the fix back at once."""
        try:
            workload = self.cluster.get_workload(analysis.canary)
        except Exception:  # the verdict the loop last saw stands; the next cycle tells
            return ""
        if workload is None:
            return ""
        if analysis.pod_hash:  # an Argo Rollout: its canary ReplicaSet is the release
            if not workload.pod_hash or workload.pod_hash == analysis.pod_hash:
                return ""
            return (
                f"{analysis.canary} is now rolling out pod-template hash {workload.pod_hash}, "
                f"not {analysis.pod_hash} whose analysis the loop holds; it takes the new "
                "canary ReplicaSet at its next cycle"
            )
        images = tuple(c.image for c in workload.containers)
        if (workload.revision, images) == (analysis.revision, analysis.images):
            return ""
        return (
            f"{analysis.canary} is now at revision {workload.revision} ({', '.join(images)}), "
            f"not revision {analysis.revision} ({', '.join(analysis.images)}) whose analysis "
            "the loop holds; it takes the new release at its next cycle"
        )

    def _rollout(self, namespace: str, name: str) -> WorkloadState | None:
        """The Argo Rollout of that name (None when there is none, or Rollouts cannot be
        read: no Rollout CRD, or no right to read them)."""
        try:
            return self.cluster.get_workload(ObjectRef("Rollout", name, namespace))
        except Exception:
            return None

    def _lookup(self, namespace: str, canary: str) -> _Answer:
        """The answer for a canary; on a standby, which judges nothing (the canary loop
        runs on the leader), a hold: behind one Service the delivery tool asks either
        replica, and "continue" from a standby would open the gates the leader holds.

        A name no analysis answers for is looked up in the cluster first: one that is
        no canary Autonomic judges (a typo, the wrong namespace, a label missing) is
        ``unknown`` (a 404), so that the analysis fails rather than waits, or passes,
        on "continue" for ever; one the cluster cannot be read for is held."""
        analysis, problem = self._find(namespace, canary)
        if analysis is not None:
            newer = self._superseded(analysis)
            if newer:  # a release the loop has not taken yet: not the last one's verdict
                analysis, problem = None, newer
        if analysis is None:
            match, why = self._match(namespace, canary)
            if match == "unknown":
                log.warning("canary endpoint: %s", why)
                return _Answer(
                    "unknown",
                    True,
                    {"error": why, "namespace": namespace, "canary": canary},
                    unknown=True,
                )
            if match == "unreadable":
                note = f"{why}; holding"
                return _Answer("inconclusive", True, _held(note))
        if self.is_leader is not None and not self.is_leader():
            note = "this replica is a standby and judges no canary; holding (the leader answers)"
            return _Answer("inconclusive", True, _held(note))
        return replace(self._answer(analysis, problem), analysis=analysis)

    def _answer(self, analysis: Analysis | None, problem: str = "") -> _Answer:
        """What the endpoints answer for ``analysis`` (see the module's docstring);
        ``problem`` is why the canary is not judged now, if it is not."""
        verdict = analysis.latest if analysis is not None else None
        if analysis is None or verdict is None:
            why = f"not judged: {problem}" if problem else "no interval judged yet"
            return _Answer(
                "continue",
                False,
                {
                    "verdict": "continue",
                    "confidence": 0.0,
                    "reason": why,
                    "judge_verdict": None,
                    "judge_reason": None,
                    "decision_id": None,
                    "route": None,
                    "decision_status": None,
                    "note": why,
                },
            )
        judged = verdict.decision.value
        payload: dict[str, Any] = verdict.to_dict()
        payload.update(judge_verdict=judged, judge_reason=verdict.reason)
        if analysis.pod_hash:  # which of an Argo Rollout's ReplicaSets the answer is about
            payload.update(pod_template_hash=analysis.pod_hash, stable_hash=analysis.stable_hash)
        if analysis.compared_says:  # a native canary's fresh baseline, or why none was used
            payload["compared_with"] = analysis.compared_says
        decision_id = analysis.decision_id
        if decision_id is None:
            payload.update(decision_id=None, route=None, decision_status=None)
            if not verdict.final:  # still judging: the judge's verdict as it stands
                payload["note"] = "the judge's verdict is not final yet" + (
                    f"; {problem}" if problem else ""
                )
                return _Answer(judged, False, payload)
            # Final, but its decision is being recorded (or recording it failed): it is
            # not known yet whether a person must approve it.
            note = f"the final verdict ({judged}) has no recorded decision yet; holding"
            if problem:
                note = f"{problem}; holding"
            payload.update(verdict="inconclusive", reason=note, note=note)
            return _Answer("inconclusive", True, payload)
        route, status, unknown = self._decision_state(analysis, decision_id)
        payload.update(decision_id=decision_id, route=route, decision_status=status)
        answer, hold, note = standing(judged, decision_id, route, status, unknown)
        payload["note"] = note
        if answer != judged:
            payload.update(verdict=answer, reason=note)
        return _Answer(answer, hold, payload)

    def _decision_state(
        self, analysis: Analysis, decision_id: str
    ) -> tuple[str | None, str | None, str]:
        """(route, status, why the status is unknown) of the verdict's decision."""
        try:
            record = self.decisions.ledger.get_decision(decision_id)
        except Exception as exc:
            # Any failure to read answers "hold", never a 500: Flagger counts a 5xx on a
            # plain check as a failed check, which ends in a rollback nobody approved.
            log.warning("canary %s: decision %s unreadable: %s", analysis.canary, decision_id, exc)
            return analysis.route, None, "could not be read from the ledger"
        if record is None:
            return analysis.route, None, "is not in the ledger"
        return record.route, record.status, ""

    def argo(self, request: Request) -> Response:
        """Argo Rollouts ``web`` metric: the answer for the canary as JSON (200), or 404
        for a name that is no canary Autonomic judges (Argo counts an error)."""
        namespace = (request.query.get("namespace") or [""])[0]
        canary = (request.query.get("canary") or [""])[0]
        if not namespace or not canary:
            return json_response(400, {"error": "give namespace and canary query parameters"})
        answer = self._lookup(namespace, canary)
        why = None if answer.unknown else self._pause()
        if why is not None:
            held = self._held_answer(answer, why)
            self._hold_if_paused(
                answer,
                why,
                (namespace, canary, "Argo Rollouts' web metric"),
                f"verdict {answer.verdict}",
                f"verdict {held.verdict}",
            )
            answer = held
        return json_response(404 if answer.unknown else 200, answer.payload)

    def flagger(self, request: Request) -> Response:
        """Flagger webhook: pass (200), roll back (409), or make a gate wait (425)."""
        try:
            body = json.loads(request.body or b"{}")
            name, namespace = body["name"], body["namespace"]
        except (ValueError, KeyError, TypeError, RecursionError):
            name = namespace = None
        if not isinstance(name, str) or not isinstance(namespace, str) or not name or not namespace:
            return json_response(
                400, {"error": "expected Flagger's JSON object with string name and namespace"}
            )
        phase = str(body.get("phase", ""))
        kind = (
            str((body.get("metadata") or {}).get("type", ""))
            if isinstance(body.get("metadata"), dict)
            else ""
        )
        answer = self._lookup(namespace, name)
        if answer.unknown:  # a failed check, or a gate that waits: never a pass
            return json_response(404, answer.payload)
        if kind == "post-rollout":  # told after the fact: Flagger only logs the answer
            if phase in ("Succeeded", "Failed") and self._rollout_ended(answer, phase):
                answer = self._lookup(namespace, name)  # the question's new status
            return json_response(200, answer.payload)
        status = _flagger_status(answer, kind, phase)
        why = self._pause()
        if why is not None:
            held = self._held_answer(answer, why)
            held_status = _flagger_status(held, kind, phase)
            self._hold_if_paused(
                answer,
                why,
                (namespace, name, f"Flagger's {kind or 'rollout'} webhook"),
                f"{status} ({answer.verdict})",
                f"{held_status} ({held.verdict})",
            )
            return json_response(held_status, held.payload)
        return json_response(status, answer.payload)

    def _rollout_ended(self, answer: _Answer, phase: str) -> bool:
        """Flagger's ``post-rollout`` webhook says the rollout ended (``Succeeded``:
        promoted; ``Failed``: rolled back): the open question about the verdict the
        answer stands on (a leader's answer; a standby's names no decision) is closed at
        once as ``_settled`` would close it at the next cycle. Nothing else changes:
        a question answered, expired or approved stands. True when one was closed."""
        decision_id = answer.payload.get("decision_id")
        if not decision_id or answer.payload.get("decision_status") != "asked":
            return False
        try:
            record = self.decisions.ledger.get_decision(decision_id)
        except Exception as exc:  # never a 500; the next cycle looks again
            log.warning("canary: decision %s unreadable on post-rollout: %s", decision_id, exc)
            return False
        if record is None or record.status != "asked":
            return False
        ended = "it promoted the canary" if phase == "Succeeded" else "it rolled the canary back"
        why = (
            f"Flagger reported the rollout of {record.subject} {phase} (its post-rollout "
            f"webhook): {ended}"
        )
        return self._close_question(record, why)


def standing(
    judged: str, decision_id: str, route: str | None, status: str | None, unknown: str = ""
) -> tuple[str, bool, str]:
    """(answer, hold, note) for a final verdict ``judged`` whose decision took ``route``
    and is now ``status`` (None: unknown, because it ``unknown``).

    ``answer`` is what the endpoints report as the verdict; ``hold`` makes Flagger's
    gates wait. The rules are the module docstring's.
    """
    what = f"decision {decision_id} ({judged})"
    if route in ("observe", "shadow"):
        mode = "observe mode" if route == "observe" else "shadow"
        return judged, False, f"{mode}: {what} is recorded only; Autonomic acts on nothing"
    hold_for_a_person = "holding: a person promotes or aborts the rollout"
    if status is None and route == "auto" and judged != "inconclusive":
        # Routed auto, the decision is approved and then done: nothing else moves it.
        return judged, False, f"{what}, routed auto, {unknown}: the verdict stands"
    if status is None:
        return "inconclusive", True, f"{what} {unknown}; holding"
    if status == "asked":
        return "inconclusive", True, f"{what} is awaiting an answer; holding until it is answered"
    if judged == "inconclusive":
        return (
            "inconclusive",
            True,
            f"the judge could not decide; {what} is {status}; " + hold_for_a_person,
        )
    if status in ACTED:
        return judged, False, f"{what}, routed {route}, is {status}: the verdict stands"
    if status == "escalated":
        return (
            "inconclusive",
            True,
            f"{what} was escalated to a person; " + hold_for_a_person,
        )
    if status == "expired":
        return (
            "inconclusive",
            True,
            f"nobody answered {what} in time and it was escalated; " + hold_for_a_person,
        )
    if status == "rejected" and judged == "rollback":
        return (
            "continue",
            False,
            f"a person rejected {what}: no rollback; the canary goes on and its promotion "
            "waits for a person",
        )
    if status == "rejected":
        return "inconclusive", True, f"a person rejected {what}; holding the promotion"
    if status == "superseded":
        return (
            "inconclusive",
            True,
            f"{what} was closed without being acted on: the rollout was settled without it "
            "(see the decision); holding",
        )
    return "inconclusive", True, f"{what} is {status}; holding"


@dataclass(frozen=True)
class _Answer:
    """What the endpoints answer: ``verdict`` (promote, rollback, continue or
    inconclusive), whether Flagger's gates must wait (``hold``), and the JSON body;
    ``unknown``: the name is no canary Autonomic judges (404); ``analysis``: the one
    answered from, if any."""

    verdict: str
    hold: bool
    payload: dict[str, Any]
    unknown: bool = False
    analysis: Analysis | None = field(default=None, compare=False)


def _flagger_status(answer: _Answer, kind: str, phase: str) -> int:
    """The HTTP status a Flagger webhook of ``kind`` (called in ``phase``) gets for
    ``answer``: pass (200), roll back (409; a ``rollback`` webhook: 200), make a gate wait
    (425), or no rollback (412, to a ``rollback`` webhook)."""
    if kind == "rollback":  # Flagger rolls back on a 2xx from this kind, on nothing else
        return 200 if answer.verdict == "rollback" else 412
    if answer.verdict == "rollback":
        return 409
    promoting = phase == "Promoting" or kind == "confirm-promotion"
    if promoting and answer.verdict != "promote":
        return 425
    if answer.hold and (promoting or kind in ADVANCE_GATES):
        return 425
    return 200


def _held(note: str) -> dict[str, Any]:
    """The body of a hold that no analysis stands behind (``note`` says why)."""
    return {
        "verdict": "inconclusive",
        "confidence": 0.0,
        "reason": note,
        "judge_verdict": None,
        "judge_reason": None,
        "decision_id": None,
        "route": None,
        "decision_status": None,
        "note": note,
    }


def _moved_on(record: DecisionRecord, target: ObjectRef, workload: WorkloadState | None) -> str:
    """Why the canary ``workload`` (``target``) is no longer the one a final verdict
    judged, or "": deleted, or rolled out again (another revision or release; for an Argo
    Rollout, another canary hash)."""
    if workload is None:
        return f"{target} no longer exists"
    judged_hash = str(record.proposal.get("pod_hash") or "")
    if target.kind == "Rollout":
        if workload.pod_hash == judged_hash:
            return ""
        return (
            f"{target} is now rolling out pod-template hash {workload.pod_hash or '(none)'}, "
            f"not {judged_hash} that was judged"
        )
    revision = int(record.proposal.get("revision", 0))
    judged = tuple(str(i) for i in record.proposal.get("images") or ())
    images = tuple(c.image for c in workload.containers)
    if workload.revision == revision and (not judged or images == judged):
        return ""
    return (
        f"{target} is now at revision {workload.revision} ({', '.join(images)}), not "
        f"the revision {revision} ({', '.join(judged)}) that was judged"
    )


def _subject_ref(subject: str) -> ObjectRef | None:
    """``Deployment/shop/web`` (as ``str(ObjectRef)`` writes it) back to the reference;
    a canary Deployment, StatefulSet or Argo Rollout only."""
    parts = subject.split("/")
    if len(parts) == 3 and parts[0] in ("Deployment", "StatefulSet", "Rollout"):
        return ObjectRef(cast(Kind, parts[0]), parts[2], parts[1])
    return None


def _incident_key(
    canary: ObjectRef, revision: int, images: tuple[str, ...], pod_hash: str = ""
) -> str:
    """The incident of a canary's final verdict: one canary revision running ``images``
    (for an Argo Rollout, the canary ReplicaSet of that pod-template hash)."""
    key = f"canary/{canary}/rev{revision}/" + ",".join(images)
    return f"{key}/{pod_hash}" if pod_hash else key


def _judged(record: Any) -> float:
    """The judge's own confidence in the verdict a canary decision recorded (its routing's
    ``signal_confidence``), which the decision's confidence weighs with a track record;
    the decision's confidence where the routing did not keep it."""
    routing = record.evidence.get("routing")
    judged = routing.get("signal_confidence") if isinstance(routing, dict) else None
    return float(judged) if isinstance(judged, int | float) else float(record.confidence)


def _recorded_verdict(record: DecisionRecord) -> Verdict:
    """The final verdict a canary decision recorded, without its per-metric findings
    (the decision's evidence keeps them as sentences and numbers, not as findings)."""
    evidence = record.evidence
    routing = evidence.get("routing")
    routing = routing if isinstance(routing, dict) else {}
    decided = evidence.get("decided_after_seconds")
    decided_after = float(decided) if isinstance(decided, int | float) else 0.0
    confidence = routing.get("signal_confidence", record.confidence)
    return Verdict(
        decision=Decision(str(record.proposal.get("verdict", "inconclusive"))),
        confidence=float(confidence) if isinstance(confidence, int | float) else 0.0,
        reason=str(evidence.get("judge_reason") or record.reason_code),
        sentence=record.reason,
        elapsed_seconds=decided_after,
        decided_after_seconds=decided_after,
        metrics=(),
    )


def _clock(value: dict[str, Any], now: float) -> tuple[float, float, int]:
    """An analysis's start record (``CanaryLoop._started``) as (its clock's start, when its
    evidence begins, how many times what it is compared with changed), none after
    ``now``. A record without ``since`` (written before the evidence was kept apart from
    the clock) has its evidence from its start and no change, as it was read then."""
    at = min(float(value["at"]), now)
    since = value.get("since")
    begun = min(max(float(since), at), now) if isinstance(since, int | float) else at
    changes = value.get("changes")
    return at, begun, changes if isinstance(changes, int) and changes > 0 else 0


def _times(count: int) -> str:
    """A count of times as a sentence says it: ``once``, ``twice``, ``3 times``."""
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _filled(template: str, side: Side) -> str:
    """A canary query template with the side's namespace, workload name and (a Rollout's
    ReplicaSet) pod-template hash and ReplicaSet name in."""
    query = template.replace("$namespace", side.ref.namespace or "")
    if side.pod_hash:
        query = query.replace("$podTemplateHash", side.pod_hash).replace(
            "$replicaset", f"{side.workload}-{side.pod_hash}"
        )
    return query.replace("$workload", side.workload)


def _unlike(canary: WorkloadState, stable: WorkloadState, fresh: WorkloadState) -> str:
    """Why the fresh baseline ``fresh`` cannot stand in for ``stable`` in ``canary``'s
    comparison, or "" when it can. Kayenta's rule: the baseline runs what the stable runs,
    at the canary's size. Its pod template must be the stable's as far as it is read here
    (each container's name, image, requests and limits, in order): a baseline with less CPU
    would be slower on the stable's images and make a slow canary look no worse. And it
    must run as many replicas (``spec.replicas``) as the canary: fewer pods take another
    share of the load, or none."""
    name = f"{fresh.ref.namespace}/{fresh.ref.name}"
    images = tuple(c.image for c in fresh.containers)
    stable_images = tuple(c.image for c in stable.containers)
    if images != stable_images:
        return (
            f"baseline {name} runs {', '.join(images) or 'no container'}, not the stable's "
            f"{', '.join(stable_images)}, so it is not used"
        )
    for mine, theirs in zip(fresh.containers, stable.containers, strict=True):
        differs = ""
        if mine.name != theirs.name:
            differs = f"a container {mine.name} where the stable's is {theirs.name}"
        elif mine.requests != theirs.requests:
            differs = (
                f"container {mine.name} requests {_quantities(mine.requests)}, the "
                f"stable's {_quantities(theirs.requests)}"
            )
        elif mine.limits != theirs.limits:
            differs = (
                f"container {mine.name} has limits {_quantities(mine.limits)}, the "
                f"stable's {_quantities(theirs.limits)}"
            )
        if differs:
            return (
                f"baseline {name} has {differs}, so it is not used: only its images may "
                "be compared as the stable's"
            )
    if fresh.replicas != canary.replicas:
        return (
            f"baseline {name} runs {fresh.replicas} "
            f"replica{'' if fresh.replicas == 1 else 's'}, the canary {canary.replicas}: "
            "not the same size, so it is not used"
        )
    return ""


def _quantities(values: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items())) or "none"


def _sentence(analysis: Analysis, verdict: Verdict) -> str:
    """The verdict's sentence, with what the canary was compared with when a fresh
    baseline was in question, and how many times that changed when it did (a verdict
    read back from the ledger has them already)."""
    sentence = verdict.sentence
    said = analysis.compared_says
    if said and said not in sentence:
        sentence = f"{sentence} {said}"
    if analysis.changes > 0:
        changes = (
            f"What it is compared with changed {_times(analysis.changes)} during the analysis "
            "(a fresh baseline appeared, went or changed), and each change dropped the "
            "evidence gathered against the one before: this verdict rests on the intervals "
            f"from {to_utc_text(analysis.evidence_since)} on."
        )
        if changes not in sentence:
            sentence = f"{sentence} {changes}"
    return sentence


def _age(seconds: float) -> str:
    """A span as a sentence says it: ``45 min``, ``3 h 5 min``."""
    minutes = round(seconds / 60.0)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _sides(analysis: Analysis) -> tuple[Side, Side]:
    """The baseline's and the canary's sides of an analysis, as the queries select them:
    a native canary's fresh baseline's series, when it has one, else its stable's."""
    if not analysis.pod_hash:
        compared = analysis.compared or analysis.baseline
        return (
            Side(compared, compared.name),
            Side(analysis.canary, analysis.canary.name),
        )
    rollout, namespace = analysis.canary.name, analysis.canary.namespace
    canary_rs = ObjectRef("ReplicaSet", f"{rollout}-{analysis.pod_hash}", namespace)
    return (
        Side(analysis.baseline, rollout, analysis.stable_hash),
        Side(canary_rs, rollout, analysis.pod_hash),
    )


def _serving_hash(rollout: WorkloadState) -> str:
    """The pod-template hash of the ReplicaSet an Argo Rollout's users are served by: its
    stable one (``status.stableRS``); with the blueGreen strategy, the one its active
    Service selects (``status.blueGreen.activeSelector``), which Argo switches to the new
    ReplicaSet at promotion, before ``stableRS`` (that waits for a postPromotionAnalysis)."""
    return rollout.active_pod_hash if rollout.strategy == "blueGreen" else rollout.stable_pod_hash


def _not_mid_rollout(rollout: WorkloadState) -> str:
    """Why an Argo Rollout has no canary (blue-green: preview) ReplicaSet to judge now, or
    "" when it has one."""
    name = f"Rollout {rollout.ref.namespace}/{rollout.ref.name}"
    if rollout.strategy not in ("canary", "blueGreen"):
        has = f"uses the {rollout.strategy} strategy" if rollout.strategy else "has no strategy"
        return (
            f"{name} {has}; Autonomic judges the new ReplicaSet of a Rollout with the "
            "canary strategy (spec.strategy.canary) or the blueGreen strategy "
            "(spec.strategy.blueGreen) only"
        )
    blue_green = rollout.strategy == "blueGreen"
    new = "preview" if blue_green else "canary"
    if not rollout.pod_hash or not rollout.stable_pod_hash:
        return (
            f"{name} is not mid-rollout: its status has no "
            + ("currentPodHash" if not rollout.pod_hash else "stableRS")
            + " yet"
        )
    if rollout.pod_hash == rollout.stable_pod_hash:
        return (
            f"{name} is not mid-rollout: its {new} and stable ReplicaSets are one "
            f"(status.currentPodHash = status.stableRS = {rollout.pod_hash}), so there is no "
            f"{new} to judge"
        )
    if rollout.aborted:
        return (
            f"{name} was aborted (status.abort), so its {new} {rollout.pod_hash} is not "
            "judged until it is rolled out again"
        )
    if not blue_green:
        return ""
    if not rollout.active_pod_hash:
        return (
            f"{name} has no status.blueGreen.activeSelector yet (its active Service selects "
            f"none of its ReplicaSets), so there is no active ReplicaSet to judge its preview "
            f"{rollout.pod_hash} against"
        )
    if rollout.active_pod_hash == rollout.pod_hash:
        return (
            f"{name} was promoted: its active Service already selects the new ReplicaSet "
            f"(status.blueGreen.activeSelector = status.currentPodHash = {rollout.pod_hash}; "
            f"status.stableRS is still {rollout.stable_pod_hash} until a postPromotionAnalysis "
            "succeeds). Autonomic judges a blue-green Rollout before promotion only (a "
            "prePromotionAnalysis): after it, the ReplicaSet it replaced serves no traffic, so "
            "there is nothing to compare the new one with over the same minutes"
        )
    return ""


def _what_a_runbook_does(
    runbook: Runbook, canary: ObjectRef, stable: ObjectRef, confidence: float
) -> tuple[str, bool]:
    """What ``runbook`` does with a canary verdict a person approved, for the verdict's
    question: its writes (``notify`` is a message, not a write), and whether it asks
    again (its ``maxAutonomy``, a forced approval) or writes nothing (its ``mode``).
    ``stable`` is the Deployment a ``promoteCanary`` action gives the canary's images;
    ``confidence`` the one the approved verdict is sent with.
    With it, whether the line says it acts "without asking again" (a forced approval on
    the replicas affected still asks on its own, whatever the mode)."""
    verbs: list[str] = []
    details: list[str] = []
    for action in runbook.spec.actions:
        if isinstance(action, PromoteCanaryAction):
            verbs.append("promotes it")
            left = "scaled to 0" if action.scale_canary_to_zero else "left as it is"
            details.append(f"{stable} takes the canary's images and the canary is {left}")
        elif action.type == "rollback":
            verbs.append(f"rolls {canary} back to its previous revision")
        elif action.type != "notify":
            verbs.append(f"runs its {action.type} action on {canary}")
    verb = " and ".join(verbs) or f"sends its notification about {canary}"
    detail = f": {'; '.join(details)}" if details else ""
    spec = runbook.spec
    if spec.mode == "shadow":
        return (
            f"runbook {runbook.name} records what it would do and writes nothing (mode: shadow)",
            False,
        )
    if spec.mode == "dryRun":
        return f"runbook {runbook.name} dry-runs it and writes nothing (mode: dryRun)", False
    if spec.max_autonomy == "escalate":
        return (
            f"runbook {runbook.name} escalates it to a person and writes nothing itself",
            False,
        )
    if spec.max_autonomy == "ask":
        return (
            f"runbook {runbook.name} asks once more (its maxAutonomy is ask), then {verb}{detail}",
            False,
        )
    rules = spec.require_approval_when
    if rules is not None and (
        canary.namespace in rules.namespaces
        or (rules.confidence_below is not None and rules.confidence_below > confidence)
    ):
        return (
            f"runbook {runbook.name} asks once more (its requireApprovalWhen), then {verb}{detail}",
            False,
        )
    if rules is not None and rules.replicas_affected_over is not None:
        return (
            f"runbook {runbook.name} {verb}, without asking again unless more than "
            f"{counted(rules.replicas_affected_over, 'replica')} "
            f"{'is' if rules.replicas_affected_over == 1 else 'are'} affected{detail}",
            True,
        )
    return f"runbook {runbook.name} {verb} without asking again{detail}", True
