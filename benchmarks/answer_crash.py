"""Crash safety of the answer path: a Slack click, SIGKILLs around it, a restart, invariants.

    .venv/bin/python benchmarks/answer_crash.py --runs 30
    .venv/bin/python benchmarks/answer_crash.py --runs 5 --scenario late --hook after-expire

A companion to ``crash_harness.py`` (the remediation engine) and ``scaling_crash.py``
(the scaling loop), for what neither covers: a person's answer. One run: the fake API
server and the Slack stand-in (``tests.fakeslack``) live in this (the parent) process,
with a controller thread playing the Deployment controller; web (shop) crash-loops
since its last rollout. A forked child runs the real code: the remediation engine routed
to ask (every proposal is a question), ``build_approvals`` over the Slack stand-in, and
the Slack receiver mounted on the daemon's own ``HttpServer`` at ``/slack/interactions``
as ``agent.daemon`` mounts it; a SQLite ledger file and a fake clock persisted to a file.
The parent is the person: it watches the stand-in for the question, and posts signed
``block_actions`` clicks to the child's endpoint, as Slack does.

What Slack does and does not do (``/work/shared/anchors/slack-alertmanager.md``): it
wants the click answered within 3 s, or it shows the clicker an error; it does not retry
an interaction (the Events API's ``X-Slack-Retry-Num`` retries are for events). So a
click that got no 200 is clicked again by the person (a new ``action_ts``); a click that
got its 200 is never sent again by Slack. The identical request delivered again after a
restart (same body, same signature) is also tried, as a proxy's retry or a replay inside
the 5-minute window would send it: it must change nothing.

Scenarios, in turn: ``approve`` (one click), ``double`` (a second person clicks approve
or reject just after the first), ``reject``, and ``late`` (nobody answers until the
question has expired and been escalated; then someone clicks Approve). A question asked
again later (the incident goes on) is rejected by the person.

The parent SIGKILLs the child at random delays, just after a click got its 200 (the
acknowledged-and-not-yet-recorded window), or arms a hook point where the child kills
itself: before or after the answer's compare-and-set in the ledger, before or after the
decision takes the answer (``handle_answer``), before or after the question's message is
rewritten in Slack, after an expiry is written, before or after the cluster write, at
the start of a cycle. Hooks wrap methods of the child's objects (as in the other two
harnesses): nothing in the production code knows about them. A fresh child goes on from
the ledger, until one runs until everything is settled.

Checked after every run, from the ledger, the fake API server's request log and the
Slack stand-in's record:

- a click is answered within Slack's 3 s (a 200 after that is an error to Slack);
- a click answered 200 is never lost: its answer is in the ledger (an ``answer`` or, for
  a question expired first, a ``late-answer`` row with its click id), or its clicker was
  told in a reply only they see (answered already, expired, ...); an approval recorded is
  acted on: its decision ends carried out (never left asked or approved);
- nothing twice: at most one answer per question, no more writes to the Deployment than
  intents recorded for it;
- an expired question is never executed: no intent of its decision;
- the question's Slack message ends showing the ledger's final state: no buttons once
  answered or expired, the heading of its state, and once an approved decision has ended
  not still "Executing next".

Prints a markdown table; exits 1 on any violation.

Measured on the shared 2-core machine (seed 20261125, ``--runs 30``, about 5-7 min):
main at 142ff0b, 38 SIGKILLs, 38 clicks answered 200: 11 violations (4 clicks answered
200 and lost, the question then expiring as unanswered; 3 rejected questions whose
message kept its buttons; 1 verified action whose message still said "Executing next").
Branch crash43: 37 SIGKILLs, 38 clicks answered 200, 13 identical redeliveries: 0
violations. ``--scenario late --hook after-expire``: main 3 of 3 runs leave the expired
question's message with its buttons; crash43 0 of 5. Branch review43f (the 3 s check
added; the Socket Mode pool, paced and quiet restatements, final words kept), ``--runs
10``: 21 processes, 11 SIGKILLs, 13 clicks answered 200 (all within 3 s), 0 violations,
50 s (126 s with a test suite running beside it).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCENARIOS = ("approve", "double", "reject", "late")
HOOKS = (
    "before-record",  # the click is acknowledged; the compare-and-set not written
    "after-record",  # the answer is in the ledger; nothing it sets off has run
    "before-apply",  # the decision has not taken the answer (handle_answer)
    "after-apply",
    "before-rewrite",  # the question's message not rewritten yet
    "after-rewrite",
    "after-expire",  # the expiry is written; not applied to the decision, not shown
    "before-write",  # the cluster write (the rollback) not sent
    "after-write",
    "before-cycle",
)
HOOKS_FOR = {
    "approve": tuple(h for h in HOOKS if h != "after-expire"),
    "double": tuple(h for h in HOOKS if h != "after-expire"),
    "reject": (
        "before-record",
        "after-record",
        "before-apply",
        "after-apply",
        "before-rewrite",
        "after-rewrite",
        "before-cycle",
    ),
    "late": ("after-expire", "before-rewrite", "after-rewrite", "before-cycle"),
}
CYCLE = 30.0  # fake seconds per engine cycle
PAUSE = 0.05  # real seconds between cycles: the person's clicks come in between
TTL = 600.0  # the question's time to live (fake seconds): 20 cycles
START = 1_794_996_000.0
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-1111-2222-s3cr3tbottoken"
CHANNEL = "C0OPS"
ENVIRON = {"SLACK_BOT": TOKEN, "SLACK_SIGNING": SECRET}
PEOPLE = tuple(f"U0P{i:03d}" for i in range(200))  # one fresh approver per click
OPEN = ("asked", "approved", "executing", "verifying")
SLACK_LIMIT = 3.0  # seconds Slack waits for a click's answer (the way there and back too)


# ------------------------------------------------------------------------------ child


def child(work: Path, kube_url: str, slack_url: str, hook: str | None, nth: int, ready: int) -> int:
    """One daemon-like process: recover, serve clicks, cycle until all is settled."""
    from agent.adapters.slack import MAX_BODY_BYTES, build_approvals
    from agent.adapters.slack import RetryPolicy as SlackRetry
    from agent.approvals import FallbackChannel
    from agent.server import HttpServer, Request, Response
    from agent.settings import RoutingSettings, SlackSettings
    from benchmarks.crash_harness import (
        Hooks,
        child_cluster,
        child_engine,
        child_ledger,
        resume_clock,
        save_clock,
    )

    hooks = Hooks(hook, nth)
    tick, wrap = hooks.tick, hooks.wrap

    clock = resume_clock(work, CYCLE, START)
    cluster = child_cluster(kube_url, clock)
    ledger = child_ledger(work, clock)
    settings = SlackSettings.model_validate(
        {
            "enabled": True,
            "botToken": {"env": "SLACK_BOT"},
            "signingSecret": {"env": "SLACK_SIGNING"},
            "channel": CHANNEL,
            "approvers": list(PEOPLE),
            "questionTTL": TTL,
            "replayWindow": 300,
            "baseURL": slack_url + "/api/",
        }
    )
    approvals, receiver = build_approvals(
        settings,
        ENVIRON,
        ledger,
        clock=clock.now,
        policy=SlackRetry(attempts=2, backoff=0.01, post_interval=0.0),
    )
    assert receiver is not None
    built = child_engine(
        ledger,
        cluster,
        clock,
        approvals=approvals,
        routing=RoutingSettings(auto=1.0, ask=0.0),  # every proposal is a question
        owner="answer-crash",
        query=lambda query: 0.2 if "duration_seconds" in query else None,
    )
    decisions, engine = built.decisions, built.engine
    assert isinstance(approvals.channel, FallbackChannel)
    wrap(ledger, "answer", "before-record", "after-record")
    wrap(decisions, "handle_answer", "before-apply", "after-apply")
    wrap(approvals.channel.primary, "update", "before-rewrite", "after-rewrite")
    wrap(ledger, "expire_question", None, "after-expire")
    wrap(cluster, "apply", "before-write", "after-write")
    # The endpoint as agent.daemon mounts it.
    server = HttpServer("127.0.0.1", 0)

    def slack(request: Request) -> Response:
        status, body = receiver.handle_interaction(request.body, request.headers, clock.now())
        return Response(status, body, "text/plain; charset=utf-8")

    def slack_headers(headers: Any) -> Response | None:
        refused = receiver.check_headers(headers, clock.now())
        return None if refused is None else Response(refused[0], refused[1], "text/plain")

    server.route(
        "POST",
        "/slack/interactions",
        slack,
        max_body_bytes=MAX_BODY_BYTES,
        check_headers=slack_headers,
    )
    engine.recover()
    server.start()
    os.write(ready, f"{server.port}\n".encode())
    os.close(ready)
    quiet = 0
    for _ in range(400):
        tick("before-cycle")
        clock.advance(CYCLE)
        save_clock(work, clock)
        engine.cycle()
        time.sleep(PAUSE)
        receiver.drain(5.0)
        approvals.dispatcher.drain(5.0)
        quiet = quiet + 1 if (work / "done").exists() and _settled(ledger) else 0
        if quiet > 2:
            return 0
    return 3  # never settled: the parent reports it


def _settled(ledger: Any) -> bool:
    if ledger.questions("pending"):
        return False
    if any(d.status in OPEN for d in ledger.decisions(kind="remediation", limit=1000)):
        return False
    return not ledger.executions(["running", "verifying", "undone", "failed"])


# ----------------------------------------------------------------------------- parent


@dataclass
class Click:
    user: str
    question: str
    action: str  # approve | reject
    action_ts: float
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # None: no answer (the child died, refused the connection)
    redelivery: bool = False
    took: float = 0.0  # seconds until the answer (Slack gives 3)

    @property
    def click_id(self) -> str:
        return f"{self.user}@{float(f'{self.action_ts:.6f}')}"


@dataclass
class RunReport:
    scenario: str
    launches: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    clicks: int = 0
    acked: int = 0
    unanswered: int = 0  # clicks the person saw fail (no 200), clicked again
    redeliveries: int = 0
    redeliveries_acked: int = 0
    recorded: int = 0
    told: int = 0
    late_kept: int = 0
    questions: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    copies: int = 0  # a question posted twice (a crash between the post and its ref)
    writes: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _post(url: str, body: bytes, headers: dict[str, str]) -> int | None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code)
    except (OSError, ValueError):  # refused, reset, cut: Slack shows the clicker an error
        return None


def _questions(slack: Any) -> list[tuple[str, str, bool]]:
    """(question id, message ts, has buttons) of each question message, as posted."""
    out = []
    for message in slack.top_level():
        ids = [
            e.get("value")
            for b in message.blocks
            if b.get("type") == "actions"
            for e in b.get("elements", [])
            if e.get("action_id") == "autonomic_approve"
        ]
        if ids:
            out.append((str(ids[0]), message.ts, True))
            continue
        for b in message.blocks:  # answered: the context line still names the question
            text = json.dumps(b)
            if b.get("type") == "context" and "Question `" in text:
                question = text.split("Question `", 1)[1].split("`", 1)[0]
                out.append((question, message.ts, False))
    return out


def _fake_now(work: Path) -> float:
    clock_file = work / "clock"
    return float(clock_file.read_text()) if clock_file.exists() else START


class Person:
    """The people in the channel: click per the scenario, again after an error."""

    def __init__(self, scenario: str, rng: random.Random, slack: Any, work: Path) -> None:
        self.scenario, self.rng, self.slack, self.work = scenario, rng, slack, work
        self.clicks: list[Click] = []
        self.people = iter(PEOPLE)
        self.first: str | None = None  # the question of the scenario
        self.answered: dict[str, int] = Counter()  # question -> clicks answered 200
        self.wanted: dict[str, int] = {}  # question -> clicks that must get a 200
        self.since: dict[str, float] = {}

    def done(self) -> bool:
        return self.first is not None and all(self.answered[q] >= n for q, n in self.wanted.items())

    def step(self, url: str, on_ack: Any) -> None:
        for question, _ts, buttons in _questions(self.slack):
            if question not in self.wanted:
                if not buttons:
                    continue
                if self.first is None:
                    self.first = question
                    self.wanted[question] = 2 if self.scenario == "double" else 1
                else:  # asked again: the person says no
                    self.wanted[question] = 1
                self.since[question] = time.monotonic() + self.rng.uniform(0.0, 0.4)
            if self.answered[question] >= self.wanted[question]:
                continue
            if time.monotonic() < self.since[question]:
                continue
            late = self.scenario == "late" and question == self.first
            if late and not self._expired(question):
                continue
            action = "approve"
            if self.scenario == "reject" or question != self.first:
                action = "reject"
            elif self.answered[question] == 1:  # the second person of a double click
                action = self.rng.choice(("approve", "reject"))
            click = self._click(url, question, action)
            if click.status == 200:
                self.answered[question] += 1
                # The second of a double click follows at once (or nearly).
                self.since[question] = time.monotonic() + self.rng.uniform(0.0, 0.1)
                on_ack(click)
            else:
                self.since[question] = time.monotonic() + 0.2  # Slack's error: again

    def _expired(self, question: str) -> bool:
        from agent.ledger import open_ledger

        path = self.work / "ledger.sqlite"
        if not path.exists():
            return False
        ledger = open_ledger(f"sqlite:///{path}", START, migrate=False)
        try:
            found = ledger.question(question)
            return found is not None and found.status == "expired"
        finally:
            ledger.close()

    def _click(self, url: str, question: str, action: str) -> Click:
        from tests.fakeslack import block_actions_payload, signed_interaction

        now = _fake_now(self.work)
        click = Click(next(self.people), question, action, now + self.rng.uniform(0, 1))
        payload = block_actions_payload(
            question,
            action,
            user_id=click.user,
            channel_id=CHANNEL,
            message_ts=self._ts(question),
            action_ts=click.action_ts,
        )
        click.body, click.headers = signed_interaction(payload, SECRET, int(now))
        began = time.monotonic()
        click.status = _post(url, click.body, click.headers)
        click.took = time.monotonic() - began
        self.clicks.append(click)
        return click

    def _ts(self, question: str) -> str:
        for q, ts, _ in _questions(self.slack):
            if q == question:
                return ts
        return "0"

    def redeliver(self, url: str) -> None:
        """The last acknowledged request, sent again byte for byte."""
        acked = [c for c in self.clicks if c.status == 200 and not c.redelivery]
        if not acked:
            return
        last = acked[-1]
        again = Click(
            last.user,
            last.question,
            last.action,
            last.action_ts,
            last.body,
            last.headers,
            redelivery=True,
        )
        again.status = _post(url, last.body, last.headers)
        self.clicks.append(again)


def _launch(
    work: Path, kube_url: str, slack_url: str, hook: str | None, nth: int
) -> tuple[int, int]:
    """Fork a child; returns its pid and its endpoint's port (0: it died first)."""
    from benchmarks.crash_harness import fork_child

    pid, read = fork_child(functools.partial(child, work, kube_url, slack_url, hook, nth))
    data = b""
    while not data.endswith(b"\n"):
        got = os.read(read, 64)
        if not got:
            break
        data += got
    os.close(read)
    return pid, int(data) if data.endswith(b"\n") else 0


