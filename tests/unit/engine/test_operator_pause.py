"""`autonomic pause` and `autonomic resume`, through the CLI, on the engine's own ledger:
the engine denies every plan ``Paused`` with the person's reason, runs no approved
decision, no drain round and no recovery while paused, lapses a pause given an end, and
`why` and `pause --status` say it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from agent.daemon import _pause_reason
from agent.observability import Metrics
from agent.pause import PauseWatch, pause, read_pause
from agent.remediation_engine import Handled
from tests.unit.engine.harness import WEB, Rig, restarted, rig, web

CRASHLOOP = "crashloop-after-rollout-rollback"


def _cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main([*args, "--ledger", str(tmp_path / "ledger.sqlite")])
    except SystemExit as exc:  # refused by argparse itself
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _crashlooping(tmp_path: Path, **kw: float) -> Rig:
    r = rig(tmp_path, **kw)
    r.sim.add_workload(web(bad_images={"shop/web:2"}))
    r.sim.roll_out(WEB, "shop/web:2")
    return r


def _cycles(r: Rig, minutes: float) -> list[Handled]:
    handled: list[Handled] = []
    for _ in range(round(minutes * 2)):
        for _ in range(2):
            r.clock.advance(15)
            r.sim.advance(r.clock.now(), {})
        handled += r.engine.cycle()
    return handled


def _mine(handled: list[Handled]) -> list[Handled]:
    return [h for h in handled if h.runbook == CRASHLOOP]


def test_a_pause_from_the_cli_holds_every_plan_with_who_and_why_until_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = _crashlooping(tmp_path)
    code, out = _cli(
        tmp_path, capsys, "pause", "--reason", "rollbacks loop on shop", "--as", "alice"
    )
    assert code == 0, out
    assert "Autonomic paused by alice at" in out and "until resumed: rollbacks loop on shop" in out
    held = _mine(_cycles(r, 8))
    assert held and {(h.outcome, h.reason_code) for h in held} == {("denied", "Paused")}
    assert "paused by alice at" in held[-1].message
    assert held[-1].message.endswith("until resumed: rollbacks loop on shop")
    assert r.ledger.decisions(kind="remediation") == []
    # the scaling loop's pause is the engine's: the person's sentence
    assert "paused by alice" in (_pause_reason(r.engine) or "")
    # `why` says it, with the reason
    code, out = _cli(tmp_path, capsys, "why", "Deployment/shop/web")
    assert code == 0 and "Paused" in out and "rollbacks loop on shop" in out
    code, out = _cli(tmp_path, capsys, "pause", "--status")
    assert code == 0 and out.startswith("PAUSED: paused by alice at")
    # resumed: the next cycle decides
    code, out = _cli(tmp_path, capsys, "resume", "--as", "bob")
    assert code == 0 and out.startswith("Autonomic resumed by bob; it was paused by alice")
    acted = _mine(_cycles(r, 1))
    assert any(h.outcome == "decided" for h in acted)
    assert _pause_reason(r.engine) is None
    code, out = _cli(tmp_path, capsys, "pause", "--status", "--json")
    status = json.loads(out)
    assert status["paused"] is False
    assert [c["event"] for c in status["changes"]] == ["paused", "resumed"]
    assert status["changes"][-1]["by"] == "bob"


def test_a_restart_does_not_end_it_and_a_pause_with_an_end_lapses_by_itself(
    tmp_path: Path,
) -> None:
    r = _crashlooping(tmp_path)
    now = r.clock.now()
    pause(r.ledger, by="carol", reason="look first", now=now, until=now + 600)
    # a restart (the configuration does not pause) leaves a person's pause as it is
    r = restarted(r)
    r.engine.pause(False, "safety.paused is set in the configuration")
    assert {h.reason_code for h in _mine(_cycles(r, 5))} == {"Paused"}
    said: list[str] = []
    metrics = Metrics()
    watch = PauseWatch(
        r.ledger,
        r.clock.now,
        set_gauge=metrics.paused.set,
        announce=said.append,
        is_leader=lambda: True,
    )
    assert watch.look() is not None
    assert metrics.registry.get_sample_value("autonomic_paused") == 1.0
    assert len(said) == 1 and "paused by carol" in said[0] and "(for 10m)" in said[0]
    watch.look()
    assert len(said) == 1  # said once
    after = _mine(_cycles(r, 6))  # 11 minutes in all: it lapsed, no one resumed it
    assert any(h.outcome == "decided" for h in after)
    assert watch.look() is None
    assert metrics.registry.get_sample_value("autonomic_paused") == 0.0
    assert len(said) == 2
    assert said[1].startswith("Autonomic's pause by carol (look first) lapsed at")
    state, _ = read_pause(r.ledger)
    assert state.pause is None and state.last is not None
    assert (state.last["event"], state.last["at"]) == ("lapsed", now + 600)
    watch.look()
    assert len(said) == 2


def test_an_approved_decision_waits_while_paused_and_runs_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = _crashlooping(tmp_path, auto=0.99, ask=0.1)  # asks: a person approves
    asked = [h for h in _mine(_cycles(r, 8)) if h.outcome == "decided"]
    assert asked and asked[0].route == "ask"
    decision = asked[0].decision_id
    assert decision is not None
    assert _cli(tmp_path, capsys, "pause", "--reason", "hands off")[0] == 0
    (question,) = r.ledger.questions_for([decision])
    assert r.decisions.answer(question.id, "approved", "dave")
    _cycles(r, 3)
    record = r.ledger.get_decision(decision)
    assert record is not None and record.status == "approved"
    assert r.ledger.intents() == []  # nothing written
    _cli(tmp_path, capsys, "resume")
    _cycles(r, 1)
    record = r.ledger.get_decision(decision)
    assert record is not None and record.status != "approved"
    assert r.ledger.intents()


def test_recovery_waits_for_the_end_of_the_pause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    r = _crashlooping(tmp_path)
    _cli(tmp_path, capsys, "pause")
    r = restarted(r)
    calls: list[str] = []
    real = r.executor.reconcile
    monkeypatch.setattr(r.executor, "reconcile", lambda: calls.append("x") or real())
    assert r.engine.recover() == {"deferred": 1}
    assert calls == []
    _cycles(r, 1)
    assert calls == []
    _cli(tmp_path, capsys, "resume")
    _cycles(r, 0.5)
    assert calls == ["x"]


def test_bad_pause_input_is_refused_before_the_ledger_is_touched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rig(tmp_path)
    for args, said in (
        (["pause", "--for", "soon"], "--for: expected a duration such as 30s, 5m, 2h or 1h30m"),
        (["pause", "--for=-5m"], "--for: expected a duration"),
        # Written apart, argparse took these for options and said only "--for: expected
        # one argument"; "-5" alone it already read as a value.
        (["pause", "--for", "-5m"], "--for: expected a duration such as 30s, 5m, 2h or 1h30m"),
        (["pause", "--for", "-1h30m"], "--for: expected a duration"),
        (["pause", "--for", "-.5h"], "--for: expected a duration"),
        (["pause", "--for", "-5"], "--for: expected a duration"),
        (["pause", "--for", "0s"], "--for must be longer than 0 s"),
        (["pause", "--status", "--reason", "x"], "--status only reads"),
        (["pause", "--as", " "], "--as must name who it is"),
    ):
        code, out = _cli(tmp_path, capsys, *args)
        assert code == 2 and said in out, out
    assert read_pause(rig(tmp_path).ledger)[0].pause is None
    code, out = _cli(tmp_path, capsys, "resume")
    assert code == 0 and "nothing to resume" in out


@pytest.mark.parametrize(
    ("given", "seconds", "said"),
    [("3600", 3600.0, "1h"), ("1.5h", 5400.0, "1h30m"), ("1h30m", 5400.0, "1h30m")],
)
def test_pause_for_takes_a_duration_as_the_configuration_and_why_since_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str, seconds: float, said: str
) -> None:
    # It refused plain seconds and fractions ("'3600' is not a duration") that `why
    # --since` and every duration in the configuration take.
    r = rig(tmp_path)
    code, out = _cli(tmp_path, capsys, "pause", "--for", given)
    assert code == 0, out
    assert f"It lapses by itself in {said}." in out
    held = read_pause(r.ledger)[0].pause
    assert held is not None and held.until is not None
    assert held.until - held.at == pytest.approx(seconds, abs=1.0)


def test_a_deferred_recovery_that_fails_after_the_pause_is_tried_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.errors import TransientError

    r = _crashlooping(tmp_path)
    _cli(tmp_path, capsys, "pause")
    r = restarted(r)
    calls: list[str] = []
    real = r.executor.reconcile

    def reconcile() -> list[object]:
        calls.append("x")
        if len(calls) == 1:  # the ledger does not answer the first time
            raise TransientError("the ledger did not answer", reason="LedgerUnavailable")
        return list(real())

    monkeypatch.setattr(r.executor, "reconcile", reconcile)
    assert r.engine.recover() == {"deferred": 1}
    _cli(tmp_path, capsys, "resume")
    r.clock.advance(15)
    with pytest.raises(TransientError):
        r.engine.cycle()
    assert calls == ["x"]
    _cycles(r, 0.5)  # the next cycle recovers: the failed try did not drop it
    assert calls == ["x", "x"]
    _cycles(r, 0.5)
    assert calls == ["x", "x"]  # once done, not again
