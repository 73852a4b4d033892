"""A forecaster learnt across many series at once (a fleet), and per-series choice with it.

Per-series models see only their own history: a few weeks of one workload. A fleet of
workloads shares shapes (daily and weekly cycles, ramps, lunch dips), and one model
fitted on windows from *all* of them learns those shapes from far more data. The
M-competitions found the same: on M4 hourly the strongest entries learnt across
series, and a pooled linear autoregression is the simplest such model.

``fit_pool(histories, horizon, lags, period)`` fits it: every window of ``lags``
consecutive values (log scale, minus the mean of the window's last ``level_window``
values, so that series of any size share one model) is paired with the next
``horizon`` values on the same footing, and one ridge regression maps the window to
all ``horizon`` steps at once (direct, not recursive, so errors do not compound). A
history shorter than ``lags`` is extended backwards by repeating its oldest whole
``period``. Only strictly positive series take part (the log needs it); others are
counted and skipped.

``PooledLinear(weights)`` is a ``Forecaster`` like any other: ``fit`` only binds the
series (the learning happened across the fleet), ``predict`` applies the weights. It
raises ``ModelError`` for a non-positive series, a horizon beyond the one it was
fitted for, or a series shorter than one ``period``, so callers fall back.

Backtests must not grade a pooled model on data it was fitted on. ``fit_pool`` takes
``holdout``: windows whose targets reach into the last ``holdout`` values of each
series are left out. ``select_with_pool`` fits two pools, one with
``holdout = folds * horizon`` for the rolling-origin backtest (out of sample at every
origin) and one on everything for the live forecasts, runs ``select_model`` per
series with the pooled model (alone and averaged with the per-series default) among
the candidates, and swaps the backtest pool for the live one in the winner.

Cost: one ``(lags + 1)``-square linear solve over all windows, each series' windows
folded into the normal equations in turn, so memory is ``O(lags^2)`` plus one series'
windows whatever the size of the fleet. Measured (both fits, live and backtest, one
core): 414 M4 hourly series with 672 lags, 3.1 CPU s; 1,000 series of 14 days at 5
minutes with 1,024 lags, 94 CPU s (``benchmarks/refit_cost_RESULTS.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from forecasting.baselines import (
    FittedBase,
    ModelError,
    SeasonalNaive,
    Versioned,
    finite_values,
    interpolate_gaps,
)
from forecasting.forecast import Forecaster
from forecasting.selection import Selection, select_model
from forecasting.series import FloatArray, Series

__all__ = [
    "PoolWeights",
    "PooledChoice",
    "PooledLinear",
    "choose_with_pool",
    "fit_pool",
    "fit_pools",
    "pool_shape",
    "select_with_pool",
]

# Ridge penalty per window, relative to the mean squared window value: enough to keep
# the solve well-posed when lags outnumber distinct shapes, small next to the data.
_RIDGE = 1e-3


# The padding cycle is the longest of a day and a week that is at most this many steps,
# and the model looks back four such cycles, at most this many steps.
_MAX_PERIOD = 672
_MAX_LAGS = 1024


def pool_shape(step: float) -> tuple[int, int]:
    """``(lags, period)`` for series sampled every ``step`` seconds.

    Hourly data: a week's cycle and four weeks of lags (the setting chosen on M4 hourly's
    validation windows); 5-minute data: a day's cycle and 1,024 lags (3.6 days). Raises
    ``ModelError`` when neither a day nor a week is a whole number of steps that fits.
    """
    from forecasting.seasonality import candidate_periods

    fitting = [p for p in candidate_periods(step) if p <= _MAX_PERIOD]
    if not fitting:
        raise ModelError(
            f"a pooled model needs a day or a week of at most {_MAX_PERIOD} whole steps; "
            f"a step of {step:g} s gives neither"
        )
    period = max(fitting)
    return min(4 * period, _MAX_LAGS), period


@dataclass(frozen=True, eq=False)
class PoolWeights:
    """What ``fit_pool`` learnt: ``coef[:lags]`` maps a window to each step ahead.

    ``coef`` has shape ``(lags + 1, horizon)``; the last row is the intercept.
    ``series`` and ``windows`` are how many series and windows it was fitted on,
    ``skipped`` how many series were left out (non-positive or too short) and
    ``holdout`` how many final values of each series it never saw.
    """

    coef: FloatArray
    lags: int
    horizon: int
    period: int
    level_window: int
    series: int
    windows: int
    skipped: int
    holdout: int


def _extend(logs: FloatArray, lags: int, period: int) -> FloatArray:
    """The last ``lags`` values, extended backwards by repeating the oldest cycle."""
    if logs.size >= lags:
        return logs[-lags:]
    cycle = logs[:period]
    reps = math.ceil((lags - logs.size) / period)
    return np.concatenate([np.tile(cycle, reps), logs])[-lags:]


# A training series may miss at most this share of its values (gaps are interpolated).
_MAX_GAP_SHARE = 0.1


def _usable(values: FloatArray, period: int) -> bool:
    return bool(values.size >= period and np.all(np.isfinite(values)) and np.all(values > 0))


def _bridged(values: FloatArray) -> FloatArray | None:
    """``values`` with a few gaps interpolated, or None when too many are missing."""
    missing = ~np.isfinite(values)
    if missing.all() or missing.mean() > _MAX_GAP_SHARE:
        return None
    return interpolate_gaps(values)


def fit_pool(
    histories: Sequence[FloatArray],
    horizon: int,
    lags: int,
    period: int,
    *,
    level_window: int = 24,
    holdout: int = 0,
    stride: int = 2,
    ridge: float = _RIDGE,
) -> PoolWeights:
    """Fit one direct multi-step ridge autoregression over all usable ``histories``.

    Raises ``ValueError`` for a bad setting and ``ModelError`` when no series gives a
    single training window.
    """
    for label, number in (
        ("horizon", horizon),
        ("lags", lags),
        ("period", period),
        ("level_window", level_window),
        ("stride", stride),
    ):
        if number < 1:
            raise ValueError(f"{label} must be at least 1, got {number}")
    if holdout < 0:
        raise ValueError(f"holdout must be >= 0, got {holdout}")
    if level_window > lags:
        raise ValueError(f"level_window ({level_window}) cannot exceed lags ({lags})")
    gram = np.zeros((lags + 1, lags + 1))
    cross = np.zeros((lags + 1, horizon))
    squares = 0.0
    windows = used = skipped = 0
    # One series' windows at a time, folded into the normal equations: memory is
    # O(lags^2) plus one series' windows, whatever the size of the fleet.
    for raw in histories:
        values = np.asarray(raw, dtype=np.float64)
        values = values[: values.size - holdout] if holdout else values
        bridged = _bridged(values)
        if bridged is None or not _usable(bridged, period):
            skipped += 1
            continue
        logs = np.log(bridged)
        ends = np.arange(period, logs.size - horizon + 1, stride)
        if not ends.size:
            skipped += 1
            continue
        used += 1
        padded = _extend(logs, logs.size + lags, period)  # room for the earliest window
        first = padded.size - logs.size  # index of logs[0] in padded
        rows = np.lib.stride_tricks.sliding_window_view(padded, lags)[first + ends - lags]
        level = rows[:, -level_window:].mean(axis=1, keepdims=True)
        x = np.hstack([rows - level, np.ones((ends.size, 1))])
        y = np.lib.stride_tricks.sliding_window_view(logs, horizon)[ends] - level
        gram += x.T @ x
        cross += x.T @ y
        squares += float(np.sum(x[:, :-1] ** 2))
        windows += int(ends.size)
    if not windows:
        raise ModelError(
            f"no series gave a training window (need positive series of at least "
            f"{period + horizon} values after the holdout of {holdout})"
        )
    penalty = ridge * squares / lags
    gram[np.arange(lags), np.arange(lags)] += penalty
    coef = np.asarray(np.linalg.solve(gram, cross), dtype=np.float64)
    return PoolWeights(coef, lags, horizon, period, level_window, used, windows, skipped, holdout)


@dataclass(frozen=True, eq=False)
class PooledLinear(Versioned):
    """The pooled model as a per-series ``Forecaster`` (see the module docstring)."""

    weights: PoolWeights

    @property
    def name(self) -> str:
        return f"pooled-linear-{self.weights.lags}x{self.weights.horizon}"

    def fit(self, series: Series) -> FittedBase:
        values = finite_values(series)
        if not _usable(values, self.weights.period):
            raise ModelError(
                f"{self.name} needs a positive series of at least {self.weights.period} values"
            )
        return _FittedPooled(self, series, values)


class _FittedPooled(FittedBase):
    def __init__(self, model: PooledLinear, series: Series, values: FloatArray) -> None:
        period = min(model.weights.period, 24) if values.size > 24 else None
        super().__init__(model.name, model.version, series, values, period)
        self._weights = model.weights

    def point(self, horizon: int) -> FloatArray:
        w = self._weights
        if horizon > w.horizon:
            raise ModelError(f"{self.name} was fitted for {w.horizon} steps, asked for {horizon}")
        window = _extend(np.log(self.values), w.lags, w.period)
        level = window[-w.level_window :].mean()
        logs = np.append(window - level, 1.0) @ w.coef[:, :horizon] + level
        return np.asarray(np.exp(np.minimum(logs, 700.0)), dtype=np.float64)


def fit_pools(
    histories: Sequence[FloatArray],
    horizon: int,
    lags: int,
    period: int,
    *,
    folds: int = 3,
    level_window: int = 24,
    stride: int = 2,
) -> tuple[PooledLinear, PooledLinear]:
    """The live pool (fitted on everything) and the backtest pool (blind to the last
    ``folds * horizon`` values of every series), as the pair ``choose_with_pool`` takes."""
    live = fit_pool(histories, horizon, lags, period, level_window=level_window, stride=stride)
    held = fit_pool(
        histories,
        horizon,
        lags,
        period,
        level_window=level_window,
        stride=stride,
        holdout=folds * horizon,
    )
    return PooledLinear(live), PooledLinear(held)


@dataclass(frozen=True, eq=False)
class PooledChoice:
    """``select_with_pool``'s answer for one series: the live model and the evidence."""

    model: Forecaster
    selection: Selection
    pooled: bool


