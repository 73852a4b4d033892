"""A metric's absolute objective: the canary judged on its own, not against its baseline.

The comparison with the baseline cannot see a canary that is as bad as its baseline (both
serve 5 % errors while a dependency is down, or the baseline is itself a bad release): it
is "no worse" and would be promoted. An objective (``MetricSpec.objective``) is the level
the canary must meet anyway, as Flagger's ``thresholdRange`` and an Argo Rollouts
``failureCondition`` are, but judged with the same anytime-valid bounds as the comparison:
a canary is past its objective when the rollback-level bound on its own rate (ratio
metrics, ``binomial_bounds`` on its counts, tempered by their over-dispersion) or on its
mean level (continuous metrics, the autocorrelation-inflated normal-mixture bound the
comparison uses for differences) lies wholly on the wrong side, and within it when the
promotion-level bound lies wholly on the right side; anything else is unclear.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from forecasting.canary.sequences import (
    binomial_bounds,
    binomial_log_evalue,
    normal_mixture_log_evalue,
    normal_mixture_radius,
)
from forecasting.canary.spec import MetricKind, MetricSpec
from forecasting.canary.verdict import MetricFinding, fold_check

__all__ = [
    "LevelObjective",
    "ObjectiveFinding",
    "ObjectiveStatus",
    "RateObjective",
    "with_objective",
]

# Values beyond this are scaled down (one factor for all) before squares and sums.
_MAX_VALUE = 1e100
_TINY = 1e-300
_LOG_CAP = 1e250


class ObjectiveStatus(StrEnum):
    BREACHED = "breached"
    MET = "met"
    UNCLEAR = "unclear"
    NO_DATA = "no_data"


@dataclass(frozen=True)
class ObjectiveFinding:
    """Where the canary stands against its objective. ``value``/``lower``/``upper`` are the
    canary's own rate or mean level and its anytime-valid interval (at the rollback level
    when ``breached``, at the promotion level otherwise); ``clause`` says so in words."""

    status: ObjectiveStatus
    objective: float
    value: float | None
    lower: float | None
    upper: float | None
    intervals: int
    strength: float
    clause: str


def _objective_text(spec: MetricSpec, value: float) -> str:
    if spec.kind is MetricKind.RATIO:
        return f"{value * 100:.3g}%"
    return f"{value:.4g}"


def _bound_word(spec: MetricSpec) -> str:
    return "at most" if spec.direction.sign > 0 else "at least"


def _make(
    spec: MetricSpec,
    status: ObjectiveStatus,
    n: int,
    value: float | None,
    low: float | None,
    high: float | None,
    strength: float,
) -> ObjectiveFinding:
    assert spec.objective is not None
    objective = f"its objective of {_bound_word(spec)} {_objective_text(spec, spec.objective)}"
    what = "error rate" if spec.kind is MetricKind.RATIO else "average"
    if value is None:
        clause = f"the canary has no {what} yet to hold to {objective}"
    else:
        shown = f"the canary's {what} {_objective_text(spec, value)}"
        if low is not None and high is not None:
            shown += f" (interval {_objective_text(spec, low)} to {_objective_text(spec, high)})"
        side = "above" if spec.direction.sign > 0 else "below"
        clause = {
            ObjectiveStatus.BREACHED: f"{shown} is {side} {objective}",
            ObjectiveStatus.MET: f"{shown} meets {objective}",
            ObjectiveStatus.UNCLEAR: f"not yet clear whether {shown} meets {objective}",
            ObjectiveStatus.NO_DATA: f"{shown}: no verdict yet on {objective}",
        }[status]
    return ObjectiveFinding(status, spec.objective, value, low, high, n, max(strength, 0.0), clause)


@dataclass
class RateObjective:
    """The canary's own events and trials of a ratio metric, per judged interval."""

    spec: MetricSpec
    rows: list[tuple[float, float]] = field(default_factory=list)

    def add(self, events: float, trials: float) -> None:
        """One interval's canary counts, already checked by the comparison's evidence
        (finite, not negative, no more events than trials); NaN or no trials: nothing."""
        if math.isnan(events) or math.isnan(trials) or trials <= 0:
            return
        self.rows.append((events, trials))

    def finding(self, alpha: float, alpha_promote: float, min_intervals: int) -> ObjectiveFinding:
        spec = self.spec
        assert spec.objective is not None
        n = len(self.rows)
        if n == 0:
            return _make(spec, ObjectiveStatus.NO_DATA, 0, None, None, None, 0.0)
        top = max(t for _, t in self.rows)
        scale = _MAX_VALUE / top if top > _MAX_VALUE else 1.0
        rows = [(e * scale, t * scale) for e, t in self.rows]
        events = math.fsum(e for e, _ in rows)
        trials = math.fsum(t for _, t in rows)
        rate = events / trials
        dispersion = _dispersion(rows, rate)
        k, m = events / dispersion, trials / dispersion
        low_p, high_p = binomial_bounds(k, m, alpha_promote)
        if n < min_intervals:
            return _make(spec, ObjectiveStatus.UNCLEAR, n, rate, low_p, high_p, 0.0)
        low_r, high_r = binomial_bounds(k, m, alpha)
        sign = spec.direction.sign
        past = low_r > spec.objective if sign > 0 else high_r < spec.objective
        within = high_p < spec.objective if sign > 0 else low_p > spec.objective
        log_e = binomial_log_evalue(spec.objective, k, m)
        if past:
            strength = log_e - math.log(1.0 / alpha)
            return _make(spec, ObjectiveStatus.BREACHED, n, rate, low_r, high_r, strength)
        if within:
            strength = log_e - math.log(1.0 / alpha_promote)
            return _make(spec, ObjectiveStatus.MET, n, rate, low_p, high_p, strength)
        return _make(spec, ObjectiveStatus.UNCLEAR, n, rate, low_p, high_p, 0.0)


