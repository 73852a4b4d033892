"""The judge's answers: frozen values with a reason code and a sentence a person can read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Decision", "MetricFinding", "MetricStatus", "Verdict", "after_name", "fold_check"]


class Decision(StrEnum):
    """``continue`` means "ask again later"; ``inconclusive`` means "a person must decide"."""

    PROMOTE = "promote"
    ROLLBACK = "rollback"
    CONTINUE = "continue"
    INCONCLUSIVE = "inconclusive"


class MetricStatus(StrEnum):
    REGRESSED = "regressed"
    WITHIN_TOLERANCE = "within_tolerance"
    UNDECIDED = "undecided"
    NO_DATA = "no_data"


def _clean(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class MetricFinding:
    """What one metric shows. ``estimate``/``lower``/``upper`` are canary minus baseline,

    relative (0.2 = 20 % higher) when ``relative`` else in the metric's units (rates for
    ratio metrics). The interval is anytime-valid: at the rollback level (``alpha``) for a
    regression, at the promotion level (``alpha_promote``) otherwise, each split over the
    metrics.
    ``strength`` is how far past its decision boundary the evidence is (0 when undecided),
    the raw input of the confidence mapping.
    A metric with an absolute objective also carries it (in its own units, a rate for a
    ratio metric), how the canary stands against it (``breached``, ``met``, ``unclear`` or
    ``no_data``) and the canary's own level with its interval; its ``status`` already
    takes them into account.
    ``dry_run`` marks a metric judged only to be reported: its status never moves the
    verdict (``MetricSpec.dry_run``).
    A metric with ``spread`` on carries its tolerance (a ratio of standard deviations),
    how the canary's interval-to-interval spread stands against it (``wider``, ``within``,
    ``unclear`` or ``no_data``) and both sides' spreads (relative when ``relative``),
    and, when the metric has a ``count`` column, how many times fewer requests the
    canary's values summarise than the baseline's (``spread_requests``, allowed for);
    its ``status`` already takes them into account.
    """

    name: str
    kind: str
    critical: bool
    status: MetricStatus
    estimate: float | None
    lower: float | None
    upper: float | None
    relative: bool
    tolerance: float
    intervals: int
    strength: float
    sentence: str
    objective: float | None = None
    objective_status: str | None = None
    objective_value: float | None = None
    objective_lower: float | None = None
    objective_upper: float | None = None
    dry_run: bool = False
    spread: float | None = None
    spread_status: str | None = None
    spread_canary: float | None = None
    spread_baseline: float | None = None
    spread_requests: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "kind": self.kind,
            "critical": self.critical,
            "status": self.status.value,
            "estimate": _clean(self.estimate),
            "lower": _clean(self.lower),
            "upper": _clean(self.upper),
            "scale": "relative" if self.relative else "absolute",
            "tolerance": self.tolerance,
            "intervals": self.intervals,
            "sentence": self.sentence,
        }
        if self.dry_run:
            out["dry_run"] = True
        if self.objective is not None:
            out["objective"] = {
                "value": self.objective,
                "status": self.objective_status,
                "canary": _clean(self.objective_value),
                "lower": _clean(self.objective_lower),
                "upper": _clean(self.objective_upper),
            }
        if self.spread is not None:
            canary, baseline = _clean(self.spread_canary), _clean(self.spread_baseline)
            out["spread"] = {
                "tolerance": self.spread,
                "status": self.spread_status,
                "canary": canary,
                "baseline": baseline,
                "ratio": _clean(canary / baseline) if canary is not None and baseline else None,
                "requests_ratio": _clean(self.spread_requests),
            }
        return out


@dataclass(frozen=True)
class Verdict:
    """The judge's answer after some number of intervals.

    ``confidence`` is the calibrated probability that ``decision`` is the right call (for
    ``continue``/``inconclusive``: that the canary is not a regression, as it looks now).
    ``decided_after_seconds`` is None until the verdict is final (promote, rollback, or
    inconclusive at the end of the analysis); once final, later updates keep it.
    """

    decision: Decision
    confidence: float
    reason: str
    sentence: str
    elapsed_seconds: float
    decided_after_seconds: float | None
    metrics: tuple[MetricFinding, ...]

    @property
    def final(self) -> bool:
        return self.decided_after_seconds is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.decision.value,
            "confidence": round(self.confidence, 4),
            "reason": self.reason,
            "sentence": self.sentence,
            "elapsed_seconds": self.elapsed_seconds,
            "decided_after_seconds": self.decided_after_seconds,
            "metrics": [m.to_dict() for m in self.metrics],
        }


def after_name(finding: MetricFinding) -> str:
    """A finding's sentence without the metric's name in front, and without its full stop."""
    text = finding.sentence.rstrip(".")
    prefix = f"{finding.name}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def fold_check(
    finding: MetricFinding,
    *,
    regressed: bool,
    within: bool,
    clause: str,
    strength: float,
    intervals: int,
    against: str,
    within_joiner: str,
) -> tuple[MetricStatus, float, str]:
    """How a further check on one metric (an objective, a spread) folds into the status,
    strength and sentence of its comparison with the baseline: regressed if either says
    so, within tolerance only if both do, otherwise as undecided as the comparison (and
    undecided where the comparison alone would have been within tolerance). ``clause``
    says what the check found; ``against`` names the comparison in a sentence led by the
    check ("against the baseline"); ``within_joiner`` joins the two when both are within."""
    status = finding.status
    own = finding.sentence.rstrip(".")
    if regressed:
        if status is MetricStatus.REGRESSED:
            return status, max(finding.strength, strength), f"{own}; and {clause}."
        shown = "1 interval" if intervals == 1 else f"{intervals} intervals"
        return (
            MetricStatus.REGRESSED,
            strength,
            f"{finding.name}: {clause}, after {shown} ({against}: {after_name(finding)}).",
        )
    if status is MetricStatus.WITHIN_TOLERANCE and within:
        return status, min(finding.strength, strength), f"{own}{within_joiner} {clause}."
    if status is MetricStatus.WITHIN_TOLERANCE:
        return MetricStatus.UNDECIDED, 0.0, f"{own}, but {clause}: not promoted on that."
    return status, finding.strength, f"{own}; {clause}."
