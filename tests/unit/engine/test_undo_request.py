"""A person undoes a verified action (`autonomic undo ID`): the request is recorded in the
ledger by the command line, and the leader carries it out at its next remediation cycle
through the executor's undo, exactly once, never over someone else's change since."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.cli import main
from agent.cli.explain_cmd import render
from agent.errors import TransientError
from agent.ledger import Decision, DecisionRecord
from agent.undo import ended, request
from tests.unit.engine.harness import WEB, Rig, restarted, rig, web

ROLLBACK = "crashloop-after-rollout-rollback"


def _verified_rollback(tmp_path: Path) -> tuple[Rig, DecisionRecord]:
    """shop/web:2 crash-loops; Autonomic rolls back to shop/web:1, verified."""
    r = rig(tmp_path)
    r.sim.add_workload(web(bad_images={"shop/web:2"}))
    r.sim.roll_out(WEB, "shop/web:2")
    r.run(15 * 60)
    (decision,) = [
        d for d in r.ledger.decisions(kind="remediation") if d.decision_type.startswith(ROLLBACK)
    ]
    assert decision.status == "verified"
    assert r.sim.workloads[WEB].template.image == "shop/web:1"
    return r, decision


def _kinds(r: Rig, decision: DecisionRecord) -> list[tuple[str, str, str]]:
    return [(f["kind"], f["outcome"], f["actor"]) for f in r.ledger.feedback_for(decision.id)]


def _undo_writes(r: Rig) -> list[str]:
    return [w[1] for w in r.sim.writes if w[1].startswith("undo:")]


def _cli(r: Rig, tmp_path: Path, *argv: str) -> int:
    return main(["undo", *argv, "--ledger", f"sqlite:///{tmp_path / 'ledger.sqlite'}"])


def test_a_requested_undo_is_carried_out_by_the_leader_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r, decision = _verified_rollback(tmp_path)
    assert _cli(r, tmp_path, decision.id[:8], "--reason", "the DB was down", "--as", "alice") == 0
    out = capsys.readouterr().out
    assert "requested by alice" in out and (
        "It will: on Deployment/shop/web, put back the release it rolled back from." in out
    )
    # Nothing is written by the command line: the decision waits for the leader.
    assert r.ledger.get_decision(decision.id).status == "undo-requested"  # type: ignore[union-attr]
    assert _undo_writes(r) == []
    assert "an undo was requested by alice; the daemon's leader carries it out" in render(
        r.ledger, decision.id
    )
    # A second request (another person) is refused: one undo.
    assert _cli(r, tmp_path, decision.id[:8], "--as", "bob") == 2
    assert "already requested" in capsys.readouterr().err
    # Two engines on one ledger (a replica that took over): the step is undone once.
    other = restarted(r)
    r.run(30)
    other.engine.undo_requested()
    assert _undo_writes(r) == ["undo:rollback"]
    assert r.sim.workloads[WEB].template.image == "shop/web:2"
    fresh = r.ledger.get_decision(decision.id)
    assert fresh is not None and fresh.status == "undone"
    (intent,) = r.ledger.intents()
    assert intent.status == "undone" and intent.result["undo"] is True
    assert _kinds(r, decision)[-3:] == [
        ("undo-request", "requested", "alice"),
        ("correction", "wrong", "alice"),
        ("undo", "undone", "autonomic"),
    ]
    # The learner counts it wrong, as `feedback --wrong` would.
    assert r.ledger.outcomes(decision.decision_type)[0][2] == "wrong"
    story = render(r.ledger, decision.id)
    assert "undo-request: requested (alice)" in story and "undo: undone (autonomic)" in story
    assert "status now: undone" in story
    (line,) = [x for x in story.splitlines() if "undo: undone (autonomic)" in x]
    assert '"message"' not in line  # the progress line says those words already
    # Asking again once it is undone is refused, with the reason.
    assert _cli(r, tmp_path, decision.id[:8]) == 2
    assert "already undone" in capsys.readouterr().err


def test_an_undo_over_a_rollout_made_since_is_refused_and_explained(tmp_path: Path) -> None:
    r, decision = _verified_rollback(tmp_path)
    request(r.ledger, decision, actor="alice", reason=None, at=r.clock.now())
    r.clock.advance(5)
    r.sim.roll_out(WEB, "shop/web:3")  # a person ships a fix meanwhile
    r.run(30)
    assert _undo_writes(r) == []
    assert r.sim.workloads[WEB].template.image == "shop/web:3"  # theirs, kept
    fresh = r.ledger.get_decision(decision.id)
    assert fresh is not None and fresh.status == "verified"
    (refusal,) = [f for f in r.ledger.feedback_for(decision.id) if f["kind"] == "undo"]
    assert refusal["outcome"] == "refused"
    assert "changed Deployment/shop/web after our action" in refusal["detail"]["why"]
    assert "not undoing their change" in render(r.ledger, decision.id)
    # The person's verdict stays: it was wrong, undone or not.
    assert ("correction", "wrong", "alice") in _kinds(r, decision)


def test_what_cannot_be_undone_is_refused_by_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r, decision = _verified_rollback(tmp_path)
    # A step with no undo (a pod deleted) among what it wrote.
    key = decision.incident_key or decision.id
    pod = {"op": "delete_pod", "target": {"kind": "Pod", "name": "web-1", "namespace": "shop"}}
    step = r.ledger.record_intent(key, 1, pod, {}, "test", r.clock.now(), decision.id)
    assert step is not None
    r.ledger.finish_intent(step, "applied", r.clock.now(), {})
    assert _cli(r, tmp_path, decision.id[:8]) == 2
    err = capsys.readouterr().err
    assert "step 1 (delete_pod on Pod/shop/web-1) has no undo" in err
    assert r.ledger.get_decision(decision.id).status == "verified"  # type: ignore[union-attr]
    assert "undo-request" not in [k for k, _, _ in _kinds(r, decision)]


def test_a_decision_never_executed_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = rig(tmp_path, auto=0.95, ask=0.5)
    r.sim.add_workload(web(bad_images={"shop/web:2"}))
    r.sim.roll_out(WEB, "shop/web:2")
    r.run(6 * 60)
    (decision,) = r.ledger.decisions(kind="remediation")
    assert decision.status == "asked"
    assert _cli(r, tmp_path, decision.id[:8]) == 2
    assert "it was never executed, so there is nothing to undo" in capsys.readouterr().err


def _record(r: Rig, decision_type: str, status: str, operations: list[object]) -> str:
    return r.ledger.record_decision(
        Decision(
            kind="remediation",
            decision_type=decision_type,
            subject=str(WEB),
            proposal={"operations": operations, "target": {"kind": "Deployment"}},
            confidence=0.9,
            reason_code="Test",
            reason="test",
            evidence={},
            model_version="test",
            route="auto",
            status=status,
        ),
        r.clock.now(),
    )


def test_a_later_action_on_the_target_is_undone_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r, decision = _verified_rollback(tmp_path)
    r.clock.advance(60)
    scale = {"op": "scale", "target": {"kind": "Deployment", "name": "web", "namespace": "shop"}}
    later = _record(r, "traffic-surge-scale-out/Deployment", "verified", [scale])
    assert _cli(r, tmp_path, decision.id[:8]) == 2
    err = capsys.readouterr().err
    assert f"acted on since by decision {later[:12]}" in err
    assert f"undo {later[:12]} first" in err


def test_a_hand_off_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r, _ = _verified_rollback(tmp_path)
    held = _record(r, f"held/{ROLLBACK}", "escalated", [])
    assert _cli(r, tmp_path, held[:8]) == 2
    assert "is a hand-off" in capsys.readouterr().err


def test_an_undo_the_api_did_not_answer_is_tried_again_next_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r, decision = _verified_rollback(tmp_path)
    request(r.ledger, decision, actor="alice", reason=None, at=r.clock.now())
    undo = r.sim.undo

    def away(*args: object, **kwargs: object) -> object:
        raise TransientError("the API server did not answer", reason="ApiUnavailable")

    monkeypatch.setattr(r.sim, "undo", away)
    r.run(30)
    waiting = r.ledger.get_decision(decision.id)
    assert waiting is not None and waiting.status == "undo-requested"
    # read back: the Deployment still runs what Autonomic wrote, so the undo did not land
    (intent,) = r.ledger.intents()
    assert intent.status == "applied" and "undo_not_landed" in intent.result
    assert "undo" not in [k for k, _, _ in _kinds(r, decision)]
    monkeypatch.setattr(r.sim, "undo", undo)
    r.run(30)
    assert _undo_writes(r) == ["undo:rollback"]
    done = r.ledger.get_decision(decision.id)
    assert done is not None and done.status == "undone"


def test_an_undo_that_landed_though_the_api_did_not_answer_is_undone_not_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The undo's write reaches the cluster, its answer does not (a timeout). Asked
    again, the writer finds Autonomic's values gone and refuses, as the Kubernetes
    adapter does (``ChangedSinceWrite``): that is the undo itself, not someone else."""
    from agent.errors import PermanentError

    r, decision = _verified_rollback(tmp_path)
    request(r.ledger, decision, actor="alice", reason=None, at=r.clock.now())
    undo = r.sim.undo
    calls: list[str] = []

    def lost_answer(operation: object, before: dict[str, object]) -> object:
        calls.append("undo")
        if r.sim.workloads[WEB].template.image != "shop/web:1":  # not what Autonomic wrote
            raise PermanentError("not undoing: changed since", reason="ChangedSinceWrite")
        result = undo(operation, before)  # type: ignore[arg-type]
        if len(calls) == 1:
            raise TransientError("the API server did not answer", reason="ApiUnavailable")
        return result

    monkeypatch.setattr(r.sim, "undo", lost_answer)
    r.run(30)
    assert r.sim.workloads[WEB].template.image == "shop/web:2"  # it did land
    r.run(60)
    assert _undo_writes(r) == ["undo:rollback"]  # written once
    (intent,) = r.ledger.intents()
    assert intent.status == "undone"
    done = r.ledger.get_decision(decision.id)
    assert done is not None and done.status == "undone"
    assert [o for k, o, _ in _kinds(r, decision) if k == "undo"] == ["undone"]


