"""The ledger against real databases: SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from agent.errors import ConfigError, TransientError
from agent.ledger import (
    LATE_ANSWER_PREFIX,
    UNCORDONED_PREFIX,
    Decision,
    Feedback,
    HeldBack,
    Ledger,
    LedgerError,
    open_ledger,
    store,
)
from agent.ledger.schema import MIGRATIONS, SCHEMA_VERSION, Migration, tables
from tests.harness.servers import fresh_schema

NOW = 1_800_000_000.0


def decision(**overrides: object) -> Decision:
    base: dict[str, object] = {
        "kind": "remediation",
        "decision_type": "rollback-crashloop/Deployment",
        "subject": "Deployment/shop/web",
        "proposal": {"op": "rollback", "to_revision": 4},
        "confidence": 0.82,
        "reason_code": "CrashLoopAfterRollout",
        "reason": "3 of 3 pods crash-loop since revision 5 rolled out 4 minutes ago",
        "evidence": {"query": "kube_pod_container_status_restarts_total", "restarts": [0, 3, 9]},
        "model_version": "runbook rollback-crashloop@1",
        "route": "ask",
    }
    base.update(overrides)
    return Decision(**base)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "sqlite":
        opened = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", NOW)
    else:
        url, _ = fresh_schema(request.getfixturevalue("postgres_url"))
        opened = open_ledger(url, NOW)
    yield opened
    opened.close()


def test_decision_round_trip(ledger: Ledger) -> None:
    decision_id = ledger.record_decision(decision(), NOW)
    record = ledger.get_decision(decision_id)
    assert record is not None
    assert record.subject == "Deployment/shop/web"
    assert record.evidence["restarts"] == [0, 3, 9]
    assert record.confidence == pytest.approx(0.82)
    assert record.status == "proposed"
    assert ledger.find_decisions(decision_id[:8]) == [decision_id]


def test_a_short_id_typed_in_upper_case_is_found_on_every_backend(ledger: Ledger) -> None:
    """Ids are lower-case hex. SQLite's LIKE ignores ASCII case, PostgreSQL's does not:
    `autonomic explain 0A1B…` found the decision on SQLite and "no decision id starts
    with" it on PostgreSQL."""
    decision_id = ledger.record_decision(decision(), NOW)
    question_id = ledger.ask(decision_id, "cli", NOW, ttl=600)
    assert ledger.find_decisions(decision_id[:12].upper()) == [decision_id]
    assert [q.id for q in ledger.find_questions(decision_id[:12].upper())] == [question_id]
    assert [q.id for q in ledger.find_questions(question_id[:12].upper())] == [question_id]


def test_failed_write_leaves_no_partial_decision(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="evidence is not JSON-serialisable"):
        ledger.record_decision(decision(evidence={"bad": object()}), NOW)
    with pytest.raises(ValueError, match="confidence"):
        ledger.record_decision(decision(confidence=float("nan")), NOW)
    assert ledger.decisions() == []


def test_a_decision_and_its_question_are_written_together_or_not_at_all(
    ledger: Ledger,
) -> None:
    decision_id, question_id = ledger.record_question(
        decision(status="asked"), NOW, channel="slack", ttl=600
    )
    question = ledger.question(question_id)
    assert question is not None and question.decision_id == decision_id
    assert question.status == "pending" and question.expires_at == pytest.approx(NOW + 600)
    # The question cannot be written (its table is gone): neither is the decision.
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE questions"))
    with pytest.raises(sa.exc.DBAPIError):
        ledger.record_question(
            decision(subject="Deployment/shop/cart"), NOW, channel="slack", ttl=600
        )
    assert [d.id for d in ledger.decisions()] == [decision_id]


def test_the_newest_questions_are_taken_and_listed_in_the_order_asked(ledger: Ledger) -> None:
    """`approvals list --limit N`: the newest N (not the oldest), oldest first, and how
    many there are in all."""
    asked = [
        ledger.record_question(decision(status="asked"), NOW + n, channel="cli", ttl=600)[1]
        for n in range(4)
    ]
    assert ledger.answer(asked[3], "rejected", "bob", NOW + 10)
    assert [q.id for q in ledger.questions(None, limit=2, newest=True)] == asked[2:]
    assert [q.id for q in ledger.questions("pending", limit=2, newest=True)] == asked[1:3]
    assert [q.id for q in ledger.questions("pending", limit=2)] == asked[:2]
    assert (ledger.count_questions(None), ledger.count_questions("pending")) == (4, 3)
    assert ledger.count_questions("approved") == 0


def test_status_transitions_are_compare_and_set(ledger: Ledger) -> None:
    decision_id = ledger.record_decision(decision(), NOW)
    assert ledger.transition(decision_id, ["proposed"], "asked", NOW + 1)
    assert not ledger.transition(decision_id, ["proposed"], "executing", NOW + 2)
    record = ledger.get_decision(decision_id)
    assert record is not None and record.status == "asked"


def test_decisions_filter_on_when_made_and_when_last_changed(ledger: Ledger) -> None:
    old = ledger.record_decision(decision(subject="Deployment/shop/old"), NOW - 3 * 86400)
    new = ledger.record_decision(decision(subject="Deployment/shop/new"), NOW - 60)
    assert ledger.transition(old, ["proposed"], "done", NOW - 10)  # answered days late
    assert [d.id for d in ledger.decisions(since=NOW - 3600)] == [new]
    assert [d.id for d in ledger.decisions(updated_since=NOW - 30)] == [old]
    both = ledger.decisions(updated_since=NOW - 3600)
    assert [d.id for d in both] == [new, old]  # newest made first


def test_the_types_decided_in_a_window_and_a_types_newest_routes(ledger: Ledger) -> None:
    """``decision_types``: each type with a decision in the window, with the kind of its
    newest there, however many decisions came after it; ``route_counts``: the routes and
    statuses of a type's newest decisions in the window, no more than asked."""
    for kind, decision_type, age, route in (
        ("remediation", "old/Deployment", 900, "auto"),
        ("remediation", "fix/Deployment", 500, "escalate"),
        ("anomaly", "anomaly/latency", 300, "observe"),
        ("remediation", "fix/Deployment", 200, "auto"),
        ("remediation", "fix/Deployment", 100, "auto"),
        *(("scaling", "scaling/predictive-floor", 99 - i, "ask") for i in range(20)),
    ):
        ledger.record_decision(
            decision(kind=kind, decision_type=decision_type, route=route), NOW - age
        )
    assert ledger.decision_types(since=NOW - 600) == {
        "anomaly/latency": "anomaly",
        "fix/Deployment": "remediation",
        "scaling/predictive-floor": "scaling",
    }
    assert ledger.decision_types(since=NOW) == {}
    assert ledger.route_counts("fix/Deployment", since=NOW - 600, limit=10) == {
        ("auto", "proposed"): 2,
        ("escalate", "proposed"): 1,
    }
    newest = ledger.route_counts("fix/Deployment", since=NOW - 600, limit=2)
    assert newest == {("auto", "proposed"): 2}
    assert ledger.route_counts("fix/Deployment", since=NOW - 150, limit=10) == {
        ("auto", "proposed"): 1
    }


def test_the_newest_decision_of_a_type_about_each_subject_in_one_read(ledger: Ledger) -> None:
    """What a new leader reads of a thousand workloads at once (``latest_decisions``): per
    subject its newest decision of that type, newer decisions of another type about it
    passed over, subjects with none absent; more subjects than one statement could bind
    one by one."""
    floor = {"kind": "scaling", "decision_type": "scaling/predictive-floor"}
    made: dict[str, list[str]] = {}
    for name, ages in (("a", (600, 60, 300)), ("b", (900,)), ("c", (120,))):
        subject = f"Deployment/shop/{name}"
        made[name] = [
            ledger.record_decision(decision(subject=subject, **floor), NOW - age) for age in ages
        ]
    ledger.record_decision(decision(subject="Deployment/shop/b"), NOW)  # a remediation
    ledger.record_decision(decision(subject="Deployment/shop/d"), NOW)
    subjects = [f"Deployment/shop/{name}" for name in "abcde"]
    found = ledger.latest_decisions("scaling/predictive-floor", subjects)
    assert {subject: record.id for subject, record in found.items()} == {
        "Deployment/shop/a": made["a"][1],
        "Deployment/shop/b": made["b"][0],
        "Deployment/shop/c": made["c"][0],
    }
    assert found["Deployment/shop/a"].created_at == NOW - 60
    assert ledger.latest_decisions("scaling/predictive-floor", []) == {}
    many = [f"Deployment/shop/x{i}" for i in range(40_000)] + ["Deployment/shop/c"]
    assert list(ledger.latest_decisions("scaling/predictive-floor", many)) == ["Deployment/shop/c"]


