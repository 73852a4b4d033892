"""Questions to humans: ask, receive the answer exactly once, expire, escalate.

The decision layer asks through ``Approvals``; which chat the question goes to is an
``ApprovalChannel`` (Slack, or ``LedgerOnlyChannel`` where the questions are answered
with ``autonomic approvals`` and read over HTTP). The ledger is the only state:

- a question is created in the ledger *before* it is posted, so its id can travel in
  the buttons and a crash after posting leaves a question the ledger knows about;
- an answer is a compare-and-set in the ledger: a double click, a Slack retry or a
  second replica cannot approve twice, and an expired question cannot be approved;
- the answer's consequences (``on_answer``, the message update) run on a worker
  thread *after* the compare-and-set, so the receiving request is acknowledged at
  once (Slack allows 3 seconds) and execution happens afterwards;
- if the chat cannot be reached, the question stays answerable from the CLI, an
  escalation is recorded in the ledger, and nothing is executed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol

from agent.errors import AutonomicError, PermanentError, TransientError
from agent.ids import short_id
from agent.kube_access import AccessCheck
from agent.ledger import LATE_ANSWER_PREFIX, DecisionRecord, Feedback, Ledger, Question, is_hold
from agent.outages import span
from agent.verdicts import (
    DEFAULT_REASK_AFTER_REJECT,
    HINDSIGHT,
    NO_VERDICT_OUTCOME,
    hindsight_hold,
    judge,
    no_verdict,
)
from remediation.events import event_lines
from remediation.windows import to_utc_text

__all__ = [
    "ESCALATIONS_SHOWN",
    "MAX_SNOOZES",
    "NO_LONGER_NEEDED",
    "AnswerHook",
    "AnswerOutcome",
    "ApprovalChannel",
    "Approvals",
    "ApproverRule",
    "Asked",
    "Dispatcher",
    "Expiry",
    "FallbackChannel",
    "LedgerOnlyChannel",
    "PostLaterError",
    "Poster",
    "describe_approvers",
    "escalation_json",
    "question_json",
]

log = logging.getLogger("autonomic.approvals")

ANSWERS = frozenset({"approved", "rejected", "snoozed"})
ESCALATIONS_SHOWN = 86400.0  # GET /approvals and `approvals list` show the last day's
MAX_SNOOZES = 3  # then a question must be answered (or it expires): no snoozing forever
REPOST_RETRY = 60.0  # after the chat refused a late post, wait this long before the next try
# A question's final rewrite (rejected, expired, superseded) the chat did not take for a
# while (5xx, 429, away) is tried again this long after, doubling, REWRITE_ATTEMPTS times
# in all (about 15 minutes): nothing else rewrites such a message, which kept its buttons.
REWRITE_RETRY = 30.0
REWRITE_ATTEMPTS = 5
# The question states whose message says the last word: safe to rewrite again later.
SETTLED = frozenset({"rejected", "expired", "superseded"})
LEDGER_REF = "ledger:"

# What happens next, written under the answer in the question's message.
NEXT_STEP = {
    "approved": "Executing next; progress follows in the thread.",
    "rejected": "Nothing will be done.",
    "snoozed": "Still open: answer any time before it expires.",
    "expired": "Counted as a no: nothing was done and the on-call was asked to look.",
    "superseded": "Nothing was done on it, and an answer now changes nothing.",
}
# Seconds between two restatements a start makes of messages likely shown already
# (``Approvals.restate``): Slack takes about 50 chat.update a minute (Tier 3), shared with
# the rewrites of new answers.
RESTATE_INTERVAL = 1.5
# An approved decision's statuses while its action has not ended: past them its final
# word (verified, failed, ...) has replaced "Executing next" on the question's message.
RUNNING = frozenset({"approved", "executing", "verifying"})
# The first words of a superseded question's ``answer_reason``: why it was closed.
NO_LONGER_NEEDED = "no longer needed: "

# on_answer(question_id, answer, actor): answer is approved | rejected | expired
AnswerHook = Callable[[str, str, str], None]


class PostLaterError(TransientError):
    """The chat takes no post to this room now (it paces posts: Slack takes about one a
    second per channel); ``delay`` seconds from now it will. Nothing was sent. A question
    met with this is not escalated: it waits in the ledger for its turn."""

    def __init__(self, message: str, *, delay: float) -> None:
        super().__init__(message, delay=delay, reason="SlackPaced")


def subject_namespace(subject: str) -> str | None:
    """The namespace of a decision's subject as ``str(ObjectRef)`` writes it
    (``Deployment/payments/api``); None for a node, the cluster or an alert."""
    parts = subject.split("/")
    return parts[1] if len(parts) == 3 and parts[1] else None


@dataclass(frozen=True)
class ApproverRule:
    """Who may answer a question: everyone in each list that applies to it.

    ``slack.approvers`` always applies; ``slack.approversByNamespace`` for the subject's
    namespace, and the runbook's ``spec.approvers`` (recorded in the decision's evidence
    as ``runbook_approvers``), narrow it. A list narrows, never widens: an answer must
    come from someone every applicable list admits (a user listed, or a member of a
    group listed).
    """

    approvers: tuple[str, ...]
    by_namespace: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def lists(self, subject: str, evidence: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``[{"source": ..., "ids": [...]}]``: each list an answerer must be in."""
        out: list[dict[str, Any]] = [{"source": "slack.approvers", "ids": list(self.approvers)}]
        namespace = subject_namespace(subject)
        if namespace is not None and namespace in self.by_namespace:
            out.append(
                {
                    "source": f"slack.approversByNamespace.{namespace}",
                    "ids": list(self.by_namespace[namespace]),
                }
            )
        runbook = evidence.get("runbook_approvers")
        if isinstance(runbook, Mapping) and runbook.get("ids"):
            out.append({"source": f"runbook {runbook.get('runbook')}", "ids": list(runbook["ids"])})
        return out


def nobody_admitted(
    lists: Sequence[Mapping[str, Any]], members: Mapping[str, Iterable[str]] | None = None
) -> bool | None:
    """Whether no one is in every one of ``lists`` (``ApproverRule.lists``): users listed,
    and members of the groups listed as ``members`` knows them. True: a question these
    lists apply to can never be answered; False: someone may answer; None: it cannot be
    told (a group listed whose membership is not known)."""
    common: set[str] | None = None
    for entry in lists:
        ids = [str(i) for i in entry.get("ids") or ()]
        admitted = {i for i in ids if not i.startswith("S")}
        for group in (i for i in ids if i.startswith("S")):
            if members is None or group not in members:
                return None
            admitted |= set(members[group])
        common = admitted if common is None else common & admitted
    return not common


def approver_combinations(
    rule: ApproverRule, runbooks: Mapping[str, Sequence[str]]
) -> list[list[dict[str, Any]]]:
    """Every set of lists a question may have to meet under ``rule``, given the runbooks
    that name approvers (``{runbook: spec.approvers}``): slack.approvers with each
    namespace's list, each runbook's list, and both. Checked by ``nobody_admitted``."""
    namespaces: list[str | None] = [None, *rule.by_namespace]
    named: list[str | None] = [None, *(name for name, ids in runbooks.items() if ids)]
    out = []
    for namespace in namespaces:
        for runbook in named:
            evidence = (
                {"runbook_approvers": {"runbook": runbook, "ids": list(runbooks[runbook])}}
                if runbook is not None
                else {}
            )
            subject = f"Deployment/{namespace}/x" if namespace is not None else ""
            out.append(rule.lists(subject, evidence))
    return out