def _live(model: Forecaster, backtest: PooledLinear, live: PooledLinear) -> Forecaster:
    """``model`` with the backtest pool replaced by the live one, wherever it sits."""
    if model is backtest:
        return live
    members = getattr(model, "members", None)
    if members is not None and any(m is backtest for m in members):
        swapped = tuple(live if m is backtest else m for m in members)
        return replace(model, members=swapped)  # type: ignore[type-var]
    return model


def select_with_pool(
    series: Sequence[Series],
    horizon: int,
    lags: int,
    period: int,
    *,
    folds: int = 3,
    levels: tuple[int, ...] = (80, 95),
    level_window: int = 24,
    stride: int = 2,
) -> tuple[list[PooledChoice], PoolWeights, PoolWeights]:
    """Choose a model per series by backtest, with the fleet's pooled model a candidate.

    Returns the choices (in the order of ``series``), the live pool and the backtest
    pool. Candidates per series: the seasonal naive baseline, ``default_model``, the
    pooled model, and the mean of the pooled model and ``default_model``.
    """
    from forecasting.cleaning import clean_series

    cleaned = [clean_series(s).series for s in series]
    live_model, held_model = fit_pools(
        [c.values for c in cleaned],
        horizon,
        lags,
        period,
        folds=folds,
        level_window=level_window,
        stride=stride,
    )
    choices = [
        choose_with_pool(c, live_model, held_model, horizon, folds=folds, levels=levels)
        for c in cleaned
    ]
    return choices, live_model.weights, held_model.weights