def test_the_newest_decision_of_each_incident_in_one_read(ledger: Ledger) -> None:
    """What a cycle reads of a thousand firing alerts' incidents at once
    (``latest_for_incidents``): per incident key the decision ``latest_for_incident``
    finds, keys with none absent, more keys than one statement could bind."""
    made: dict[str, list[str]] = {}
    for name, ages in (("a", (600, 60, 300)), ("b", (900,))):
        made[name] = [
            ledger.record_decision(decision(incident_key=f"rb|{name}|k"), NOW - age) for age in ages
        ]
    ledger.record_decision(decision(incident_key=None), NOW)
    keys = ["rb|a|k", "rb|b|k", "rb|c|k"]
    found = ledger.latest_for_incidents(keys)
    assert {key: record.id for key, record in found.items()} == {
        "rb|a|k": made["a"][1],
        "rb|b|k": made["b"][0],
    }
    for key in keys:
        one = ledger.latest_for_incident(key)
        assert (one.id if one else None) == (found[key].id if key in found else None)
    assert ledger.latest_for_incidents([]) == {}
    many = [f"rb|x{i}|k" for i in range(40_000)] + ["rb|b|k"]
    assert list(ledger.latest_for_incidents(many)) == ["rb|b|k"]


def test_feedback_given_with_a_compare_and_set_is_kept_only_with_it(ledger: Ledger) -> None:
    """One transaction: the winner's feedback is kept, a loser's is not, and feedback
    that cannot be written leaves the answer (or guard, or status) unchanged."""
    decision_id = ledger.record_decision(decision(status="asked"), NOW)
    question_id = ledger.ask(decision_id, "cli", NOW, ttl=600)
    orphan = [Feedback("no-such-decision", "answer", "approved", "U1")]
    with pytest.raises(sa.exc.IntegrityError):
        ledger.answer(question_id, "approved", "U1", NOW + 1, feedback=orphan)
    with pytest.raises(sa.exc.IntegrityError):
        ledger.transition(decision_id, ["asked"], "approved", NOW + 1, feedback=orphan)
    with pytest.raises(sa.exc.IntegrityError):
        ledger.put_guard("g", {"n": 1}, 0, NOW + 1, feedback=orphan)
    question = ledger.question(question_id)
    assert question is not None and question.status == "pending"
    assert ledger.get_decision(decision_id).status == "asked"  # type: ignore[union-attr]
    assert ledger.guard("g") == ({}, 0)
    mine = [Feedback(decision_id, "answer", "approved", "U1", {"n": 1})]
    assert ledger.answer(question_id, "approved", "U1", NOW + 2, feedback=mine)
    assert not ledger.answer(question_id, "rejected", "U2", NOW + 3, feedback=mine)
    assert ledger.transition(decision_id, ["asked"], "approved", NOW + 2, feedback=mine)
    assert not ledger.transition(decision_id, ["asked"], "rejected", NOW + 3, feedback=mine)
    assert ledger.put_guard("g", {"n": 1}, 0, NOW + 2, feedback=mine)
    assert not ledger.put_guard("g", {"n": 2}, 0, NOW + 3, feedback=mine)
    assert [row["created_at"] for row in ledger.feedback_for(decision_id)] == [NOW + 2] * 3


def test_a_verdict_and_its_status_are_settled_once(ledger: Ledger) -> None:
    """``settle``: the verdict is written with the status it brings; a repeated call
    (a retry after a failure that hid the commit) writes nothing; a decision closed
    before its verification takes its first verdict, and only one, per actor."""
    active = ["approved", "executing", "verifying"]
    acted = ledger.record_decision(decision(status="verifying"), NOW)
    verdict = Feedback(acted, "verification", "right", "autonomic", {"why": "healthy"})
    assert ledger.settle(acted, active, "verified", NOW + 1, verdict) == (True, True)
    assert ledger.settle(acted, active, "verified", NOW + 2, verdict) == (False, False)
    rows = ledger.feedback_for(acted)
    assert [(r["outcome"], r["created_at"]) for r in rows] == [("right", NOW + 1)]
    assert ledger.get_decision(acted).status == "verified"  # type: ignore[union-attr]
    person = Feedback(acted, "verification", "wrong", "alice")
    assert ledger.settle(acted, active, "undone", NOW + 3, person) == (False, True)
    assert [r["actor"] for r in ledger.feedback_for(acted)] == ["autonomic", "alice"]

    promoted = ledger.record_decision(decision(status="done"), NOW)
    late = Feedback(promoted, "verification", "wrong", "autonomic")
    assert ledger.settle(promoted, active, "done", NOW + 5, late) == (False, True)
    assert ledger.settle(promoted, active, "done", NOW + 6, late) == (False, False)
    assert len(ledger.feedback_for(promoted)) == 1
    assert ledger.get_decision(promoted).status == "done"  # type: ignore[union-attr]

    ghost = Feedback("no-such-decision", "verification", "right", "autonomic")
    assert ledger.settle("no-such-decision", active, "done", NOW, ghost) == (False, False)


def test_a_run_closed_with_its_verdict_keeps_it_for_the_decision(ledger: Ledger) -> None:
    """A failed run's verdict is written with its execution's closing, and only if the
    closing wins; ``settle`` then closes the decision without a second verdict (a
    recovery after a crash between the two calls settles it as ``_fail`` judged it)."""
    active = ["approved", "executing", "verifying"]
    acted = ledger.record_decision(decision(status="executing"), NOW)
    assert ledger.claim_execution("rb/t/1", acted, "rb", "t", "me", NOW)
    ahead = Feedback(acted, "verification", "inconclusive", "autonomic", {"why": "RBAC"})
    assert ledger.set_execution_status("rb/t/1", ["running"], "failed", NOW + 1, ahead)
    assert not ledger.set_execution_status("rb/t/1", ["running"], "failed", NOW + 2, ahead)
    assert [r["outcome"] for r in ledger.feedback_for(acted)] == ["inconclusive"]
    recovered = Feedback(acted, "verification", "wrong", "autonomic")
    assert ledger.settle(acted, active, "failed", NOW + 3, recovered) == (True, False)
    assert ledger.get_decision(acted).status == "failed"  # type: ignore[union-attr]
    assert [r["outcome"] for r in ledger.feedback_for(acted)] == ["inconclusive"]


def test_question_answered_exactly_once_and_expires(ledger: Ledger) -> None:
    decision_id = ledger.record_decision(decision(), NOW)
    first = ledger.ask(decision_id, "slack", NOW, ttl=600)
    assert ledger.answer(first, "approved", "U1", NOW + 10)
    assert not ledger.answer(first, "rejected", "U2", NOW + 11)  # a double click loses
    question = ledger.question(first)
    assert question is not None and question.status == "approved"
    assert question.answered_by == "U1"

    second = ledger.ask(decision_id, "slack", NOW, ttl=600)
    assert ledger.answer(second, "snoozed", "U1", NOW + 5, snooze_until=NOW + 1200)
    assert ledger.expire_questions(NOW + 700) == []  # snoozed past the original expiry
    expired = ledger.expire_questions(NOW + 1300)
    assert [q.id for q in expired] == [second]
    assert not ledger.answer(second, "approved", "U1", NOW + 1301)


