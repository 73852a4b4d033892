"""An alert the webhook accepted is never lost, and a new leader knows what is firing.

Two replicas share one ledger (a SQLite file, or a real PostgreSQL) and one fake API
server. Replica A takes an alert in (200) and "dies" before its next remediation cycle:
it used to keep the alert only in memory, so it was lost, and replica B, leading next,
knew nothing of it (nor of any alert firing) until Alertmanager's next repeat, 4 h later.
The alert is in the ledger now, B's cycle handles it, and B's firing set has it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.errors import TransientError
from agent.ledger.schema import tables
from agent.server import Request
from tests.fakekube.seed import seed_hpa
from tests.integration.remediation.rig import (
    TOKEN,
    KubeRig,
    Replicas,
    open_replicas,
    rfc3339,
    seed_web,
)
from tests.integration.remediation.test_hpa_and_job_alerts import maxed_out

NOTIFY = "hpa-maxed-out-notify"
ROLLBACK = "crashloop-after-rollout-rollback"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Replicas]:
    yield from open_replicas(request, tmp_path)


def post(rig: KubeRig, alerts: list[Any], status: str = "firing") -> tuple[int, Any, Any]:
    """POST a delivery to ``rig``'s webhook: (status, JSON answer, headers)."""
    body = json.dumps(
        {
            "version": "4",
            "groupKey": "{}:{}",
            "status": status,
            "receiver": "autonomic",
            "alerts": alerts,
        }
    ).encode()
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    response = rig.intake.handle(Request("POST", "/webhooks/alertmanager", {}, headers, body))
    return response.status, json.loads(response.body), response.headers


def stored_rows(rig: KubeRig) -> int:
    with rig.ledger.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(tables["alerts"])).scalar())


def critical(rig: KubeRig, *, status: str = "firing") -> dict[str, Any]:
    """Another critical alert in the namespace: holds the crash-loop rollback back."""
    return {
        "status": status,
        "labels": {"alertname": "KubeQuotaExceeded", "severity": "critical", "namespace": "shop"},
        "startsAt": rfc3339(rig.clock.now() - 600),
        "fingerprint": "c41",
    }


def test_an_alert_accepted_by_a_leader_that_dies_is_handled_by_the_next(
    replicas: Replicas,
) -> None:
    a = replicas.start()
    seed_web(a)
    seed_hpa(a.server.store, "web-autoscaler", target="web", namespace="shop", max_replicas=3)
    status, answer, _ = post(a, [maxed_out(a, "web-autoscaler")])
    assert (status, answer) == (200, {"accepted": 1, "duplicates": 0})
    replicas.die(a)  # before its next remediation cycle

    b = replicas.start(at=a.clock.now() + 20)  # takes the lease over
    assert [alert.fingerprint for alert in b.engine.snapshot().alerts] == ["4a1"]
    decided = [h for h in b.cycle() if h.runbook == NOTIFY]
    assert [(h.outcome, h.subject) for h in decided] == [("decided", "Deployment/shop/web")]
    (decision,) = b.decisions_of(NOTIFY)
    assert decision.reason.startswith("alert KubeHpaMaxedOut on HorizontalPodAutoscaler/")
    assert b.ledger.pending_alerts() == []  # handled: the next cycle does not see it again
    b.clock.advance(30)
    assert [h for h in b.cycle() if h.runbook == NOTIFY] == []

    # Alertmanager's copy from its HA peer, or its retry of the same delivery, reaches
    # B: the same alert, stored once, not handled again.
    status, answer, _ = post(b, [maxed_out(a, "web-autoscaler")])
    assert (status, answer) == (200, {"accepted": 0, "duplicates": 1})
    assert stored_rows(b) == 1 and b.ledger.pending_alerts() == []
    assert [d.id for d in b.decisions_of(NOTIFY)] == [decision.id]