def _ledger_view(path: Path) -> dict[str, Any]:
    from agent.ledger import open_ledger

    ledger = open_ledger(f"sqlite:///{path}", START, migrate=False)
    try:
        decisions = ledger.decisions(kind="remediation", limit=1000)
        return {
            "intents": ledger.intents(),
            "decisions": {d.id: d for d in decisions},
            "questions": ledger.questions_for([d.id for d in decisions]),
            "feedback": {d.id: ledger.feedback_for(d.id) for d in decisions},
            "executions": ledger.executions(
                ["running", "verifying", "succeeded", "undone", "failed", "escalated"]
            ),
        }
    finally:
        ledger.close()


def _check(report: RunReport, person: Person, kube: Any, slack: Any, view: dict[str, Any]) -> None:
    from benchmarks.crash_harness import allowed_writes, excess_writes, object_writes

    bad = report.violations
    questions = {q.id: q for q in view["questions"]}
    rows = [row for rows in view["feedback"].values() for row in rows]
    by_click: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        click_id = (row.get("detail") or {}).get("click_id")
        if row["kind"] in ("answer", "late-answer") and click_id:
            by_click.setdefault(click_id, []).append(row)
    told = Counter(e["user"] for e in slack.ephemerals)
    for click in person.clicks:
        if click.redelivery or click.status != 200:
            continue
        if click.took > SLACK_LIMIT:  # Slack showed the clicker an error: not a 200 to them
            bad.append(f"click {click.click_id} answered 200 after {click.took:.1f} s")
        kept = by_click.get(click.click_id, [])
        if any(r["kind"] == "answer" for r in kept):
            report.recorded += 1
        elif kept:
            report.late_kept += 1
        elif told[click.user]:
            report.told += 1
        else:
            bad.append(f"click {click.click_id} ({click.action}) answered 200, then lost")
        if kept and told[click.user] and kept[0]["kind"] == "answer":
            bad.append(f"click {click.click_id} recorded and its clicker told otherwise")
    for question in questions.values():
        report.questions[question.status] += 1
        answers = [
            r
            for r in view["feedback"][question.decision_id]
            if r["kind"] == "answer"
            and r["outcome"] in ("approved", "rejected")
            and (r.get("detail") or {}).get("question_id") == question.id
        ]
        if len(answers) > 1:
            bad.append(f"question {question.id[:8]} answered {len(answers)} times")
        decision = view["decisions"][question.decision_id]
        intents = [i for i in view["intents"] if i.decision_id == decision.id]
        if question.status == "expired" and intents:
            bad.append(f"expired question {question.id[:8]}: {len(intents)} intents written")
        if question.status == "approved" and decision.status in ("asked", "approved"):
            bad.append(f"approved question {question.id[:8]}: decision left {decision.status}")
        _check_message(report, question, decision, slack)
    for decision in view["decisions"].values():
        report.decisions[decision.status] += 1
        if decision.status in OPEN:
            bad.append(f"decision {decision.id[:8]} left {decision.status}")
    bad += [f"intent {i.id} left pending" for i in view["intents"] if i.status == "pending"]
    writes = object_writes(kube.requests)
    report.writes = sum(writes.values())
    bad += excess_writes(writes, allowed_writes(view["intents"]))
    for execution in view["executions"]:
        if execution["status"] not in ("succeeded", "escalated"):
            bad.append(f"execution {execution['key']} left {execution['status']}")