def test_a_decisions_questions_and_intents_are_found_by_its_id_not_by_a_scan(
    ledger: Ledger,
) -> None:
    """Explain, progress posting and the CLI's short ids look one decision up; they must
    find it however many questions came before (they used to read the oldest 10,000)."""
    ids = [ledger.record_decision(decision(), NOW + i) for i in range(3)]
    asked = {d: ledger.ask(d, "cli", NOW + i, ttl=600) for i, d in enumerate(ids)}
    again = ledger.ask(ids[0], "cli", NOW + 10, ttl=600)
    assert [q.id for q in ledger.questions_for([ids[0]])] == [asked[ids[0]], again]
    assert {q.id for q in ledger.questions_for(ids[1:])} == {asked[ids[1]], asked[ids[2]]}
    assert ledger.questions_for([]) == []
    # a short id matches a question's id or its decision's; wildcards are literal
    assert [q.id for q in ledger.find_questions(asked[ids[1]][:10])] == [asked[ids[1]]]
    assert [q.id for q in ledger.find_questions(ids[2][:12])] == [asked[ids[2]]]
    assert ledger.find_questions("%") == [] and ledger.find_questions("_") == []
    key = "rollback-crashloop/Deployment/shop/web/incident-9"
    assert ledger.claim_execution(key, ids[1], "rollback-crashloop", "web", "a", NOW)
    intent = ledger.record_intent(key, 0, {"op": "rollback"}, {}, "a", NOW, decision_id=ids[1])
    assert [i.id for i in ledger.intents(decision_id=ids[1])] == [intent]
    assert ledger.intents(decision_id=ids[0]) == []


def test_executions_are_claimed_once_and_intents_are_write_ahead(ledger: Ledger) -> None:
    decision_id = ledger.record_decision(decision(), NOW)
    key = "rollback-crashloop/Deployment/shop/web/incident-1"
    assert ledger.claim_execution(key, decision_id, "rollback-crashloop", "web", "a", NOW)
    assert not ledger.claim_execution(key, decision_id, "rollback-crashloop", "web", "b", NOW)
    intent = ledger.record_intent(key, 0, {"op": "rollback"}, {"revision": 5}, "a", NOW)
    assert intent is not None
    assert ledger.record_intent(key, 0, {"op": "rollback"}, {"revision": 5}, "b", NOW) is None
    assert [i.id for i in ledger.intents(status=["pending"])] == [intent]
    assert ledger.finish_intent(intent, "applied", NOW + 1, {"summary": "revision 5 -> 4"})
    assert not ledger.finish_intent(intent, "applied", NOW + 2)
    assert ledger.intents(status=["pending"]) == []


def test_a_run_closed_with_nothing_written_gives_its_key_to_the_incidents_next_decision(
    ledger: Ledger,
) -> None:
    # The execution key is the incident's. A run closed with nothing written (superseded:
    # the object it was about replaced since its plan) left its row, and the incident's
    # next decision, once approved, could never claim the key: it stayed "executing",
    # nothing done. Now such a row is taken over, once; a row with an intent, or still
    # running, is not.
    key = "restart-stuck-pods|Pod/shop/web-0|kubernetes/x"
    first = ledger.record_decision(decision(), NOW)
    assert ledger.claim_execution(key, first, "rb", "t", "a", NOW)
    second = ledger.record_decision(decision(), NOW + 1)
    assert not ledger.claim_execution(key, second, "rb", "t", "a", NOW + 1)  # running
    assert ledger.set_execution_status(key, ["running"], "superseded", NOW + 2)
    assert ledger.claim_execution(key, second, "rb", "t", "b", NOW + 3)
    row = ledger.execution(key)
    assert row is not None and (row["decision_id"], row["status"]) == (second, "running")
    assert not ledger.claim_execution(key, second, "rb", "t", "c", NOW + 4)  # once
    third = ledger.record_decision(decision(), NOW + 5)
    assert ledger.record_intent(key, 0, {"op": "x"}, {}, "b", NOW + 5) is not None
    assert ledger.set_execution_status(key, ["running"], "superseded", NOW + 6)
    assert not ledger.claim_execution(key, third, "rb", "t", "c", NOW + 7)  # it wrote


def test_a_stale_writer_of_a_closed_run_records_no_intent_under_its_key(ledger: Ledger) -> None:
    # A replica that lost its lease part-way through a step of decision X (between its
    # lease check and its write-ahead intent) may record the intent after the new leader
    # closed X's run with nothing written, or after the incident's next decision Y took
    # the key over. Before, the intent was recorded: before the takeover it kept the key
    # from Y for good (Y left "executing", nothing done); after it, Y's own first step
    # found it and left the step to a writer that was not there. Now an intent of X is
    # refused once X's run is closed with nothing written or the key is another's.
    key = "restart-stuck-pods|Pod/shop/web-0|kubernetes/x"
    old = ledger.record_decision(decision(), NOW)
    assert ledger.claim_execution(key, old, "rb", "t", "a", NOW)
    assert ledger.set_execution_status(key, ["running"], "superseded", NOW + 1)
    assert ledger.record_intent(key, 0, {"op": "x"}, {}, "a", NOW + 2, old) is None
    new = ledger.record_decision(decision(), NOW + 3)
    assert ledger.claim_execution(key, new, "rb", "t", "b", NOW + 3)
    assert ledger.record_intent(key, 0, {"op": "x"}, {}, "a", NOW + 4, old) is None
    mine = ledger.record_intent(key, 0, {"op": "x"}, {}, "b", NOW + 5, new)
    assert mine is not None
    assert [(i.id, i.decision_id) for i in ledger.intents(execution_key=key)] == [(mine, new)]
    # A write with no run of its own (the scaler's keys) is recorded as before.
    assert ledger.record_intent("scale/shop/web/1", 0, {"op": "x"}, {}, "a", NOW, old)


def test_guard_state_compare_and_set(ledger: Ledger) -> None:
    value, version = ledger.guard("breaker/rollback")
    assert (value, version) == ({}, 0)
    assert ledger.put_guard("breaker/rollback", {"failures": 1}, 0, NOW)
    assert not ledger.put_guard("breaker/rollback", {"failures": 1}, 0, NOW)
    assert ledger.put_guard("breaker/rollback", {"failures": 2}, 1, NOW)
    assert not ledger.put_guard("breaker/rollback", {"failures": 9}, 1, NOW)
    assert ledger.guard("breaker/rollback") == ({"failures": 2}, 2)


def test_batched_guards_store_large_nested_values_as_they_read_back(ledger: Ledger) -> None:
    state = {"ring": [float(i) / 7 for i in range(5_000)], "peak": np.float64(2.5), "n": None}
    assert ledger.put_guards([("anomaly/a", {"detector": state}, 0)], NOW) == [True]
    value, version = ledger.guard("anomaly/a")
    assert version == 1 and value["detector"]["ring"][-1] == 4_999 / 7
    assert value["detector"]["peak"] == 2.5 and value["detector"]["n"] is None
    with pytest.raises(ValueError, match="guard anomaly/a is not JSON-serialisable"):
        ledger.put_guards([("anomaly/a", {"bad": float("inf")}, 1)], NOW)
    assert ledger.guard("anomaly/a")[1] == 1


def test_guard_keys_by_prefix_take_wildcards_literally(ledger: Ledger) -> None:
    keys = ["anomaly/rps{a=1}", "anomaly/rps{a=2}", "anomaly/rps_x{a=1}", "anomaly/rpsX{}"]
    assert all(ledger.put_guards([(k, {"n": 1}, 0) for k in keys], NOW))
    assert ledger.put_guard("breaker/rollback", {"failures": 1}, 0, NOW)
    assert ledger.guard_keys("anomaly/rps{") == keys[:2]
    # "_" and "%" are SQL LIKE wildcards; here they are plain characters
    assert ledger.guard_keys("anomaly/rps_") == ["anomaly/rps_x{a=1}"]
    assert ledger.guard_keys("anomaly/%") == []
    assert ledger.guard_keys("") == sorted([*keys, "breaker/rollback"])


def test_action_counts_and_model_versions(ledger: Ledger) -> None:
    for minute in range(5):
        ledger.log_action("scale-out", "Deployment/shop/web", NOW + 60 * minute)
    assert ledger.count_actions(NOW + 120) == 3
    assert ledger.count_actions(NOW, runbook="scale-out", target="Deployment/shop/web") == 5
    assert ledger.last_action_at("Deployment/shop/web") == NOW + 240
    ledger.record_model_version("shop/web:rps", "ets", "ets/1", "live", {}, {"mase": 0.9}, NOW)
    ledger.record_model_version("shop/web:rps", "mstl", "mstl/1", "live", {}, {"mase": 0.7}, NOW)
    live = ledger.live_model("shop/web:rps")
    assert live is not None and live["model"] == "mstl"


