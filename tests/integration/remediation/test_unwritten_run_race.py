"""A run whose first write-ahead intent the ledger could not record goes on at the next
cycle (``settle_unsettled``). If, meanwhile, someone else took up that step (a recovery
on another job's thread at a new leadership term, or a new leader's), its intent is
already there when this process comes to record its own: the unique key lets one writer
through, and the other must leave the step to it, not fail the decision (undo what is
applied, record it wrong, escalate) while the winner is writing."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from agent.errors import LEDGER_UNAVAILABLE, TransientError
from tests.integration.remediation.rig import Controller, build_rig, seed_web


def test_a_run_that_finds_its_step_taken_by_another_leaves_it_to_that_one(
    tmp_path: Path,
) -> None:
    rig = build_rig(tmp_path)
    try:
        seed_web(rig, behaviour="CrashLoopBackOff")
        controller = Controller(
            rig.server,
            rig.clock,
            lambda c: "CrashLoopBackOff" if c["image"] == "shop/web:2" else "Ready",
        )
        record_intent = rig.ledger.record_intent
        calls: list[tuple[Any, ...]] = []

        def flaky(*args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            if len(calls) == 1:  # the ledger fails under the first intent
                raise TransientError("the ledger at test is unreachable", reason=LEDGER_UNAVAILABLE)
            if len(calls) == 2:  # another writer records the same step just before us
                key, step, operation, snapshot, _owner, now, decision_id = args
                record_intent(key, step, operation, snapshot, "autonomic-other", now, decision_id)
            return record_intent(*args, **kwargs)

        rig.ledger.record_intent = flaky  # type: ignore[method-assign]
        for _ in range(6):
            with contextlib.suppress(TransientError):  # the cycle the ledger failed under
                rig.cycle()
            rig.clock.advance(30)
            controller.reconcile("shop", "web")
            if len(calls) >= 2:
                break
        assert len(calls) == 2, "the run whose first intent failed was not taken up again"
        (decision,) = rig.decisions_of("crashloop-after-rollout-rollback")
        decision = rig.ledger.get_decision(decision.id)
        assert decision is not None and decision.status == "executing", decision.status
        assert ("execution", "failed") not in rig.feedback(decision.id)
        (intent,) = rig.ledger.intents()
        assert intent.owner == "autonomic-other" and intent.status == "pending"
        assert [w for w in rig.writes() if w.resource == "deployments"] == []
    finally:
        rig.close()