def test_a_new_leader_knows_the_alerts_firing_from_before_it_led(replicas: Replicas) -> None:
    """``noOtherAlertFiring`` on the new leader sees an alert delivered to the old one
    (the rollback used to go ahead: the new leader's firing set started empty)."""
    a = replicas.start()
    assert post(a, [critical(a)])[0] == 200
    a.cycle()  # handled by A; still firing
    replicas.die(a)

    b = replicas.start(at=a.clock.now() + 20)
    seed_web(b, behaviour="CrashLoopBackOff")  # crash-looping since its rollout
    held = [h for h in b.cycle() if h.runbook == ROLLBACK]
    assert held and {h.reason_code for h in held} == {"OtherAlertFiring"}
    assert b.decisions_of(ROLLBACK) == [] and b.writes() == []

    assert post(b, [critical(a, status="resolved")], status="resolved")[0] == 200
    b.clock.advance(30)
    decided = [h for h in b.cycle() if h.runbook == ROLLBACK and h.outcome == "decided"]
    assert len(decided) == 1 and b.engine.snapshot().alerts == ()


def test_a_ledger_failing_mid_delivery_answers_503_and_keeps_nothing(replicas: Replicas) -> None:
    a = replicas.start()
    alerts = [maxed_out(a, "web-autoscaler", fingerprint="f1"), critical(a)]
    inserts: list[str] = []

    def fail_second_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO ALERTS"):
            inserts.append(statement)
            if len(inserts) == 2:  # the first row is written, in the same transaction
                raise sa.exc.OperationalError(statement, {}, OSError("disk I/O error"))

    sa.event.listen(a.ledger.engine, "before_cursor_execute", fail_second_insert)
    status, answer, headers = post(a, alerts)
    sa.event.remove(a.ledger.engine, "before_cursor_execute", fail_second_insert)
    assert status == 503 and int(headers["Retry-After"]) >= 1
    assert "nothing of this delivery was kept: retry" in answer["error"]
    assert len(inserts) == 2
    assert stored_rows(a) == 0 and a.intake.firing() == () and a.intake.accepted == 0

    # Alertmanager retries: all of it is taken in now, once.
    status, answer, _ = post(a, alerts)
    assert (status, answer) == (200, {"accepted": 2, "duplicates": 0})
    assert stored_rows(a) == 2 and len(a.intake.firing()) == 2


def test_a_crash_between_handling_and_marking_handles_again_and_decides_once(
    replicas: Replicas,
) -> None:
    a = replicas.start()
    seed_web(a)
    seed_hpa(a.server.store, "web-autoscaler", target="web", namespace="shop", max_replicas=3)
    assert post(a, [maxed_out(a, "web-autoscaler")])[0] == 200

    class Crash(BaseException):
        pass

    def crash(_ids: Any) -> None:
        raise Crash  # the process dies after deciding, before the alert is marked handled

    a.engine.inbox.handled = crash  # type: ignore[assignment,method-assign,union-attr]
    with pytest.raises(Crash):
        a.cycle()
    (decision,) = a.decisions_of(NOTIFY)
    assert len(a.ledger.pending_alerts()) == 1
    replicas.die(a)

    b = replicas.start(at=a.clock.now() + 20)
    again = [h for h in b.cycle() if h.runbook == NOTIFY]
    assert [(h.outcome, h.reason_code, h.decision_id) for h in again] == [
        ("duplicate", "AlreadyDecided", decision.id)
    ]
    assert [d.id for d in b.decisions_of(NOTIFY)] == [decision.id]
    assert b.ledger.pending_alerts() == []


def test_a_ledger_failing_during_the_cycle_leaves_the_alerts_for_the_next(
    replicas: Replicas,
) -> None:
    """A TransientError in the cycle: the stored alerts stay pending (as queued signals
    are put back), and the next cycle handles them."""
    rig = replicas.start()
    seed_web(rig)
    seed_hpa(rig.server.store, "web-autoscaler", target="web", namespace="shop", max_replicas=3)
    assert post(rig, [maxed_out(rig, "web-autoscaler")])[0] == 200
    handle = rig.engine.handle

    def failing(*_args: Any) -> Any:
        raise TransientError("the ledger at sqlite:///x write failed: disk I/O error")

    rig.engine.handle = failing  # type: ignore[method-assign]
    with pytest.raises(TransientError):
        rig.cycle()
    assert len(rig.ledger.pending_alerts()) == 1
    rig.engine.handle = handle  # type: ignore[method-assign]
    rig.clock.advance(30)
    assert [h.outcome for h in rig.cycle() if h.runbook == NOTIFY] == ["decided"]
    assert rig.ledger.pending_alerts() == []