def test_targets_acted_on_and_the_intents_of_the_runs_on_a_target(ledger: Ledger) -> None:
    """``acted_on``: which of some targets the action log names since a time;
    ``intents_on``: the intents of every run whose execution names the target, across
    runs, oldest first."""
    ledger.log_action("disk-pressure-cordon", "Node/node-2", NOW)
    ledger.log_action("disk-pressure-cordon", "Node/node-1", NOW - 60)
    ledger.log_action("scale-out", "Deployment/shop/web", NOW)
    asked = ["Node/node-1", "Node/node-2", "Node/node-3"]
    assert ledger.acted_on(asked, NOW) == {"Node/node-2"}
    assert ledger.acted_on(asked, NOW - 60) == {"Node/node-1", "Node/node-2"}
    assert ledger.acted_on([], NOW) == set()
    cordon = {"op": "cordon", "target": {"kind": "Node", "name": "node-2"}}
    for n, target in enumerate(["Node/node-2", "Node/node-3", "Node/node-2"]):
        decided = ledger.record_decision(decision(status="executing"), NOW + n)
        assert ledger.claim_execution(f"k{n}", decided, "rb", target, "me", NOW + n)
        ledger.record_intent(f"k{n}", 0, cordon, {"unschedulable": False}, "me", NOW + n, decided)
    on = ledger.intents_on("Node/node-2")
    assert [(i.execution_key, i.operation) for i in on] == [("k0", cordon), ("k2", cordon)]
    assert ledger.intents_on("Node/node-9") == []


def test_model_version_tally_counts_a_series_and_names_its_newest(ledger: Ledger) -> None:
    assert ledger.model_version_tally("web") == (0, None)
    ledger.record_model_version("web", "p", "p/1 fitted 2026-11-22T06:00:00Z", "live", {}, {}, NOW)
    ledger.record_model_version("api", "p", "p/9 fitted 2026-11-22T06:00:00Z", "live", {}, {}, NOW)
    ledger.record_model_version(
        "web", "p", "p/2 fitted 2026-11-22T12:00:00Z", "rejected", {}, {}, NOW
    )
    assert ledger.model_version_tally("web") == (2, "p/2 fitted 2026-11-22T12:00:00Z")
    assert ledger.model_version_tally("api") == (1, "p/9 fitted 2026-11-22T06:00:00Z")


def test_outcomes_feed_calibration(ledger: Ledger) -> None:
    ids = [ledger.record_decision(decision(confidence=0.5 + i / 20), NOW + i) for i in range(6)]
    for i, decision_id in enumerate(ids):
        ledger.add_feedback(decision_id, "verification", "right" if i % 2 else "wrong", "v", NOW)
    outcomes = ledger.outcomes("rollback-crashloop/Deployment", limit=4)
    assert len(outcomes) == 4
    assert outcomes[0][0] == NOW + 5  # newest first
    assert {o[2] for o in outcomes} == {"right", "wrong"}


def test_outcomes_of_a_kind_span_its_types_and_keep_the_newest_verdict(ledger: Ledger) -> None:
    """The pool of other runbooks reads every remediation type's verdicts at once."""
    first = ledger.record_decision(decision(), NOW)
    second = ledger.record_decision(decision(decision_type="restart/Pod"), NOW + 1)
    ledger.record_decision(decision(kind="canary", decision_type="canary/promote"), NOW + 2)
    ledger.add_feedback(first, "verification", "right", "v", NOW + 10)
    ledger.add_feedback(first, "correction", "wrong", "alice", NOW + 20)  # the newest counts
    ledger.add_feedback(second, "verification", "right", "v", NOW + 10)
    rows = ledger.kind_outcomes("remediation")
    assert [(t, at, verdict) for t, at, _, verdict, _ in rows] == [
        ("restart/Pod", NOW + 1, "right"),
        ("rollback-crashloop/Deployment", NOW, "wrong"),
    ]
    assert ledger.kind_outcomes("canary") == []  # no verdict yet
    assert len(ledger.kind_outcomes("remediation", limit=1)) == 1


def test_an_incidents_newest_hindsight_verdict_is_read_across_its_decisions(
    ledger: Ledger,
) -> None:
    """What holds an incident after "It was not" (``RemediationEngine``): the newest
    hindsight verdict on any of its decisions, not another incident's, nor a correction
    or any other feedback row."""
    key = "oom|Deployment/shop/web|kubernetes/OOMKilled/Deployment/shop/web/rev1"
    first = ledger.record_decision(decision(incident_key=key, route="escalate"), NOW)
    again = ledger.record_decision(decision(incident_key=key, route="escalate"), NOW + 3600)
    other = ledger.record_decision(decision(incident_key=key + "x"), NOW + 1)
    assert ledger.incident_hindsight(key) is None
    ledger.add_feedback(first, "escalation", "escalated", "autonomic", NOW)
    ledger.add_feedback(other, "hindsight", "right", "bob", NOW + 9000)
    assert ledger.incident_hindsight(key) is None
    ledger.add_feedback(first, "hindsight", "wrong", "alice", NOW + 4000)  # on the first
    verdict = ledger.incident_hindsight(key)
    assert verdict is not None
    assert (verdict["decision_id"], verdict["outcome"], verdict["actor"]) == (
        first,
        "wrong",
        "alice",
    )
    assert verdict["created_at"] == NOW + 4000
    ledger.add_feedback(again, "correction", "right", "carol", NOW + 5000)  # not hindsight
    ledger.add_feedback(again, "hindsight", "right", "bob", NOW + 4500)  # the newest
    verdict = ledger.incident_hindsight(key)
    assert verdict is not None and (verdict["decision_id"], verdict["outcome"]) == (again, "right")


def test_prune_keeps_open_work(ledger: Ledger) -> None:
    old_done = ledger.record_decision(decision(status="verified"), NOW - 400 * 86400)
    old_open = ledger.record_decision(decision(status="asked"), NOW - 400 * 86400)
    ledger.add_feedback(old_done, "verification", "right", "v", NOW - 400 * 86400)
    for status in ("live", "retired", "rejected"):
        ledger.record_model_version("web", "p", f"p/{status}", status, {}, {}, NOW - 400 * 86400)
    assert ledger.put_guard(
        f"{LATE_ANSWER_PREFIX}q-old", {"answer": "approved"}, 0, NOW - 400 * 86400
    )
    assert ledger.put_guard(f"{LATE_ANSWER_PREFIX}q-new", {"answer": "approved"}, 0, NOW)
    assert ledger.put_guard("breaker/old-runbook", {"open": False}, 0, NOW - 400 * 86400)
    for key in ("canary/started/old", "verify/old", "anomaly/q{pod=gone}"):
        assert ledger.put_guard(key, {"at": 1}, 0, NOW - 400 * 86400)
    assert ledger.put_guard("anomaly/q{pod=quiet}", {"at": 1}, 0, NOW - 40 * 86400)
    for key in ("canary/started/new", "verify/new", "anomaly/q{pod=live}"):
        assert ledger.put_guard(key, {"at": 1}, 0, NOW - 86400)
    counts = ledger.prune(NOW - 365 * 86400, series_before=NOW - 30 * 86400)
    assert counts["decisions"] == 1 and counts["feedback"] == 1
    # old late-answer markers go; a recent one, and every other guard, stay
    assert counts["late_answers"] == 1
    assert ledger.guard(f"{LATE_ANSWER_PREFIX}q-new")[1] == 1
    assert ledger.guard("breaker/old-runbook")[1] == 1
    # a canary's start and a verification's progress go with age; anomaly series gone
    # for longer than ``series_before`` go; recent ones of each stay
    assert counts["finished_guards"] == 2 and counts["anomaly_series"] == 2
    assert ledger.guard_keys("canary/") == ["canary/started/new"]
    assert ledger.guard_keys("verify/") == ["verify/new"]
    assert ledger.guard_keys("anomaly/") == ["anomaly/q{pod=live}"]
    assert ledger.get_decision(old_done) is None
    assert ledger.get_decision(old_open) is not None
    # an old live model stays: it is still the one forecasting; the rest go by age
    assert counts["model_versions"] == 2  # the retired and the rejected one
    live = ledger.live_model("web")
    assert live is not None and live["version"] == "p/live"


