"""The online detector: five small detectors combined, scored, explained, and restartable.

For every point, in order, using only points already seen:

1. ``SeasonalBaseline`` forecasts the point (seasonal when a daily/weekly cycle is present),
   giving the expected value, the band, and a standardised forecast residual;
2. ``RobustLevel`` says how far the value sits from the series' usual level;
3. ``Cusum`` accumulates small persistent deviations into level-shift evidence (shifts
   confirmed the same way, each within ``trend_gap`` points of the one before, for
   ``trend_after`` points or more are a trend change: the level keeps moving);
4. the largest of these raw scores goes through ``ScoreLikelihood``, which turns it into a
   tail probability for *this* series (``confidence``) and a log-scaled score;
5. a refractory filter lowers the score of an anomaly that is no more surprising than the
   last one that fired, so one incident raises one alert rather than one per point: the
   last firing's surprise is a bar that falls tenfold every ``2.3 * refractory_decay``
   points (a huge spike keeps smaller repeats quiet for longer than a small one does) and
   drops to zero ``refractory`` points after it (points of the series' step: a gap in
   the timestamps counts as the points it skipped, as missing values do);
6. ``ContextDetector`` (a contextual detector after CAD OSE) quantises the value over the
   range learnt so far and reports how much of it its learnt contexts failed to predict,
   once per novelty (a rest period follows each strong novelty, a shorter one each alarm).

The reported ``score`` is the larger of the contextual score and ``statistical_weight``
times the statistical score (steps 1-5): the contextual detector catches new patterns of
values that are individually ordinary, the statistical path catches large deviations and
gives the band, the confidence and most reasons. A point scoring ``EXPLAINED_SCORE`` (0.5)
or more always has a reason: when its statistical confidence is below ``reason_confidence``
(the contextual detector found it) the reason is ``spike`` or ``dip`` if the value is
outside the band and ``unusual_pattern`` if it is inside.

Missing values (NaN, infinities, magnitudes beyond 1e150, timestamps skipped over, duplicate or
backward timestamps) never fire:
they score 0 with reason ``missing`` and only advance the seasonal phase. Nor does the
first value after them fire unless it is itself unusual (statistical confidence at least
``reason_confidence``): the contextual detector pairs it with the last value before the gap,
a pair the series never makes by itself, so its novelty there says nothing.

A value far outside everything learnt (more than ``glitch_ranges`` times the learnt range
beyond it: 1e12 on a series that has lived between 70 and 130) is scored, and fires, but
is not learnt from, so that one corrupt sample cannot move the level, the seasonal
reference, the contextual detector's range or the refractory bar for hours. Should such
values keep coming (more than ``glitch_hold`` in a row) the series has really moved, and
they are learnt from as any other.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from forecasting.anomaly._state import StateError, decode_float, encode_float, require
from forecasting.anomaly.baseline import SeasonalBaseline
from forecasting.anomaly.changepoint import Cusum
from forecasting.anomaly.context import ContextDetector
from forecasting.anomaly.likelihood import ScoreLikelihood, surprise_score
from forecasting.anomaly.point import EXPLAINED_SCORE, AnomalyPoint, Reason
from forecasting.anomaly.robust import RobustLevel

__all__ = ["BatchResult", "Detector", "DetectorConfig", "StateError"]

STATE_VERSION = 5
# version 1 had no contextual detector: it starts fresh; versions 1 and 2 kept the last
# firing's score (not its surprise) and had a flat refractory bar: they are migrated so
# that the detector continues exactly as it would have (see ``from_state``); version 4
# packs the history ring and the contextual memory's columns (``_state.pack``), which
# are read in either form, so a version-3 state restores unchanged; version 5 adds the
# learnt range and the glitches held (older states take their range from the history kept)
_READABLE_VERSIONS = (1, 2, 3, 4, 5)
_PEAK_SURPRISE_MAX = 1e300  # a saved score of 1.0 (surprise beyond float range) migrates here
_DAY = 86400.0
_LARGEST = 1e150  # beyond this a value is treated as missing: its square would overflow
_WEEK = 7 * _DAY
# The most a held glitch raises the refractory bar: the surprise (-log10 tail) of a point
# about 70 standard deviations out, scored 0.99. A glitch is surprising beyond any number
# the bar could compare (1e12 on a series near 100 is a surprise of about 1e11), and a bar
# that high would keep every real anomaly of the next thousand points quiet.
GLITCH_BAR = 1000.0
# The most points kept so that a daily cycle can be found (three days at 30-second steps).
# Finer steps keep ``history`` points and run without a daily cycle.
_SEASONAL_RING_MAX = 3 * 2880


@dataclass(frozen=True)
class DetectorConfig:
    """Tuning knobs. The defaults are what ``autonomic detect`` and the daemon use."""

    warmup: int = 30  # real points before any score other than 0 is given
    history: int = 4096  # points of history kept for the seasonal reference (at least;
    # a daily cycle needs three days of points to be found, so at steps of 30 s to 60 s
    # the detector keeps three days instead: 4,320 points at one minute)
    recheck: int = 288  # how often (points) the seasonal period is re-estimated
    min_acf: float = 0.5  # autocorrelation needed to accept a daily/weekly cycle
    level_alpha: float = 0.2  # fast level used as the forecast when there is no cycle
    offset_alpha: float = 0.02  # level correction on top of the seasonal reference
    scale_alpha: float = 0.02  # memory of the forecast-error scale
    robust_alpha: float = 0.005  # memory of the robust level
    robust_clip: float = 3.0  # outliers move the robust level by at most this many spreads
    level_weight: float = 1.0  # weight of the robust-level deviation in the raw score
    envelope: int = 2  # +/- points around the same phase a day ago; 0 = off
    envelope_always: bool = True  # use yesterday's envelope even without a detected cycle
    cusum_drift: float = 0.5
    cusum_threshold: float = 8.0
    cusum_on_residual: bool = True  # with a cycle, accumulate the seasonal residual
    cusum_weight: float = 4.0  # raw score given to a just-confirmed level shift
    trend_after: int = 150  # points over which shifts the same way make a trend change
    trend_gap: int = 120  # ... each confirmed within this many points of the one before
    likelihood_window: int = 2000  # points of raw-score history behind the likelihood
    likelihood_short: int = 1  # points averaged before the likelihood is computed
    refractory: int = 1000  # points during which an ongoing anomaly must get worse to re-fire
    refractory_decay: float = 300.0  # e-folding points of that bar (surprise); 0 = flat bar
    damp: float = 0.3  # factor applied to the score of a not-worse repeat inside that time
    half_surprise: float = 10.0  # -log10(tail) that maps to score 0.5
    band: float = 3.0  # half-width of the expected band, in standard deviations
    relative_floor: float = 1e-3  # smallest noise scale, relative to the level's magnitude
    reason_confidence: float = 0.99  # below this confidence the statistical path gives no
    # reason: the point's reason is "none" unless it scores EXPLAINED_SCORE or more
    context: bool = True  # run the contextual detector
    context_bits: int = 3  # the value is quantised into 2**bits levels
    context_margin: float = 0.5  # the learnt range grows by this share of the new span
    context_warmup: int = 150  # points before the contextual detector may report
    context_rest: int = 60  # points of silence after a novelty (raw >= threshold)
    context_threshold: float = 0.8  # raw contextual score that opens a rest period
    context_report_level: float = 0.7  # a reported contextual score this high is an alarm
    context_report_rest: int = 30  # points of silence after such an alarm
    context_max: int = 20000  # contexts kept before the memory starts afresh
    statistical_weight: float = 0.7  # weight of the statistical score in the final score
    glitch_ranges: float = 100.0  # a value this many learnt ranges outside them: not learnt
    glitch_hold: int = 5  # ... unless more than this many come in a row; 0 = no hold

    def __post_init__(self) -> None:
        if self.warmup < 1:
            raise ValueError(f"warmup must be at least 1 point, got {self.warmup}")
        if self.history < 8:
            raise ValueError(f"history must be at least 8 points, got {self.history}")
        if not (self.refractory_decay >= 0.0 and math.isfinite(self.refractory_decay)):
            raise ValueError(
                f"refractory_decay must be a finite number >= 0, got {self.refractory_decay}"
            )
        if not (self.glitch_ranges > 0.0 and math.isfinite(self.glitch_ranges)):
            raise ValueError(f"glitch_ranges must be a finite number > 0, got {self.glitch_ranges}")
        if self.trend_after < 1 or self.trend_gap < 1:
            raise ValueError(
                f"trend_after and trend_gap must be at least 1 point, got {self.trend_after} "
                f"and {self.trend_gap}"
            )
        if self.glitch_hold < 0:
            raise ValueError(f"glitch_hold must be at least 0, got {self.glitch_hold}")
        if self.context_report_rest < 0:
            raise ValueError(
                f"context_report_rest must be at least 0, got {self.context_report_rest}"
            )
        if not 0.0 <= self.damp <= 1.0:
            raise ValueError(f"damp must be within [0, 1], got {self.damp}")
        if not 1 <= self.context_bits <= 8:
            raise ValueError(f"context_bits must be within 1..8, got {self.context_bits}")
        if not 0.0 <= self.statistical_weight <= 1.0:
            raise ValueError(
                f"statistical_weight must be within [0, 1], got {self.statistical_weight}"
            )


# Saved configs seen, each built once: a daemon restores a detector per series, nearly
# all with the same knobs, and a frozen config can be shared (a thousand copies held
# about 3 MB, with the numbers decoded from each state). Keyed by each field's type and
# repr, so a saved 1 and a saved True (equal in Python), or 0.0 and -0.0, stay apart.
# Bounded: a new config past ``_SHARED_CONFIGS_MAX`` is built but not kept.
_SHARED_CONFIGS: dict[tuple[tuple[str, type, str], ...], DetectorConfig] = {}
_SHARED_CONFIGS_MAX = 64
_SCALARS = (bool, int, float, str, type(None))


def _shared_config(raw: dict[str, Any]) -> DetectorConfig:
    """``DetectorConfig(**raw)``, the same instance for the same saved values."""
    if not all(type(value) in _SCALARS for value in raw.values()):
        return DetectorConfig(**raw)  # not a JSON scalar: built as it is, never shared
    key = tuple((name, type(value), repr(value)) for name, value in sorted(raw.items()))
    found = _SHARED_CONFIGS.get(key)
    if found is None:
        found = DetectorConfig(**raw)
        if len(_SHARED_CONFIGS) < _SHARED_CONFIGS_MAX:
            _SHARED_CONFIGS[key] = found
    return found


@dataclass(frozen=True, eq=False)
class BatchResult:
    """Scores for a whole array at once (same length as the input)."""

    timestamps: npt.NDArray[np.float64]
    observed: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    confidence: npt.NDArray[np.float64]
    expected: npt.NDArray[np.float64]
    lower: npt.NDArray[np.float64]
    upper: npt.NDArray[np.float64]
    reason: list[Reason]


class Detector:
    """Online anomaly detector for one series sampled every ``step`` seconds."""

    __slots__ = (
        "_age",
        "_baseline",
        "_chain",
        "_context",
        "_cusum",
        "_daily",
        "_gap",
        "_held",
        "_high",
        "_last_ts",
        "_likelihood",
        "_low",
        "_peak",
        "_robust",
        "_short_error",
        "config",
        "step",
    )

    def __init__(self, step: float, config: DetectorConfig | None = None) -> None:
        if not (step > 0 and math.isfinite(step)):
            raise ValueError(f"step must be a positive number of seconds, got {step!r}")
        self.step = float(step)
        self.config = config = config or DetectorConfig()
        candidates = tuple(
            round(length / self.step)
            for length in (_DAY, _WEEK)
            if abs(length / self.step - round(length / self.step)) < 1e-6
        )
        daily = candidates[0] if candidates and abs(candidates[0] * self.step - _DAY) < 1e-6 else 0
        ring = config.history
        if daily and 3 * daily <= _SEASONAL_RING_MAX:
            ring = max(ring, 3 * daily)
        self._baseline = SeasonalBaseline(
            candidates,
            history=ring,
            recheck=config.recheck,
            min_acf=config.min_acf,
            level_alpha=config.level_alpha,
            offset_alpha=config.offset_alpha,
            scale_alpha=config.scale_alpha,
        )
        self._robust = RobustLevel(alpha=config.robust_alpha, clip=config.robust_clip)
        self._daily = daily
        self._cusum = Cusum(drift=config.cusum_drift, threshold=config.cusum_threshold)
        self._likelihood = ScoreLikelihood(
            window=config.likelihood_window, short=config.likelihood_short
        )
        self._context = (
            ContextDetector(
                value_bits=config.context_bits,
                margin=config.context_margin,
                warmup=config.context_warmup,
                rest=config.context_rest,
                threshold=config.context_threshold,
                max_contexts=config.context_max,
                report_level=config.context_report_level,
                report_rest=config.context_report_rest,
            )
            if config.context
            else None
        )
        self._last_ts = math.nan
        self._peak = 0.0  # the surprise (-log10 tail) of the last point that fired
        self._age = 0  # points since it fired
        self._short_error = math.nan  # short mean of |standardised residual|
        self._low = math.nan  # the lowest and highest value learnt from
        self._high = math.nan
        self._held = 0  # glitches in a row, not learnt from
        self._gap = False  # a step or more without a value just before this point
        # the confirmed shifts the same way, each soon after the one before: (side,
        # time of the first, time of the last); a step settles in a few of them within
        # a hundred points, a trend keeps making them
        self._chain: tuple[int, float, float] = (0, math.nan, math.nan)

    # -- scoring ---------------------------------------------------------------------
    def update(self, timestamp: float, value: float) -> AnomalyPoint:
        """Score one new point (then learn from it). Timestamps must move forward."""
        score, confidence, expected, lower, upper, reason = self._step(
            float(timestamp), float(value)
        )
        return AnomalyPoint(
            float(timestamp), float(value), score, confidence, expected, lower, upper, reason
        )

    def score_only(self, timestamp: float, value: float) -> AnomalyPoint:
        """Score one new point as ``update`` would, and learn nothing from it: the
        detector goes on as if the value were missing (a gap), so its band, level,
        contexts and refractory bar are those it had, and the next value is taken as the
        first after a gap. For a point that is expected to be unusual (an anomaly query's
        ``expectedWindows``): a monthly spike is shown, but does not widen the band for
        the rest of the month. It scores a copy, so it costs about five ``update`` calls
        (a week-old detector: 320 us against 60 us); ``update`` with NaN alone leaves
        the detector as this does, for a caller that reads no score."""
        point = copy.deepcopy(self).update(timestamp, value)
        self.update(timestamp, math.nan)
        return point

    def update_many(
        self,
        timestamps: Sequence[float] | npt.NDArray[np.float64],
        values: Sequence[float] | npt.NDArray[np.float64],
    ) -> BatchResult:
        """Score a batch, point by point, exactly as repeated ``update`` calls would."""
        ts = np.asarray(timestamps, dtype=np.float64)
        vs = np.asarray(values, dtype=np.float64)
        if ts.shape != vs.shape or ts.ndim != 1:
            raise ValueError(
                f"timestamps {ts.shape} and values {vs.shape} must be equal 1-D shapes"
            )
        n = ts.shape[0]
        out = np.empty((6, n))
        reasons: list[Reason] = []
        step = self._step
        for i, (t, v) in enumerate(zip(ts.tolist(), vs.tolist(), strict=True)):
            s, c, e, lo, hi, r = step(t, v)
            out[0, i], out[1, i], out[2, i], out[3, i], out[4, i] = s, c, e, lo, hi
            reasons.append(r)
        return BatchResult(ts, vs, out[0], out[1], out[2], out[3], out[4], reasons)

    def _step(self, ts: float, value: float) -> tuple[float, float, float, float, float, Reason]:
        config = self.config
        baseline = self._baseline
        if not math.isfinite(ts):  # no usable time: cannot place the point, never fire
            expected, _ = baseline.expect()
            return 0.0, 0.0, expected, math.nan, math.nan, Reason.MISSING
        last = self._last_ts
        if not math.isnan(last):
            if ts <= last:  # duplicate or backwards: ignore, never fire
                expected, _ = baseline.expect()
                return 0.0, 0.0, expected, math.nan, math.nan, Reason.MISSING
            skipped = max(0, round((ts - last) / self.step) - 1)
            for _ in range(min(skipped, baseline.capacity)):
                baseline.skip()
            if skipped:
                self._gap = True
            # the refractory time runs on through a gap, as it does through missing values:
            # an incident still going on after an hour without data is news again
            if self._age < config.refractory:
                self._age = min(config.refractory, self._age + skipped)
        self._last_ts = ts
        expected, reference = baseline.expect()
        robust = self._robust
        centre = robust.centre
        floor = 1e-12
        if not math.isnan(centre):
            floor = max(floor, config.relative_floor * abs(centre))
        sigma = baseline.sigma(floor)
        half = config.band * sigma
        lower, upper = expected - half, expected + half
        if not abs(value) <= _LARGEST:  # NaN, infinite, or too large to do arithmetic on
            baseline.skip()
            self._gap = True
            if self._age < config.refractory:
                self._age += 1
            return 0.0, 0.0, expected, lower, upper, Reason.MISSING

        z_res = (value - expected) / sigma if not math.isnan(expected) else 0.0
        z_lvl = robust.deviation(value, floor)
        seasonal = baseline.period and not math.isnan(reference)
        z_shift = z_res if (seasonal and config.cusum_on_residual) else z_lvl
        a_res, a_lvl = abs(z_res), config.level_weight * abs(z_lvl)
        if config.envelope and a_res > 0:
            lag = baseline.period or (self._daily if config.envelope_always else 0)
            if lag:
                low, high = baseline.envelope(lag, config.envelope)
                if not math.isnan(low):
                    outside = max(value - high, low - value, 0.0) / sigma
                    a_res = min(a_res, outside)
        if self._glitch(value, floor):
            return self._score_glitch(value, expected, lower, upper, max(a_res, a_lvl))
        self._held = 0
        after_gap, self._gap = self._gap, False
        strength, confirmed = self._cusum.update(value, z_shift)
        a_cp = config.cusum_weight * strength if confirmed else 0.0
        trending = confirmed and self._shifted(ts, z_shift)
        raw = max(a_res, a_lvl, a_cp)
        raw = min(raw, 1e6)
        short = self._short_error
        capped = min(a_res, 1e6)  # a residual of 1e300 must not overflow the running mean
        self._short_error = capped if math.isnan(short) else short + 0.1 * (capped - short)
        surprise = self._likelihood.update(raw)
        novelty = self._context.update(value)[1] if self._context is not None else 0.0

        # learn, after scoring
        baseline.observe(value, expected, reference)
        robust.observe(value)
        if confirmed:
            robust.recentre(self._cusum.recent)
        if not value >= self._low:  # NaN-safe: the first value sets both
            self._low = value
        if not value <= self._high:
            self._high = value

        if baseline.seen <= config.warmup:
            return 0.0, 0.0, expected, lower, upper, Reason.WARMING_UP

        confidence = 1.0 - 10.0 ** (-surprise)
        if after_gap and confidence < config.reason_confidence:
            novelty = 0.0  # an ordinary value after a gap: the pair is new, not the value
        score = max(novelty, config.statistical_weight * self._refractory(surprise))
        if confidence < config.reason_confidence:
            reason = Reason.NONE
            if score >= EXPLAINED_SCORE:  # scored, though the statistical path is unsure
                reason = self._explain_unsure(value, lower, upper)
        elif a_cp >= a_res and a_cp >= a_lvl:
            reason = Reason.TREND_CHANGE if trending else Reason.LEVEL_SHIFT
        elif self._short_error > 2.5 and a_res < 4.0:
            reason = Reason.VARIANCE_CHANGE
        elif self._short_error > 2.5 and baseline.period and abs(z_lvl) < 2.0:
            # a sustained miss by values that are normal for the series, not for the hour
            reason = Reason.SEASONALITY_BREAK
        else:
            signed = z_res if a_res >= a_lvl else z_lvl
            reason = Reason.SPIKE if signed > 0 else Reason.DIP
        return score, confidence, expected, lower, upper, reason

    def _shifted(self, ts: float, z: float) -> bool:
        """A shift was confirmed at ``ts`` (upwards when ``z`` > 0: a CUSUM sum crosses
        only on a deviation past its drift, in its own direction). True when it continues
        a chain of shifts the same way that has lasted ``trend_after`` points: the level
        keeps moving, a trend change rather than one step to a new level."""
        side = 1 if z > 0 else -1
        chained, start, last = self._chain
        config = self.config
        if chained != side or not ts - last <= config.trend_gap * self.step:
            start = ts
        self._chain = (side, start, ts)
        return ts - start >= config.trend_after * self.step

    def _refractory(self, surprise: float, bar_at_most: float = math.inf) -> float:
        """The score of a point of this surprise; lowered inside an ongoing incident, where
        only a more surprising point is news. The point becomes the bar if it fired, at
        most ``bar_at_most``."""
        config = self.config
        score = surprise_score(surprise, config.half_surprise)
        age = self._age
        cap = self._peak if age < config.refractory else 0.0
        if cap and config.refractory_decay:
            cap *= math.exp(-age / config.refractory_decay)
        self._age = age + 1
        if surprise > cap:
            self._peak, self._age = min(surprise, bar_at_most), 0
        else:
            score *= config.damp
        return score

    def _glitch(self, value: float, floor: float) -> bool:
        """Is ``value`` so far outside everything learnt that it is not to be learnt from
        (yet)? Only after the warm-up, and only ``glitch_hold`` times in a row."""
        config = self.config
        low, high = self._low, self._high
        if self._baseline.seen <= config.warmup or not config.glitch_hold or math.isnan(low):
            return False
        if self._held >= config.glitch_hold:
            return False  # it keeps coming: the series has moved, learn it
        width = high - low
        if not width > config.relative_floor * max(abs(low), abs(high)):
            return False  # a flat series so far: any change is far outside it, and real
        return max(value - high, low - value) > config.glitch_ranges * width

    def _score_glitch(
        self, value: float, expected: float, lower: float, upper: float, raw: float
    ) -> tuple[float, float, float, float, float, Reason]:
        """Score a held glitch: it teaches nothing (its place in the seasonal history is a
        gap), and it raises the bar later anomalies must pass only as far as
        ``GLITCH_BAR``, not to its own astronomical surprise. Its score is not weighted
        down as a statistical score is: a value outside anything learnt is also one the
        contextual detector has never seen (it would have said so in full)."""
        self._held += 1
        self._baseline.skip()
        self._gap = True  # nor is it the value the next one follows
        surprise = self._likelihood.update(min(raw, 1e6))
        score = self._refractory(surprise, GLITCH_BAR)
        confidence = 1.0 - 10.0 ** (-surprise)
        reason = Reason.SPIKE if value > expected or math.isnan(expected) else Reason.DIP
        return score, confidence, expected, lower, upper, reason

    @staticmethod
    def _explain_unsure(value: float, lower: float, upper: float) -> Reason:
        """Why a point scored high when the statistical detectors alone are not sure (its
        confidence is below ``reason_confidence``): with the default weights that is the
        contextual detector, which had never seen this sequence of values. A value above
        the expected band is a spike, one below it a dip; one inside it is an unusual
        pattern (neither far from what was expected nor a confirmed shift of the mean)."""
        if value > upper:
            return Reason.SPIKE
        if value < lower:
            return Reason.DIP
        return Reason.UNUSUAL_PATTERN

    @property
    def context_size(self) -> int:
        """Contexts the contextual detector has learnt (0 when it is off): what its memory
        grows with until ``context_max`` clears it."""
        return self._context.size if self._context is not None else 0

    # -- persistence -----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this detector is (JSON-safe)."""
        return {
            "version": STATE_VERSION,
            "step": self.step,
            "config": asdict(self.config),
            "last_ts": encode_float(self._last_ts),
            "peak": self._peak,
            "age": self._age,
            "short_error": encode_float(self._short_error),
            "low": encode_float(self._low),
            "high": encode_float(self._high),
            "held": self._held,
            "gap": self._gap,
            "chain": [self._chain[0], encode_float(self._chain[1]), encode_float(self._chain[2])],
            "baseline": self._baseline.state(),
            "robust": self._robust.state(),
            "cusum": self._cusum.state(),
            "likelihood": self._likelihood.state(),
            "context": self._context.state() if self._context is not None else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Detector:
        """Rebuild a detector saved by ``state()``; raises ``StateError`` if it cannot."""
        version = require(state, "version")
        if version not in _READABLE_VERSIONS:
            raise StateError(
                f"saved detector state has version {version!r}; this build reads versions "
                f"{_READABLE_VERSIONS} (start a fresh detector: it warms up again)"
            )
        raw_config = require(state, "config")
        known = {f.name for f in fields(DetectorConfig)}
        if not isinstance(raw_config, dict) or set(raw_config) - known:
            raise StateError(f"saved detector config has unknown fields: {raw_config!r}")
        if version < 3:  # no decaying bar and no rest after an alarm then: keep it so
            raw_config = {"refractory_decay": 0.0, "context_report_rest": 0, **raw_config}
        try:
            detector = cls(float(require(state, "step")), _shared_config(raw_config))
            detector._last_ts = decode_float(require(state, "last_ts"), "last_ts")
            peak = decode_float(require(state, "peak"), "peak")
            if version < 3:  # a score s/(s + half) then; its surprise s now
                half = detector.config.half_surprise
                peak = half * peak / (1.0 - peak) if peak < 1.0 else _PEAK_SURPRISE_MAX
            detector._peak = peak
            detector._age = int(require(state, "age"))
            detector._short_error = decode_float(require(state, "short_error"), "short_error")
            detector._baseline.restore(require(state, "baseline"))
            if version >= 5:
                detector._low = decode_float(require(state, "low"), "low")
                detector._high = decode_float(require(state, "high"), "high")
                detector._held = int(require(state, "held"))
            else:  # the range of the history kept: what the gate knows of the series
                detector._low, detector._high = detector._baseline.range()
            # added to version 5 later, optional: absent, no gap is pending nor a shift chain
            detector._gap = state.get("gap") is True
            chain = state.get("chain")
            if chain is not None:
                side, start, last = chain
                detector._chain = (
                    int(side),
                    decode_float(start, "chain"),
                    decode_float(last, "chain"),
                )
            detector._robust.restore(require(state, "robust"))
            detector._cusum.restore(require(state, "cusum"))
            detector._likelihood.restore(require(state, "likelihood"))
            saved_context = state.get("context") if version >= 2 else None
            if detector._context is not None and saved_context is not None:
                detector._context.restore(saved_context)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, StateError):
                raise
            raise StateError(f"saved detector state is inconsistent: {exc}") from exc
        return detector