def choose_with_pool(
    series: Series,
    live: PooledLinear,
    held: PooledLinear,
    horizon: int,
    *,
    folds: int = 3,
    levels: tuple[int, ...] = (80, 95),
) -> PooledChoice:
    """One series' choice (see ``select_with_pool``); ``held`` must have been fitted
    with ``holdout >= folds * horizon`` so that its backtest is out of sample."""
    from forecasting.cleaning import clean_series
    from forecasting.models import Combination, default_model
    from forecasting.seasonality import candidate_periods, detect_seasonality

    if held.weights.holdout < folds * horizon:
        raise ValueError(
            f"the backtest pool saw all but {held.weights.holdout} values of each series; "
            f"a {folds}-fold backtest at horizon {horizon} needs {folds * horizon} held out"
        )
    clean = clean_series(series).series
    values = clean.values
    season = detect_seasonality(values, clean.step)
    base = default_model(season, values, candidate_periods(clean.step) if clean.step else ())
    candidates: list[Forecaster] = [base]
    if _usable(finite_values(clean), held.weights.period):
        candidates += [held, Combination((held, base), how="mean")]
    if season.primary is not None:
        candidates.insert(0, SeasonalNaive(season.primary))
    selection = select_model(clean, tuple(candidates), horizon=horizon, folds=folds, levels=levels)
    chosen = _live(selection.model, held, live)
    return PooledChoice(chosen, selection, chosen is not selection.model)