def unanswerable(
    rule: ApproverRule,
    runbooks: Mapping[str, Sequence[str]],
    members: Mapping[str, Iterable[str]] | None = None,
) -> list[str]:
    """A sentence for each set of approver lists no one is in, as far as ``members``
    (group id -> user ids) tells: the questions it applies to can never be answered."""
    out = []
    for lists in approver_combinations(rule, runbooks):
        if nobody_admitted(lists, members):
            scope = _applies_to(lists)
            out.append(
                f"questions{scope} can never be answered: an answer must come from "
                f"{describe_approvers(lists)}, and no one is; each such question expires "
                "and is escalated"
            )
    return out


def _applies_to(lists: Sequence[Mapping[str, Any]]) -> str:
    """`` of runbook x in namespace y`` for the lists that narrow slack.approvers."""
    runbook = [str(e.get("source")) for e in lists if str(e.get("source")).startswith("runbook ")]
    namespace = [
        str(e.get("source")).rsplit(".", 1)[1]
        for e in lists
        if str(e.get("source")).startswith("slack.approversByNamespace.")
    ]
    return (f" of {runbook[0]}" if runbook else "") + (
        f" in namespace {namespace[0]}" if namespace else ""
    )


def question_json(question: Question, record: DecisionRecord | None, now: float) -> dict[str, Any]:
    """A question as `GET /approvals` and `autonomic approvals list --json` show it (the
    same keys for the same things): ids in full, times in epoch seconds, ``overdue``
    true for a pending question past its TTL that no daemon cycle has closed yet."""
    if_approved = record.evidence.get("if_approved") if record else None
    events = record.evidence.get("events") if record else None
    return {
        "question": question.id,
        "decision": question.decision_id,
        "expires_at": question.expires_at,
        "subject": record.subject if record else None,
        "reason": record.reason if record else None,
        "confidence": record.confidence if record else None,
        "proposal": record.proposal if record else None,
        "status": question.status,
        "overdue": question.status == "pending" and question.expires_at <= now,
        "asked_at": question.asked_at,
        "if_approved": if_approved if isinstance(if_approved, str) and if_approved else None,
        # The target's recent Kubernetes Events as sentences (``evidence.events``; None for
        # a decision that has none): what `kubectl describe` would show first.
        "events": event_lines(events) if isinstance(events, Mapping) else None,
        "decision_status": record.status if record else None,
        "answered_by": question.answered_by,
        "answered_at": question.answered_at,
        "answer_reason": question.answer_reason,
    }


def escalation_json(row: Mapping[str, Any], record: DecisionRecord | None) -> dict[str, Any]:
    """An escalation (a feedback row of kind ``escalation``) as `GET /approvals` and
    `autonomic approvals list --json` show it."""
    return {
        "decision": row["decision_id"],
        "at": row["created_at"],
        "why": (row.get("detail") or {}).get("why"),
        "subject": record.subject if record else None,
        "reason": record.reason if record else None,
        "status": record.status if record else None,
    }


def describe_approvers(lists: Sequence[Mapping[str, Any]]) -> str:
    """``ApproverRule.lists`` in plain words: ``U1, S2`` for one list; ``someone in U1, S2
    (slack.approvers) who is also in S3 (runbook x)`` for several."""
    shown = [
        f"{', '.join(str(i) for i in entry.get('ids') or ()) or 'nobody'} ({entry.get('source')})"
        for entry in lists
    ]
    if len(shown) == 1:
        return shown[0]
    return f"someone in {shown[0]} who is also in {' and in '.join(shown[1:])}" if shown else ""


class ApprovalChannel(Protocol):
    """Where questions, answers, progress and escalations are shown to people."""

    name: str  # recorded in the ledger with the question: "slack" | "cli"

    def ask(self, decision: DecisionRecord, question: Question) -> str:
        """Show the question; return a message reference (``slack:C…:ts``, ``ledger:id``)."""
        ...

    def update(self, decision: DecisionRecord, question: Question, note: str) -> None:
        """Rewrite the question's message with ``note``; buttons only while it is pending."""
        ...

    def thread(self, question: Question, text: str) -> None:
        """Progress under the question: executing, verified, undone."""
        ...

    def escalate(self, decision: DecisionRecord, why: str) -> str:
        """Hand the decision to the on-call with all context; return a reference."""
        ...

    def report(self, decision: DecisionRecord, why: str) -> str:
        """Tell people about an action taken without asking; return a reference that
        ``note`` can thread progress under."""
        ...

    def note(self, ref: str, text: str) -> None:
        """Progress under a reported action (a ``report`` reference)."""
        ...


class LedgerOnlyChannel:
    """No chat: questions are visible via ``autonomic approvals`` and the HTTP endpoint.

    Asking writes nothing beyond the ledger's question row; an escalation is recorded
    as feedback (``kind="escalation"``) so the CLI, the HTTP endpoint and ``explain``
    show it.
    """

    name = "cli"  # the ledger schema's word for "answered from the CLI or HTTP"

    def __init__(self, ledger: Ledger, clock: Callable[[], float]) -> None:
        self.ledger = ledger
        self.clock = clock

    def ask(self, decision: DecisionRecord, question: Question) -> str:
        log.info(
            "question %s about decision %s awaits an answer via 'autonomic approvals'",
            question.id,
            decision.id,
        )
        return LEDGER_REF + question.id

    def update(self, decision: DecisionRecord, question: Question, note: str) -> None:
        log.info("question %s: %s", question.id, note)

    def thread(self, question: Question, text: str) -> None:
        log.info("question %s progress: %s", question.id, text)

    def escalate(self, decision: DecisionRecord, why: str) -> str:
        self.ledger.add_feedback(
            decision.id,
            "escalation",
            "escalated",
            "autonomic",
            self.clock(),
            {"why": why, "channel": self.name},
        )
        log.warning("escalated decision %s (%s): %s", decision.id, decision.subject, why)
        return LEDGER_REF + decision.id

    def report(self, decision: DecisionRecord, why: str) -> str:
        log.info("acted without asking on decision %s (%s): %s", decision.id, decision.subject, why)
        return LEDGER_REF + decision.id

    def note(self, ref: str, text: str) -> None:
        log.info("%s progress: %s", ref.removeprefix(LEDGER_REF), text)

    def announce(self, text: str) -> None:
        """A word to everyone (the pause): no chat, so the log, which says it already."""


