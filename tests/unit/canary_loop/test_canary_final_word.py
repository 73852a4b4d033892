"""A watched canary verdict's judgment is kept with its final word before the word is
said: a process that dies between the two leaves the rewrite of the question's message
to the next process's first sync, which restates the kept words
(``DecisionService._final_word``). Before, the word went out first: a crash after it
left no verdict, and the resumed watch judged the verdict again and said it twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.ledger import Ledger, open_ledger
from agent.loops.canary import Watch
from agent.sim.cluster import SimCluster
from tests.unit.canary_loop.test_canary_watch_each import _rollback
from tests.unit.test_canary_route import CANARY, STABLE, Rig


class Crash(BaseException):
    """The process killed (a BaseException: per-item guards do not catch it)."""


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    ledger: Ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    made = Rig(ledger, 1.0)
    assert isinstance(made.cluster, SimCluster)
    made.cluster.remove_workload(CANARY)
    made.loop.metrics = made.metrics
    yield made
    made.close()
    ledger.close()


def test_a_judged_verdict_is_kept_with_its_final_word_before_the_word_is_said(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    search = _rollback(rig, STABLE, "done")
    rig.clock.advance(60)
    rig.loop.cycle()  # read back after a restart: watched
    assert search in rig.loop.watching
    said: list[str] = []

    def crash(decision_id: str, text: str, **kwargs: Any) -> None:
        said.append(text)
        raise Crash

    monkeypatch.setattr(rig.loop.decisions, "progress", crash)
    assert isinstance(rig.cluster, SimCluster)
    rig.cluster.roll_out(STABLE, "search:4")  # the rejected release made the stable's
    rig.clock.advance(60)
    with pytest.raises(Crash):
        rig.loop.cycle()
    [word] = said
    assert word.startswith("wrong: the release the judge rolled back")
    rows = [r for r in rig.ledger.feedback_for(search) if r["kind"] == "verification"]
    assert [r["outcome"] for r in rows] == ["wrong"]  # before: none, the word went first
    assert rows[0]["detail"]["said"] == word


def test_a_verdict_another_replica_judged_first_is_not_said_again_here(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas watch one acted-on verdict (the old leader's watch still running as
    the new one's runs): the judgment is kept once, and only the replica that wrote it
    says its word. Before, ``record_outcome`` told nothing, so the second rewrote the
    question's message with its word after the first's."""
    search = _rollback(rig, STABLE, "done")
    rig.clock.advance(60)
    rig.loop.cycle()
    assert search in rig.loop.watching
    first = "wrong: judged by the other replica"
    assert rig.loop.decisions.record_outcome(
        search, right=False, status="done", detail={"said": first}
    )
    said: list[str] = []
    monkeypatch.setattr(
        rig.loop.decisions, "progress", lambda decision_id, text, **kw: said.append(text)
    )
    assert isinstance(rig.cluster, SimCluster)
    rig.cluster.roll_out(STABLE, "search:4")  # this replica judges it now too
    rig.clock.advance(60)
    rig.loop.cycle()
    assert search not in rig.loop.watching
    assert said == []
    rows = [r for r in rig.ledger.feedback_for(search) if r["kind"] == "verification"]
    assert [(r["outcome"], r["detail"]["said"]) for r in rows] == [("wrong", first)]


def test_an_unverified_verdict_two_replicas_judge_is_kept_and_said_once(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A verdict that comes out with no verdict ("unverified": a promotion not made
    within the hour) judged by two replicas at once (the old leader's watch still
    running beside the new one's): one row, and one word. Before, its row was a plain
    ``add_feedback`` (not once-only) and its word said whatever the ledger held, so
    each replica wrote its row and said it: two rows, the message and thread twice."""
    search = _rollback(rig, STABLE, "done")
    watch = Watch(search, "promote", STABLE, ("search:4",), ("search:3",), rig.clock.now())
    said: list[str] = []
    monkeypatch.setattr(
        rig.loop.decisions, "progress", lambda decision_id, text, **kw: said.append(text)
    )
    outcome = (None, "not promoted within the hour: nothing to judge")
    rig.loop._judged(watch, outcome, ("search:3",), rig.clock.now())  # one replica
    rig.loop._judged(watch, outcome, ("search:3",), rig.clock.now())  # the other
    assert said == ["unverified: not promoted within the hour: nothing to judge"]
    rows = [r for r in rig.ledger.feedback_for(search) if r["kind"] == "verification"]
    assert [r["outcome"] for r in rows] == ["unverified"]


def test_a_verdict_whose_hour_ended_unwatched_is_closed_once(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas reading back (a restart's, a new term's ``_resume``) one acted-on
    verdict whose hour ended unwatched, both finding no verification, close it
    ``unverified`` once: before, each wrote its own row."""
    search = _rollback(rig, STABLE, "done")
    rig.clock.advance(2 * 3600)
    record = rig.ledger.get_decision(search)
    assert record is not None
    rig.loop._resume_one(record, rig.clock.now())  # one replica
    # The other read the verdict's rows before the first replica's write.
    monkeypatch.setattr(rig.ledger, "feedback_for", lambda decision_id: [])
    rig.loop._resume_one(record, rig.clock.now() + 1)
    monkeypatch.undo()
    rows = [r for r in rig.ledger.feedback_for(search) if r["kind"] == "verification"]
    assert [r["outcome"] for r in rows] == ["unverified"]