def _check_message(report: RunReport, question: Any, decision: Any, slack: Any) -> None:
    from agent.adapters.slack import parse_ref
    from agent.approvals import NEXT_STEP

    bad = report.violations
    where = parse_ref(question.message_ref)
    copies = [m for m in slack.top_level() if question.id in json.dumps(m.blocks)]
    report.copies += max(len(copies) - 1, 0)
    if where is None:
        bad.append(f"question {question.id[:8]} ({question.status}) has no Slack message")
        return
    message = slack.message(*where)
    blocks = json.dumps(message.blocks)
    buttons = any(b.get("type") == "actions" for b in message.blocks)
    heading = {"approved": "Approved", "rejected": "Rejected", "expired": "Expired unanswered"}
    if question.status != "pending" and buttons:
        bad.append(f"question {question.id[:8]} {question.status}: its message keeps buttons")
    word = heading.get(question.status)
    if word is not None and f"{word}:" not in blocks:
        bad.append(f"question {question.id[:8]} {question.status}: its message does not say so")
    ended = decision.status not in OPEN
    if question.status == "approved" and ended and NEXT_STEP["approved"] in blocks:
        bad.append(
            f"question {question.id[:8]}: decision {decision.status}, its message still says "
            "it executes next"
        )


def run_one(
    index: int,
    rng: random.Random,
    max_kills: int,
    scenarios: tuple[str, ...] = SCENARIOS,
    only: str | None = None,
) -> RunReport:
    from agent.clock import FakeClock
    from benchmarks.crash_harness import _seed, exit_code, launches, start_controllers
    from tests.fakekube import start_fake_apiserver
    from tests.fakeslack import start_fake_slack

    scenario = scenarios[index % len(scenarios)]
    report = RunReport(scenario)
    began = time.monotonic()
    kube = start_fake_apiserver(quiet_errors=True)
    slack = start_fake_slack(token=TOKEN)
    clock = FakeClock(START)
    controller, targets = _seed("crashloop", kube, clock)
    stop_controllers = start_controllers(
        [functools.partial(controller.reconcile, namespace, name) for namespace, name in targets]
    )
    wanted = rng.randint(1, max_kills)
    kills = 0
    with tempfile.TemporaryDirectory(prefix="answer-crash-") as name:
        work = Path(name)
        person = Person(scenario, rng, slack, work)
        try:
            for _ in launches(report, max_kills):
                kill = kills < wanted
                mode = rng.choice(("hook", "hook", "ack", "delay")) if kill else None
                hook = rng.choice(HOOKS_FOR[scenario]) if mode == "hook" else None
                if only is not None:  # --hook: every kill there
                    mode, hook = ("hook", only) if kill else (None, None)
                nth = rng.randint(1, 6) if hook == "before-cycle" else 1
                pid, port = _launch(work, kube.url, slack.url, hook, nth)
                url = f"http://127.0.0.1:{port}/slack/interactions"
                if port and report.launches > 1 and rng.random() < 0.5:
                    person.redeliver(url)
                deadline = time.monotonic() + rng.uniform(0.0, 3.0) if mode == "delay" else None
                acked_kill: list[Click] = []

                def on_ack(
                    click: Click,
                    pid: int = pid,
                    mode: str | None = mode,
                    acked_kill: list[Click] = acked_kill,
                ) -> None:
                    if mode == "ack" and not acked_kill:
                        acked_kill.append(click)
                        time.sleep(rng.uniform(0.0, 0.02))
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)

                status = None
                while status is None:
                    done, raw = os.waitpid(pid, os.WNOHANG)
                    if done:
                        status = raw
                        break
                    if port:
                        person.step(url, on_ack)
                    if person.done():
                        (work / "done").touch()
                    if deadline is not None and time.monotonic() > deadline:
                        deadline = None
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    time.sleep(0.01)
                code = exit_code(status)
                if code == -signal.SIGKILL:
                    kills += 1
                    report.kills[hook or mode or "?"] += 1
                    continue
                if code != 0:
                    report.violations.append(f"child exited {code}")
                break
            view = _ledger_view(work / "ledger.sqlite")
            _check(report, person, kube, slack, view)
            report.clicks = sum(not c.redelivery for c in person.clicks)
            report.acked = sum(c.status == 200 and not c.redelivery for c in person.clicks)
            report.unanswered = sum(c.status != 200 and not c.redelivery for c in person.clicks)
            report.redeliveries = sum(c.redelivery for c in person.clicks)
            report.redeliveries_acked = sum(c.redelivery and c.status == 200 for c in person.clicks)
        finally:
            stop_controllers()
            kube.stop()
            slack.stop()
    report.seconds = time.monotonic() - began
    return report