def test_prune_takes_uncordons_seen_once_no_guard_window_reads_them(ledger: Ledger) -> None:
    """A node's uncordon seen (``uncordoned/<node>``) is read only for a node with an
    action of Autonomic's inside the guards' window (``acted_on``). One row per node
    name was kept for good before: with nodes replaced under new names, they piled up."""
    day = 86400.0
    window = NOW - 2 * day  # what the daemon passes: now less the guards' longest window
    seen = {"intent": 1, "cordoned_at": NOW - 10 * day, "at": NOW - 9 * day}
    # gone: its cordon (the last action on it) and its uncordon are past the window
    ledger.log_action("cordon-node", "Node/gone", NOW - 10 * day)
    assert ledger.put_guard(f"{UNCORDONED_PREFIX}gone", seen, 0, NOW - 9 * day)
    # kept: an old row, but a recent action on the node lets the guards read it
    ledger.log_action("cordon-node", "Node/busy", NOW - 10 * day)
    ledger.log_action("drain-node", "Node/busy", NOW - day)
    assert ledger.put_guard(f"{UNCORDONED_PREFIX}busy", seen, 0, NOW - 9 * day)
    # kept: seen inside the window
    ledger.log_action("cordon-node", "Node/fresh", NOW - day)
    assert ledger.put_guard(f"{UNCORDONED_PREFIX}fresh", seen, 0, NOW - day / 2)
    # a recent action on a namesake elsewhere (not a node) keeps nothing
    ledger.log_action("restart", "Pod/shop/gone", NOW - day)

    counts = ledger.prune(NOW - 400 * day, guards_before=window)

    assert counts["uncordoned"] == 1
    assert ledger.guard_keys(UNCORDONED_PREFIX) == [
        f"{UNCORDONED_PREFIX}busy",
        f"{UNCORDONED_PREFIX}fresh",
    ]
    assert ledger.acted_on(["Node/busy", "Node/fresh"], window) == {"Node/busy", "Node/fresh"}
    # without a window of its own, the retention's cut stands for it
    assert ledger.prune(NOW - 400 * day)["uncordoned"] == 0


def test_prune_takes_aged_guards_by_prefix(ledger: Ledger) -> None:
    """Guards a reader ignores once old (the scaling loop's learned capacities and holds
    for replicas set by hand, one per workload name) go at their prefix's cut; other
    keys, and recent ones, stay."""
    day = 86400.0
    for key, at in (
        ("scaling/capacity/Deployment/shop/old", NOW - 8 * day),
        ("scaling/capacity/Deployment/shop/new", NOW - 6 * day),
        ("scaling/taken-over/Deployment/shop/old", NOW - 2 * day),
        ("scaling/taken-over/Deployment/shop/new", NOW - 3600),
        ("scaling/configured-min/Deployment/shop/old", NOW - 300 * day),
        ("scaling/written/Deployment/shop/old", NOW - 300 * day),
    ):
        assert ledger.put_guard(key, {"at": at}, 0, at)
    counts = ledger.prune(
        NOW - 400 * day,
        aged_guards={
            "scaling/capacity/": NOW - 7 * day,
            "scaling/taken-over/": NOW - day,
        },
    )
    assert counts["aged_guards"] == 2
    assert ledger.guard_keys("scaling/") == [
        "scaling/capacity/Deployment/shop/new",
        "scaling/configured-min/Deployment/shop/old",
        "scaling/taken-over/Deployment/shop/new",
        "scaling/written/Deployment/shop/old",
    ]
    # a key written again after a prune starts from version 0, as a new one does
    assert ledger.put_guard("scaling/capacity/Deployment/shop/old", {"at": NOW}, 0, NOW)


def test_prune_keeps_only_the_newest_live_model_of_a_series(ledger: Ledger) -> None:
    """Two writers promoting at once can both retire the old live row and insert their
    own: two live rows. ``live_model`` reads the newest, but prune kept every live row,
    so the older one stayed for good. It now goes by age, as a retired one does."""
    old = NOW - 400 * 86400
    table = tables["model_versions"]
    with ledger.engine.begin() as conn:  # what the race leaves, written as it would be
        for version in ("p/1", "p/2"):
            conn.execute(
                table.insert().values(
                    series_key="web",
                    model="p",
                    version=version,
                    status="live",
                    params={},
                    evaluation={},
                    created_at=old,
                )
            )
    ledger.record_model_version("api", "p", "p/1", "live", {}, {}, old)
    counts = ledger.prune(NOW - 365 * 86400)
    assert counts["model_versions"] == 1
    with ledger.engine.connect() as conn:
        left = conn.execute(
            sa.select(table.c.series_key, table.c.version).order_by(table.c.id)
        ).all()
    assert [tuple(row) for row in left] == [("web", "p/2"), ("api", "p/1")]


def test_database_from_an_older_release_opens_and_upgrades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    old = open_ledger(url, NOW, migrate=False)
    assert old.migrate(NOW, upto=1) == 1  # what release 0.1 created
    decision_id = "d" * 32
    with old.engine.begin() as conn:  # a row as release 0.1 wrote it (no status history)
        row = dataclasses.asdict(decision(status="asked"))
        conn.execute(
            sa.insert(tables["decisions"]).values(
                id=decision_id, created_at=NOW, updated_at=NOW, **row
            )
        )
    old.close()
    upgraded = open_ledger(url, NOW + 1)
    assert upgraded.schema_version() == SCHEMA_VERSION
    assert upgraded.get_decision(decision_id) is not None
    assert upgraded.status_history(decision_id) == []  # it starts at the next change
    assert upgraded.transition(decision_id, ["asked"], "approved", NOW + 2)
    assert upgraded.status_history(decision_id) == [(NOW + 2, "asked", "approved")]
    with upgraded.engine.connect() as conn:
        names = {row[0] for row in conn.execute(sa.text("SELECT name FROM sqlite_master"))}
    assert "ix_decisions_type_created" in names
    upgraded.close()


