"""Finding a decision by the start of its id, as explain, feedback and undo take it."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest

from agent.cli import main
from agent.cli._context import one_decision
from agent.errors import InputError
from agent.ids import distinct_ids, short_id
from agent.ledger import Decision, open_ledger


def _decision(subject: str) -> Decision:
    return Decision(
        kind="remediation",
        decision_type="restart-stuck-pods/Pod",
        subject=subject,
        proposal={},
        confidence=0.9,
        reason_code="PodNotReady",
        reason="stuck",
        evidence={},
        model_version="restart-stuck-pods/1",
        route="ask",
    )


def test_a_prefix_finds_one_decision_and_says_when_it_finds_none_or_several(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0.0)
    first = ledger.record_decision(_decision("Pod/shop/web-1"), 10.0)
    # 17 ids in 16 hex digits: two of them start alike
    ids = [first] + [
        ledger.record_decision(_decision(f"Pod/shop/web-{n}"), 10.0 + n) for n in range(2, 18)
    ]
    shared = next(i[0] for i in ids if sum(j[0] == i[0] for j in ids) > 1)
    try:
        assert one_decision(ledger, first[:10]).subject == "Pod/shop/web-1"
        with pytest.raises(InputError, match="no decision id starts with 'zz'"):
            one_decision(ledger, "zz")
        with pytest.raises(InputError, match=f"'{shared}' is ambiguous: .*; give more of the id"):
            one_decision(ledger, shared)
    finally:
        ledger.close()
    # the same words from each command that takes an id
    for command in (["explain"], ["feedback", "--wrong"], ["undo"]):
        assert main([*command, "zz", "--ledger", url]) == 2
        assert "no decision id starts with 'zz'" in capsys.readouterr().err


def test_an_empty_id_is_said_to_be_missing_not_ambiguous(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty shell variable (`autonomic explain "$ID"`) matched every id and was
    refused as "'' is ambiguous", listing five ids."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0.0)
    for n in range(3):
        ledger.record_decision(_decision(f"Pod/shop/web-{n}"), 10.0 + n)
    ledger.close()
    for command in (["explain"], ["feedback", "--wrong"], ["undo"]):
        for given in ("", " "):
            assert main([*command, given, "--ledger", url]) == 2
            err = capsys.readouterr().err
            assert "no decision id given" in err and "ambiguous" not in err, err
    for command in (["approve"], ["reject"], ["approvals", "approve"]):
        assert main([*command, "", "--ledger", url]) == 2
        err = capsys.readouterr().err
        assert "no question or decision id given" in err, err


def test_a_question_id_where_a_decision_id_is_wanted_names_the_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`approvals list` shows question ids first; pasted into explain, feedback or undo,
    one was refused as "no decision id starts with", as if it were mistyped."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0.0)
    decision = ledger.record_decision(_decision("Pod/shop/web-1"), 10.0)
    question = ledger.ask(decision, "cli", 10.0, 3600.0)
    ledger.close()
    for command in (["explain"], ["feedback", "--wrong"], ["undo"]):
        assert main([*command, question[:12], "--ledger", url]) == 2
        err = capsys.readouterr().err
        assert f"'{question[:12]}' is a question's id, not a decision's" in err, err
        assert f"decision {decision[:12]}; give that id" in err, err
    # the decision's id, as told, works
    assert main(["explain", decision[:12], "--ledger", url]) == 0
    capsys.readouterr()


def test_approving_a_decision_that_was_never_asked_says_what_became_of_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing decision routed auto (no question) was refused by approve and reject
    as "no question or decision id starts with", as if its id did not exist."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0.0)
    auto = ledger.record_decision(
        dataclasses.replace(_decision("Pod/shop/web-2"), route="auto"), 10.0
    )
    status = ledger.get_decision(auto)
    ledger.close()
    assert status is not None
    for command in (["approve"], ["reject"], ["approvals", "approve"]):
        assert main([*command, auto[:10], "--ledger", url]) == 2
        err = capsys.readouterr().err
        assert f"decision {auto[:12]} (restart-stuck-pods/Pod on Pod/shop/web-2)" in err, err
        assert f"never a question: it was routed auto and is {status.status}" in err, err
        assert "starts with" not in err, err
    # an id that is nowhere is still said to be nowhere
    assert main(["approve", "zz", "--ledger", url]) == 2
    assert "no question or decision id starts with 'zz'" in capsys.readouterr().err


def test_an_ambiguous_prefix_to_approve_lists_ids_that_start_with_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A prefix of several decisions' ids listed their questions' ids, which start
    otherwise: the person could not see which id to give more of."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0.0)
    decisions = [
        ledger.record_decision(_decision(f"Pod/shop/web-{n}"), 10.0 + n) for n in range(17)
    ]
    for decision in decisions:
        ledger.ask(decision, "cli", 30.0, 3600.0)
    ledger.close()
    shared = next(d[0] for d in decisions if sum(e[0] == d[0] for e in decisions) > 1)
    assert main(["approve", shared, "--ledger", url]) == 2
    err = capsys.readouterr().err
    listed = err.split("ambiguous: ", 1)[1].split(";", 1)[0].split(", ")
    assert len(listed) > 1 and all(i.startswith(shared) for i in listed), err


def test_why_with_an_empty_subject_or_runbook_says_it_is_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`autonomic why "$SUBJECT"` with the variable unset listed everything held back,
    exit 0, as if it were about one object."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    open_ledger(url, 0.0).close()
    for argv, what in ((["why", ""], "SUBJECT"), (["why", "--runbook", " "], "--runbook")):
        assert main([*argv, "--ledger", url]) == 2
        err = capsys.readouterr().err
        assert f"autonomic: error: {what} is empty" in err, err
    assert main(["why", "--ledger", url]) == 0  # left out: everything
    capsys.readouterr()


def test_ids_that_share_their_shown_characters_are_told_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ids that share their first 12 characters (the short id every listing shows)
    were refused as "'abc…' is ambiguous: abc…, abc…; give more of the id": the same 12
    characters twice, so the person could not tell which more to give."""
    shared = "0123456789ab"
    # two decisions, then their questions (whose ids start otherwise)
    made = iter(
        uuid.UUID(hex=start.ljust(32, "0"))
        for start in (f"{shared}c", f"{shared}d", "fedcba1", "fedcba2")
    )
    monkeypatch.setattr(uuid, "uuid4", lambda: next(made))
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0.0)
    first = ledger.record_decision(_decision("Pod/shop/web-1"), 10.0)
    second = ledger.record_decision(_decision("Pod/shop/web-2"), 11.0)
    ledger.ask(first, "cli", 30.0, 3600.0)
    ledger.ask(second, "cli", 31.0, 3600.0)
    ledger.close()
    for command in (["explain"], ["approve"]):
        assert main([*command, shared, "--ledger", url]) == 2
        err = capsys.readouterr().err
        listed = err.split("ambiguous: ", 1)[1].split(";", 1)[0].split(", ")
        assert sorted(listed) == [f"{shared}c", f"{shared}d"], err
    # as told: one character more finds it
    assert main(["explain", f"{shared}c", "--ledger", url]) == 0
    assert "Pod/shop/web-1" in capsys.readouterr().out


