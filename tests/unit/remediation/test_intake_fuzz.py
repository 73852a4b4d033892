"""Property tests: malformed runbooks and payloads meet the intake contract.

The large run (10,000+ examples) is ``benchmarks/fuzz_intake.py``; here the counts stay
modest so the suite stays fast.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from .fuzzing import classify_payload, classify_runbook, payload_bodies, runbook_texts

FAST = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FAST
@given(runbook_texts())
def test_malformed_runbooks_fail_cleanly(text: str) -> None:
    classify_runbook(text)


@FAST
@given(payload_bodies())
def test_malformed_payloads_fail_cleanly(body: bytes) -> None:
    classify_payload(body)