def test_a_timed_out_undo_that_landed_is_read_back_as_undone_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write lands, its answer is lost: the target is read back in the same cycle
    and the undo recorded as done, not written a second time."""
    r, decision = _verified_rollback(tmp_path)
    request(r.ledger, decision, actor="alice", reason=None, at=r.clock.now())
    undo = r.sim.undo
    calls: list[str] = []

    def lost_answer(operation: object, before: dict[str, object]) -> object:
        calls.append("undo")
        undo(operation, before)  # type: ignore[arg-type]
        raise TransientError("the API server did not answer", reason="ApiUnavailable")

    monkeypatch.setattr(r.sim, "undo", lost_answer)
    r.run(30)
    assert calls == ["undo"]  # one attempt, read back, not retried
    (intent,) = r.ledger.intents()
    assert intent.status == "undone" and intent.result["read_back"] is True
    assert "reads back as it was before Autonomic's write" in intent.result["summary"]
    done = r.ledger.get_decision(decision.id)
    assert done is not None and done.status == "undone"
    r.run(60)
    assert calls == ["undo"]


def test_a_timed_out_undo_that_did_not_land_is_not_recorded_undone_over_a_persons_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The undo's write never reached the cluster, and the read-back cannot happen
    either: the step stays in flight. Then a person ships their own release, which a
    writer's compare-and-set refuses to overwrite (``ChangedSinceWrite``). That refusal
    used to be taken for the undo having landed: the step and the decision recorded
    undone, while the cluster runs the person's release, not the one undone to."""
    from agent.errors import PermanentError

    r, decision = _verified_rollback(tmp_path)
    request(r.ledger, decision, actor="alice", reason=None, at=r.clock.now())
    undo, snapshot = r.sim.undo, r.sim.snapshot

    def away(*args: object, **kwargs: object) -> object:
        raise TransientError("the API server did not answer", reason="ApiUnavailable")

    def guarded(operation: object, before: dict[str, object]) -> object:
        if r.sim.workloads[WEB].template.image != "shop/web:1":  # not what Autonomic wrote
            raise PermanentError(
                "not undoing on Deployment/shop/web: someone else has changed it since",
                reason="ChangedSinceWrite",
            )
        return undo(operation, before)  # type: ignore[arg-type]

    monkeypatch.setattr(r.sim, "undo", away)
    monkeypatch.setattr(r.sim, "snapshot", away)
    r.run(30)
    (intent,) = r.ledger.intents()
    assert intent.status == "undoing"  # not known: neither written nor read
    monkeypatch.setattr(r.sim, "snapshot", snapshot)
    monkeypatch.setattr(r.sim, "undo", guarded)
    r.sim.roll_out(WEB, "shop/web:3")  # a person's release, meanwhile
    r.run(60)
    assert r.sim.workloads[WEB].template.image == "shop/web:3"  # theirs, kept
    (intent,) = r.ledger.intents()
    assert intent.status == "applied"  # nothing was undone
    assert "someone else has changed it since" in intent.result["undo_refused"]["why"]
    fresh = r.ledger.get_decision(decision.id)
    assert fresh is not None and fresh.status == "verified"
    (refusal,) = [f for f in r.ledger.feedback_for(decision.id) if f["kind"] == "undo"]
    assert refusal["outcome"] == "refused" and refusal["detail"]["undone"] == []


