"""The reading commands agree on time and on `--since`: every time in UTC, and a window
with nothing in it on a ledger that keeps older records (as `simulate --ledger` writes,
on its trace's clock) says when the newest was and how to list it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from agent.cli import main
from agent.ledger import Decision, HeldBack, open_ledger

DAY = 86400.0
# A trace's clock: two years before now, past the longest duration --since takes.
OLD = 730 * DAY


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("AUTONOMIC__")]:
        monkeypatch.delenv(name)


@pytest.fixture
def old_ledger(tmp_path: Path) -> tuple[str, str, float]:
    """A ledger whose records are all two years old: its URL, the one decision's id,
    and when it and the one record held back were last seen."""
    url = f"sqlite:///{tmp_path / 'sim.sqlite'}"
    at = time.time() - OLD
    ledger = open_ledger(url, at - 60)
    try:
        decision_id = ledger.record_decision(_decision("scaling"), at)
        ledger.record_held_back(
            [
                HeldBack(
                    runbook="restart-stuck-pods",
                    subject="Deployment/shop/web",
                    reason_code="Cooldown",
                    outcome="denied",
                    message="Cooldown holds it",
                    signal="kubernetes PodNotReady",
                    first_seen=at - 600,
                    last_seen=at,
                    times=3,
                )
            ]
        )
    finally:
        ledger.close()
    return url, decision_id, at


def _decision(kind: str) -> Decision:
    return Decision(
        kind=kind,
        decision_type=f"{kind}/test",
        subject="Deployment/shop/web",
        proposal={"op": "set_hpa_min_replicas", "from": 2, "to": 5},
        confidence=0.9,
        reason_code="Test",
        reason="a test",
        evidence={},
        model_version="test",
        route="auto",
        status="verified",
    )


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def test_history_prints_utc_as_why_and_approvals_do_whatever_the_local_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    at = time.time() - 3600
    ledger = open_ledger(url, at - 60)
    try:
        decision_id = ledger.record_decision(_decision("scaling"), at)
    finally:
        ledger.close()
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # UTC+9, no daylight saving
    time.tzset()
    try:
        _, history, _ = _run(capsys, "history", "--ledger", url)
        _, why, _ = _run(capsys, "why", "web", "--ledger", url)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert history.splitlines()[0] == "Decisions in the last 1d, newest first (times UTC):"
    line = next(x for x in history.splitlines() if decision_id[:12] in x)
    assert line.startswith(_utc(at) + "  ")
    # why says the same moment in the same words, UTC named on it
    assert f"{decision_id[:12]}  {_utc(at)} UTC" in why


def test_history_on_an_old_ledger_says_when_the_newest_was_and_since_all_lists_it(
    old_ledger: tuple[str, str, float], capsys: pytest.CaptureFixture[str]
) -> None:
    url, decision_id, at = old_ledger
    code, out, _ = _run(capsys, "history", "--ledger", url)
    assert code == 0
    assert out.splitlines()[:2] == [
        "No decisions in the last 1d.",
        f"The newest decision is older: {_utc(at)} UTC (730 days ago); --since all lists it.",
    ]
    code, out, _ = _run(capsys, "history", "--since", "all", "--ledger", url)
    assert code == 0
    assert decision_id[:12] in out
    assert out.splitlines()[-1] == "1 decision in the ledger: 1 automatic (1 verified)"
    # --json keeps its list on stdout; the hint goes to stderr
    code, out, err = _run(capsys, "history", "--json", "--ledger", url)
    assert code == 0 and json.loads(out) == []
    assert "--since all lists it" in err
    _, out, _ = _run(capsys, "history", "--json", "--since", "ALL", "--ledger", url)
    assert [row["id"] for row in json.loads(out)] == [decision_id]


def test_history_names_a_window_that_would_reach_the_newest_when_one_can(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    at = time.time() - 2.4 * DAY
    ledger = open_ledger(url, at - 60)
    try:
        ledger.record_decision(_decision("canary"), at)
    finally:
        ledger.close()
    _, out, _ = _run(capsys, "history", "--job", "canary", "--ledger", url)
    assert out.splitlines()[1] == (
        f"The newest decision of canary is older: {_utc(at)} UTC (2 days ago); "
        "--since 3d or --since all lists it."
    )
    _, out, _ = _run(capsys, "history", "--since", "3d", "--ledger", url)
    assert out.splitlines()[-1].startswith("1 decision in 3d")
    # a filter that matches nothing, ever, says nothing about older records
    _, out, _ = _run(capsys, "history", "--job", "anomaly", "--ledger", url)
    assert "older" not in out


def test_why_on_an_old_ledger_says_when_the_newest_was_and_since_all_lists_it(
    old_ledger: tuple[str, str, float], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, at = old_ledger
    code, out, _ = _run(capsys, "why", "--since", "1d", "--ledger", url)
    assert code == 0
    assert out.splitlines()[:2] == [
        "Nothing held back in the last 1d.",
        f"The newest record held back is older: {_utc(at)} UTC (730 days ago); "
        "--since all lists it.",
    ]
    code, out, _ = _run(capsys, "why", "web", "--since", "all", "--ledger", url)
    assert code == 0
    assert out.splitlines()[0] == "Held back for web, newest first:"
    code, out, err = _run(capsys, "why", "--since", "1d", "--json", "--ledger", url)
    assert code == 0 and json.loads(out) == {"held_back": [], "decisions": []}
    assert "--since all lists it" in err


@pytest.mark.parametrize("command", ["history", "why"])
def test_a_bad_since_is_refused_alike_and_names_all(
    old_ledger: tuple[str, str, float], capsys: pytest.CaptureFixture[str], command: str
) -> None:
    url, _, _ = old_ledger
    code, out, err = _run(capsys, command, "--since", "400d", "--ledger", url)
    assert code == 2 and out == ""
    assert err.startswith("autonomic: error: --since: a duration must be at most 366d")
    assert "--since all for every record" in err
