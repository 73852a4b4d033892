"""A runbook that saw a problem and did not act says why, durably: one ledger row per
(runbook, subject, reason), its count rising over cycles with writes bounded, a changed
reason written at once; the outcome counted in the metric; logged once, not each cycle;
and `autonomic why` reads it back through the CLI."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import pytest

from agent.cli import main
from agent.ledger import Decision, HeldBack, open_ledger
from agent.observability import Metrics
from agent.outcomes import WRITE_EVERY, RunbookOutcomes
from agent.remediation_engine import Handled
from remediation.guards import ActionRecord
from tests.unit.engine.harness import WEB, Rig, rig, web

CRASHLOOP = "crashloop-after-rollout-rollback"
KEY = (CRASHLOOP, "Deployment/shop/web")


def _crashlooping(tmp_path: Path, *, paused: bool = True, opted_in: bool = True) -> Rig:
    """web rolled out to an image that crash-loops; remediation paused (a guard)."""
    r = rig(tmp_path)
    if paused:
        r.engine.pause(True, "maintenance")
    workload = web(bad_images={"shop/web:2"})
    if not opted_in:
        workload = replace(workload, labels={"app": "web"})
    r.sim.add_workload(workload)
    r.sim.roll_out(WEB, "shop/web:2")
    return r


def _cycles(r: Rig, minutes: float) -> list[Handled]:
    """Cycle every 30 s, as the daemon does, the cluster moving in between."""
    handled: list[Handled] = []
    for _ in range(round(minutes * 2)):
        for _ in range(2):
            r.clock.advance(15)
            r.sim.advance(r.clock.now(), {})
        handled += r.engine.cycle()
    return handled


def _rows(r: Rig, runbook: str = CRASHLOOP) -> list[HeldBack]:
    return [row for row in r.ledger.held_back() if row.runbook == runbook]


def _spy(r: Rig, monkeypatch: pytest.MonkeyPatch) -> list[list[HeldBack]]:
    """Every batch the engine writes to the ledger (still written)."""
    batches: list[list[HeldBack]] = []
    real = r.ledger.record_held_back

    def record(rows: list[HeldBack]) -> None:
        batches.append(list(rows))
        real(rows)

    monkeypatch.setattr(r.ledger, "record_held_back", record)
    return batches


def _of(batches: list[list[HeldBack]], reason: str) -> list[HeldBack]:
    return [
        row
        for batch in batches
        for row in batch
        if (row.runbook, row.subject) == KEY and row.reason_code == reason
    ]


def _denied(handled: list[Handled], reason: str) -> int:
    return sum(
        1
        for h in handled
        if h.runbook == CRASHLOOP and (h.outcome, h.reason_code) == ("denied", reason)
    )


def _counted(r: Rig, outcome: str, reason: str, runbook: str = CRASHLOOP) -> float:
    value = r.decisions.metrics.registry.get_sample_value(
        "autonomic_runbook_outcomes_total",
        {"runbook": runbook, "outcome": outcome, "reason": reason},
    )
    return value or 0.0


def test_a_runbook_denied_cycle_after_cycle_is_one_row_its_count_rising_writes_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    r = _crashlooping(tmp_path)
    batches = _spy(r, monkeypatch)
    caplog.set_level(logging.INFO, logger="autonomic.remediation")
    handled = _cycles(r, 10)
    assert _denied(handled, "Paused") >= 10  # the crash loop is seen, cycle after cycle
    (first,) = _rows(r)
    assert (first.subject, first.outcome, first.reason_code) == (
        "Deployment/shop/web",
        "denied",
        "Paused",
    )
    assert first.message == "remediation is paused globally: maintenance"
    assert "CrashLoopBackOff on Pod/shop/web-2-" in first.signal
    handled += _cycles(r, 15)
    (row,) = _rows(r)
    assert row.times > first.times and row.last_seen > first.last_seen
    assert row.first_seen == first.first_seen
    denials = _denied(handled, "Paused")
    cycles = 50
    assert denials >= 40
    # Written when it appeared, then at most once per WRITE_EVERY; never every cycle.
    writes = _of(batches, "Paused")
    assert len(writes) <= 1 + cycles * 30 / WRITE_EVERY
    assert sum(w.times for w in writes) == row.times
    # What is not written yet is at most WRITE_EVERY's worth; the metric counts each.
    assert denials - row.times <= 3 * WRITE_EVERY / 30
    assert _counted(r, "denied", "Paused") == denials
    # The rest is written by a later cycle, signals or none (a storm that has passed).
    r.clock.advance(WRITE_EVERY)
    r.engine.handle([], r.engine.snapshot())
    assert _rows(r)[0].times == denials
    said = [m for m in caplog.messages if "held back on Deployment/shop/web" in m]
    assert said == [
        f"runbook {CRASHLOOP} held back on Deployment/shop/web: remediation is paused "
        "globally: maintenance [denied Paused]"
    ]
    # the other shipped runbooks did not take a crash loop up: nothing about them
    assert {row.runbook for row in r.ledger.held_back()} <= {CRASHLOOP, "restart-stuck-pods"}


def test_a_reason_that_changes_is_written_at_once_and_its_row_taken_up_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    r = _crashlooping(tmp_path)
    handled = _cycles(r, 8)
    batches = _spy(r, monkeypatch)
    caplog.set_level(logging.INFO, logger="autonomic.remediation")
    # Remediation resumes, but web was just acted on: the cooldown holds it now.
    now = r.clock.now()
    r.engine._update_guards(
        lambda s: replace(s, actions=(*s.actions, ActionRecord(CRASHLOOP, WEB, now)))
    )
    r.engine.pause(False)
    cooled = _cycles(r, 0.5)
    assert _denied(cooled, "Cooldown") >= 1
    by_reason = {row.reason_code: row for row in _rows(r)}
    assert set(by_reason) == {"Paused", "Cooldown"}
    cooldown, paused = by_reason["Cooldown"], by_reason["Paused"]
    # both at once, not at the next periodic write: the new reason and the end of the old
    assert cooldown.times == _denied(cooled, "Cooldown")
    assert cooldown.message.startswith("Deployment/shop/web was acted on 30s ago")
    assert paused.times == _denied(handled, "Paused")
    assert paused.last_seen == now
    assert r.ledger.held_back(subject="Deployment/shop/web")[0].reason_code == "Cooldown"
    assert [m for m in caplog.messages if "held back on Deployment/shop/web" in m] == [
        f"runbook {CRASHLOOP} held back on Deployment/shop/web: {cooldown.message} "
        "[denied Cooldown] (was: Paused)"
    ]
    # Paused again, later: the Paused row is taken up again at once.
    cooled += _cycles(r, 6)
    caplog.clear()
    r.engine.pause(True, "maintenance")
    again = _cycles(r, 0.5)
    paused_again = {row.reason_code: row for row in _rows(r)}["Paused"]
    assert paused_again.times == paused.times + _denied(again, "Paused")
    assert paused_again.last_seen == r.clock.now()
    assert paused_again.first_seen == paused.first_seen
    assert [m for m in caplog.messages if "held back on Deployment/shop/web" in m] == [
        f"runbook {CRASHLOOP} held back on Deployment/shop/web: remediation is paused "
        "globally: maintenance [denied Paused] (was: Cooldown)"
    ]
    assert len(_of(batches, "Cooldown")) <= 1 + 7 * 60 / WRITE_EVERY + 1


def test_a_target_not_selected_is_kept_a_condition_no_runbook_takes_is_not(
    tmp_path: Path,
) -> None:
    """web lacks the opt-in label: the crash-loop runbook's trigger accepts its pods'
    signals but cannot select web (no-match, kept, on the pod). Runbooks whose triggers
    accept nothing here (the pods are not yet not-ready for restart-stuck-pods' 15
    minutes) leave nothing: a condition no runbook takes up is not kept."""
    r = _crashlooping(tmp_path, paused=False, opted_in=False)
    handled = _cycles(r, 8)
    assert any(h.outcome == "no-match" and h.runbook is None for h in handled)
    rows = r.ledger.held_back()
    assert rows and {(row.runbook, row.outcome, row.reason_code) for row in rows} == {
        (CRASHLOOP, "no-match", "NotOptedIn")
    }
    assert all(row.subject.startswith("Pod/shop/web-2-") for row in rows)
    assert "lacks the opt-in label autonomic.dev/enabled=true" in rows[0].message
    assert r.ledger.decisions(kind="remediation") == []
    assert _counted(r, "no-match", "NotOptedIn") == sum(
        1 for h in handled if h.runbook == CRASHLOOP and h.reason_code == "NotOptedIn"
    )
    # labels are runbook names, outcomes and reason codes: never a target
    samples = [
        sample
        for family in r.decisions.metrics.registry.collect()
        if family.name == "autonomic_runbook_outcomes"
        for sample in family.samples
    ]
    assert samples and {s.labels["runbook"] for s in samples} <= set(r.engine.runbooks)
    assert not any("web" in value for s in samples for value in s.labels.values())
    # ``why web`` finds them by the workload's name: its pods are named after it
    assert {row.subject for row in r.ledger.held_back(subject="web")} == {
        row.subject for row in rows
    }
    assert r.ledger.held_back(subject="cart") == []


def _why(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["why", *args, "--ledger", f"sqlite:///{tmp_path / 'ledger.sqlite'}"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_why_through_the_cli_says_what_was_held_back_and_what_was_decided(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = _crashlooping(tmp_path)
    _cycles(r, 6)
    r.engine.pause(False)
    handled = _cycles(r, 1)
    (decided,) = {h.decision_id for h in handled if h.outcome == "decided"}
    assert decided is not None
    (row,) = _rows(r)
    code, out, _ = _why(tmp_path, capsys, "deploy/shop/web")
    assert code == 0
    lines = out.splitlines()
    first = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(row.first_seen))
    last = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(row.last_seen))
    assert lines[:2] == [
        "Held back for Deployment/shop/web, newest first:",
        f"  {last}  Deployment/shop/web  {CRASHLOOP}  denied Paused ({row.times} times since "
        f"{first}): remediation is paused globally: maintenance",
    ]
    assert lines[-2] == "Decided (autonomic explain ID tells the story):"
    assert lines[-1].startswith(f"  {decided[:12]}  ")
    assert lines[-1].endswith(f"Deployment/shop/web  {CRASHLOOP}/Deployment  auto -> verifying")
    # a name finds it too; a runbook that was not held back finds nothing
    assert _why(tmp_path, capsys, "web")[1].splitlines()[1] == lines[1]
    code, out, _ = _why(tmp_path, capsys, "web", "--runbook", "oom-raise-memory-limit")
    assert code == 0
    assert out.startswith("Nothing held back for web by oom-raise-memory-limit.\n")
    # an alert dropped as no longer firing is not kept: the empty answer says where it is
    assert out.splitlines()[1].endswith(
        "nor an alert that no longer fired when the remediation cycle took it in "
        "(AlertNotFiring: the daemon's log says it)."
    ), out
    # --since is counted back from now: the rig's fake clock is in the past
    code, out, _ = _why(tmp_path, capsys, "web", "--since", "1h")
    assert out.startswith("Nothing held back for web in the last 1h.\n")
    # a window given in plain seconds, or another unit, is said as a duration (it said
    # "in the last 3600.")
    for given in ("3600", "60m"):
        code, out, _ = _why(tmp_path, capsys, "web", "--since", given)
        assert out.startswith("Nothing held back for web in the last 1h.\n"), out
    assert "Decided" not in out
    code, out, _ = _why(tmp_path, capsys, "web", "--json")
    data = json.loads(out)
    assert data["held_back"] == [
        {
            "runbook": CRASHLOOP,
            "subject": "Deployment/shop/web",
            "reason_code": "Paused",
            "outcome": "denied",
            "message": "remediation is paused globally: maintenance",
            "signal": row.signal,
            "first_seen": row.first_seen,
            "last_seen": row.last_seen,
            "times": row.times,
        }
    ]
    assert [d["id"] for d in data["decisions"]] == [decided]
    # a negative window is refused as a duration ("--since -5m" was argparse's "expected
    # one argument", as if the value were missing)
    for given in ("soon", "-5m", "-1h30m"):
        code, _, err = _why(tmp_path, capsys, "web", "--since", given)
        assert code == 2 and err.startswith("autonomic: error: --since: expected a"), err


def test_why_says_a_runbook_name_the_ledger_never_saw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--runbook`` with a name no runbook had here (a typo) used to answer only
    "Nothing held back by NAME.", as for a runbook that held nothing back: it now says
    the name is unknown and which ones the ledger knows. A known name with nothing in
    the window, and a name with rows, get no such line."""
    r = _crashlooping(tmp_path)
    _cycles(r, 6)  # held back by the pause
    r.engine.pause(False)
    _cycles(r, 1)  # and run
    code, out, _ = _why(tmp_path, capsys, "--runbook", "crashloop-after-rollout-rolback")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Nothing held back by crashloop-after-rollout-rolback."
    assert lines[-1] == (  # before: the explanation of what is kept, and nothing more
        "No runbook named crashloop-after-rollout-rolback in this ledger (held back, run or "
        f"asked about): it knows {CRASHLOOP}."
    )
    for known in (["--runbook", CRASHLOOP, "--since", "1h"], ["--runbook", CRASHLOOP]):
        code, out, _ = _why(tmp_path, capsys, *known)
        assert code == 0 and "No runbook named" not in out
    empty = tmp_path / "empty"
    empty.mkdir()
    rig(empty)  # a ledger with no runbook held back or run yet
    code, out, _ = _why(empty, capsys, "--runbook", CRASHLOOP)
    assert out.splitlines()[-1] == (
        f"No runbook named {CRASHLOOP} in this ledger: none has been held back, run or asked "
        "about yet."
    )