def summarize(reports: list[RunReport]) -> str:
    from benchmarks.crash_harness import (
        hook_table,
        kill_figures,
        merged_of,
        scenario_table,
        statuses,
        total_of,
    )

    total = functools.partial(total_of, reports)
    merged = functools.partial(merged_of, reports)

    kills = merged("kills")
    lines = [
        *kill_figures(reports, kills, HOOKS, f"| - just after a click's 200 | {kills['ack']} |"),
        f"| clicks posted (not counting redeliveries) | {total('clicks')} |",
        f"| - answered 200 | {total('acked')} |",
        f"| - not answered 200 (the person clicked again) | {total('unanswered')} |",
        f"| identical requests delivered again after a restart (answered 200) | "
        f"{total('redeliveries')} ({total('redeliveries_acked')}) |",
        f"| acknowledged clicks recorded as answers | {total('recorded')} |",
        f"| acknowledged clicks kept as late answers (expired first) | {total('late_kept')} |",
        f"| acknowledged clicks told to their clicker instead | {total('told')} |",
        f"| questions by final status | {statuses(merged('questions'))} |",
        f"| decisions by final status | {statuses(merged('decisions'))} |",
        f"| questions posted twice (a crash between post and ref) | {total('copies')} |",
        f"| Deployment writes | {total('writes')} |",
        f"| invariant violations | {sum(len(r.violations) for r in reports)} |",
    ]
    lines += hook_table(kills, HOOKS)
    lines += scenario_table(reports, SCENARIOS, lambda r: sum(r.kills.values()))
    return "\n".join(lines)


def main() -> int:
    from benchmarks.crash_harness import crash_parser, print_results, run_all

    parser = crash_parser(__doc__, runs=30, seed=20261125, scenarios=SCENARIOS, hooks=HOOKS)
    args = parser.parse_args()
    # Imported once, before the forks.
    import tests.fakeslack
    import tests.integration.remediation.rig  # noqa: F401
    from agent import remediation_engine  # noqa: F401
    from agent.adapters import slack  # noqa: F401

    rng = random.Random(args.seed)
    began = time.monotonic()
    scenarios = (args.scenario,) if args.scenario else SCENARIOS
    reports = run_all(
        args.runs,
        lambda index: run_one(index, rng, args.max_kills, scenarios, args.hook),
        lambda report: (
            f" {report.scenario}: kills {dict(report.kills)}, "
            f"clicks {report.clicks} ({report.acked} answered 200), questions "
            f"{dict(report.questions)}, decisions {dict(report.decisions)}, violations "
            f"{report.violations[:3]} ({report.seconds:.1f}s)"
        ),
    )
    return print_results(summarize(reports), [v for r in reports for v in r.violations], began)


if __name__ == "__main__":
    sys.exit(main())