class FallbackChannel:
    """A chat channel backed by the ledger: when the chat fails, nobody is left unasked.

    A question that cannot be posted stays pending in the ledger (answerable from the
    CLI) and is escalated there; an escalation that cannot be posted is recorded in
    the ledger; a failed update or progress message is logged (the ledger already
    holds the answer).
    """

    def __init__(self, primary: ApprovalChannel, fallback: ApprovalChannel) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name

    def ask(self, decision: DecisionRecord, question: Question) -> str:
        try:
            return self.primary.ask(decision, question)
        except PostLaterError:
            raise  # not a failure: the question waits for its turn (``Approvals.show``)
        except AutonomicError as exc:
            why = (
                f"could not post the question to {self.primary.name} ({exc}); answer it with "
                f"'autonomic approvals' (question {short_id(question.id)}) — nothing will run "
                "until then"
            )
            self.fallback.escalate(decision, why)
            return self.fallback.ask(decision, question)

    def update(self, decision: DecisionRecord, question: Question, note: str) -> None:
        try:
            self.primary.update(decision, question, note)
        except AutonomicError as exc:
            log.warning("could not update question %s in %s: %s", question.id, self.name, exc)
            self.fallback.update(decision, question, note)

    def thread(self, question: Question, text: str) -> None:
        try:
            self.primary.thread(question, text)
        except AutonomicError as exc:
            log.warning("could not post progress for %s in %s: %s", question.id, self.name, exc)
            self.fallback.thread(question, text)

    def escalate(self, decision: DecisionRecord, why: str) -> str:
        try:
            return self.primary.escalate(decision, why)
        except AutonomicError as exc:
            return self.fallback.escalate(decision, f"{why} ({self.primary.name} failed: {exc})")

    def report(self, decision: DecisionRecord, why: str) -> str:
        try:
            return self.primary.report(decision, why)
        except AutonomicError as exc:
            log.warning("could not report decision %s in %s: %s", decision.id, self.name, exc)
            return self.fallback.report(decision, why)

    def note(self, ref: str, text: str) -> None:
        try:
            if ref.startswith(LEDGER_REF):
                self.fallback.note(ref, text)
            else:
                self.primary.note(ref, text)
        except AutonomicError as exc:
            log.warning("could not post progress under %s in %s: %s", ref, self.name, exc)
            self.fallback.note(ref, text)

    def offer_undo(self, ref: str, decision: DecisionRecord, text: str) -> str:
        """``text`` with an Undo button in the thread of ``ref``, where the chat has one."""
        offer = getattr(self.primary, "offer_undo", None)
        if offer is None or not _in_chat(ref):
            raise PermanentError(f"no Undo button under {ref}", reason="NotInChat")
        return str(offer(ref, decision, text))

    def point_to(self, question: Question, kept: str) -> None:
        """Rewrite ``question``'s message, a second copy, as a pointer to ``kept``."""
        point = getattr(self.primary, "point_to", None)
        if point is not None and _in_chat(question.message_ref or ""):
            point(question, kept)

    def rewrite(self, ref: str, text: str) -> None:
        """Rewrite one of the chat's messages (an Undo button's) with ``text``."""
        rewrite = getattr(self.primary, "rewrite", None)
        if rewrite is not None and _in_chat(ref):
            rewrite(ref, text)

    def announce(self, text: str) -> None:
        try:
            _announce(self.primary, text)
        except AutonomicError as exc:
            log.warning("could not post to %s: %s (%s)", self.name, text, exc)


def _announce(channel: ApprovalChannel, text: str) -> None:
    """Post ``text`` to the channel's room, for a channel that can (``announce``)."""
    say = getattr(channel, "announce", None)
    if say is not None:
        say(text)