def poison(monkeypatch: pytest.MonkeyPatch) -> None:
    """Handling the stored alert of fingerprint "bad" raises, as a bug set off by its
    labels would; every other signal is matched as usual."""
    import agent.remediation_engine as engine_module

    real_match = engine_module.match

    def match(runbooks: Any, signal: Any, snapshot: Any) -> Any:
        if signal.evidence.get("fingerprint") == "bad":
            raise ValueError("a label no runbook template expected")
        return real_match(runbooks, signal, snapshot)

    monkeypatch.setattr(engine_module, "match", match)


def sample(rig: KubeRig, name: str) -> float:
    value = rig.engine.decisions.metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


def test_an_alert_that_fails_every_cycle_is_given_up_and_blocks_no_other(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One stored alert whose handling raises (a bug set off by its labels). The whole
    batch used to be dropped with it: the good alert stored beside it was marked handled
    and never decided. Each is handled on its own now: the good one is decided at once,
    the bad one is tried at 5 cycles, each failure logged, then given up (marked handled,
    logged as an error, counted in /metrics); the gauges show it waiting meanwhile."""
    rig = replicas.start()
    seed_web(rig)
    seed_hpa(rig.server.store, "web-autoscaler", target="web", namespace="shop", max_replicas=3)
    poison(monkeypatch)
    bad = {**critical(rig), "fingerprint": "bad"}
    assert post(rig, [bad, maxed_out(rig, "web-autoscaler")])[0] == 200
    rig.clock.advance(20)
    rig.engine.publish_pending()
    assert sample(rig, "autonomic_alerts_pending") == 2.0
    assert sample(rig, "autonomic_alerts_pending_oldest_age_seconds") == 20.0

    decided = [h for h in rig.cycle() if h.runbook == NOTIFY]
    assert [h.outcome for h in decided] == ["decided"]
    assert [a.fingerprint for a in rig.ledger.pending_alerts()] == ["bad"]
    assert sample(rig, "autonomic_alerts_pending") == 1.0
    assert sample(rig, "autonomic_alerts_pending_oldest_age_seconds") == 20.0
    for _ in range(3):
        rig.clock.advance(30)
        rig.cycle()
    assert [a.fingerprint for a in rig.ledger.pending_alerts()] == ["bad"]
    assert sample(rig, "autonomic_alerts_pending_oldest_age_seconds") == 110.0
    assert sample(rig, "autonomic_alerts_given_up_total") == 0.0

    rig.clock.advance(30)
    rig.cycle()  # the fifth attempt
    assert rig.ledger.pending_alerts() == []
    assert sample(rig, "autonomic_alerts_given_up_total") == 1.0
    assert sample(rig, "autonomic_alerts_pending") == 0.0
    assert sample(rig, "autonomic_alerts_pending_oldest_age_seconds") == 0.0
    said = [
        (r.levelname, r.getMessage()) for r in caplog.records if "stored alert" in r.getMessage()
    ]
    assert [level for level, _ in said] == ["WARNING"] * 4 + ["ERROR"]
    assert said[0][1].startswith("stored alert KubeQuotaExceeded")
    assert "(attempt 1 of 5; tried again at the next cycle): ValueError: a label" in said[0][1]
    assert "given up after 5 failed attempts: no replica tries it again" in said[-1][1]
    assert len(rig.decisions_of(NOTIFY)) == 1  # the good alert: decided once, not again
    rig.clock.advance(30)
    rig.cycle()
    assert len([r for r in caplog.records if "stored alert" in r.getMessage()]) == 5


def test_failed_attempts_add_up_across_restarts_and_leaders_and_given_up_stays_given_up(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The count of a stored alert's failed attempts used to live in the leader's
    memory: each restart or new leader began again at 0, so a daemon crash-looping more
    often than every 5 cycles retried a poison alert for ever. It is on the alert's row
    now: 2 attempts on A, 2 on B after a failover, the fifth on C gives it up, and D,
    the leader after that, does not take it in again (nor count it as pending)."""
    poison(monkeypatch)
    a = replicas.start()
    assert post(a, [{**critical(a), "fingerprint": "bad"}])[0] == 200
    rig = a
    for replica, cycles in enumerate((2, 2, 1)):
        if replica:
            replicas.die(rig)
            rig = replicas.start(at=rig.clock.now() + 20)
        for _ in range(cycles):
            rig.clock.advance(30)
            rig.cycle()
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stored alert")]
    assert [m.split("(attempt ")[1][:6] for m in said[:4]] == [f"{n} of 5" for n in (1, 2, 3, 4)]
    assert "given up after 5 failed attempts" in said[4] and len(said) == 5
    assert sample(rig, "autonomic_alerts_given_up_total") == 1.0  # by C, once
    (row,) = rig.ledger.stored_alerts()
    assert (row.fingerprint, row.state, row.attempts) == ("bad", "given-up", 5)
    assert row.last_error == "ValueError: a label no runbook template expected"
    assert row.last_attempt_at == row.given_up_at == rig.clock.now()

    replicas.die(rig)
    d = replicas.start(at=rig.clock.now() + 20)
    for _ in range(3):
        d.clock.advance(30)
        d.cycle()
    assert len([r for r in caplog.records if r.getMessage().startswith("stored alert")]) == 5
    assert d.ledger.pending_alerts() == []
    assert sample(d, "autonomic_alerts_pending") == 0.0
    assert sample(d, "autonomic_alerts_given_up_total") == 0.0
    assert [a.fingerprint for a in d.intake.firing()] == ["bad"]  # still firing, all the same


def test_an_alert_that_kills_the_process_handling_it_is_given_up_not_a_crash_loop(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Handling one stored alert ends the process (here an exception no cycle catches,
    as an out-of-memory kill or a liveness probe's would). Nothing was counted, so every
    process after took it in again and died: a crash loop, with the alert stored beside
    it never decided. The cycle's mark on the alerts it took in now outlives it: the next
    process counts it as a failed attempt, decides the good alert, handles the killer
    alone, and the sixth process gives it up and lives."""
    import agent.remediation_engine as engine_module

    class Killed(BaseException):
        pass

    real_match = engine_module.match

    def match(runbooks: Any, signal: Any, snapshot: Any) -> Any:
        if signal.evidence.get("fingerprint") == "bad":
            raise Killed
        return real_match(runbooks, signal, snapshot)

    monkeypatch.setattr(engine_module, "match", match)
    rig = replicas.start()
    seed_web(rig)
    seed_hpa(rig.server.store, "web-autoscaler", target="web", namespace="shop", max_replicas=3)
    bad = {**critical(rig), "fingerprint": "bad"}
    assert post(rig, [bad, maxed_out(rig, "web-autoscaler")])[0] == 200
    deaths = 0
    for _ in range(8):
        rig.clock.advance(30)
        try:
            rig.cycle()
        except Killed:
            deaths += 1
            replicas.die(rig)
            rig = replicas.start(at=rig.clock.now() + 20)
            continue
        break
    # A (both alerts in its batch), then B to E handling the killer alone: five deaths;
    # F counts the fifth attempt, gives it up and finishes its cycle.
    assert deaths == 5
    assert rig.ledger.pending_alerts() == []
    (decided,) = rig.decisions_of(NOTIFY)  # the good alert, decided once (by C)
    rows = {row.fingerprint: row for row in rig.ledger.stored_alerts()}
    assert list(rows) == ["bad"] and rows["bad"].state == "given-up"
    assert rows["bad"].attempts == 5 and rows["bad"].handling_since is None
    assert rows["bad"].last_error is not None and rows["bad"].last_error.startswith(
        "InterruptedHandlingError: the remediation cycle that took it in at "
    )
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stored alert")]
    about_bad = [m for m in said if "KubeQuotaExceeded" in m]
    assert (
        "(attempt 1 of 5; tried again now, on its own): InterruptedHandlingError" in (about_bad[0])
    )
    assert "given up after 5 failed attempts" in about_bad[-1] and len(about_bad) == 5
    # The good alert was blamed once, for the first death, when both were in the batch.
    assert len(said) == 6
    rig.clock.advance(30)
    rig.cycle()  # and the next cycle takes nothing in again
    assert len(rig.decisions_of(NOTIFY)) == 1 and decided.id


def test_a_live_old_leaders_mark_is_not_counted_as_a_dead_process(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A leader change with the old leader alive: A lost its lease in the middle of a
    cycle (a slow API server) and goes on handling the alert it took in, while B, leading
    now, runs its takeover cycle. B used to read A's fresh mark as a dead process's: it
    counted a failed attempt the alert never made (given up after five such changes) and
    handled it at the same time as A. B leaves it now, A finishes with it, nothing is
    counted and it is decided once."""
    a = replicas.start(identity="autonomic-a")
    seed_web(a)
    seed_hpa(a.server.store, "web-autoscaler", target="web", namespace="shop", max_replicas=3)
    assert post(a, [maxed_out(a, "web-autoscaler")])[0] == 200
    a.clock.advance(30)
    b = replicas.start(at=a.clock.now() + 5, identity="autonomic-b")
    during: list[Any] = []
    handle = a.engine.handle

    def slow_handle(signals: Any, snapshot: Any) -> Any:
        if not during:  # A has marked the alert: B leads now and runs its cycle
            (row,) = b.ledger.pending_alerts()
            during.append((row.handling_since, b.cycle()))
        return handle(signals, snapshot)

    monkeypatch.setattr(a.engine, "handle", slow_handle)
    a.cycle()
    ((since, handled_by_b),) = during
    assert since == a.clock.now()
    assert [h for h in handled_by_b if h.runbook == NOTIFY] == []  # left for A
    assert b.ledger.pending_alerts() == []  # A finished with it
    (row,) = _all_alerts(b)
    assert (row.attempts, row.last_error, row.handling_since) == (0, None, None)
    assert len(b.decisions_of(NOTIFY)) == 1
    assert not [r for r in caplog.records if "InterruptedHandlingError" in r.getMessage()]


def _all_alerts(rig: KubeRig) -> list[Any]:
    from agent.ledger.store import StoredAlert

    with rig.ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(tables["alerts"])).mappings()
        return [StoredAlert(**row) for row in rows]


def test_another_replicas_mark_is_counted_once_it_is_too_old_to_be_handled_still(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A dies handling the alert; its pod is replaced by one of another name (B). B
    cannot tell a dead process's mark from a live one's while it is fresh: it leaves the
    alert at its first cycles, and counts the interrupted attempt (and handles the alert
    alone) once the mark is older than any cycle takes (``FOREIGN_MARK_AFTER``)."""
    import agent.remediation_engine as engine_module

    class Killed(BaseException):
        pass

    def die(signals: Any, snapshot: Any) -> Any:
        raise Killed

    a = replicas.start(identity="autonomic-a")
    seed_web(a)
    seed_hpa(a.server.store, "web-autoscaler", target="web", namespace="shop", max_replicas=3)
    assert post(a, [maxed_out(a, "web-autoscaler")])[0] == 200
    a.clock.advance(30)
    marked_at = a.clock.now()
    monkeypatch.setattr(a.engine, "handle", die)
    with pytest.raises(Killed):
        a.cycle()
    replicas.die(a)

    b = replicas.start(at=marked_at + 20, identity="autonomic-b")
    assert [h for h in b.cycle() if h.runbook == NOTIFY] == []
    b.clock.advance(engine_module.FOREIGN_MARK_AFTER - 30)
    assert [h for h in b.cycle() if h.runbook == NOTIFY] == []
    (row,) = b.ledger.pending_alerts()
    assert (row.attempts, row.handling_since, row.handling_by) == (0, marked_at, "autonomic-a")
    b.clock.advance(15)  # the mark is older than FOREIGN_MARK_AFTER now
    decided = [h for h in b.cycle() if h.runbook == NOTIFY]
    assert [(h.outcome, h.subject) for h in decided] == [("decided", "Deployment/shop/web")]
    assert b.ledger.pending_alerts() == []
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stored alert")]
    assert len(said) == 1 and "(attempt 1 of 5; tried again now, on its own)" in said[0]
    assert "took it in at 2026-11-18 10:00:30 UTC, on replica autonomic-a, never" in said[0]
