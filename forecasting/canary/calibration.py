"""From evidence strength to a calibrated confidence.

The raw strength of a decision (how far past its anytime-valid boundary the evidence
went) orders verdicts well but is not a probability. The tables below map it to the
share of such verdicts that were right on a labelled corpus. They were fitted by
``benchmarks/canary.py --fit-calibration`` on the calibration split of the canary
benchmark (runs with an even window index) and are evaluated on the other split; see
``benchmarks/canary_RESULTS.md``. Between knots the mapping is linear, beyond the last
knot it is flat, and it is non-decreasing by construction.
"""

from __future__ import annotations

from bisect import bisect_right

from forecasting.canary.verdict import Decision

__all__ = ["CALIBRATION", "calibrated_confidence"]

# (strength, probability right) knots per decision, sorted by strength.
# Fitted 2026-11-24 (session 37, after the paired bound's canary noise came from an exact
# few-events upper bound on the canary's own rate) on 4,320 calibration-split runs
# (isotonic fit, Laplace-smoothed; the fit's equal-valued rollback knots at 32.174 and
# 49.066 left out, the same mapping). The tables before it, fitted 2026-11-22: rollback
# (2.672, 0.994), (13.399, 0.996), (276.814, 0.9963); promote (1.841, 0.7385), (49.185,
# 0.7798).
# Promotions are right less often than rollbacks on that corpus mostly because a ramp that
# starts after the promotion, or a variance-only change, cannot be seen by a judge of
# means; the table says so instead of claiming the nominal 1 - alpha_promote.
CALIBRATION: dict[Decision, tuple[tuple[float, float], ...]] = {
    Decision.ROLLBACK: (
        (4.319, 0.9949),
        (20.538, 0.996),
        (88.21, 0.996),
        (275.592, 0.9963),
    ),
    Decision.PROMOTE: (
        (1.082, 0.6727),
        (13.316, 0.7636),
    ),
}

# Confidence stated for undecided verdicts: no lean is claimed either way.
UNDECIDED_CONFIDENCE = 0.5


def calibrated_confidence(decision: Decision, strength: float) -> float:
    knots = CALIBRATION.get(decision)
    if not knots:
        return UNDECIDED_CONFIDENCE
    xs = [k[0] for k in knots]
    i = bisect_right(xs, strength)
    if i == 0:
        return knots[0][1]
    if i == len(knots):
        return knots[-1][1]
    (x0, y0), (x1, y1) = knots[i - 1], knots[i]
    return y0 + (y1 - y0) * (strength - x0) / (x1 - x0)
