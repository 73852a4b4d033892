"""Per-metric evidence, accumulated one interval at a time and read as a finding.

Continuous metrics are compared on paired per-interval differences (canary minus
baseline over the same window, on the log scale for relative tolerances): whatever moves
both sides together (traffic, time of day, a noisy dependency) cancels, and what remains
is judged with an autocorrelation-inflated confidence sequence.

Ratio metrics (errors over requests) are judged on counts, never on ratios of rates, so a
baseline with zero errors is an ordinary case: the rollback test asks, of the errors seen
in each interval, whether more fell on the canary than its share of requests explains.

A metric is ``regressed`` when its rollback bound excludes "no worse" and the point estimate
is at least the tolerance (so a real but immaterial difference between pods does not roll a
canary back), and ``within_tolerance`` when its promotion bound lies below the tolerance.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from forecasting.canary.sequences import (
    ar1_inflation,
    binomial_bounds,
    fewer_events_upper,
    long_run_inflation,
    normal_mixture_log_evalue,
    normal_mixture_radius,
    rate_ratio_log_evalue,
)
from forecasting.canary.spec import MetricKind, MetricSpec
from forecasting.canary.verdict import MetricFinding, MetricStatus

__all__ = [
    "CanaryDataError",
    "ContinuousEvidence",
    "RatioEvidence",
    "infinite_advice",
    "infinite_value",
]

# Rate ratios the count test mixes over (canary rate / baseline rate).
_RATIO_GRID = tuple(
    math.exp(math.log(1.5) + i * (math.log(500.0) - math.log(1.5)) / 11) for i in range(12)
)


# Counts above this are scaled down (by one factor for all) before squares and sums.
_MAX_COUNT = 1e100
# Log e-values and dispersion factors are held within +-this: far beyond any threshold,
# and far from the float maximum, where sums turn to inf and inf - inf to NaN.
_LOG_CAP = 1e250
# The smallest variance the continuous bound works with (a constant series has none).
_TINY = 1e-300
_FLOAT_MAX = sys.float_info.max


class CanaryDataError(ValueError):
    """Interval data that cannot be judged (negative latency, a +Inf p99, a counter that
    went back).

    ``side`` is ``"baseline"`` or ``"canary"`` when the fault is on one side only, so that
    a caller reading the two sides from two files can name the file.
    """

    def __init__(self, message: str, *, side: str | None = None) -> None:
        super().__init__(message)
        self.side = side


def _inf_side(baseline: float, canary: float) -> str | None:
    """The one side whose value is infinite; None when both are."""
    if math.isinf(baseline) and math.isinf(canary):
        return None
    return "baseline" if math.isinf(baseline) else "canary"


def infinite_value(spec: MetricSpec, baseline: float, canary: float) -> str:
    """Why an interval with an infinite value of ``spec`` is not judged, and what to do.

    +Inf is what ``histogram_quantile`` returns when the quantile falls in the ``+Inf``
    bucket: the requests above it were slower than the largest finite bucket's bound, so
    the value is not known, only that it is beyond that bound."""
    sides = [
        (side, value)
        for side, value in (("canary", canary), ("baseline", baseline))
        if math.isinf(value)
    ]
    if len(sides) == 2 and canary == baseline:
        which = f"both sides' values are {_inf_text(canary)}"
    else:
        which = " and ".join(f"the {side}'s value is {_inf_text(v)}" for side, v in sides)
    why = infinite_advice(any(v > 0 for _, v in sides))
    return f"metric {spec.name!r}: {which}, not a number the judge can compare; {why}"


def infinite_advice(positive: bool) -> str:
    """What an infinite value (``positive``: +Inf) most likely means, and what to do."""
    if positive:
        return (
            "for a histogram_quantile that means the quantile fell in the +Inf bucket, "
            "beyond the histogram's largest finite bucket: add buckets with a larger le so "
            "that it has a number"
        )
    return "check the metric's query"


def _inf_text(value: float) -> str:
    return "+Inf" if value > 0 else "-Inf"


def _fmt_change(value: float, relative: bool) -> str:
    if relative:
        return f"{value:+.1%}"
    return f"{value:+.3g}"


def _fmt_rate(value: float) -> str:
    return f"{value * 100:+.2f} pp"


@dataclass
class ContinuousEvidence:
    """Paired differences of a continuous or resource metric."""

    spec: MetricSpec
    alpha: float
    alpha_promote: float
    min_intervals: int
    prior_intervals: float
    weigh_persistence: bool = False
    baseline: list[float] = field(default_factory=list)
    canary: list[float] = field(default_factory=list)
    missing: int = 0
    missing_sides: list[int] = field(default_factory=lambda: [0, 0])  # baseline, canary

    def add(self, baseline: float, canary: float) -> None:
        if math.isnan(baseline) or math.isnan(canary):
            self.missing += 1
            self.missing_sides[0] += math.isnan(baseline)
            self.missing_sides[1] += math.isnan(canary)
            return
        self.check(baseline, canary)
        self.baseline.append(baseline)
        self.canary.append(canary)

    def check(self, baseline: float, canary: float) -> None:
        """Raise ``CanaryDataError`` if ``add`` would refuse these values; change nothing.

        NaN is missing (a window with no requests: ``histogram_quantile`` of nothing), and
        ``add`` counts it so; an infinite value is refused, whatever the other side's, as
        no statistic can use it (before, the bounds took inf - inf and crashed on NaN)."""
        if math.isinf(baseline) or math.isinf(canary):
            raise CanaryDataError(
                infinite_value(self.spec, baseline, canary), side=_inf_side(baseline, canary)
            )
        if math.isnan(baseline) or math.isnan(canary):
            return
        if not self.spec.allow_negative and (baseline < 0 or canary < 0):
            side = "baseline" if baseline < 0 else "canary"
            raise CanaryDataError(
                f"metric {self.spec.name!r}: the {side} value {min(baseline, canary)!r} is "
                "negative; set allow_negative: true in the spec if the metric can be negative",
                side=side,
            )
        if self.spec.tolerance.relative and (baseline < 0 or canary < 0):
            side = "baseline" if baseline < 0 else "canary"
            raise CanaryDataError(
                f"metric {self.spec.name!r}: the {side} value {min(baseline, canary)!r} is "
                "negative, and a relative tolerance cannot judge a value that crosses zero; "
                "give the metric an absolute tolerance",
                side=side,
            )

    def refuses(self, value: float) -> bool:
        """Whether ``check`` refuses a finite ``value`` on its own, on either side (a
        negative latency, or a negative value under a relative tolerance): not a
        measurement the judge takes, whatever the other side's."""
        try:
            self.check(value, value)
        except CanaryDataError:
            return True
        return False

    def _differences(self) -> list[float]:
        # held within the float range: values near its ends would make inf and then NaN
        if not self.spec.tolerance.relative:
            return [
                min(max(c - b, -_FLOAT_MAX), _FLOAT_MAX)
                for b, c in zip(self.baseline, self.canary, strict=True)
            ]
        positive = sorted(v for v in (*self.baseline, *self.canary) if v > 0)
        floor = max(0.01 * positive[len(positive) // 2], _TINY) if positive else 1.0
        return [
            math.log(min(c + floor, _FLOAT_MAX)) - math.log(min(b + floor, _FLOAT_MAX))
            for b, c in zip(self.baseline, self.canary, strict=True)
        ]

    def finding(self) -> MetricFinding:
        spec = self.spec
        relative = spec.tolerance.relative
        tol = math.log1p(spec.tolerance.value) if relative else spec.tolerance.value
        n = len(self.baseline)
        if n == 0:
            return _empty(spec, relative, self.missing, self.missing_sides)
        diffs = _clip_outliers(self._differences())
        # differences (and an absolute tolerance) beyond 1e100 are scaled down together,
        # which changes no decision, so that their squares cannot overflow
        magnitude = max(tol, *(abs(d) for d in diffs))
        unit = magnitude / _MAX_COUNT if magnitude > _MAX_COUNT else 1.0
        if unit != 1.0:
            diffs = [d / unit for d in diffs]
            tol /= unit
        mean = sum(diffs) / n
        sign = spec.direction.sign

        def shown(value: float) -> float:
            return _from_log(value, relative) if relative else value * unit

        if n < 2:
            return _undecided(spec, relative, n, shown(mean), None, None)
        var = sum((d - mean) * (d - mean) for d in diffs) / (n - 1)
        floor = 0.01 * tol
        inflation = long_run_inflation if self.weigh_persistence else ar1_inflation
        var = max(var, floor * floor, _TINY) * (1.0 + 4.0 / n) * inflation(diffs, mean)
        rho = var * self.prior_intervals
        # one radius guards rollbacks (alpha), the other promotions (alpha_promote)
        half_r = normal_mixture_radius(n * var, rho, self.alpha) / n
        half_p = normal_mixture_radius(n * var, rho, self.alpha_promote) / n
        worse = sign * mean
        est = shown(mean)

        def bounds(half: float) -> tuple[float, float]:
            ends = sorted((shown(mean - half), shown(mean + half)))
            return ends[0], ends[1]

        if n < self.min_intervals:
            return _undecided(spec, relative, n, est, *bounds(half_p))
        if worse - half_r > 0 and worse >= tol:
            strength = normal_mixture_log_evalue(n * worse, n * var, rho) - math.log(1 / self.alpha)
            return _finding(
                spec, MetricStatus.REGRESSED, relative, n, est, *bounds(half_r), strength
            )
        if worse + half_p < tol:
            strength = normal_mixture_log_evalue(n * (tol - worse), n * var, rho) - math.log(
                1 / self.alpha_promote
            )
            return _finding(
                spec, MetricStatus.WITHIN_TOLERANCE, relative, n, est, *bounds(half_p), strength
            )
        return _undecided(spec, relative, n, est, *bounds(half_p))


@dataclass
class RatioEvidence:
    """Event and trial counts of a ratio metric, per side and per interval."""

    spec: MetricSpec
    alpha: float
    alpha_promote: float
    min_intervals: int
    intervals: list[tuple[float, float, float, float]] = field(default_factory=list)
    log_lr: list[float] = field(default_factory=lambda: [0.0] * len(_RATIO_GRID))
    missing: int = 0
    # of the missing intervals: the baseline's without a value, the canary's, and those
    # in which neither side had a trial
    missing_sides: list[int] = field(default_factory=lambda: [0, 0, 0])

    def add(self, b_events: float, b_trials: float, c_events: float, c_trials: float) -> None:
        values = (b_events, b_trials, c_events, c_trials)
        if any(math.isnan(v) for v in values):
            self.missing += 1
            self.missing_sides[0] += math.isnan(b_events) or math.isnan(b_trials)
            self.missing_sides[1] += math.isnan(c_events) or math.isnan(c_trials)
            return
        self.check(*values)
        if b_trials == 0 and c_trials == 0:
            self.missing += 1
            self.missing_sides[2] += 1
            return
        self.intervals.append(values)
        total = b_events + c_events
        if total > 0 and b_trials > 0 and c_trials > 0:
            # the canary's share of the interval's requests, and under a rate ratio theta
            # its share q of the errors. The log-likelihood ratio is
            #   c_events * log(q / share) + b_events * log((1 - q) / (1 - share)),
            # written with log1p of small terms: with 1e16 times more requests on one side,
            # q, share and their complements round to 0 or 1 and the plain form loses all
            # the evidence (or takes the log of 0)
            share = 1.0 / (1.0 + b_trials / c_trials)
            rest = 1.0 / (1.0 + c_trials / b_trials)  # 1 - share, without cancellation
            for j, ratio in enumerate(_RATIO_GRID):
                theta = ratio if self.spec.direction.sign > 0 else 1.0 / ratio
                log_q_share = -math.log1p((1.0 - theta) * rest / theta)
                log_notq_rest = -math.log1p((theta - 1.0) * share)
                step = c_events * log_q_share + b_events * log_notq_rest
                self.log_lr[j] = min(max(self.log_lr[j] + step, -_LOG_CAP), _LOG_CAP)

    def check(self, b_events: float, b_trials: float, c_events: float, c_trials: float) -> None:
        """Raise ``CanaryDataError`` if ``add`` would refuse these counts; change nothing."""
        if any(math.isnan(v) for v in (b_events, b_trials, c_events, c_trials)):
            return
        for side, events, trials in (
            ("baseline", b_events, b_trials),
            ("canary", c_events, c_trials),
        ):
            if events < 0 or trials < 0:
                raise CanaryDataError(
                    f"metric {self.spec.name!r}: the {side} has a negative count "
                    f"({events!r} of {trials!r})",
                    side=side,
                )
            if math.isinf(events) or math.isinf(trials):
                raise CanaryDataError(
                    f"metric {self.spec.name!r}: the {side} has an infinite count "
                    f"({events!r} of {trials!r})",
                    side=side,
                )
            if events > trials:
                raise CanaryDataError(
                    f"metric {self.spec.name!r}: the {side} has more events than trials "
                    f"({events!r} > {trials!r}); are numerator and denominator swapped?",
                    side=side,
                )

    @staticmethod
    def _side_dispersion(side: list[tuple[float, float]]) -> float:
        rows = [(e, t) for e, t in side if t > 0]
        if len(rows) < 5:
            return 1.0
        k = sum(e for e, _ in rows)
        n = sum(t for _, t in rows)
        p = k / n
        if p <= 0 or p >= 1:
            return 1.0
        chi2 = sum(_squared_z(e, t * p, t * p * (1 - p)) for e, t in rows)
        return _dispersion(chi2, len(rows))

    def _conditional_dispersion(self, theta: float) -> float:
        chi2 = 0.0
        used = 0
        for b_e, b_t, c_e, c_t in self.intervals:
            total = b_e + c_e
            if total <= 0 or b_t <= 0 or c_t <= 0:
                continue
            # q = theta*c_t / (theta*c_t + b_t), written so that neither it nor 1 - q
            # overflows or rounds away
            weighted = theta * c_t
            if not 0.0 < weighted < math.inf:
                continue  # q is 0 or 1: the interval says nothing about dispersion
            q = 1.0 / (1.0 + b_t / weighted)
            not_q = 1.0 / (1.0 + weighted / b_t)
            if not (0.0 < q < 1.0 and 0.0 < not_q < 1.0):
                continue
            chi2 += _squared_z(c_e, total * q, total * q * not_q)
            used += 1
        if used < 5:
            return 1.0
        return _dispersion(chi2, used)

    def _paired_bounds(
        self,
        intervals: list[tuple[float, float, float, float]],
        events: float,
        trials: float,
        canary_trials: float,
        canary_bad_rate: float,
    ) -> tuple[float, float] | None:
        """Bounds on the rate difference from per-interval excess canary errors.

        ``canary_bad_rate`` is an upper bound on the canary's rate of bad events (errors,
        or for a metric where lower is worse, non-events), exact for few of them."""
        rows = [r for r in intervals if r[1] > 0 and r[3] > 0]
        if len(rows) < self.min_intervals or canary_trials <= 0:
            return None
        excess = [c_e - c_t * (b_e / b_t) for b_e, b_t, c_e, c_t in rows]
        weights = [c_t for _, _, _, c_t in rows]
        total_w = sum(weights)
        delta = sum(excess) / total_w
        residuals = [x - w * delta for x, w in zip(excess, weights, strict=True)]
        mean_r = sum(residuals) / len(residuals)
        # never below the binomial variance of the counts: the baseline's at the pooled
        # rate (smoothed away from 0), the canary's at the highest rate its own counts
        # still allow. Its count's noise is that of its true rate, which the counts seen
        # estimate badly while they are few: a quiet canary with no error yet, beside a
        # busy baseline with none, has a pooled rate near 0 and looked exactly known
        pooled = (events + 0.5) / (trials + 1.0)
        pooled_var = pooled * (1.0 - pooled)
        cap = min(canary_bad_rate, 0.5)
        canary_var = max(pooled_var, cap * (1.0 - cap))
        floor = sum(
            w * (canary_var + pooled_var * w / max(b_t, 1.0))
            for (_, b_t, _, _), w in zip(rows, weights, strict=True)
        )
        variance = max(sum(r * r for r in residuals), floor) * ar1_inflation(residuals, mean_r)
        if not (0.0 < variance < math.inf and total_w > 0):
            return None  # counts so small that their variance underflows: no paired bound
        rho = variance / len(rows) * 10.0
        radius = normal_mixture_radius(variance, rho, self.alpha_promote / 2)
        return delta - radius / total_w, delta + radius / total_w

    def finding(self) -> MetricFinding:
        spec = self.spec
        tol = spec.tolerance.value
        n = len(self.intervals)
        if n == 0:
            return _empty(spec, False, self.missing, self.missing_sides)
        # counts beyond 1e100 are scaled down by one factor per side (rates unchanged),
        # and by one for both sides where the sides are compared interval by interval
        fb = _scale_factor(v for r in self.intervals for v in r[:2])
        fc = _scale_factor(v for r in self.intervals for v in r[2:])
        base = [(b_e * fb, b_t * fb) for b_e, b_t, _, _ in self.intervals]
        cand = [(c_e * fc, c_t * fc) for _, _, c_e, c_t in self.intervals]
        kb = sum(e for e, _ in base)
        nb = sum(t for _, t in base)
        kc = sum(e for e, _ in cand)
        nc = sum(t for _, t in cand)
        if nb == 0 or nc == 0:
            side = "canary" if nc == 0 else "baseline"
            return MetricFinding(
                spec.name,
                spec.kind.value,
                spec.critical,
                MetricStatus.NO_DATA,
                None,
                None,
                None,
                False,
                tol,
                n,
                0.0,
                f"{spec.name}: the {side} has served no requests yet, so there is nothing to "
                "compare (no verdict from no data).",
            )
        pb, pc = kb / nb, kc / nc
        phi_b = self._side_dispersion(base)
        phi_c = self._side_dispersion(cand)
        # promotion may rest on either of two bounds, each at half the promotion budget:
        # exact per-side rates (tempered by each side's over-dispersion), or the paired
        # excess of canary errors over what the baseline's same-interval rate predicts,
        # which cancels whatever moves both error rates together
        lb, ub = binomial_bounds(kb / phi_b, nb / phi_b, self.alpha_promote / 4)
        lc, uc = binomial_bounds(kc / phi_c, nc / phi_c, self.alpha_promote / 4)
        est, low, high = pc - pb, lc - ub, uc - lb
        f = min(fb, fc)
        both = [(b_e * f, b_t * f, c_e * f, c_t * f) for b_e, b_t, c_e, c_t in self.intervals]
        sign = spec.direction.sign
        # an exact, anytime-valid upper bound on the canary's rate of bad events, at the
        # paired bound's half of the promotion budget (the per-side bounds have the other)
        bad_c = kc if sign > 0 else nc - kc
        canary_bad = fewer_events_upper(bad_c / phi_c, nc / phi_c, self.alpha_promote / 2)
        paired = self._paired_bounds(
            both,
            sum(r[0] + r[2] for r in both),
            sum(r[1] + r[3] for r in both),
            nc,
            canary_bad,
        )
        if paired is not None and paired[1] - paired[0] < high - low:
            low, high = paired
        worse = sign * est
        worse_hi = max(sign * low, sign * high)
        served = f" ({spec.denominator} so far: canary {nc:,.0f}, baseline {nb:,.0f})"
        if n < self.min_intervals:
            return _undecided(spec, False, n, est, low, high, served)
        theta_hat = pc / pb if pb > 0 else math.inf
        phi_cond = self._conditional_dispersion(theta_hat) if math.isfinite(theta_hat) else 1.0
        log_e = rate_ratio_log_evalue(self.log_lr, phi_cond)
        threshold = math.log(1.0 / self.alpha)
        worse_lo = min(sign * low, sign * high)
        # the paired count test must fire, and the per-side rates must agree on the sign
        if log_e >= threshold and worse >= tol and worse_lo > 0:
            return _finding(
                spec, MetricStatus.REGRESSED, False, n, est, low, high, log_e - threshold
            )
        if worse_hi < tol:
            # how much room is left below the tolerance, in units of the interval's width
            width = max(high - low, 1e-12)
            strength = math.log(1.0 / self.alpha_promote) * (tol - worse_hi) / width
            return _finding(spec, MetricStatus.WITHIN_TOLERANCE, False, n, est, low, high, strength)
        return _undecided(spec, False, n, est, low, high, served)


def _squared_z(observed: float, expected: float, variance: float) -> float:
    """(observed - expected)**2 / variance, 0 for a degenerate variance, never inf or NaN."""
    if not variance > 0:
        return 0.0
    z = (observed - expected) / math.sqrt(variance)
    return min(z * z, _LOG_CAP)


def _dispersion(chi2: float, rows: int) -> float:
    """Over-dispersion factor: Pearson's chi-square per degree of freedom, within [1, cap]."""
    return min(max(1.0, chi2 / (rows - 1)), _LOG_CAP)


def _scale_factor(counts: Iterable[float]) -> float:
    """1, or the factor that brings the largest of ``counts`` down to ``_MAX_COUNT``.

    Scaling counts down by one factor leaves rates unchanged; bounds computed from fewer
    trials are wider, so still valid, and at 1e100 trials narrower than any tolerance.
    Without it, squares and sums of counts near the float maximum overflow.
    """
    top = max(counts, default=0.0)
    return _MAX_COUNT / top if top > _MAX_COUNT else 1.0


def _clip_outliers(diffs: list[float], k: float = 3.0) -> list[float]:
    """Winsorise differences at median +- k robust standard deviations.

    A lone spike on one side (a GC pause, a scrape landing on a burst) otherwise dominates
    the variance and keeps a clear case undecided for the rest of the run. A real shift
    moves the median with it, so clipping keeps the shift while taming the spikes.
    """
    if len(diffs) < 5:
        return diffs
    ordered = sorted(diffs)
    median = ordered[len(ordered) // 2]
    spread = sorted(abs(d - median) for d in diffs)[len(diffs) // 2] * 1.4826
    if spread <= 0:
        return diffs
    lo, hi = median - k * spread, median + k * spread
    return [min(max(d, lo), hi) for d in diffs]


def _intervals(n: int) -> str:
    return "1 interval" if n == 1 else f"{n} intervals"


def _from_log(value: float, relative: bool) -> float:
    # held below exp(700), about 1e304, so that a change of absurd size stays finite
    return math.expm1(min(value, 700.0)) if relative else value


def _empty(
    spec: MetricSpec, relative: bool, missing: int, sides: Sequence[int] = (0, 0)
) -> MetricFinding:
    """No interval paired yet; ``sides`` counts, of the ``missing`` intervals, those in
    which the baseline and the canary had no value (a query that returns nothing), and
    for a ratio those in which neither side had a trial."""
    tol = spec.tolerance.value
    extra = ""
    if missing:
        counts = [*sides, 0][:3]
        which = [
            f"the {side} had no value in {count}"
            for side, count in (("canary", counts[1]), ("baseline", counts[0]))
            if count
        ]
        if counts[2]:
            which.append(f"neither side had any {spec.denominator} in {counts[2]}")
        extra = f" ({_intervals(missing)} missing" + (": " + ", ".join(which) if which else "")
        extra += ")"
    return MetricFinding(
        spec.name,
        spec.kind.value,
        spec.critical,
        MetricStatus.NO_DATA,
        None,
        None,
        None,
        relative,
        tol,
        0,
        0.0,
        f"{spec.name}: no paired data yet{extra}; no verdict from no data.",
    )


def _describe(value: float, relative: bool, kind: MetricKind) -> str:
    if kind is MetricKind.RATIO:
        return _fmt_rate(value)
    return _fmt_change(value, relative)


def _undecided(
    spec: MetricSpec,
    relative: bool,
    n: int,
    est: float,
    low: float | None,
    high: float | None,
    served: str = "",
) -> MetricFinding:
    shown = _describe(est, relative, spec.kind)
    if low is None or high is None:
        interval = ""
    else:
        interval = (
            f" (interval {_describe(low, relative, spec.kind)} to "
            f"{_describe(high, relative, spec.kind)})"
        )
    sentence = (
        f"{spec.name}: canary {shown} vs baseline{interval} after {_intervals(n)}; not yet "
        f"clear whether it is within the {_tolerance_text(spec)} tolerance{served}."
    )
    return MetricFinding(
        spec.name,
        spec.kind.value,
        spec.critical,
        MetricStatus.UNDECIDED,
        est,
        low,
        high,
        relative,
        spec.tolerance.value,
        n,
        0.0,
        sentence,
    )


def _tolerance_text(spec: MetricSpec) -> str:
    if spec.kind is MetricKind.RATIO:
        return f"{spec.tolerance.value * 100:g} pp"
    return spec.tolerance.describe()


def _finding(
    spec: MetricSpec,
    status: MetricStatus,
    relative: bool,
    n: int,
    est: float,
    low: float,
    high: float,
    strength: float,
) -> MetricFinding:
    worse_word = "higher" if spec.direction.sign > 0 else "lower"
    shown = _describe(est, relative, spec.kind)
    interval = f"{_describe(low, relative, spec.kind)} to {_describe(high, relative, spec.kind)}"
    if status is MetricStatus.REGRESSED:
        sentence = (
            f"{spec.name}: canary {shown} vs baseline (interval {interval}) after "
            f"{_intervals(n)}: a regression ({worse_word} is worse; tolerance "
            f"{_tolerance_text(spec)})."
        )
    else:
        sentence = (
            f"{spec.name}: canary {shown} vs baseline (interval {interval}) after "
            f"{_intervals(n)}: within the {_tolerance_text(spec)} tolerance."
        )
    return MetricFinding(
        spec.name,
        spec.kind.value,
        spec.critical,
        status,
        est,
        low,
        high,
        relative,
        spec.tolerance.value,
        n,
        max(strength, 0.0),
        sentence,
    )
