"""A question keeps the first message recorded for it (``Ledger.set_message_ref`` is a
compare-and-set), whichever replica writes second: before, the last write won."""

from __future__ import annotations

from agent.ledger import Decision, Ledger

NOW = 1_800_000_000.0
TTL = 900.0


def _decision() -> Decision:
    return Decision(
        kind="remediation",
        decision_type="rollback-crashloop/Deployment",
        subject="Deployment/shop/web",
        proposal={"op": "rollback", "to_revision": 4},
        confidence=0.82,
        reason_code="CrashLoopAfterRollout",
        reason="pods crash-loop since revision 5",
        evidence={},
        model_version="runbook rollback-crashloop@1",
        route="ask",
        status="asked",
    )


def test_the_second_replica_to_record_a_message_is_told_the_first(
    two: tuple[Ledger, Ledger],
) -> None:
    one, other = two
    question_id = one.ask(one.record_decision(_decision(), NOW), "slack", NOW, TTL)
    first, second = "slack:C0OPS:1.000001", "slack:C0OPS:2.000002"
    assert one.set_message_ref(question_id, first, expires_at=NOW + 2 * TTL, now=NOW) == first
    moved = other.question(question_id)
    assert moved is not None and moved.expires_at == NOW + 2 * TTL
    # The later post neither takes the question nor moves its expiry again.
    assert other.set_message_ref(question_id, second, expires_at=NOW + 3 * TTL, now=NOW) == first
    kept = one.question(question_id)
    assert kept is not None
    assert (kept.message_ref, kept.expires_at) == (first, NOW + 2 * TTL)
    assert other.set_message_ref("no-such-question", second) is None