def test_why_counts_since_back_from_now_and_says_when_there_is_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = rig(tmp_path)
    now = time.time()

    def row(subject: str, reason: str, last: float) -> HeldBack:
        return HeldBack(
            runbook="restart-stuck-pods",
            subject=subject,
            reason_code=reason,
            outcome="denied",
            message=f"{reason} holds it",
            signal=f"kubernetes PodNotReady on {subject} (confidence 1.00)",
            first_seen=last - 600,
            last_seen=last,
            times=20,
        )

    r.ledger.record_held_back(
        [
            row("Pod/shop/web-1", "Cooldown", now - 300),
            row("Pod/shop/web-2", "RunbookRateLimit", now - 5 * 3600),
            row("Node/worker-2", "Storm", now - 60),
        ]
    )
    code, out, _ = _why(tmp_path, capsys, "--since", "2h")
    assert code == 0
    assert [line.split()[3] for line in out.splitlines()[1:]] == ["Node/worker-2", "Pod/shop/web-1"]
    assert out.splitlines()[0] == "Held back in the last 2h, newest first:"
    out = _why(tmp_path, capsys, "shop/web", "--since", "6h")[1]
    assert [line.split()[3] for line in out.splitlines()[1:]] == [
        "Pod/shop/web-1",
        "Pod/shop/web-2",
    ]
    out = _why(tmp_path, capsys, "--limit", "1")[1]
    assert out.splitlines()[1:] == [
        out.splitlines()[1],
        "  (older ones not shown: narrow it with SUBJECT, --runbook or --since)",
    ]
    code, out, _ = _why(tmp_path, capsys, "Deployment/shop/cart")
    assert code == 0
    assert out.splitlines()[0] == "Nothing held back for Deployment/shop/cart."
    assert "denied by a guard, skipped by planning or a precondition" in out