def _dispersion(rows: Sequence[tuple[float, float]], rate: float) -> float:
    """Over-dispersion of the canary's counts around one rate (Pearson's chi-square per
    degree of freedom, at least 1): errors that come in bursts count for less."""
    if len(rows) < 5 or not 0.0 < rate < 1.0:
        return 1.0
    chi2 = 0.0
    for events, trials in rows:
        variance = trials * rate * (1.0 - rate)
        if variance > 0:
            z = (events - trials * rate) / math.sqrt(variance)
            chi2 += min(z * z, _LOG_CAP)
    return min(max(1.0, chi2 / (len(rows) - 1)), _LOG_CAP)


@dataclass
class LevelObjective:
    """The canary's own values of a continuous or resource metric, per interval."""

    spec: MetricSpec
    prior_intervals: float
    inflation: Callable[[Sequence[float], float], float]
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        """One interval's canary value, already checked by the comparison's evidence."""
        if not math.isnan(value):
            self.values.append(value)

    def finding(self, alpha: float, alpha_promote: float, min_intervals: int) -> ObjectiveFinding:
        spec = self.spec
        assert spec.objective is not None
        n = len(self.values)
        if n == 0:
            return _make(spec, ObjectiveStatus.NO_DATA, 0, None, None, None, 0.0)
        objective = spec.objective
        magnitude = max(abs(objective), *(abs(v) for v in self.values))
        unit = magnitude / _MAX_VALUE if magnitude > _MAX_VALUE else 1.0
        values = [v / unit for v in self.values]
        target = objective / unit
        mean = math.fsum(values) / n
        if n < 2:
            return _make(spec, ObjectiveStatus.UNCLEAR, n, mean * unit, None, None, 0.0)
        var = math.fsum((v - mean) * (v - mean) for v in values) / (n - 1)
        floor = 0.01 * abs(target)
        var = max(var, floor * floor, _TINY) * (1.0 + 4.0 / n) * self.inflation(values, mean)
        rho = var * self.prior_intervals
        half_r = normal_mixture_radius(n * var, rho, alpha) / n
        half_p = normal_mixture_radius(n * var, rho, alpha_promote) / n
        worse = spec.direction.sign * (mean - target)  # > 0: on the wrong side of it

        def shown(half: float) -> tuple[float, float, float]:
            return mean * unit, (mean - half) * unit, (mean + half) * unit

        if n < min_intervals:
            return _make(spec, ObjectiveStatus.UNCLEAR, n, *shown(half_p), 0.0)
        if worse - half_r > 0:
            strength = normal_mixture_log_evalue(n * worse, n * var, rho) - math.log(1 / alpha)
            return _make(spec, ObjectiveStatus.BREACHED, n, *shown(half_r), strength)
        if worse + half_p < 0:
            strength = normal_mixture_log_evalue(n * worse, n * var, rho) - math.log(
                1 / alpha_promote
            )
            return _make(spec, ObjectiveStatus.MET, n, *shown(half_p), strength)
        return _make(spec, ObjectiveStatus.UNCLEAR, n, *shown(half_p), 0.0)


def with_objective(finding: MetricFinding, objective: ObjectiveFinding) -> MetricFinding:
    """The comparison's finding with the objective's folded in (``fold_check``)."""
    status, strength, sentence = fold_check(
        finding,
        regressed=objective.status is ObjectiveStatus.BREACHED,
        within=objective.status is ObjectiveStatus.MET,
        clause=objective.clause,
        strength=objective.strength,
        intervals=objective.intervals,
        against="against the baseline",
        within_joiner=", and",
    )
    return replace(
        finding,
        status=status,
        strength=strength,
        sentence=sentence,
        objective=objective.objective,
        objective_status=objective.status.value,
        objective_value=objective.value,
        objective_lower=objective.lower,
        objective_upper=objective.upper,
    )
