"""Without Slack, escalations are seen where questions are: `GET /approvals` and
`autonomic approvals list` show the last day's, with why nothing was done."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from agent.approvals import ESCALATIONS_SHOWN
from agent.cli import main
from agent.clock import FakeClock
from agent.daemon import _pending
from agent.decisions import Proposal
from agent.ledger import open_ledger
from agent.settings import RoutingSettings
from tests.unit.decision_rig import inline_service


def proposal(subject: str, signal: float) -> Proposal:
    return Proposal(
        kind="remediation",
        decision_type="restart/Pod",
        subject=subject,
        proposal={"op": "delete_pod"},
        signal_confidence=signal,
        reason_code="PodStuck",
        reason="not ready for 15 minutes",
        evidence={},
        model_version="runbook restart@1",
    )


def test_the_last_days_escalations_are_listed_next_to_the_questions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0)
    clock = FakeClock(time.time() - 2 * ESCALATIONS_SHOWN)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.95, ask=0.6))
    old = decisions.decide(proposal("Pod/shop/old", 0.2))  # two days ago: not shown
    clock.advance(2 * ESCALATIONS_SHOWN - 600)
    recent = decisions.decide(proposal("Pod/shop/web-1", 0.2))
    asked = decisions.decide(proposal("Pod/shop/web-2", 1.0))
    assert (old.route, recent.route, asked.route) == ("escalate", "escalate", "ask")

    body = json.loads(_pending(ledger, clock.now()).body)
    assert [p["decision"] for p in body["pending"]] == [asked.decision_id]
    [shown] = body["escalations"]
    assert shown["decision"] == recent.decision_id and shown["subject"] == "Pod/shop/web-1"
    assert "below the ask threshold" in shown["why"] and shown["status"] == "escalated"
    ledger.close()

    assert main(["approvals", "list", "--ledger", url]) == 0
    out = capsys.readouterr().out
    escalated, questions = out.split("\n\n", 1)
    assert "escalated in the last 24 h" in escalated and "Pod/shop/web-1" in escalated
    assert "Pod/shop/old" not in out
    assert asked.decision_id[:8] in questions


def test_get_approvals_takes_limit_and_since_as_approvals_list_does(tmp_path: Path) -> None:
    """`?limit=N`: the newest N pending questions, still in the order asked, and N
    escalations at most, with what was left out said; `?since=`: the escalations' window,
    `all` for every one. A bad value is refused with 400 naming the parameter."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", 0)
    clock = FakeClock(time.time() - 2 * ESCALATIONS_SHOWN)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.95, ask=0.6))
    old = decisions.decide(proposal("Pod/shop/old", 0.2))  # two days ago
    clock.advance(2 * ESCALATIONS_SHOWN - 3600)
    hour_ago = decisions.decide(proposal("Pod/shop/web-1", 0.2))
    clock.advance(3000)
    asked = []
    for n in range(3):
        clock.advance(60)
        asked.append(decisions.decide(proposal(f"Pod/shop/q-{n}", 1.0)))
    recent = decisions.decide(proposal("Pod/shop/web-2", 0.2))
    now = clock.now()

    def get(**query: str) -> tuple[int, dict[str, Any]]:
        answer = _pending(ledger, now, {k: [v] for k, v in query.items()})
        return answer.status, json.loads(answer.body)

    status, body = get(limit="2")
    assert status == 200
    assert [p["decision"] for p in body["pending"]] == [a.decision_id for a in asked[1:]]
    assert body["older_pending"] == 1
    # the default window (24 h) holds two escalations, newest first: both listed
    shown = [e["decision"] for e in body["escalations"]]
    assert shown == [recent.decision_id, hour_ago.decision_id]
    assert body["more_escalations"] is False
    _, body = get(limit="1")
    assert [p["decision"] for p in body["pending"]] == [asked[2].decision_id]
    assert body["older_pending"] == 2
    assert [e["decision"] for e in body["escalations"]] == [recent.decision_id]
    assert body["more_escalations"] is True

    status, body = get(since="30m")
    assert status == 200 and body["older_pending"] == 0 and body["more_escalations"] is False
    assert [e["decision"] for e in body["escalations"]] == [recent.decision_id]
    assert len(body["pending"]) == 3
    _, body = get(since="all", limit="10")
    shown = [e["decision"] for e in body["escalations"]]
    assert shown == [recent.decision_id, hour_ago.decision_id, old.decision_id]
    _, body = get()  # as before: the last day's escalations
    assert {e["decision"] for e in body["escalations"]} == {
        recent.decision_id,
        hour_ago.decision_id,
    }

    for name, bad in (
        ("limit", "0"),
        ("limit", "ten"),
        ("limit", "-3"),
        ("limit", "1001"),
        ("since", "-5m"),
        ("since", "0s"),
        ("since", "soon"),
        ("since", ""),
    ):
        status, body = get(**{name: bad})
        assert status == 400, (name, bad)
        assert str(body["error"]).startswith(f"{name} must be "), body
    ledger.close()


def test_get_approvals_refuses_a_limit_of_digits_int_cannot_read(tmp_path: Path) -> None:
    """``str.isdigit`` holds for a superscript two and for 5,000 nines, which ``int``
    refuses (ValueError): the endpoint answered 500 and logged a traceback where a bad
    ``?limit=`` gets 400. A non-ASCII digit that ``int`` does read (Arabic-Indic twelve)
    is refused alike: a limit is written in ASCII digits."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", 0)
    try:
        for bad in ("\u00b2", "9" * 5000, "\u0661\u0662"):
            answer = _pending(ledger, time.time(), {"limit": [bad]})
            assert answer.status == 400, bad[:8]
            assert str(json.loads(answer.body)["error"]).startswith("limit must be ")
        assert _pending(ledger, time.time(), {"limit": ["0012"]}).status == 200
    finally:
        ledger.close()


def test_older_pending_is_never_negative_when_a_question_is_answered_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pending questions and their count are two reads: a question answered between
    them (by Slack, another replica) left ``older_pending`` at -1."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", 0)
    clock = FakeClock(time.time())
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.95, ask=0.6))
    for n in range(2):
        decisions.decide(proposal(f"Pod/shop/q-{n}", 1.0))
    read = ledger.questions

    def then_answered(*args: Any, **kwargs: Any) -> Any:
        found = read(*args, **kwargs)
        assert ledger.answer(found[0].id, "approved", "bob", clock.now())
        return found

    monkeypatch.setattr(ledger, "questions", then_answered)
    body = json.loads(_pending(ledger, clock.now(), {"limit": ["2"]}).body)
    assert len(body["pending"]) == 2 and body["older_pending"] == 0
    ledger.close()