class Dispatcher:
    """One worker thread that runs the slow consequences of an answer, in order.

    ``submit`` never blocks on the work; a task that raises is logged and the worker
    goes on. ``drain`` waits until everything submitted so far has run (tests, shutdown).
    """

    def __init__(self, name: str = "autonomic-approvals") -> None:
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._name = name
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._queue.put(task)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait for the queue to empty; False if it did not within ``timeout`` seconds."""
        done = threading.Event()
        self.submit(done.set)
        return done.wait(timeout)

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=10.0)

    def _run(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            try:
                task()
            except Exception:
                log.exception("an approval follow-up task failed")


class Poster:
    """One worker thread that posts the questions the chat could not take when they were
    asked (``PostLaterError``), in order, each when its turn comes.

    ``post(question_id, late)`` returns None when done with the question, or the seconds
    to wait before trying it again. ``offer`` never blocks; a question is queued once.
    The queue lives in memory: a restart or a new leader finds the questions unposted in
    the ledger, and ``repost_unposted`` posts them. A replica that stops leading empties
    it (``drop``, from ``DecisionService.term_ended``)."""

    def __init__(
        self, post: Callable[[str, bool], float | None], name: str = "autonomic-chat-posts"
    ) -> None:
        self._post = post
        self._name = name
        self._items: deque[tuple[str, bool]] = deque()
        self._queued: set[str] = set()
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._dropped = 0  # how many times the queue was emptied (``drop``)

    def offer(self, question_id: str, *, late: bool) -> bool:
        with self._cond:
            if self._stopping.is_set() or question_id in self._queued:
                return False
            self._items.append((question_id, late))
            self._queued.add(question_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return True

    def waiting(self, question_id: str) -> bool:
        with self._cond:
            return question_id in self._queued

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every question offered so far was posted or given up on."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queued, timeout)

    def drop(self) -> list[str]:
        """Forget the questions not posted yet, and return their ids: this replica no
        longer leads, and the new leader posts them (it finds them unposted in the
        ledger). The thread stops waiting for the first one's turn; a post already under
        way finishes."""
        with self._cond:
            dropped = [question_id for question_id, _ in self._items]
            self._items.clear()
            self._queued.clear()
            self._dropped += 1
            self._cond.notify_all()
        return dropped

    def stop(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=10.0)

    def _moved_on(self, dropped: int) -> bool:
        """Whether the queue was emptied since ``dropped`` was read, or the poster stops."""
        return self._dropped != dropped or self._stopping.is_set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                if not self._items:
                    self._cond.wait(1.0)
                    continue
                question_id, late = self._items[0]
                dropped = self._dropped
            try:
                wait = self._post(question_id, late)
            except Exception:
                log.exception("posting question %s failed", question_id)
                wait = None
            with self._cond:
                if self._dropped != dropped:
                    continue  # the queue was emptied meanwhile (``drop``)
                if wait is not None:
                    # Its turn: unless the queue is emptied, or the poster stopped, first.
                    self._cond.wait_for(partial(self._moved_on, dropped), wait)
                    continue
                self._items.popleft()
                self._queued.discard(question_id)
                self._cond.notify_all()


@dataclass(frozen=True)
class Asked:
    question_id: str
    message_ref: str
    posted: bool  # False: the chat was unreachable; the question waits in the ledger


@dataclass(frozen=True)
class AnswerOutcome:
    """What happened to one answer, as a reason code and a sentence for the person."""

    accepted: bool
    # Recorded | AlreadyAnswered | Expired | Superseded | UnknownQuestion | NotApprover |
    # Stale, and for a verdict in hindsight: UnknownDecision | NotJudgeable | Duplicate
    code: str
    message: str
    question: Question | None = None


@dataclass(frozen=True)
class Expiry:
    question: Question
    escalation_ref: str


@dataclass(frozen=True)
class _Escalated:
    """The escalation of an expiring question that went out before its mark was written
    (``Approvals._expire_one``): for which expiry, when, saying what, and where."""

    expires_at: float
    sent_at: float
    why: str
    ref: str


class Approvals:
    """The question life cycle over the ledger and one channel."""

    def __init__(
        self,
        ledger: Ledger,
        channel: ApprovalChannel,
        *,
        ttl: float,
        snooze: float,
        on_answer: AnswerHook | None = None,
        dispatcher: Dispatcher | None = None,
        rule: ApproverRule | None = None,
        clock: Callable[[], float] = time.time,
        reask_after_reject: float | None = DEFAULT_REASK_AFTER_REJECT,
        access: AccessCheck | None = None,
    ) -> None:
        if ttl <= 0 or snooze <= 0:
            raise ValueError("question TTL and snooze must be positive durations")
        self.ledger = ledger
        self.channel = channel
        self.ttl = ttl
        self.snooze = snooze
        self.on_answer = on_answer
        self.dispatcher = dispatcher or Dispatcher()
        # Who may answer (Slack checks it); None: the ledger-only channel, whose answers
        # come from the CLI, trusted as whoever may write the ledger.
        self.rule = rule
        # slack.requireKubernetesAccess: an approval stands only if its answerer could
        # make the plan's writes themselves (``agent.kube_access``); None: not checked.
        self.access = access
        self._repost_after = 0.0
        self.clock = clock
        # safety.reaskAfterReject: how long a hindsight "it was not the fix" holds its
        # incident (the engine's), said to the person who gives it (``judge``).
        self.reask_after_reject = reask_after_reject
        # Questions whose expiry was escalated and not marked yet (the mark failed, or
        # the process is between the two): while the mark keeps failing, only the mark
        # is tried again, not the escalation (``_expire_one``). Kept while due.
        self._escalated: dict[str, _Escalated] = {}
        # Posts the questions the chat could not take at once, each at its turn; only
        # while this replica leads (the daemon sets it): a deposed leader's queue is left
        # to the new leader, which finds the questions unposted in the ledger.
        self.poster = Poster(self._post_queued)
        self.may_post: Callable[[], bool] = lambda: True
        # Final rewrites waiting for their next try (``_rewrite``), cancelled by ``close``.
        self.rewrite_retry = REWRITE_RETRY
        self._timers: set[threading.Timer] = set()
        self._timers_lock = threading.Lock()
        self._closed = False
        # Questions whose answer (or expiry) this process recorded and set the follow-ups
        # of (the message's rewrite, ``on_answer``) off for: the decision layer's sync
        # rewrites the message of an answer nobody here did (``unfollowed``), one whose
        # process died before its follow-ups ran. Pruned once applied (``followed_up``).
        self._followed: set[str] = set()
        # Restatements that are likely shown already (``restate(paced=True)``), run one
        # per ``restate_interval`` seconds on the worker.
        self.restate_interval = RESTATE_INTERVAL
        self._paced: deque[tuple[str, Callable[[], None]]] = deque()
        self._paced_lock = threading.Lock()
        self._pacing = False

    # ------------------------------------------------------------------ ask
    def ask(self, decision_id: str, now: float) -> Asked:
        """Create the question in the ledger, then show it; never raises for a chat outage."""
        question_id = self.ledger.ask(decision_id, self.channel.name, now, self.ttl)
        return self.show(decision_id, question_id)

    def show(self, decision_id: str, question_id: str) -> Asked:
        """Show a question already in the ledger (written with its decision by
        ``Ledger.record_question``); never raises for a chat outage. A question the chat
        cannot take yet (``PostLaterError``: its room's turn has not come) waits in the ledger,
        unposted and not escalated, and the poster thread posts it at its turn."""
        decision = self._decision(decision_id)
        question = self._question(question_id)
        try:
            ref = self.channel.ask(decision, question)
        except PostLaterError as exc:
            log.info(
                "question %s waits its turn to be posted to %s (%.1f s)",
                question_id,
                self.channel.name,
                exc.delay,
            )
            self.poster.offer(question_id, late=False)
            return Asked(question_id, LEDGER_REF + question_id, False)
        posted = not ref.startswith(LEDGER_REF)
        if posted:
            kept = self.ledger.set_message_ref(question_id, ref)
            if kept is not None and kept != ref:
                self._second_copy(question_id, ref, kept)
                ref = kept
        return Asked(question_id, ref, posted)

    # --------------------------------------------------------------- answer
    def answer(
        self,
        question_id: str,
        answer: str,
        actor: str,
        now: float,
        *,
        reason: str | None = None,
        via: str = "cli",
        click_id: str | None = None,
    ) -> AnswerOutcome:
        """Record one answer exactly once; its consequences run afterwards on the worker.

        The caller has already checked that ``actor`` may answer. A snooze extends the
        expiry by ``snooze``; ``click_id`` identifies the click (Slack: user and
        ``action_ts``) so that a retried delivery of the same snooze changes nothing.
        """
        if answer not in ANSWERS:
            raise ValueError(f"an answer is one of {sorted(ANSWERS)}, got {answer!r}")
        question = self.ledger.question(question_id)
        if question is None:
            return AnswerOutcome(
                False, "UnknownQuestion", f"there is no question {question_id} in the ledger"
            )
        refused = _closed(question, now)
        if refused is not None:
            if click_id is not None and self._click_recorded(question, actor, click_id):
                # The same click delivered again (a Slack retry): already done, say nothing.
                return AnswerOutcome(
                    False, "Duplicate", "this click was already recorded", question
                )
            if refused.code == "Expired" and answer in ("approved", "rejected"):
                return self._late(question, answer, actor, now, reason, via, click_id)
            return refused
        if answer == "approved" and self.access is not None:
            denied = self._no_access(question, actor)
            if denied is not None:
                self.refuse(question_id, actor, denied, now, via=via)
                said = f"{denied}; the question stays open for another approver"
                return AnswerOutcome(False, "NoKubernetesAccess", said, question)
        until: float | None = None
        if answer == "snoozed":
            marker = f"snooze click {click_id}" if click_id else None
            if marker is not None and question.answer_reason == marker:
                return AnswerOutcome(False, "Stale", "this snooze was already recorded", question)
            snoozes = sum(
                row["kind"] == "answer"
                and row["outcome"] == "snoozed"
                and (row.get("detail") or {}).get("question_id") == question_id
                for row in self.ledger.feedback_for(question.decision_id)
            )
            if snoozes >= MAX_SNOOZES:
                return AnswerOutcome(
                    False,
                    "SnoozeLimit",
                    f"this question was snoozed {snoozes} times already: approve or reject it",
                    question,
                )
            until = max(now, question.expires_at) + self.snooze
            reason = reason or marker
        record = Feedback(
            question.decision_id,
            "answer",
            answer,
            actor,
            {
                "question_id": question_id,
                "via": via,
                "reason": reason,
                "snooze_until": until,
                "click_id": click_id,
            },
        )
        # The answer and its record are one transaction: a ledger failing between the
        # two would leave an answer that no retry can record (the question is closed).
        won = self.ledger.answer(
            question_id, answer, actor, now, reason, snooze_until=until, feedback=[record]
        )
        latest = self._question(question_id)
        if not won:
            return _closed(latest, now) or AnswerOutcome(
                False, "AlreadyAnswered", "someone else answered first", latest
            )
        self._follow_up(latest, answer, actor)
        return AnswerOutcome(True, "Recorded", f"recorded: {answer}", latest)

    def _late(
        self,
        question: Question,
        answer: str,
        actor: str,
        now: float,
        reason: str | None,
        via: str,
        click_id: str | None,
    ) -> AnswerOutcome:
        """An approval or rejection that came after the question expired.

        The expiry stands: it was a "no", it was escalated, and nothing is executed. But
        the answer is still the on-call's judgment of the proposal, so the first one is
        kept as the decision's verdict (approved: right, rejected: wrong) and teaches the
        decision type's track record, which otherwise learns nothing from the questions
        nobody answered in time. On a decision that takes no verdict (``no_verdict``: a
        scheduled floor) it is kept as none.
        """
        # Exactly once, as answers are: a compare-and-set, so that two replicas or a
        # double click cannot keep two late verdicts.
        key = f"{LATE_ANSWER_PREFIX}{question.id}"
        detail = {
            "question_id": question.id,
            "via": via,
            "reason": reason,
            "click_id": click_id,
            "late_by": round(max(now - question.expires_at, 0.0), 3),
        }
        said = "right" if answer == "approved" else "wrong"
        late = {**detail, "answer": f"{answer} after the question expired; nothing was done"}
        decision = self.ledger.get_decision(question.decision_id)
        why_not = no_verdict(decision) if decision is not None else None
        if why_not is not None:  # a decision that takes no verdict: kept, not counted
            said, late = NO_VERDICT_OUTCOME, {**late, "why": f"no verdict: {why_not}"}
        kept = [
            Feedback(question.decision_id, "late-answer", answer, actor, detail),
            Feedback(question.decision_id, "verdict", said, actor, late),
        ]
        # The marker and the verdict are one transaction: a marker alone would refuse
        # every later try as "already kept" with nothing kept.
        if not self.ledger.put_guard(
            key, {"answer": answer, "actor": actor}, 0, now, feedback=kept
        ):
            first, _ = self.ledger.guard(key)
            return AnswerOutcome(
                False,
                "Expired",
                f"this question expired; it was counted as a no. A late answer "
                f"({first.get('answer')} by {first.get('actor')}) is already kept",
                question,
            )
        log.info("late answer to question %s: %s by %s, kept as feedback", question.id, answer,
                 actor)  # fmt: skip
        # What keeping it does: teaches the type's record, or (no verdict) nothing.
        teaches = (
            "it teaches the next decision"
            if why_not is None
            else f"it teaches nothing, since this decision takes no verdict ({why_not})"
        )
        kept_for = " for learning" if why_not is None else f", but {teaches}"
        note = (
            f"{actor} answered {answer} after the question expired: nothing was done; "
            f"the answer is kept{kept_for}."
        )
        self.dispatcher.submit(lambda: self.channel.thread(question, note))
        return AnswerOutcome(
            False,
            "Expired",
            f"this question expired; it was counted as a no and nothing will be done. "
            f"Your answer ({answer}) is kept as feedback"
            + (f": {teaches}" if why_not is None else f", but {teaches}"),
            question,
        )

    def _no_access(self, question: Question, actor: str) -> str | None:
        """Why ``actor``'s approval is refused under slack.requireKubernetesAccess: their
        Kubernetes identity may not make a write of the plan (or it cannot be told)."""
        assert self.access is not None
        record = self.ledger.get_decision(question.decision_id)
        if record is None:
            return f"decision {question.decision_id} is not in the ledger"
        return self.access.refusal(actor, record)

    def _click_recorded(self, question: Question, actor: str, click_id: str) -> bool:
        if question.answered_by != actor:
            return False
        return any(
            row["kind"] == "answer"
            and (row.get("detail") or {}).get("question_id") == question.id
            and (row.get("detail") or {}).get("click_id") == click_id
            for row in self.ledger.feedback_for(question.decision_id)
        )

    def refuse(self, question_id: str, actor: str, why: str, now: float, *, via: str) -> None:
        """Record that someone not allowed tried to answer; the question is unchanged."""
        question = self.ledger.question(question_id)
        if question is None:
            log.warning("refused an answer from %s to unknown question %s", actor, question_id)
            return
        self.ledger.add_feedback(
            question.decision_id,
            "refusal",
            "refused",
            actor,
            now,
            {"question_id": question_id, "why": why, "via": via},
        )
        log.warning("refused an answer from %s to question %s: %s", actor, question_id, why)

    def judge(
        self, decision_id: str, *, right: bool, actor: str, now: float, via: str
    ) -> AnswerOutcome:
        """A person's verdict in hindsight, from a chat button (``agent.verdicts``): on an
        escalation nobody acted on, whether what it proposed was the fix. A decision that
        was carried out is judged by its verification; overruling that is for
        ``autonomic feedback``, not for a button on its escalation."""
        record = self.ledger.get_decision(decision_id)
        if record is None:
            return AnswerOutcome(
                False, "UnknownDecision", f"there is no decision {decision_id} in the ledger"
            )
        if is_hold(record.decision_type):
            return AnswerOutcome(
                False,
                "NotJudgeable",
                f"decision {short_id(decision_id)} is a hand-off: a guard held the runbook back, "
                "so it proposed nothing to call the fix or not",
            )
        why_not = no_verdict(record)
        if why_not is not None:
            return AnswerOutcome(
                False,
                "NotJudgeable",
                f"decision {short_id(decision_id)} takes no verdict: {why_not}",
            )
        if record.status not in HINDSIGHT:
            return AnswerOutcome(
                False,
                "NotJudgeable",
                f"decision {short_id(decision_id)} is {record.status}, not one nobody acted on; "
                f"to overrule its verdict, use `autonomic feedback {short_id(decision_id)}`",
            )
        kind = judge(self.ledger, record, right=right, actor=actor, at=now, detail={"via": via})
        if kind is None:
            return AnswerOutcome(False, "Duplicate", "you said so already")
        said = "was the fix" if right else "was not the fix"
        log.info("decision %s: %s says its proposal %s (%s)", decision_id, actor, said, kind)
        message = f"recorded that what it proposed {said}; its next decision learns"
        hold = hindsight_hold(record, right, self.reask_after_reject)
        return AnswerOutcome(True, "Recorded", f"{message}; {hold}" if hold else message)

    # ----------------------------------------------------------- superseded
    def supersede(
        self, decision_id: str, why: str, now: float, *, feedback: Sequence[Feedback] = ()
    ) -> Question | None:
        """Close the open question about ``decision_id`` because what it asks about was
        settled without it (``why``: the canary was promoted, rolled back or rolled out
        again by its delivery tool or a person): nobody's answer, so neither a "no" nor
        an escalation, and the decision is ``superseded`` with ``feedback`` in the same
        write. A compare-and-set: an answer or an expiry recorded first stands, and this
        returns None. The question's message is rewritten ("no longer needed: why",
        without buttons); a later click is told it is already settled."""
        pending = [q for q in self.ledger.questions_for([decision_id]) if q.status == "pending"]
        if not pending:
            return None
        closed = self.ledger.supersede_question(
            pending[-1], NO_LONGER_NEEDED + why, now, feedback=feedback
        )
        if closed is None:
            return None
        # Followed up here; a crash before the rewrite leaves it to the next process's
        # first sync (``DecisionService._unshown_at_start``).
        self._followed.add(closed.id)
        try:
            self._rewrite(closed, NEXT_STEP["superseded"], decision=self._decision(decision_id))
        except AutonomicError as exc:  # the ledger holds it: a click is refused all the same
            log.warning("could not update question %s in %s: %s", closed.id, self.channel.name, exc)
        return closed

    # --------------------------------------------------------------- expiry
    def expire_due(
        self, now: float, failed: Callable[[str, Exception, str], None] | None = None
    ) -> list[Expiry]:
        """Expire unanswered questions: each is a "no", recorded, shown and escalated.

        One question at a time, escalated before it is marked: a failure (the ledger or
        the chat away, a crash) leaves the question pending, and the next round expires
        it then. The on-call may be told twice, never not at all: an escalation that went
        out is not sent again by this process while the mark keeps failing (only the
        mark is tried again, with the escalation's words and message), though a restart
        or another leader, which cannot know it went out, sends it once more. Before,
        each round sent another (each minute, for as long as the mark failed). The mark
        and its expiry record are one write; a question answered or snoozed while it was
        being escalated keeps its answer.

        Each on its own when ``failed`` is given: one whose expiry raises an error that
        is not a ``TransientError`` (a bug in the chat's escalation, a decision that
        cannot be read) is passed to ``failed`` (what, the error, what becomes of it),
        and the others go on; it stays pending, expired at a later round."""
        expiries: list[Expiry] = []
        due_now = self.ledger.due_questions(now)
        # Answered, snoozed or marked since (by this replica, another, the CLI): no longer
        # remembered; one snoozed that comes due again is a new expiry, escalated anew.
        ids = {due.id for due in due_now}
        self._escalated = {i: sent for i, sent in self._escalated.items() if i in ids}
        for due in due_now:
            try:
                expiry = self._expire_one(due, now)
            except Exception as exc:
                if failed is None or isinstance(exc, TransientError):
                    raise
                failed(
                    f"the expiry of question {due.id} (decision {due.decision_id})",
                    exc,
                    "it stays pending, expired at the next cycle (its escalation, if it "
                    "went out, is not sent again: only the mark is tried), or, marked "
                    "expired before the error, the next cycle applies its expiry; the other "
                    "questions go on",
                )
                continue
            if expiry is not None:
                expiries.append(expiry)
        return expiries

    def _expire_one(self, due: Question, now: float) -> Expiry | None:
        """Expire one due question (``expire_due``): its expiry, or None when it was
        answered meanwhile."""
        decision = self._decision(due.decision_id)
        sent = self._escalated.get(due.id)
        if sent is not None and sent.expires_at == due.expires_at:
            # Escalated at an earlier round whose mark failed: the on-call was told;
            # only the mark is written now, as it would have been then.
            why, ref = sent.why, sent.ref
            log.info(
                "question %s: its expiry was escalated %.0f s ago and not marked then; "
                "marking it now (the escalation is not sent again)",
                short_id(due.id),
                now - sent.sent_at,
            )
        else:
            waited = max(0.0, now - due.asked_at) / 60
            # The escalation is the expiry, shown as the decision will be once it is
            # marked below: expired, nothing done, so it may be judged in hindsight (its
            # buttons), though the mark is written only after the escalation has gone out.
            why = f"nobody answered question {short_id(due.id)} within {waited:.0f} min"
            ref = self.channel.escalate(replace(decision, status="expired"), why)
            self._escalated[due.id] = _Escalated(due.expires_at, now, why, ref)
        record = Feedback(
            decision.id,
            "expiry",
            "expired",
            "timeout",
            {"question_id": due.id, "asked_at": due.asked_at},
        )
        # Where the on-call was told, kept with the expiry in one write.
        told = [self._escalation(decision.id, why, ref)] if _in_chat(ref) else []
        question = self.ledger.expire_question(due, now, feedback=[*told, record])
        del self._escalated[due.id]  # marked, or answered meanwhile: no longer due
        if question is None:
            log.warning(
                "question %s was answered while it was being escalated as unanswered; "
                "the answer stands",
                short_id(due.id),
            )
            return None
        if not question.message_ref:
            # Posted late while it was being escalated (``_post_waiting``): its message
            # landed after ``due`` was read, and is the one to rewrite. One that lands
            # after this read is rewritten by the post itself (it reads it expired).
            question = replace(question, message_ref=self._question(due.id).message_ref)
        self._followed.add(question.id)
        self._rewrite(question, NEXT_STEP["expired"], decision=decision)
        self._notify(question.id, "expired", "timeout")
        return Expiry(question, ref)

    def repost_unposted(
        self, now: float, failed: Callable[[str, Exception, str], None] | None = None
    ) -> int:
        """Post to the chat the questions it refused when they were asked.

        A question the chat refused was escalated in the ledger and stays answerable
        from the CLI; once the chat is back, it is posted there too, with its buttons,
        while it is still open, and its thread says why it comes late. The first
        refusal stops the round (the chat is still down) and the next try waits
        ``REPOST_RETRY`` seconds. A question whose turn has not come (``PostLaterError``) goes
        to the poster thread, as do those after it. Returns how many were posted.

        With ``failed`` given, a question whose posting raises an error that is not an
        ``AutonomicError`` (a bug in its message, not the chat failing) is passed to it
        (what, the error, what becomes of it), and the others go on; it is posted again
        at the next round."""
        if not isinstance(self.channel, FallbackChannel) or now < self._repost_after:
            return 0
        posted = 0
        later = False
        for question in self.ledger.questions("pending"):
            if question.message_ref or question.channel != self.channel.name:
                continue
            if question.expires_at <= now or self.poster.waiting(question.id):
                continue  # expire_due escalates it; the poster has it
            if later:
                self.poster.offer(question.id, late=True)
                continue
            try:
                got = self._post_waiting(question.id, late=True)
            except AutonomicError as exc:
                log.info("question %s still cannot be posted: %s", question.id, exc)
                self._repost_after = now + REPOST_RETRY
                break
            except Exception as exc:
                if failed is None:
                    raise
                failed(
                    f"posting question {question.id} (decision {question.decision_id}) "
                    "late to the chat",
                    exc,
                    "it stays answerable from the CLI, posted again at the next round; the "
                    "other questions go on",
                )
                continue
            if isinstance(got, float):
                later = True
                self.poster.offer(question.id, late=True)
            elif got is not None:
                posted += 1
        return posted

    def _post_waiting(self, question_id: str, *, late: bool) -> str | float | None:
        """Post a question the chat did not take when it was asked: the reference of its
        message; seconds to wait when its turn has not come; None when there is nothing
        to post (answered, expired or posted meanwhile; or the chat failed and it was
        escalated in the ledger, as at asking).

        ``late``: found unposted in the ledger (``repost_unposted``), not queued by this
        process when asked. Such a question was either escalated when asked (the chat
        refused it, an ``escalation`` row since it was asked): posted to the chat alone,
        a failure raises; or it only waited its turn when the process that asked it
        restarted or stopped leading (its queue is in memory): posted as at asking, a
        failure escalating it in the ledger. Either way a late one's thread says how
        late, why, and until when it is open.

        Nobody could answer it in the chat before it is shown there, so its expiry is
        moved on to the whole TTL from then (before session 44 a late one kept its first
        expiry, so one posted a minute before it gave the on-call that minute, and its
        expiry escalated it as unanswered); not a message Slack had posted after all
        (``found_posted``), which people could see from when it was asked."""
        question = self.ledger.question(question_id)
        if question is None or question.message_ref or question.status != "pending":
            return None
        now = self.clock()
        if question.expires_at <= now:
            return None  # expire_due escalates it
        decision = self._decision(question.decision_id)
        escalated = late and self._escalated_when_asked(question)
        expires = max(question.expires_at, now + self.ttl)
        channel = self.channel
        if escalated and isinstance(channel, FallbackChannel):
            channel = channel.primary
        try:
            ref = channel.ask(decision, replace(question, expires_at=expires))
        except PostLaterError as exc:
            return max(exc.delay, 0.01)
        if not _in_chat(ref):
            return None  # the chat failed: escalated in the ledger, posted late
        chat = channel.primary if isinstance(channel, FallbackChannel) else channel
        found = getattr(chat, "found_posted", None)
        shown_before = callable(found) and bool(found(question_id))
        # Moved only if its first expiry has not come by the time the post is written
        # down: one that came during the post is ``expire_due``'s, which may be
        # escalating it now (a moved expiry would then fail its mark after the on-call
        # was told); that expiry rewrites the new message.
        kept = self.ledger.set_message_ref(
            question_id,
            ref,
            expires_at=None if shown_before else expires,
            now=self.clock(),
        )
        if kept is not None and kept != ref:
            # Another replica posted it meanwhile (this one was deposed mid-post, or
            # the new leader's repost ran beside it): theirs is the question's message.
            self._second_copy(question_id, ref, kept)
            return None
        latest = self._question(question_id)
        if late and not shown_before:
            self.channel.thread(
                latest, self._late_note(question, latest, escalated, now, self.clock())
            )
        if latest.status != "pending":  # answered from the CLI while being posted
            self.channel.update(decision, latest, NEXT_STEP.get(latest.status, latest.status))
        return ref

    def _second_copy(self, question_id: str, mine: str, kept: str, attempt: int = 1) -> None:
        """This replica's post of a question that another replica posted too, whose
        message the ledger kept (``Ledger.set_message_ref``): rewrite ours as a pointer
        to that one, without buttons, so that nobody answers on a message that is never
        rewritten with the answer. A click on ours before that still answers the
        question (its buttons carry the question's id). A rewrite the chat does not take
        for now (a ``TransientError``: a 5xx, a 429) is tried again ``rewrite_retry``
        seconds later, doubling, up to ``REWRITE_ATTEMPTS`` tries, on the worker, as a
        settled question's rewrite is (before, the copy then kept live buttons for
        good); other failures, and the last try's, are logged."""
        if attempt == 1:
            log.warning(
                "question %s was posted twice (%s here, %s by another replica first); "
                "rewriting this copy to point to the first",
                short_id(question_id),
                mine,
                kept,
            )
        point = getattr(self.channel, "point_to", None)
        if point is None:
            return
        try:
            point(replace(self._question(question_id), message_ref=mine), kept)
        except TransientError as exc:
            if attempt >= REWRITE_ATTEMPTS:
                log.warning("could not rewrite the second copy %s of question %s after %d "
                            "tries: %s", mine, short_id(question_id), attempt, exc)  # fmt: skip
                return
            delay = self.rewrite_retry * 2.0 ** (attempt - 1)
            if exc.reason == "SlackRateLimited":  # not before the Retry-After Slack asked
                delay = max(delay, exc.delay)
            self._later(delay, lambda: self._second_copy(question_id, mine, kept, attempt + 1))
        except AutonomicError as exc:
            log.warning("could not rewrite the second copy %s of question %s: %s", mine,
                        short_id(question_id), exc)  # fmt: skip

    def _escalated_when_asked(self, question: Question) -> bool:
        """Whether the question was escalated in the ledger when the chat did not take it
        (``FallbackChannel.ask``): its decision has an escalation since it was asked,
        which an open question's decision has for no other reason."""
        return any(
            row["kind"] == "escalation" and float(row["created_at"]) >= question.asked_at
            for row in self.ledger.feedback_for(question.decision_id)
        )

    def _late_note(
        self, asked: Question, shown: Question, escalated: bool, now: float, landed: float
    ) -> str:
        """The thread line of a question posted late: how late, why, until when.
        ``landed``: when the post was written down (``shown`` is the question then)."""
        name = self.channel.name
        waited = span(max(0.0, now - asked.asked_at))
        if shown.status != "pending":  # answered (or closed) while it was being posted
            until = f"It was {shown.status} while it was being posted"
        elif shown.expires_at <= landed:  # its first expiry came during the post
            until = f"It expired at {to_utc_text(shown.expires_at)}, while it was being posted"
        else:
            until = (
                f"It is open until {to_utc_text(shown.expires_at)}, "
                f"{span(max(0.0, shown.expires_at - now))} from now, its whole answer time "
                "counted from this post"
            )
        if not escalated:
            return (
                f"posted {waited} after it was asked: it was waiting its turn to be posted "
                f"({name} takes about one message a second per channel) when the replica "
                f"that asked it restarted or stopped leading. {until}"
            )
        # Not "refused": a post Slack carried out but did not answer in time
        # (SlackNoAnswer) is not known to have landed, and may be above.
        return (
            f"posted {waited} late: {name} did not take it when it was asked, so it was "
            "escalated in Autonomic's ledger then (answerable with 'autonomic approvals' "
            f"meanwhile). {until}. If {name} did not answer then (rather than refuse it), "
            "an earlier copy of this question may be above: either's buttons answer the same "
            "question, once"
        )

    def _post_queued(self, question_id: str, late: bool) -> float | None:
        """The poster thread's step: None when done with the question, else the seconds
        to wait before trying it again. Not the leader any more: dropped, unposted."""
        if not self.may_post():
            log.info("question %s not posted here: this replica no longer leads", question_id)
            return None
        try:
            got = self._post_waiting(question_id, late=late)
        except AutonomicError as exc:
            log.info("question %s still cannot be posted: %s", question_id, exc)
            self._repost_after = self.clock() + REPOST_RETRY
            return None
        return got if isinstance(got, float) else None

    # ------------------------------------------------------- automatic actions
    def report(self, decision_id: str, why: str, now: float) -> str:
        """Report an action taken without asking, and remember where, so its progress
        can follow in the same thread (``progress_for``). A chat outage is logged, never
        raised: the action does not wait for the chat."""
        try:
            ref = self.channel.report(self._decision(decision_id), why)
        except AutonomicError as exc:
            log.warning("could not report decision %s: %s", decision_id, exc)
            return ""
        self.ledger.add_feedback(
            decision_id, "report", "reported", "autonomic", now, {"ref": ref, "why": why}
        )
        return ref

    def progress_for(
        self, decision_id: str, text: str, *, final: bool = False, offer_undo: bool = False
    ) -> bool:
        """Progress of a decision wherever people saw it: in its question's thread (a
        ``final`` word also rewrites the question's message), else under its report.
        False when the decision was neither asked nor reported. ``offer_undo``: the line
        comes with an Undo button where the chat has one (``autonomic undo`` from
        Slack); where it cannot be posted so, the plain line is."""
        questions = self.ledger.questions_for([decision_id])
        if questions:
            question = questions[-1]
            ref = question.message_ref or ""
            if not (offer_undo and self._offer_undo(ref, decision_id, text)):
                self.channel.thread(question, text)
            if final:
                self.channel.update(self._decision(decision_id), question, text)
            return True
        for row in reversed(self.ledger.feedback_for(decision_id)):
            reported = (row.get("detail") or {}).get("ref")
            if row["kind"] == "report" and isinstance(reported, str) and reported:
                if not (offer_undo and self._offer_undo(reported, decision_id, text)):
                    self.channel.note(reported, text)
                return True
        return False

    def _offer_undo(self, ref: str, decision_id: str, text: str) -> bool:
        """Post ``text`` with an Undo button under ``ref``; False where it cannot be."""
        offer = getattr(self.channel, "offer_undo", None)
        if offer is None or not _in_chat(ref):
            return False
        try:
            offer(ref, self._decision(decision_id), text)
        except AutonomicError as exc:
            log.warning("could not offer an Undo button for %s: %s", decision_id, exc)
            return False
        return True

    def rewrite(self, ref: str, text: str) -> None:
        """Rewrite a chat message of ours (an Undo button's, with how the undo ended); a
        chat failure is logged: the ledger holds the outcome."""
        rewrite = getattr(self.channel, "rewrite", None)
        if rewrite is None or not _in_chat(ref):
            return
        try:
            rewrite(ref, text)
        except AutonomicError as exc:
            log.warning("could not rewrite %s: %s", ref, exc)

    # ------------------------------------------------------- after the answer
    def progress(self, question_id: str, text: str) -> None:
        """A progress line in the question's thread (executing, verified, undone)."""
        self.channel.thread(self._question(question_id), text)

    def settle(self, question_id: str, note: str) -> None:
        """Rewrite the question's message with the final word (what happened next)."""
        question = self._question(question_id)
        self.channel.update(self._decision(question.decision_id), question, note)

    def restate(self, question: Question, note: str | None = None, *, paced: bool = False) -> None:
        """Rewrite the question's message after an answer another process recorded (the
        CLI has no chat client, a process died before its rewrite): who answered, when,
        and ``note``, by default what happens next. ``paced``: one of many that may well
        be shown already (a start's, ``DecisionService``): they go out one per
        ``restate_interval``, each queued behind what the worker has then, so that they
        neither use up Slack's chat.update rate nor hold the worker from new answers."""
        said = note if note is not None else NEXT_STEP.get(question.status)
        if said is None:
            return
        task: Callable[[], None] = lambda: self._rewrite(question, said, quiet=paced)  # noqa: E731
        if note is None and question.status == "approved":
            # "Executing next" is read again once the worker gets to it: the action may
            # have ended meanwhile, its final word written at once on the cycle's thread,
            # which this rewrite, queued before it and run after, would overwrite.
            task = lambda: self._restate_approval(question, said, paced)  # noqa: E731
        if not paced:
            self.dispatcher.submit(task)
            return
        with self._paced_lock:
            self._paced.append((question.id, task))
            if self._pacing:
                return
            self._pacing = True
        self.dispatcher.submit(self._next_paced)

    def _next_paced(self) -> None:
        """Run the next paced restatement, and the one after ``restate_interval`` later."""
        with self._paced_lock:
            if not self._paced:
                self._pacing = False
                return
            _, task = self._paced.popleft()
        try:
            task()
        finally:
            self._later(self.restate_interval, self._next_paced)

    def drop_paced(self) -> list[str]:
        """Forget the paced restatements not sent yet, and return their questions' ids:
        this replica no longer leads, and the new leader's first sync makes the same
        ones. Sent on, they went out beside the new leader's, the two together past
        Slack's rate of chat.update."""
        with self._paced_lock:
            dropped = [question_id for question_id, _ in self._paced]
            self._paced.clear()
        return dropped

    def _restate_approval(self, question: Question, note: str, quiet: bool) -> None:
        decision = self._decision(question.decision_id)
        if decision.status not in RUNNING:
            log.info(
                "question %s: not rewritten with its approval, its action already ended (%s)",
                short_id(question.id),
                decision.status,
            )
            return
        self._rewrite(question, note, decision=decision, quiet=quiet)

    def escalate(self, decision_id: str, why: str, now: float) -> str:
        """Hand a decision to the on-call: posted in the chat, and kept in the ledger as
        an ``escalation`` row naming the message, so that ``autonomic explain``, ``autonomic
        approvals list`` and ``GET /approvals`` show it as they do without a chat (the
        ledger-only channel writes that row itself, also when it stands in for a chat
        that failed)."""
        ref = self.channel.escalate(self._decision(decision_id), why)
        if _in_chat(ref):
            told = self._escalation(decision_id, why, ref)
            self.ledger.add_feedback(
                decision_id, told.kind, told.outcome, told.actor, now, told.detail
            )
        return ref

    def announce(self, text: str) -> None:
        """A word to the channel's room that is about no decision (a pause, a resume)."""
        _announce(self.channel, text)

    def _escalation(self, decision_id: str, why: str, ref: str) -> Feedback:
        return Feedback(
            decision_id,
            "escalation",
            "escalated",
            "autonomic",
            {"why": why, "channel": self.channel.name, "ref": ref},
        )

    def close(self) -> None:
        with self._timers_lock:
            self._closed = True
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()
        self.poster.stop()
        self.dispatcher.stop()

    def _rewrite(
        self,
        question: Question,
        note: str,
        attempt: int = 1,
        decision: DecisionRecord | None = None,
        quiet: bool = False,
    ) -> None:
        """Rewrite the question's message with ``note``. A settled question's (rejected,
        expired, superseded: nothing rewrites it later) that the chat does not take for
        now (a ``TransientError``: Slack's 5xx, a 429, Slack away) is tried again
        ``rewrite_retry`` seconds later, doubling, up to ``REWRITE_ATTEMPTS`` tries, on
        the worker; before, it kept its buttons for good. Other failures, and the last
        try's, are logged (``FallbackChannel``): the ledger holds the answer. ``quiet``:
        a rewrite likely made already (``restate(paced=True)``), which a message Slack
        refuses to rewrite (deleted, too old) only logs: the first one said so in the
        chat."""
        decision = decision or self._decision(question.decision_id)
        channel = self.channel
        if quiet:
            target = channel.primary if isinstance(channel, FallbackChannel) else channel
            rewrite_only = getattr(target, "rewrite_only", None)
            if rewrite_only is not None:
                try:
                    rewrite_only(decision, question, note)
                except PermanentError as exc:
                    log.info("question %s: its message not rewritten again: %s", question.id, exc)
                except TransientError as exc:
                    if attempt >= REWRITE_ATTEMPTS:
                        log.info(
                            "question %s: its message not rewritten again: %s", question.id, exc
                        )
                        return
                    delay = self.rewrite_retry * 2.0 ** (attempt - 1)
                    if exc.reason == "SlackRateLimited":
                        delay = max(delay, exc.delay)
                    self._later(
                        delay, lambda: self._rewrite(question, note, attempt + 1, decision, True)
                    )
                return
        if not isinstance(channel, FallbackChannel) or question.status not in SETTLED:
            channel.update(decision, question, note)
            return
        try:
            channel.primary.update(decision, question, note)
        except TransientError as exc:
            if attempt >= REWRITE_ATTEMPTS:
                log.warning(
                    "could not update question %s in %s after %d tries: %s; its message "
                    "keeps its buttons, and a click on them is told the question is %s",
                    question.id,
                    channel.name,
                    attempt,
                    exc,
                    question.status,
                )
                channel.fallback.update(decision, question, note)
                return
            delay = self.rewrite_retry * 2.0 ** (attempt - 1)
            if exc.reason == "SlackRateLimited":  # not before the Retry-After Slack asked
                delay = max(delay, exc.delay)
            log.warning(
                "could not update question %s in %s: %s; trying again in %.0f s",
                question.id,
                channel.name,
                exc,
                delay,
            )
            self._later(delay, lambda: self._rewrite(question, note, attempt + 1, decision))
        except AutonomicError as exc:
            log.warning("could not update question %s in %s: %s", question.id, channel.name, exc)
            channel.fallback.update(decision, question, note)

    def _later(self, delay: float, task: Callable[[], None]) -> None:
        """Run ``task`` on the worker ``delay`` seconds from now, unless closed first."""

        def due() -> None:
            with self._timers_lock:
                self._timers.discard(timer)
                if self._closed:
                    return
            self.dispatcher.submit(task)

        timer = threading.Timer(delay, due)
        timer.daemon = True
        with self._timers_lock:
            if self._closed:
                return
            self._timers.add(timer)
        timer.start()

    # -------------------------------------------------------------- helpers
    def unfollowed(self, question_id: str) -> bool:
        """Whether this process set off nothing for the question's answer or expiry:
        recorded elsewhere (a process that died, another replica, the CLI)."""
        return question_id not in self._followed

    def followed_up(self, question_id: str) -> None:
        """The question's answer is applied to its decision: forget it (``unfollowed``)."""
        self._followed.discard(question_id)

    def _follow_up(self, question: Question, answer: str, actor: str) -> None:
        if answer != "snoozed":
            self._followed.add(question.id)
        note = NEXT_STEP[answer]
        self.dispatcher.submit(lambda: self._rewrite(question, note))
        if answer != "snoozed":
            self._notify(question.id, answer, actor)

    def _notify(self, question_id: str, answer: str, actor: str) -> None:
        hook = self.on_answer
        if hook is not None:
            self.dispatcher.submit(lambda: hook(question_id, answer, actor))

    def _decision(self, decision_id: str) -> DecisionRecord:
        decision = self.ledger.get_decision(decision_id)
        if decision is None:
            raise KeyError(f"decision {decision_id} is not in the ledger")
        return decision

    def _question(self, question_id: str) -> Question:
        question = self.ledger.question(question_id)
        if question is None:
            raise KeyError(f"question {question_id} is not in the ledger")
        return question


def _in_chat(ref: str) -> bool:
    """Whether an escalation went to the chat (else the ledger-only channel recorded it)."""
    return bool(ref) and not ref.startswith(LEDGER_REF)


def _closed(question: Question, now: float) -> AnswerOutcome | None:
    """Why a question can no longer be answered, or None if it still can."""
    if question.status == "expired" or (
        question.status == "pending" and question.expires_at <= now
    ):
        return AnswerOutcome(
            False, "Expired", "this question expired; it was counted as a no", question
        )
    if question.status == "superseded":
        return AnswerOutcome(
            False,
            "Superseded",
            "this question is already settled, without an answer: "
            f"{question.answer_reason or 'no longer needed'}; nothing was done on it",
            question,
        )
    if question.status != "pending":
        by = question.answered_by or "someone"
        return AnswerOutcome(
            False,
            "AlreadyAnswered",
            f"this question was already {question.status} by {by}",
            question,
        )
    return None
