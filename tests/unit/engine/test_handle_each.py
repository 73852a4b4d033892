"""One signal whose handling fails does not stop the cycle.

An error that is not a ``TransientError`` (a bug in matching or planning) raised while
handling one Kubernetes condition, anomaly or forecast signal used to end the cycle
before anything approved ran or was verified; a condition is detected again at every
cycle, so nothing ran again while it lasted. It is now counted in
``autonomic_errors_total{kind="Unexpected"}`` each time, logged with its traceback once
per new error, and the cycle goes on with the other signals; a runbook whose handling
of the signal failed ends in the outcome ``failed``, reason ``Unexpected``, which
``autonomic why`` shows. A ``TransientError`` still ends the cycle. Stored alerts keep
their own count of failed attempts (``test_alert_attempts``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from agent.errors import TransientError
from remediation.loading import load_paths
from remediation.ports import ObjectRef
from tests.unit.engine.harness import RUNBOOKS, Rig, status_of, web
from tests.unit.engine.test_execute_each import _cycle, _two_approved, _unexpected

CART = ObjectRef("Deployment", "cart", "shop")
CRASHLOOP = "crashloop-after-rollout-rollback"


def _with_crashloop(tmp_path: Path) -> tuple[Rig, str, str]:
    """Two approved decisions (web, api), and cart crash-looping after a rollout, which
    the crash-loop runbook takes up at every cycle."""
    r, first, second = _two_approved(tmp_path)
    (runbook,) = load_paths([RUNBOOKS / f"{CRASHLOOP}.yaml"])
    r.engine.runbooks[runbook.name] = runbook
    cart = web(bad_images={"shop/web:2"})
    cart.ref = CART
    cart.labels = {"autonomic.dev/enabled": "true", "app": "cart"}
    r.sim.add_workload(cart)
    r.sim.roll_out(CART, "shop/web:2")
    return r, first, second


def _plan_fails(monkeypatch: pytest.MonkeyPatch, error: list[Exception]) -> None:
    """Planning the crash-loop runbook raises ``error[0]`` (a bug)."""
    import agent.remediation_engine as engine

    real = engine.make_plan

    def plan(runbook: Any, *args: Any) -> Any:
        if runbook.name == CRASHLOOP:
            raise error[0]
        return real(runbook, *args)

    monkeypatch.setattr(engine, "make_plan", plan)


def test_a_signal_whose_handling_fails_does_not_stop_the_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    r, first, second = _with_crashloop(tmp_path)
    error: list[Exception] = [RuntimeError("a bug in planning")]
    _plan_fails(monkeypatch, error)
    caplog.set_level(logging.ERROR, logger="autonomic.remediation")
    for _ in range(10):  # raised here before, at every cycle: nothing approved ran
        _cycle(r)
    assert (status_of(r, first), status_of(r, second)) == ("verified", "verified")
    failures = _unexpected(r)
    said = [rec for rec in caplog.records if "a bug in planning" in rec.getMessage()]
    assert failures > 0 and said and said[0].exc_info is not None
    message = said[0].getMessage()
    assert message.startswith(f"runbook {CRASHLOOP} on signal kubernetes CrashLoopBackOff on ")
    assert "RuntimeError: a bug in planning" in message
    _cycle(r)  # the same error again: counted, not said again
    assert _unexpected(r) > failures
    assert len([rec for rec in caplog.records if "a bug in planning" in rec.getMessage()]) == len(
        said
    )
    rows = [row for row in r.ledger.held_back() if row.runbook == CRASHLOOP]
    assert [(row.subject, row.outcome, row.reason_code) for row in rows] == [
        ("Deployment/shop/cart", "failed", "Unexpected")
    ]
    assert "RuntimeError: a bug in planning" in rows[0].message
    logged = len(said)
    error[0] = RuntimeError("another bug")
    _cycle(r)  # a new error is news: logged again
    assert [rec for rec in caplog.records if "another bug" in rec.getMessage()]
    _cycle(r)
    assert len([rec for rec in caplog.records if "bug" in rec.getMessage()]) > logged
    monkeypatch.undo()
    _cycle(r)  # fixed: the runbook decides
    (decided,) = [d for d in r.ledger.decisions(kind="remediation") if d.subject.endswith("cart")]
    assert decided.proposal["runbook"] == CRASHLOOP


def test_a_transient_error_in_a_signal_still_ends_the_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r, _, _ = _with_crashloop(tmp_path)
    _plan_fails(monkeypatch, [TransientError("the ledger at sqlite:///x failed: disk I/O error")])
    for _ in range(10):
        try:
            _cycle(r)
        except TransientError:
            break
    else:
        pytest.fail("the crash loop was never taken up")
    assert _unexpected(r) == 0.0
    assert not [row for row in r.ledger.held_back() if row.outcome == "failed"]
