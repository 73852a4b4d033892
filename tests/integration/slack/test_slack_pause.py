"""A pause, its resume and its lapse are each said once in the Slack channel by the
leader (``PauseWatch`` over ``build_approvals``' channel, against the stand-in); a
standby says nothing; Slack failing does not stop the pause."""

from __future__ import annotations

import logging

import pytest

from agent.observability import Metrics
from agent.pause import PauseWatch, pause, resume
from tests.integration.slack.conftest import CHANNEL, NOW, Rig


def _watch(rig: Rig, *, leader: bool = True) -> PauseWatch:
    return PauseWatch(
        rig.ledger,
        rig.clock,
        set_gauge=Metrics().paused.set,
        announce=rig.approvals.announce,
        is_leader=lambda: leader,
    )


def _posted(rig: Rig) -> list[str]:
    return [m.text for m in rig.slack.messages.values() if m.channel == CHANNEL]


def test_pause_and_resume_are_said_once_in_the_channel_by_the_leader(rig: Rig) -> None:
    pause(rig.ledger, by="cli:hana", reason="it restarts <everything>", now=NOW)
    _watch(rig, leader=False).look()
    assert _posted(rig) == []  # a standby says nothing
    leader = _watch(rig)
    leader.look()
    leader.look()
    (said,) = _posted(rig)
    assert said.startswith("Autonomic paused by cli:hana at ")
    assert "it restarts &lt;everything&gt;" in said  # escaped: no mention, no link
    assert "`autonomic resume` ends it" in said
    # a new leader does not say it again
    _watch(rig).look()
    assert len(_posted(rig)) == 1
    rig.clock.advance(60)
    resume(rig.ledger, by="cli:ivan", now=rig.clock())
    leader.look()
    posted = _posted(rig)
    assert len(posted) == 2
    assert posted[1].startswith("Autonomic resumed by cli:ivan at ")
    assert "paused by cli:hana" in posted[1]


def test_slack_down_the_pause_holds_and_the_log_says_it(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    rig.slack.go_unreachable()
    pause(rig.ledger, by="cli:hana", reason="x", now=NOW, until=NOW + 60)
    watch = _watch(rig)
    assert watch.look() is not None
    rig.clock.advance(61)
    assert watch.look() is None  # lapsed, recorded, though nothing could be posted
    said = [r.getMessage() for r in caplog.records if r.name == "autonomic.pause"]
    assert len(said) == 2 and "lapsed at" in said[1]
    assert any("could not post to slack" in r.getMessage() for r in caplog.records)
