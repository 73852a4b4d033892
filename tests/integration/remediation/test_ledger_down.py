"""The ledger's PostgreSQL goes down in the middle of a remediation: nothing is done to
the cluster until it is back, and the outage is told once, not at every cycle.

An action is written to the cluster only after its write-ahead intent is in the ledger
(``Executor.apply``): with the database gone at that very moment, the rollback the engine
decided is not written; each cycle then fails on the ledger, and writes nothing either.
Once the database is back, the rollback is written, once. Meanwhile the log has one
warning as the outage begins, a summary every 10 minutes, and one line when the ledger
answers again, where it had a warning per cycle (50 in 25 minutes)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from agent.errors import LEDGER_UNAVAILABLE
from agent.observability import Metrics
from agent.runtime import Job, Runtime
from tests.harness.gates import RecordingGate
from tests.harness.servers import postgres_cluster
from tests.integration.remediation.rig import Controller, Write, build_rig, seed_web

pytestmark = pytest.mark.postgres

ROLLBACK = Write("PATCH", "deployments", "shop", "web", False)


def test_nothing_acts_while_the_ledger_is_down_and_the_outage_is_told_once(
    tmp_path: Path, postgres_binaries: None, caplog: pytest.LogCaptureFixture
) -> None:
    with postgres_cluster() as server:
        server.start()
        server.createdb()
        rig = build_rig(tmp_path, ledger_url=server.url)
        try:
            seed_web(rig, behaviour="CrashLoopBackOff")
            controller = Controller(
                rig.server,
                rig.clock,
                lambda c: "CrashLoopBackOff" if c["image"] == "shop/web:2" else "Ready",
            )
            record_intent = rig.ledger.record_intent

            def database_gone(*args: Any, **kwargs: Any) -> Any:
                server.stop()  # the moment before the rollback's intent is recorded
                return record_intent(*args, **kwargs)

            rig.ledger.record_intent = database_gone  # type: ignore[method-assign]
            metrics = Metrics()
            job = Job("remediation", 30, rig.cycle)
            runtime = Runtime(
                [job],
                metrics=metrics,
                gate=RecordingGate(True),
                server=None,
                ready=lambda: (True, ""),
                clock=rig.clock.now,
            )
            caplog.set_level(logging.INFO, logger="autonomic")
            for _ in range(50):  # 25 minutes of cycles, the first one deciding
                runtime._run_job(job)
                rig.clock.advance(30)
                controller.reconcile("shop", "web")
            assert rig.writes(events=True) == []  # no rollback, no Event: nothing at all
            assert metrics.errors.labels(kind=LEDGER_UNAVAILABLE)._value.get() == 50

            rig.ledger.record_intent = record_intent  # type: ignore[method-assign]
            server.start()
            for _ in range(4):
                runtime._run_job(job)
                rig.clock.advance(30)
                controller.reconcile("shop", "web")
            assert [w for w in rig.writes() if w.resource == "deployments"] == [ROLLBACK]
            (decision,) = rig.decisions_of("crashloop-after-rollout-rollback")
            assert decision.route == "auto"  # decided before the database went
            (intent,) = rig.ledger.intents()
            assert intent.decision_id == decision.id and intent.status == "applied"
            assert metrics.errors.labels(kind=LEDGER_UNAVAILABLE)._value.get() == 50
        finally:
            rig.close()
    said = [
        (r.levelname, r.getMessage())
        for r in caplog.records
        if r.name in ("autonomic.ledger", "autonomic.runtime")
    ]
    assert [level for level, _ in said] == ["WARNING", "WARNING", "WARNING", "INFO"], said
    assert said[0][1].startswith("the ledger cannot be used: the ledger at postgresql")
    assert "(first met by the remediation job)" in said[0][1]
    assert "50 runs" not in said[1][1] and said[1][1].startswith(
        "the ledger still cannot be used, for 10 min"
    )
    assert said[3][1].startswith("the ledger answers again, after 25 min failing")
    assert said[3][1].endswith("; 50 runs failed on it)")