def test_an_undo_asked_while_paused_says_it_waits_for_the_pause_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.pause import pause

    r, decision = _verified_rollback(tmp_path)
    pause(r.ledger, by="carol", reason="hands off shop", now=r.clock.now())
    capsys.readouterr()
    assert _cli(r, tmp_path, decision.id[:8], "--as", "alice") == 0
    out = capsys.readouterr().out
    assert re.search(
        r"note: Autonomic is paused by carol at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, ", out
    )
    assert "until resumed: hands off shop. The undo waits, requested" in out


def _undo_count(r: Rig, outcome: str) -> float:
    value: float = r.decisions.metrics.undo_requests.labels(outcome=outcome)._value.get()
    return value


def test_an_undo_held_by_a_pause_past_its_deadline_expires_and_is_not_carried_out(
    tmp_path: Path,
) -> None:
    """It used to wait, requested, for as long as the pause held, and then run: an undo
    written hours later over a cluster nobody looked at with it in mind."""
    from agent.pause import pause, resume

    r, decision = _verified_rollback(tmp_path)
    pause(r.ledger, by="carol", reason="hands off shop", now=r.clock.now())
    request(r.ledger, decision, actor="alice", reason=None, at=r.clock.now(), ttl=600)
    r.run(300)
    assert r.ledger.get_decision(decision.id).status == "undo-requested"  # type: ignore[union-attr]
    story = render(r.ledger, decision.id, now=r.clock.now())
    # the time in the listings' shape, as every sentence a person reads writes it
    assert re.search(
        r"it expires if not carried out by \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\b", story
    )
    r.run(330)  # past the deadline, still paused
    assert _undo_writes(r) == []
    fresh = r.ledger.get_decision(decision.id)
    assert fresh is not None and fresh.status == "verified"
    (expired,) = [f for f in r.ledger.feedback_for(decision.id) if f["kind"] == "undo"]
    assert expired["outcome"] == "expired"
    why = expired["detail"]["why"]
    assert "requested by alice" in why and "safety.undoRequestTTL, 10 min" in why
    assert "Autonomic is paused (paused by carol" in why
    assert f"ask again: autonomic undo {decision.id[:12]}" in why
    assert expired["detail"]["message"] == f"undo expired: {why}; it stays verified"
    story = render(r.ledger, decision.id, now=r.clock.now())
    assert "undo: expired (autonomic)" in story and "the undo alice requested expired" in story
    assert _undo_count(r, "expired") == 1
    resume(r.ledger, by="carol", now=r.clock.now())
    r.run(120)
    assert _undo_writes(r) == []  # not carried out late
    assert r.sim.workloads[WEB].template.image == "shop/web:1"