def test_opening_a_ledger_that_needs_migrations_says_what_it_did_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator upgrading the daemon sees in its log that the ledger was migrated,
    from which version to which; not again at the next start, nor for a ledger that was
    already current."""
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    caplog.set_level("INFO", logger="autonomic.ledger")
    fresh = open_ledger(f"sqlite:///{tmp_path / 'new.sqlite'}", NOW)
    fresh.close()
    created = [r.getMessage() for r in caplog.records if "schema version" in r.getMessage()]
    assert created == [
        f"ledger at sqlite:///{tmp_path / 'new.sqlite'} created at schema version {SCHEMA_VERSION}"
    ]
    caplog.clear()
    old = open_ledger(url, NOW, migrate=False)
    old.migrate(NOW, upto=3)
    old.close()
    caplog.clear()
    for _ in range(2):
        open_ledger(url, NOW).close()
    said = [r.getMessage() for r in caplog.records if "migrated" in r.getMessage()]
    applied = ", ".join(str(v) for v in range(4, SCHEMA_VERSION + 1))
    assert said == [
        f"ledger at {url} migrated from schema version 3 to {SCHEMA_VERSION} (migrations {applied})"
    ]


def _newer_release_migrated(url: str, *, breaks_older: bool | None) -> None:
    """The ledger at ``url`` as a newer release's migration leaves it: one more row in
    ``schema_version``, saying whether the releases before it can run on it."""
    ledger = open_ledger(url, NOW)
    with ledger.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO schema_version (version, description, applied_at, breaks_older) "
                "VALUES (:v, 'the future', :t, :b)"
            ),
            {"v": SCHEMA_VERSION + 1, "t": NOW, "b": breaks_older},
        )
    ledger.close()


def test_database_from_a_newer_release_that_breaks_this_one_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
    _newer_release_migrated(url, breaks_older=True)
    with pytest.raises(LedgerError, match="newer than this release") as refused:
        open_ledger(url, NOW)
    assert f"(migration {SCHEMA_VERSION + 1}: the future)" in str(refused.value)
    with pytest.raises(LedgerError, match="newer than this release"):
        open_ledger(url, NOW, create=False)


@pytest.mark.parametrize("flag", [None, False])
def test_database_from_a_newer_release_that_only_added_is_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, flag: bool | None
) -> None:
    """A rolling upgrade: the new pod migrated the ledger, an old pod restarts (or the
    Deployment is rolled back) on it. Its newer migrations only added, so the old
    release runs on it (it refused to start before), saying so once."""
    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
    _newer_release_migrated(url, breaks_older=flag)
    caplog.set_level("WARNING", logger="autonomic.ledger")
    ledger = open_ledger(url, NOW)
    assert ledger.schema_version() == SCHEMA_VERSION + 1
    decision_id = ledger.record_decision(decision(), NOW)
    assert ledger.transition(decision_id, ["proposed"], "asked", NOW + 1)
    ledger.close()
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        f"ledger at {url} has schema version {SCHEMA_VERSION + 1}, newer than this release's "
        f"({SCHEMA_VERSION}); the newer migrations ({SCHEMA_VERSION + 1}) only add to it, so "
        "this release runs on it, as it does while a rolling upgrade or a rollback is under "
        "way; run one release on every replica"
    ]
    reader = open_ledger(url, NOW, create=False)  # the commands that read or answer
    assert reader.get_decision(decision_id) is not None
    reader.close()


def test_bad_urls_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a database URL"):
        open_ledger("not a url", NOW)
    with pytest.raises(ConfigError, match="cannot open the ledger"):
        open_ledger(f"sqlite:///{tmp_path}/missing/dir/x.sqlite", NOW)


@pytest.mark.postgres
def test_concurrent_writers_on_postgres_lose_and_duplicate_nothing(postgres_url: str) -> None:
    url, _ = fresh_schema(postgres_url)
    ledger = open_ledger(url, NOW)
    seed = ledger.record_decision(decision(), NOW)
    question = ledger.ask(seed, "slack", NOW, ttl=600)
    writers, per_writer = 8, 60
    winners: list[int] = []
    claims: list[int] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            mine = open_ledger(url, NOW, migrate=False)
            for i in range(per_writer):
                mine.record_decision(decision(subject=f"Deployment/shop/w{n}-{i}"), NOW + i)
                if mine.claim_execution("one-key", seed, "r", "t", f"w{n}", NOW):
                    claims.append(n)
            if mine.answer(question, "approved", f"U{n}", NOW + 1):
                winners.append(n)
            mine.close()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    subjects = [d.subject for d in ledger.decisions(limit=10_000) if d.id != seed]
    assert len(subjects) == writers * per_writer
    assert len(set(subjects)) == writers * per_writer
    assert len(winners) == 1 and len(claims) == 1
    ledger.close()


def test_a_sqlite_ledger_locked_past_the_busy_timeout_says_so(tmp_path: Path) -> None:
    """Another process holding a write transaction: a TransientError naming the file and
    what to do, not sqlite3's bare error (the CLI printed a traceback); nothing written."""
    path = tmp_path / "ledger.sqlite"
    ledger = open_ledger(f"sqlite:///{path}", NOW)
    decision_id, question_id = ledger.record_question(decision(), NOW, channel="cli", ttl=600)
    ledger.engine.dispose()
    sa.event.listen(  # after the ledger's own: a shorter wait than its 30 s
        ledger.engine, "connect", lambda conn, _record: conn.execute("PRAGMA busy_timeout=50")
    )
    holder = sqlite3.connect(path)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(TransientError) as raised:
            ledger.answer(question_id, "approved", "U1", NOW + 1)
        message = str(raised.value)
        assert f"the ledger at sqlite:///{path} write failed: database is locked" in message
        assert "try again" in message
    finally:
        holder.rollback()
        holder.close()
    assert ledger.answer(question_id, "approved", "U1", NOW + 2)
    assert [row["outcome"] for row in ledger.feedback_for(decision_id)] == []
    ledger.close()


@pytest.mark.postgres
def test_postgres_going_away_is_transient_loses_nothing_and_comes_back(postgres_url: str) -> None:
    """While the database refuses connections every read and write is a TransientError
    naming the ledger (the loops retry, readiness says why); a transaction cut in the
    middle leaves nothing; once it is back the same ledger answers, exactly once."""
    name = f"d{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    ledger = open_ledger(url, NOW)
    decision_id, question_id = ledger.record_question(decision(), NOW, channel="cli", ttl=600)

    def cut(allow: bool) -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {allow}"))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )

    try:
        cut(False)
        calls = {
            "schema_version": ledger.schema_version,
            "question": lambda: ledger.question(question_id),
            "decisions": ledger.decisions,
            "guard": lambda: ledger.guard("k"),
            "record_decision": lambda: ledger.record_decision(decision(), NOW + 1),
            "answer": lambda: ledger.answer(question_id, "approved", "U1", NOW + 1),
        }
        for what, call in calls.items():
            with pytest.raises(TransientError, match=f"the ledger at .*/{name} ") as raised:
                call()
            assert "not currently accepting connections" in str(raised.value), what
        cut(True)
        # The connection drops between the decision and its question: neither is kept.
        real_execute = sa.Connection.execute
        statements: list[object] = []

        def execute(conn: sa.Connection, statement: object, *args: object, **kw: object) -> object:
            statements.append(statement)
            if len(statements) == 2:
                cut(True)  # terminates this connection too
            return real_execute(conn, statement, *args, **kw)  # type: ignore[arg-type]

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sa.Connection, "execute", execute)
            with pytest.raises(TransientError, match="write failed"):
                ledger.record_question(
                    decision(subject="Deployment/shop/cut"), NOW, channel="cli", ttl=1
                )
        assert [d.id for d in ledger.decisions()] == [decision_id]
        assert [q.id for q in ledger.questions()] == [question_id]
        assert ledger.answer(question_id, "approved", "U1", NOW + 2)
        assert not ledger.answer(question_id, "rejected", "U2", NOW + 3)
    finally:
        ledger.close()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def test_every_status_a_decision_takes_is_kept_with_when(ledger: Ledger) -> None:
    """The life of a decision, in order; a lost compare-and-set writes no history."""
    decision_id = ledger.record_decision(decision(status="asked"), NOW)
    assert ledger.transition(decision_id, ["asked"], "approved", NOW + 60)
    assert not ledger.transition(decision_id, ["asked"], "rejected", NOW + 61)  # lost
    assert ledger.transition(decision_id, ["approved"], "executing", NOW + 70)
    assert ledger.transition(decision_id, ["executing", "verifying"], "verified", NOW + 400)
    assert not ledger.transition("no-such-decision", ["asked"], "approved", NOW)
    assert ledger.status_history(decision_id) == [
        (NOW, None, "asked"),
        (NOW + 60, "asked", "approved"),
        (NOW + 70, "approved", "executing"),
        (NOW + 400, "executing", "verified"),
    ]
    counts = ledger.prune(NOW + 365 * 86400)
    assert counts["status_history"] == 4 and counts["decisions"] == 1
    assert ledger.status_history(decision_id) == []


def held(
    subject: str = "Deployment/shop/web", reason: str = "Cooldown", **overrides: object
) -> HeldBack:
    base: dict[str, object] = {
        "runbook": "crashloop-after-rollout-rollback",
        "subject": subject,
        "reason_code": reason,
        "outcome": "denied",
        "message": f"{subject} was acted on 4m ago; the cooldown is 1h",
        "signal": "kubernetes CrashLoopBackOff on Pod/shop/web-1 (confidence 1.00)",
        "first_seen": NOW,
        "last_seen": NOW,
        "times": 1,
    }
    base.update(overrides)
    return HeldBack(**base)  # type: ignore[arg-type]


def test_held_back_is_one_row_per_runbook_subject_and_reason(ledger: Ledger) -> None:
    """Written again, a key adds its count, keeps its first sighting, moves its last one
    on and takes the latest sentence; another reason is another row."""
    ledger.record_held_back([held(times=3, last_seen=NOW + 60)])
    ledger.record_held_back(
        [
            held(times=10, first_seen=NOW + 30, last_seen=NOW + 360, message="acted on 10m ago"),
            held(reason="Paused", outcome="denied", first_seen=NOW + 400, last_seen=NOW + 400),
        ]
    )
    ledger.record_held_back([held(times=2, first_seen=NOW + 20, last_seen=NOW + 200)])  # late
    paused, cooldown = ledger.held_back()  # newest first
    assert (paused.reason_code, paused.times, paused.last_seen) == ("Paused", 1, NOW + 400)
    assert cooldown == held(
        times=15, first_seen=NOW, last_seen=NOW + 360, message="acted on 10m ago"
    )
    assert ledger.held_back(since=NOW + 380) == [paused]
    assert ledger.held_back(runbook="restart-stuck-pods") == []
    assert ledger.held_back(limit=1) == [paused]


