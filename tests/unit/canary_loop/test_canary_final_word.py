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