def test_an_undo_no_leader_ran_in_time_expires_when_a_leader_comes(tmp_path: Path) -> None:
    r, decision = _verified_rollback(tmp_path)
    request(r.ledger, decision, actor="alice", reason=None, at=r.clock.now())
    r.clock.advance(3 * 3600)  # no replica led meanwhile
    story = render(r.ledger, decision.id, now=r.clock.now())
    assert "the next leader's cycle marks it expired and does not carry it out" in story
    r.run(30)
    assert _undo_writes(r) == []
    fresh = r.ledger.get_decision(decision.id)
    assert fresh is not None and fresh.status == "verified"
    (expired,) = [f for f in r.ledger.feedback_for(decision.id) if f["kind"] == "undo"]
    assert "safety.undoRequestTTL, 60 min" in expired["detail"]["why"]
    assert "no leader carried it out in time" in expired["detail"]["why"]
    # A new request after it expired is taken, with a new deadline.
    request(r.ledger, fresh, actor="alice", reason=None, at=r.clock.now())
    r.run(30)
    assert _undo_writes(r) == ["undo:rollback"]
    assert _undo_count(r, "expired") == 1 and _undo_count(r, "undone") == 1


def test_each_settled_undo_is_counted_by_outcome(tmp_path: Path) -> None:
    r, decision = _verified_rollback(tmp_path)
    request(r.ledger, decision, actor="alice", reason=None, at=r.clock.now())
    r.sim.roll_out(WEB, "shop/web:3")  # a person's release: refused
    r.run(60)
    assert _undo_count(r, "refused") == 1 and _undo_count(r, "undone") == 0
    r.run(60)
    assert _undo_count(r, "refused") == 1  # counted once, when it ended