def test_a_decision_asked_twice_is_answered_through_its_pending_question(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A decision with two questions (the ledger allows it) was refused by its full id
    as "ambiguous", listing that same decision id twice. Now its one pending question is
    answered, and while both are pending (or neither is) the questions' ids are listed."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0.0)
    decision = ledger.record_decision(_decision("Pod/shop/web-1"), 10.0)
    first = ledger.ask(decision, "cli", 30.0, 10**10)
    second = ledger.ask(decision, "cli", 31.0, 10**10)
    ledger.close()
    assert main(["approve", decision, "--ledger", url]) == 2
    err = capsys.readouterr().err
    assert "was asked 2 questions, 2 of them pending:" in err, err
    listed = err.split("pending: ", 1)[1].split(";", 1)[0].split(", ")
    assert sorted(listed) == sorted(distinct_ids([first, second])), err
    assert "give the question's id" in err

    ledger = open_ledger(url, 0.0)
    assert ledger.answer(first, "rejected", "alice", 40.0)
    ledger.close()
    assert main(["approve", decision, "--ledger", url]) == 0
    assert f"question {short_id(second)} approved" in capsys.readouterr().out
    ledger = open_ledger(url, 0.0)
    try:
        statuses = {q.id: q.status for q in ledger.find_questions(decision)}
    finally:
        ledger.close()
    assert statuses == {first: "rejected", second: "approved"}