def test_held_back_subjects_are_found_as_people_type_them(ledger: Ledger) -> None:
    subjects = [
        "Deployment/shop/web",
        "Deployment/shop/web-canary",
        "Pod/shop/web-7d4f9-x2k1p",
        "Deployment/shop/cart",
        "Deployment/shopfront/web",
        "Node/worker-2",
        "alert/KubePodCrashLooping",
        "Deployment/a_b/x%y",
    ]
    ledger.record_held_back([held(s, last_seen=NOW + i) for i, s in enumerate(subjects)])

    def found(text: str) -> list[str]:
        return sorted(row.subject for row in ledger.held_back(subject=text))

    assert found("Deployment/shop/web") == ["Deployment/shop/web", "Pod/shop/web-7d4f9-x2k1p"]
    assert found("shop/web") == ["Deployment/shop/web", "Pod/shop/web-7d4f9-x2k1p"]
    assert found("web") == [
        "Deployment/shop/web",
        "Deployment/shopfront/web",
        "Pod/shop/web-7d4f9-x2k1p",
    ]
    assert found("Deployment/shop") == [
        "Deployment/shop/cart",
        "Deployment/shop/web",
        "Deployment/shop/web-canary",
    ]
    assert found("worker-2") == found("Node/worker-2") == ["Node/worker-2"]
    assert found("alert") == found("KubePodCrashLooping") == ["alert/KubePodCrashLooping"]
    assert found("Deployment/shop/we") == []  # a part is a whole part
    assert found("a_b/x%y") == ["Deployment/a_b/x%y"]
    assert found("a%b") == found("x_y") == []  # wildcards are literal
    decided = ledger.record_decision(decision(subject="Deployment/shop/web"), NOW)
    ledger.record_decision(decision(subject="Deployment/shop/cart"), NOW)
    ledger.record_decision(decision(subject="Deployment/shop/web", decision_type="x/Pod"), NOW)
    assert [d.id for d in ledger.decisions(subject="web", type_prefix="rollback-crashloop/")] == [
        decided
    ]


def test_runbook_names_are_those_held_back_run_or_deciding(ledger: Ledger) -> None:
    """``autonomic why`` tells a runbook name the ledger never saw by these: the runbooks
    held back, those run and those whose decisions were only asked about (or handed to a
    person), once each; not the ``(none)`` of alerts no runbook names, nor a storm's
    hand-off, nor another job's decision types."""
    assert ledger.runbook_names() == []
    ledger.record_held_back(
        [
            held(),
            held("Deployment/shop/cart"),
            held("alert/KubeHpaMaxedOut", reason="NoRunbook", runbook="(none)"),
        ]
    )
    decided = ledger.record_decision(decision(), NOW)
    assert ledger.claim_execution("k1", decided, "oom-raise-memory-limit", "web", "a", NOW)
    assert ledger.claim_execution("k2", decided, held().runbook, "web", "a", NOW)
    assert ledger.runbook_names() == [
        "crashloop-after-rollout-rollback",
        "oom-raise-memory-limit",
        "rollback-crashloop",  # the decision's own type: rollback-crashloop/Deployment
    ]
    for kind, decision_type in (
        ("remediation", "held/restart-stuck-pods"),
        ("remediation", "storm"),
        ("scaling", "scaling/predictive-floor"),
    ):
        ledger.record_decision(decision(kind=kind, decision_type=decision_type), NOW)
    assert ledger.runbook_names() == [
        "crashloop-after-rollout-rollback",
        "oom-raise-memory-limit",
        "restart-stuck-pods",
        "rollback-crashloop",
    ]


def test_prune_takes_held_back_rows_last_seen_before_the_cut(ledger: Ledger) -> None:
    ledger.record_held_back(
        [
            held("Deployment/shop/old", first_seen=NOW - 500 * 86400, last_seen=NOW - 401 * 86400),
            held("Deployment/shop/long", first_seen=NOW - 500 * 86400, last_seen=NOW - 86400),
        ]
    )
    counts = ledger.prune(NOW - 400 * 86400)
    assert counts["held_back"] == 1
    assert [row.subject for row in ledger.held_back()] == ["Deployment/shop/long"]


def test_a_ledger_of_the_previous_release_gains_held_back_when_opened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    old = open_ledger(url, NOW, migrate=False)
    assert old.migrate(NOW, upto=5) == 5
    with pytest.raises(sa.exc.OperationalError, match="no such table: held_back"):
        old.held_back()
    old.close()
    upgraded = open_ledger(url, NOW + 1)
    assert upgraded.schema_version() == SCHEMA_VERSION >= 6
    upgraded.record_held_back([held()])
    assert upgraded.held_back() == [held()]
    upgraded.close()