def test_the_command_says_when_the_undo_expires(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r, decision = _verified_rollback(tmp_path)
    config = tmp_path / "autonomic.yaml"
    config.write_text(
        f"ledger:\n  url: sqlite:///{tmp_path / 'ledger.sqlite'}\nsafety:\n  undoRequestTTL: 20m\n",
        encoding="utf-8",
    )
    assert main(["undo", decision.id[:8], "--as", "alice", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "it expires and is not carried out" in out and "(safety.undoRequestTTL, 20 min)" in out
    (asked,) = [f for f in r.ledger.feedback_for(decision.id) if f["kind"] == "undo-request"]
    assert asked["detail"]["expires_at"] - asked["created_at"] == pytest.approx(1200, abs=2)


def test_the_leader_offers_the_undo_button_and_rewrites_its_message_with_the_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = rig(tmp_path)
    offered: list[tuple[str, bool]] = []
    progress_for = r.decisions.approvals.progress_for

    def spy(decision_id: str, text: str, *, final: bool = False, offer_undo: bool = False) -> bool:
        offered.append((text.split(":", maxsplit=1)[0], offer_undo))
        return progress_for(decision_id, text, final=final, offer_undo=offer_undo)

    monkeypatch.setattr(r.decisions.approvals, "progress_for", spy)
    r.sim.add_workload(web(bad_images={"shop/web:2"}))
    r.sim.roll_out(WEB, "shop/web:2")
    r.run(15 * 60)
    assert ("verified", True) in offered
    (decision,) = [
        d for d in r.ledger.decisions(kind="remediation") if d.decision_type.startswith(ROLLBACK)
    ]
    rewritten: list[tuple[str, str]] = []
    monkeypatch.setattr(
        r.decisions.approvals, "rewrite", lambda ref, text: rewritten.append((ref, text))
    )
    request(
        r.ledger,
        decision,
        actor="U0ALICE",
        reason=None,
        at=r.clock.now(),
        via="slack",
        extra={"message_ref": "slack:C0OPS:1800000001.000002"},
    )
    r.run(30)
    ((ref, text),) = rewritten
    assert ref == "slack:C0OPS:1800000001.000002"
    assert text.startswith("undone at U0ALICE's request: ")
    # The words are kept with the outcome: a replica rewriting the message later (the
    # Slack receiver's "Undo requested by ...") writes them, not older ones.
    (asked,) = [f for f in r.ledger.feedback_for(decision.id) if f["kind"] == "undo-request"]
    assert ended(r.ledger, decision.id, asked["id"]) == text
