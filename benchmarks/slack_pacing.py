"""A burst of questions to one Slack channel that takes one post a second.

    .venv/bin/python benchmarks/slack_pacing.py [QUESTIONS] [CYCLE_SECONDS]

One run: a fresh SQLite ledger; the Slack stand-in (``tests.fakeslack``) taking one
``chat.postMessage`` a second per channel, a faster one answered 429 with the
``Retry-After`` left (``limit_posts``), as Slack does; the approvals service built as the
daemon builds it (real sleeps, the default retry policy). QUESTIONS decisions (20) are
asked one after another, as one remediation cycle asks them; then, as the leader's
cycle does every CYCLE_SECONDS (30), the questions still unposted are posted
(``repost_unposted``). Printed: how long the asking held the cycle, the
``chat.postMessage`` calls made and the 429s among them, the time until every question
had its Slack message, the messages in the channel, and the escalations recorded.

Measured on the 2-core machine (branch slack34), 20 questions, cycle 30 s:

    main at 5a10132 (no pacing: each 429 waited out in place):
      asking held the cycle 19.3 s; 39 calls, 19 of them 429; all 20 posted
      after 19.3 s; 20 messages; 0 escalations
    paced (a question not its channel's turn waits in the ledger; a poster thread posts
    it at its turn, 1.1 s apart), three runs alike:
      asking held the cycle 0.0 s; 20 calls, 0 of them 429; all 20 posted after
      21.0 s; 20 messages; 0 escalations
    (at 1.0 s apart: 37-38 calls, 17-18 of them 429, all posted after 20.2-20.4 s: a
    request that reaches the stand-in a little sooner than the one before it is too
    soon, hence the tenth of a second over)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the stand-ins in tests/

from agent.adapters.slack import build_approvals
from agent.ledger import Ledger, open_ledger
from tests.fakeslack import start_fake_slack
from tests.integration.slack.conftest import (
    APP_TOKEN,
    ENVIRON,
    SNOOZE,
    TOKEN,
    make_decision,
    slack_settings,
)


def message_ref(ledger: Ledger, question_id: str) -> str | None:
    """The reference of an asked question's message; None until the message is posted."""
    question = ledger.question(question_id)
    if question is None:
        raise RuntimeError(f"question {question_id} was asked but is not in the ledger")
    return question.message_ref


def run(questions: int = 20, cycle: float = 30.0, limit: float = 180.0) -> dict[str, float]:
    slack = start_fake_slack(token=TOKEN, app_token=APP_TOKEN, groups={"S0ONCALL": ["U0BOB"]})
    slack.limit_posts(1.0)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = open_ledger(f"sqlite:///{Path(tmp) / 'ledger.sqlite'}", time.time())
        approvals, receiver = build_approvals(
            slack_settings(slack.url + "/api/"), ENVIRON, ledger, snooze=SNOOZE
        )
        try:
            decisions = [
                ledger.record_decision(
                    make_decision(subject=f"Deployment/shop/web-{i}"), time.time()
                )
                for i in range(questions)
            ]
            start = time.monotonic()
            asked = [approvals.ask(d, time.time()) for d in decisions]
            held = time.monotonic() - start
            next_cycle = start + cycle
            done = None
            while time.monotonic() - start < limit:
                refs = [message_ref(ledger, a.question_id) for a in asked]
                if all(refs):
                    done = time.monotonic() - start
                    break
                if time.monotonic() >= next_cycle:
                    approvals.repost_unposted(time.time())
                    next_cycle += cycle
                time.sleep(0.05)
            posts = slack.calls_to("chat.postMessage")
            escalations = sum(
                row["kind"] == "escalation" for d in decisions for row in ledger.feedback_for(d)
            )
            return {
                "held": held,
                "calls": len(posts),
                "rate_limited": sum(c.status == 429 for c in posts),
                "all_posted": -1.0 if done is None else done,
                "messages": len(slack.top_level()),
                "escalations": escalations,
            }
        finally:
            if receiver is not None:
                receiver.close()
            approvals.close()
            ledger.close()
            slack.stop()


def parse(argv: list[str]) -> tuple[int, float]:
    """QUESTIONS (1 to 500) and CYCLE_SECONDS (1 to 600) from the command line; a
    ``ValueError`` naming the bad one."""
    if len(argv) > 2:
        raise ValueError(f"at most two arguments, QUESTIONS and CYCLE_SECONDS, not {argv!r}")
    try:
        questions = int(argv[0]) if argv else 20
    except ValueError:
        raise ValueError(f"QUESTIONS must be a whole number, not {argv[0]!r}") from None
    try:
        cycle = float(argv[1]) if len(argv) > 1 else 30.0
    except ValueError:
        raise ValueError(f"CYCLE_SECONDS must be a number, not {argv[1]!r}") from None
    if not 1 <= questions <= 500:
        raise ValueError(f"QUESTIONS must be from 1 to 500, not {argv[0]!r}")
    if not 1.0 <= cycle <= 600.0:  # also refuses nan
        raise ValueError(f"CYCLE_SECONDS must be from 1 to 600, not {argv[1]!r}")
    return questions, cycle


def main(argv: list[str]) -> int:
    try:
        questions, cycle = parse(argv)
    except ValueError as exc:
        print(f"slack_pacing.py: {exc}", file=sys.stderr)
        return 2
    got = run(questions, cycle)
    posted = (
        f"all {questions} posted after {got['all_posted']:.1f} s"
        if got["all_posted"] >= 0
        else "not all posted within the run"
    )
    print(
        f"{questions} questions, cycle {cycle:g} s: asking held the cycle {got['held']:.1f} s; "
        f"{got['calls']:.0f} calls, {got['rate_limited']:.0f} of them 429; {posted}; "
        f"{got['messages']:.0f} messages; {got['escalations']:.0f} escalations"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