@pytest.mark.postgres
def test_held_back_written_by_concurrent_writers_on_postgres_adds_up(postgres_url: str) -> None:
    """Two replicas around a leadership change write the same new keys at once: an
    insert lost to the other is retried as an update, and no count is lost."""
    url, _ = fresh_schema(postgres_url)
    ledger = open_ledger(url, NOW)
    writers, rounds, subjects = 6, 25, [f"Deployment/shop/w{i}" for i in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def work(n: int) -> None:
        try:
            mine = open_ledger(url, NOW, migrate=False)
            start.wait()
            for i in range(rounds):
                mine.record_held_back([held(s, last_seen=NOW + i, times=1) for s in subjects])
            mine.close()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = ledger.held_back()
    assert sorted(row.subject for row in rows) == subjects
    assert {row.times for row in rows} == {writers * rounds}
    assert {row.last_seen for row in rows} == {NOW + rounds - 1}
    ledger.close()


@pytest.mark.postgres
def test_replicas_starting_together_on_a_new_postgres_ledger_migrate_it_once(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Replicas started together all migrate the same empty database: one applies each
    migration, the others wait and find it applied (a PostgreSQL advisory lock). They
    used to apply the same migration side by side, and all but one failed to start on
    a duplicate table or version row."""
    url, schema = fresh_schema(postgres_url)
    engine = sa.create_engine(postgres_url)
    replicas = 6
    caplog.set_level("INFO", logger="autonomic.ledger")
    start = threading.Barrier(replicas)
    reached: list[int] = []
    errors: list[BaseException] = []

    def replica() -> None:
        try:
            start.wait()
            opened = open_ledger(url, NOW)
            reached.append(opened.schema_version())
            opened.close()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert reached == [SCHEMA_VERSION] * replicas
    with engine.connect() as conn:
        versions = conn.execute(
            sa.text(f"SELECT version FROM {schema}.schema_version ORDER BY version")
        ).scalars()
        assert list(versions) == list(range(1, SCHEMA_VERSION + 1))
    engine.dispose()
    # One replica created it, and only that one says so.
    said = [r.getMessage() for r in caplog.records if "schema version" in r.getMessage()]
    assert len(said) == 1 and said[0].endswith(f"created at schema version {SCHEMA_VERSION}")
    assert "autonomic@" in said[0] and schema in said[0]


def test_counted_triggers_are_kept_by_key_seen_again_and_pruned_once_gone(ledger: Ledger) -> None:
    """The storm guard's counted triggers: a new key is added, a known one's last
    sighting moves on (never back), and pruning takes those not seen since the cut."""
    many = [f"kubernetes/CrashLoopBackOff/svc-{i}" for i in range(1200)]  # three IN chunks
    ledger.note_triggers([*many, many[0]], NOW - 10 * 86400)
    assert ledger.counted_triggers(["alert/ab/2026", *many[:2]]) == {
        many[0]: NOW - 10 * 86400,
        many[1]: NOW - 10 * 86400,
    }
    assert len(ledger.counted_triggers(many)) == 1200
    ledger.note_triggers([many[0], "alert/ab/2026"], NOW)
    ledger.note_triggers([many[0]], NOW - 86400)  # an older sighting moves nothing back
    assert ledger.counted_triggers([many[0], many[1], "alert/ab/2026"]) == {
        many[0]: NOW,
        many[1]: NOW - 10 * 86400,
        "alert/ab/2026": NOW,
    }
    counts = ledger.prune(NOW - 7 * 86400)
    assert counts["counted_triggers"] == 1199
    assert ledger.counted_triggers(many) == {many[0]: NOW}
    with ledger.engine.connect() as conn:  # first counted when it was first noted
        t = tables["counted_triggers"]
        row = conn.execute(sa.select(t).where(t.c.dedup_key == many[0])).mappings().first()
    assert row is not None and row["counted_at"] == NOW - 10 * 86400


def test_a_guard_write_records_the_triggers_it_counts_or_nothing(ledger: Ledger) -> None:
    """The storm guard's count and the keys it counted go in one transaction: a key
    another replica recorded first makes the write a lost race, with nothing written."""
    assert ledger.put_guard("g", {"n": 1}, 0, NOW, triggers=["k/b", "k/a"])
    assert ledger.counted_triggers(["k/a", "k/b"]) == {"k/a": NOW, "k/b": NOW}
    assert ledger.put_guard("g", {"n": 2}, 1, NOW + 1, triggers=["k/c"])
    ledger.note_triggers(["k/e"], NOW + 2)  # recorded by another replica meanwhile
    many = [f"k/d{i:04d}" for i in range(1200)]
    assert not ledger.put_guard("g", {"n": 3}, 2, NOW + 3, triggers=[*many, "k/e"])
    assert ledger.guard("g") == ({"n": 2}, 2)
    assert ledger.counted_triggers([*many, "k/c"]) == {"k/c": NOW + 1}


class _Killed(BaseException):
    """The process dying in the middle of a migration (OOM kill, node lost)."""


def _dies_after(migration: Migration) -> Migration:
    """``migration`` whose process dies once its statements ran, before its version row."""

    def apply(conn: sa.Connection) -> None:
        migration.apply(conn)
        raise _Killed

    return dataclasses.replace(migration, apply=apply)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
@pytest.mark.parametrize("version", [8, 11])
def test_a_migration_cut_short_by_a_crash_leaves_nothing_and_runs_again(
    backend: str,
    version: int,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A migration's statements and its row in ``schema_version`` are one transaction on
    SQLite too, as on PostgreSQL: a crash between them leaves the schema as it was, and
    the next start applies the migration again. Before, SQLite ran each ALTER TABLE on
    its own (its driver opens a transaction only for INSERT, UPDATE and DELETE), so
    migration 8 (four columns added to ``alerts``) or 11 cut short left columns added but
    not recorded, and every later start failed on "duplicate column name": the ledger
    could not be opened again."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        url, _ = fresh_schema(request.getfixturevalue("postgres_url"))
    old = open_ledger(url, NOW, migrate=False)
    assert old.migrate(NOW, upto=version - 1) == version - 1
    cut = tuple(_dies_after(m) if m.version == version else m for m in MIGRATIONS)
    monkeypatch.setattr(store, "MIGRATIONS", cut)
    with pytest.raises(_Killed):
        old.migrate(NOW)
    old.close()
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS)
    again = open_ledger(url, NOW + 1)
    assert again.schema_version() == SCHEMA_VERSION
    if version == 8:
        columns = {c["name"] for c in sa.inspect(again.engine).get_columns("alerts")}
        assert {"attempts", "last_error", "last_attempt_at", "given_up_at"} <= columns
    again.close()


def test_prune_keeps_the_runs_still_open_with_their_intents_and_progress(ledger: Ledger) -> None:
    """A run still open (running: its recovery failing for days, or a drain or a write not
    settled; stopped by a long pause; verifying, its check failing) is open work however
    old: its execution, the intents of its steps already written (the recovery carries it
    on from its first step with none: a pruned intent would be written again), an undo in
    flight (``undoing``) and its verification's progress all stay. Before, prune took
    every intent not ``pending`` and every execution not running or paused by age alone,
    so a run verifying lost its execution and a running one its written steps."""
    old = NOW - 30 * 86400
    cut = NOW - 7 * 86400
    opened = ledger.record_decision(decision(status="executing"), old)
    runs = {"running": "run/a", "paused": "run/b", "verifying": "run/c", "succeeded": "run/d"}
    for status, key in runs.items():
        assert ledger.claim_execution(key, opened, "rb", "Deployment/shop/web", "me", old)
        if status != "running":
            assert ledger.set_execution_status(key, ["running"], status, old)
        written = ledger.record_intent(key, 0, {"op": "restart"}, {"spec": 1}, "me", old, opened)
        assert written is not None
        assert ledger.finish_intent(written, "applied", old, {"summary": "restarted"})
    undoing = ledger.record_intent("run/e", 0, {"op": "scale"}, {"replicas": 2}, "me", old, opened)
    assert undoing is not None
    assert ledger.finish_intent(undoing, "applied", old)
    assert ledger.finish_intent(undoing, "undoing", old, expected=("applied",))
    assert ledger.put_guard("verify/run/c", {"status": "pending"}, 0, old)
    assert ledger.put_guard("verify/run/d", {"status": "succeeded"}, 0, old)

    counts = ledger.prune(cut)

    assert [i.execution_key for i in ledger.intents()] == ["run/a", "run/b", "run/c", "run/e"]
    assert [i.status for i in ledger.intents(execution_key="run/e")] == ["undoing"]
    assert [ledger.execution(key) is not None for key in runs.values()] == [
        True,
        True,
        True,
        False,  # finished: history, pruned by age
    ]
    assert ledger.guard_keys("verify/") == ["verify/run/c"]
    assert counts["intents"] == 1 and counts["executions"] == 1


def test_long_names_are_stored_whole_on_both_databases(ledger: Ledger) -> None:
    """A subject, incident, guard key, run key or series key longer than its column's old
    VARCHAR length (an anomaly series keyed by all its labels: cAdvisor's ``id`` and
    ``name`` alone can pass 200 characters) is stored and read back whole on PostgreSQL
    as on SQLite. Before, PostgreSQL refused the write (SQLSTATE 22001, "value too long
    for type character varying(300)") where SQLite, which does not enforce the length,
    kept it: the anomaly loop could not save such a series' detector, nor record its
    incident, on PostgreSQL only."""
    labels = ",".join(f"label{i}=value-{i}-{'x' * 40}" for i in range(12))
    series = f"errors{{{labels}}}"
    assert len(series) > 500
    run = f"runbook/{series}/incident-1"
    decided = ledger.record_decision(
        decision(
            kind="anomaly",
            decision_type=f"anomaly/{'q' * 250}",
            subject=series,
            incident_key=f"anomaly:{series}",
            reason_code="R" * 100,
            model_version="m" * 150,
            route="observe",
        ),
        NOW,
    )
    record = ledger.get_decision(decided)
    assert record is not None
    assert (record.subject, record.incident_key) == (series, f"anomaly:{series}")
    assert ledger.put_guard(f"anomaly/{series}", {"last_ts": NOW}, 0, NOW)
    assert ledger.put_guards([(f"anomaly/{series}-2", {"last_ts": NOW}, 0)], NOW) == [True]
    assert ledger.guard_keys("anomaly/") == [f"anomaly/{series}", f"anomaly/{series}-2"]
    owner = "autonomic-" + "p" * 200
    assert ledger.claim_execution(run, decided, "r" * 150, series, owner, NOW)
    intent = ledger.record_intent(run, 0, {"op": "restart"}, {}, owner, NOW, decided)
    assert intent is not None and ledger.intents(execution_key=run)[0].id == intent
    ledger.log_action("r" * 150, series, NOW, decided)
    assert ledger.last_action_at(series) == NOW
    ledger.add_feedback(decided, "answer", "approved", "u" * 200, NOW)
    ledger.record_held_back([held(series, reason="R" * 100, runbook="r" * 150)])
    assert [row.subject for row in ledger.held_back()] == [series]
    ledger.record_model_version(series, "m" * 150, "v" * 150, "live", {}, {}, NOW)
    live = ledger.live_model(series)
    assert live is not None and live["version"] == "v" * 150
