"""A metric's spread: does the canary vary more from interval to interval than its baseline?

The comparison of locations (``evidence``) cannot see a canary whose latency is as high on
average as its baseline's but noisier, or grown a heavy tail: Kayenta's Mann-Whitney has
the same blind spot (spinnaker/kayenta#780). A metric with ``spread`` set in its spec
(``MetricSpec.spread``, a ratio k > 1 of standard deviations) is also held to
sd(canary) <= k * sd(baseline), each side's standard deviation taken over its own
per-interval values (on the log scale for a relative tolerance, as the differences are,
so that a shift of the mean alone does not change the spread; in the metric's units for
an absolute one).

The test is Pitman and Morgan's for paired variances, with the tolerance folded in: for
any two series, Var(c) - k**2 Var(b) = Cov(c - k b, c + k b). So the spread is beyond
its tolerance exactly when the mean of z_t = (s_t - mean s)(a_t - mean a), with
s = c - k b and a = c + k b, is above 0, and within it when that mean is below 0. That
mean is bounded with the judge's own anytime-valid tool, the normal-mixture confidence
sequence with an autocorrelation-inflated variance (the one the comparison of locations
uses for its differences), at the rollback level for a regression and the promotion
level for "within". Whatever moves both sides together (traffic, the time of day) adds
the same to both variances and cancels from the covariance but for the k**2 - 1 share
of it, which counts towards "within": the ratio is of the spreads the metric shows.

The caveats are the comparison's, and one more: the bound plugs in an estimated variance
of z (a product of two series, heavier-tailed than either) and an estimated persistence;
and an interval's value summarising fewer requests is noisier, so a canary serving a
small share of the traffic has a wider spread than its busy baseline for that reason
alone (measured in ``benchmarks/canary_RESULTS.md``, 2026-11-25).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from forecasting.canary.sequences import normal_mixture_log_evalue, normal_mixture_radius
from forecasting.canary.spec import MetricSpec
from forecasting.canary.verdict import MetricFinding, MetricStatus

__all__ = ["SpreadEvidence", "SpreadFinding", "SpreadStatus", "with_spread"]

# Values beyond this are scaled down (one factor for all) before squares and products.
_MAX_VALUE = 1e60
_TINY = 1e-300


class SpreadStatus(StrEnum):
    WIDER = "wider"  # beyond the tolerance: a regression
    WITHIN = "within"
    UNCLEAR = "unclear"
    NO_DATA = "no_data"


@dataclass(frozen=True)
class SpreadFinding:
    """Where the canary's spread stands against ``ratio`` times its baseline's.

    ``canary``/``baseline`` are the two sides' standard deviations over the paired
    intervals (of the log values when ``relative``, 0.05 = about 5 %; else in the
    metric's units), ``observed`` their ratio (None while the baseline shows none)."""

    status: SpreadStatus
    ratio: float
    canary: float | None
    baseline: float | None
    observed: float | None
    relative: bool
    intervals: int
    strength: float
    clause: str


@dataclass
class SpreadEvidence:
    """The paired values of a continuous or resource metric, for its spread test."""

    spec: MetricSpec
    prior_intervals: float
    inflation: Callable[[Sequence[float], float], float]
    baseline: list[float] = field(default_factory=list)
    canary: list[float] = field(default_factory=list)

    def add(self, baseline: float, canary: float) -> None:
        """One interval's values, already checked by the comparison's evidence; an
        interval missing either side is left out, as the comparison leaves it out."""
        if math.isnan(baseline) or math.isnan(canary):
            return
        self.baseline.append(baseline)
        self.canary.append(canary)

    def _scaled(self) -> tuple[list[float], list[float]]:
        """Each side's values on the scale the spread is judged on."""
        if not self.spec.tolerance.relative:
            unit = _unit(self)
            return (
                [_held(b) / unit for b in self.baseline],
                [_held(c) / unit for c in self.canary],
            )
        # the comparison's own floor (1 % of the median), so a zero is a finite log
        positive = sorted(v for v in (*self.baseline, *self.canary) if v > 0)
        floor = max(0.01 * positive[len(positive) // 2], _TINY) if positive else 1.0
        return (
            [math.log(min(b + floor, 1e300)) for b in self.baseline],
            [math.log(min(c + floor, 1e300)) for c in self.canary],
        )

    def finding(self, alpha: float, alpha_promote: float, min_intervals: int) -> SpreadFinding:
        spec = self.spec
        assert spec.spread is not None
        k = spec.spread
        relative = spec.tolerance.relative
        n = len(self.baseline)
        if n == 0:
            return _make(spec, SpreadStatus.NO_DATA, None, None, None, 0, 0.0)
        if n < 2:
            return _make(spec, SpreadStatus.UNCLEAR, None, None, None, n, 0.0)
        b, c = self._scaled()
        mean_b = math.fsum(b) / n
        mean_c = math.fsum(c) / n
        sd_b = math.sqrt(math.fsum((v - mean_b) ** 2 for v in b) / (n - 1))
        sd_c = math.sqrt(math.fsum((v - mean_c) ** 2 for v in c) / (n - 1))
        shown = (
            _shown(sd_c, relative, self),
            _shown(sd_b, relative, self),
            sd_c / sd_b if sd_b > 0 else None,
        )
        if n < min_intervals:
            return _make(spec, SpreadStatus.UNCLEAR, *shown, n, 0.0)
        if sd_b == 0.0 and sd_c == 0.0:  # two constant sides: no spread on either
            return _make(spec, SpreadStatus.WITHIN, *shown, n, 0.0)
        s = [ci - k * bi for bi, ci in zip(b, c, strict=True)]
        a = [ci + k * bi for bi, ci in zip(b, c, strict=True)]
        mean_s = math.fsum(s) / n
        mean_a = math.fsum(a) / n
        # n / (n - 1): the unbiased covariance, so that z's mean is Var(c) - k**2 Var(b)
        z = [(si - mean_s) * (ai - mean_a) * n / (n - 1) for si, ai in zip(s, a, strict=True)]
        mean_z = math.fsum(z) / n
        var = math.fsum((v - mean_z) ** 2 for v in z) / (n - 1)
        # never below a hundredth of the tolerance's own scale, (k**2 - 1) Var(b), squared,
        # as the comparison floors its variance at a hundredth of its tolerance
        floor = 0.01 * (k * k - 1.0) * max(sd_b * sd_b, sd_c * sd_c / (k * k))
        var = max(var, floor * floor, _TINY) * (1.0 + 4.0 / n) * self.inflation(z, mean_z)
        rho = var * self.prior_intervals
        half_r = normal_mixture_radius(n * var, rho, alpha) / n
        half_p = normal_mixture_radius(n * var, rho, alpha_promote) / n
        if mean_z - half_r > 0:
            strength = normal_mixture_log_evalue(n * mean_z, n * var, rho) - math.log(1 / alpha)
            return _make(spec, SpreadStatus.WIDER, *shown, n, strength)
        if mean_z + half_p < 0:
            strength = normal_mixture_log_evalue(n * mean_z, n * var, rho) - math.log(
                1 / alpha_promote
            )
            return _make(spec, SpreadStatus.WITHIN, *shown, n, strength)
        return _make(spec, SpreadStatus.UNCLEAR, *shown, n, 0.0)


def _shown(sd: float, relative: bool, evidence: SpreadEvidence) -> float:
    """A standard deviation as reported: on the log scale as it is (0.05: values vary by
    about 5 %), so that the two sides' ratio is the one judged; else in the metric's
    units (undoing ``_scaled``'s scaling)."""
    return sd if relative else sd * _unit(evidence)


def _held(value: float) -> float:
    """A value within +-1e300, so that an infinite one scales to a finite number."""
    return min(max(value, -1e300), 1e300)


def _unit(evidence: SpreadEvidence) -> float:
    """1, or the factor that brings the largest value down to ``_MAX_VALUE``."""
    top = max(abs(_held(v)) for v in (*evidence.baseline, *evidence.canary))
    return top / _MAX_VALUE if top > _MAX_VALUE else 1.0


def _spread_text(value: float, relative: bool) -> str:
    return f"{value:.1%}" if relative else f"{value:.3g}"


def _make(
    spec: MetricSpec,
    status: SpreadStatus,
    canary: float | None,
    baseline: float | None,
    observed: float | None,
    n: int,
    strength: float,
) -> SpreadFinding:
    """``observed``: the ratio of the standard deviations on the scale judged."""
    assert spec.spread is not None
    k = spec.spread
    relative = spec.tolerance.relative
    tolerance = f"the x{k:g} spread tolerance"
    if canary is None or baseline is None:
        clause = f"its spread has no verdict yet against {tolerance}"
    else:
        ratio = f"x{observed:.2f}" if observed is not None else "with none on the baseline"
        spreads = (
            f"interval-to-interval spread (sd) canary {_spread_text(canary, relative)} vs "
            f"baseline {_spread_text(baseline, relative)}, {ratio}"
        )
        clause = {
            SpreadStatus.WIDER: f"a spread regression: {spreads}, wider than {tolerance}",
            SpreadStatus.WITHIN: f"its {spreads}, within {tolerance}",
            SpreadStatus.UNCLEAR: f"not yet clear whether its {spreads}, is within {tolerance}",
            SpreadStatus.NO_DATA: f"its {spreads}: no verdict yet against {tolerance}",
        }[status]
    return SpreadFinding(
        status, k, canary, baseline, observed, relative, n, max(strength, 0.0), clause
    )


def with_spread(finding: MetricFinding, spread: SpreadFinding) -> MetricFinding:
    """The finding with the spread's folded in: regressed if either says so, within
    tolerance only if both do (so a metric with ``spread`` on is never promoted before its
    spread is shown within its tolerance), otherwise as undecided as before."""
    status = finding.status
    strength = finding.strength
    own = finding.sentence.rstrip(".")
    if spread.status is SpreadStatus.WIDER:
        if status is MetricStatus.REGRESSED:
            strength = max(strength, spread.strength)
            sentence = f"{own}; and {spread.clause}."
        else:
            strength = spread.strength
            sentence = f"{finding.name}: {spread.clause}, after {_n(spread.intervals)}"
            sentence += f" (the level against the baseline: {_after_name(finding)})."
        status = MetricStatus.REGRESSED
    elif status is MetricStatus.WITHIN_TOLERANCE and spread.status is SpreadStatus.WITHIN:
        strength = min(strength, spread.strength)
        sentence = f"{own}; and {spread.clause}."
    elif status is MetricStatus.WITHIN_TOLERANCE:
        status, strength = MetricStatus.UNDECIDED, 0.0
        sentence = f"{own}, but {spread.clause}: not promoted on that."
    else:
        sentence = f"{own}; {spread.clause}."
    return replace(
        finding,
        status=status,
        strength=strength,
        sentence=sentence,
        spread=spread.ratio,
        spread_status=spread.status.value,
        spread_canary=spread.canary,
        spread_baseline=spread.baseline,
    )


def _n(intervals: int) -> str:
    return "1 interval" if intervals == 1 else f"{intervals} intervals"


def _after_name(finding: MetricFinding) -> str:
    text = finding.sentence.rstrip(".")
    prefix = f"{finding.name}: "
    return text[len(prefix) :] if text.startswith(prefix) else text