def test_a_reason_that_flaps_every_cycle_is_written_and_said_a_bounded_number_of_times(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A precondition whose data comes and goes (NoData, then PreconditionFailed, ...)
    changes the reason every cycle: each key still appears at most once per WRITE_EVERY,
    and nothing counted is lost."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", 0.0)
    outcomes = RunbookOutcomes(ledger, Metrics())
    batches = 0
    real = ledger.record_held_back

    def record(rows: list[HeldBack]) -> None:
        nonlocal batches
        batches += 1
        real(rows)

    monkeypatch.setattr(ledger, "record_held_back", record)
    caplog.set_level(logging.INFO, logger="autonomic.remediation")
    start, cycles = 1_750_000_000.0, 120  # an hour
    for n in range(cycles):
        reason = ("NoData", "PreconditionFailed")[n % 2]
        item = Handled(
            "anomaly error_ratio on Deployment/shop/web (confidence 0.90)",
            "error-rate-pause-rollout",
            "skipped",
            reason,
            f"{reason} for the traffic query",
            subject="Deployment/shop/web",
        )
        outcomes.record([item], start + 30 * n)
    outcomes.record([], start + 30 * cycles + WRITE_EVERY)
    rows = {row.reason_code: row for row in ledger.held_back()}
    assert {code: row.times for code, row in rows.items()} == {
        "NoData": cycles // 2,
        "PreconditionFailed": cycles // 2,
    }
    hour = cycles * 30 / WRITE_EVERY  # periods of WRITE_EVERY in the hour
    assert batches <= 2 * (hour + 2)
    said = [m for m in caplog.messages if "held back on Deployment/shop/web" in m]
    assert 2 <= len(said) <= 2 * (hour + 1)
    ledger.close()


def test_why_lists_every_jobs_decisions_about_a_subject_and_only_the_runbooks_with_runbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `simulate` suggests `why Deployment/shop/cart`, a workload only predictive scaling
    # decided about: those decisions used to be left out, so `why` said nothing was decided
    r = rig(tmp_path)
    now = time.time()
    scaled = r.ledger.record_decision(
        Decision(
            kind="scaling",
            decision_type="scaling/raise-floor",
            subject="Deployment/shop/cart",
            proposal={"minReplicas": 4},
            confidence=0.97,
            reason_code="ForecastAbove",
            reason="the forecast needs 4 replicas in 6 min",
            evidence={},
            model_version="profile/1",
            route="auto",
        ),
        now - 60,
    )
    code, out, _ = _why(tmp_path, capsys, "shop/cart")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Nothing held back for shop/cart."
    assert lines[-2] == "Decided (autonomic explain ID tells the story):"
    assert lines[-1].startswith(f"  {scaled[:12]}  ")
    assert lines[-1].endswith("Deployment/shop/cart  scaling/raise-floor  auto -> proposed")
    code, out, _ = _why(tmp_path, capsys, "shop/cart", "--runbook", "restart-stuck-pods")
    assert code == 0 and "Decided" not in out
