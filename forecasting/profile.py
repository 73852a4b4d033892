"""A fast seasonal-profile forecaster for short-lead scaling decisions.

Predictive scaling needs a forecast a few minutes ahead, every minute, for every
workload. A statsmodels fit (MSTL, ETS) on a week of per-minute data takes about a
second; replaying two months means ~1,400 hourly refits per trace and start-up time,
and re-anchoring on the newest minute must cost microseconds. So this model is
deliberately simple and fully vectorised:

- **profile**: for each slot of the period (minute of the UTC day: a load that follows a
  local clock shifts an hour at a daylight-saving change, see docs/workloads.md), the
  median of that slot over the last ``history_periods`` periods, smoothed by a short
  circular moving average; the median ignores one-off bursts and gaps;
- **level**: the median ratio of the last ``level_window`` observations to the profile
  at the same slots, so a busier-than-usual day scales the whole shape;
- **intervals**: empirical quantiles of the error actual - forecast at each step ahead,
  after a variance-stabilising transform (``transform_power``: 0 is the log, for
  multiplicative noise; 0.5 the square root, for Poisson-like counts), measured over
  the last ``calibration_periods`` of history (recent residuals, so the bands widen by
  themselves on a noisy day);
- **fallback**: with less than ``min_periods`` of history, or a seasonal strength below
  ``min_strength`` (the share of the hourly variance of the latest periods that a
  profile fitted on the periods before them explains), the model
  forecasts the recent level flat and says why in ``fallback_reason``. Callers that
  size from forecasts treat a fallback as "low confidence, stay reactive".

Fitting is a refit of profile and residual quantiles (do it hourly); ``advance``
re-anchors the level on newer observations without refitting (do it every minute).
``compact(levels)`` keeps, of the calibration errors, only the two order statistics per
step ahead that ``predict`` reads for those interval levels: the same forecasts for those
levels from a few hundred bytes instead of up to 16 sorted arrays of a week of errors
(1.3 MB per fitted model), which matters when thousands of workloads keep one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from forecasting.forecast import Forecast
from forecasting.series import FloatArray, Series

__all__ = ["MAX_VALUE", "FittedProfile", "ProfileSettings", "SeasonalProfile", "nanmedian"]

BoolArray = npt.NDArray[np.bool_]

MODEL_NAME = "seasonal-profile"
MODEL_VERSION = "1"

# A sample above this is a glitch, not load (no rate or count comes near it), and the
# fit squares and sums samples, which overflows float64 to inf and NaN from about 1e154:
# such a sample counts as missing, as a negative one does.
MAX_VALUE = 1e100


@dataclass(frozen=True)
class ProfileSettings:
    """Knobs of the profile forecaster; the defaults suit per-minute request rates.

    ``strength_within_period`` judges the seasonal strength on the shape within each held-out
    period only (log hourly medians minus that period's mean, and the same of the profile),
    so a period busier or quieter than the one before (a weekend after a weekday) is no
    evidence against the profile: the forecast re-anchors its level every step anyway.
    """

    period_seconds: float = 86_400.0
    history_periods: int = 7
    min_periods: float = 2.0
    level_window_seconds: float = 1_800.0
    smooth_seconds: float = 900.0
    calibration_periods: float = 2.0
    max_horizon: int = 16
    min_strength: float = 0.3
    transform_power: float = 0.5
    strength_within_period: bool = False

    def __post_init__(self) -> None:
        if not self.period_seconds > 0:
            raise ValueError("period_seconds must be positive")
        if self.history_periods < 1 or self.min_periods < 1:
            raise ValueError("history_periods and min_periods must be at least 1")
        if self.max_horizon < 1:
            raise ValueError("max_horizon must be at least 1")


@dataclass(frozen=True, eq=False)
class FittedProfile:
    """A fitted profile, anchored at ``last_timestamp`` with level ``level``.

    ``residuals[h - 1]`` holds the sorted transformed errors actual - forecast observed
    ``h`` steps ahead during calibration (empty when none could be measured). A compacted
    model (``compact``) has no residuals but ``bands``: per interval level, the lower and
    upper transformed errors per step ahead and whether they are known.
    """

    settings: ProfileSettings
    step: float
    profile: FloatArray
    offset: float
    residuals: tuple[FloatArray, ...]
    level: float
    last_timestamp: float
    strength: float
    fallback_reason: str | None
    bands: Mapping[int, tuple[FloatArray, FloatArray, BoolArray]] | None = None

    @property
    def name(self) -> str:
        return MODEL_NAME if self.fallback_reason is None else "recent-level"

    @property
    def period_slots(self) -> int:
        return int(self.profile.shape[0])

    def shape_at(self, timestamps: FloatArray) -> FloatArray:
        """Profile value (plus the offset) at the given timestamps."""
        if self.fallback_reason is not None:
            return np.ones_like(timestamps)
        slots = np.floor(timestamps / self.step + 0.5).astype(np.int64) % self.period_slots
        return np.asarray(self.profile[slots] + self.offset, dtype=np.float64)

    def advance(self, values: FloatArray, last_timestamp: float) -> FittedProfile:
        """Re-anchor the level on the newest observations, which end at ``last_timestamp``.

        Missing values are skipped; with no usable value the old level stays.
        """
        timestamps = last_timestamp - self.step * np.arange(values.shape[0] - 1, -1, -1)
        level = _level(values, self.shape_at(timestamps), self.offset)
        if level is None:
            level = self.level
        return replace(self, level=level, last_timestamp=float(last_timestamp))

    def ahead(self, values: FloatArray, last_timestamp: float, steps: int = 1) -> FloatArray:
        """Each value's mean forecast ``steps`` steps before it arrived, made as a caller
        that ``advance``s every step makes it: the level re-anchored on the
        ``level_window`` values before, times the profile. ``out[i]`` forecasts
        ``values[i]`` (the values end at ``last_timestamp``); NaN where no earlier value
        was usable. Vectorised: a day of minutes costs about a millisecond, so a refit can
        afford to evaluate."""
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        values = np.asarray(values, dtype=np.float64)
        n = values.shape[0]
        out = np.full(n, np.nan)
        if n <= steps:
            return out
        timestamps = last_timestamp - self.step * np.arange(n - 1, -1, -1, dtype=np.float64)
        shape = self.shape_at(timestamps)
        window = max(1, round(self.settings.level_window_seconds / self.step))
        usable = np.isfinite(values) & (values >= 0) & (values <= MAX_VALUE)
        # mask before dividing: 1.8e308 / a shape below 1 would overflow (and warn)
        ratio = (np.where(usable, values, np.nan) + self.offset) / shape
        padded = np.concatenate([np.full(window - 1, np.nan), ratio])
        # row i: the window of values ending at values[i], what forecasts values[i + steps]
        windows = np.lib.stride_tricks.sliding_window_view(padded, window)[: n - steps]
        levels = nanmedian(windows, axis=1)
        out[steps:] = np.maximum(levels * shape[steps:] - self.offset, 0.0)
        return out

    def predict(self, horizon: int, levels: tuple[int, ...] = (80, 95)) -> Forecast:
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1 step, got {horizon}")
        for level in levels:
            if not 0 < level < 100:
                raise ValueError(f"interval levels are percentages in (0, 100), got {level}")
        timestamps = self.last_timestamp + self.step * np.arange(1, horizon + 1, dtype=np.float64)
        mean: FloatArray = np.maximum(self.level * self.shape_at(timestamps) - self.offset, 0.0)
        intervals: dict[int, tuple[FloatArray, FloatArray]] = {}
        power = self.settings.transform_power
        base = _forward(mean + self.offset, power)
        for level in levels:
            lows, highs, known = self._band(level, horizon)
            lower = np.maximum(_inverse(base + lows, power) - self.offset, 0.0)
            upper = np.maximum(_inverse(base + highs, power) - self.offset, mean)
            lower = np.where(known & np.isfinite(lower), np.minimum(lower, mean), 0.0)
            upper = np.where(known & np.isfinite(upper), upper, np.inf)
            intervals[level] = (lower, upper)
        details: dict[str, float | str] = {"strength": self.strength, "level": self.level}
        return Forecast(
            timestamps, mean, intervals, self.name, MODEL_VERSION, self.fallback_reason, details
        )

    def _band(self, level: int, horizon: int) -> tuple[FloatArray, FloatArray, BoolArray]:
        """Lower and upper transformed errors for steps 1..horizon ahead at ``level``, and
        whether each is known (fewer than 10 errors: no evidence, unbounded above)."""
        if self.bands is not None:
            if level not in self.bands:
                raise ValueError(
                    f"this compacted model keeps interval levels {sorted(self.bands)}, not {level}"
                )
            lows, highs, known = self.bands[level]
            steps = np.minimum(np.arange(horizon), lows.shape[0] - 1)
            return lows[steps], highs[steps], known[steps]
        low_q = (1.0 - level / 100.0) / 2.0
        lows = np.zeros(horizon)
        highs = np.zeros(horizon)
        known = np.ones(horizon, dtype=bool)
        for h in range(horizon):
            sample = self.residuals[min(h, len(self.residuals) - 1)]
            if sample.shape[0] < 10:
                known[h] = False  # no evidence about the spread: unbounded above
            else:
                lows[h] = sample[int(low_q * (sample.shape[0] - 1))]
                highs[h] = sample[math.ceil((1.0 - low_q) * (sample.shape[0] - 1))]
        return lows, highs, known

    def compact(self, levels: tuple[int, ...] = (80, 95)) -> FittedProfile:
        """The same model keeping only what ``predict`` needs for ``levels``: its forecasts
        for those levels are identical, other levels are refused."""
        for level in levels:
            if not 0 < level < 100:
                raise ValueError(f"interval levels are percentages in (0, 100), got {level}")
        if self.bands is None:
            steps = max(len(self.residuals), 1)
        else:
            steps = max((band[0].shape[0] for band in self.bands.values()), default=1)
        bands = {level: self._band(level, steps) for level in levels}
        return replace(self, residuals=(), bands=bands)


class SeasonalProfile:
    """Forecaster: ``fit(series)`` returns a ``FittedProfile``."""

    def __init__(self, settings: ProfileSettings | None = None) -> None:
        self.settings = settings or ProfileSettings()

    @property
    def name(self) -> str:
        return MODEL_NAME

    def fit(self, series: Series) -> FittedProfile:
        return fit_profile(series.values, series.end, series.step, self.settings)


def _forward(x: FloatArray, power: float) -> FloatArray:
    """Variance-stabilising transform: log for power 0, else x ** power (0.5 = sqrt)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if power == 0:
            return np.asarray(np.log(x), dtype=np.float64)
        return np.asarray(np.power(np.maximum(x, 0.0), power), dtype=np.float64)


def _inverse(y: FloatArray, power: float) -> FloatArray:
    with np.errstate(over="ignore", invalid="ignore"):
        if power == 0:
            return np.asarray(np.exp(y), dtype=np.float64)
        return np.asarray(np.power(np.maximum(y, 0.0), 1.0 / power), dtype=np.float64)


def _level(values: FloatArray, shape: FloatArray, offset: float) -> float | None:
    """Median ratio of observations to the profile (both shifted by ``offset``)."""
    ok = np.isfinite(values) & (values >= 0) & (values <= MAX_VALUE)
    if not np.any(ok):
        return None
    ratios = (values[ok] + offset) / shape[ok]
    return float(np.median(ratios))


def _smooth_circular(profile: FloatArray, width: int) -> FloatArray:
    if width <= 1:
        return profile
    half = width // 2
    padded = np.concatenate([profile[-half:], profile, profile[:half]])
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    return np.convolve(padded, kernel, mode="valid")


def fit_profile(
    values: FloatArray, last_timestamp: float, step: float, settings: ProfileSettings
) -> FittedProfile:
    """Fit on ``values`` (NaN = missing) whose last sample is at ``last_timestamp``."""
    if not (step > 0 and math.isfinite(step)):
        raise ValueError(f"step must be a positive number of seconds, got {step}")
    values = np.asarray(values, dtype=np.float64)
    values = np.where(np.isfinite(values) & (values >= 0) & (values <= MAX_VALUE), values, np.nan)
    period = max(2, round(settings.period_seconds / step))
    usable = values[-int(settings.history_periods * period) :]
    finite = usable[np.isfinite(usable)]
    level_slots = max(1, round(settings.level_window_seconds / step))
    empty: tuple[FloatArray, ...] = (np.empty(0),)
    if finite.shape[0] == 0:
        return FittedProfile(
            settings,
            step,
            np.ones(period),
            1.0,
            empty,
            0.0,
            last_timestamp,
            0.0,
            f"NoData: the history holds no usable (finite, non-negative, at most "
            f"{MAX_VALUE:g}) value",
        )
    scale = float(np.mean(finite))
    offset = 0.01 * scale if scale > 0 else 1.0
    recent = usable[-level_slots:]
    flat_level = float(np.nanmedian(recent)) if np.any(np.isfinite(recent)) else scale
    n_periods = finite.shape[0] / period
    if n_periods < settings.min_periods:
        reason = (
            f"TooLittleHistory: {n_periods:.1f} periods of {settings.period_seconds:.0f} s "
            f"observed, at least {settings.min_periods:g} needed"
        )
        return _flat(settings, step, usable, flat_level, last_timestamp, reason)
    first_ts = last_timestamp - step * (usable.shape[0] - 1)
    phase0 = round(first_ts / step) % period
    width = max(1, round(settings.smooth_seconds / step))
    profile = _profile(usable, phase0, period, width)
    strength = _strength(usable, phase0, period, width, step, settings)
    if strength < settings.min_strength:
        reason = (
            f"NoSeasonality: a profile fitted on earlier periods explains {strength:.0%} of "
            f"the hourly variance of recent ones, below the {settings.min_strength:.0%} "
            "needed to trust it"
        )
        return _flat(settings, step, usable, flat_level, last_timestamp, reason, strength)
    shape = profile + offset
    slots = (phase0 + np.arange(usable.shape[0])) % period
    residuals = _calibrate(usable, shape[slots], offset, level_slots, period, settings)
    fitted = FittedProfile(
        settings, step, profile, offset, residuals, 1.0, last_timestamp, strength, None
    )
    return fitted.advance(usable[-level_slots:], last_timestamp)


def nanmedian(values: FloatArray, axis: int) -> FloatArray:
    """``np.nanmedian(values, axis=axis)`` of a 2-d array, bit for bit (a property test
    checks), without its masked-array path: one sort, NaNs last, then the middle of the
    non-NaN values of each line; 3-6 times faster on the tables a fit takes the median
    of. A line with no value gives NaN (and no warning)."""
    if values.shape[axis] == 0:
        return np.full(values.shape[1 - axis], np.nan)
    ordered = np.sort(values, axis=axis)
    count = np.sum(~np.isnan(values), axis=axis)
    last = values.shape[axis] - 1
    low = np.take_along_axis(ordered, np.expand_dims(np.maximum((count - 1) // 2, 0), axis), axis)
    high = np.take_along_axis(ordered, np.expand_dims(np.minimum(count // 2, last), axis), axis)
    low, high = low.squeeze(axis), high.squeeze(axis)
    middle: FloatArray = np.where(count % 2 == 1, low, (low + high) / 2)
    middle[count == 0] = np.nan
    return middle


def _profile(values: FloatArray, phase0: int, period: int, width: int) -> FloatArray:
    """Per-slot median over whole periods (slot of ``values[i]`` is ``(phase0 + i) % period``),
    circularly smoothed; slots never observed take the mean of the others (all NaN when
    no slot was observed)."""
    padded = np.full(math.ceil((values.shape[0] + phase0) / period) * period, np.nan)
    padded[phase0 : phase0 + values.shape[0]] = values
    table = padded.reshape(-1, period)
    seen = np.any(np.isfinite(table), axis=0)
    medians = np.full(period, np.nan)
    if not np.any(seen):
        return medians
    medians[seen] = nanmedian(table[:, seen], axis=0)
    if not np.all(seen):
        medians[~seen] = float(np.nanmean(medians[seen]))
    return _smooth_circular(medians, width)


def _strength(
    usable: FloatArray,
    phase0: int,
    period: int,
    width: int,
    step: float,
    settings: ProfileSettings,
) -> float:
    """Out-of-sample seasonal strength: the squared correlation between hourly medians of
    the most recent periods and a profile fitted on the periods before them.

    In-sample, a per-slot median always "explains" some of pure noise; held out, noise
    scores near zero while a real daily pattern keeps scoring high.
    """
    held = min(int(settings.calibration_periods * period), usable.shape[0] - period)
    if held < period // 2:
        return 0.0
    scale = float(np.nanmean(usable)) if np.any(np.isfinite(usable)) else 0.0
    offset = 0.01 * scale if scale > 0 else 1.0
    early = _profile(usable[:-held], phase0, period, width)
    if not np.any(np.isfinite(early)):
        return 0.0  # the periods before the held-out ones are all gaps: nothing to test
    recent = usable[-held:]
    slots = (phase0 + usable.shape[0] - held + np.arange(held)) % period
    block = max(1, round(3600.0 / step))
    n = (held // block) * block
    if n < 4 * block:
        return 0.0
    x = recent[-n:].reshape(-1, block)
    p = early[slots][-n:].reshape(-1, block)
    ok = np.sum(np.isfinite(x), axis=1) >= max(1, block // 2)
    if int(np.sum(ok)) < 4:
        return 0.0
    xm = nanmedian(x[ok], axis=1)  # medians: one spike must not hide a daily shape
    pm = p[ok].mean(axis=1)
    if settings.strength_within_period:
        per = max(1, period // block)
        xm, pm = _within_periods(xm, pm, x.shape[0] - 1 - np.flatnonzero(ok), per, offset)
        if xm.shape[0] < 4:
            return 0.0
    if float(np.std(xm)) <= 0 or float(np.std(pm)) <= 0:
        return 0.0
    corr = float(np.corrcoef(xm, pm)[0, 1])
    return corr * corr if corr > 0 else 0.0


def _within_periods(
    xm: FloatArray, pm: FloatArray, age: npt.NDArray[np.int64], per: int, offset: float
) -> tuple[FloatArray, FloatArray]:
    """Hourly medians ``xm`` and profile means ``pm`` (``age`` blocks before the newest
    block) in log, each minus its mean over its period of ``per`` blocks counted back from
    the newest block; periods with fewer than two blocks are dropped."""
    groups = age // per
    lx = np.log(xm + offset)
    lp = np.log(pm + offset)
    keep = np.zeros(xm.shape[0], dtype=bool)
    for g in np.unique(groups):
        sel = groups == g
        if int(np.sum(sel)) < 2:
            continue
        keep |= sel
        lx[sel] -= lx[sel].mean()
        lp[sel] -= lp[sel].mean()
    return lx[keep], lp[keep]


def _calibrate(
    usable: FloatArray,
    shape: FloatArray,
    offset: float,
    level_slots: int,
    period: int,
    settings: ProfileSettings,
) -> tuple[FloatArray, ...]:
    """Sorted transformed errors per step ahead over recent forecast origins."""
    n = usable.shape[0]
    horizon = settings.max_horizon
    span = int(settings.calibration_periods * period)
    first = max(level_slots, n - span - horizon)
    last = n - horizon  # origin index o forecasts o+1 .. o+horizon, all observed
    if last - first < 10:
        return tuple(np.empty(0) for _ in range(horizon))
    ratio = (usable + offset) / shape
    windows = np.lib.stride_tricks.sliding_window_view(ratio, level_slots)
    # windows[k] covers k .. k+level_slots-1; origin o uses windows[o - level_slots + 1].
    origins = np.arange(first, last)
    block = windows[origins - level_slots + 1]
    valid = np.sum(np.isfinite(block), axis=1) > 0
    levels = np.full(origins.shape[0], np.nan)
    levels[valid] = nanmedian(block[valid], axis=1)
    result = []
    for h in range(1, horizon + 1):
        actual = usable[origins + h] + offset
        forecast = levels * shape[origins + h]
        power = settings.transform_power
        errors = _forward(actual, power) - _forward(forecast, power)
        errors = errors[np.isfinite(errors)]
        result.append(np.sort(errors))
    return tuple(result)


def _flat(
    settings: ProfileSettings,
    step: float,
    usable: FloatArray,
    level: float,
    last_timestamp: float,
    reason: str,
    strength: float = 0.0,
) -> FittedProfile:
    """Recent level, flat, with persistence residuals as its intervals."""
    finite = np.isfinite(usable)
    residuals: list[FloatArray] = []
    offset = 0.01 * float(np.nanmean(usable)) if np.any(finite) else 1.0
    offset = offset if offset > 0 else 1.0
    logs = _forward(usable + offset, settings.transform_power)
    for h in range(1, settings.max_horizon + 1):
        if usable.shape[0] > h:
            diffs = logs[h:] - logs[:-h]
            residuals.append(np.sort(diffs[np.isfinite(diffs)]))
        else:
            residuals.append(np.empty(0))
    return FittedProfile(
        settings,
        step,
        np.zeros(1),
        offset,
        tuple(residuals),
        level + offset,
        last_timestamp,
        strength,
        reason,
    )
