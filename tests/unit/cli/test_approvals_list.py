"""`autonomic approvals list` reads as the other listings do: 12-character ids, times in
UTC, `--since` (the escalations' window; `all` for every one) with the "newest is older"
line on an old ledger, `--limit`, and `--json` with the keys `GET /approvals` uses."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from agent.cli import main
from agent.clock import FakeClock
from agent.daemon import _pending
from agent.decisions import Proposal
from agent.ledger import Ledger, open_ledger
from agent.settings import RoutingSettings
from tests.unit.decision_rig import inline_service

DAY = 86400.0


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("AUTONOMIC__")]:
        monkeypatch.delenv(name)


def _proposal(subject: str, signal: float) -> Proposal:
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


def _ledger(tmp_path: Path, start: float) -> tuple[str, FakeClock, Ledger]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    clock = FakeClock(start)
    ledger = open_ledger(url, start - 60)
    return url, clock, ledger


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["approvals", "list", *argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def test_ids_are_12_characters_and_an_escalation_says_its_utc_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, clock, ledger = _ledger(tmp_path, time.time() - 600)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.95, ask=0.6))
    escalated = decisions.decide(_proposal("Pod/shop/web-1", 0.2))
    asked = decisions.decide(_proposal("Pod/shop/web-2", 1.0))
    assert asked.question_id and escalated.route == "escalate"
    ledger.close()

    code, out, _ = _run(capsys, "--ledger", url)
    assert code == 0
    escalations, questions = out.split("\n\n", 1)
    assert escalations.splitlines()[0] == "escalated in the last 24 h (nothing was done):"
    line = escalations.splitlines()[1]
    # the id as history and why show it, the moment in UTC, and the age kept
    assert line.startswith(f"  {escalated.decision_id[:12]}  {_utc(clock.now())} (")
    assert " ago)  Pod/shop/web-1: " in line
    head, row = questions.splitlines()[:2]
    assert head.split()[:3] == ["question", "decision", "status"]
    assert row.split()[:3] == [asked.question_id[:12], asked.decision_id[:12], "pending"]


def test_json_lists_questions_and_escalations_with_the_endpoints_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, clock, ledger = _ledger(tmp_path, time.time() - 600)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.95, ask=0.6))
    escalated = decisions.decide(_proposal("Pod/shop/web-1", 0.2))
    asked = decisions.decide(_proposal("Pod/shop/web-2", 1.0))
    answered = decisions.decide(_proposal("Pod/shop/web-3", 1.0))
    assert answered.question_id and decisions.answer(answered.question_id, "rejected", "bob", "no")
    served = json.loads(_pending(ledger, time.time()).body)
    ledger.close()

    code, out, err = _run(capsys, "--json", "--ledger", url)
    assert code == 0 and err == ""
    body = json.loads(out)
    assert set(body) == {"pending", "answered", "escalations"}
    assert body["answered"] == []  # only with --all
    # the same things under the same keys as GET /approvals, values and all
    assert body["pending"] == served["pending"]
    assert body["escalations"] == served["escalations"]
    [pending] = body["pending"]
    assert pending["question"] == asked.question_id
    assert pending["decision"] == asked.decision_id
    assert pending["status"] == "pending" and pending["overdue"] is False
    assert pending["subject"] == "Pod/shop/web-2" and pending["decision_status"] == "asked"
    assert pending["expires_at"] > pending["asked_at"]
    assert pending["answered_by"] is None
    [shown] = body["escalations"]
    assert shown["decision"] == escalated.decision_id and shown["status"] == "escalated"

    code, out, _ = _run(capsys, "--json", "--all", "--ledger", url)
    [rejected] = json.loads(out)["answered"]
    assert rejected["question"] == answered.question_id and rejected["status"] == "rejected"
    assert (rejected["answered_by"], rejected["answer_reason"]) == ("bob", "no")
    assert rejected["answered_at"] is not None


def test_an_old_ledger_names_its_newest_escalation_and_since_all_lists_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    at = time.time() - 730 * DAY  # a trace's clock, as `simulate --ledger` writes
    url, clock, ledger = _ledger(tmp_path, at)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.95, ask=0.6))
    escalated = decisions.decide(_proposal("Pod/shop/web-1", 0.2))
    ledger.close()

    code, out, _ = _run(capsys, "--ledger", url)
    assert code == 0
    assert out.splitlines()[0] == (
        f"The newest escalation is older: {_utc(at)} (730 days ago); --since all lists it."
    )
    assert out.splitlines()[-1] == "no pending questions"
    code, out, _ = _run(capsys, "--since", "all", "--ledger", url)
    assert code == 0
    assert out.splitlines()[0] == "escalated in the ledger (nothing was done):"
    assert out.splitlines()[1].startswith(f"  {escalated.decision_id[:12]}  {_utc(at)} (")
    # --json keeps its object on stdout; the hint goes to stderr
    code, out, err = _run(capsys, "--json", "--ledger", url)
    assert code == 0 and json.loads(out)["escalations"] == []
    assert "--since all lists it" in err
    _, out, _ = _run(capsys, "--json", "--since", "ALL", "--ledger", url)
    assert [e["decision"] for e in json.loads(out)["escalations"]] == [escalated.decision_id]


def test_limit_lists_the_newest_and_says_how_many_are_not_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, clock, ledger = _ledger(tmp_path, time.time() - 600)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.95, ask=0.6))
    asked = []
    for n in range(3):
        asked.append(decisions.decide(_proposal(f"Pod/shop/web-{n}", 1.0)))
        clock.advance(10)
    ledger.close()

    code, out, _ = _run(capsys, "--limit", "2", "--ledger", url)
    assert code == 0
    assert "Pod/shop/web-0" not in out  # the oldest
    assert "Pod/shop/web-1" in out and "Pod/shop/web-2" in out
    assert out.index("Pod/shop/web-1") < out.index("Pod/shop/web-2")  # in the order asked
    assert "(1 older question not listed: raise --limit)" in out
    code, out, err = _run(capsys, "--json", "--limit", "2", "--ledger", url)
    assert [p["decision"] for p in json.loads(out)["pending"]] == [
        asked[1].decision_id,
        asked[2].decision_id,
    ]
    assert err == "1 older question not listed (--limit 2)\n"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (("--limit", "0"), "autonomic: error: --limit must be at least 1, got 0"),
        (("--since", "400d"), "autonomic: error: --since: a duration must be at most 366d"),
        (("--since", "-5m"), "autonomic: error: --since: "),
    ],
)
def test_bad_limit_and_since_are_refused_as_history_refuses_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], said: str
) -> None:
    url, _, ledger = _ledger(tmp_path, time.time())
    ledger.close()
    code, out, err = _run(capsys, *argv, "--ledger", url)
    assert code == 2 and out == ""
    assert err.startswith(said)
    code, _, history = (main(["history", *argv, "--ledger", url]), *capsys.readouterr())
    assert code == 2 and history.splitlines()[0] == err.splitlines()[0]


def test_a_pending_question_shows_its_targets_kubernetes_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataclasses import replace

    from remediation.events import fold_events, unread_events
    from remediation.ports import ObjectEvent

    url, clock, ledger = _ledger(tmp_path, time.time() - 600)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.95, ask=0.6))
    seen = fold_events([ObjectEvent("Pod/web-2", "Warning", "BackOff", "Back-off", 4, None)])
    read = decisions.decide(replace(_proposal("Pod/shop/web-2", 1.0), evidence={"events": seen}))
    unread = decisions.decide(
        replace(_proposal("Pod/shop/web-3", 1.0), evidence={"events": unread_events("403")})
    )
    served = json.loads(_pending(ledger, time.time()).body)
    ledger.close()

    by_decision = {p["decision"]: p["events"] for p in served["pending"]}
    assert by_decision == {
        read.decision_id: ["Warning BackOff ×4 on Pod/web-2: Back-off"],
        unread.decision_id: ["not readable: 403"],
    }
    code, out, _ = _run(capsys, "--ledger", url)
    assert code == 0
    assert "events: Warning BackOff ×4 on Pod/web-2: Back-off" in out
    assert "events: not readable: 403" in out
