"""A type's record read per namespace: a runbook trusted where its answers were good is
not trusted where people reject it. The namespace's record can only lower the confidence,
and changes nothing while the type has no outcomes elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from agent.decisions import DecisionService
from agent.ledger import Ledger
from tests.unit.decisions.test_decision_service import (
    FakeClock,
    RecordingChannel,
    ledger,  # noqa: F401  (the fixture)
    proposal,
    service,
)


def _answered(decisions: DecisionService, subject: str, *, right: bool, times: int) -> None:
    """``times`` decisions about ``subject``, each approved (if asked) and verified, or
    rejected (if asked) or failed its verification (if it acted alone)."""
    for _ in range(times):
        routed = decisions.decide(proposal(0.99, subject=subject))
        if routed.question_id is not None:
            decisions.answer(routed.question_id, "approved" if right else "rejected", "U1")
        if right or routed.question_id is None:
            decisions.record_outcome(
                routed.decision_id, right=right, status="verified" if right else "failed"
            )


def test_rejections_in_one_namespace_lower_the_confidence_there_only(
    ledger: Ledger,  # noqa: F811
) -> None:
    decisions = service(ledger, RecordingChannel(), FakeClock(1000), perNamespace=True)
    _answered(decisions, "Deployment/shop/web", right=True, times=40)
    _answered(decisions, "Deployment/payments/api", right=False, times=3)

    shop = decisions.decide(proposal(0.99, subject="Deployment/shop/cart"))
    payments = decisions.decide(proposal(0.99, subject="Deployment/payments/ledger"))
    assert shop.route == "auto"  # 40 of 43 right overall: trusted where it was right
    assert payments.route == "escalate"  # 0 of 3 right there: below ask
    record = ledger.get_decision(payments.decision_id)
    assert record is not None
    seen = record.evidence["routing"]["namespace"]
    assert (seen["namespace"], seen["outcomes"], seen["right"]) == ("payments", 3, 0)
    # Lowered from above auto (0.9) to below ask (0.6).
    assert seen["lowered_from"] > 0.9 and seen["confidence"] < 0.6
    assert seen["confidence"] == pytest.approx(record.confidence, abs=1e-4)
    shop_record = ledger.get_decision(shop.decision_id)
    assert shop_record is not None
    # shop's own record is no worse than elsewhere: nothing lowered, and said so.
    assert shop_record.evidence["routing"]["namespace"]["lowered_from"] is None

    # Off (the default), the type's whole record decides everywhere: payments would act
    # alone.
    off = service(ledger, RecordingChannel(), FakeClock(2000))
    assert off.decide(proposal(0.99, subject="Deployment/payments/ledger")).route == "auto"


def test_a_record_in_one_namespace_alone_is_read_as_before(
    ledger: Ledger,  # noqa: F811
    tmp_path: Path,
) -> None:
    on = service(ledger, RecordingChannel(), FakeClock(1000), perNamespace=True)
    _answered(on, "Deployment/shop/web", right=True, times=5)
    _answered(on, "Deployment/shop/api", right=False, times=1)
    routed = on.decide(proposal(0.99, subject="Deployment/shop/cart"))
    record = ledger.get_decision(routed.decision_id)
    assert record is not None and "namespace" not in record.evidence["routing"]
    off = service(ledger, RecordingChannel(), FakeClock(1000), perNamespace=False)
    again = ledger.get_decision(
        off.decide(proposal(0.99, subject="Deployment/shop/cart")).decision_id
    )
    assert again is not None and again.confidence == pytest.approx(record.confidence)


def test_explain_says_the_namespace_lowered_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.ledger import open_ledger

    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    store = open_ledger(url, 0)
    decisions = service(store, RecordingChannel(), FakeClock(1000), perNamespace=True)
    _answered(decisions, "Deployment/shop/web", right=True, times=20)
    _answered(decisions, "Deployment/payments/api", right=False, times=3)
    routed = decisions.decide(proposal(0.99, subject="Deployment/payments/ledger"))
    record = store.get_decision(routed.decision_id)
    store.close()
    assert record is not None
    seen = record.evidence["routing"]["namespace"]
    assert main(["explain", routed.decision_id, "--ledger", url]) == 0
    out = capsys.readouterr().out
    assert (
        f"  namespace  payments: 0 of 3 outcomes of this type there right; confidence "
        f"lowered from {seen['lowered_from']:.1%} to {seen['confidence']:.1%}: worse than "
        f"its record elsewhere ({seen['elsewhere']:.1%}) beyond chance "
        f"(p = {seen['chance']:.2g}) (routing.perNamespace)"
    ) in out.splitlines()
